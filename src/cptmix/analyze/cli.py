"""The `analyze` subcommand: run the analysis stage (after evaluation) from the command line.

Any study's tables, in one of three forms:

    cptmix analyze --composition C.tsv --scores S.tsv --out DIR \
        [--covariates ja_tokens=en_tokens,parallel_tokens ...]

    cptmix analyze --composition C.tsv --base-scores B.tsv \
        --mixture-scores EnJa-Base=scores/enja_base.tsv JaDominant=scores/jadominant.tsv ... \
        --out results/analysis [--metric score|continuous] [--covariates ...] \
        [--planted P.tsv --mixture-sources EnJa-Base=ja_base,en_base,parallel_abstracts:0.1 ...]

    cptmix analyze --composition C.tsv --eval-pattern 'results/eval/{model}/seed-{seed}' \
        --mixtures EnJa-Base JaDominant ... --seeds 1234 1235 1236 [--scope full|sft] \
        --out DIR [--metric ...] [--planted P.tsv --mixture-sources ...]

(the replicate form: what the workflow's analyze rule runs, scores.tsv and items.tsv of every
model and seed, differences paired by seed and item, noise floors).

C.tsv: mixture, total_tokens, ja_tokens, en_tokens, parallel_tokens, ja_ratio, en_ratio,
parallel_ratio (ratios as fractions or percent). S.tsv: long format mixture, task, category,
language, score_diff (extra columns ignored: the workflow's score_differences.tsv works as is).
B.tsv and the mixture files: task, category, language, score[, stderr, continuous, ...] (one
evaluation's scores.tsv per model, a single seed without items: the tests use the stderr
column; the workflow's `run_analysis` call gives every seed and the items).

`add_arguments` and `run_from_args` are what the `cptmix` console script wires in; `main` runs
the subcommand on its own (`python -m cptmix.analyze.cli ...`).

Place in `cptmix.analyze`: above the runner `run` and `replicates` (`nested_paths`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cptmix.analyze.replicates import nested_paths
from cptmix.analyze.run import run_analysis, run_analysis_from_differences


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


def _parse_lists(items: Sequence[str] | None, flag: str, form: str, what: str
                 ) -> dict[str, list[str]] | None:
    """KEY=A,B items -> {key: [a, b]}; "KEY=" gives an empty list; a repeated key is an error."""
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        key, values = _split_pair(item, flag, form)
        if key in out:
            raise ValueError(f"{flag}: {what} {key!r} given more than once")
        out[key] = [v.strip() for v in values.split(",") if v.strip()]
    return out


def parse_covariates(items: Sequence[str] | None) -> dict[str, list[str]] | None:
    """STAT=COV1,COV2 items -> {stat: [cov1, cov2]}; "STAT=" means no covariates."""
    return _parse_lists(items, "--covariates", "STAT=COV1,COV2", "statistic")


def parse_mixture_sources(items: Sequence[str] | None) -> dict[str, dict[str, float]] | None:
    """NAME=SRC1,SRC2:0.5 items -> {mixture: {source: fraction}} (fraction 1 when not given)."""
    lists = _parse_lists(items, "--mixture-sources", "NAME=SRC1,SRC2:FRACTION", "mixture")
    if lists is None:
        return None
    out: dict[str, dict[str, float]] = {}
    for name, entries in lists.items():
        out[name] = {}
        for entry in entries:
            source, _, frac = entry.partition(":")
            try:
                out[name][source.strip()] = float(frac) if frac.strip() else 1.0
            except ValueError:
                raise ValueError(f"--mixture-sources: {name}: fraction of {source!r} is not a "
                                 f"number: {frac!r}") from None
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `analyze` flags to `parser` (a subparser of the `cptmix` console script)."""
    parser.add_argument("--composition", required=True, type=Path, metavar="C.tsv",
                        help="composition statistics per mixture (TSV; ratios as fractions "
                             "or percent)")
    parser.add_argument("--scores", type=Path, metavar="S.tsv",
                        help="long score differences: mixture, task, category, language, "
                             "score_diff (extra columns ignored); or give --base-scores and "
                             "--mixture-scores instead")
    parser.add_argument("--base-scores", type=Path, metavar="B.tsv",
                        help="JMedBench scores of the before-CPT model after SFT (TSV)")
    parser.add_argument("--mixture-scores", nargs="+", metavar="NAME=PATH",
                        help="scores of each CPT+SFT model, one NAME=PATH per mixture")
    parser.add_argument("--eval-pattern", metavar="PATTERN",
                        help="the replicate form: evaluation folders with {model} and {seed}, "
                             "e.g. 'results/eval/{model}/seed-{seed}' (scores.tsv and items.tsv "
                             "in each; model = base and every --mixtures name); needs --mixtures "
                             "and --seeds")
    parser.add_argument("--mixtures", nargs="+", metavar="NAME",
                        help="with --eval-pattern: the mixtures, in table order")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED",
                        help="with --eval-pattern: the replicate seeds (differences are paired "
                             "by seed)")
    parser.add_argument("--scope", choices=("full", "sft"), default="full",
                        help="with --eval-pattern: what the seeds reseeded (full: CPT and SFT; "
                             "sft: SFT only), stated in the summary")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="output folder (tables, figures/, summary.md)")
    parser.add_argument("--covariates", nargs="+", metavar="STAT=COV1,COV2", default=None,
                        help="override the covariates of a statistic (default: the other "
                             "statistics of its group); STAT= for none")
    parser.add_argument("--metric", choices=("score", "continuous"), default="score",
                        help="which score-file columns to analyse (per-model form only): the "
                             "JMedBench metric (score/stderr, default) or the continuous one "
                             "(continuous/continuous_stderr)")
    parser.add_argument("--planted", type=Path, metavar="P.tsv", default=None,
                        help="planted_effects.tsv of the demo world (per-model form only): "
                             "adds planted_effects_check.tsv")
    parser.add_argument("--mixture-sources", nargs="+", metavar="NAME=SRC1,SRC2:FRACTION",
                        default=None,
                        help="the design: sources (and fractions, default 1) of each mixture, "
                             "for contrasts.tsv and the planted check")
    parser.add_argument("--no-figures", action="store_true",
                        help="write the tables only (skips figures/, most of the runtime)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the analysis for parsed `args`; input errors raise ValueError naming the file."""
    per_model = args.base_scores is not None or args.mixture_scores
    forms = [args.scores is not None, bool(per_model), args.eval_pattern is not None]
    if sum(forms) > 1:
        raise ValueError("give one of --scores, --base-scores with --mixture-scores, or "
                         "--eval-pattern with --mixtures and --seeds")
    covariates = parse_covariates(args.covariates)
    if args.eval_pattern is not None:
        if not args.mixtures or not args.seeds:
            raise ValueError("--eval-pattern needs --mixtures and --seeds")
        if len(set(args.seeds)) != len(args.seeds):
            raise ValueError(f"--seeds: duplicate seed(s) in {args.seeds}")
        for key in ("{model}", "{seed}"):
            if key not in args.eval_pattern:
                raise ValueError(f"--eval-pattern {args.eval_pattern!r} lacks {key}")
        models = ["base", *args.mixtures]
        run_analysis(args.composition,
                     nested_paths(models, args.seeds, args.eval_pattern, "scores.tsv"),
                     args.out, items=nested_paths(models, args.seeds, args.eval_pattern,
                                                  "items.tsv"),
                     metric=args.metric, covariates=covariates, planted=args.planted,
                     mixture_sources=parse_mixture_sources(args.mixture_sources),
                     replicate_scope=args.scope, make_figures=not args.no_figures)
        return 0
    if args.scores is not None:
        if args.planted is not None:
            raise ValueError("--planted needs per-model scores (--base-scores and "
                             "--mixture-scores), not a score-difference table")
        run_analysis_from_differences(args.composition, args.scores, args.out, covariates,
                                      make_figures=not args.no_figures)
        return 0
    if args.base_scores is None or not args.mixture_scores:
        raise ValueError("give --scores, or both --base-scores and --mixture-scores")
    # One evaluation per model: seed 0 stands for "the single run".
    scores = {"base": {0: args.base_scores},
              **{name: {0: path} for name, path in
                 parse_mixture_scores(args.mixture_scores).items()}}
    run_analysis(args.composition, scores, args.out, metric=args.metric, covariates=covariates,
                 planted=args.planted,
                 mixture_sources=parse_mixture_sources(args.mixture_sources),
                 make_figures=not args.no_figures)
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
