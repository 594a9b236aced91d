"""cptmix.corpus.indexed and .megatron_cache against megatron-core itself (CPU only): our
`.bin`/`.idx` files read back through megatron's `IndexedDataset`, and megatron's
`BlendedMegatronDatasetBuilder` builds the blended GPT dataset of a mixture from them with
per-source sample shares equal to the derived blend weights."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("megatron.core")

from megatron.core.datasets.indexed_dataset import IndexedDataset
from samples import EN, JA, write_jsonl

from cptmix.corpus import Source, count_source, load_tokenizer, read_counts, train_tokenizer
from cptmix.corpus.indexed import index_source
from cptmix.corpus.ledger import RepetitionError, write_ledger
from cptmix.corpus.megatron_cache import (
    blended_dataset,
    build_index_cache,
    cache_files,
    check_index_cache,
    load_blended_dataset,
)
from cptmix.corpus.tokenizer import encode_batch

SEQ = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three indexed sources: Japanese `ja` and English `en` (disjoint token ids apart from
    EOD, so a sample's source can be told from its tokens) and Japanese `jb`, blended at 0.5."""
    d = tmp_path_factory.mktemp("indexed")
    train_tokenizer(JA + EN, d / "tok", vocab_size=300, min_frequency=1)
    tok = load_tokenizer(d / "tok")
    sources = {
        "ja": write_jsonl(d / "ja.jsonl", [{"id": f"j{i}", "text": JA[i % 3] * (1 + i % 5)}
                                      for i in range(120)]),
        "en": write_jsonl(d / "en.jsonl", [{"id": f"e{i}", "text": " ".join([EN[i % 3]] * (1 + i % 3))}
                                      for i in range(90)]),
        "jb": write_jsonl(d / "jb.jsonl", [{"id": f"b{i}", "text": JA[(i + 1) % 3] * (2 + i % 4)}
                                      for i in range(200)]),
    }
    counts, prov = {}, {}
    for name, path in sources.items():
        count_source(path, "ja", tok, d / name / "counts.tsv")
        counts[name] = read_counts(d / name / "counts.tsv")
        prov[name] = index_source(path, "ja", d / "tok", d / name / "tokens", name=name,
                                  progress=False)
    return d, tok, sources, counts, prov


def test_index_round_trips_through_megatron(corpus):
    d, tok, sources, _, prov = corpus
    texts = [json.loads(line)["text"] for line in sources["en"].read_text().splitlines()]
    ds = IndexedDataset(str(d / "en" / "tokens"))
    assert len(ds) == len(texts) == prov["en"]["documents"]
    expected = encode_batch(tok, texts)  # the counting path: same ids as the indexer
    for i in (0, 1, len(texts) - 1):
        assert ds[i].tolist() == expected[i] + [tok.eos_token_id]
    assert ds[0].dtype == np.uint16  # megatron's choice for a 300-token vocabulary
    # document boundaries: one document = one sequence
    assert ds.document_indices.tolist() == list(range(len(texts) + 1))


def test_provenance_agrees_with_counts(corpus):
    d, _, sources, counts, prov = corpus
    for name, p in prov.items():
        assert p["documents"] == len(counts[name])
        assert p["text_tokens"] == int(counts[name]["tokens"].sum())
        assert p["tokens"] == p["text_tokens"] + p["documents"]
        assert p["source_sha256"] == hashlib.sha256(sources[name].read_bytes()).hexdigest()
        assert p["tokenizer_sha256"] == hashlib.sha256(
            (d / "tok" / "tokenizer.json").read_bytes()).hexdigest()
        assert p["megatron_core"] and p["eod_id"] == 0
    assert json.loads((d / "ja" / "provenance.json").read_text()) == prov["ja"]


def test_small_chunks_give_identical_files(corpus, tmp_path):
    """Streaming: the chunk size changes memory, never the bytes written."""
    d, _, sources, _, _ = corpus
    index_source(sources["ja"], "ja", d / "tok", tmp_path / "tokens", chunk_docs=7,
                 chunk_bytes=100, progress=False)
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"tokens{ext}").read_bytes() == (d / "ja" / f"tokens{ext}").read_bytes()


@pytest.fixture(scope="module")
def blend(corpus):
    d, _, _, counts, _ = corpus
    fractions = {"ja": 1.0, "en": 1.0, "jb": 0.5}
    out = d / "mix"
    ledger = write_ledger("Mix", fractions, counts, out / "blend.json", out / "ledger.tsv",
                          epochs=2, max_repetitions=4,
                          prefix_template=str(d / "{source}" / "tokens"))
    return out, ledger


def test_megatron_builds_the_blend_with_the_declared_shares(corpus, blend):
    d, _, _, _, _ = corpus
    out, ledger = blend
    record = build_index_cache(out / "blend.json", d / "tok", out / "cache", seed=1234,
                               sequence_length=SEQ)
    weights = dict(zip(record["sources"], record["weights"], strict=True))
    assert weights == pytest.approx(dict(zip(ledger.source, ledger.weight, strict=True)))
    assert len(set(np.round(list(weights.values()), 2))) == 3  # distinct, so shares can fail
    for name, share in record["realised_shares"].items():
        assert share == pytest.approx(weights[name], abs=2 / record["samples"])
    assert record["samples"] >= record["num_samples"] == -(-record["budget_tokens"] // SEQ)

    # The samples really are our files: each one's tokens come from its own source.
    dataset = blended_dataset(record, out / "cache")
    vocab = {n: set(np.fromfile(f"{p}.bin", dtype=np.uint16).tolist())
             for n, p in zip(record["sources"], record["prefixes"], strict=True)}
    assert vocab["ja"] & vocab["en"] == {0}  # only EOD shared: the check below can fail
    for i in range(0, len(dataset), 17):
        sample = dataset[i]
        name = record["sources"][int(sample["dataset_id"])]
        assert set(sample["tokens"].tolist()) <= vocab[name]
        assert sample["tokens"].shape == (SEQ,)


def test_index_cache_is_reused_and_checked(corpus, blend, tmp_path):
    d, _, _, _, _ = corpus
    out, _ = blend
    cache = out / "cache"
    if not cache.exists():
        build_index_cache(out / "blend.json", d / "tok", cache, seed=1234, sequence_length=SEQ)
    record = check_index_cache(cache)
    before = cache_files(cache)
    assert len(load_blended_dataset(cache)) == record["samples"]  # what a training job does
    assert cache_files(cache) == before  # a pure cache hit: nothing rewritten
    # another seed is another cache: megatron's hash covers it
    other = build_index_cache(out / "blend.json", d / "tok", tmp_path / "c2", seed=7,
                              sequence_length=SEQ)
    assert set(other["files"]).isdisjoint(set(record["files"]) - {"cache.json"})
    (cache / record["files"][0]).rename(tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match="cache incomplete, missing"):
        check_index_cache(cache)
    with pytest.raises(FileNotFoundError, match="run the build_index_cache rule first"):
        check_index_cache(tmp_path / "nothing")


def test_cache_refuses_a_stale_index(corpus, blend, tmp_path):
    d, _, _, _, _ = corpus
    out, _ = blend
    spec = json.loads((out / "blend.json").read_text())
    spec["shards"][0]["source_tokens"] += 1
    (tmp_path / "blend.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="holds .* tokens but its counts give"):
        build_index_cache(tmp_path / "blend.json", d / "tok", tmp_path / "cache", seed=1,
                          sequence_length=SEQ)
    assert not (tmp_path / "cache").exists()


def test_ledger_refuses_too_many_repetitions(corpus, tmp_path):
    _, _, _, counts, _ = corpus
    with pytest.raises(RepetitionError, match="mixture Mix: source ja would be read 6.00"):
        write_ledger("Mix", {"ja": 1.0, "en": 1.0}, counts, tmp_path / "b.json",
                     tmp_path / "l.tsv", epochs=6, max_repetitions=4)


BAD = [
    ("invalid utf-8", b'{"id": "a", "text": "x"}\n{"id": "b", "text": "\xff"}\n', "src.jsonl:2: not valid UTF-8"),
    ("empty", b"\n", "src.jsonl: source src.jsonl has no documents"),
    ("missing text", b'{"id": "a"}\n', "src.jsonl:1: missing field 'text'"),
    ("not json", b'{"id": "a", "text": "x"}\n{"id"\n', "src.jsonl:2: not valid JSON"),
]


@pytest.mark.parametrize("name, data, phrase", BAD, ids=[b[0] for b in BAD])
def test_bad_source_leaves_nothing(corpus, tmp_path, name, data, phrase):
    d, _, _, _, _ = corpus
    src = tmp_path / "src.jsonl"
    src.write_bytes(data)
    with pytest.raises(ValueError, match=phrase):
        index_source(src, "ja", d / "tok", tmp_path / "out" / "tokens", progress=False)
    assert not any((tmp_path / "out").iterdir())


def test_missing_source_or_tokenizer(corpus, tmp_path):
    d, _, sources, _, _ = corpus
    with pytest.raises(FileNotFoundError, match="nope.jsonl: source file does not exist"):
        index_source(tmp_path / "nope.jsonl", "ja", d / "tok", tmp_path / "o" / "t")
    with pytest.raises(FileNotFoundError, match="notok: not a tokenizer directory"):
        index_source(sources["ja"], "ja", tmp_path / "notok", tmp_path / "o" / "t")
    assert not (tmp_path / "o").exists()


def test_sharded_source_blends_shard_by_shard(corpus, tmp_path):
    """A source of three files (JSONL, .gz, Parquet) is indexed as three independent shards;
    the blend lists the shard prefixes directly (no merge), megatron-core builds the blended
    dataset from them, and its realised per-shard and per-source shares match the weights."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    d, tok, _, _, _ = corpus
    docs = [{"id": f"s{i}", "text": JA[i % 3] * (1 + i % 6)} for i in range(150)]
    src = tmp_path / "src"
    write_jsonl(src / "p0.jsonl", docs[:40])
    (src / "p1.jsonl.gz").write_bytes(gzip.compress(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in docs[40:90]).encode(), mtime=0))
    pq.write_table(pa.Table.from_pylist(docs[90:]), src / "p2.parquet")
    entry = {"path": str(src / "p*"), "lang": "ja"}
    source = Source.from_config("big", entry)
    assert list(source.shards()) == ["00000", "00001", "00002"]
    counts, provs = {}, {}
    for shard in source.shards():
        out = tmp_path / "big" / shard
        provs[shard] = index_source(source, None, d / "tok", out / "tokens", shard=shard,
                                    progress=False)
        count_source(source, None, tok, out / "counts.tsv", shard=shard)
        counts[shard] = read_counts(out / "counts.tsv")
    assert [p["documents"] for p in provs.values()] == [40, 50, 60]
    assert provs["00001"]["source_sha256"] == hashlib.sha256(
        (src / "p1.jsonl.gz").read_bytes()).hexdigest()
    # the shards hold exactly the tokens of the whole source, in order
    whole = index_source(source, None, d / "tok", tmp_path / "whole" / "tokens", progress=False)
    parts = np.concatenate([np.fromfile(tmp_path / "big" / s / "tokens.bin", dtype=np.uint16)
                            for s in provs])
    assert parts.tolist() == np.fromfile(tmp_path / "whole" / "tokens.bin",
                                         dtype=np.uint16).tolist()
    assert whole["tokens"] == sum(p["tokens"] for p in provs.values())

    other = read_counts(d / "en" / "counts.tsv")
    out = tmp_path / "mix"
    write_ledger("Sharded", {"big": 0.6, "en": 1.0}, {"big": counts, "en": other},
                 out / "blend.json", out / "ledger.tsv", epochs=1,
                 prefix_template=str(tmp_path / "{source}" / "{shard}" / "tokens"))
    spec = json.loads((out / "blend.json").read_text())
    assert [p for p, _ in spec["blend"]] == [
        str(tmp_path / "big" / s / "tokens") for s in ("00000", "00001", "00002")
    ] + [str(tmp_path / "en" / "00000" / "tokens")]
    # `en` was indexed under d/en/tokens: link it where the template expects it
    (tmp_path / "en" / "00000").mkdir(parents=True)
    for name in ("tokens.bin", "tokens.idx", "provenance.json"):
        (tmp_path / "en" / "00000" / name).symlink_to(d / "en" / name)
    record = build_index_cache(out / "blend.json", d / "tok", out / "cache", seed=3,
                               sequence_length=SEQ)
    assert record["shards"] == ["big/00000", "big/00001", "big/00002", "en/00000"]
    tol = 2 / record["samples"]
    for label, w in zip(record["shards"], record["weights"], strict=True):
        assert record["realised_shard_shares"][label] == pytest.approx(w, abs=tol)
    ledger = pd.read_csv(out / "ledger.tsv", sep="\t")
    for name, w in zip(ledger.source, ledger.weight, strict=True):
        assert record["realised_shares"][name] == pytest.approx(w, abs=2 * tol)
    big_weight = sum(w for lab, w in zip(record["shards"], record["weights"], strict=True)
                     if lab.startswith("big/"))
    assert big_weight == pytest.approx(ledger.set_index("source").weight["big"])


def test_empty_documents_are_skipped_as_counting_skips_them(corpus, tmp_path):
    d, tok, _, _, _ = corpus
    src = write_jsonl(tmp_path / "e.jsonl", [{"id": "a", "text": JA[0]}, {"id": "b", "text": "  "},
                                             {"id": "c", "text": EN[0]}])
    counted = count_source(src, "ja", tok, tmp_path / "counts.tsv")
    prov = index_source(src, "ja", d / "tok", tmp_path / "i" / "tokens", progress=False)
    assert prov["documents"] == counted["documents"] == 2
    assert prov["skipped_documents"] == counted["skipped_documents"] == 1
    assert prov["text_tokens"] == counted["tokens"]
    assert len(IndexedDataset(str(tmp_path / "i" / "tokens"))) == 2
    with pytest.raises(ValueError, match=r"e.jsonl:2: document 'b' has empty text"):
        index_source(src, "ja", d / "tok", tmp_path / "s" / "tokens", progress=False,
                     strict=True)
    assert not any((tmp_path / "s").iterdir())
