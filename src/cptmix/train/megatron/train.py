"""The `megatron` training backend: continual pre-training and SFT with megatron-core 0.16.

One process per GPU, started by `torchrun` (see `launch.py`); every rank runs `train(job)`.

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
  latest complete one.
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

import json
import logging
import math
import os
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch

from cptmix.io import atomic_path
from cptmix.train.megatron import convert
from cptmix.train.megatron.data import (
    block_causal_mask,
    epoch_order,
    pack_sft,
    probe_sequences,
    sample_ids,
)
from cptmix.train.schedule import lr_at, warmup_steps

log = logging.getLogger(__name__)

STATE = "state.json"
LATEST = "latest.txt"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.model", "generation_config.json")
# TE fuses the pre-attention / pre-MLP RMSNorm into the following linear layer.
TE_NAMES = {"input_layernorm.weight": "self_attention.linear_qkv.layer_norm_weight",
            "pre_mlp_layernorm.weight": "mlp.linear_fc1.layer_norm_weight"}


class TrainingSetupError(RuntimeError):
    """The job, the allocation or the data do not fit together."""


# --- setup ------------------------------------------------------------------------------------

def parallel_sizes(hp: dict, world_size: int) -> tuple[int, int, int]:
    par = hp.get("parallel", {}) or {}
    tp, pp, dp = int(par.get("tensor", 1)), int(par.get("pipeline", 1)), int(par.get("data", 1))
    if tp * pp * dp != world_size:
        raise TrainingSetupError(
            f"parallel: tensor {tp} × pipeline {pp} × data {dp} = {tp * pp * dp} GPUs, but the "
            f"job has {world_size} processes (check nodes/gres of the rule)")
    gb, mbs = int(hp["batch_size"]), int(hp.get("micro_batch_size", 1))
    if gb % (mbs * dp):
        raise TrainingSetupError(f"batch_size {gb} is not a multiple of micro_batch_size {mbs} × "
                                 f"data {dp}")
    return tp, pp, dp


def init_distributed(hp: dict) -> tuple[int, int, int]:
    """torch.distributed (NCCL on GPUs; an existing group is reused) and megatron's groups."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                                timeout=timedelta(minutes=30))
    tp, pp, dp = parallel_sizes(hp, dist.get_world_size())
    parallel_state.destroy_model_parallel()
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp,
                                             pipeline_model_parallel_size=pp)
    return tp, pp, dp


def _have_te() -> bool:
    try:
        import transformer_engine  # noqa: F401
    except ImportError:
        return False
    return True


def build_model(hf_config, hp: dict, *, tp: int = 1, pp: int = 1, arbitrary_mask: bool = False):
    """megatron GPTModel of this rank, bf16-wrapped if asked; returns (module, raw GPTModel,
    TransformerConfig). `arbitrary_mask`: the batches carry their own attention masks (SFT
    packing), which only the local spec's attention honours (TE's fused attention is built
    for the causal mask), so the local spec is used."""
    from megatron.core import parallel_state
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import (
        get_gpt_layer_local_spec,
        get_gpt_layer_with_transformer_engine_spec,
    )
    from megatron.core.transformer.module import Float16Module
    from megatron.core.transformer.transformer_config import TransformerConfig

    mc = convert.model_config(hf_config, tensor_parallel=tp)
    precision = hp.get("precision", "bf16")
    use_te = bool(hp.get("flash_attention", False)) and _have_te() and not arbitrary_mask
    extra = {}
    if use_te:
        from megatron.core.transformer.enums import AttnBackend
        extra["attention_backend"] = AttnBackend.flash
    config = TransformerConfig(
        **mc["transformer"], **extra,
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp,
        sequence_parallel=tp > 1 and use_te,  # the local spec's torch norms cannot
        bf16=precision == "bf16", fp16=precision == "fp16",
        params_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision,
                                                                          torch.float32),
        pipeline_dtype=torch.bfloat16 if precision == "bf16" else torch.float32,
        use_cpu_initialization=not torch.cuda.is_available(),
        # always: besides drawing initial weights (overwritten by the HF weights), megatron's
        # initialisation is what marks weights as tensor-parallel (`tensor_model_parallel`),
        # without which the grad norm (and clipping) ignores every TP rank's shard but one
        perform_initialization=True,
        persist_layer_norm=False,
        masked_softmax_fusion=use_te,
        bias_dropout_fusion=False,
        gradient_accumulation_fusion=False,
        calculate_per_token_loss=False,
    )
    spec = (get_gpt_layer_with_transformer_engine_spec() if use_te
            else get_gpt_layer_local_spec(normalization="RMSNorm"))
    model = GPTModel(config, spec, **mc["model"],
                     pre_process=parallel_state.is_pipeline_first_stage(),
                     post_process=parallel_state.is_pipeline_last_stage())
    if torch.cuda.is_available():
        model.cuda(torch.cuda.current_device())
    wrapped = Float16Module(config, model) if precision in ("bf16", "fp16") else model
    return wrapped, model, config


def _local_names(sd: dict, te: bool) -> dict:
    if not te:
        return sd
    out = {}
    for k, v in sd.items():
        for plain, fused in TE_NAMES.items():
            if k.endswith("." + plain):
                k = k[: -len(plain)] + fused
        out[k] = v
    return out


def _plain_names(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if k.endswith("_extra_state"):
            continue
        for plain, fused in TE_NAMES.items():
            if k.endswith("." + fused):
                k = k[: -len(fused)] + plain
        out[k] = v
    return out


def load_hf_weights(model, model_dir: str | Path, hf_config, *, tp: int, pp: int) -> None:
    """This rank's shard of an HF checkpoint into the megatron model, one layer at a time
    from a lazily read checkpoint (a 13B model is never whole in a rank's memory); strict:
    every model tensor is set, with its shape checked."""
    from megatron.core import parallel_state

    hf = convert.LazySafetensors(model_dir)
    tp_rank = parallel_state.get_tensor_model_parallel_rank()
    pp_rank = parallel_state.get_pipeline_model_parallel_rank()
    tied = bool(hf_config.tie_word_embeddings)
    n = hf_config.num_hidden_layers
    own = model.state_dict()
    te = any(k.endswith("layer_norm_weight") for k in own)
    wanted = {k for k in own if not k.endswith("_extra_state")}
    done: set[str] = set()
    pieces = [{"layers": [], "other": True}] + [
        {"layers": [i], "other": False} for i in convert.stage_layers(n, pp_rank, pp)]
    with torch.no_grad():
        for piece in pieces:
            full = convert.hf_to_megatron(hf, hf_config, tensor_parallel=tp, **piece)
            local = _local_names(convert.shard(full, n, tp_rank=tp_rank, tp=tp,
                                               pp_rank=pp_rank, pp=pp, tied=tied), te)
            for k, v in local.items():
                if k not in own:
                    raise convert.ConversionError(f"{model_dir}: converted tensor {k} is not "
                                                  f"in the megatron model")
                if own[k].shape != v.shape:
                    raise convert.ConversionError(f"{model_dir}: {k} has shape "
                                                  f"{tuple(v.shape)}, the model expects "
                                                  f"{tuple(own[k].shape)}")
                own[k].copy_(v)
                done.add(k)
    if done != wanted:
        raise convert.ConversionError(f"{model_dir}: megatron tensors not set from the "
                                      f"checkpoint: {sorted(wanted - done)[:5]}")


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


# --- checkpoints ------------------------------------------------------------------------------

def _sharded(raw_model, optimizer, *, loading: bool):
    meta = {"distrib_optim_sharding_type": "dp_reshardable"}
    msd = raw_model.sharded_state_dict(metadata=meta)
    return {"model": msd,
            "optimizer": optimizer.sharded_state_dict(msd, is_loading=loading, metadata=meta)}, meta


def save_checkpoint(partial: Path, raw_model, optimizer, state: dict) -> None:
    """dist_checkpointing of model + distributed optimizer, then the step marker (rank 0);
    a job killed mid-save leaves the previous complete checkpoint as the latest."""
    import torch.distributed as dist
    from megatron.core import dist_checkpointing

    step_dir = partial / f"iter_{state['step']:07d}"
    if dist.get_rank() == 0:
        shutil.rmtree(step_dir, ignore_errors=True)
        step_dir.mkdir(parents=True)
    dist.barrier()
    sd, meta = _sharded(raw_model, optimizer, loading=False)
    dist_checkpointing.save(sd, str(step_dir), content_metadata=meta)
    dist.barrier()
    if dist.get_rank() == 0:
        (step_dir / STATE).write_text(json.dumps(state))
        tmp = partial / (LATEST + ".tmp")
        tmp.write_text(step_dir.name)
        tmp.replace(partial / LATEST)
        for old in partial.glob("iter_*"):
            if old != step_dir:
                shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def load_checkpoint(partial: Path, raw_model, optimizer) -> dict | None:
    from megatron.core import dist_checkpointing

    if not (partial / LATEST).is_file():
        return None
    step_dir = partial / (partial / LATEST).read_text().strip()
    # With torch's Adam (no Apex/TE FusedAdam installed) megatron-core 0.16 reads the Adam
    # `step` from the optimizer state, which a fresh optimizer does not have yet: allocate it
    # with megatron's own dummy step (its values are overwritten by the load below).
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        if inner is not None and isinstance(inner, torch.optim.Adam | torch.optim.AdamW) \
                and not inner.state:
            opt._init_optimizer_states_with_dummy_values()
    sd, _ = _sharded(raw_model, optimizer, loading=True)
    loaded = dist_checkpointing.load(sd, str(step_dir))
    # no_grad: in fp32 training the distributed optimizer's main params are views of the
    # model's leaf parameters, which an in-place copy may only touch outside autograd
    with torch.no_grad():
        raw_model.load_state_dict(loaded["model"], strict=False)
        optimizer.load_state_dict(loaded["optimizer"])
    state = json.loads((step_dir / STATE).read_text())
    # ... and megatron-core 0.16 then restores that `step` from the template (the dummy step's
    # value, not the checkpoint's), shared by every parameter's state, which torch's Adam
    # increments in place once per parameter. Adam's step count is the number of optimizer
    # steps taken (every step is applied; a skipped one stops training), so set it per
    # parameter from the checkpoint's step.
    for opt in getattr(optimizer, "chained_optimizers", [optimizer]):
        inner = getattr(opt, "optimizer", None)
        for st in (getattr(inner, "state", None) or {}).values():
            if isinstance(st.get("step"), torch.Tensor):
                st["step"] = torch.full_like(st["step"], float(state["step"]))
    torch.set_rng_state(torch.tensor(state.pop("cpu_rng"), dtype=torch.uint8))
    log.info("resuming from %s at step %d", step_dir, state["step"])
    return state


# --- export -----------------------------------------------------------------------------------

def export_hf(raw_model, hf_config, model_dir: Path, staging: Path, *, tp: int, pp: int
              ) -> dict | None:
    """Every (TP, PP) shard of DP rank 0 to safetensors in `staging`, then rank 0 merges them
    into the full HF state dict (returned on rank 0, None elsewhere)."""
    import torch.distributed as dist
    from megatron.core import parallel_state
    from safetensors.torch import load_file, save_file

    if dist.get_rank() == 0:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    dist.barrier()
    if parallel_state.get_data_parallel_rank() == 0:
        t = parallel_state.get_tensor_model_parallel_rank()
        p = parallel_state.get_pipeline_model_parallel_rank()
        sd = {k: v.detach().cpu().contiguous()  # the training dtype (bf16 on GPUs)
              for k, v in _plain_names(raw_model.state_dict()).items()}
        save_file(sd, str(staging / f"tp{t}_pp{p}.safetensors"))
    dist.barrier()
    if dist.get_rank() != 0:
        return None
    shards = {(t, p): load_file(str(staging / f"tp{t}_pp{p}.safetensors"))
              for t in range(tp) for p in range(pp)}
    full = convert.unshard(shards, hf_config.num_hidden_layers, tp=tp, pp=pp,
                           tied=bool(hf_config.tie_word_embeddings))
    return convert.megatron_to_hf(full, hf_config)


def wrap_and_optimizer(model, config, hp: dict):
    """megatron's DDP (grad reduce-scatter into the distributed optimizer's shards) and
    `get_megatron_optimizer` with the config's Adam settings."""
    from megatron.core.distributed import (
        DistributedDataParallel,
        DistributedDataParallelConfig,
        finalize_model_grads,
    )
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

    ddp = DistributedDataParallel(
        config, DistributedDataParallelConfig(use_distributed_optimizer=True,
                                              grad_reduce_in_fp32=True), model)
    config.finalize_model_grads_func = finalize_model_grads
    config.no_sync_func = ddp.no_sync
    optimizer = get_megatron_optimizer(OptimizerConfig(
        optimizer="adam", lr=float(hp["lr"]), min_lr=float(hp["min_lr"]),
        weight_decay=float(hp.get("weight_decay", 0.1)), adam_beta1=float(hp.get("beta1", 0.9)),
        adam_beta2=float(hp.get("beta2", 0.95)), adam_eps=float(hp.get("eps", 1e-8)),
        clip_grad=float(hp.get("grad_clip", 1.0)), use_distributed_optimizer=True,
        bf16=config.bf16, fp16=config.fp16, params_dtype=config.params_dtype), [ddp])
    return ddp, optimizer


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

    model, raw, config = build_model(hf_config, hp, tp=tp, pp=pp, arbitrary_mask=mode == "sft")
    load_hf_weights(raw, job["model_dir"], hf_config, tp=tp, pp=pp)
    ddp, optimizer = wrap_and_optimizer(model, config, hp)

    state = load_checkpoint(partial, raw, optimizer) or {"step": 0, "log": [], "valid": []}
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
                             "cpu_rng": torch.get_rng_state().tolist()})
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
                       "micro_batches": n_micro})
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
