"""cptmix.corpus: tokenizer, counts, nested subsampling, mixture statistics."""

import json

import pandas as pd
import pytest
from samples import EN, JA, write_jsonl

from cptmix.corpus import (
    build_mixture,
    composition_table,
    count_source,
    keep_document,
    load_tokenizer,
    mixture_statistics,
    read_counts,
    train_tokenizer,
)
from cptmix.corpus.tokenizer import encode_batch


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    ja = write_jsonl(d / "ja.jsonl", [{"id": f"j{i}", "text": JA[i % 3] * (1 + i % 4)}
                                 for i in range(40)])
    en = write_jsonl(d / "en.jsonl", [{"id": f"e{i}", "text": EN[i % 3] * (1 + i % 3)}
                                 for i in range(40)])
    par = write_jsonl(d / "par.jsonl", [{"id": f"p{i}", "text": EN[i % 3] + "\n\n" + JA[i % 3]}
                                   for i in range(20)])
    train_tokenizer((t for t in JA + EN) , d / "tok", vocab_size=300, min_frequency=1)
    tok = load_tokenizer(d / "tok")
    sources = {"ja": {"path": str(ja), "lang": "ja"}, "en": {"path": str(en), "lang": "en"},
               "par": {"path": str(par), "lang": "parallel"}}
    counts = {s: count_source(spec["path"], spec["lang"], tok, d / f"{s}.tsv")
              for s, spec in sources.items()}
    return d, tok, sources, counts


def test_tokenizer_round_trips_japanese(world):
    _, tok, _, _ = world
    for text in JA + EN:
        ids = encode_batch(tok, [text])[0]
        assert tok.decode(ids) == text
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<pad>"


def test_subsampling_is_nested_and_proportional():
    ids = [f"doc{i}" for i in range(20000)]
    half = {i for i in ids if keep_document("src", i, 0.5)}
    quarter = {i for i in ids if keep_document("src", i, 0.25)}
    assert quarter <= half
    assert abs(len(half) / len(ids) - 0.5) < 0.02
    assert abs(len(quarter) / len(ids) - 0.25) < 0.02
    assert all(keep_document("src", i, 1.0) for i in ids[:10])
    assert not any(keep_document("src", i, 0.0) for i in ids[:10])
    # depends on the source name too, so two sources' halves are independent
    other = {i for i in ids if keep_document("other", i, 0.5)}
    assert other != half


def test_counts_round_trip(world):
    d, _, _, counts = world
    back = read_counts(d / "ja.tsv")
    pd.testing.assert_frame_equal(back, counts["ja"])
    assert (back.lang == "ja").all() and (back.tokens > 0).all()


def test_derived_statistics_equal_materialised(world, tmp_path):
    _, tok, sources, counts = world
    fractions = {"ja": 1.0, "en": 0.5, "par": 0.3}
    stats = build_mixture("M", fractions, sources, counts, tmp_path / "M")
    recount = {"ja": 0, "en": 0, "parallel": 0}
    docs = [json.loads(line) for line in (tmp_path / "M" / "corpus.jsonl").read_text("utf-8").splitlines()]
    for doc, ids in zip(docs, encode_batch(tok, [d["text"] for d in docs])):
        recount[doc["lang"]] += len(ids)
    assert stats["ja_tokens"] == recount["ja"]
    assert stats["en_tokens"] == recount["en"]
    assert stats["parallel_tokens"] == recount["parallel"]
    assert stats["total_tokens"] == sum(recount.values())
    assert 0 < stats["sources"]["en"]["documents"] < 40
    assert stats == mixture_statistics(fractions, counts) | {"mixture": "M",
                                                             "sources": stats["sources"]}


def test_composition_identities(world, tmp_path):
    _, _, sources, counts = world
    files = {}
    for name, fr in {"A": {"ja": 1.0}, "B": {"ja": 1.0, "en": 1.0, "par": 1.0}}.items():
        build_mixture(name, fr, sources, counts, tmp_path / name)
        files[name] = tmp_path / name / "stats.json"
    df = composition_table(files)
    assert list(df.mixture) == ["A", "B"]
    assert (df.total_tokens == df.ja_tokens + df.en_tokens + df.parallel_tokens).all()
    assert ((df.ja_ratio + df.en_ratio + df.parallel_ratio) - 1).abs().max() < 1e-12
    assert df.loc[0, "ja_ratio"] == 1.0


def test_bad_source_names_file_and_field(tmp_path, world):
    _, tok, _, _ = world
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: missing field 'text'"):
        count_source(bad, "ja", tok, tmp_path / "out.tsv")
    assert not (tmp_path / "out.tsv").exists()
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(ValueError, match="'id' 'a' is duplicated"):
        count_source(dup, "ja", tok, tmp_path / "out.tsv")
    lang = tmp_path / "lang.jsonl"
    lang.write_text('{"id": "a", "text": "x", "lang": "de"}\n')
    with pytest.raises(ValueError, match="field 'lang'"):
        count_source(lang, "document", tok, tmp_path / "out.tsv")
