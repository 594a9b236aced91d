"""The `nemo` SFT backend: our config -> NeMo recipe values (always), NeMo's dataset layout
(always), and the recipe built from NeMo's own classes where nemo-toolkit 2.7.3 [llm] is
installed (the `nemo` extra; not in the default install: ~3 GB)."""

import importlib.util
import json

import pytest
from samples import EN, JA, write_jsonl

from cptmix.train.nemo import (
    VALID_EXAMPLES,
    NemoSetupError,
    nemo_settings,
    write_dataset,
)

PAPER_SFT = {"epochs": 2, "batch_size": 64, "micro_batch_size": 1, "max_length": 4096,
             "lr": 2e-5, "min_lr": 2e-6, "warmup_steps": 20, "weight_decay": 0.1, "beta1": 0.9,
             "beta2": 0.98, "eps": 1e-8, "precision": "bf16", "checkpoint_every": 200,
             "parallel": {"tensor": 2, "pipeline": 1, "data": 32}}
LLM_JP_13B = {"num_hidden_layers": 40, "hidden_size": 5120, "intermediate_size": 13824,
              "num_attention_heads": 40, "num_key_value_heads": 40, "rms_norm_eps": 1e-5,
              "max_position_embeddings": 4096, "rope_theta": 10000.0,
              "tie_word_embeddings": False, "vocab_size": 99584}


def test_paper_sft_maps_to_nemo_values():
    s = nemo_settings(PAPER_SFT, LLM_JP_13B, n_packs=10_000, seed=1234, nodes=8,
                      gpus_per_node=8)
    assert s["trainer"]["num_nodes"] == 8 and s["trainer"]["devices"] == 8
    assert s["trainer"]["max_steps"] == 2 * 157  # 2 epochs × ceil(10000 / 64)
    assert s["trainer"]["precision"] == "bf16-mixed"
    assert s["strategy"] == {"tensor_model_parallel_size": 2, "pipeline_model_parallel_size": 1,
                             "sequence_parallel": True, "gradient_as_bucket_view": True}
    o = s["optim"]
    assert (o["lr"], o["min_lr"], o["adam_beta1"], o["adam_beta2"], o["adam_eps"],
            o["weight_decay"]) == (2e-5, 2e-6, 0.9, 0.98, 1e-8, 0.1)
    assert o["use_distributed_optimizer"] and o["bf16"] and not o["fp16"]
    assert s["scheduler"] == {"max_steps": 314, "warmup_steps": 20, "constant_steps": 0,
                              "min_lr": 2e-6}
    assert s["data"] == {"seq_length": 4096, "micro_batch_size": 1, "global_batch_size": 64,
                         "seed": 1234, "packed_sequence_size": 4096}
    m = s["model"]
    assert (m["num_layers"], m["hidden_size"], m["ffn_hidden_size"], m["num_query_groups"],
            m["kv_channels"], m["rotary_base"]) == (40, 5120, 13824, 40, 128, 10000.0)
    assert s["checkpoint"]["every_n_train_steps"] == 200
    json.dumps(s)  # plain values only: the job spec torchrun ranks read


@pytest.mark.parametrize("change, phrase", [
    ({"micro_batch_size": 2}, "needs 1"),
    ({"parallel": {"tensor": 2, "pipeline": 1, "data": 16}}, "!= 8 nodes × 8 GPUs"),
    ({"batch_size": 48, "parallel": {"tensor": 1, "pipeline": 1, "data": 64}},
     "not a multiple of data 64"),
])
def test_bad_nemo_settings(change, phrase):
    with pytest.raises(NemoSetupError, match=phrase):
        nemo_settings({**PAPER_SFT, **change}, LLM_JP_13B, 100, seed=1, nodes=8,
                      gpus_per_node=8)


def test_dataset_layout(tmp_path):
    src = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": JA[i % 3], "response": EN[i % 3]}
                                               for i in range(VALID_EXAMPLES + 6)])
    counts = write_dataset(src, tmp_path / "data")
    assert counts == {"training": VALID_EXAMPLES + 6, "validation": VALID_EXAMPLES}
    first = json.loads((tmp_path / "data" / "training.jsonl").read_text().splitlines()[0])
    assert first == {"input": JA[0], "output": EN[0]}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: missing field 'response'"):
        write_dataset(bad, tmp_path / "d2")


@pytest.mark.skipif(importlib.util.find_spec("nemo") is None
                    or importlib.util.find_spec("nemo_run") is None,
                    reason="nemo-toolkit[llm] 2.7.3 + nemo-run not installed (the optional "
                           "`nemo` extra, ~3 GB)")
def test_recipe_builds_with_nemo(tmp_path):
    import fiddle as fdl
    from nemo.collections import llm

    from cptmix.train.nemo import build_recipe

    s = nemo_settings(PAPER_SFT, LLM_JP_13B, n_packs=1000, seed=7, nodes=8, gpus_per_node=8)
    recipe = build_recipe(s, restore_path=tmp_path / "base.nemo", dataset_root=tmp_path,
                          tokenizer_dir=tmp_path, log_dir=tmp_path / "logs")
    assert recipe.__fn_or_cls__ is llm.finetune
    assert recipe.trainer.max_steps == s["trainer"]["max_steps"]
    assert recipe.trainer.strategy.tensor_model_parallel_size == 2
    assert recipe.optim.config.adam_beta2 == 0.98
    assert recipe.optim.lr_scheduler.warmup_steps == 20
    assert recipe.data.packed_sequence_specs.packed_sequence_size == 4096
    assert recipe.model.config.num_layers == 40
    cfg = fdl.build(recipe.optim.config)  # megatron's OptimizerConfig, really built
    assert cfg.lr == 2e-5 and cfg.use_distributed_optimizer
