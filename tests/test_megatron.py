"""The megatron backend against megatron-core 0.16 itself, on a CPU at tiny size.

* HF Llama ⇄ megatron GPTModel conversion: logits agree (fp32, max abs diff < 1e-4) for GQA
  with untied and with tied embeddings and a vocabulary that needs padding; converting back
  gives identical tensors; TP/PP shards reassemble exactly.
* Training (`cptmix.train.megatron.loop`): a tiny GPTModel continually pre-trains on our real
  indexed data through the CPU-built index cache with megatron's DDP, distributed optimizer,
  pipeline schedule and dist_checkpointing; a run killed after a checkpoint and resumed ends
  with the same per-step losses and bit-identical weights as an uninterrupted run. SFT packs
  answer-only losses. CPU-only patches live in tests/megatron_cpu.py (documented there).
"""

import json
import logging
import shutil
import tempfile

import numpy as np
import pytest
import torch

pytest.importorskip("megatron.core")

import torch.distributed as dist
from megatron_cpu import cpu_megatron
from safetensors.torch import load_file
from samples import EN, JA, write_jsonl

from cptmix.train.data import IGNORE
from cptmix.train.megatron import convert
from cptmix.train.megatron.data import block_causal_mask, pack_sft, sample_ids


@pytest.fixture(scope="module")
def gloo():
    """One-member gloo process group for the module (megatron's groups are built on it)."""
    from megatron.core import parallel_state

    with tempfile.TemporaryDirectory() as tmp:
        if not dist.is_initialized():
            dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=0,
                                    world_size=1)
        yield
        parallel_state.destroy_model_parallel()
        dist.destroy_process_group()


def _hf_model(tied: bool, vocab: int = 203, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96,
                      num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2,
                      max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=tied, initializer_range=0.1)
    return LlamaForCausalLM(cfg).eval()


def _megatron_model(hf_config, tp=1):
    from megatron.core import parallel_state
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer.transformer_config import TransformerConfig

    parallel_state.destroy_model_parallel()
    parallel_state.initialize_model_parallel(1, 1)
    mc = convert.model_config(hf_config, tensor_parallel=tp)
    cfg = TransformerConfig(**mc["transformer"], use_cpu_initialization=True,
                            params_dtype=torch.float32, persist_layer_norm=False)
    return GPTModel(cfg, get_gpt_layer_local_spec(normalization="RMSNorm"), **mc["model"]).eval()


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_hf_megatron_logits_agree_and_round_trip(gloo, tied):
    hf = _hf_model(tied)
    cfg = hf.config
    hf_sd = {k: v.clone() for k, v in hf.state_dict().items()}
    mg_sd = convert.hf_to_megatron(hf_sd, cfg)
    assert mg_sd["embedding.word_embeddings.weight"].shape[0] == 256  # 203 padded to 128·k
    assert ("output_layer.weight" in mg_sd) is not tied
    with cpu_megatron():
        mg = _megatron_model(cfg)
        missing, unexpected = mg.load_state_dict(mg_sd, strict=False)
        assert not unexpected and all(k.endswith("_extra_state") for k in missing)
        ids = torch.randint(0, cfg.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
        pos = torch.arange(24).expand(2, 24)
        mask = torch.triu(torch.ones(1, 1, 24, 24, dtype=torch.bool), diagonal=1)
        with torch.no_grad():
            ours = mg(ids, pos, mask)
            ref = hf(input_ids=ids).logits
    assert ours.shape == (2, 24, 256)
    diff = (ours[..., : cfg.vocab_size] - ref).abs().max().item()
    assert diff < 1e-4, diff
    assert ref.abs().max() > 0.1  # the logits are not trivially small
    back = convert.megatron_to_hf({k: v for k, v in mg.state_dict().items()
                                   if not k.endswith("_extra_state")}, cfg)
    assert set(back) == set(hf_sd)
    for k, v in hf_sd.items():
        assert torch.equal(back[k], v), k


def test_a_wrong_qkv_layout_would_be_caught(gloo):
    """The parity check can fail: swapping two query heads' rows changes the logits."""
    hf = _hf_model(False)
    mg_sd = convert.hf_to_megatron(hf.state_dict(), hf.config)
    qkv = mg_sd["decoder.layers.0.self_attention.linear_qkv.weight"]
    qkv[:8], qkv[8:16] = qkv[8:16].clone(), qkv[:8].clone()
    with cpu_megatron():
        mg = _megatron_model(hf.config)
        mg.load_state_dict(mg_sd, strict=False)
        ids = torch.arange(10).view(1, 10)
        mask = torch.triu(torch.ones(1, 1, 10, 10, dtype=torch.bool), diagonal=1)
        with torch.no_grad():
            diff = (mg(ids, torch.arange(10).view(1, 10), mask)[..., :203]
                    - hf(input_ids=ids).logits).abs().max().item()
    assert diff > 1e-3


@pytest.mark.parametrize("tp, pp, tied", [(2, 1, False), (2, 3, True), (1, 3, False)])
def test_shards_reassemble(tp, pp, tied):
    hf = _hf_model(tied)
    full = convert.hf_to_megatron(hf.state_dict(), hf.config, tensor_parallel=tp)
    shards = {(t, p): convert.shard(full, 3, tp_rank=t, tp=tp, pp_rank=p, pp=pp, tied=tied)
              for t in range(tp) for p in range(pp)}
    s = shards[(tp - 1, pp - 1)]
    assert s["decoder.layers.0.self_attention.linear_qkv.weight"].shape[0] == 96 // tp
    assert s["decoder.layers.0.mlp.linear_fc2.weight"].shape[1] == 96 // tp
    assert ("output_layer.weight" in s) == (not tied or pp > 1)
    back = convert.unshard(shards, 3, tp=tp, pp=pp, tied=tied)
    assert set(back) == set(full)
    for k in full:
        assert torch.equal(back[k], full[k]), k


def test_conversion_refuses_what_it_cannot_map():
    hf = _hf_model(False)
    cfg = hf.config
    sd = dict(hf.state_dict())
    del sd["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(convert.ConversionError, match="missing tensor model.layers.1.mlp.up_proj"):
        convert.hf_to_megatron(sd, cfg)
    cfg.attention_bias = True
    with pytest.raises(convert.ConversionError, match="attention_bias"):
        convert.model_config(cfg)
    with pytest.raises(convert.ConversionError, match="cannot be split over TP 4"):
        convert.model_config(_hf_model(False).config, tensor_parallel=4)


def test_hf_directory_round_trip(tmp_path):
    hf = _hf_model(True)
    hf.save_pretrained(tmp_path / "hf", safe_serialization=True)
    cfg = convert.load_hf_config(tmp_path / "hf")
    mg = convert.hf_to_megatron(convert.load_hf_state_dict(tmp_path / "hf"), cfg)
    convert.save_hf_checkpoint(convert.megatron_to_hf(mg, cfg), cfg, tmp_path / "back")
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == [
        "config.json", "generation_config.json", "model.safetensors"]
    a, b = load_file(tmp_path / "hf" / "model.safetensors"), load_file(
        tmp_path / "back" / "model.safetensors")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(FileNotFoundError, match="no .safetensors weights"):
        convert.load_hf_state_dict(tmp_path)


# --- data pieces ------------------------------------------------------------------------------

def test_sft_packing_masks_prompts_and_examples():
    ex = [([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4]), ([5, 6, 7], [IGNORE, 6, 7]),
          ([8, 9, 10, 11, 12], [IGNORE, IGNORE, IGNORE, 11, 12])]
    packs = pack_sft(ex, 8, pad_id=0)
    assert len(packs) == 2
    p = packs[0]
    assert p["tokens"].tolist() == [1, 2, 3, 4, 5, 6, 7, 0]
    # position t predicts label t+1 of its own example; prompts and pads carry no loss
    assert p["loss_mask"].tolist() == [0, 1, 1, 0, 1, 1, 0, 0]
    assert p["labels"][[1, 2, 4, 5]].tolist() == [3, 4, 6, 7]
    assert p["position_ids"].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    m = block_causal_mask(torch.as_tensor(p["segment"])[None])[0, 0]
    assert not m[5, 4] and m[4, 5] and m[4, 3]  # causal within, blocked across examples


def test_sample_ids_deal_the_global_batch_to_dp_ranks():
    got = [sample_ids(1, m, global_batch=8, micro_batch=2, dp_rank=r, dp_size=2)
           for r in range(2) for m in range(2)]
    assert got == [[8, 9], [10, 11], [12, 13], [14, 15]]


# --- training on our indexed data -------------------------------------------------------------

SEQ = 32


@pytest.fixture(scope="module")
def cpt_setup(tmp_path_factory):
    """Two real indexed sources, their blend, megatron's index cache, and a tiny HF Llama with
    the same tokenizer (the demo base model's shape at toy size)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from cptmix.corpus import count_source, load_tokenizer, train_tokenizer
    from cptmix.corpus.indexed import index_source
    from cptmix.corpus.ledger import write_ledger
    from cptmix.corpus.megatron_cache import build_index_cache

    d = tmp_path_factory.mktemp("mg_train")
    train_tokenizer(JA + EN, d / "tok", vocab_size=300, min_frequency=1)
    tok = load_tokenizer(d / "tok")
    srcs = {"ja": write_jsonl(d / "ja.jsonl", [{"id": f"j{i}", "text": JA[i % 3] * (1 + i % 4)}
                                               for i in range(80)]),
            "en": write_jsonl(d / "en.jsonl", [{"id": f"e{i}", "text": EN[i % 3]}
                                               for i in range(60)])}
    counts = {}
    for name, path in srcs.items():
        count_source(path, "ja", tok, d / name / "counts.tsv")
        counts[name] = d / name / "counts.tsv"
        index_source(path, "ja", d / "tok", d / name / "tokens", name=name, progress=False)
    write_ledger("Mix", {"ja": 1.0, "en": 1.0}, counts, d / "mix" / "blend.json",
                 d / "mix" / "ledger.tsv", epochs=1, max_repetitions=4,
                 prefix_template=str(d / "{source}" / "tokens"))
    build_index_cache(d / "mix" / "blend.json", d / "tok", d / "mix" / "cache", seed=7,
                      sequence_length=SEQ)
    torch.manual_seed(3)
    # 512 rows (> the tokenizer's ~300): a multiple of 128 × TP for TP 1 and 2, so megatron
    # pads nothing and runs at different TP compute the same function
    cfg = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=64, tie_word_embeddings=False,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(d / "base", safe_serialization=True)
    tok.save_pretrained(d / "base")
    return d


HP = {"batch_size": 4, "micro_batch_size": 2, "block_size": SEQ, "lr": 3e-3, "min_lr": 3e-4,
      "warmup_steps": 2, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
      "grad_clip": 1.0, "precision": "fp32", "max_steps": 6, "checkpoint_every": 3,
      "parallel": {"tensor": 1, "pipeline": 1, "data": 1}}


class Killed(Exception):
    pass


def _cpt_job(d, out, hp, on_step=None, **job_keys):
    from cptmix.train.megatron.loop import train

    job = {"mode": "cpt", "model_dir": str(d / "base"), "out_dir": str(out), "hp": hp,
           "seed": 11, "cache_dir": str(d / "mix" / "cache"), "valid_every": 3,
           "valid_sequences": 2, **job_keys}
    with cpu_megatron():
        train(job, on_step=on_step)


def _cpt(d, out, **kw):
    _cpt_job(d, out, HP, **kw)


@pytest.fixture(scope="module")
def mg_full(gloo, cpt_setup, tmp_path_factory):
    """An uninterrupted CPT run (the reference of the resume tests)."""
    out = tmp_path_factory.mktemp("mg_full") / "full"
    _cpt(cpt_setup, out)
    return out


def _kill_after_4(step):
    if step == 4:
        raise Killed


def _killed(d, out, hp=HP, **job):
    """A CPT job killed after step 4 (its checkpoint is step 3's); its `.partial`."""
    with pytest.raises(Killed):
        _cpt_job(d, out, hp, on_step=_kill_after_4, **job)
    partial = out.with_name(out.name + ".partial")
    assert (partial / "latest.txt").read_text() == "iter_0000003"
    assert (partial / "iter_0000003" / "metadata.json").is_file()  # a dist_checkpointing dir
    assert (partial / "fingerprint.json").is_file()
    assert not out.exists()
    return partial


def _same_weights(a_dir, b_dir) -> bool:
    a = load_file(a_dir / "model.safetensors")
    b = load_file(b_dir / "model.safetensors")
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_cpt_trains_and_resumes_identically(gloo, cpt_setup, mg_full, tmp_path, caplog):
    d = cpt_setup
    (tmp_path / "full").symlink_to(mg_full, target_is_directory=True)
    partial = _killed(d, tmp_path / "resumed")
    caplog.set_level(logging.INFO)
    _cpt(d, tmp_path / "resumed")
    assert f"resuming from {partial / 'iter_0000003'} at step 3" in caplog.text
    assert "discarded" not in caplog.text
    assert not partial.exists()

    full = (tmp_path / "full" / "train_log.tsv").read_text().splitlines()
    resumed = (tmp_path / "resumed" / "train_log.tsv").read_text().splitlines()
    assert len(full) == 7 and resumed == full  # same steps, lr, loss and grad norm
    losses = [float(r.split("\t")[3]) for r in full[1:]]
    assert losses[-1] < losses[0]  # it learns
    a = load_file(tmp_path / "full" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    base = load_file(d / "base" / "model.safetensors")
    assert set(a) == set(b) == set(base)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.mlp.up_proj.weight"],
                           base["model.layers.0.mlp.up_proj.weight"])
    valid = (tmp_path / "full" / "valid_log.tsv").read_text().splitlines()
    assert valid[0].split("\t") == ["step", "ja", "en", "blended"]
    assert [r.split("\t")[0] for r in valid[1:]] == ["3", "6"]
    assert valid == (tmp_path / "resumed" / "valid_log.tsv").read_text().splitlines()
    info = json.loads((tmp_path / "full" / "training.json").read_text())
    assert info["steps"] == 6 and info["micro_batches"] == 2 and info["backend"] == "megatron"
    fp = info["fingerprint"]
    assert fp == json.loads((tmp_path / "resumed" / "training.json").read_text())["fingerprint"]
    assert fp["backend"] == "megatron" and fp["mode"] == "cpt" and fp["seed"] == 11
    assert fp["hyperparameters"] == {k: v for k, v in HP.items() if k != "checkpoint_every"}
    assert "model.safetensors" in fp["model"]
    assert "megatron_cache" in fp["data"] and any(k.endswith("ja/tokens.idx") for k in fp["data"])
    # the output is an ordinary HF checkpoint: transformers loads it and it runs
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(tmp_path / "full", local_files_only=True)
    assert m(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[-1] == m.config.vocab_size
    assert (tmp_path / "full" / "tokenizer.json").is_file()


def test_cpt_refuses_a_missing_cache_or_wrong_allocation(gloo, cpt_setup, tmp_path):
    from cptmix.train.megatron.loop import TrainingSetupError, train

    job = {"mode": "cpt", "model_dir": str(cpt_setup / "base"), "out_dir": str(tmp_path / "o"),
           "hp": HP, "seed": 1, "cache_dir": str(tmp_path / "nocache")}
    with cpu_megatron(), pytest.raises(FileNotFoundError, match="run the build_index_cache"):
        train(job)
    bad = {**job, "hp": {**HP, "parallel": {"tensor": 2, "pipeline": 1, "data": 4}}}
    with cpu_megatron(), pytest.raises(TrainingSetupError, match="= 8 GPUs, but the job has 1"):
        train(bad)
    assert not (tmp_path / "o").exists()


def test_cpt_after_a_kill_and_a_new_lr_starts_over(gloo, cpt_setup, tmp_path, caplog):
    d = cpt_setup
    partial = _killed(d, tmp_path / "cpt")
    new = {**HP, "lr": 2e-3}
    caplog.set_level(logging.INFO)
    _cpt_job(d, tmp_path / "cpt", new)
    lines = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert lines == [(f"{partial}: not resumed: the checkpoint is of a different run "
                     f"(hyperparameters.lr: 0.003 -> 0.002); checkpoint discarded, training "
                     f"starts over")]
    assert "resuming" not in caplog.text
    _cpt_job(d, tmp_path / "clean", new)
    assert _same_weights(tmp_path / "cpt", tmp_path / "clean")
    assert (tmp_path / "cpt" / "train_log.tsv").read_text() == (
        tmp_path / "clean" / "train_log.tsv").read_text()
    info = json.loads((tmp_path / "cpt" / "training.json").read_text())
    assert info["hyperparameters"]["lr"] == info["fingerprint"]["hyperparameters"]["lr"] == 2e-3


def test_cpt_after_a_kill_and_a_rebuilt_cache_starts_over(gloo, cpt_setup, tmp_path, caplog):
    """The data changed under a checkpoint: the mixture's index cache rebuilt with another
    seed (another sample order)."""
    from cptmix.corpus.megatron_cache import build_index_cache

    d = cpt_setup
    cache = tmp_path / "cache"
    shutil.copytree(d / "mix" / "cache", cache)
    partial = _killed(d, tmp_path / "cpt", cache_dir=str(cache))
    build_index_cache(d / "mix" / "blend.json", d / "tok", cache, seed=8, sequence_length=SEQ)
    caplog.set_level(logging.INFO)
    _cpt_job(d, tmp_path / "cpt", HP, cache_dir=str(cache))
    assert (f"{partial}: not resumed: the checkpoint is of a different run "
            f"(data.megatron_cache: sha256:") in caplog.text
    assert "resuming" not in caplog.text
    rows = (tmp_path / "cpt" / "train_log.tsv").read_text().splitlines()
    assert len(rows) == 7 and rows[1].startswith("0\t0\t")  # all 6 steps, from step 0


def _cut_a_shard(step_dir):
    shard = min(step_dir.glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    return step_dir


@pytest.mark.parametrize("damage, named", [
    (_cut_a_shard, "iter_0000003: dist checkpoint unreadable ("),
    (lambda s: (s / "state.json").write_text("{"), "iter_0000003/state.json: unreadable ("),
    (lambda s: (s.parent / "latest.txt").write_text("iter_0000009"),
     "latest.txt: names 'iter_0000009', which is not a complete dist checkpoint"),
], ids=["shard-cut-in-half", "state-invalid-json", "latest-names-nothing"])
def test_cpt_discards_an_unreadable_checkpoint(gloo, cpt_setup, mg_full, tmp_path, caplog,
                                               damage, named):
    d = cpt_setup
    partial = _killed(d, tmp_path / "cpt")
    damage(partial / "iter_0000003")
    caplog.set_level(logging.INFO)
    _cpt(d, tmp_path / "cpt")
    lines = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{partial}: unreadable checkpoint file {partial}/")
    assert named in lines[0] and lines[0].endswith("training starts over")
    # the model and optimizer are rebuilt from the starting model: the clean run's result
    assert _same_weights(tmp_path / "cpt", mg_full)
    assert (tmp_path / "cpt" / "train_log.tsv").read_text() == (
        mg_full / "train_log.tsv").read_text()


def test_sft_trains_on_answers(gloo, cpt_setup, tmp_path):
    from cptmix.train.megatron.loop import train

    d = cpt_setup
    data = write_jsonl(tmp_path / "sft.jsonl", [
        {"prompt": f"Q{i}: {JA[i % 3]}", "response": EN[i % 3]} for i in range(12)])
    hp = {**HP, "max_length": SEQ, "epochs": 2, "max_steps": None, "checkpoint_every": 0}
    hp.pop("max_steps")
    job = {"mode": "sft", "model_dir": str(d / "base"), "out_dir": str(tmp_path / "sft"),
           "hp": hp, "seed": 5, "sft_data": str(data)}
    with cpu_megatron():
        train(job)
    info = json.loads((tmp_path / "sft" / "training.json").read_text())
    rows = (tmp_path / "sft" / "train_log.tsv").read_text().splitlines()[1:]
    assert info["steps"] == 2 * info["batches_per_epoch"] == len(rows)
    assert {r.split("\t")[1] for r in rows} == {"0", "1"}
    assert np.isfinite([float(r.split("\t")[3]) for r in rows]).all()


# --- launch -----------------------------------------------------------------------------------

def test_launch_commands():
    from cptmix.train.megatron.launch import LaunchError, allocation, command, head_node

    class Out:
        def __init__(self, stdout):
            self.stdout = stdout

    calls = []

    def scontrol(argv, **kw):
        calls.append(argv)
        if argv[:3] == ["scontrol", "show", "job"]:
            return Out("JobId=77 JobName=x ReqNodeList=(null) NumNodes=32 NumCPUs=3072 "
                       "NodeList=gpu[001-032] ExcNodeList=(null)")
        return Out("gpu001\ngpu002\n")

    hp = {"parallel": {"tensor": 2, "pipeline": 1, "data": 128}}
    # the slurm jobstep executor strips SLURM_* but the job id: scontrol is asked
    assert allocation(hp, {"SLURM_JOB_ID": "77"}, run=scontrol) == (32, 8, "gpu[001-032]")
    assert calls[-1] == ["scontrol", "show", "job", "-o", "77"]
    assert allocation({"parallel": {"data": 2}}, {}) == (1, 2, None)
    with pytest.raises(LaunchError, match="256 GPUs .* cannot be spread evenly over 3 nodes"):
        allocation(hp, {"SLURM_JOB_ID": "77"},
                   run=lambda argv, **kw: Out("NumNodes=3 NodeList=gpu[1-3]"))
    assert head_node("gpu[001-032]", run=scontrol) == "gpu001"
    one = command("j.json", nodes=1, gpus_per_node=8, python="py")
    assert one == ["py", "-m", "torch.distributed.run", "--nproc-per-node", "8", "--standalone",
                   "--nnodes", "1", "-m", "cptmix.train.megatron", "train", "--job", "j.json"]
    many = command("j.json", nodes=32, gpus_per_node=8, head="gpu001", job_id="77", python="py")
    assert many[:7] == ["srun", "--nodes", "32", "--ntasks-per-node", "1", "--overlap",
                        "--kill-on-bad-exit=1"]
    assert many[many.index("--rdzv-endpoint") + 1] == "gpu001:29500"
    assert many[many.index("--rdzv-id") + 1] == "77" and "--standalone" not in many
    with pytest.raises(LaunchError, match="needs the rendezvous host"):
        command("j.json", nodes=2, gpus_per_node=8)


def test_job_specs_of_the_rule_scripts():
    from cptmix.train.megatron.launch import cpt_job, sft_job

    hp = {**HP, "valid_every": 100}
    job = cpt_job("m", "c", "o", hp, 3)
    assert job == {"mode": "cpt", "model_dir": "m", "cache_dir": "c", "out_dir": "o", "hp": hp,
                   "seed": 3, "valid_every": 100, "valid_sequences": 8}
    assert sft_job("m", "d.jsonl", "o", HP, 3)["sft_data"] == "d.jsonl"
    json.dumps(job)  # what torchrun's ranks read


@pytest.mark.parametrize("tp, pp", [(2, 1), (1, 2)], ids=["tp2", "pp2"])
def test_torchrun_launch_model_parallel(gloo, cpt_setup, tmp_path, tp, pp):
    """The real launcher: torchrun starts 2 ranks of the entry point (under the CPU shims,
    gloo) with tensor parallelism 2 or pipeline parallelism 2 (megatron's 1F1B schedule over
    gloo point-to-point); they compute the same losses and grad norms as the single-process
    run (TP shards of QKV by query groups, fc1 as [gate; up], row/column-parallel layers;
    PP stages' layers renumbered), and the exported HF weights match it too."""
    import os
    import sys
    from pathlib import Path

    from cptmix.train.megatron.launch import run_job

    d = cpt_setup
    hp = {**HP, "max_steps": 2, "checkpoint_every": 0}
    _cpt_job(d, tmp_path / "tp1", hp)
    job = {"mode": "cpt", "model_dir": str(d / "base"), "out_dir": str(tmp_path / "parallel"),
           "hp": {**hp, "parallel": {"tensor": tp, "pipeline": pp, "data": 1}}, "seed": 11,
           "cache_dir": str(d / "mix" / "cache")}
    entry = str(Path(__file__).parent / "megatron_cpu_entry.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    argv = run_job(job, tmp_path / "job.json", tmp_path / "run.log", env=env, entry=(entry,))
    assert argv[:6] == [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                        "--standalone"]
    assert json.loads((tmp_path / "job.json").read_text()) == job
    info = json.loads((tmp_path / "parallel" / "training.json").read_text())
    assert info["parallel"] == {"tensor": tp, "pipeline": pp, "data": 1}

    def losses_and_norms(out):
        rows = (out / "train_log.tsv").read_text().splitlines()[1:]
        return [float(x) for r in rows for x in r.split("\t")[3:5]]

    # the grad norm too: it must count every TP rank's shard (megatron marks TP weights only
    # when it initialises them, see model.build_model)
    assert losses_and_norms(tmp_path / "parallel") == pytest.approx(
        losses_and_norms(tmp_path / "tp1"), abs=1e-4)
    a = load_file(tmp_path / "tp1" / "model.safetensors")
    b = load_file(tmp_path / "parallel" / "model.safetensors")
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-4)


def test_cli_help_and_conversion_round_trip(tmp_path):
    import subprocess
    import sys

    from cptmix.train.megatron.__main__ import main

    help_text = subprocess.run([sys.executable, "-m", "cptmix.train.megatron", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "train --job JOB.json" in help_text and "to-megatron" in help_text
    hf = _hf_model(False)
    hf.save_pretrained(tmp_path / "hf", safe_serialization=True)
    assert main(["to-megatron", str(tmp_path / "hf"), str(tmp_path / "mg.safetensors")]) == 0
    mg = load_file(tmp_path / "mg.safetensors")
    assert mg["decoder.layers.2.self_attention.linear_qkv.weight"].shape == (96, 64)
    assert main(["to-hf", str(tmp_path / "mg.safetensors"), str(tmp_path / "hf"),
                 str(tmp_path / "back")]) == 0
    a, b = (load_file(p / "model.safetensors") for p in (tmp_path / "hf", tmp_path / "back"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_gpu_benchmark_smoke_and_clear_failure_without_cuda(tmp_path):
    """benchmarks/gpu_mfu.py: without CUDA it stops with a clear message; --cpu-smoke runs
    the benchmark's code path (the backend's build_model/wrap_and_optimizer/train_step)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_mfu.py"
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run benchmarks/gpu_mfu.py itself")
    no_gpu = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            check=False)
    assert no_gpu.returncode == 2 and "needs a CUDA GPU" in no_gpu.stderr
    smoke = subprocess.run([sys.executable, str(script), "--cpu-smoke", "--json",
                            str(tmp_path / "r.json")], capture_output=True, text=True,
                           check=False)
    assert smoke.returncode == 0, smoke.stderr[-2000:]
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["tokens_per_s"] > 0 and r["mfu"] is None and np.isfinite(r["final_loss"])
