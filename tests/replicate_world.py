"""A synthetic seed-replicate evaluation for the analysis tests (and timing runs).

Writes, like the evaluation does, results/eval/{model}/seed-{seed}/scores.tsv and items.tsv
for "base" and the demo's six mixtures, plus composition.tsv and planted_effects.tsv. Each
task's items have a difficulty; a model's logit on an item is ability + planted effect (sum
over the mixture's sources of fraction x the task's per-source effect) + a per-(model, seed,
task) training-noise shift - difficulty. Accuracy items are Bernoulli draws, MT/NER items a
bounded continuous score, STS a grade prediction (Pearson over items, item_score NaN); every
item also gets a gold-option log-probability (item_continuous).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.analyze.columns import STATISTICS

# The demo's resolved design (config/config.yaml): EnJa-Hybrid = Balance + textbooks +
# parallel_abstracts 0.1 -> 1.0.
DEMO_DESIGN = {
    "EnJa-Base": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 0.1},
    "JaDominant": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 0.1, "pmc_ja_mt": 1.0},
    "EnDominant": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 0.1, "pmc_en": 1.0},
    "EnJa-Plus": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 0.1, "pmc_en": 1.0,
                  "pmc_ja_mt": 0.5},
    "EnJa-Balance": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 0.1, "pmc_en": 1.0,
                     "pmc_ja_mt": 1.0},
    "EnJa-Hybrid": {"ja_base": 1.0, "en_base": 1.0, "parallel_abstracts": 1.0, "pmc_en": 1.0,
                    "pmc_ja_mt": 1.0, "textbooks": 1.0},
}
# Token counts per full source (ja, en, parallel): the composition follows from the design.
SOURCE_TOKENS = {"ja_base": (5e8, 0, 0), "en_base": (0, 9e8, 0), "parallel_abstracts": (0, 0, 5e8),
                 "pmc_en": (0, 2e9, 0), "pmc_ja_mt": (2.2e9, 0, 0), "textbooks": (3e8, 0, 0)}
# (task, category, language, metric, kind); kind: acc, cont (MT/NER), sts.
TASK_KINDS = (("MCQA", "accuracy", "acc"), ("MT", "bleu", "cont"), ("NER", "entity_f1", "cont"),
              ("DC", "accuracy", "acc"), ("STS", "pearson", "sts"))


def composition(design=DEMO_DESIGN) -> pd.DataFrame:
    rows = []
    for m, fr in design.items():
        ja = sum(f * SOURCE_TOKENS[s][0] for s, f in fr.items())
        en = sum(f * SOURCE_TOKENS[s][1] for s, f in fr.items())
        par = sum(f * SOURCE_TOKENS[s][2] for s, f in fr.items())
        total = ja + en + par
        rows.append({"mixture": m, "total_tokens": total, "ja_tokens": ja, "en_tokens": en,
                     "parallel_tokens": par, "ja_ratio": ja / total, "en_ratio": en / total,
                     "parallel_ratio": par / total})
    return pd.DataFrame(rows)[["mixture", *STATISTICS]]


def task_list(n_tasks: int) -> list[tuple[str, str, str, str, str]]:
    out = []
    for k in range(n_tasks):
        cat, metric, kind = TASK_KINDS[k % len(TASK_KINDS)]
        out.append((f"T{k:02d}-{cat}", cat, "Japanese" if k % 4 else "English", metric, kind))
    return out


def write_world(root: Path, *, seeds=(1234, 1235, 1236), n_tasks: int = 10, n_items: int = 60,
                effects: dict[str, dict[str, float]] | None = None, seed_sd: float = 0.15,
                rng_seed: int = 0, design=DEMO_DESIGN) -> dict:
    """Write the files; return {"scores", "items", "composition", "planted", "tasks"}.

    `effects`: task -> {source: logit effect per unit fraction}; absent tasks get no effect.
    The planted table lists, for every task in `effects`, its drivers with the sign of their
    effect, and "0" for the others (so a world without effects still has a planted table).
    """
    rng = np.random.default_rng(rng_seed)
    root = Path(root)
    tasks = task_list(n_tasks)
    models = ["base", *design]
    effects = effects or {}
    scores = {m: {} for m in models}
    items = {m: {} for m in models}
    difficulty = rng.normal(0.0, 1.0, (n_tasks, n_items))
    gold_grade = rng.integers(0, 6, (n_tasks, n_items)).astype(float)
    for m in models:
        fr = design.get(m, {})
        for s in seeds:
            out = root / "eval" / m / f"seed-{s}"
            out.mkdir(parents=True, exist_ok=True)
            score_rows, item_rows = [], []
            for k, (task, cat, lang, metric, kind) in enumerate(tasks):
                eff = sum(fr.get(src, 0.0) * b for src, b in effects.get(task, {}).items())
                logit = 0.3 + eff + rng.normal(0.0, seed_sd) - difficulty[k]
                prob = 1.0 / (1.0 + np.exp(-logit))
                cont = np.log(prob) + rng.normal(0.0, 0.05, n_items)
                ids = [f"{task}-{i:03d}" for i in range(n_items)]
                if kind == "acc":
                    item = (rng.random(n_items) < prob).astype(float)
                    pred = np.where(item == 1, 0.0, 1.0)
                    gold = np.zeros(n_items)
                elif kind == "cont":
                    item = np.clip(prob + rng.normal(0.0, 0.1, n_items), 0.0, 1.0)
                    pred = gold = np.full(n_items, np.nan)
                else:
                    noise = rng.normal(0.0, 1.0, n_items) * (1.6 - prob)
                    pred = np.clip(np.round(gold_grade[k] + noise), 0, 5)
                    gold = gold_grade[k]
                    item = np.full(n_items, np.nan)
                if kind == "sts":
                    score = float(np.corrcoef(pred, gold)[0, 1])
                    stderr = (1 - score ** 2) / np.sqrt(n_items - 1)
                else:
                    score = float(item.mean())
                    stderr = float(item.std(ddof=1) / np.sqrt(n_items))
                score_rows.append({"task": task, "category": cat, "language": lang,
                                   "metric": metric, "score": score, "stderr": stderr,
                                   "n": n_items,
                                   "continuous_metric": ("gold_loglik_per_byte"
                                                         if kind == "cont"
                                                         else "gold_option_logprob"),
                                   "continuous_unit": "nats/byte" if kind == "cont" else "nats",
                                   "continuous": float(cont.mean()),
                                   "continuous_stderr": float(cont.std(ddof=1)
                                                              / np.sqrt(n_items))})
                item_rows.append(pd.DataFrame({"task": task, "sample_id": ids,
                                               "item_score": item, "item_continuous": cont,
                                               "prediction": pred, "gold": gold}))
            pd.DataFrame(score_rows).to_csv(out / "scores.tsv", sep="\t", index=False,
                                            float_format="%.8f")
            pd.concat(item_rows).to_csv(out / "items.tsv", sep="\t", index=False,
                                        float_format="%.8f", na_rep="NaN")
            scores[m][s] = out / "scores.tsv"
            items[m][s] = out / "items.tsv"
    composition(design).to_csv(root / "composition.tsv", sep="\t", index=False)
    planted_rows = []
    for task, *_ in tasks:
        eff = effects.get(task, {})
        if eff:
            sign = "+" if sum(eff.values()) > 0 else "-"
            planted_rows.append((task, sign, ",".join(eff), "", "", "planted"))
        else:
            planted_rows.append((task, "0", "", "", "", "no effect"))
    pd.DataFrame(planted_rows, columns=["task", "expected_sign", "driver_sources",
                                        "held_sources", "statistic", "rationale"]).to_csv(
        root / "planted_effects.tsv", sep="\t", index=False)
    return {"scores": scores, "items": items, "composition": root / "composition.tsv",
            "planted": root / "planted_effects.tsv", "tasks": tasks}
