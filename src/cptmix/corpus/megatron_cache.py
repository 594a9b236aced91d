"""Megatron-core's sample/shuffle index cache of a mixture, built on a CPU node.

Sits between the blend (`cptmix.corpus.ledger`) and the megatron training job. Megatron-core
builds, per blended source, a document/sample/shuffle index and, per blend, a dataset index,
all saved under `path_to_cache` and named by an MD5 of the settings that shape them (prefix
strings, sample counts, seed, sequence length, split, tokenizer identity). A GPU job that finds
them loads them; one that does not builds them while every GPU waits. So a CPU rule builds the
cache with megatron-core's own `BlendedMegatronDatasetBuilder` and records the exact settings
in `cache.json`; the training job calls `load_blended_dataset(cache_dir)`, which checks the
cache is complete first and rebuilds from exactly the recorded settings, so it can only hit
the cache, never silently rebuild it.

Prefixes are kept exactly as written in `blend.json` (relative to the workflow root): the
string enters megatron's hash, so every job must run from the same root (Snakemake does).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from cptmix.corpus.indexed import read_provenance, tokenizer_file
from cptmix.corpus.ledger import megatron_blend, num_samples, read_blend
from cptmix.io import atomic_path, sha256_file, write_json

log = logging.getLogger(__name__)

CACHE_SPEC = "cache.json"
SPLIT = "1,0,0"  # CPT uses every document for training; validation data comes separately


def megatron_tokenizer(tokenizer_dir: str | Path):
    """Megatron-core's own wrapper around our HF tokenizer directory (it supplies the `eod`,
    `pad`, `vocab_size` and `unique_identifiers` that `GPTDataset` needs)."""
    from megatron.core.tokenizers import MegatronTokenizer

    tokenizer_file(tokenizer_dir)  # a clear error for a missing directory
    return MegatronTokenizer.from_pretrained(tokenizer_path=str(tokenizer_dir),
                                             metadata_path={"library": "huggingface"})


def gpt_config(settings: dict, cache_dir: str | Path, tokenizer=None):
    """The `GPTDatasetConfig` of a mixture from recorded settings (see `cache_settings`)."""
    from megatron.core.datasets.gpt_dataset import GPTDatasetConfig

    return GPTDatasetConfig(
        random_seed=settings["random_seed"],
        sequence_length=settings["sequence_length"],
        blend=(list(settings["prefixes"]), list(settings["weights"])),
        split=settings["split"],
        path_to_cache=str(cache_dir),
        tokenizer=tokenizer or megatron_tokenizer(settings["tokenizer_dir"]),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        # Samples are tokens only; the model builds causal masks itself, and this keeps the
        # CPU check from allocating a seq×seq mask per sample.
        create_attention_mask=False,
    )


@contextmanager
def _single_process_group():
    """Megatron's BlendedDataset asks torch.distributed for the rank whenever it writes a
    cache, so a plain CPU process joins a one-member gloo group for the duration."""
    import torch.distributed as dist

    if dist.is_initialized():
        yield
        return
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=0,
                                world_size=1)
        try:
            yield
        finally:
            dist.destroy_process_group()


def blended_dataset(settings: dict, cache_dir: str | Path, tokenizer=None):
    """Build (or load from the cache) the blended GPT training dataset of a mixture."""
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset

    config = gpt_config(settings, cache_dir, tokenizer)
    with _single_process_group():
        train, _, _ = BlendedMegatronDatasetBuilder(
            GPTDataset, [settings["num_samples"], 0, 0], lambda: True, config).build()
    return train


def realised_shares(dataset, names: list[str]) -> dict[str, float]:
    """Fraction of the blend's samples drawn from each name (blend entries sharing a name,
    e.g. the shards of one source, are summed)."""
    counts = Counter(int(i) for i in dataset.dataset_index)
    n = len(dataset.dataset_index)
    shares: dict[str, float] = {}
    for i, name in enumerate(names):
        shares[name] = shares.get(name, 0.0) + counts.get(i, 0) / n
    return shares


def cache_settings(blend_json: str | Path, tokenizer_dir: str | Path, *, seed: int,
                   sequence_length: int, budget_tokens: int | None = None) -> dict:
    """Everything that shapes megatron's cache, from the blend and the training settings.
    The budget defaults to the one the ledger approved."""
    spec = read_blend(blend_json)
    prefixes, weights = megatron_blend(spec)
    budget = budget_tokens if budget_tokens is not None else spec["budget_tokens"]
    return {
        "mixture": spec["mixture"],
        "sources": [s["source"] for s in spec["shards"]],  # per blend entry
        "shards": [f"{s['source']}/{s['shard']}" for s in spec["shards"]],
        "prefixes": prefixes,
        "weights": weights,
        "budget_tokens": budget,
        "num_samples": num_samples(budget, sequence_length),
        "random_seed": seed,
        "sequence_length": sequence_length,
        "split": SPLIT,
        "tokenizer_dir": str(tokenizer_dir),
        "tokenizer_sha256": sha256_file(tokenizer_file(tokenizer_dir)),
    }


def _check_indexed(spec_sources: list[dict], settings: dict) -> None:
    """The indexed files must be the ones the weights were computed for: same token counts
    (counts.tsv and the index agree) and the same tokenizer."""
    for s in spec_sources:
        prov = read_provenance(s["prefix"])
        if prov["tokens"] != s["source_tokens"]:
            raise ValueError(
                f"{s['prefix']}: indexed shard {s['source']}/{s['shard']} holds "
                f"{prov['tokens']:,} tokens but "
                f"its counts give {s['source_tokens']:,}; rebuild the index or the counts")
        if prov["tokenizer_sha256"] != settings["tokenizer_sha256"]:
            raise ValueError(f"{s['prefix']}: indexed with a different tokenizer than "
                             f"{settings['tokenizer_dir']}")


def build_index_cache(blend_json: str | Path, tokenizer_dir: str | Path,
                      cache_dir: str | Path, *, seed: int, sequence_length: int,
                      budget_tokens: int | None = None) -> dict:
    """Build megatron-core's index cache of one mixture into `cache_dir` (atomically) and
    write `cache.json`: the settings, the cache files and the realised per-source shares."""
    settings = cache_settings(blend_json, tokenizer_dir, seed=seed,
                              sequence_length=sequence_length, budget_tokens=budget_tokens)
    _check_indexed(read_blend(blend_json)["shards"], settings)
    cache_dir = Path(cache_dir)
    with atomic_path(cache_dir) as tmp:
        tmp.mkdir(parents=True)
        dataset = blended_dataset(settings, tmp)
        shares = realised_shares(dataset, settings["sources"])
        record = {
            **settings,
            "samples": len(dataset),
            "realised_shares": shares,  # per source
            "realised_shard_shares": realised_shares(dataset, settings["shards"]),
            "files": sorted(p.name for p in tmp.iterdir()),
        }
        write_json(tmp / CACHE_SPEC, record)
    for name, w in zip(settings["shards"], settings["weights"], strict=True):
        log.info("%s: weight %.6f realised %.6f", name, w, record["realised_shard_shares"][name])
    return record


def check_index_cache(cache_dir: str | Path) -> dict:
    """The recorded settings of a built cache; raises when the cache is missing or incomplete
    (the training job calls this first, so a GPU never builds the cache itself)."""
    cache_dir = Path(cache_dir)
    spec_path = cache_dir / CACHE_SPEC
    if not spec_path.is_file():
        raise FileNotFoundError(f"{cache_dir}: no megatron index cache ({CACHE_SPEC} missing); "
                                f"run the build_index_cache rule first")
    record = json.loads(spec_path.read_text(encoding="utf-8"))
    missing = [f for f in record["files"] if not (cache_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{cache_dir}: megatron index cache incomplete, missing "
                                f"{', '.join(missing)}")
    return record


def cache_files(cache_dir: str | Path) -> dict[str, float]:
    """Cache file -> mtime, to show a second build was a pure cache hit."""
    return {p.name: os.path.getmtime(p) for p in Path(cache_dir).iterdir()}


def load_blended_dataset(cache_dir: str | Path, tokenizer=None):
    """The training job's entry point: the blended dataset from a cache built on CPU. Raises
    before building anything when the cache is missing, and after, should megatron-core have
    written new index files (its settings hash changed, e.g. another megatron-core version)."""
    record = check_index_cache(cache_dir)
    before = cache_files(cache_dir)
    dataset = blended_dataset(record, cache_dir, tokenizer)
    added = sorted(set(cache_files(cache_dir)) - set(before))
    if added:
        raise RuntimeError(f"{cache_dir}: megatron-core rebuilt index files ({', '.join(added)}) "
                           f"instead of loading the CPU-built cache; rebuild the cache with the "
                           f"megatron-core version that trains")
    return dataset
