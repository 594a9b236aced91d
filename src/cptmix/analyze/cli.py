"""The `analyze` subcommand: run the analysis stage (after evaluation) from the command line.

    cptmix analyze --composition C.tsv --base-scores B.tsv \
        --mixture-scores EnJa-Base=scores/enja_base.tsv JaDominant=scores/jadominant.tsv ... \
        --out results/analysis [--covariates ja_tokens=en_tokens,parallel_tokens ...]

`add_arguments` and `run_from_args` are what the `cptmix` console script wires in; `main` runs
the subcommand on its own (`python -m cptmix.analyze.cli ...`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cptmix.analyze.report import run_analysis


def _split_pair(text: str, flag: str, form: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{flag}: expected {form}, got {text!r}")
    return name.strip(), value.strip()


def parse_mixture_scores(items: Sequence[str]) -> dict[str, Path]:
    """NAME=PATH items -> {name: path}, in the given order (the order tables will show)."""
    out: dict[str, Path] = {}
    for item in items:
        name, path = _split_pair(item, "--mixture-scores", "NAME=PATH")
        if not path:
            raise ValueError(f"--mixture-scores: no path given for mixture {name!r}")
        if name in out:
            raise ValueError(f"--mixture-scores: mixture {name!r} given more than once")
        out[name] = Path(path)
    return out


def parse_covariates(items: Sequence[str] | None) -> dict[str, list[str]] | None:
    """STAT=COV1,COV2 items -> {stat: [cov1, cov2]}; "STAT=" means no covariates."""
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        stat, covs = _split_pair(item, "--covariates", "STAT=COV1,COV2")
        if stat in out:
            raise ValueError(f"--covariates: statistic {stat!r} given more than once")
        out[stat] = [c.strip() for c in covs.split(",") if c.strip()]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `analyze` flags to `parser` (a subparser of the `cptmix` console script)."""
    parser.add_argument("--composition", required=True, type=Path, metavar="C.tsv",
                        help="composition statistics per mixture (TSV)")
    parser.add_argument("--base-scores", required=True, type=Path, metavar="B.tsv",
                        help="JMedBench scores of the before-CPT model after SFT (TSV)")
    parser.add_argument("--mixture-scores", required=True, nargs="+", metavar="NAME=PATH",
                        help="scores of each CPT+SFT model, one NAME=PATH per mixture")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output folder (tables, figures/, summary.md)")
    parser.add_argument("--covariates", nargs="+", metavar="STAT=COV1,COV2", default=None,
                        help="override the covariates of a statistic (default: the other "
                             "statistics of its group); STAT= for none")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the analysis for parsed `args`; input errors raise ValueError naming the file."""
    run_analysis(args.composition, args.base_scores, parse_mixture_scores(args.mixture_scores),
                 args.out, parse_covariates(args.covariates))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cptmix analyze", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 2  # unreachable: parser.exit raises SystemExit


if __name__ == "__main__":
    sys.exit(main())
