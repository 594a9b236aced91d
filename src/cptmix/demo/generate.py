"""`generate_world`: validate the world config, build the world, write every output file."""

from __future__ import annotations

import json
from pathlib import Path

from cptmix.demo.benchmark import BenchmarkWriter
from cptmix.demo.planted import planted_tsv
from cptmix.demo.sources import SourceWriter
from cptmix.demo.world import build_world
from cptmix.io import write_text
from cptmix.tasks import TASKS

SOURCES = ("general", "ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts",
           "textbooks")
GENERATED = tuple(s for s in SOURCES if s != "pmc_ja_mt")  # pmc_ja_mt mirrors pmc_en
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
    if "pmc_ja_mt" in docs and docs["pmc_ja_mt"] != docs["pmc_en"]:
        raise ValueError("world.docs.pmc_ja_mt: the translation has one document per pmc_en "
                         f"document ({docs['pmc_en']}), got {docs['pmc_ja_mt']}")


def _jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def generate_world(cfg: dict, out_dir: str | Path) -> None:
    """Generate the demo world described by `cfg` (see `DEFAULT_WORLD`) under `out_dir`:
    sources/{name}.jsonl, jmedbench/{folder}/test.jsonl, sft/train.jsonl,
    planted_effects.tsv, world.json and mt_source/ejmmt_en2ja.jsonl (the noisy translator's
    output on EJMMT's English side, for the appendix-B MT-source quality check). The same cfg gives byte-identical files."""
    check_world_config(cfg)
    out = Path(out_dir)
    world = build_world(cfg)
    seed, docs = cfg["seed"], cfg["docs"]

    writer = SourceWriter(world, seed, float(cfg["mt_noise"]))
    sources = {"general": writer.general(docs["general"])}
    sources["ja_base"] = writer.ja_base(docs["ja_base"])
    sources["en_base"] = writer.en_base(docs["en_base"])
    sources["pmc_en"], sources["pmc_ja_mt"] = writer.pmc(docs["pmc_en"])
    sources["parallel_abstracts"] = writer.parallel(docs["parallel_abstracts"])
    sources["textbooks"] = writer.textbooks(docs["textbooks"])
    for name in SOURCES:
        write_text(out / "sources" / f"{name}.jsonl", _jsonl(sources[name]))

    bench = BenchmarkWriter(world, seed)
    eval_records = bench.records("eval", cfg["eval_items"])
    folders_written = set()
    for task in TASKS:
        if task.folder in folders_written:  # EJMMT: one folder for both directions
            continue
        folders_written.add(task.folder)
        write_text(out / "jmedbench" / task.folder / "test.jsonl",
                   _jsonl(eval_records[task.name]))
    sft = bench.sft_examples(cfg["sft_items"], eval_records)
    write_text(out / "sft" / "train.jsonl", _jsonl(sft))
    write_text(out / "planted_effects.tsv", planted_tsv())

    audit = world.to_json()
    audit["config"] = cfg
    audit["sources"] = {name: {"documents": len(d), "characters": sum(len(x["text"]) for x in d)}
                        for name, d in sources.items()}
    audit["translator"] = {"noise": cfg["mt_noise"], "errors": dict(writer.translator.errors),
                           "unmatched_sentences": writer.translator.unmatched}
    audit["eval_items"] = {t.name: len(eval_records[t.name]) for t in TASKS}
    sft_counts: dict[str, int] = {}
    for ex in sft:
        sft_counts[ex["task"]] = sft_counts.get(ex["task"], 0) + 1
    audit["sft_examples"] = sft_counts
    write_text(out / "world.json", json.dumps(audit, ensure_ascii=False, indent=1,
                                              sort_keys=True) + "\n")

    # Appendix B: the engine that made pmc_ja_mt also translates EJMMT's English side, so the
    # MT-source quality rule can score it against EJMMT's Japanese references.
    ejmmt = eval_records["EJMMT-Ja"]
    write_text(out / "mt_source" / "ejmmt_en2ja.jsonl", _jsonl(
        {"sample_id": r["sample_id"], "english": r["english"],
         "japanese": writer.translator.translate(r["english"], f"ejmmt/{r['sample_id']}")}
        for r in ejmmt))
