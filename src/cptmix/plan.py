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
  (replicates are separate jobs that can run side by side). With `design.verify.seeds` the
  proposal trains one more CPT and SFT run per verification seed, and so does the best anchor,
  which is known only after the anchors' evaluations: its row (`verify-anchor`) costs them as
  the costliest declared mixture's runs, an upper bound. Indexed data = tokens × `token_bytes` (int32 ids: llm-jp-3's
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
    cpt_seeds,
    fill_defaults,
    load_configs,
    replicate_seeds,
    resolve_mixtures,
    verify_seeds,
)

# design.verify.seeds: the best anchor's extra runs, costed as the costliest declared mixture's
VERIFY_ROW = "verify-anchor"
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
    cpt_runs = len(cpt_seeds(cfg))
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
    rows += _designed_rows(cfg, n_params, step_tokens, gpus, gpu_flops, mfu, cpt_runs, sft_runs,
                           per_run_ckpt, token_bytes)
    n_verify = len(verify_seeds(cfg))
    if n_verify and rows:
        # design.verify.seeds: the best anchor is known only after the anchors' evaluations,
        # so its extra runs are costed as the costliest declared mixture's (an upper bound)
        declared = [r for r in rows if r["mixture"] in mixtures]
        worst = max(declared, key=lambda r: r["flops"] / r["runs"])
        per_run = {k: worst[k] / worst["runs"] for k in ("flops", "gpu_hours")}
        rows.append({**worst, "mixture": VERIFY_ROW, "runs": n_verify,
                     **{c: float("nan") for c in ("tokens_B", "ja_B", "en_B", "parallel_B")},
                     "flops": per_run["flops"] * n_verify,
                     "gpu_hours": per_run["gpu_hours"] * n_verify,
                     "checkpoint_GB": 2 * n_verify * per_run_ckpt, "indexed_GB": 0.0})
    df = pd.DataFrame(rows)
    used = {s for fractions in mixtures.values() for s, f in fractions.items() if f > 0}
    used |= set(((cfg.get("design") or {}).get("sweep") or {}).get("sources") or [])
    designed = df["mixture"].isin([*_designed_names(cfg), VERIFY_ROW])
    if designed.any():  # subtotals: the declared (full) runs vs the design's proxy runs
        for label, part in (("total declared", df[~designed]), ("total design", df[designed])):
            sub = part.drop(columns="mixture").sum(min_count=1)
            sub["gpus"], sub["runs"] = gpus, part["runs"].sum()
            sub["wall_hours"] = (part["wall_hours"] * part["runs"]).sum()
            sub["indexed_GB"] = float("nan")  # sources shared: counted once, in `total`
            rows.append({"mixture": label, **sub.to_dict()})
        df = pd.DataFrame(rows)
    df_runs = df[~df["mixture"].str.startswith("total")]
    total = df_runs.drop(columns="mixture").sum(min_count=1)
    total["gpus"] = gpus
    total["runs"] = df_runs["runs"].sum()
    total["wall_hours"] = (df_runs["wall_hours"] * df_runs["runs"]).sum()  # one after another
    # the base model's SFT per seed (and per verification seed: base+SFT is evaluated there too)
    total["checkpoint_GB"] += (sft_runs + n_verify) * per_run_ckpt
    total["indexed_GB"] = sum(float(sources[s].get("tokens", 0)) for s in used) \
        * token_bytes / GB  # each source indexed once
    df.loc[len(df)] = {"mixture": "total", **total.to_dict()}
    df["steps"] = df["steps"].astype(int)
    df["gpus"] = df["gpus"].astype(int)
    df["runs"] = df["runs"].astype(int)
    return df


def _designed_names(cfg: dict[str, Any]) -> list[str]:
    from cptmix.design import designed_mixtures

    return designed_mixtures(cfg)


def _designed_rows(cfg, n_params, step_tokens, gpus, gpu_flops, mfu, cpt_runs, sft_runs,
                   per_run_ckpt, token_bytes) -> list[dict]:
    """One row per designed mixture (config `design`): each proxy run trains
    design.sweep.token_budget tokens from the same base model; a sweep mixture's unique tokens
    are its realisation from the sources' declared `tokens` (one epoch of its subset), the
    proposal's are unknown before the sweep (NaN)."""
    from cptmix.corpus.realise import realise_shares
    from cptmix.design import PROPOSED, sweep_shares, sweep_spec

    spec = sweep_spec(cfg)
    if spec is None:
        return []
    sources = cfg["sources"]
    missing = [s for s in spec.sources if "tokens" not in sources[s]]
    if missing:
        raise PlanError(f"design.sweep.sources without declared `tokens`: {', '.join(missing)}")
    tokens = {s: int(float(sources[s]["tokens"])) for s in spec.sources}
    budget = float(spec.token_budget)
    flops = 6 * n_params * budget * cpt_runs
    gpu_hours = flops / (gpu_flops * mfu) / 3600
    common = {"trained_B": budget / 1e9, "steps": math.ceil(budget / step_tokens),
              "runs": cpt_runs, "flops": flops, "gpu_hours": gpu_hours, "gpus": gpus,
              "wall_hours": gpu_hours / gpus / cpt_runs,
              "checkpoint_GB": (cpt_runs + sft_runs) * per_run_ckpt, "indexed_GB": 0.0}
    rows = []
    for name, shares in sweep_shares(spec).items():
        rec = realise_shares(name, shares, tokens, spec.token_budget, spec.max_repetitions)
        unique = {s: rec["fractions"][s] * tokens[s] for s in spec.sources}
        by_lang = {lang: sum(v for s, v in unique.items() if sources[s]["lang"] == lang)
                   for lang in LANGS}
        rows.append({"mixture": name, "tokens_B": sum(unique.values()) / 1e9,
                     **{f"{lang}_B": by_lang[lang] / 1e9 for lang in LANGS}, **common})
    if PROPOSED in _designed_names(cfg):
        n_verify = len(verify_seeds(cfg))  # design.verify.seeds: one more CPT + SFT run each
        rows.append({"mixture": PROPOSED, "tokens_B": float("nan"),
                     **{f"{lang}_B": float("nan") for lang in LANGS}, **common,
                     "runs": cpt_runs + n_verify, "flops": flops / cpt_runs * (
                         cpt_runs + n_verify),
                     "gpu_hours": gpu_hours / cpt_runs * (cpt_runs + n_verify),
                     "checkpoint_GB": (cpt_runs + sft_runs + 2 * n_verify) * per_run_ckpt})
    return rows


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
    parser.add_argument("config", nargs="+",
                        help="YAML config(s) with `tokens` per source and base_model.parameters, "
                             "e.g. config/paper.yaml (several are merged in order, as "
                             "`snakemake --configfile A B`; a `design` block adds its proxy runs)")
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
    cfg = fill_defaults(load_configs(args.config)[0])  # the schema's defaults, as the workflow's
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


# ---------------------------------------------------------------------------------------------
# The design before anything runs: `cptmix design CONFIG [CONFIG ...]`

COUNT_COLUMNS = ("ja_tokens", "en_tokens", "parallel_tokens")
IID_REPEATS = 20  # iid draws of the same size compared with the design's space filling


def _counted_sources(sources: list[str], counts_dir: str | None) -> dict | None:
    """{source: [per-shard counts.tsv]} when every source has been counted under
    `counts_dir` (results/corpus/{source}/{shard}/counts.tsv), else None."""
    from pathlib import Path

    if not counts_dir:
        return None
    found = {s: sorted(str(p) for p in Path(counts_dir, s).glob("*/counts.tsv"))
             for s in sources}
    return found if all(found.values()) else None


def design_tables(cfg: dict[str, Any], where: str = "config",
                  counts_dir: str | None = "results/corpus") -> dict[str, Any]:
    """Everything `cptmix design` prints, as data: the sweep's shares, its space filling
    (minimum pairwise distance vs iid draws of the same size inside the same bounds, averaged
    over IID_REPEATS seeds), the realisation per mixture (epochs, most passes over a source)
    and the seven statistics of the sweep and of the anchors — from the counts when every
    source has been counted, else from the sources' declared `tokens`, else the declared
    shares at the token budget — with their correlations and VIFs."""
    from cptmix.analyze.candidates import check_models
    from cptmix.corpus.mixture import mixture_statistics
    from cptmix.corpus.realise import realise_shares, source_token_counts
    from cptmix.design import (
        STATISTICS_BASIS,
        check_design,
        designed_mixtures,
        min_pairwise_distance,
        share_spread,
        share_statistics,
        statistic_correlations,
        sweep_shares,
        sweep_spec,
        vif,
    )

    check_design(cfg, where=where)
    spec = sweep_spec(cfg, where=where)
    if spec is None:
        raise PlanError(f"{where}: no design.sweep block")
    surrogate = cfg["design"].get("surrogate") or {}
    check_models(surrogate.get("models", ["linear", "loglinear", "gbm", "gp"]), spec.n,
                 len(spec.sources), surrogate.get("folds", 5))
    shares = sweep_shares(spec)
    distance = min_pairwise_distance(shares)
    iid_designs = [sweep_shares(spec.replace(method="dirichlet", seed=k, alpha=1.0))
                   for k in range(IID_REPEATS)] if spec.n >= 2 else []
    iid = [min_pairwise_distance(d) for d in iid_designs]
    spread = share_spread(shares)
    iid_spreads = [share_spread(d) for d in iid_designs]
    iid_spread = {s: sum(d[s] for d in iid_spreads) / len(iid_spreads)
                  for s in spread} if iid_spreads else {}
    sources = cfg["sources"]
    counts = _counted_sources(list(dict.fromkeys([*spec.sources, *(
        s for f in resolve_mixtures(cfg).values() for s in f)])), counts_dir)
    if counts is not None:
        tokens = source_token_counts({s: counts[s] for s in spec.sources})
        basis = f"counted ({counts_dir})"
    elif all("tokens" in sources[s] for s in spec.sources):
        tokens = {s: int(float(sources[s]["tokens"])) for s in spec.sources}
        basis = "declared `tokens` of the sources"
    else:
        tokens, basis = None, "declared shares at the token budget (no counts, no tokens)"
    langs = {s: sources[s].get("lang") for s in spec.sources}
    rows, stats = [], {}
    for name, w in shares.items():
        row = {"mixture": name, **w}
        if tokens is not None:
            try:
                rec = realise_shares(name, w, tokens, spec.token_budget, spec.max_repetitions)
                row["epochs"] = rec["epochs"]
                row["max_passes"] = max(rec["repetitions"].values())
                subset = {s: rec["fractions"][s] * tokens[s] for s in spec.sources}
                stats[name] = share_statistics({s: v / sum(subset.values())
                                                for s, v in subset.items()}, langs,
                                               sum(subset.values()))
            except ValueError as err:
                row["epochs"], row["max_passes"] = None, None
                row["problem"] = str(err)
        else:
            stats[name] = share_statistics(w, langs, spec.token_budget)
        rows.append(row)
    anchors = {}
    if counts is not None:
        anchors = {m: mixture_statistics(f, counts) for m, f in resolve_mixtures(cfg).items()}
    elif all("tokens" in s for s in sources.values()):
        declared = mixture_tokens(cfg)
        anchors = {m: {"total_tokens": r.total, "ja_tokens": r.ja, "en_tokens": r.en,
                       "parallel_tokens": r.parallel, "ja_ratio": r.ja / r.total,
                       "en_ratio": r.en / r.total, "parallel_ratio": r.parallel / r.total}
                   for m, r in declared.iterrows()}
    sweep_stats = pd.DataFrame.from_dict(stats, orient="index")
    anchor_stats = pd.DataFrame.from_dict(anchors, orient="index")
    vifs = {}
    for label, table in (("anchors", anchor_stats), ("sweep", sweep_stats),
                         ("anchors + sweep", pd.concat([anchor_stats, sweep_stats]))):
        if len(table) >= 2:
            vifs[label] = {"basis": vif(table, STATISTICS_BASIS),
                           "counts": vif(table, COUNT_COLUMNS),
                           "seven": vif(table, list(table.columns))}
    return {"spec": spec, "names": designed_mixtures(cfg), "design": pd.DataFrame(rows),
            "distance": distance, "iid": iid, "spread": spread, "iid_spread": iid_spread,
            "basis": basis, "sweep_stats": sweep_stats,
            "anchor_stats": anchor_stats,
            "correlations": statistic_correlations(sweep_stats) if len(sweep_stats) > 1
            else None, "vifs": vifs}


def format_design(t: dict[str, Any]) -> str:
    spec = t["spec"]
    lines = [(f"design.sweep: {spec.n} mixtures, method {spec.method}, seed {spec.seed}, "
              f"token_budget {spec.token_budget:,}, max_repetitions {spec.max_repetitions:g}"),
             f"mixtures added: {', '.join(t['names'])}", "",
             "token shares (realised as nested subsamples x epochs after counting):",
             t["design"].to_string(index=False, float_format=lambda x: f"{x:.4f}"), ""]
    if t["iid"]:
        iid = sum(t["iid"]) / len(t["iid"])
        lines.append(f"space filling: minimum pairwise distance {t['distance']:.4f} "
                     f"(iid draws of the same size in the same bounds: {iid:.4f}, mean of "
                     f"{len(t['iid'])} seeds; larger is better)")
        lines.append("spread: SD of each source's share across the design (iid draws: mean "
                     "of the same seeds; a slope on a share is estimated from its spread):")
        lines.append("  " + ", ".join(f"{s} {v:.3f} ({t['iid_spread'][s]:.3f})"
                                      for s, v in t["spread"].items()))
    lines += ["", f"statistics of the sweep ({t['basis']}; one epoch of each run's subset):",
              t["sweep_stats"].to_string(float_format=lambda x: f"{x:.4g}")]
    if t["correlations"] is not None:
        lines += ["", "correlations of the statistics across the sweep:",
                  t["correlations"].to_string(float_format=lambda x: f"{x:+.2f}")]
    if t["vifs"]:
        lines += ["", ("variance inflation factors (basis: total_tokens, ja_ratio, "
                       "parallel_ratio; all seven are infinite by construction: total = ja + "
                       "en + parallel, ratios sum to 1):")]
        for label, v in t["vifs"].items():
            basis = ", ".join(f"{k} {x:.3g}" for k, x in v["basis"].items())
            lines.append(f"  {label:16s} max VIF {v['basis'].max():.3g} ({basis}); counts "
                         f"(ja, en, parallel tokens: the paper's covariates) "
                         f"{v['counts'].max():.3g}; all seven {v['seven'].max():.3g}")
    else:
        lines += ["", ("VIFs of the anchors: need counts (run the counting rules) or "
                       "declared `tokens` per source")]
    return "\n".join(lines)
