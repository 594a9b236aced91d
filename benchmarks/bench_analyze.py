"""Benchmark the analysis stage on a 6 mixtures x 27 tasks x 7 statistics study, and the
vectorised exact permutation test against a naive per-permutation loop, in one run.

    .venv/bin/python benchmarks/bench_analyze.py                        # synthetic study
    .venv/bin/python benchmarks/bench_analyze.py --results /tmp/fresh/results   # a real run
    .venv/bin/python benchmarks/bench_analyze.py --quick                # naive loop on 1 statistic

The synthetic study has the demo's shape: six mixtures whose statistics obey the paper's
identities (total = ja + en + parallel, ratios = shares), 27 JMedBench-named tasks with random
scores from a fixed seed, and the demo config's (non-degenerate) covariates, so that almost
every one of the 189 partial correlations is defined and gets its 720-ordering permutation p.

Prints the wall time of the whole analysis (tables + 26 figure files), of the tables alone,
and of the permutation p for the whole family computed two ways on the same inputs: the
library's vectorised `permutation_pvalue` (one (720 x 6) @ (6 x 6) product per test) and the
baseline `naive_permutation_pvalue` (720 calls of `partial_corr` per test), with their ratio
and a check that both give the same p values where the partial correlation is defined. `--json` writes the numbers to a file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze import STATISTICS, run_analysis
from cptmix.analyze.correlation import partial_corr, resolve_covariates
from cptmix.analyze.differences import outcome_matrix, score_differences
from cptmix.analyze.inference import naive_permutation_pvalue, permutation_pvalue
from cptmix.analyze.tables import read_composition, read_scores

MIXTURES = ["EnJa-Base", "JaDominant", "EnDominant", "EnJa-Plus", "EnJa-Balance", "EnJa-Hybrid"]
TASKS = [  # (task, category, language): the 27 JMedBench tasks
    *[(t, "MCQA", "Japanese") for t in ("IgakuQA", "JMMLU-Medical", "MMLU-Medical-Jp",
                                        "MedMCQA-Jp", "MedQA-Jp", "PubMedQA-Jp", "USMLEQA-Jp")],
    *[(t, "MCQA", "English") for t in ("IgakuQA-En", "MMLU-Medical", "MedMCQA", "MedQA",
                                       "PubMedQA", "USMLEQA")],
    ("EJMMT-Ja", "MT", "Japanese"), ("EJMMT-En", "MT", "English"),
    *[(t, "NER", "Japanese") for t in ("BC2GM-Jp", "BC5Chem-Jp", "BC5Disease-Jp", "JNLPBA-Jp",
                                       "MRNER-Disease", "MRNER-Medicine", "NCBI-Disease-Jp",
                                       "NRNER")],
    *[(t, "DC", "Japanese") for t in ("CRADE", "RRTNM", "SMDIS")],
    ("JCSTS", "STS", "Japanese"),
]
COVARIATES = {  # as config/config.yaml: non-degenerate choices
    "total_tokens": ["parallel_ratio"], "ja_tokens": ["en_tokens", "parallel_tokens"],
    "en_tokens": ["ja_tokens", "parallel_tokens"], "parallel_tokens": ["ja_tokens", "en_tokens"],
    "ja_ratio": ["parallel_ratio"], "en_ratio": ["parallel_ratio"],
    "parallel_ratio": ["ja_ratio"],
}


def write_synthetic_study(folder: Path, seed: int = 0) -> tuple[Path, Path, dict[str, Path]]:
    """composition.tsv, base.tsv and one score file per mixture under `folder`."""
    rng = np.random.default_rng(seed)
    comp = pd.DataFrame({"mixture": MIXTURES})
    for col in ("ja_tokens", "en_tokens", "parallel_tokens"):
        comp[col] = rng.integers(10**9, 5 * 10**10, len(MIXTURES))  # ~ paper's 1e10 scale
    comp["total_tokens"] = comp[["ja_tokens", "en_tokens", "parallel_tokens"]].sum(axis=1)
    for lang in ("ja", "en", "parallel"):
        comp[f"{lang}_ratio"] = comp[f"{lang}_tokens"] / comp["total_tokens"]
    comp[["mixture", *STATISTICS]].to_csv(folder / "composition.tsv", sep="\t", index=False)
    paths = {}
    for name in ["base", *MIXTURES]:
        df = pd.DataFrame(TASKS, columns=["task", "category", "language"])
        df["metric"] = "accuracy"
        df["score"] = rng.uniform(0.2, 0.7, len(TASKS)).round(4)
        df["n"] = 100
        df.to_csv(folder / f"{name}.tsv", sep="\t", index=False)
        paths[name] = folder / f"{name}.tsv"
    return folder / "composition.tsv", paths.pop("base"), paths


def results_study(results: Path) -> tuple[Path, Path, dict[str, Path]]:
    """The inputs of a finished workflow run (results/corpus, results/eval)."""
    mixtures = [m for m in MIXTURES if (results / "eval" / m / "scores.tsv").is_file()]
    return (results / "corpus" / "composition.tsv", results / "eval" / "base" / "scores.tsv",
            {m: results / "eval" / m / "scores.tsv" for m in mixtures})


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def permutation_family(comp_path: Path, base: Path, mixes: dict[str, Path],
                       statistics: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(x, y, covariates) of every task x statistic test, as the analysis builds them."""
    diffs = score_differences(read_scores(base), {m: read_scores(p) for m, p in mixes.items()})
    wide, comp = outcome_matrix(diffs, read_composition(comp_path))
    covs = resolve_covariates(COVARIATES)
    return [(comp[stat].to_numpy(float), wide.loc[task].to_numpy(float),
             comp[covs[stat]].to_numpy(float)) for task in wide.index for stat in statistics]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a finished run's results/ folder "
                        "(default: a synthetic 6 x 27 x 7 study)")
    parser.add_argument("--quick", action="store_true",
                        help="time the permutation family on one statistic (27 tests) only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic study")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        comp, base, mixes = (results_study(args.results) if args.results
                             else write_synthetic_study(tmp, args.seed))
        # Warm-up (imports, font cache) so that the timings measure the analysis itself.
        run_analysis(comp, base, mixes, tmp / "warm", COVARIATES, make_figures=False)
        t_all, _ = timed(run_analysis, comp, base, mixes, tmp / "all", COVARIATES)
        t_tables, _ = timed(run_analysis, comp, base, mixes, tmp / "tables", COVARIATES,
                            make_figures=False)
        partial = pd.read_csv(tmp / "all" / "partial_correlations.tsv", sep="\t")
        stats = [STATISTICS[0]] if args.quick else list(STATISTICS)
        family = permutation_family(comp, base, mixes, stats)

    t_fast, fast = timed(lambda: [permutation_pvalue(*t) for t in family])
    t_naive, naive = timed(lambda: [naive_permutation_pvalue(*t) for t in family])
    fast, naive = np.array(fast), np.array(naive)
    # The library reports p_perm only where the partial r is defined: compare those.
    defined = np.array([np.isfinite(partial_corr(*t).r) for t in family])
    agree = bool(np.allclose(fast[defined], naive[defined], atol=1e-12))

    numbers = {
        "study": str(args.results) if args.results else f"synthetic (seed {args.seed})",
        "mixtures": len(mixes), "tasks": int(partial["task"].nunique()),
        "statistics": int(partial["statistic"].nunique()),
        "defined_partial_correlations": int(partial["r"].notna().sum()),
        "analysis_with_figures_s": round(t_all, 3), "analysis_tables_only_s": round(t_tables, 3),
        "permutation_tests": len(family), "orderings_per_test": 720 if len(mixes) == 6 else None,
        "permutation_vectorised_s": round(t_fast, 4), "permutation_naive_loop_s": round(t_naive, 3),
        "speedup_vectorised_over_naive": round(t_naive / t_fast, 1),
        "p_values_identical": agree,
    }
    print(f"study: {numbers['study']}: {numbers['mixtures']} mixtures x {numbers['tasks']} tasks "
          f"x {numbers['statistics']} statistics, {numbers['defined_partial_correlations']} "
          "defined partial correlations")
    print(f"whole analysis (tables + figures):  {t_all:8.2f} s")
    print(f"tables only (incl. permutation p):  {t_tables:8.2f} s")
    print(f"permutation p, {len(family)} tests x 720 orderings:")
    print(f"  vectorised (library)              {t_fast:8.3f} s")
    print(f"  naive loop (baseline, same run)   {t_naive:8.3f} s")
    print(f"  ratio naive / vectorised          {t_naive / t_fast:8.1f} x   "
          f"(same p values: {agree})")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
