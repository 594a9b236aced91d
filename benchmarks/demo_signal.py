"""Does the demo recover its planted effects beyond seed and item noise? And what does it cost?

A measurement script for re-tuning the demo world (`config/config.yaml`: world, base_model,
train, evaluate); not part of the workflow. Give it one finished results folder per training
seed (the same world, `seed:` changed):

    PYTHONPATH=src python benchmarks/demo_signal.py --results r1234/results r1235/results \\
        [--gen-loglik] [--out signal.tsv]

Per task and model it reads results/eval/{model}/predictions/{task}.jsonl and scores each
item continuously: the gold option's log-softmax over the options (MCQA, DC, STS) or, with
--gen-loglik, the gold target's log-likelihood per byte (MT, NER; computed here from
results/models/sft/{model}, since evaluation writes only the generations). Then, for each
planted row of results/world/planted_effects.tsv, it pools the additive design's edges whose
added sources include a driver (mean over those edges of CPT+SFT(A) - CPT+SFT(B), per item
and seed) and reports the estimate with SE^2 = var_seed/S + var_item/I, the per-seed
estimates, and for "0" rows the largest |t| over all edges. It also prints base+SFT MCQA
accuracy against chance, the pmc_en accuracy gains, and the per-job times of
results/benchmarks (cpu_time, the single-thread cost of a job on an idle core) with the
3-seed projection of the default study.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np

from cptmix.tasks import MCQA, MT, NER, TASKS, get_task, prompt_and_target

# The demo's additive design: (A, B, sources A adds to B).
EDGES = (
    ("EnDominant", "EnJa-Base", {"pmc_en"}),
    ("JaDominant", "EnJa-Base", {"pmc_ja_mt"}),
    ("EnJa-Plus", "EnDominant", {"pmc_ja_mt"}),
    ("EnJa-Balance", "EnJa-Plus", {"pmc_ja_mt"}),
    ("EnJa-Balance", "JaDominant", {"pmc_en"}),
    ("EnJa-Hybrid", "EnJa-Balance", {"textbooks", "parallel_abstracts"}),
)
# --margin: score options by gold minus mean distractor log-likelihood instead of the gold
# log-softmax (which also rises when a model's option distribution merely flattens).
MARGIN = False
MODELS = ("base", "EnJa-Base", "JaDominant", "EnDominant", "EnJa-Plus", "EnJa-Balance",
          "EnJa-Hybrid")


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _pred_path(results: Path, model: str, task) -> Path:
    name = f"ejmmt_{task.direction}" if task.category == MT else task.folder
    return results / "eval" / model / "predictions" / f"{name}.jsonl"


def choice_scores(results: Path, model: str, task) -> tuple[np.ndarray, np.ndarray]:
    """(gold log-softmax, correct 0/1) per item of an option-scored task."""
    rows = _rows(_pred_path(results, model, task))
    ll = [np.asarray(r["loglik"], dtype=float) for r in rows]
    lsm = np.array([x[r["gold"]] - (x.max() + math.log(np.exp(x - x.max()).sum()))
                    for x, r in zip(ll, rows, strict=True)])
    if MARGIN:
        lsm = np.array([x[r["gold"]] - np.delete(x, r["gold"]).mean()
                        for x, r in zip(ll, rows, strict=True)])
    return lsm, np.array([float(r["prediction"] == r["gold"]) for r in rows])


def gen_scores(results: Path, model: str, task, cache: dict) -> np.ndarray:
    """Gold target log-likelihood per byte per item of an MT/NER task (from the model)."""
    key = (str(results), model)
    if key not in cache:
        from cptmix.evaluate.runner import load_model
        from cptmix.evaluate.scoring import score_options
        from cptmix.records import load_records

        mdl, tok = load_model(results / "models" / "sft" / model)
        out = {}
        for t in TASKS:
            if t.category not in (MT, NER):
                continue
            recs = load_records(t, results / "world" / "jmedbench")
            reqs = [prompt_and_target(t, r) for r in recs]
            scores = score_options(mdl, tok, [(p, [g]) for p, g in reqs])
            out[t.name] = np.array([s[0].loglik_per_byte for s in scores])
        cache[key] = out
    return cache[key][task.name]


def planted(results: Path) -> list[dict]:
    with open(results / "world" / "planted_effects.tsv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def pooled(y: dict, edges) -> tuple[float, float, list[float]]:
    """Estimate, SE (seed x item) and per-seed estimates of the mean edge difference."""
    d = np.mean([y[a] - y[b] for a, b, _ in edges], axis=0)  # seeds x items
    s_n, i_n = d.shape
    var_seed = d.mean(axis=1).var(ddof=1) if s_n > 1 else 0.0
    var_item = d.mean(axis=0).var(ddof=1)
    se = math.sqrt(var_seed / s_n + var_item / i_n)
    return float(d.mean()), se, [float(x) for x in d.mean(axis=1)]


def times(results: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for f in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = f.relative_to(results / "benchmarks").parts[0]
        row = f.read_text().splitlines()[-1].split("\t")
        out.setdefault(rule, []).append(float(row[-1]) if row[-1] != "-" else float(row[0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, nargs="+", required=True)
    ap.add_argument("--gen-loglik", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--margin", action="store_true",
                    help="MCQA/DC/STS: gold minus mean distractor loglik, not log-softmax")
    args = ap.parse_args()
    global MARGIN
    MARGIN = args.margin
    res = args.results
    cache: dict = {}
    rows_out = []
    print("task\tsign\tdrivers\tedges\testimate\tse\tt\tper_seed\tmax|t|_edge")
    hits = 0
    for p in planted(res[0]):
        task = get_task(p["task"])
        if task.category in (MT, NER) and not args.gen_loglik:
            continue
        y = {}
        for m in MODELS[1:]:
            if task.category in (MT, NER):
                y[m] = np.stack([gen_scores(r, m, task, cache) for r in res])
            else:
                y[m] = np.stack([choice_scores(r, m, task)[0] for r in res])
        drivers = set(filter(None, p["driver_sources"].split(",")))
        edges = [e for e in EDGES if e[2] & drivers]
        per_edge = [pooled(y, [e]) for e in EDGES]
        max_t = max(abs(est / se) if se else 0.0 for est, se, _ in per_edge)
        if edges:
            est, se, seeds = pooled(y, edges)
            t = est / se if se else float("nan")
            ok = (t > 2) if p["expected_sign"] == "+" else (t < -2)
        else:
            est, se, seeds, t = float("nan"), float("nan"), [], float("nan")
            ok = max_t < 2
        hits += ok
        line = (f"{task.name}\t{p['expected_sign']}\t{p['driver_sources']}\t{len(edges)}\t"
                f"{est:+.3f}\t{se:.3f}\t{t:+.1f}\t{','.join(f'{s:+.3f}' for s in seeds)}\t"
                f"{max_t:.1f}\t{'OK' if ok else '--'}")
        print(line)
        rows_out.append(line)
    print(f"# planted effects recovered (|t|>2 right sign; '0': no edge |t|>=2): {hits}")
    print("\n# base+SFT MCQA accuracy (mean over seeds) vs chance; pmc_en accuracy gains")
    print("task\tchance\tbase\tEnDom-EnJaBase\tBal-JaDom")
    for task in TASKS:
        if task.category != MCQA:
            continue
        acc = {m: np.mean([choice_scores(r, m, task)[1].mean() for r in res]) for m in MODELS}
        n_opt = len(_rows(_pred_path(res[0], "base", task))[0]["loglik"])
        print(f"{task.name}\t{1 / n_opt:.3f}\t{acc['base']:.3f}\t"
              f"{acc['EnDominant'] - acc['EnJa-Base']:+.3f}\t"
              f"{acc['EnJa-Balance'] - acc['JaDominant']:+.3f}")
    print("\n# per-job cpu_time (s), first results folder")
    t = times(res[0])
    for rule, v in sorted(t.items()):
        print(f"{rule}\tn={len(v)}\tmean={np.mean(v):.1f}\tsum={sum(v):.1f}")
    per_seed = sum(sum(t.get(r, [])) for r in ("train_cpt", "train_sft", "evaluate_model"))
    prefix = sum(sum(v) for r, v in t.items()
                 if r not in ("train_cpt", "train_sft", "evaluate_model"))
    print(f"# one seed's CPT+SFT+eval: {per_seed:.0f} cpu-s; the rest: {prefix:.0f} cpu-s; "
          f"3-seed projection on 2 cores: ({prefix:.0f} + 3 x {per_seed:.0f}) / 2 = "
          f"{(prefix + 3 * per_seed) / 2 / 60:.1f} min (pre-training sits on the critical "
          "path alone)")
    if args.out:
        args.out.write_text("\n".join(rows_out) + "\n")


if __name__ == "__main__":
    main()
