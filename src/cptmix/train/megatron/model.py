"""The megatron backend's model: megatron-core `GPTModel` configured from the HF Llama config
(`convert.model_config`), Transformer-Engine layer spec when TE is installed and
`flash_attention` is on (fused kernels, FlashAttention), else the local spec; bf16 through
`Float16Module`. Also the parallel layout (`parallel_state.initialize_model_parallel(TP, PP)`;
DP = world / (TP × PP) must equal `parallel.data` of the config), HF weights in
(`load_hf_weights`, one layer at a time) and out (`export_hf`), and megatron's DDP with the
distributed optimizer (`wrap_and_optimizer`). The training loop is `loop.py`.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import torch

from cptmix.train.megatron import convert

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

