"""Compute planner: what the CPT runs of a study cost before any GPU hour is spent.

    cptmix plan config/paper.yaml [--mfu 0.4] [--gpu-flops 989e12] [--observed EnJa-Hybrid=24]

Sits beside the workflow (it reads only the config): per mixture the tokens (from the sources'
declared `tokens` × the mixture's fractions, split by language as in Table C.1), the tokens
trained (the corpus token budget), optimizer steps = tokens / (global batch × sequence length),
training FLOPs = 6·N·T (N = `base_model.parameters`; forward 2·N·T + backward 4·N·T, attention
and the embedding lookup left out), GPU-hours at a model-FLOPs utilisation (MFU) of the GPUs'
peak, wall-clock hours on the run's GPUs (tensor × pipeline × data of `train.cpt.parallel`),
checkpoint disk and the indexed-data disk of the megatron backend, and the totals.

Disk assumptions (megatron-core, bf16 with the distributed optimizer):
  resumable checkpoint = 14 bytes/parameter (bf16 weights 2 + fp32 master weights 4 + Adam's
  two fp32 moments 8), kept `keep` at a time per run; the HF export the next stage reads =
  2 bytes/parameter (bf16 safetensors). Every mixture has a CPT and an SFT run per replicate
  seed (`replicates`; scope `sft`: one CPT run, SFT per seed); the base model's SFT adds one
  more per seed. A mixture's row counts all its replicates (`runs` CPT runs): FLOPs,
  GPU-hours and checkpoint disk add up over them, while `wall_hours` is one run's wall clock
  (replicates are separate jobs that can run side by side). Indexed data = tokens × `token_bytes` (int32 ids: llm-jp-3's
  99,487-token vocabulary does not fit uint16); each source is indexed once, in full, and
  shared by every mixture that blends it, so the total counts each source once.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import pandas as pd

from cptmix.config import (
    ConfigError,
    fill_defaults,
    load_config,
    replicate_scope,
    replicate_seeds,
    resolve_mixtures,
)

H100_BF16_DENSE_FLOPS = 989e12  # H100 SXM peak dense bf16 tensor-core FLOP/s
RESUME_BYTES_PER_PARAM = 14     # bf16 weights 2 + fp32 master 4 + Adam m, v 4 + 4
EXPORT_BYTES_PER_PARAM = 2      # bf16 safetensors
LANGS = ("ja", "en", "parallel")
GB = 1e9


class PlanError(ConfigError):
    """The config lacks what a plan needs (declared tokens, parameter count, a valid layout)."""


def mixture_tokens(cfg: dict[str, Any]) -> pd.DataFrame:
    """Declared tokens per mixture and language: index mixture, columns ja/en/parallel/total.

    A source of `lang: document` has no single language: its tokens count in the total only."""
    sources = cfg["sources"]
    missing = [name for name, spec in sources.items() if "tokens" not in spec]
    mixtures = resolve_mixtures(cfg)
    used = {s for fractions in mixtures.values() for s, f in fractions.items() if f > 0}
    missing = [s for s in missing if s in used]
    if missing:
        raise PlanError(f"sources without declared `tokens`: {', '.join(missing)} "
                        "(add e.g. `tokens: 5.0e+9` to each source a mixture uses)")
    rows = {}
    for name, fractions in mixtures.items():
        row = dict.fromkeys((*LANGS, "total"), 0.0)
        for src, frac in fractions.items():
            n = frac * float(sources[src].get("tokens", 0.0))
            row["total"] += n
            if sources[src]["lang"] in LANGS:
                row[sources[src]["lang"]] += n
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def trained_tokens(cfg: dict[str, Any], mixture_total: float) -> float:
    """Tokens one CPT run trains on: the corpus token budget, else train.cpt.epochs passes."""
    cpt = cfg["train"]["cpt"]
    budget = (cfg.get("corpus") or {}).get("token_budget") or {"epochs": cpt.get("epochs", 1)}
    tokens = float(budget["tokens"]) if "tokens" in budget else budget["epochs"] * mixture_total
    if cpt.get("max_steps"):
        tokens = min(tokens, cpt["max_steps"] * tokens_per_step(cfg))
    return tokens


def tokens_per_step(cfg: dict[str, Any]) -> int:
    """Global batch × sequence length (corpus.sequence_length, else train.cpt.block_size)."""
    cpt = cfg["train"]["cpt"]
    seq = (cfg.get("corpus") or {}).get("sequence_length") or cpt.get("block_size")
    if not seq:
        raise PlanError("train.cpt.block_size (or corpus.sequence_length) is needed for steps")
    return int(cpt["batch_size"]) * int(seq)


def gpu_count(cfg: dict[str, Any], stage: str = "cpt") -> int:
    """GPUs of one run: tensor × pipeline × data; checks the global batch fits the layout."""
    hp = cfg["train"][stage]
    par = hp.get("parallel") or {}
    tp, pp, dp = (int(par.get(k, 1)) for k in ("tensor", "pipeline", "data"))
    micro = int(hp.get("micro_batch_size", 1))
    if hp["batch_size"] % (dp * micro):
        raise PlanError(f"train.{stage}.batch_size {hp['batch_size']} is not a multiple of "
                        f"parallel.data {dp} × micro_batch_size {micro}")
    return tp * pp * dp


def plan_study(cfg: dict[str, Any], mfu: float = 0.4,
               gpu_flops: float = H100_BF16_DENSE_FLOPS, token_bytes: int = 4,
               keep: int = 1) -> pd.DataFrame:
    """One row per mixture plus a `total` row (module docstring: what each column assumes)."""
    if not 0 < mfu <= 1:
        raise PlanError(f"mfu {mfu} is not in (0, 1]")
    n_params = (cfg.get("base_model") or {}).get("parameters")
    if not n_params:
        raise PlanError("base_model.parameters is needed for FLOPs (e.g. 13.0e+9)")
    n_params = float(n_params)
    tokens = mixture_tokens(cfg)
    step_tokens = tokens_per_step(cfg)
    gpus = gpu_count(cfg)
    per_run_ckpt = (keep * RESUME_BYTES_PER_PARAM + EXPORT_BYTES_PER_PARAM) * n_params / GB
    sft_runs = len(replicate_seeds(cfg))
    cpt_runs = 1 if replicate_scope(cfg) == "sft" else sft_runs
    mixtures = resolve_mixtures(cfg)
    sources = cfg["sources"]

    rows = []
    for name, row in tokens.iterrows():
        trained = trained_tokens(cfg, row.total)
        flops = 6 * n_params * trained * cpt_runs
        gpu_hours = flops / (gpu_flops * mfu) / 3600
        indexed = sum(float(sources[s].get("tokens", 0)) for s, f in mixtures[name].items()
                      if f > 0) * token_bytes / GB
        rows.append({"mixture": name, "tokens_B": row.total / 1e9, "ja_B": row.ja / 1e9,
                     "en_B": row.en / 1e9, "parallel_B": row.parallel / 1e9,
                     "trained_B": trained / 1e9, "steps": math.ceil(trained / step_tokens),
                     "runs": cpt_runs, "flops": flops, "gpu_hours": gpu_hours, "gpus": gpus,
                     "wall_hours": gpu_hours / gpus / cpt_runs,
                     # CPT and SFT runs of this mixture
                     "checkpoint_GB": (cpt_runs + sft_runs) * per_run_ckpt,
                     "indexed_GB": indexed})
    df = pd.DataFrame(rows)
    used = {s for fractions in mixtures.values() for s, f in fractions.items() if f > 0}
    total = df.drop(columns="mixture").sum()
    total["gpus"] = gpus
    total["runs"] = df["runs"].sum()
    total["wall_hours"] = (df["wall_hours"] * df["runs"]).sum()  # one after another
    total["checkpoint_GB"] += sft_runs * per_run_ckpt  # the base model's SFT per seed
    total["indexed_GB"] = sum(float(sources[s].get("tokens", 0)) for s in used) \
        * token_bytes / GB  # each source indexed once
    df.loc[len(df)] = {"mixture": "total", **total.to_dict()}
    df["steps"] = df["steps"].astype(int)
    df["gpus"] = df["gpus"].astype(int)
    df["runs"] = df["runs"].astype(int)
    return df


def implied_mfu(flops: float, gpus: int, hours: float,
                gpu_flops: float = H100_BF16_DENSE_FLOPS) -> float:
    """The MFU a run of `flops` on `gpus` GPUs in `hours` hours achieved."""
    return flops / (gpus * hours * 3600 * gpu_flops)


def format_plan(df: pd.DataFrame) -> str:
    out = df.copy()
    for col in ("tokens_B", "ja_B", "en_B", "parallel_B", "trained_B"):
        out[col] = out[col].map("{:.2f}".format)
    out["flops"] = out["flops"].map("{:.3g}".format)
    out["gpu_hours"] = out["gpu_hours"].map("{:,.0f}".format)
    out["wall_hours"] = out["wall_hours"].map("{:.1f}".format)
    out["steps"] = out["steps"].map("{:,}".format)
    for col in ("checkpoint_GB", "indexed_GB"):
        out[col] = out[col].map("{:,.0f}".format)
    return out.to_string(index=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config with `tokens` per source and "
                                       "base_model.parameters, e.g. config/paper.yaml")
    parser.add_argument("--mfu", type=float, default=0.4,
                        help="model-FLOPs utilisation assumed (default 0.4)")
    parser.add_argument("--gpu-flops", type=float, default=H100_BF16_DENSE_FLOPS,
                        help="peak FLOP/s of one GPU (default 989e12: H100 SXM dense bf16)")
    parser.add_argument("--token-bytes", type=int, default=4, choices=[2, 4],
                        help="bytes per token id in the indexed data (4: vocab > 65,500)")
    parser.add_argument("--keep", type=int, default=1,
                        help="resumable checkpoints kept per run (default 1)")
    parser.add_argument("--observed", action="append", default=[], metavar="MIXTURE=HOURS",
                        help="wall-clock hours a mixture's CPT took: prints the MFU it implies "
                             "(paper: EnJa-Hybrid=24 on 256 H100)")
    parser.add_argument("--tsv", help="also write the plan as TSV to this file")


def run_from_args(args: argparse.Namespace) -> int:
    cfg = fill_defaults(load_config(args.config))  # the schema's defaults, as the workflow's
    df = plan_study(cfg, mfu=args.mfu, gpu_flops=args.gpu_flops,
                    token_bytes=args.token_bytes, keep=args.keep)
    print(format_plan(df))
    print(f"\nFLOPs = 6 × {float(cfg['base_model']['parameters']):.3g} params × trained tokens; "
          f"GPU-hours at MFU {args.mfu:g} of {args.gpu_flops:.3g} FLOP/s; "
          f"{tokens_per_step(cfg):,} tokens/step")
    by_name = df.set_index("mixture")
    for item in args.observed:
        name, _, hours = item.partition("=")
        if name not in by_name.index or not hours:
            raise PlanError(f"--observed {item!r}: expected MIXTURE=HOURS with a known mixture")
        row = by_name.loc[name]
        mfu = implied_mfu(row.flops / row.runs, int(row.gpus), float(hours), args.gpu_flops)
        print(f"{name}: {int(row.gpus)} GPUs × {float(hours):g} h implies MFU {mfu:.3f}")
    if args.tsv:
        df.to_csv(args.tsv, sep="\t", index=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cptmix plan", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
