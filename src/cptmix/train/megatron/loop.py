"""The `megatron` training backend's loop: continual pre-training and SFT with megatron-core
0.16, its data (CPT blend, SFT packs) and its validation.

One process per GPU, started by `torchrun` (see `launch.py`); every rank runs `train(job)`.
The model, the parallel layout, the HF weights in and out and the optimizer are `model.py`;
checkpoints and resuming are `checkpoint.py`.

* Model: megatron-core `GPTModel` configured from the HF Llama config (`convert.model_config`),
  Transformer-Engine layer spec when TE is installed and `flash_attention` is on (fused
  kernels, FlashAttention), else the local spec; bf16 through `Float16Module`.
* Parallelism: `parallel_state.initialize_model_parallel(TP, PP)`; DP = world / (TP × PP)
  must equal `parallel.data` of the config (a wrong allocation stops with a clear error).
* Optimizer: megatron's distributed optimizer (`get_megatron_optimizer`,
  `use_distributed_optimizer=True`, Adam β1/β2/ε, decoupled weight decay, grad clipping),
  megatron's DDP with `finalize_model_grads`; the schedule is the appendix-D one
  (`cptmix.train.schedule.lr_at`: linear warm-up, cosine to `min_lr`) so both backends follow
  the same learning-rate curve.
* Data: CPT reads the mixture's blended dataset from the index cache built on CPU
  (`cptmix.corpus.megatron_cache.load_blended_dataset`, which refuses to build a missing
  cache); SFT packs prompt/response pairs into sequences with the loss on answer tokens only
  and a block-diagonal causal mask (`data.pack_sft`) — an explicit mask, which only the
  local spec's attention takes, so SFT runs on the local spec (TE's THD packed-sequence path
  would be the faster alternative; not built).
* Pipeline schedules: `get_forward_backward_func()` (1F1B when PP > 1).
* Checkpoints: `dist_checkpointing` of the model and the distributed optimizer every
  `checkpoint_every` steps into `<out_dir>.partial/iter_NNNNNNN/` plus the step, the log and
  the RNG state; a rerun (Slurm retry after a time limit or pre-emption) resumes from the
  latest complete one if it is of exactly this run (`run_fingerprint`, checked by rank 0 with
  `cptmix.train.resume`); one of another run, or unreadable, is discarded (one log line why)
  and training starts over.
* Validation: loss on fixed probe sequences of every blended source (`data.probe_sequences`:
  the first documents of the source's first shard) and the blend-weighted mean, at
  `valid_every` steps and at the end (`valid_log.tsv`). The corpus stage splits nothing off
  (megatron split "1,0,0"), so the probes are also training data: a per-source loss monitor,
  not a held-out estimate.
* Output: the HF checkpoint (safetensors, `convert.megatron_to_hf`) + tokenizer, the logs and
  `training.json`, written atomically by rank 0: evaluation and SFT read it like the `hf`
  backend's output.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from cptmix.code import module_hash
from cptmix.io import atomic_path, sha256_file
from cptmix.train import resume
from cptmix.train.megatron import convert
from cptmix.train.megatron.checkpoint import LATEST, load_checkpoint, save_checkpoint
from cptmix.train.megatron.data import (
    block_causal_mask,
    epoch_order,
    pack_sft,
    probe_sequences,
    sample_ids,
)
from cptmix.train.megatron.model import (
    TrainingSetupError,
    build_model,
    export_hf,
    init_distributed,
    load_hf_weights,
    wrap_and_optimizer,
)
from cptmix.train.schedule import lr_at, warmup_steps

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.model", "generation_config.json")


# --- data -------------------------------------------------------------------------------------

class CptData:
    """The mixture's blended megatron dataset (from the CPU-built cache) + per-source probes."""

    def __init__(self, cache_dir: str | Path, seq: int, valid_sequences: int):
        from cptmix.corpus.megatron_cache import check_index_cache, load_blended_dataset

        record = check_index_cache(cache_dir)  # clear error before anything is built
        if int(record["sequence_length"]) != seq:
            raise TrainingSetupError(f"{cache_dir}: cache built for sequence_length "
                                     f"{record['sequence_length']}, training uses {seq}")
        self.dataset = load_blended_dataset(cache_dir)
        self.n = len(self.dataset)
        # blend entries may be several shards of one source: weights add up per source, the
        # probe reads the source's first shard
        self.weights: dict[str, float] = {}
        first: dict[str, str] = {}
        for name, prefix, w in zip(record["sources"], record["prefixes"], record["weights"],
                                   strict=True):
            self.weights[name] = self.weights.get(name, 0.0) + float(w)
            first.setdefault(name, prefix)
        self.probes = {name: probe_sequences(prefix, valid_sequences, seq)
                       for name, prefix in first.items()}

    def batch(self, ids: list[int]) -> dict:
        samples = [self.dataset[i] for i in ids]
        out = {k: torch.stack([torch.as_tensor(np.asarray(s[k])) for s in samples])
               for k in ("tokens", "labels", "loss_mask", "position_ids")}
        out["attention_mask"] = None
        return out


class SftData:
    def __init__(self, model_dir, sft_path, max_length: int, seed: int):
        from cptmix.corpus.tokenizer import load_tokenizer
        from cptmix.train.data import sft_examples

        tok = load_tokenizer(model_dir)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        # max_length + 1 tokens per pack: inputs are the first max_length, targets shifted
        self.samples = pack_sft(sft_examples(tok, sft_path, max_length + 1), max_length + 1, pad)
        self.n = len(self.samples)
        self.seed = seed
        self.weights, self.probes = {}, {}

    def batch(self, ids: list[int]) -> dict:
        s = [self.samples[i] for i in ids]
        seg = torch.as_tensor(np.stack([x["segment"][:-1] for x in s]))
        return {"tokens": torch.as_tensor(np.stack([x["tokens"][:-1] for x in s])),
                "labels": torch.as_tensor(np.stack([x["labels"][:-1] for x in s])),
                "loss_mask": torch.as_tensor(np.stack([x["loss_mask"][:-1] for x in s])),
                "position_ids": torch.as_tensor(np.stack([x["position_ids"][:-1] for x in s])),
                "attention_mask": block_causal_mask(seg)}


# --- steps ------------------------------------------------------------------------------------

def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() \
        else torch.device("cpu")


def _forward_step(data_iterator, model):
    """megatron's forward-step contract: (output tensor, loss function)."""
    batch = next(data_iterator)
    dev = _device()
    b = {k: (v.to(dev) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    out = model(b["tokens"], b["position_ids"], b["attention_mask"], labels=b["labels"])
    mask = b["loss_mask"].float()

    def loss_func(per_token):
        total = (per_token.float() * mask).sum()
        denom = mask.sum().clamp(min=1.0)
        loss = total / denom
        return loss, {"loss": loss.detach().clone()}

    return out, loss_func


def _run(model, batches: list[dict], *, seq: int, mbs: int, forward_only: bool) -> float | None:
    """One forward(-backward) over micro-batches; the mean loss (DP-averaged) or None on
    stages without the loss (pipeline stages but the last)."""
    import torch.distributed as dist
    from megatron.core import parallel_state
    from megatron.core.pipeline_parallel import get_forward_backward_func

    losses = get_forward_backward_func()(
        forward_step_func=_forward_step, data_iterator=iter(batches), model=[model],
        num_microbatches=len(batches), seq_length=seq, micro_batch_size=mbs,
        forward_only=forward_only)
    value = torch.zeros(2, dtype=torch.float64, device=_device())
    if parallel_state.is_pipeline_last_stage():
        value[0] = sum(float(x["loss"]) for x in losses)
        value[1] = len(losses)
    dist.all_reduce(value, group=parallel_state.get_data_parallel_group())
    # every pipeline stage learns the loss (for logging and the finite check)
    dist.all_reduce(value, group=parallel_state.get_pipeline_model_parallel_group(),
                    op=dist.ReduceOp.MAX)
    return float(value[0] / value[1]) if value[1] else None


def validate(model, data, *, seq: int, mbs: int) -> dict[str, float]:
    """Loss per source on its probe sequences and the blend-weighted mean ('blended')."""
    if not data.probes:
        return {}
    model.eval()
    out = {}
    with torch.no_grad():
        for name, probe in data.probes.items():
            rows = torch.as_tensor(probe)
            batches = []
            for i in range(0, len(rows) - mbs + 1, mbs):  # whole micro-batches only
                chunk = rows[i:i + mbs]
                batches.append({"tokens": chunk[:, :-1], "labels": chunk[:, 1:],
                                "loss_mask": torch.ones(len(chunk), seq),
                                "position_ids": torch.arange(seq).expand(len(chunk), seq),
                                "attention_mask": None})
            if batches:
                out[name] = _run(model, batches, seq=seq, mbs=mbs, forward_only=True)
    model.train()
    w = {k: data.weights[k] for k in out}
    if w and sum(w.values()) > 0:
        out["blended"] = sum(out[k] * w[k] for k in w) / sum(w.values())
    return out



def train_step(ddp, optimizer, batches: list[dict], *, seq: int, mbs: int,
               what: str = "training") -> tuple[float, float]:
    """One optimizer step over the micro-batches: (DP-mean loss, grad norm)."""
    ddp.zero_grad_buffer()
    optimizer.zero_grad()
    loss = _run(ddp, batches, seq=seq, mbs=mbs, forward_only=False)
    if loss is None or not math.isfinite(loss):
        raise FloatingPointError(f"{what}: loss is {loss}")
    ok, grad_norm, _ = optimizer.step()
    if not ok:
        raise FloatingPointError(f"{what}: optimizer step skipped (non-finite gradients)")
    return loss, float(grad_norm or 0.0)


# --- the run's identity (resume only its own checkpoint) -----------------------------------------

def cpt_data_hashes(cache_dir: str | Path) -> dict[str, str]:
    """What CPT's result depends on of its data: the index cache (every file: the settings,
    seed and sample/shuffle indices) and, per blended shard, its `.idx` (document sizes) and
    `provenance.json` (the sha256 of the source files and of the tokenizer it was indexed
    with, and its token count). The `.bin` is not read: it is a pure function of what the
    provenance records, and hashing hundreds of GB per (re)start would stall every rank."""
    from cptmix.corpus.megatron_cache import check_index_cache

    record = check_index_cache(cache_dir)
    out = {"megatron_cache": resume.tree_hash(cache_dir)}
    for prefix in record["prefixes"]:
        out[f"{prefix}.idx"] = sha256_file(f"{prefix}.idx")
        prov = Path(prefix).parent / "provenance.json"
        out[prov.as_posix()] = sha256_file(prov)
    return out


def run_fingerprint(job: dict) -> dict:
    """The identity of a job (`resume.fingerprint`): mode, hyper-parameters (the parallel
    layout among them), seed, data and starting model hashes, validation settings and the
    versions of the libraries that compute it."""
    data = cpt_data_hashes(job["cache_dir"]) if job["mode"] == "cpt" \
        else resume.data_hashes([job["sft_data"]])
    return resume.fingerprint(
        backend="megatron", mode=job["mode"], hp=job["hp"], seed=job["seed"], data=data,
        model=resume.model_hashes(job["model_dir"]),
        validation={k: job.get(k) for k in ("valid_every", "valid_sequences")},
        software=resume.software("torch", "megatron-core", "transformers"),
        code=module_hash("cptmix.train.megatron.loop"))


def _identity(job: dict, partial: Path) -> tuple[dict, bool]:
    """(fingerprint, whether `partial` is this run's checkpoint): rank 0 hashes the inputs
    once and checks (or removes) the checkpoint; every rank gets its answer."""
    import torch.distributed as dist

    box: list = [None, False, None]
    if dist.get_rank() == 0:
        try:
            fp = run_fingerprint(job)
            box = [fp, resume.check_partial(partial, fp, marker=LATEST), None]
        except Exception as err:  # e.g. a missing cache: every rank stops, not only rank 0
            box = [None, False, f"{type(err).__name__}: {err}"]
            dist.broadcast_object_list(box, src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    if box[2] is not None:
        raise TrainingSetupError(f"rank 0 could not hash the job's inputs: {box[2]}")
    return box[0], bool(box[1])


def _resume(partial: Path, raw, optimizer, total: int) -> dict | None:
    """The loaded checkpoint's state, or None when any rank could not read it (rank 0 then
    has discarded it, saying which file; the model and optimizer must be rebuilt)."""
    import torch.distributed as dist

    err = None
    try:
        state = load_checkpoint(partial, raw, optimizer, total)
    except resume.UnreadableCheckpoint as e:
        err, state = e, None
    failed = torch.tensor([0.0 if err is None else 1.0], device=_device())
    dist.all_reduce(failed, op=dist.ReduceOp.MAX)
    if failed.item() == 0:
        return state
    if dist.get_rank() == 0:
        resume.discard(partial, f"unreadable checkpoint file {err}" if err is not None
                       else "unreadable checkpoint (on another rank: see its output)")
    dist.barrier()
    return None


# --- the loop ---------------------------------------------------------------------------------

def train(job: dict, on_step=None) -> None:
    """Run one CPT (`job["mode"] == "cpt"`) or SFT job. Keys: model_dir, out_dir, hp, seed,
    and cache_dir (CPT) or sft_data (SFT); optional valid_every, valid_sequences.
    `on_step(step)` is called after every optimizer step (tests use it to kill a run)."""
    import torch.distributed as dist
    from megatron.core import parallel_state, tensor_parallel

    hp, seed, mode = job["hp"], int(job["seed"]), job["mode"]
    out_dir = Path(job["out_dir"])
    partial = out_dir.with_name(out_dir.name + ".partial")
    tp, pp, dp = init_distributed(hp)
    rank = dist.get_rank()
    fingerprint, resumable = _identity(job, partial)
    torch.manual_seed(seed)
    tensor_parallel.model_parallel_cuda_manual_seed(seed)

    hf_config = convert.load_hf_config(job["model_dir"])
    mbs, gb = int(hp.get("micro_batch_size", 1)), int(hp["batch_size"])
    n_micro = gb // (mbs * dp)
    if mode == "cpt":
        seq = int(hp["block_size"])
        data = CptData(job["cache_dir"], seq, int(job.get("valid_sequences", 8)))
        per_epoch = data.n // gb
        epochs = 1  # the cache already holds the budget's samples (corpus.token_budget)
    elif mode == "sft":
        seq = int(hp["max_length"])
        data = SftData(job["model_dir"], job["sft_data"], seq, seed)
        per_epoch = math.ceil(data.n / gb)
        epochs = int(hp.get("epochs", 1))
    else:
        raise TrainingSetupError(f"mode {mode!r}: expected cpt or sft")
    if per_epoch == 0:
        raise TrainingSetupError(f"{mode}: {data.n} samples, fewer than one global batch of {gb}")
    if seq > hf_config.max_position_embeddings:
        raise TrainingSetupError(f"sequence length {seq} exceeds the model's "
                                 f"max_position_embeddings {hf_config.max_position_embeddings}")
    total = epochs * per_epoch
    if hp.get("max_steps"):
        total = min(total, int(hp["max_steps"]))
    warm = warmup_steps(hp, total)

    def setup():
        model, raw, config = build_model(hf_config, hp, tp=tp, pp=pp,
                                         arbitrary_mask=mode == "sft")
        load_hf_weights(raw, job["model_dir"], hf_config, tp=tp, pp=pp)
        return (raw, *wrap_and_optimizer(model, config, hp))

    raw, ddp, optimizer = setup()
    state = _resume(partial, raw, optimizer, total) if resumable else None
    if resumable and state is None:
        # the failed load may have overwritten part of the model and optimizer: build them
        # again from the starting model, exactly as a fresh start does
        del raw, ddp, optimizer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        torch.manual_seed(seed)
        tensor_parallel.model_parallel_cuda_manual_seed(seed)
        raw, ddp, optimizer = setup()
    state = state or {"step": 0, "log": [], "valid": []}
    start, rows, valid_rows = state["step"], state["log"], state["valid"]
    every = int(hp.get("checkpoint_every", 0))
    valid_every = int(job.get("valid_every", 0))
    dp_rank = parallel_state.get_data_parallel_rank()
    bar = None
    if rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=start, desc=f"{mode} {out_dir.name}", mininterval=5)
    ddp.train()
    for step in range(start, total):
        lr = lr_at(step, total, float(hp["lr"]), float(hp["min_lr"]), warm)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        epoch, in_epoch = divmod(step, per_epoch)
        order = epoch_order(data.n, seed, epoch) if mode == "sft" else None
        batches = [data.batch(sample_ids(in_epoch, m, global_batch=gb, micro_batch=mbs,
                                         dp_rank=dp_rank, dp_size=dp, order=order))
                   for m in range(n_micro)]
        loss, grad_norm = train_step(ddp, optimizer, batches, seq=seq, mbs=mbs,
                                     what=f"{mode} {out_dir.name} step {step}")
        rows.append(f"{step}\t{epoch}\t{lr:.8g}\t{loss:.6f}\t{grad_norm:.6f}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        if valid_every and (step + 1) % valid_every == 0:
            valid_rows.append({"step": step + 1, **validate(ddp, data, seq=seq, mbs=mbs)})
        if every and (step + 1) % every == 0 and step + 1 < total:
            save_checkpoint(partial, raw, optimizer,
                            {"step": step + 1, "log": rows, "valid": valid_rows,
                             "cpu_rng": torch.get_rng_state().tolist()}, fingerprint)
        if on_step is not None:
            on_step(step + 1)
    if bar is not None:
        bar.close()
    final_valid = validate(ddp, data, seq=seq, mbs=mbs)
    if final_valid and (not valid_rows or valid_rows[-1]["step"] != total):
        valid_rows.append({"step": total, **final_valid})
    hf_sd = export_hf(raw, hf_config, out_dir, partial / "export", tp=tp, pp=pp)
    if rank == 0:
        _write_output(out_dir, hf_sd, hf_config, job, rows, valid_rows,
                      {"steps": total, "warmup_steps": warm, "batches_per_epoch": per_epoch,
                       "samples": data.n, "seed": seed, "mode": mode, "hyperparameters": hp,
                       "parallel": {"tensor": tp, "pipeline": pp, "data": dp},
                       "micro_batches": n_micro, "fingerprint": fingerprint})
        shutil.rmtree(partial, ignore_errors=True)
        log.info("%s %s: %d steps, final loss %s -> %s", mode, out_dir.name, total,
                 rows[-1].split("\t")[3] if rows else "n/a", out_dir)
    dist.barrier()
    parallel_state.destroy_model_parallel()


def _write_output(out_dir: Path, hf_sd: dict, hf_config, job: dict, rows: list[str],
                  valid_rows: list[dict], info: dict) -> None:
    dtype = getattr(hf_config, "torch_dtype", None) or getattr(hf_config, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    with atomic_path(out_dir) as tmp:
        convert.save_hf_checkpoint(hf_sd, hf_config, tmp, dtype=dtype)
        for name in TOKENIZER_FILES:
            src = Path(job["model_dir"]) / name
            if src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / "train_log.tsv").write_text("step\tepoch\tlr\tloss\tgrad_norm\n"
                                           + "\n".join(rows) + "\n")
        if valid_rows:
            cols = ["step", *[k for k in valid_rows[-1] if k != "step"]]
            lines = ["\t".join(cols)] + ["\t".join(
                str(r.get(c, "")) if c == "step" else f"{r.get(c, float('nan')):.6f}"
                for c in cols) for r in valid_rows]
            (tmp / "valid_log.tsv").write_text("\n".join(lines) + "\n")
        (tmp / "training.json").write_text(json.dumps(
            {**info, "backend": "megatron"}, indent=2, sort_keys=True, default=str) + "\n")
