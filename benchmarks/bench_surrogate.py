"""Benchmark fit_surrogate's held-out checks: one process against `threads.surrogate` processes.

    .venv/bin/python benchmarks/bench_surrogate.py              # 22 mixtures x 12 targets
    .venv/bin/python benchmarks/bench_surrogate.py --targets 58 --repeats 1   # the demo's size

A synthetic design of the demo sweep's shape (16 sweep + 6 anchor mixtures over six sources,
two seeds) with `--targets` targets (half linear in the shares plus noise, half noise), all
four candidate models, LOO and 5-fold. `cross_validate` runs with n_jobs = 1 (the baseline)
and n_jobs = `--jobs`, alternately, `--repeats` times each; prints the median wall time of
each, their ratio, and whether the two tables are identical (they must be: every fit is
seeded, the targets are independent and come back in order). On the demo sweep itself
fit_surrogate took 56 s in one process and 25 s in two (whole process, median of 3 each).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from cptmix.analyze.surrogate import MODELS, cross_validate

SOURCES = ["ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts", "textbooks"]


def design(n_mixtures: int, n_targets: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    shares = pd.DataFrame(rng.dirichlet(np.ones(len(SOURCES)), n_mixtures), columns=SOURCES,
                          index=[f"m{i:02d}" for i in range(n_mixtures)])
    beta = rng.normal(0, 0.5, (len(SOURCES), n_targets))
    beta[:, n_targets // 2:] = 0.0  # half the targets are noise
    targets = shares.to_numpy() @ beta + rng.normal(0, 0.05, (n_mixtures, n_targets))
    return shares, pd.DataFrame(targets, index=shares.index,
                                columns=[f"t{j:02d}" for j in range(n_targets)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixtures", type=int, default=22)
    ap.add_argument("--targets", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2, help="processes of the tested side")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side (alternating)")
    args = ap.parse_args()
    shares, targets = design(args.mixtures, args.targets)
    times: dict[int, list[float]] = {1: [], args.jobs: []}
    tables: dict[int, pd.DataFrame] = {}
    for _ in range(args.repeats):
        for n_jobs in (1, args.jobs):
            start = time.perf_counter()
            tables[n_jobs] = cross_validate(shares, targets, tuple(MODELS), n_jobs=n_jobs)
            times[n_jobs].append(time.perf_counter() - start)
    base, tested = statistics.median(times[1]), statistics.median(times[args.jobs])
    same = tables[1].equals(tables[args.jobs])
    print(f"{args.mixtures} mixtures x {args.targets} targets x {len(MODELS)} models, "
          f"median of {args.repeats} runs each")
    print(f"n_jobs=1 (baseline): {base:.2f} s; n_jobs={args.jobs}: {tested:.2f} s; "
          f"ratio {tested / base:.3f}; tables identical: {same}")
    if not same:
        raise SystemExit("the tables differ")


if __name__ == "__main__":
    main()
