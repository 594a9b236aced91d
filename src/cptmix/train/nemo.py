"""The `nemo` SFT backend (`train.sft.backend: nemo`): NeMo 2.x `llm.finetune` from our config.

NeMo (nemo-toolkit 2.7.3 with `[llm]`, the last line that ships the LLM collection; the
`nemo` extra / envs/nemo.yaml, ~3 GB, GPUs only) is imported only by `build_recipe`,
`import_hf` and `export_hf`; everything else here is plain Python and always tested:

* `nemo_settings(hp, hf_config, n_packs, ...)`: our appendix-D SFT settings as the values of
  NeMo's objects: `nl.Trainer` (nodes, devices, max_steps, bf16-mixed), `nl.MegatronStrategy`
  (TP/PP, sequence parallel), megatron's `OptimizerConfig` (Adam β1/β2/ε, weight decay, clip,
  distributed optimizer), `CosineAnnealingScheduler` (warm-up steps, min LR),
  `FineTuningDataModule` (sequence length, micro/global batch, seed) with
  `PackedSequenceSpecs` (packing, loss on answers: NeMo's SFT dataset masks the prompt).
* `write_dataset(sft_jsonl, root)`: our {prompt, response} JSONL as NeMo's
  `training.jsonl` / `validation.jsonl` with {input, output}.
* `build_recipe(settings, ...)`: the `nemo_run.Partial(llm.finetune, ...)` recipe.
* `run_nemo_sft(...)`: HF -> NeMo import, the recipe under torchrun (srun on several nodes,
  see `launch`), NeMo -> HF export into the model directory evaluation reads; `run_sft` is
  the same as the backend's entry point (`cptmix.train.backends.run_sft`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from pathlib import Path

from cptmix.io import atomic_path, read_jsonl, write_jsonl, write_text

log = logging.getLogger(__name__)

NEMO_VERSION = "2.7.3"
VALID_EXAMPLES = 64


class NemoSetupError(ValueError):
    pass


def nemo_settings(hp: dict, hf_config: dict, n_packs: int, *, seed: int, nodes: int,
                  gpus_per_node: int) -> dict:
    """Plain values of every NeMo object the recipe builds (see module doc)."""
    par = hp.get("parallel", {}) or {}
    tp, pp, dp = int(par.get("tensor", 1)), int(par.get("pipeline", 1)), int(par.get("data", 1))
    if tp * pp * dp != nodes * gpus_per_node:
        raise NemoSetupError(f"train.sft.parallel: tensor {tp} × pipeline {pp} × data {dp} != "
                             f"{nodes} nodes × {gpus_per_node} GPUs")
    mbs, gb = int(hp.get("micro_batch_size", 1)), int(hp["batch_size"])
    if mbs != 1:
        raise NemoSetupError("train.sft.micro_batch_size: NeMo packed SFT needs 1 (a pack "
                             "already holds max_length tokens of several examples)")
    if gb % dp:
        raise NemoSetupError(f"train.sft.batch_size {gb} is not a multiple of data {dp}")
    epochs = int(hp.get("epochs", 1))
    steps = epochs * math.ceil(n_packs / gb)
    if hp.get("max_steps"):
        steps = min(steps, int(hp["max_steps"]))
    if "warmup_steps" in hp:
        warmup = min(int(hp["warmup_steps"]), steps)
    else:
        warmup = round(float(hp.get("warmup_fraction", 0.0)) * steps)
    seq = int(hp["max_length"])
    precision = {"bf16": "bf16-mixed", "fp16": "16-mixed", "fp32": "32"}[
        hp.get("precision", "bf16")]
    rope = (hf_config.get("rope_parameters") or {}).get("rope_theta",
                                                        hf_config.get("rope_theta", 10000.0))
    return {
        "model": {
            "num_layers": hf_config["num_hidden_layers"],
            "hidden_size": hf_config["hidden_size"],
            "ffn_hidden_size": hf_config["intermediate_size"],
            "num_attention_heads": hf_config["num_attention_heads"],
            "num_query_groups": hf_config.get("num_key_value_heads")
            or hf_config["num_attention_heads"],
            "kv_channels": hf_config.get("head_dim")
            or hf_config["hidden_size"] // hf_config["num_attention_heads"],
            "layernorm_epsilon": hf_config["rms_norm_eps"],
            "seq_length": hf_config["max_position_embeddings"],
            "rotary_base": float(rope),
            "share_embeddings_and_output_weights": bool(hf_config.get("tie_word_embeddings")),
            "make_vocab_size_divisible_by": 128,
        },
        "trainer": {
            "num_nodes": nodes, "devices": gpus_per_node, "accelerator": "gpu",
            "max_steps": steps, "precision": precision, "log_every_n_steps": 1,
            "val_check_interval": min(steps, max(1, int(hp.get("valid_every") or steps))),
            "limit_val_batches": 4, "num_sanity_val_steps": 0,
            "use_distributed_sampler": False,
        },
        "strategy": {
            "tensor_model_parallel_size": tp, "pipeline_model_parallel_size": pp,
            "sequence_parallel": tp > 1, "gradient_as_bucket_view": True,
        },
        "optim": {
            "optimizer": "adam", "lr": float(hp["lr"]), "min_lr": float(hp["min_lr"]),
            "weight_decay": float(hp.get("weight_decay", 0.1)),
            "adam_beta1": float(hp.get("beta1", 0.9)), "adam_beta2": float(hp.get("beta2", 0.95)),
            "adam_eps": float(hp.get("eps", 1e-8)), "clip_grad": float(hp.get("grad_clip", 1.0)),
            "bf16": precision == "bf16-mixed", "fp16": precision == "16-mixed",
            "use_distributed_optimizer": True,
        },
        "scheduler": {"max_steps": steps, "warmup_steps": warmup, "constant_steps": 0,
                      "min_lr": float(hp["min_lr"])},
        "data": {"seq_length": seq, "micro_batch_size": mbs, "global_batch_size": gb,
                 "seed": int(seed), "packed_sequence_size": seq},
        "checkpoint": {"every_n_train_steps": int(hp.get("checkpoint_every") or steps),
                       "save_last": True},
    }


def write_dataset(sft_jsonl: str | Path, root: str | Path) -> dict:
    """NeMo's FineTuningDataModule layout: `training.jsonl` (every example) and
    `validation.jsonl` (NeMo requires one; the paper's SFT has no held-out set, so it is the
    first VALID_EXAMPLES training examples: a training-loss monitor, not a validation)."""
    recs = [{"input": r["prompt"], "output": r["response"]}
            for r in read_jsonl(sft_jsonl, required=("prompt", "response"))]
    if not recs:
        raise NemoSetupError(f"{sft_jsonl}: no SFT examples")
    root = Path(root)

    write_jsonl(root / "training.jsonl", recs, sort_keys=False)
    write_jsonl(root / "validation.jsonl", recs[:VALID_EXAMPLES], sort_keys=False)
    return {"training": len(recs), "validation": min(len(recs), VALID_EXAMPLES)}


def count_packs(model_dir, sft_jsonl, max_length: int) -> int:
    """Packs of max_length tokens the SFT set makes with our tokenizer and packer (the step
    count; NeMo packs with its own first-fit algorithm, within a few packs of this)."""
    from cptmix.corpus.tokenizer import load_tokenizer
    from cptmix.train.data import sft_examples
    from cptmix.train.megatron.data import pack_sft

    tok = load_tokenizer(model_dir)
    return len(pack_sft(sft_examples(tok, sft_jsonl, max_length), max_length,
                        tok.pad_token_id or 0))


# --- NeMo itself (the `nemo` extra) -----------------------------------------------------------

def build_recipe(settings: dict, *, restore_path: str | Path, dataset_root: str | Path,
                 tokenizer_dir: str | Path, log_dir: str | Path):
    """`nemo_run.Partial(llm.finetune, ...)` built from `nemo_settings`."""
    import nemo_run as run
    from megatron.core.optimizer import OptimizerConfig
    from nemo import lightning as nl
    from nemo.collections import llm
    from nemo.collections.common.tokenizers.huggingface.auto_tokenizer import AutoTokenizer
    from nemo.collections.llm.gpt.data.packed_sequence import PackedSequenceSpecs
    from nemo.lightning.pytorch.optim import CosineAnnealingScheduler

    s = settings
    model = run.Config(llm.LlamaModel, config=run.Config(llm.Llama2Config7B, **s["model"]))
    strategy = run.Config(nl.MegatronStrategy, **s["strategy"])
    trainer = run.Config(
        nl.Trainer, **{k: v for k, v in s["trainer"].items() if k != "precision"},
        strategy=strategy,
        plugins=run.Config(nl.MegatronMixedPrecision, precision=s["trainer"]["precision"]))
    data = run.Config(
        llm.FineTuningDataModule, dataset_root=str(dataset_root),
        seq_length=s["data"]["seq_length"],
        tokenizer=run.Config(AutoTokenizer, pretrained_model_name=str(tokenizer_dir)),
        micro_batch_size=s["data"]["micro_batch_size"],
        global_batch_size=s["data"]["global_batch_size"], seed=s["data"]["seed"],
        packed_sequence_specs=run.Config(
            PackedSequenceSpecs, packed_sequence_size=s["data"]["packed_sequence_size"]))
    optim = run.Config(nl.MegatronOptimizerModule,
                       config=run.Config(OptimizerConfig, **s["optim"]),
                       lr_scheduler=run.Config(CosineAnnealingScheduler, **s["scheduler"]))
    resume = run.Config(nl.AutoResume,
                        restore_config=run.Config(nl.RestoreConfig, path=str(restore_path)),
                        resume_if_exists=True, resume_ignore_no_checkpoint=True)
    logger = run.Config(nl.NeMoLogger, log_dir=str(log_dir),
                        ckpt=run.Config(nl.ModelCheckpoint, **s["checkpoint"]))
    return run.Partial(llm.finetune, model=model, data=data, trainer=trainer, optim=optim,
                       resume=resume, log=logger)


def import_hf(model_dir: str | Path, settings: dict, out: str | Path) -> Path:
    """HF Llama directory -> NeMo checkpoint (once; reused by a resumed job)."""
    from nemo.collections import llm

    out = Path(out)
    if not out.exists():
        llm.import_ckpt(model=llm.LlamaModel(llm.Llama2Config7B(**settings["model"])),
                        source=f"hf://{Path(model_dir).resolve()}", output_path=out)
    return out


def export_hf(nemo_ckpt: str | Path, out_dir: str | Path) -> None:
    from nemo.collections import llm

    llm.export_ckpt(path=Path(nemo_ckpt), target="hf", output_path=Path(out_dir))


def train_main(job_file: str | Path) -> None:
    """One rank of the NeMo job (started by torchrun): build the recipe and run it."""
    import fiddle as fdl

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    recipe = build_recipe(job["settings"], restore_path=job["restore_path"],
                          dataset_root=job["dataset_root"], tokenizer_dir=job["model_dir"],
                          log_dir=job["log_dir"])
    fdl.build(recipe)()


def run_nemo_sft(model_dir, sft_jsonl, out_dir, hp: dict, *, seed: int, work_dir) -> None:
    """The whole `nemo` SFT job: settings, dataset, HF->NeMo import, torchrun of the recipe,
    NeMo->HF export (+ tokenizer, training.json) written atomically to `out_dir`."""
    import os

    from cptmix.train.megatron import launch
    from cptmix.train.megatron.convert import load_hf_config

    work = Path(work_dir)
    hf_config = load_hf_config(model_dir).to_dict()
    nodes, gpn, nodelist = launch.allocation(hp)
    settings = nemo_settings(hp, hf_config, count_packs(model_dir, sft_jsonl, int(hp["max_length"])),
                             seed=seed, nodes=nodes, gpus_per_node=gpn)
    write_dataset(sft_jsonl, work / "data")
    restore = import_hf(model_dir, settings, work / "base.nemo")
    job = {"settings": settings, "restore_path": str(restore), "dataset_root": str(work / "data"),
           "model_dir": str(model_dir), "log_dir": str(work / "logs"), "mode": "sft",
           "out_dir": str(out_dir)}
    job_file = work / "nemo_job.json"
    write_text(job_file, json.dumps(job, indent=2, sort_keys=True) + "\n")
    head = launch.head_node(nodelist) if nodes > 1 else None
    argv = launch.command(job_file, nodes=nodes, gpus_per_node=gpn, head=head,
                          job_id=os.environ.get("SLURM_JOB_ID", "cptmix-nemo"),
                          entry=("-m", "cptmix.train.nemo"))
    import subprocess

    if subprocess.run(argv, check=False).returncode != 0:
        raise RuntimeError(f"NeMo SFT {out_dir}: torchrun failed (see the log)")
    last = sorted((work / "logs").rglob("*-last"))
    if not last:
        raise FileNotFoundError(f"{work / 'logs'}: NeMo wrote no last checkpoint")
    with atomic_path(out_dir) as tmp:
        export_hf(last[-1], tmp)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (Path(model_dir) / name).is_file():
                shutil.copy2(Path(model_dir) / name, tmp / name)
        (tmp / "training.json").write_text(json.dumps(
            {"backend": "nemo", "nemo_toolkit": NEMO_VERSION, "seed": seed,
             "hyperparameters": hp, "nemo": settings}, indent=2, sort_keys=True) + "\n")


def run_sft(*, model, data, out, hp: dict, seed: int, threads: int = 1, job_file=None,
            log_file=None) -> None:
    """`backends.run_sft` with nemo: `run_nemo_sft` (`threads`, `job_file` and `log_file` are
    not used). NeMo's imported base checkpoint, packed data and resumable checkpoints live
    beside the output (`<out>.nemo`) until the HF export is written."""
    run_nemo_sft(model, data, out, hp, seed=seed, work_dir=str(out) + ".nemo")


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m cptmix.train.nemo",
                                description="one rank of a NeMo SFT job (under torchrun)")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--job", required=True, type=Path)
    args = p.parse_args(argv)
    train_main(args.job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
