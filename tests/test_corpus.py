"""cptmix.corpus: tokenizer, counts, nested subsampling, mixture statistics."""

import json
from pathlib import Path

import pandas as pd
import pytest
from samples import EN, JA, write_jsonl

from cptmix.corpus import (
    Source,
    build_mixture,
    composition_table,
    count_source,
    iter_documents,
    keep_document,
    load_tokenizer,
    mixture_statistics,
    read_counts,
    train_tokenizer,
)
from cptmix.corpus.mixture import relations
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
    totals, counts = {}, {}
    for s, spec in sources.items():
        totals[s] = count_source(spec["path"], spec["lang"], tok, d / f"{s}.tsv")
        counts[s] = read_counts(d / f"{s}.tsv")
    assert totals["ja"]["documents"] == 40 and totals["ja"]["tokens"] == counts["ja"].tokens.sum()
    assert totals["par"]["parallel_tokens"] == totals["par"]["tokens"] > 0
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


def test_counts_equal_the_tokenizer(world):
    _, tok, sources, counts = world
    back = counts["ja"]
    assert list(back.columns) == ["id", "lang", "tokens"]
    assert (back.lang == "ja").all() and (back.tokens > 0).all()
    lines = Path(sources["ja"]["path"]).read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    assert back.tokens.tolist() == [len(ids) for ids in encode_batch(tok, texts)]


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
    with pytest.raises(ValueError, match=r"dup.jsonl:2: field 'id' 'a' is duplicated "
                                         r"\(first at .*dup.jsonl:1\)"):
        count_source(dup, "ja", tok, tmp_path / "out.tsv")
    lang = tmp_path / "lang.jsonl"
    lang.write_text('{"id": "a", "text": "x", "lang": "de"}\n')
    with pytest.raises(ValueError, match="field 'lang'"):
        count_source(lang, "document", tok, tmp_path / "out.tsv")


# --- sources of several files and formats --------------------------------------------------

def _gz(path, records):
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                           for r in records).encode("utf-8"), mtime=0))
    return path


def _zst(path, records):
    import zstandard

    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    # two frames: a multi-frame file (as `cat a.zst b.zst` makes) must read to the end
    half = len(data) // 2
    cctx = zstandard.ZstdCompressor()
    path.write_bytes(cctx.compress(data[:half]) + cctx.compress(data[half:]))
    return path


def _parquet(path, records, row_group_size=7):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)
    return path


def _textdir(path, texts):
    for rel, text in texts.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text, encoding="utf-8")
    return path


def _docs(prefix, n, texts, **extra):
    return [{"id": f"{prefix}{i}", "text": texts[i % 3] * (1 + i % 4), **extra}
            for i in range(n)]


@pytest.fixture(scope="module")
def multi(tmp_path_factory, world):
    """Sources spread over several files and every format: `mixed` (JSONL + .gz + .zst shards,
    one glob), `pq` (two Parquet files, per-document language, custom fields), `books` (two
    plain-text directories) and `noid` (JSONL without ids)."""
    d = tmp_path_factory.mktemp("multi")
    wd, tok, _, _ = world
    write_jsonl(d / "mixed" / "a.jsonl", _docs("a", 13, JA))
    _gz(d / "mixed" / "b.jsonl.gz", _docs("b", 11, JA))
    _zst(d / "mixed" / "c.jsonl.zst", _docs("c", 17, JA))
    mixed_par = [{"doc": f"q{i}", "body": (EN if i % 2 else JA)[i % 3], "language":
                  "en" if i % 2 else "ja"} for i in range(40)]
    _parquet(d / "pq" / "part-0.parquet", mixed_par[:25])
    _parquet(d / "pq" / "part-1.parquet", mixed_par[25:])
    _textdir(d / "books" / "vol1", {f"ch{i}.txt": EN[i % 3] + "\n\n" + JA[i % 3]
                                    for i in range(6)} | {"sub/a.txt": JA[0], ".hidden": "x"})
    _textdir(d / "books" / "vol2", {f"ch{i}.txt": JA[i % 3] + EN[i % 3] for i in range(5)})
    write_jsonl(d / "noid" / "x.jsonl", [{"text": t} for t in EN + JA])
    sources = {
        "mixed": {"path": str(d / "mixed" / "*"), "lang": "ja"},
        "pq": {"path": [str(d / "pq" / "part-*.parquet")], "lang": "document",
               "text_field": "body", "id_field": "doc", "lang_field": "language"},
        "books": {"path": str(d / "books" / "vol*"), "format": "text", "lang": "parallel"},
        "noid": {"path": str(d / "noid" / "x.jsonl"), "lang": "en", "id_field": None},
    }
    shard_files = {}
    for name, entry in sources.items():
        src = Source.from_config(name, entry)
        shard_files[name] = {}
        for shard in src.shards():
            out = d / "counts" / name / shard / "counts.tsv"
            count_source(src, None, tok, out, shard=shard, tokenizer_dir=wd / "tok",
                         provenance_json=out.with_suffix(".json"))
            shard_files[name][shard] = out
    return d, wd / "tok", sources, shard_files


def test_every_format_is_read_with_stable_ids(multi):
    d, _, sources, _ = multi
    mixed = Source.from_config("mixed", sources["mixed"])
    assert [Path(u).name for u in mixed.units()] == ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst"]
    assert list(mixed.shards()) == ["00000", "00001", "00002"]
    docs = list(iter_documents(mixed))
    assert [doc["id"] for doc in docs] == [*(f"a{i}" for i in range(13)),
                                           *(f"b{i}" for i in range(11)),
                                           *(f"c{i}" for i in range(17))]
    assert docs[14]["text"] == JA[1] * 2 and docs[-1]["lang"] == "ja"

    pq = list(iter_documents(Source.from_config("pq", sources["pq"])))
    assert len(pq) == 40 and pq[3] == {"id": "q3", "text": EN[0], "lang": "en"}
    assert pq[30]["lang"] == "ja"

    books = list(iter_documents(Source.from_config("books", sources["books"])))
    assert [b["id"] for b in books][:3] == ["vol1/ch0.txt", "vol1/ch1.txt", "vol1/ch2.txt"]
    assert "vol1/sub/a.txt" in {b["id"] for b in books} and len(books) == 7 + 5
    assert not any(".hidden" in b["id"] for b in books)

    noid = [doc["id"] for doc in iter_documents(Source.from_config("noid", sources["noid"]))]
    assert noid == [f"x.jsonl:{i}" for i in range(1, 7)]

    # ids do not depend on where the data is mounted: same ids from a copy elsewhere
    import shutil

    copy = d / "elsewhere" / "books"
    shutil.copytree(d / "books", copy)
    moved = list(iter_documents(Source.from_config("books", {**sources["books"],
                                                            "path": str(copy / "vol*")})))
    assert moved == books
    # one shard alone, and the sharding knob
    assert [doc["id"] for doc in iter_documents(mixed, shard="00001")] == \
        [f"b{i}" for i in range(11)]
    two = Source.from_config("mixed", {**sources["mixed"], "files_per_shard": 2})
    assert {s: len(u) for s, u in two.shards().items()} == {"00000": 2, "00001": 1}


def test_shard_counts_sum_to_the_whole_source(multi, tmp_path):
    _, tok, sources, shard_files = multi  # a tokenizer directory works as well as a tokenizer
    for name, entry in sources.items():
        whole = count_source(Source.from_config(name, entry), None, tok, tmp_path / "w.tsv")
        parts = pd.concat([read_counts(p) for p in shard_files[name].values()])
        assert parts.tokens.sum() == whole["tokens"] and len(parts) == whole["documents"]
        pd.testing.assert_frame_equal(parts.reset_index(drop=True), read_counts(tmp_path / "w.tsv"))
    assert len(shard_files["mixed"]) == 3 and len(shard_files["books"]) == 2


def test_derived_equals_materialised_for_sharded_multiformat_sources(multi, tmp_path):
    """Table C.1 statistics summed from per-shard counts equal a recount of the materialised
    mixture, for sources of several files and every format."""
    _, tok_dir, sources, shard_files = multi
    tok = load_tokenizer(tok_dir)
    fractions = {"mixed": 0.5, "pq": 1.0, "books": 0.7, "noid": 1.0}
    counts = {s: [str(p) for p in shard_files[s].values()] for s in fractions}
    stats = build_mixture("M", fractions, sources, counts, tmp_path / "M")
    docs = [json.loads(line) for line in (tmp_path / "M" / "corpus.jsonl").read_text(
        "utf-8").splitlines()]
    recount = {"ja": 0, "en": 0, "parallel": 0}
    for doc, ids in zip(docs, encode_batch(tok, [d["text"] for d in docs]), strict=True):
        recount[doc["lang"]] += len(ids)
    assert {k: stats[f"{k}_tokens"] for k in recount} == recount
    assert recount["ja"] and recount["en"] and recount["parallel"]
    assert 0 < stats["sources"]["mixed"]["documents"] < 41
    assert 0 < stats["sources"]["books"]["documents"] < 12
    # the materialised subset is exactly the hash selection, in every shard
    kept_mixed = {d["id"] for d in docs if d["source"] == "mixed"}
    assert kept_mixed == {f"mixed/{i}" for i in pd.concat(
        [read_counts(p) for p in counts["mixed"]]).id if keep_document("mixed", i, 0.5)}
    assert stats == mixture_statistics(fractions, counts) | {
        "mixture": "M", "sources": stats["sources"], "provenance": stats["provenance"],
        "skipped_documents": 0}  # no empty documents in these sources


def test_provenance_names_every_file_and_the_tokenizer(multi, tmp_path):
    import hashlib

    d, tok_dir, sources, shard_files = multi
    rec = json.loads(shard_files["mixed"]["00002"].with_suffix(".json").read_text())
    sha = hashlib.sha256((d / "mixed" / "c.jsonl.zst").read_bytes()).hexdigest()
    assert rec["files"] == [{"path": str(d / "mixed" / "c.jsonl.zst"), "sha256": sha}]
    assert rec["source_sha256"] == sha and rec["documents"] == 17
    assert rec["config"] == sources["mixed"]
    assert rec["tokenizer_sha256"] == hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()
                                                     ).hexdigest()
    # a text directory's hash covers every file in it: editing one changes it
    books = json.loads(shard_files["books"]["00000"].with_suffix(".json").read_text())
    stats = build_mixture("P", {"books": 1.0, "mixed": 1.0}, sources,
                          {s: list(shard_files[s].values()) for s in ("books", "mixed")},
                          tmp_path / "P")
    assert stats["provenance"]["sources"]["books"]["00000"] == books["source_sha256"]
    assert stats["provenance"]["sources"]["mixed"]["00002"] == sha
    assert stats["provenance"]["tokenizer_sha256"] == rec["tokenizer_sha256"]
    from cptmix.corpus.sources import content_hash

    src = Source.from_config("books", sources["books"])
    before = content_hash(src, src.shards()["00000"])["sha256"]
    assert before == books["source_sha256"]
    (d / "books" / "vol1" / "ch0.txt").write_text("changed", encoding="utf-8")
    try:
        assert content_hash(src, src.shards()["00000"])["sha256"] != before
    finally:
        (d / "books" / "vol1" / "ch0.txt").write_text(EN[0] + "\n\n" + JA[0], encoding="utf-8")


def test_design_check_relates_mixtures():
    mixtures = {"Base": {"ja": 1.0, "en": 1.0}, "Plus": {"ja": 1.0, "en": 1.0, "mt": 0.5},
                "Full": {"ja": 1.0, "en": 1.0, "mt": 1.0}, "Other": {"ja": 1.0, "mt": 1.0},
                "Same": {"en": 1.0, "ja": 1.0}}
    lines, warnings = relations(mixtures, {"Plus": "Base", "Full": "Plus", "Other": "Full"})
    assert lines == ["Base = ja + en", "Plus = Base + 0.5×mt", "Full = Plus + mt 0.5→1",
                     "Other = Full − en   (not a superset of Full)", "Same = Base"]
    assert warnings == ["Other is declared to extend Full but is not a superset of it",
                        "Same selects exactly the same data as Base"]


def test_absent_inputs_plan_as_placeholders(tmp_path):
    """Before the data exists, a glob that matches nothing stays one placeholder shard (the
    workflow's missing_input rule stands in for it), and is named as missing; once files
    match, each is a shard and nothing is missing."""
    from cptmix.config import missing_inputs, path_problems
    from cptmix.corpus import source_shards

    pattern = str(tmp_path / "pmc" / "*.jsonl.zst")
    sources = {"pmc": {"path": pattern, "lang": "en"},
               "books": {"path": [str(tmp_path / "books")], "format": "text", "lang": "ja"}}
    cfg = {"sources": sources}
    assert source_shards(sources) == {"pmc": {"00000": [pattern]},
                                      "books": {"00000": [str(tmp_path / "books")]}}
    assert missing_inputs(cfg) == [(pattern, False), (str(tmp_path / "books"), True)]
    assert path_problems(cfg) == [f"sources.pmc.path: {pattern} matches no file",
                                  f"sources.books.path[0]: {tmp_path / 'books'} does not exist"]
    with pytest.raises(FileNotFoundError, match=r"source pmc: .*\*.jsonl.zst matches no file"):
        source_shards(sources, require_files=True)
    (tmp_path / "pmc").mkdir()
    for name in ("b.jsonl.zst", "a.jsonl.zst", "notes.txt"):
        (tmp_path / "pmc" / name).write_bytes(b"")
    (tmp_path / "books").mkdir()
    assert source_shards(sources)["pmc"] == {"00000": [str(tmp_path / "pmc" / "a.jsonl.zst")],
                                             "00001": [str(tmp_path / "pmc" / "b.jsonl.zst")]}
    assert missing_inputs(cfg) == [] and path_problems(cfg) == []


def test_a_shard_whose_files_changed_is_refused(tmp_path):
    from cptmix.corpus.sources import check_shard

    write_jsonl(tmp_path / "b.jsonl", [{"id": "b", "text": EN[0]}])
    src = Source.from_config("s", {"path": str(tmp_path / "*.jsonl"), "lang": "en"})
    check_shard(src, "00000", str(tmp_path / "b.jsonl"))  # as planned: fine
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": EN[1]}])  # sorts first: shifts b
    with pytest.raises(ValueError, match="shard 00000: files changed since the workflow was "
                                         "planned"):
        check_shard(src, "00000", [str(tmp_path / "b.jsonl")])


def test_stale_counts_are_refused_when_materialising(world, tmp_path):
    """corpus.jsonl must be the corpus the statistics describe: counts that select other
    documents than the source holds now (a document added since counting) are an error."""
    from cptmix.corpus.mixture import materialise_mixture, mixture_stats

    _, _, sources, counts = world
    stale = {"ja": counts["ja"].iloc[:-1]}  # as if the last document came after counting
    assert mixture_stats("S", {"ja": 1.0}, stale)["sources"]["ja"]["documents"] == 39
    with pytest.raises(ValueError, match="mixture S: source ja selects 40 documents but its "
                                         "counts select 39; the counts are stale"):
        materialise_mixture("S", {"ja": 1.0}, sources, stale, tmp_path / "corpus.jsonl")
    assert not any(tmp_path.iterdir())
    written = materialise_mixture("S", {"ja": 0.5}, sources, counts, tmp_path / "corpus.jsonl")
    assert written == {"ja": mixture_stats("S", {"ja": 0.5}, counts)["sources"]["ja"]["documents"]}


# --- documents with empty text: skipped and counted, or refused under corpus.strict ---------

def _with_empty(tmp_path):
    return write_jsonl(tmp_path / "src" / "e.jsonl", [
        {"id": "a", "text": JA[0]}, {"id": "b", "text": ""}, {"id": "c", "text": EN[0]},
        {"id": "d", "text": " \n\t "}, {"id": "e", "text": EN[1]}])


def test_empty_documents_are_skipped_counted_and_reported(world, tmp_path, caplog):
    _, tok, _, _ = world
    path = _with_empty(tmp_path)
    counts, side = tmp_path / "c" / "00000" / "counts.tsv", tmp_path / "c" / "00000" / "counts.json"
    with caplog.at_level("WARNING"):
        totals = count_source(path, "ja", tok, counts, provenance_json=side)
    table = read_counts(counts)
    assert table.id.tolist() == ["a", "c", "e"]  # b ("") and d (whitespace) are no documents
    assert totals["documents"] == 3 and totals["skipped_documents"] == 2
    assert json.loads(side.read_text(encoding="utf-8"))["skipped_documents"] == 2
    assert f"skipped 2 document(s) with empty text ({path}:2, {path}:4)" in caplog.text
    # the mixture skips them too (its documents are the counted ones) and reports them
    sources = {"e": {"path": str(path), "lang": "ja"}}
    stats = build_mixture("M", {"e": 1.0}, sources, {"e": [counts]}, tmp_path / "M")
    docs = (tmp_path / "M" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(d)["id"] for d in docs] == ["e/a", "e/c", "e/e"]
    assert stats["skipped_documents"] == 2 and stats["sources"]["e"]["skipped_documents"] == 2
    assert stats["sources"]["e"]["documents"] == 3
    assert stats["total_tokens"] == int(table.tokens.sum())


def test_empty_documents_are_an_error_under_strict(world, tmp_path):
    _, tok, _, _ = world
    path = _with_empty(tmp_path)
    out = tmp_path / "out" / "counts.tsv"
    with pytest.raises(ValueError, match=rf"{path}:2: document 'b' has empty text .*"
                                         r"corpus.strict: true rejects"):
        count_source(path, "ja", tok, out, strict=True)
    assert not out.exists() and not any((tmp_path / "out").iterdir())


def test_empty_parquet_row_and_text_file_name_their_place(world, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, tok, _, _ = world
    pq.write_table(pa.table({"id": ["a", "b"], "text": [EN[0], "   "]}), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match=r"p.parquet: row 2: document 'b' has empty text"):
        count_source(tmp_path / "p.parquet", "en", tok, tmp_path / "p.tsv", strict=True)
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "1.txt").write_text(JA[1], encoding="utf-8")
    (tmp_path / "txt" / "2.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"txt/2.txt: document '2.txt' has empty text"):
        count_source(tmp_path / "txt", "ja", tok, tmp_path / "t.tsv", strict=True)
    assert count_source(tmp_path / "txt", "ja", tok, tmp_path / "t.tsv")["skipped_documents"] == 1
    assert not (tmp_path / "p.tsv").exists()


def test_corpus_strict_is_in_the_schema(tmp_path):
    from cptmix.config import SCHEMA_PATH, ConfigError, StudyConfig, check_config, load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")
    assert StudyConfig.from_dict(cfg).corpus.strict is False  # the schema's default
    cfg["corpus"]["strict"] = True
    assert StudyConfig.from_dict(cfg).corpus.strict is True
    cfg["corpus"]["strict"] = "yes"
    with pytest.raises(ConfigError, match="corpus.strict"):
        check_config(cfg, where="config", schema=SCHEMA_PATH)
