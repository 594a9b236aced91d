"""Tokens/s and MFU of the megatron training backend on one GPU, ~1B Llama-shape model.

    .venv/bin/python benchmarks/gpu_mfu.py                 # on a CUDA machine (a few minutes)
    .venv/bin/python benchmarks/gpu_mfu.py --steps 20 --seq 4096 --micro-batch 2
    .venv/bin/python benchmarks/gpu_mfu.py --cpu-smoke     # code path only, tiny, on a CPU

What runs is the backend's own code (`cptmix.train.megatron`: model, loop): `build_model` (GPTModel
from an HF Llama config; Transformer-Engine spec + FlashAttention when TE is installed, else
the local spec), megatron's DDP + distributed optimizer (`wrap_and_optimizer`) and
`train_step` (megatron's forward-backward schedule, Adam step), bf16, on random token batches
(synthetic data: the data path is not what is measured). The model is TinyLlama-1.1B-shaped
(hidden 2048, 22 layers, 32 heads, 4 KV heads, FFN 5632, vocab 32000) unless overridden.

MFU = achieved model FLOP/s / the GPU's peak dense bf16 FLOP/s, with model FLOPs per token
= 6·N (N = parameters doing matmuls: all but the input embedding) + 12·L·h·s (attention
scores and values, forward + backward, the PaLM appendix-B convention). Peaks: H100 SXM and
H200 989 TFLOP/s; other GPUs need --peak-tflops. The paper's run (256 H100, 79.6 B tokens,
≈ 24 h, 13B) implies ≈ 28 % MFU; the issue's goal for this backend is ≥ 40 %.

--cpu-smoke runs the same path on a CPU with a 2-layer toy model for 3 steps under the
test-only shims of tests/megatron_cpu.py (they are not part of the library) and prints
tokens/s; it checks the code runs, it measures nothing about GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def model_flops_per_token(hf_config, seq: int) -> tuple[float, int]:
    h, layers = hf_config.hidden_size, hf_config.num_hidden_layers
    kv = hf_config.num_key_value_heads * (h // hf_config.num_attention_heads)
    per_layer = h * (h + 2 * kv) + h * h + 3 * h * hf_config.intermediate_size + 2 * h
    n = layers * per_layer + h + hf_config.vocab_size * h  # + final norm + output layer
    return 6.0 * n + 12.0 * layers * h * seq, n


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=22)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=5632)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--micro-batch", type=int, default=2)
    p.add_argument("--micro-batches", type=int, default=4, help="gradient accumulation")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--no-flash", action="store_true", help="local spec even if TE is there")
    p.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s of this GPU")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny CPU run of the code path")
    p.add_argument("--json", type=Path, help="write the numbers here")
    a = p.parse_args(argv)

    if a.cpu_smoke:
        a.hidden, a.layers, a.heads, a.kv_heads, a.ffn, a.vocab = 64, 2, 4, 2, 128, 256
        a.seq, a.micro_batch, a.micro_batches, a.warmup, a.steps = 64, 2, 2, 1, 2
    elif not torch.cuda.is_available():
        print("gpu_mfu.py needs a CUDA GPU (torch.cuda.is_available() is False); "
              "--cpu-smoke checks the code path on a CPU", file=sys.stderr)
        return 2

    for k, v in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29511", "RANK": "0",
                 "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        os.environ.setdefault(k, v)

    from transformers import LlamaConfig

    from cptmix.train.megatron import loop as mt

    hf_config = LlamaConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn,
                            num_hidden_layers=a.layers, num_attention_heads=a.heads,
                            num_key_value_heads=a.kv_heads, max_position_embeddings=a.seq,
                            tie_word_embeddings=False)
    hp = {"batch_size": a.micro_batch * a.micro_batches, "micro_batch_size": a.micro_batch,
          "lr": 1e-4, "min_lr": 1e-5, "precision": "fp32" if a.cpu_smoke else "bf16",
          "flash_attention": not a.no_flash, "parallel": {"tensor": 1, "pipeline": 1, "data": 1}}

    def run() -> dict:
        mt.init_distributed(hp)
        torch.manual_seed(0)
        from megatron.core import tensor_parallel

        tensor_parallel.model_parallel_cuda_manual_seed(0)
        model, _, config = mt.build_model(hf_config, hp)
        ddp, optimizer = mt.wrap_and_optimizer(model, config, hp)
        gen = torch.Generator().manual_seed(0)

        def batches():
            out = []
            for _ in range(a.micro_batches):
                x = torch.randint(0, a.vocab, (a.micro_batch, a.seq + 1), generator=gen)
                out.append({"tokens": x[:, :-1], "labels": x[:, 1:],
                            "loss_mask": torch.ones(a.micro_batch, a.seq),
                            "position_ids": torch.arange(a.seq).expand(a.micro_batch, a.seq),
                            "attention_mask": None})
            return out

        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        for _ in range(a.warmup):
            mt.train_step(ddp, optimizer, batches(), seq=a.seq, mbs=a.micro_batch)
        sync()
        t0 = time.perf_counter()
        losses = []
        for _ in range(a.steps):
            losses.append(mt.train_step(ddp, optimizer, batches(), seq=a.seq,
                                        mbs=a.micro_batch)[0])
        sync()
        dt = time.perf_counter() - t0
        return {"seconds": dt, "losses": losses,
                "te": bool(getattr(config, "attention_backend", None)
                           and "flash" in str(config.attention_backend))}

    if a.cpu_smoke:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import torch.distributed as dist
        from megatron_cpu import cpu_megatron
        with tempfile.TemporaryDirectory() as tmp, cpu_megatron():
            dist.init_process_group("gloo", init_method=f"file://{tmp}/s", rank=0, world_size=1)
            try:
                r = run()
            finally:
                dist.destroy_process_group()
        device = "cpu (smoke test: no MFU)"
    else:
        r = run()
        device = torch.cuda.get_device_name()

    tokens = a.steps * a.micro_batch * a.micro_batches * a.seq
    per_token, n_params = model_flops_per_token(hf_config, a.seq)
    tps = tokens / r["seconds"]
    out = {"device": device, "parameters": n_params, "seq": a.seq,
           "global_batch": a.micro_batch * a.micro_batches, "steps": a.steps,
           "tokens_per_s": tps, "model_tflops_per_s": tps * per_token / 1e12,
           "flash_attention_te": r["te"], "final_loss": r["losses"][-1]}
    peak = None if a.cpu_smoke else peak_tflops(device, a.peak_tflops)
    out["peak_tflops"] = peak
    out["mfu"] = out["model_tflops_per_s"] / peak if peak else None
    print(f"device: {device}")
    print(f"model: {n_params / 1e9:.3f} B matmul parameters, seq {a.seq}, "
          f"global batch {out['global_batch']} ({'TE/flash' if r['te'] else 'local spec'})")
    print(f"tokens/s: {tps:,.0f}   model TFLOP/s: {out['model_tflops_per_s']:.1f}")
    if out["mfu"] is not None:
        print(f"MFU: {100 * out['mfu']:.1f} % of {peak} TFLOP/s bf16 peak "
              f"(goal >= 40 %; the paper's run implies ~28 %)")
    elif not a.cpu_smoke:
        print("MFU: unknown GPU peak; pass --peak-tflops")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
