"""HF Llama ⇄ megatron-core `GPTModel` (local layer spec) checkpoint conversion.

Three layers, each usable without the next:

* `model_config(hf_config)`: the `TransformerConfig` arguments and `GPTModel` arguments that
  make megatron-core's GPTModel compute what `transformers.LlamaForCausalLM` computes: RMSNorm,
  SwiGLU (`gated_linear_unit` + SiLU, gate first), RoPE (non-interleaved, `rope_theta`), GQA
  (`num_query_groups`), no linear biases, tied or untied output embedding as the HF config says.
* `hf_to_megatron` / `megatron_to_hf`: the full (tensor-parallel 1, one pipeline stage) state
  dicts, name by name. The only reshaping is megatron's fused QKV, stored per query group as
  [q heads of the group, k, v], and the fused `linear_fc1` = [gate; up]. The vocabulary is
  padded to a multiple of `divisible_by × TP` rows as Megatron-LM does (zeros; cut on export).
* `shard` / `unshard`: one (TP rank, PP stage)'s local state dict from the full one and back:
  QKV by whole query groups, fc1 as [gate shard; up shard], column-parallel layers (embedding,
  output) by rows, row-parallel (`linear_proj`, `linear_fc2`) by columns, norms replicated,
  layers renumbered per pipeline stage.

Weights on disk are safetensors only (`load_hf_state_dict`, `save_hf_checkpoint`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

SUPPORTED_ROPE = {None, "default"}


class ConversionError(ValueError):
    """A checkpoint or config this converter cannot map exactly."""


def _rope(hf_config) -> tuple[float, str | None]:
    params = getattr(hf_config, "rope_parameters", None) or {}
    theta = params.get("rope_theta", getattr(hf_config, "rope_theta", None))
    kind = params.get("rope_type") or (getattr(hf_config, "rope_scaling", None) or {}).get(
        "rope_type")
    if theta is None:
        raise ConversionError("HF config: no rope_theta")
    if kind not in SUPPORTED_ROPE:
        raise ConversionError(f"HF config: rope_type {kind!r} not supported (only plain RoPE)")
    return float(theta), kind


def head_dim(hf_config) -> int:
    return int(getattr(hf_config, "head_dim", None)
               or hf_config.hidden_size // hf_config.num_attention_heads)


def padded_vocab_size(vocab_size: int, tensor_parallel: int = 1, divisible_by: int = 128) -> int:
    """Megatron-LM's padding: a multiple of divisible_by × TP so every TP rank holds equal rows."""
    multiple = divisible_by * tensor_parallel
    return -(-vocab_size // multiple) * multiple


def model_config(hf_config, *, tensor_parallel: int = 1, divisible_by: int = 128) -> dict:
    """{"transformer": TransformerConfig kwargs, "model": GPTModel kwargs} for an HF Llama
    config. Parallel sizes, dtypes and kernels are left to the caller (`model.build_model`)."""
    if getattr(hf_config, "model_type", "llama") != "llama":
        raise ConversionError(f"HF config: model_type {hf_config.model_type!r}, expected llama")
    if getattr(hf_config, "attention_bias", False) or getattr(hf_config, "mlp_bias", False):
        raise ConversionError("HF config: attention_bias/mlp_bias are not supported")
    if getattr(hf_config, "hidden_act", "silu") != "silu":
        raise ConversionError(f"HF config: hidden_act {hf_config.hidden_act!r}, expected silu")
    theta, _ = _rope(hf_config)
    n_kv = int(getattr(hf_config, "num_key_value_heads", None) or hf_config.num_attention_heads)
    if hf_config.num_attention_heads % n_kv:
        raise ConversionError("HF config: num_attention_heads not divisible by num_key_value_heads")
    if n_kv % tensor_parallel:
        raise ConversionError(f"{n_kv} key/value heads cannot be split over TP {tensor_parallel}")
    return {
        "transformer": {
            "num_layers": hf_config.num_hidden_layers,
            "hidden_size": hf_config.hidden_size,
            "ffn_hidden_size": hf_config.intermediate_size,
            "num_attention_heads": hf_config.num_attention_heads,
            "num_query_groups": n_kv,
            "kv_channels": head_dim(hf_config),
            "normalization": "RMSNorm",
            "layernorm_epsilon": float(hf_config.rms_norm_eps),
            "gated_linear_unit": True,
            "activation_func": torch.nn.functional.silu,
            "add_bias_linear": False,
            "add_qkv_bias": False,
            "hidden_dropout": 0.0,
            "attention_dropout": float(getattr(hf_config, "attention_dropout", 0.0)),
            "bias_activation_fusion": False,
            "apply_rope_fusion": False,
        },
        "model": {
            "vocab_size": padded_vocab_size(hf_config.vocab_size, tensor_parallel, divisible_by),
            "max_sequence_length": hf_config.max_position_embeddings,
            "position_embedding_type": "rope",
            "rotary_base": theta,
            "rotary_percent": 1.0,
            "share_embeddings_and_output_weights": bool(hf_config.tie_word_embeddings),
        },
    }


# --- full state dicts -------------------------------------------------------------------------

def _dims(hf_config) -> tuple[int, int, int]:
    nh = hf_config.num_attention_heads
    ng = int(getattr(hf_config, "num_key_value_heads", None) or nh)
    return nh, ng, head_dim(hf_config)


def _fuse_qkv(q, k, v, nh: int, ng: int, hd: int) -> torch.Tensor:
    hidden = q.shape[1]
    q = q.view(ng, nh // ng * hd, hidden)
    k = k.view(ng, hd, hidden)
    v = v.view(ng, hd, hidden)
    return torch.cat([q, k, v], dim=1).reshape(-1, hidden)


def _split_qkv(qkv, nh: int, ng: int, hd: int):
    hidden = qkv.shape[1]
    per = nh // ng * hd
    g = qkv.view(ng, per + 2 * hd, hidden)
    q, k, v = torch.split(g, [per, hd, hd], dim=1)
    return q.reshape(-1, hidden), k.reshape(-1, hidden), v.reshape(-1, hidden)


def _pad_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    if t.shape[0] == rows:
        return t
    if t.shape[0] > rows:
        raise ConversionError(f"vocabulary of {t.shape[0]} rows exceeds the padded size {rows}")
    return torch.cat([t, t.new_zeros(rows - t.shape[0], *t.shape[1:])])


def _take(sd: dict, name: str, where: str) -> torch.Tensor:
    try:
        return sd[name]
    except KeyError:
        raise ConversionError(f"{where}: missing tensor {name}") from None


def hf_to_megatron(hf_sd, hf_config, *, tensor_parallel: int = 1, divisible_by: int = 128,
                   layers=None, other: bool = True) -> dict[str, torch.Tensor]:
    """The full megatron GPTModel state dict of an HF LlamaForCausalLM state dict (any
    mapping, e.g. `LazySafetensors`); `layers` / `other` restrict it to some decoder layers /
    to or without the embedding, final norm and output layer (to convert piece by piece)."""
    nh, ng, hd = _dims(hf_config)
    rows = padded_vocab_size(hf_config.vocab_size, tensor_parallel, divisible_by)
    w = "HF checkpoint"
    out = {}
    if other:
        out["embedding.word_embeddings.weight"] = _pad_rows(
            _take(hf_sd, "model.embed_tokens.weight", w), rows)
    for i in range(hf_config.num_hidden_layers) if layers is None else layers:
        h, m = f"model.layers.{i}.", f"decoder.layers.{i}."
        out[m + "input_layernorm.weight"] = _take(hf_sd, h + "input_layernorm.weight", w)
        out[m + "self_attention.linear_qkv.weight"] = _fuse_qkv(
            _take(hf_sd, h + "self_attn.q_proj.weight", w),
            _take(hf_sd, h + "self_attn.k_proj.weight", w),
            _take(hf_sd, h + "self_attn.v_proj.weight", w), nh, ng, hd)
        out[m + "self_attention.linear_proj.weight"] = _take(hf_sd, h + "self_attn.o_proj.weight", w)
        out[m + "pre_mlp_layernorm.weight"] = _take(hf_sd, h + "post_attention_layernorm.weight", w)
        out[m + "mlp.linear_fc1.weight"] = torch.cat(
            [_take(hf_sd, h + "mlp.gate_proj.weight", w), _take(hf_sd, h + "mlp.up_proj.weight", w)])
        out[m + "mlp.linear_fc2.weight"] = _take(hf_sd, h + "mlp.down_proj.weight", w)
    if other:
        out["decoder.final_layernorm.weight"] = _take(hf_sd, "model.norm.weight", w)
        if not hf_config.tie_word_embeddings:
            out["output_layer.weight"] = _pad_rows(_take(hf_sd, "lm_head.weight", w), rows)
    return {k: v.contiguous() for k, v in out.items()}


def megatron_to_hf(mg_sd: dict[str, torch.Tensor], hf_config) -> dict[str, torch.Tensor]:
    """The HF LlamaForCausalLM state dict of a full megatron GPTModel state dict (the
    vocabulary padding is cut; `_extra_state` entries are ignored)."""
    nh, ng, hd = _dims(hf_config)
    vocab = hf_config.vocab_size
    w = "megatron checkpoint"
    emb = _take(mg_sd, "embedding.word_embeddings.weight", w)
    out = {"model.embed_tokens.weight": emb[:vocab]}
    for i in range(hf_config.num_hidden_layers):
        h, m = f"model.layers.{i}.", f"decoder.layers.{i}."
        out[h + "input_layernorm.weight"] = _take(mg_sd, m + "input_layernorm.weight", w)
        q, k, v = _split_qkv(_take(mg_sd, m + "self_attention.linear_qkv.weight", w), nh, ng, hd)
        out[h + "self_attn.q_proj.weight"] = q
        out[h + "self_attn.k_proj.weight"] = k
        out[h + "self_attn.v_proj.weight"] = v
        out[h + "self_attn.o_proj.weight"] = _take(mg_sd, m + "self_attention.linear_proj.weight", w)
        out[h + "post_attention_layernorm.weight"] = _take(mg_sd, m + "pre_mlp_layernorm.weight", w)
        gate, up = torch.chunk(_take(mg_sd, m + "mlp.linear_fc1.weight", w), 2, dim=0)
        out[h + "mlp.gate_proj.weight"] = gate
        out[h + "mlp.up_proj.weight"] = up
        out[h + "mlp.down_proj.weight"] = _take(mg_sd, m + "mlp.linear_fc2.weight", w)
    out["model.norm.weight"] = _take(mg_sd, "decoder.final_layernorm.weight", w)
    if hf_config.tie_word_embeddings:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    else:
        out["lm_head.weight"] = _take(mg_sd, "output_layer.weight", w)[:vocab]
    return {k: v.contiguous() for k, v in out.items()}


# --- tensor/pipeline-parallel shards --------------------------------------------------------

_LAYER = re.compile(r"^decoder\.layers\.(\d+)\.(.+)$")
_COLUMN = ("embedding.word_embeddings.weight", "output_layer.weight")
_ROW = ("self_attention.linear_proj.weight", "mlp.linear_fc2.weight")


def stage_layers(num_layers: int, pp_rank: int, pp_size: int) -> range:
    """Global layer numbers of a pipeline stage (equal split, as megatron's default)."""
    if num_layers % pp_size:
        raise ConversionError(f"{num_layers} layers cannot be split over PP {pp_size}")
    per = num_layers // pp_size
    return range(pp_rank * per, (pp_rank + 1) * per)


def _shard_tensor(name: str, t: torch.Tensor, tp_rank: int, tp: int) -> torch.Tensor:
    if tp == 1:
        return t
    suffix = name.split(".", 3)[-1] if name.startswith("decoder.layers.") else name
    if name in _COLUMN:
        return torch.chunk(t, tp, dim=0)[tp_rank]
    if suffix == "self_attention.linear_qkv.weight":  # groups are contiguous row blocks
        return torch.chunk(t, tp, dim=0)[tp_rank]
    if suffix == "mlp.linear_fc1.weight":
        gate, up = torch.chunk(t, 2, dim=0)
        return torch.cat([torch.chunk(gate, tp)[tp_rank], torch.chunk(up, tp)[tp_rank]])
    if suffix in _ROW:
        return torch.chunk(t, tp, dim=1)[tp_rank]
    return t  # norms: replicated


def shard(full: dict[str, torch.Tensor], num_layers: int, *, tp_rank: int = 0, tp: int = 1,
          pp_rank: int = 0, pp: int = 1, tied: bool = False) -> dict[str, torch.Tensor]:
    """The local state dict of one (TP rank, PP stage) from the full megatron state dict."""
    layers = stage_layers(num_layers, pp_rank, pp)
    first, last = pp_rank == 0, pp_rank == pp - 1
    out = {}
    for name, t in full.items():
        m = _LAYER.match(name)
        if m:
            i = int(m.group(1))
            if i in layers:
                local = f"decoder.layers.{i - layers.start}.{m.group(2)}"
                out[local] = _shard_tensor(name, t, tp_rank, tp).clone()
        elif name == "embedding.word_embeddings.weight":
            if first:
                out[name] = _shard_tensor(name, t, tp_rank, tp).clone()
            if last and tied and pp > 1:  # the last stage's copy of the tied embedding
                out["output_layer.weight"] = _shard_tensor(name, t, tp_rank, tp).clone()
        elif name == "decoder.final_layernorm.weight" or name == "output_layer.weight":
            if last:
                out[name] = _shard_tensor(name, t, tp_rank, tp).clone()
        else:
            raise ConversionError(f"unexpected megatron tensor {name}")
    return out


def unshard(shards: dict[tuple[int, int], dict[str, torch.Tensor]], num_layers: int, *,
            tp: int = 1, pp: int = 1, tied: bool = False) -> dict[str, torch.Tensor]:
    """The full state dict from every (tp_rank, pp_rank) -> local state dict."""
    missing = [(t, p) for t in range(tp) for p in range(pp) if (t, p) not in shards]
    if missing:
        raise ConversionError(f"missing shards (tp_rank, pp_rank): {missing}")
    full: dict[str, torch.Tensor] = {}
    for p in range(pp):
        layers = stage_layers(num_layers, p, pp)
        for name in shards[(0, p)]:
            if name.endswith("_extra_state"):
                continue
            parts = [shards[(t, p)][name] for t in range(tp)]
            m = _LAYER.match(name)
            gname = f"decoder.layers.{layers.start + int(m.group(1))}.{m.group(2)}" if m else name
            if gname == "output_layer.weight" and tied:
                continue  # the tied copy: the embedding is the original
            suffix = m.group(2) if m else gname
            if tp == 1:
                full[gname] = parts[0]
            elif suffix == "mlp.linear_fc1.weight":
                gates, ups = zip(*(torch.chunk(x, 2, dim=0) for x in parts), strict=True)
                full[gname] = torch.cat([*gates, *ups])
            elif suffix in _ROW:
                full[gname] = torch.cat(parts, dim=1)
            elif gname in _COLUMN or suffix == "self_attention.linear_qkv.weight":
                full[gname] = torch.cat(parts, dim=0)
            else:
                full[gname] = parts[0]
    return full


# --- files ------------------------------------------------------------------------------------

def load_hf_config(model_dir: str | Path):
    from transformers import AutoConfig

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not an HF model directory (config.json missing)")
    return AutoConfig.from_pretrained(str(model_dir), local_files_only=True)


class LazySafetensors(Mapping):
    """The tensors of an HF checkpoint directory, each read from disk when asked for: a rank
    converting its own shard never holds the whole model in memory."""

    def __init__(self, model_dir: str | Path):
        from safetensors import safe_open

        model_dir = Path(model_dir)
        files = sorted(model_dir.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{model_dir}: no .safetensors weights (other formats "
                                    f"refused)")
        self._handles = [safe_open(str(f), framework="pt") for f in files]
        self._where = {k: h for h in self._handles for k in h.keys()}  # noqa: SIM118
        if "lm_head.weight" not in self._where and "model.embed_tokens.weight" in self._where:
            self._where["lm_head.weight"] = self._where["model.embed_tokens.weight"]
            self._alias = {"lm_head.weight": "model.embed_tokens.weight"}
        else:
            self._alias = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._where[name].get_tensor(self._alias.get(name, name))

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def load_hf_state_dict(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of an HF checkpoint directory (one or several .safetensors files)."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no .safetensors weights (other formats refused)")
    sd: dict[str, torch.Tensor] = {}
    for f in files:
        sd.update(load_file(str(f)))
    if "lm_head.weight" not in sd and "model.embed_tokens.weight" in sd:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # tied checkpoints omit it
    return sd


def save_hf_checkpoint(hf_sd: dict[str, torch.Tensor], hf_config, out_dir: str | Path,
                       dtype: torch.dtype | None = None) -> None:
    """Write an HF LlamaForCausalLM directory (config.json + model.safetensors) from a state
    dict, through transformers itself so the result loads with `from_pretrained`."""
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(hf_config)
    sd = {k: (v.to(dtype) if dtype is not None else v) for k, v in hf_sd.items()}
    model.load_state_dict(sd, strict=True, assign=True)
    if hf_config.tie_word_embeddings:
        model.tie_weights()
    model.save_pretrained(str(out_dir), safe_serialization=True)


def convert_hf_dir(model_dir: str | Path, out_file: str | Path, *, tensor_parallel: int = 1,
                   divisible_by: int = 128) -> dict:
    """HF directory -> one safetensors file holding the full megatron state dict (+ a JSON
    note of the shapes); the CLI's `convert to-megatron`."""
    from safetensors.torch import save_file

    cfg = load_hf_config(model_dir)
    mg = hf_to_megatron(load_hf_state_dict(model_dir), cfg, tensor_parallel=tensor_parallel,
                        divisible_by=divisible_by)
    save_file(mg, str(out_file), metadata={"source": str(model_dir),
                                           "config": json.dumps(cfg.to_dict(), default=str)})
    return {k: list(v.shape) for k, v in mg.items()}
