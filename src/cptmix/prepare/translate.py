"""Machine translation of a JSONL source, shard by shard (paper section 3.1, appendix B).

Builds the Japanese PMC subcorpus (and any other translated source) before the corpus stage
counts it. One code path serves every engine: a document is split into paragraphs (lines),
a paragraph longer than `max_chars` into groups of whole sentences under the limit (a single
over-long sentence into word groups), the engine translates the chunks (whole documents are
grouped until they fill one engine batch; the HF engine sorts a group's chunks by length so a
batch pads little), and each translation is reassembled (chunks of a paragraph joined by the
target language's sentence joiner — nothing for Japanese — and paragraphs by newlines).

Engines (`make_backend`):
- ``noisy``: the demo world's deterministic noisy translator (`cptmix.demo.translate`); the
  errors of a document are seeded by its id, so sharding never changes the output.
- ``hf``: a local HF `transformers` model — a seq2seq model (config.is_encoder_decoder), or a
  causal LM whose prompt template wraps each chunk (`{text}`); greedy or beam search. Weights
  must be safetensors; their SHA-256 is recorded in the provenance.

Sharding: shard k of N holds the lines that *start* in bytes [k·size/N, (k+1)·size/N) of the
input, so each shard job seeks straight to its part (no shard reads the whole file) and the
merged shards are the input's order. A shard job appends finished documents to
`<output>.partial` (fsynced) and the identity of its run to `<output>.partial.json`: the
provenance fingerprint (input shard sha256, shard, max_chars, target language, fields, the
engine: noisy's noise, seed and world sha256; hf's model sha256 over weights, config,
generation config and tokenizer files, kind, prompt template, beams, max_new_tokens, batch
size, device) plus the versions of the libraries that compute it. A rerun after a crash
continues after the last complete document only if that identity equals its own; otherwise
(changed settings, or no, an unreadable or a foreign state file, or a partial output that is
unreadable or not of this input's documents) it says why in the log (the keys that differ,
old -> new, or the file and line) and starts the shard over. The output appears (atomically)
only when the shard is done. Same input and settings give byte-identical output (greedy/beam
search, fixed seed); a resumed HF run regroups the remaining documents into batches, which on
some kernels can change the last digits of a logit and hence, rarely, a token (the noisy
engine is exact either way). Torch's thread count is left out of the identity for the same
reason (Snakemake may give a rerun fewer threads).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Protocol

from cptmix.code import module_hash
from cptmix.io import atomic_path, sha256_file, write_json

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
# How translated chunks of one paragraph are rejoined: Japanese has no spaces between sentences.
JOINERS = {"ja": "", "en": " "}


class Backend(Protocol):
    """A translation engine: the chunks of some documents (each with its document id as key)
    in, their translations out, in the same order. `batch_size`: chunks worth sending at once
    (translate_shard groups whole documents up to it)."""

    batch_size: int

    def translate_docs(self, docs: list[tuple[list[str], str]]) -> list[list[str]]: ...

    def fingerprint(self) -> dict: ...


class PerDocument:
    """Base of engines that translate one document at a time (`translate(chunks, key)`)."""

    batch_size = 1

    def translate_docs(self, docs: list[tuple[list[str], str]]) -> list[list[str]]:
        return [self.translate(chunks, key) for chunks, key in docs]

    def translate(self, chunks: list[str], key: str) -> list[str]:
        raise NotImplementedError


# --- segmentation -----------------------------------------------------------------------------
def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Word groups of an over-long sentence, each at most `max_chars` (a word longer than the
    limit is cut into pieces)."""
    words = []
    for word in sentence.split(" "):
        while len(word) > max_chars:
            words.append(word[:max_chars])
            word = word[max_chars:]
        words.append(word)
    return _pack(words, max_chars)


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Consecutive pieces (each at most `max_chars`) greedily joined by spaces into chunks of
    at most `max_chars`."""
    chunks, cur = [], ""
    for piece in pieces:
        cand = f"{cur} {piece}" if cur else piece
        if len(cand) <= max_chars:
            cur = cand
        else:
            chunks.append(cur)
            cur = piece
    if cur:
        chunks.append(cur)
    return chunks


def split_paragraph(paragraph: str, max_chars: int) -> list[str]:
    """Chunks of one paragraph under `max_chars`: whole sentences greedily grouped."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    pieces = []
    for sentence in _SENTENCE_END.split(paragraph):
        pieces += [sentence] if len(sentence) <= max_chars else _split_long(sentence, max_chars)
    return _pack(pieces, max_chars)


def segment(text: str, max_chars: int) -> list[list[str]]:
    """A document as paragraphs (newline-separated), each a list of chunks."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    return [split_paragraph(p, max_chars) for p in text.split("\n")]


def translate_documents(docs: list[tuple[str, str]], backend: Backend, max_chars: int,
                        target_lang: str = "ja") -> list[tuple[str, int]]:
    """(translation, number of chunks the engine saw) of each (text, id) document."""
    segmented = [segment(text, max_chars) for text, _ in docs]
    flats = [[c for p in paragraphs for c in p] for paragraphs in segmented]
    outs = backend.translate_docs([(f, key) for f, (_, key) in zip(flats, docs)])
    joiner, result = JOINERS.get(target_lang, " "), []
    for (_, key), paragraphs, flat, out in zip(docs, segmented, flats, outs, strict=True):
        if len(out) != len(flat):
            raise RuntimeError(f"{key}: engine returned {len(out)} translations for "
                               f"{len(flat)} chunks")
        pos, lines = 0, []
        for p in paragraphs:
            lines.append(joiner.join(out[pos:pos + len(p)]))
            pos += len(p)
        result.append(("\n".join(lines), len(flat)))
    return result


def translate_document(text: str, key: str, backend: Backend, max_chars: int,
                       target_lang: str = "ja") -> tuple[str, int]:
    """The translation of one document and the number of chunks the engine saw."""
    return translate_documents([(text, key)], backend, max_chars, target_lang)[0]


# --- engines ------------------------------------------------------------------------------------
class NoisyBackend(PerDocument):
    """The demo's noisy phrase-based translator, built from the world config. It matches whole
    sentences against its templates: keep `max_chars` above the longest sentence (a sentence
    cut into word groups is translated term by term)."""

    def __init__(self, world_cfg: dict) -> None:
        from cptmix.demo import templates
        from cptmix.demo.translate import NoisyTranslator
        from cptmix.demo.world import build_world

        if not isinstance(world_cfg, dict) or "mt_noise" not in world_cfg:
            raise ValueError("translate backend 'noisy' needs the `world` config (world.mt_noise, "
                             "world.seed): it is the demo world's translator")
        world = build_world(world_cfg)
        self.world_cfg = world_cfg
        self.translator = NoisyTranslator(templates.research_pairs(), world.lexicon("ja"),
                                          noise=float(world_cfg["mt_noise"]),
                                          seed=world_cfg["seed"])

    def translate(self, chunks: list[str], key: str) -> list[str]:
        return self.translator.translate_segments(chunks, key)

    software = ()

    def fingerprint(self) -> dict:
        world = json.dumps(self.world_cfg, sort_keys=True).encode()
        return {"backend": "noisy", "noise": self.world_cfg["mt_noise"],
                "seed": self.world_cfg["seed"], "world_sha256": hashlib.sha256(world).hexdigest()}


# What of a model directory a translation depends on: the safetensors weights (and their
# index), the configs (generation_config.json sets generate()'s defaults) and the tokenizer's
# files (a Marian model's source.spm/target.spm, a T5's spiece.model, a fast tokenizer.json).
MODEL_FILE_PATTERNS = ("config.json", "generation_config.json", "*.safetensors",
                       "*.safetensors.index.json", "tokenizer*", "special_tokens_map.json",
                       "added_tokens.json", "vocab*", "merges.txt", "*.model", "*.spm",
                       "chat_template.jinja")


def model_sha256(model_dir: str | Path) -> str:
    """One SHA-256 over a model directory's safetensors weights, configs and tokenizer files
    (`MODEL_FILE_PATTERNS`; name + file hash per file, sorted), so the provenance pins the
    exact checkpoint and what encodes and decodes for it."""
    model_dir = Path(model_dir)
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights (only safetensors are "
                                f"loaded)")
    files = sorted({p for pattern in MODEL_FILE_PATTERNS for p in model_dir.glob(pattern)
                    if p.is_file()})
    lines = "".join(f"{p.name}:{sha256_file(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


class HFBackend:
    """A local HF model: seq2seq, or causal LM + prompt template; greedy (num_beams 1) or beam."""

    def __init__(self, model: str | Path, *, prompt_template: str | None = None,
                 num_beams: int = 1, max_new_tokens: int = 256, batch_size: int = 8,
                 device: str = "auto", threads: int | None = None) -> None:
        import torch
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSeq2SeqLM,
            AutoTokenizer,
        )

        self.model_dir = Path(model)
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(f"translate.model: {self.model_dir} is not an HF model "
                                    f"directory (no config.json)")
        self.sha256 = model_sha256(self.model_dir)
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        self.seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        if not self.seq2seq and (not prompt_template or "{text}" not in prompt_template):
            raise ValueError(f"translate.prompt_template: a causal LM ({self.model_dir}) needs a "
                             f"prompt template containing {{text}}")
        self.prompt_template = prompt_template or "{text}"
        self.tok = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        cls = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
        if not self.seq2seq:
            self.tok.padding_side = "left"  # generation continues right after the prompt
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" \
            else device
        self.model = cls.from_pretrained(self.model_dir, local_files_only=True,
                                         use_safetensors=True).to(self.device).eval()
        self.num_beams, self.max_new_tokens, self.batch_size = num_beams, max_new_tokens, \
            batch_size

    def fingerprint(self) -> dict:
        # batch size and device: a batch's padding and the kernels can change a logit's last
        # digits and so, rarely, a token
        return {"backend": "hf", "model": str(self.model_dir), "model_sha256": self.sha256,
                "kind": "seq2seq" if self.seq2seq else "causal",
                "prompt_template": None if self.seq2seq else self.prompt_template,
                "num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens,
                "batch_size": self.batch_size, "device": self.device}

    software = ("torch", "transformers", "tokenizers", "safetensors")

    def translate_docs(self, docs: list[tuple[list[str], str]]) -> list[list[str]]:
        flat = [c for chunks, _ in docs for c in chunks]
        out = self.translate(flat)
        result, pos = [], 0
        for chunks, _ in docs:
            result.append(out[pos:pos + len(chunks)])
            pos += len(chunks)
        return result

    def translate(self, chunks: list[str]) -> list[str]:
        """Translations of `chunks`, batched; longest first, so a batch pads little."""
        import torch

        out = [""] * len(chunks)
        todo = sorted((i for i, c in enumerate(chunks) if c.strip()),  # empty lines stay empty
                      key=lambda i: (-len(chunks[i]), i))
        for b in range(0, len(todo), self.batch_size):
            idx = todo[b:b + self.batch_size]
            prompts = [self.prompt_template.format(text=chunks[i]) for i in idx]
            enc = self.tok(prompts, return_tensors="pt", padding=True).to(self.device)
            enc.pop("token_type_ids", None)
            with torch.no_grad():
                gen = self.model.generate(
                    **enc, do_sample=False, num_beams=self.num_beams,
                    max_new_tokens=self.max_new_tokens, pad_token_id=self.tok.pad_token_id)
            if not self.seq2seq:
                gen = gen[:, enc["input_ids"].shape[1]:]
            for i, text in zip(idx, self.tok.batch_decode(gen, skip_special_tokens=True)):
                # A causal LM continues past its translation: keep the first line.
                out[i] = text.strip() if self.seq2seq else text.strip().split("\n")[0].strip()
        return out


def make_backend(spec: dict, world: dict | None = None, threads: int | None = None) -> Backend:
    """The engine a `translate.<name>` config entry names."""
    kind = spec.get("backend")
    if kind == "noisy":
        return NoisyBackend(world)
    if kind == "hf":
        if not spec.get("model"):
            raise ValueError("translate: backend 'hf' needs `model` (a local HF directory)")
        return HFBackend(spec["model"], prompt_template=spec.get("prompt_template"),
                         num_beams=int(spec.get("num_beams", 1)),
                         max_new_tokens=int(spec.get("max_new_tokens", 256)),
                         batch_size=int(spec.get("batch_size", 8)),
                         device=spec.get("device", "auto"), threads=threads)
    raise ValueError(f"translate.backend: unknown backend {kind!r} (known: noisy, hf)")


# --- shards ------------------------------------------------------------------------------------
def shard_lines(path: str | Path, shard: int, n_shards: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of the lines of `path` that start inside shard `shard` of
    `n_shards` equal byte ranges."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not in [0, {n_shards})")
    path = Path(path)
    size = path.stat().st_size
    start, end = size * shard // n_shards, size * (shard + 1) // n_shards
    with path.open("rb") as fh:
        if start > 0:
            fh.seek(start - 1)
            fh.readline()  # the line running into `start` belongs to the shard before
        pos = fh.tell()
        while pos < end:
            line = fh.readline()
            if not line:
                break
            yield pos, line
            pos = fh.tell()


def _records(path: Path, shard: int, n_shards: int, id_field: str,
             text_field: str) -> Iterator[dict]:
    for pos, line in shard_lines(path, shard, n_shards):
        if not line.strip():
            continue
        where = f"{path}: record at byte {pos} (shard {shard} of {n_shards})"
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(rec, dict):
            # Bad input data, not a caller error: ValueError like every other bad record.
            raise ValueError(f"{where}: a record must be a JSON object")  # noqa: TRY004
        for field in (id_field, text_field):
            if not isinstance(rec.get(field), str):
                raise ValueError(f"{where}: field {field!r} must be a string "  # noqa: TRY004
                                 f"(got {type(rec.get(field)).__name__})")
        yield rec


def _shard_digest(path: Path, shard: int, n_shards: int) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    for _, line in shard_lines(path, shard, n_shards):
        h.update(line)
        n += bool(line.strip())
    return h.hexdigest(), n


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in ("cptmix", *packages):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resume_identity(fingerprint: Mapping, backend: Backend) -> dict:
    """What a partial output must have been made with to be continued: the shard's provenance
    `fingerprint` and the versions of cptmix and of the libraries the engine computes with
    (its `software` attribute); as plain JSON data, exactly what the state file holds."""
    identity = {"fingerprint": dict(fingerprint),
                "software": _versions(tuple(getattr(backend, "software", ()))),
                "code": module_hash("cptmix.prepare.translate")}
    return json.loads(json.dumps(identity, sort_keys=True))


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def _differences(old: Mapping, new: Mapping) -> list[str]:
    """`key: old -> new` for each dotted key whose value differs (absent: "(absent)")."""
    a, b = _flat(dict(old)), _flat(dict(new))

    def show(d, k):
        return json.dumps(d[k], ensure_ascii=False)[:80] if k in d else "(absent)"

    absent = object()
    return [f"{k}: {show(a, k)} -> {show(b, k)}" for k in sorted(set(a) | set(b))
            if a.get(k, absent) != b.get(k, absent)]


def _start_over(path: Path, why: str) -> list[str]:
    log.warning("%s: %s; the partial output is discarded and the shard starts over", path, why)
    return []


def _resume(partial: Path, state: Path, identity: dict, records: Iterator[dict],
            id_field: str) -> list[str]:
    """Ids of the documents an interrupted run of exactly this `identity` translated, in
    order (`records`: the shard's input records, checked against them); [] (start over) when
    there is nothing to continue or it cannot be shown to be this run's, saying why."""
    if not partial.exists() and not state.exists():
        return []
    if not state.exists():
        return _start_over(partial, f"no {state.name} beside it, so it cannot be shown to be "
                                    f"of this run")
    if not partial.exists():
        return _start_over(state, f"no {partial.name} beside it")
    try:
        old = json.loads(state.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _start_over(state, f"unreadable ({type(exc).__name__}: {exc})")
    if not isinstance(old, dict):
        return _start_over(state, "unreadable (not a JSON object)")
    diff = _differences(old, identity)
    if diff:
        return _start_over(partial, "made with other settings (" + "; ".join(diff) + ")")
    raw = partial.read_bytes()
    keep = raw[:raw.rfind(b"\n") + 1]  # a line cut off by the crash is redone
    done = []
    for n, line in enumerate(keep.splitlines(), 1):
        try:
            doc_id = json.loads(line)["_source_id"]
            if not isinstance(doc_id, str):
                raise TypeError(f"_source_id is {type(doc_id).__name__}")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            return _start_over(partial, f"line {n} is unreadable ({type(exc).__name__}: "
                                        f"{exc})")
        done.append(doc_id)
    for n, doc_id in enumerate(done, 1):
        rec = next(records, None)
        if rec is None or rec[id_field] != doc_id:
            found = "the shard has no more" if rec is None else f"the input has {rec[id_field]!r}"
            return _start_over(partial, f"line {n} is document {doc_id!r}, {found}: not this "
                                        f"input's documents")
    if len(keep) != len(raw):
        partial.write_bytes(keep)
    return done


def translate_shard(input_path: str | Path, output_path: str | Path, backend: Backend, *,
                    shard: int, n_shards: int, max_chars: int = 400, target_lang: str = "ja",
                    id_field: str = "id", text_field: str = "text",
                    output_field: str | None = None, id_suffix: str = "",
                    provenance_path: str | Path | None = None) -> dict:
    """Translate shard `shard` of `n_shards` of a JSONL file into `output_path`.

    Each output record is the input record with `output_field` (default: `text_field`) set to
    the translation, `id_suffix` appended to its id and, when it has a `lang`, lang set to
    `target_lang`. Returns (and writes to `provenance_path`) the shard's provenance.
    """
    from tqdm import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"translate: input {input_path} does not exist")
    output_field = output_field or text_field
    digest, n_docs = _shard_digest(input_path, shard, n_shards)
    fingerprint = {"input": str(input_path), "input_shard_sha256": digest, "shard": shard,
                   "n_shards": n_shards, "max_chars": max_chars, "target_lang": target_lang,
                   "fields": [id_field, text_field, output_field, id_suffix],
                   "engine": backend.fingerprint()}
    identity = resume_identity(fingerprint, backend)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(output_path.name + ".partial")
    state = output_path.with_name(output_path.name + ".partial.json")
    done = _resume(partial, state, identity,
                   _records(input_path, shard, n_shards, id_field, text_field), id_field)
    if done:
        log.info("resuming shard %d: %d of %d documents already translated", shard, len(done),
                 n_docs)
    else:
        partial.write_bytes(b"")
    state.write_text(json.dumps(identity, sort_keys=True), encoding="utf-8")
    t0, chunks, group, group_chunks = time.perf_counter(), 0, [], 0

    def flush(fh) -> int:
        """Translate the buffered documents together, append them, sync; the chunk count."""
        done_now = translate_documents([(r[text_field], r[id_field]) for r in group], backend,
                                       max_chars, target_lang)
        for rec, (text, _) in zip(group, done_now):
            out = {**rec, output_field: text, id_field: rec[id_field] + id_suffix}
            if "lang" in rec:
                out["lang"] = target_lang
            # `_source_id` lets a resumed run check it continues the same document sequence.
            fh.write(json.dumps({**out, "_source_id": rec[id_field]}, ensure_ascii=False,
                                sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        group.clear()
        return sum(n for _, n in done_now)

    with partial.open("a", encoding="utf-8") as fh:
        bar = tqdm(_records(input_path, shard, n_shards, id_field, text_field), total=n_docs,
                   desc=f"translate shard {shard}/{n_shards}", mininterval=5)
        for i, rec in enumerate(bar):
            if i < len(done):  # `_resume` checked they are these documents
                # counted as if translated now: the provenance must not depend on resuming
                chunks += sum(len(p) for p in segment(rec[text_field], max_chars))
                continue
            # Whole documents are grouped until they fill one engine batch.
            group.append(rec)
            group_chunks += sum(len(p) for p in segment(rec[text_field], max_chars))
            if group_chunks >= getattr(backend, "batch_size", 1):
                chunks += flush(fh)
                group_chunks = 0
        if group:
            chunks += flush(fh)
    seconds = time.perf_counter() - t0
    with atomic_path(output_path) as tmp, tmp.open("w", encoding="utf-8") as out_fh:
        for line in partial.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            rec.pop("_source_id")
            out_fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
    partial.unlink()
    state.unlink()
    prov = {**fingerprint, "documents": n_docs, "resumed_documents": len(done),
            "chunks_translated": chunks, "seconds": round(seconds, 3),
            "output_sha256": sha256_file(output_path)}
    if provenance_path is not None:
        # Timing and resumption vary between runs; the file must not.
        write_json(provenance_path, {k: v for k, v in prov.items()
                                     if k not in ("seconds", "resumed_documents")})
    log.info("shard %d/%d: %d documents, %d chunks in %.1f s", shard, n_shards, n_docs, chunks,
             seconds)
    return prov


def merge_shards(shards: list[str | Path], provenances: list[str | Path], output: str | Path,
                 provenance: str | Path) -> None:
    """Concatenate the shard outputs (in shard order) into the translated source, with one
    provenance file listing every shard's."""
    with atomic_path(output) as tmp, tmp.open("wb") as out:
        for s in shards:
            out.write(Path(s).read_bytes())
    shard_prov = [json.loads(Path(p).read_text(encoding="utf-8")) for p in provenances]
    n_docs = sum(p["documents"] for p in shard_prov)
    engine = shard_prov[0]["engine"] if shard_prov else None
    write_json(provenance, {"output": str(output), "output_sha256": sha256_file(output),
                            "documents": n_docs, "engine": engine, "shards": shard_prov})
