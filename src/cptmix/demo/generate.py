"""`generate_world`: validate the world config, build the world, write every output file."""

from __future__ import annotations

import json
from pathlib import Path

from cptmix.demo.evalsets import EvalSetWriter
from cptmix.demo.planted import planted_tsv
from cptmix.demo.sources import REVIEW_SOURCES, SourceWriter
from cptmix.demo.world import build_world
from cptmix.io import write_jsonl, write_text
from cptmix.tasks import TASKS

SOURCES = ("general", "ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts",
           "textbooks")
GENERATED = tuple(s for s in SOURCES if s != "pmc_ja_mt")  # pmc_ja_mt mirrors pmc_en
# Written as sources; pmc_ja_mt (translate rule) and parallel_abstracts (build_parallel rule,
# from parallel/abstract_pairs.jsonl) are built from the world's raw inputs by cptmix.prepare.
WRITTEN = ("general", "ja_base", "en_base", "pmc_en", "textbooks")
_INT_KEYS = {"seed": None, "n_diseases": 4, "n_drugs": 4, "n_genes": 4, "eval_items": 1,
             "sft_items": 1}


def check_world_config(cfg: dict) -> None:
    """Raise ValueError (TypeError for a wrong type) naming the first bad key of a world
    config."""
    if not isinstance(cfg, dict):
        raise TypeError("world config must be a mapping")
    missing = [k for k in (*_INT_KEYS, "mt_noise", "docs") if k not in cfg]
    if missing:
        raise ValueError(f"world config: missing key(s) {', '.join(missing)}")
    for key, minimum in _INT_KEYS.items():
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"world.{key}: expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"world.{key}: must be >= {minimum}, got {value}")
    noise = cfg["mt_noise"]
    if not isinstance(noise, int | float) or isinstance(noise, bool) or not 0 <= noise <= 1:
        raise ValueError(f"world.mt_noise: expected a number in [0, 1], got {noise!r}")
    docs = cfg["docs"]
    if not isinstance(docs, dict):
        raise TypeError("world.docs: expected a mapping source -> number of documents")
    for name in docs:
        if name not in SOURCES:
            raise ValueError(f"world.docs.{name}: unknown source (known: {', '.join(SOURCES)})")
    for name in GENERATED:
        n = docs.get(name)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"world.docs.{name}: expected an integer >= 1, got {n!r}")
    review = cfg.get("review_questions", {})
    if not isinstance(review, dict):
        raise TypeError("world.review_questions: expected a mapping source -> number of "
                        "questions")
    for name, n in review.items():
        if name not in REVIEW_SOURCES:
            raise ValueError(f"world.review_questions.{name}: not a source with review "
                             f"questions (these are: {', '.join(REVIEW_SOURCES)})")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"world.review_questions.{name}: expected an integer >= 0, "
                             f"got {n!r}")
    if "pmc_ja_mt" in docs and docs["pmc_ja_mt"] != docs["pmc_en"]:
        raise ValueError("world.docs.pmc_ja_mt: the translation has one document per pmc_en "
                         f"document ({docs['pmc_en']}), got {docs['pmc_ja_mt']}")


def generate_world(cfg: dict, out_dir: str | Path) -> None:
    """Generate the demo world described by `cfg` (see `DEFAULT_WORLD`) under `out_dir`:
    sources/{general,ja_base,en_base,pmc_en,textbooks}.jsonl, the raw inputs of the build
    rules (parallel/abstract_pairs.jsonl: aligned En/Ja abstracts; sft_sources/{folder}/
    train.jsonl: the JMedBench-shaped train split the SFT set is built from),
    jmedbench/{folder}/test.jsonl, planted_effects.tsv and world.json. The same cfg gives
    byte-identical files. (The translate rule runs the world's noisy translator on pmc_en and,
    for the appendix-B MT-source check, on EJMMT's English side.)"""
    check_world_config(cfg)
    out = Path(out_dir)
    world = build_world(cfg)
    seed, docs = cfg["seed"], cfg["docs"]

    writer = SourceWriter(world, seed, float(cfg["mt_noise"]))
    sources = {"general": writer.general(docs["general"])}
    sources["ja_base"] = writer.ja_base(docs["ja_base"])
    sources["en_base"] = writer.en_base(docs["en_base"])
    # The world translates pmc_en itself only for its audit (which facts survive the noise);
    # the translate rule makes the pmc_ja_mt source with the same seeded translator.
    sources["pmc_en"], pmc_ja_mt = writer.pmc(docs["pmc_en"])
    pairs = writer.parallel(docs["parallel_abstracts"])
    sources["textbooks"] = writer.textbooks(docs["textbooks"])
    # Drawn last, each from its own stream: they change nothing above.
    review = cfg.get("review_questions", {})
    for name in REVIEW_SOURCES:
        if review.get(name):
            sources[name] += writer.review(name, review[name])
    for name in WRITTEN:
        write_jsonl(out / "sources" / f"{name}.jsonl", sources[name])
    write_jsonl(out / "parallel" / "abstract_pairs.jsonl", pairs)

    bench = EvalSetWriter(world, seed)
    eval_records = bench.records("eval", cfg["eval_items"])
    sft_records = bench.records("sft", cfg["sft_items"])
    folders_written = set()
    for task in TASKS:
        if task.folder in folders_written:  # EJMMT: one folder for both directions
            continue
        folders_written.add(task.folder)
        write_jsonl(out / "jmedbench" / task.folder / "test.jsonl", eval_records[task.name])
        write_jsonl(out / "sft_sources" / task.folder / "train.jsonl", sft_records[task.name])
    write_text(out / "planted_effects.tsv", planted_tsv())

    audit = world.to_json()
    audit["config"] = cfg
    sizes = {name: [len(d["text"]) for d in sources[name]] for name in WRITTEN}
    sizes["pmc_ja_mt"] = [len(d["text"]) for d in pmc_ja_mt]
    # Interleaving reorders the paragraphs of a pair, never changes its length.
    sizes["parallel_abstracts"] = [len(p["en"]) + len(p["ja"]) + 1 for p in pairs]
    audit["sources"] = {name: {"documents": len(sizes[name]), "characters": sum(sizes[name])}
                        for name in SOURCES}
    audit["translator"] = {"noise": cfg["mt_noise"], "errors": dict(writer.translator.errors),
                           "unmatched_sentences": writer.translator.unmatched}
    audit["eval_items"] = {t.name: len(eval_records[t.name]) for t in TASKS}
    audit["sft_records"] = {t.name: len(sft_records[t.name]) for t in TASKS}
    write_text(out / "world.json", json.dumps(audit, ensure_ascii=False, indent=1,
                                              sort_keys=True) + "\n")
