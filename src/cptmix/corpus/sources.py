"""Sources: where a corpus lives on disk and one streaming reader for all of its formats.

First step of the corpus stage. A source (config `sources.NAME`) is one or more paths or globs
of JSONL, JSONL.gz, JSONL.zst or Parquet files, or of plain-text directories (one document per
file). `Source.shards()` splits its files into shards (`files_per_shard` files each); counting
and indexing run one job per shard, and mixtures and blends list the shards directly.

`iter_documents` is the only reader: counting, mixture building, indexing and tokenizer
training all use it. It yields `{"id", "text", "lang"}` one document at a time (memory is one
record, or one Parquet row batch), with ids that are stable across runs and machines:

* the record's `id_field`, or, with `id_field: null`, `<file relative to the source root>:<line>`
  (JSONL) / `:<row>` (Parquet);
* for a text directory, the file's path relative to the source root.

Every bad input raises `ValueError` naming the file and the line (JSONL), row (Parquet) or file
(text): malformed JSON, invalid UTF-8, a missing or non-string field, an unknown language, a
duplicated id, an empty source or shard, a glob that matches nothing.

A document whose text is empty after stripping whitespace is no document of the corpus:
counting, indexing and mixture building skip it and count it (`EmptyDocuments`; counts.json
and stats.json `skipped_documents`, and the job's log); with `strict` (config `corpus.strict`)
it is an error naming the file and line or row.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cptmix.io import atomic_path, sha256_file

LANGS = ("ja", "en", "parallel")
FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet", "text")
GLOB_CHARS = frozenset("*?[")
# Suffix -> format, longest first (".jsonl.gz" before ".gz").
SUFFIXES = (
    (".jsonl.gz", "jsonl.gz"), (".json.gz", "jsonl.gz"), (".ndjson.gz", "jsonl.gz"),
    (".jsonl.zst", "jsonl.zst"), (".json.zst", "jsonl.zst"), (".ndjson.zst", "jsonl.zst"),
    (".jsonl", "jsonl"), (".json", "jsonl"), (".ndjson", "jsonl"), (".parquet", "parquet"),
)
PARQUET_BATCH = 1024  # rows per Parquet read: memory is one batch, not one file
SHARD_WIDTH = 5  # shard names 00000, 00001, ... (sorted file order)


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def shard_name(i: int) -> str:
    return f"{i:0{SHARD_WIDTH}d}"


@dataclass(frozen=True)
class Source:
    """A source as declared in the config (see the schema's `sources` section)."""

    name: str
    paths: tuple[str, ...]
    lang: str  # ja | en | parallel, or "document": each record's `lang_field`
    format: str | None = None  # None: from each file's suffix (a directory is "text")
    text_field: str = "text"
    id_field: str | None = "id"
    lang_field: str = "lang"
    files_per_shard: int = 1
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, name: str, entry: Mapping) -> Source:
        paths = entry["path"]
        paths = (paths,) if isinstance(paths, str | os.PathLike) else tuple(paths)
        return cls(name=name, paths=tuple(str(p) for p in paths), lang=entry["lang"],
                   format=entry.get("format"), text_field=entry.get("text_field", "text"),
                   id_field=entry.get("id_field", "id"),
                   lang_field=entry.get("lang_field", "lang"),
                   files_per_shard=int(entry.get("files_per_shard", 1)), config=dict(entry))

    @classmethod
    def from_path(cls, path: str | Path, lang: str, **kw) -> Source:
        """A one-path source (the CLI's and the tests' shorthand)."""
        return cls.from_config(kw.pop("name", Path(path).name), {"path": str(path),
                                                                 "lang": lang, **kw})

    def units(self, require_files: bool = True) -> list[str]:
        """The source's files (text format: directories), globs expanded in sorted order.
        A glob matching nothing raises with `require_files`; otherwise it stays as a placeholder
        (so that a plan can be made before the data is there)."""
        out: list[str] = []
        for pattern in self.paths:
            if not is_glob(pattern):
                out.append(pattern)
                continue
            found = sorted(glob.glob(pattern, recursive=True))
            if self.format != "text":
                found = [p for p in found if not os.path.isdir(p)]
            if not found:
                if require_files:
                    raise FileNotFoundError(f"source {self.name}: {pattern} matches no file")
                found = [pattern]
            out.extend(found)
        seen: set[str] = set()
        return [u for u in out if not (u in seen or seen.add(u))]

    def root(self, units: list[str]) -> str:
        """The directory ids are relative to: the common parent of all units (a single text
        directory is its own root), so ids do not depend on where the data is mounted."""
        absolute = [os.path.abspath(u) for u in units]
        if len(absolute) == 1:
            u = absolute[0]
            return u if self.unit_format(u) == "text" else os.path.dirname(u)
        return os.path.commonpath(absolute)

    def unit_format(self, unit: str) -> str:
        if self.format:
            return self.format
        if os.path.isdir(unit):
            return "text"
        name = unit.lower()
        for suffix, fmt in SUFFIXES:
            if name.endswith(suffix):
                return fmt
        raise ValueError(f"source {self.name}: cannot tell the format of {unit} from its name; "
                         f"set sources.{self.name}.format to one of {', '.join(FORMATS)}")

    def shards(self, require_files: bool = True) -> dict[str, list[str]]:
        """Shard name -> its units, `files_per_shard` consecutive units each."""
        units = self.units(require_files)
        k = self.files_per_shard
        return {shard_name(i // k): units[i:i + k] for i in range(0, len(units), k)}


def check_shard(source: Source, shard: str, planned: str | Iterable[str]) -> None:
    """The shard's files now are the ones the workflow planned with (its job's inputs):
    a glob that matches other files than when the DAG was built would silently count or
    index other data under the same shard name."""
    planned = [planned] if isinstance(planned, str | os.PathLike) else planned
    now, planned = source.shards().get(shard), [str(p) for p in planned]
    if now != planned:
        raise ValueError(f"source {source.name}, shard {shard}: files changed since the workflow "
                         f"was planned (planned {planned}, now {now}); run snakemake again")


def source_shards(sources: Mapping[str, Mapping], require_files: bool = False
                  ) -> dict[str, dict[str, list[str]]]:
    """Every source's shards (name -> shard -> units): the workflow resolves them when it
    builds its DAG. By default an absent external path stays a placeholder."""
    return {name: Source.from_config(name, entry).shards(require_files)
            for name, entry in sources.items()}


# --- readers: (location, record) pairs ------------------------------------------------------

def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _open_binary(path: str, fmt: str):
    if fmt == "jsonl":
        return open(path, "rb")
    if fmt == "jsonl.gz":
        return gzip.open(path, "rb")
    if fmt == "jsonl.zst":
        import zstandard

        raw = open(path, "rb")  # noqa: SIM115 - closed with the reader (closefd)
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                            closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)
    raise ValueError(fmt)


def _jsonl_records(path: str, fmt: str) -> Iterator[tuple[int, dict]]:
    lineno = 0
    try:
        with _open_binary(path, fmt) as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                line = _decode(raw, f"{path}:{lineno}")
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(rec, dict):
                    raise ValueError(  # noqa: TRY004 - bad input data, not a caller error
                        f"{path}:{lineno}: a record must be a JSON object")
                yield lineno, rec
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: source file does not exist") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}:{lineno + 1}: cannot decompress ({fmt}): {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise ValueError(f"{path}:{lineno + 1}: cannot decompress ({fmt}): {exc}") from None
        raise


def _parquet_records(path: str, columns: list[str]) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: source file does not exist")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    for col in columns:
        if col not in names:
            raise ValueError(f"{path}: missing column {col!r} (columns: {', '.join(names)})")
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
            cols = [batch.column(c).to_pylist() for c in columns]
            for values in zip(*cols, strict=True):
                row += 1
                yield row, dict(zip(columns, values, strict=True))
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: row {row + 1}: cannot read ({exc})") from None


def _walk_files(directory: str) -> Iterator[str]:
    """Regular files under `directory` in sorted order, hidden ones skipped; memory is one
    directory listing, not the tree."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: source directory does not exist")
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith("."):
                yield os.path.join(top, f)


def _text_documents(directory: str, root: str) -> Iterator[tuple[str, str, str]]:
    """(location, id, text) of every file of a plain-text directory."""
    for path in _walk_files(directory):
        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise ValueError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from None
        yield path, Path(os.path.relpath(os.path.abspath(path), root)).as_posix(), text


# --- the document stream ----------------------------------------------------------------------

def _location(path: str, fmt: str, pos: int) -> str:
    return f"{path}: row {pos}" if fmt == "parquet" else f"{path}:{pos}"


def _unit_documents(source: Source, unit: str, root: str) -> Iterator[tuple[str, str, str, str]]:
    """(location, id, text, lang) of one file or directory of a source."""
    fmt = source.unit_format(unit)
    per_doc_lang = source.lang == "document"
    if fmt == "text":
        if per_doc_lang:
            raise ValueError(f"source {source.name}: a text directory has no per-document "
                             f"language field; give lang ja, en or parallel")
        for where, doc_id, text in _text_documents(unit, root):
            yield where, doc_id, text, source.lang
        return
    text_f, id_f, lang_f = source.text_field, source.id_field, source.lang_field
    rel = Path(os.path.relpath(os.path.abspath(unit), root)).as_posix()
    if fmt == "parquet":
        columns = [text_f, *([id_f] if id_f else []), *([lang_f] if per_doc_lang else [])]
        records = _parquet_records(unit, list(dict.fromkeys(columns)))
    else:
        records = _jsonl_records(unit, fmt)
    for pos, rec in records:
        where = _location(unit, fmt, pos)
        text = rec.get(text_f)
        if not isinstance(text, str):
            raise ValueError(  # noqa: TRY004 - bad input data, not a caller error
                f"{where}: missing field {text_f!r}" if text_f not in rec else
                f"{where}: field {text_f!r} is null" if text is None else
                f"{where}: field {text_f!r} is {type(text).__name__}, not a string")
        if id_f:
            if rec.get(id_f) is None:
                raise ValueError(f"{where}: missing field {id_f!r}")
            doc_id = str(rec[id_f])
        else:
            doc_id = f"{rel}:{pos}"
        lang = source.lang
        if per_doc_lang:
            lang = rec.get(lang_f)
            if lang is None:
                raise ValueError(f"{where}: missing field {lang_f!r}")
            if lang not in LANGS:
                raise ValueError(f"{where}: field {lang_f!r} is {lang!r}, expected one of "
                                 f"{LANGS}")
        yield where, doc_id, text, lang


@dataclass
class EmptyDocuments:
    """The documents skipped for empty text: how many, and where the first few are."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    MAX_EXAMPLES = 5

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(where)

    def report(self, what: str) -> None:
        """One warning in the job's log, if anything was skipped."""
        if self.count:
            import logging

            more = ", ..." if self.count > len(self.examples) else ""
            logging.getLogger(__name__).warning(
                "%s: skipped %d document(s) with empty text (%s%s); corpus.strict: true makes "
                "this an error", what, self.count, ", ".join(self.examples), more)


def _empty_error(where: str, doc_id: str) -> str:
    return (f"{where}: document {doc_id!r} has empty text (only whitespace); corpus.strict: "
            f"true rejects empty documents (without it they are skipped and counted in "
            f"skipped_documents)")


def _id_key(doc_id: str) -> bytes:
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()


def _raw_documents(source: Source, units: list[str], root: str, *, several: bool = False):
    """Every unit's documents; a unit without any is an error (an empty source, or an empty
    or truncated file among several)."""
    for unit in units:
        n = 0
        for doc in _unit_documents(source, unit, root):
            n += 1
            yield doc
        if n == 0:
            kind = "directory" if source.unit_format(unit) == "text" else "file"
            raise ValueError(f"{unit}: source {source.name} has no documents"
                             + (f" in this {kind}" if several else ""))


def _duplicate_error(source: Source, units: list[str], root: str, keys: np.ndarray) -> str:
    """Name the first duplicated id and both places (a second pass, error path only)."""
    uniq, counts = np.unique(keys, return_counts=True)
    dup = {int(k).to_bytes(8, "little") for k in uniq[counts > 1]}
    first: dict[bytes, str] = {}
    for where, doc_id, _, _ in _raw_documents(source, units, root):
        k = _id_key(doc_id)
        if k in dup:
            if k in first:
                return f"{where}: field 'id' {doc_id!r} is duplicated (first at {first[k]})"
            first[k] = where
    return f"source {source.name}: duplicated document ids"  # a 64-bit hash collision


def iter_documents(source: Source | str | Path, lang: str | None = None, *,
                   shard: str | None = None, empty: EmptyDocuments | None = None,
                   strict: bool = False) -> Iterator[dict]:
    """The documents `{"id", "text", "lang"}` of a source (or of one of its shards), in file
    order. `source` is a `Source`, or a path with its `lang` (ja, en, parallel or "document").

    Ids are checked unique over what is read (8 bytes per document, checked at the end);
    a file (or text directory) without documents is an error. Documents with empty text
    (after strip) are yielded as they are, unless `empty` is given (they are skipped and
    counted there) or `strict` (an error naming the file and line or row)."""
    if not isinstance(source, Source):
        if lang is None:
            raise TypeError("a path source needs its lang")
        source = Source.from_path(source, lang)
    all_units = source.units()
    root = source.root(all_units)
    units = source.shards()[shard] if shard is not None else all_units
    keys = bytearray()
    for where, doc_id, text, doc_lang in _raw_documents(source, units, root,
                                                        several=len(all_units) > 1):
        if "\t" in doc_id or "\n" in doc_id or "\r" in doc_id:  # one TSV field in counts.tsv
            raise ValueError(f"{where}: field {source.id_field or 'id'!r} {doc_id!r} contains "
                             f"a tab or newline")
        keys += _id_key(doc_id)
        if (strict or empty is not None) and not text.strip():
            if strict:
                raise ValueError(_empty_error(where, doc_id))
            empty.add(where)
            continue
        yield {"id": doc_id, "text": text, "lang": doc_lang}
    arr = np.frombuffer(bytes(keys), dtype="<u8")
    if len(np.unique(arr)) != len(arr):
        raise ValueError(_duplicate_error(source, units, root, arr))


def content_hash(source: Source, units: Iterable[str]) -> dict:
    """sha256 of every unit (a text directory: of its sorted `relpath  sha256` listing) and
    one over all of them; a single file's combined hash is its own."""
    files = []
    for unit in units:
        if os.path.isdir(unit):
            listing = "".join(f"{Path(os.path.relpath(p, unit)).as_posix()}  {sha256_file(p)}\n"
                              for p in _walk_files(unit))
            digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()
        else:
            digest = sha256_file(unit)
        files.append({"path": str(unit), "sha256": digest})
    if len(files) == 1:
        combined = files[0]["sha256"]
    else:
        combined = hashlib.sha256("".join(f"{f['sha256']}  {Path(f['path']).name}\n"
                                          for f in files).encode()).hexdigest()
    return {"sha256": combined, "files": files}


# --- counting -----------------------------------------------------------------------------------

CHUNK_DOCS = 2048  # documents per tokenizer call: enough to keep every Rust thread busy
CHUNK_CHARS = 4 << 20  # ... unless they are long: a chunk (and its encodings, ~100 MB) stays small
FIRST_CHUNK_DOCS = 64  # the first chunk, doubled up to CHUNK_DOCS: encoding starts at once


def chunks(docs: Iterable[dict], max_docs: int = CHUNK_DOCS,
           max_chars: int = CHUNK_CHARS) -> Iterator[list[dict]]:
    """Consecutive documents in chunks of at most `max_docs` documents or `max_chars`
    characters; the first chunks are smaller (FIRST_CHUNK_DOCS, doubling), so that the
    encoder is not idle while the first full chunk is parsed."""
    batch: list[dict] = []
    size = 0
    limit = min(FIRST_CHUNK_DOCS, max_docs)
    for doc in docs:
        batch.append(doc)
        size += len(doc["text"])
        if len(batch) >= limit or size >= max_chars:
            yield batch
            batch, size = [], 0
            limit = min(2 * limit, max_docs)
    if batch:
        yield batch


def encoded_chunks(encode, docs: Iterable[dict], max_docs: int = CHUNK_DOCS,
                   max_chars: int = CHUNK_CHARS) -> Iterator[tuple[list[dict], list]]:
    """`(chunk, encode(texts of chunk))` pairs; `encode` is a `CountingTokenizer`'s `lengths`
    or `encode_ids` (no special tokens), or any function of a list of texts.

    Pipelined: the tokenizer encodes chunk i+1 on its own threads (sentencepiece and
    `tokenizers` release the GIL) while this thread hands chunk i to the caller (writing) and
    parses chunk i+2, so reading and writing cost no wall time as long as they are faster than
    encoding. At most three chunks are in memory."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
        pending = None
        for batch in chunks(docs, max_docs, max_chars):
            future = pool.submit(encode, [d["text"] for d in batch])
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def counter_of(tokenizer):
    """`(lengths, counting tokenizer or None)`: the function that gives the token count of each
    of a list of texts. A tokenizer directory is loaded (and checked) by
    `load_counting_tokenizer`; a `CountingTokenizer` counts with its own engine (sentencepiece
    for a verified import, else tokenizer.json); an HF tokenizer with its backend; a
    `tokenizers.Tokenizer` with itself."""
    from cptmix.corpus.tokenizer import CountingTokenizer, load_counting_tokenizer

    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = load_counting_tokenizer(tokenizer)
    if isinstance(tokenizer, CountingTokenizer):
        return tokenizer.lengths, tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return (lambda texts: [len(e) for e in backend.encode_batch_fast(
        texts, add_special_tokens=False)]), None


def count_source(source: Source | str | Path, lang: str | None, tokenizer, out_tsv: str | Path,
                 *, shard: str | None = None, progress: bool = False,
                 provenance_json: str | Path | None = None,
                 tokenizer_dir: str | Path | None = None, strict: bool = False) -> dict:
    """Token count of every document of a source (or one shard) -> TSV `id, lang, tokens`,
    written as it goes (memory: one chunk). Tokens exclude special tokens, exactly as
    `encode_batch` and the indexer count them. Returns the totals.

    `tokenizer` is a tokenizer directory or `CountingTokenizer` (`load_counting_tokenizer`:
    its tokenizer.json, checked against transformers, or the sentencepiece model it was
    imported from), or an HF / `tokenizers` tokenizer.
    Documents with empty text are skipped, counted in `skipped_documents` and reported in
    the log; with `strict` they are an error (nothing written).

    With `provenance_json`, also records what was counted: the files and their sha256, the
    config entry, the tokenizer's sha256 (of `tokenizer_dir`) and the totals."""
    from tqdm import tqdm

    if not isinstance(source, Source):
        source = Source.from_path(source, lang)
    lengths, counting = counter_of(tokenizer)
    totals = {"documents": 0, "tokens": 0, **{f"{lg}_tokens": 0 for lg in LANGS}}
    empty = EmptyDocuments()
    docs = iter_documents(source, lang, shard=shard, empty=empty, strict=strict)
    with atomic_path(out_tsv) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh, \
            tqdm(unit="tok", unit_scale=True, disable=not progress, mininterval=1.0,
                 desc=str(out_tsv)) as bar:
        fh.write("id\tlang\ttokens\n")
        for batch, counts in encoded_chunks(lengths, docs):
            lines = []
            n = 0
            for doc, k in zip(batch, counts, strict=True):
                n += k
                totals[f"{doc['lang']}_tokens"] += k
                lines.append(f"{doc['id']}\t{doc['lang']}\t{k}\n")
            fh.write("".join(lines))
            totals["documents"] += len(batch)
            totals["tokens"] += n
            bar.update(n)
    totals["skipped_documents"] = empty.count
    if counting is not None:
        counting.report(f"counting {out_tsv}")
    empty.report(f"source {source.name}" + (f", shard {shard}" if shard is not None else ""))
    if provenance_json is not None:
        write_provenance(provenance_json, source, shard, tokenizer_dir, totals)
    return totals


def write_provenance(path: str | Path, source: Source, shard: str | None,
                     tokenizer_dir: str | Path | None, totals: dict) -> dict:
    """What a count (or index) was made from, for `stats.json` and for humans: deterministic,
    so equal inputs give equal bytes."""
    from cptmix.io import write_json

    units = source.shards()[shard] if shard is not None else source.units()
    hashes = content_hash(source, units)
    tok_file = Path(tokenizer_dir) / "tokenizer.json" if tokenizer_dir else None
    record = {
        "source": source.name,
        "shard": shard,
        "config": source.config,
        "source_sha256": hashes["sha256"],
        "files": hashes["files"],
        "tokenizer_sha256": sha256_file(tok_file) if tok_file and tok_file.is_file() else None,
        **totals,
    }
    write_json(path, record)
    return record


def _shard_of(table, i: int) -> str:
    """A counts file's shard is its folder's name (`results/corpus/{source}/{shard}/...`)."""
    if isinstance(table, str | os.PathLike):
        parent = Path(table).parent.name
        if parent.isdigit() and len(parent) == SHARD_WIDTH:
            return parent
    return shard_name(i)


def read_counts(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str, "lang": str, "tokens": "int64"},
                       keep_default_na=False, quoting=3)


def shard_counts(entry) -> dict[str, pd.DataFrame]:
    """A source's counts as shard -> table. `entry` is one table or TSV path (a single shard,
    named 00000), a list of TSV paths `.../{shard}/counts.tsv`, or a mapping shard -> table
    or path."""
    if isinstance(entry, pd.DataFrame | str | os.PathLike):
        entry = [entry]
    if not isinstance(entry, Mapping):
        entry = {_shard_of(p, i): p for i, p in enumerate(entry)}
    return {s: t if isinstance(t, pd.DataFrame) else read_counts(t) for s, t in entry.items()}
