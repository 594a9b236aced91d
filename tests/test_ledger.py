"""cptmix.corpus.ledger: blend weights derived from counts, token budgets, the ledger and its
repetition check. Hand-sized counts tables; no tokenizer or megatron-core needed."""

import json

import pandas as pd
import pytest

from cptmix.corpus import keep_document
from cptmix.corpus.ledger import (
    RepetitionError,
    blend_spec,
    budget_tokens,
    ledger_tokens,
    megatron_blend,
    megatron_data_path,
    num_samples,
    token_ledger,
    write_ledger,
)


def _counts(source, n_docs, tokens):
    return pd.DataFrame({"id": [f"{source}{i}" for i in range(n_docs)],
                         "lang": ["ja"] * n_docs, "tokens": [tokens] * n_docs})


# a: 10 docs × 9 tokens = 100 with EODs; b: 20 × 14 = 300; c: 40 × 4 = 200 (half selected)
COUNTS = {"a": _counts("a", 10, 9), "b": _counts("b", 20, 14), "c": _counts("c", 40, 4)}
HALF_C = sum(keep_document("c", f"c{i}", 0.5) for i in range(40))  # documents kept at 0.5


def test_weights_are_declared_token_shares():
    spec = blend_spec("M", {"a": 1.0, "b": 1.0, "c": 0.5}, COUNTS)
    declared_c = HALF_C * 5
    total = 100 + 300 + declared_c
    assert spec["epoch_tokens"] == total
    assert [s["declared_tokens"] for s in spec["sources"]] == [100, 300, declared_c]
    assert [s["source_tokens"] for s in spec["sources"]] == [100, 300, 200]
    prefixes, weights = megatron_blend(spec)
    assert prefixes == ["results/corpus/a/00000/tokens", "results/corpus/b/00000/tokens",
                        "results/corpus/c/00000/tokens"]
    assert weights == pytest.approx([100 / total, 300 / total, declared_c / total])
    assert sum(weights) == pytest.approx(1.0)
    assert megatron_data_path(spec)[:2] == [repr(100 / total), "results/corpus/a/00000/tokens"]


def test_half_a_source_is_half_its_weight():
    full = blend_spec("F", {"a": 1.0, "c": 1.0}, COUNTS)
    half = blend_spec("H", {"a": 1.0, "c": 0.5}, COUNTS)
    ratio_full = full["sources"][1]["weight"] / full["sources"][0]["weight"]
    ratio_half = half["sources"][1]["weight"] / half["sources"][0]["weight"]
    assert ratio_full == pytest.approx(2.0)
    assert ratio_half == pytest.approx(2.0 * HALF_C / 40)
    assert 0.35 < HALF_C / 40 < 0.65


def test_zero_fraction_left_out_and_empty_mixture_rejected():
    spec = blend_spec("M", {"a": 1.0, "b": 0.0}, COUNTS)
    assert [s["source"] for s in spec["sources"]] == ["a"]
    with pytest.raises(ValueError, match="mixture Z: selects no tokens"):
        blend_spec("Z", {"a": 0.0}, COUNTS)


@pytest.mark.parametrize("epochs, tokens, expected", [
    (1, None, 400), (2.5, None, 1000), (None, 123, 123),
])
def test_budget(epochs, tokens, expected):
    spec = blend_spec("M", {"a": 1.0, "b": 1.0}, COUNTS)
    assert budget_tokens(spec, epochs=epochs, tokens=tokens) == expected


@pytest.mark.parametrize("epochs, tokens", [(None, None), (1, 5), (0, None), (None, -1)])
def test_bad_budget(epochs, tokens):
    spec = blend_spec("M", {"a": 1.0}, COUNTS)
    with pytest.raises(ValueError, match="budget"):
        budget_tokens(spec, epochs=epochs, tokens=tokens)


def test_ledger_counts_unique_and_repeated_tokens():
    spec = blend_spec("M", {"a": 1.0, "b": 1.0}, COUNTS)  # weights 1/4, 3/4 of 400
    df = token_ledger(spec, budget=1000).set_index("source")
    assert df.loc["a", "tokens_seen"] == 250 and df.loc["b", "tokens_seen"] == 750
    assert df.loc["a", "unique_tokens_seen"] == 100 and df.loc["a", "repeated_tokens"] == 150
    assert df.loc["b", "unique_tokens_seen"] == 300 and df.loc["b", "repeated_tokens"] == 450
    assert df.epochs.tolist() == pytest.approx([2.5, 2.5])
    small = token_ledger(spec, budget=200).set_index("source")  # half an epoch: nothing repeats
    assert small.repeated_tokens.tolist() == [0, 0]
    assert small.loc["b", "unique_tokens_seen"] == 150


def test_ledger_pool_source_vs_subset():
    """A half source: megatron draws from all of it, hf trains its declared half."""
    spec = blend_spec("M", {"a": 1.0, "c": 0.5}, COUNTS)
    budget = 2 * spec["epoch_tokens"]
    c_src = token_ledger(spec, budget, pool="source").set_index("source").loc["c"]
    c_sub = token_ledger(spec, budget, pool="subset").set_index("source").loc["c"]
    assert c_src.tokens_seen == c_sub.tokens_seen == 2 * HALF_C * 5
    assert c_src.available_tokens == 200 and c_sub.available_tokens == HALF_C * 5
    assert c_sub.epochs == pytest.approx(2.0)
    assert c_src.epochs == pytest.approx(2 * HALF_C * 5 / 200)
    with pytest.raises(ValueError, match="pool"):
        token_ledger(spec, budget, pool="all")


def test_repetition_error_names_mixture_and_source():
    spec = blend_spec("EnJa-Plus", {"a": 1.0, "b": 1.0}, COUNTS)
    token_ledger(spec, budget=1200, max_repetitions=3)  # exactly 3 passes: allowed
    with pytest.raises(RepetitionError, match=r"mixture EnJa-Plus: source a would be read "
                                              r"4\.00 times .*max_repetitions=3 \(also: b\)"):
        token_ledger(spec, budget=1600, max_repetitions=3)


def test_write_ledger_writes_nothing_when_infeasible(tmp_path):
    blend, tsv = tmp_path / "blend.json", tmp_path / "ledger.tsv"
    with pytest.raises(RepetitionError):
        write_ledger("M", {"a": 1.0}, COUNTS, blend, tsv, epochs=5, max_repetitions=4)
    assert not list(tmp_path.iterdir())
    df = write_ledger("M", {"a": 1.0, "c": 0.5}, COUNTS, blend, tsv, epochs=2, pool="subset")
    spec = json.loads(blend.read_text())
    assert spec["budget_tokens"] == 2 * spec["epoch_tokens"] and spec["pool"] == "subset"
    back = pd.read_csv(tsv, sep="\t")
    assert back.source.tolist() == ["a", "c"] and back.tokens_seen.tolist() == df.tokens_seen.tolist()
    assert ledger_tokens(tsv) == spec["budget_tokens"]  # what the hf backend trains


@pytest.mark.parametrize("budget, seq, expected", [(1024, 128, 8), (1025, 128, 9), (5, 128, 1)])
def test_num_samples(budget, seq, expected):
    assert num_samples(budget, seq) == expected


@pytest.mark.parametrize("corpus, phrase", [
    ({"token_budget": {"epochs": 1, "tokens": 5}}, "corpus.token_budget"),
    ({"token_budget": {"epochs": 0}}, "corpus.token_budget.epochs"),
    ({"max_repetitions": 0.5}, "corpus.max_repetitions"),
    ({"max_reps": 4}, "'max_reps' was unexpected"),
])
def test_corpus_config_keys_are_checked(corpus, phrase):
    from pathlib import Path

    import yaml

    from cptmix.config import ConfigError, check_config

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text(encoding="utf-8"))
    schema = root / "workflow" / "schemas" / "config.schema.yaml"
    check_config(cfg, schema=schema)  # the demo's own corpus block is valid
    cfg["corpus"] = corpus
    with pytest.raises(ConfigError, match=phrase):
        check_config(cfg, schema=schema)


def test_a_sharded_source_is_listed_shard_by_shard(tmp_path):
    """Shards are blend entries of their own (no merge); their weights are their declared
    token shares and add up to the unsharded source's weight. Counts may come as TSVs in
    `.../{shard}/counts.tsv`, named by their folder."""
    whole = blend_spec("M", {"a": 1.0, "c": 0.5}, COUNTS)
    c = COUNTS["c"]
    paths = []
    for shard, part in {"00000": c.iloc[:15], "00001": c.iloc[15:32], "00002": c.iloc[32:]}.items():
        (tmp_path / shard).mkdir()
        part.to_csv(tmp_path / shard / "counts.tsv", sep="\t", index=False)
        paths.append(str(tmp_path / shard / "counts.tsv"))
    split = blend_spec("M", {"a": 1.0, "c": 0.5}, {"a": COUNTS["a"], "c": paths})
    kept = [[keep_document("c", f"c{i}", 0.5) for i in range(lo, hi)]
            for lo, hi in ((0, 15), (15, 32), (32, 40))]
    declared = [5 * sum(k) for k in kept]  # 4 tokens + EOD per kept document
    assert all(declared)  # every shard selects something, so all three are listed
    total = 100 + sum(declared)
    assert split["epoch_tokens"] == whole["epoch_tokens"] == total
    assert split["blend"] == [["results/corpus/a/00000/tokens", 100 / total]] + [
        [f"results/corpus/c/{s}/tokens", n / total]
        for s, n in zip(("00000", "00001", "00002"), declared, strict=True)]
    assert split["sources"][1]["shards"] == 3
    for a, b in zip(whole["sources"], split["sources"], strict=True):
        assert {k: v for k, v in a.items() if k != "shards"} == \
            {k: v for k, v in b.items() if k != "shards"}
    assert [s["source_tokens"] for s in split["shards"]] == [100, 75, 85, 40]
