"""The tokenizer every stage uses, and the checks that it counts what the model reads.

The demo trains a small byte-level BPE on its own sources (byte-level so Japanese, which has
no spaces, is always representable); the cluster recipe points at the model's own tokenizer
directory instead and nothing is trained.

Counting and indexing (`load_counting_tokenizer`) read the directory's own `tokenizer.json`
with the `tokenizers` library: exact, and fast in Rust. Training and evaluation load the same
directory with transformers' `AutoTokenizer` (`load_tokenizer`), which follows
`tokenizer_config.json`: a config naming a class that rebuilds the tokenizer (transformers 5
rebuilds `LlamaTokenizer` as BPE from the vocabulary, whatever model tokenizer.json holds)
would count one thing and train on another. `check_tokenizer` therefore encodes a fixed
bilingual probe both ways and refuses any difference, and refuses degenerate tokenizers (a
tiny vocabulary, a probe text encoding to nothing or only to the unknown token, no EOS).

`import_sentencepiece` builds such a directory from a SentencePiece `.model` (the form in
which llm-jp publishes its tokenizers) with transformers' own converters, and keeps it only
if its ids equal `sentencepiece`'s on the probe and on a given corpus. It copies the model in
(`sentencepiece.model`; its sha256 and tokenizer.json's in `import.json`), and counting and
indexing then encode with `sentencepiece` itself, several times faster than `tokenizers`'
Unigram (`benchmarks/bench_tokenizer.py`), on the job's threads. Its ids are tokenizer.json's
wherever the import compared them, and every load checks the hashes and the probe again. The
one difference the converters cannot remove, a text that spells out one of tokenizer.json's
added tokens (`</s>`: transformers matches it as the special token, sentencepiece spells it
out in pieces), is caught per text and such texts are encoded by tokenizer.json, so the
counts are what training reads. A directory without the copy counts with tokenizer.json (the
same ids, slower; logged); a copy or a tokenizer.json that no longer matches `import.json` is
an error (`TokenizerError`, naming the file).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cptmix.io import atomic_path, sha256_file, write_json

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<pad>"

# The fidelity probe: Japanese and English medical text with what tokenizers disagree on
# (full-width and half-width forms, digits, units, runs of spaces, tabs and newlines, leading
# and trailing whitespace, an emoji outside most vocabularies). Constant: changing it changes
# what every check compares.
PROBE: tuple[str, ...] = (
    "急性心筋梗塞の患者にアスピリン325 mgを経口投与した。",
    "2型糖尿病では、HbA1c 7.0%未満を目標にメトホルミンを開始する。",
    "ＣＯＶＩＤ−１９肺炎の入院患者（６５歳以上）で、ＣＲＰ値は１２．３ｍｇ／ｄＬであった。",
    "副作用：悪心、嘔吐、下痢\n禁忌：重篤な腎機能障害（eGFR < 30）",
    "Patients with acute myocardial infarction received 325 mg of aspirin orally.",
    "The BRCA1 mutation increased the risk of breast cancer (HR 2.41; 95% CI, 1.8-3.2).",
    "  Leading spaces,  double  spaces and a trailing space ",
    "Dose:\t0.5 mg/kg\tevery 12 h\n\nMonitor QTc.",
    "English and 日本語 mixed: 血圧は140/90 mmHg, pulse 88/min 💊",
)
SP_FILE = "sentencepiece.model"  # the imported SentencePiece model, inside the directory
IMPORT_FILE = "import.json"  # what `import_sentencepiece` made the directory from
MIN_VOCAB = 100  # below this a "tokenizer" cannot be a language model's (e.g. 3 tokens)
CONFIG_HINT = ("set \"tokenizer_class\": \"PreTrainedTokenizerFast\" in its tokenizer_config.json "
               "(transformers then loads tokenizer.json as it is), or rebuild the directory from "
               "the SentencePiece model with `cptmix tokenizer import --sentencepiece MODEL --out "
               "DIR`")


# The demo tokenizer's pre-split: a space followed by a non-ASCII character (train_tokenizer).
SPACE_BEFORE_NON_ASCII = r" (?=[^\x00-\x7F])"


class TokenizerError(ValueError):
    """A tokenizer directory (or SentencePiece model) cannot be used; the message names it."""


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 4000,
                    min_frequency: int = 2) -> None:
    """Train a byte-level BPE tokenizer and save it as a `PreTrainedTokenizerFast` directory.

    A space before a non-ASCII character is a token of its own (`SPACE_BEFORE_NON_ASCII`):
    Japanese text has no spaces, so a Japanese word is otherwise one token sequence in running
    text ("答え：肝障害") and another after the space of an option line ("A. 肝障害", where
    byte-level BPE fuses the space into the word's first token). An MCQA answer would then
    never share a token with the option it repeats, as it does in English ("A. insulin",
    "Answer: insulin"); isolating the space gives both languages the same tokens in both
    places."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPACE_BEFORE_NON_ASCII), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   bos_token=EOS, unk_token=None)
    with atomic_path(out_dir) as tmp:
        fast.save_pretrained(tmp)


def load_tokenizer(path: str | Path):
    """Load a local HF tokenizer directory (offline) with transformers, as training and
    evaluation do; make sure it can pad."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer_config.json").exists() and not (path / "tokenizer.json").exists():
        raise FileNotFoundError(f"{path}: not a tokenizer directory (no tokenizer.json)")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.eos_token is None:
        raise TokenizerError(f"{path}: tokenizer has no eos_token (set eos_token in its "
                             f"tokenizer_config.json)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def encode_batch(tok, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens."""
    return tok(texts, add_special_tokens=False)["input_ids"] if texts else []


# --- counting: tokenizer.json through `tokenizers`, checked against transformers ------------

@dataclass(frozen=True)
class CountingTokenizer:
    """A tokenizer directory as counting and indexing use it: the raw `tokenizers.Tokenizer`
    of its tokenizer.json (`backend`), its EOS id and its vocabulary size (added tokens
    included, as `len()` of the transformers tokenizer).

    With `sentencepiece` (a `SentencePieceProcessor` of the directory's imported, verified
    model) the ids come from sentencepiece on `threads` threads, except for the texts that
    contain one of tokenizer.json's added tokens literally (`literal`), which tokenizer.json
    encodes; `stats` counts those (`tokenizer_json_texts`) and the rest
    (`sentencepiece_texts`)."""

    path: Path
    backend: object  # tokenizers.Tokenizer
    eos_token: str
    eos_id: int
    vocab_size: int
    sentencepiece: object | None = None  # sentencepiece.SentencePieceProcessor
    threads: int = 1
    literal: re.Pattern | None = None  # tokenizer.json's added tokens, as they appear in text
    stats: dict = field(default_factory=dict, compare=False)

    @property
    def engine(self) -> str:
        """What encodes: "sentencepiece" or "tokenizers" (tokenizer.json)."""
        return "tokenizers" if self.sentencepiece is None else "sentencepiece"

    def encode_ids(self, texts: list[str]) -> list:
        """Token ids of each text without special tokens: int32 arrays (sentencepiece) or
        lists (tokenizer.json); what the indexer writes."""
        if self.sentencepiece is None:
            return [e.ids for e in self.backend.encode_batch_fast(texts,
                                                                  add_special_tokens=False)]
        return self._sentencepiece_ids(texts)

    def lengths(self, texts: list[str]) -> list[int]:
        """Token count of each text (no special tokens): what counts.tsv holds. The
        tokenizer.json path counts its encodings without building lists of ids."""
        if self.sentencepiece is None:
            return [len(e) for e in self.backend.encode_batch_fast(texts,
                                                                   add_special_tokens=False)]
        return [len(ids) for ids in self._sentencepiece_ids(texts)]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text as lists, without special tokens."""
        return [list(map(int, ids)) for ids in self.encode_ids(texts)]

    def _sentencepiece_ids(self, texts: list[str]) -> list:
        import numpy as np

        out = self.sentencepiece.encode(texts, out_type="numpy", num_threads=self.threads)
        spelled = []
        # the joined chunk first (a match in any text is one in it; such texts are rare),
        # each text only then
        if self.literal is not None and self.literal.search("\x00".join(texts)):
            spelled = [i for i, text in enumerate(texts) if self.literal.search(text)]
        if spelled:
            encs = self.backend.encode_batch_fast([texts[i] for i in spelled],
                                                  add_special_tokens=False)
            for i, enc in zip(spelled, encs, strict=True):
                out[i] = np.asarray(enc.ids, dtype=np.int32)
        self.stats["tokenizer_json_texts"] = self.stats.get("tokenizer_json_texts", 0) \
            + len(spelled)
        self.stats["sentencepiece_texts"] = self.stats.get("sentencepiece_texts", 0) \
            + len(texts) - len(spelled)
        return out

    def report(self, what: str) -> None:
        """One log line: which engine encoded `what`, and how many texts went which way since
        the last report (the counts start again)."""
        if self.sentencepiece is None:
            log.info("%s: encoded with %s/tokenizer.json (tokenizers)", what, self.path)
        else:
            log.info("%s: encoded with %s/%s (sentencepiece, %d threads): %d texts; %d texts "
                     "that spell out one of tokenizer.json's added tokens encoded by "
                     "tokenizer.json", what, self.path, SP_FILE, self.threads,
                     self.stats.get("sentencepiece_texts", 0),
                     self.stats.get("tokenizer_json_texts", 0))
        self.stats.clear()


def _read_backend(path: Path):
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    if not file.is_file():
        hint = (": it holds a SentencePiece tokenizer.model; build an exact tokenizer.json with "
                "`cptmix tokenizer import --sentencepiece MODEL --out DIR`"
                if (path / "tokenizer.model").is_file() else "")
        raise FileNotFoundError(f"{path}: not a tokenizer directory (no tokenizer.json){hint}")
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 - the Rust side raises a bare Exception
        raise TokenizerError(f"{file}: not a tokenizers file ({exc})") from None


def _first_difference(a: Sequence[int], b: Sequence[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def check_tokenizer(path: str | Path, backend, hf_tokenizer,
                    probe: Sequence[str] = PROBE) -> int:
    """Refuse a tokenizer that would count wrongly: one whose transformers encoding (what
    training and evaluation use) differs from its tokenizer.json's on any probe text, and a
    degenerate one (vocabulary under MIN_VOCAB, a probe text encoding to nothing or only to
    the unknown token, no EOS). Returns the EOS id. Raises `TokenizerError` naming `path`."""
    path = Path(path)
    vocab = backend.get_vocab_size(with_added_tokens=True)
    if vocab < MIN_VOCAB:
        raise TokenizerError(f"{path}: degenerate tokenizer: {vocab} tokens in its vocabulary "
                             f"(at least {MIN_VOCAB} expected)")
    eos = hf_tokenizer.eos_token
    eos_id = backend.token_to_id(eos) if eos is not None else None
    if eos is None or eos_id is None:
        raise TokenizerError(f"{path}: degenerate tokenizer: no EOS token"
                             + (f" ({eos!r} is not in tokenizer.json's vocabulary)" if eos else
                                " (set eos_token in tokenizer_config.json)"))
    if hf_tokenizer.eos_token_id != eos_id:
        raise TokenizerError(f"{path}: transformers gives EOS {eos!r} the id "
                             f"{hf_tokenizer.eos_token_id}, tokenizer.json {eos_id}; {CONFIG_HINT}")
    ours = [e.ids for e in backend.encode_batch(list(probe), add_special_tokens=False)]
    unk = hf_tokenizer.unk_token_id
    for text, ids in zip(probe, ours, strict=True):
        if not ids:
            raise TokenizerError(f"{path}: degenerate tokenizer: the probe text {text!r} "
                                 f"encodes to no tokens")
        if unk is not None and all(i == unk for i in ids):
            raise TokenizerError(f"{path}: degenerate tokenizer: the probe text {text!r} "
                                 f"encodes to the unknown token only")
    theirs = hf_tokenizer(list(probe), add_special_tokens=False)["input_ids"]
    for text, a, b in zip(probe, ours, theirs, strict=True):
        if list(a) != list(b):
            i = _first_difference(a, b)
            raise TokenizerError(
                f"{path}: transformers ({type(hf_tokenizer).__name__}, from "
                f"tokenizer_config.json) encodes the probe text {text!r} differently from its "
                f"tokenizer.json ({len(b)} vs {len(a)} tokens, first difference at token {i}: "
                f"{b[i:i + 3]} vs {a[i:i + 3]}): training and evaluation would read other "
                f"tokens than were counted; {CONFIG_HINT}")
    return eos_id


def default_threads() -> int:
    """The job's threads: `RAYON_NUM_THREADS` (the workflow's scripts set it from the rule's
    `threads:` before `tokenizers` starts its pool), else every core."""
    try:
        n = int(os.environ.get("RAYON_NUM_THREADS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else (os.cpu_count() or 1)


def _import_record(path: Path) -> dict | None:
    file = path / IMPORT_FILE
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{file}: not readable JSON ({exc}); rebuild the directory with "
                             f"`cptmix tokenizer import`") from None
    if not isinstance(record, dict):
        raise TokenizerError(f"{file}: not a JSON object; rebuild the directory with "
                             f"`cptmix tokenizer import`")
    return record


def _literal_pattern(backend) -> re.Pattern | None:
    contents = sorted({t.content for t in backend.get_added_tokens_decoder().values()},
                      key=lambda c: (-len(c), c))
    return re.compile("|".join(map(re.escape, contents))) if contents else None


def _sentencepiece_of(path: Path, backend, threads: int):
    """The directory's imported SentencePiece model, when it can count exactly as its
    tokenizer.json: `(processor, literal pattern)`, or None (no model: tokenizer.json counts).
    A model or tokenizer.json that differs from `import.json`'s record, or ids that differ
    on the probe, are a `TokenizerError`."""
    record = _import_record(path)
    if record is None:
        return None
    model = path / SP_FILE
    if not model.is_file():
        log.info("%s: no %s beside tokenizer.json (imported before models were copied?): "
                 "counting with tokenizer.json (the same ids, slower); re-import with `cptmix "
                 "tokenizer import` to count with sentencepiece", path, SP_FILE)
        return None
    fix = (f"rebuild the directory with `cptmix tokenizer import --sentencepiece MODEL --out "
           f"{path}`, or delete {model} to count with tokenizer.json")
    for file, key in ((model, "sentencepiece_sha256"), (path / "tokenizer.json",
                                                        "tokenizer_sha256")):
        digest = sha256_file(file)
        if record.get(key) != digest:
            raise TokenizerError(f"{file}: sha256 {digest} is not the {key} "
                                 f"{record.get(key)} recorded in {path / IMPORT_FILE}: the "
                                 f"directory changed after its import; {fix}")
    added = backend.get_added_tokens_decoder().values()
    if any(t.normalized for t in added):
        log.info("%s: tokenizer.json has added tokens matched after normalisation, which "
                 "sentencepiece cannot be checked for per text: counting with tokenizer.json",
                 path)
        return None
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_file=str(model))
    except (OSError, RuntimeError) as exc:
        raise TokenizerError(f"{model}: not a SentencePiece model ({exc}); {fix}") from None
    ours = [e.ids for e in backend.encode_batch(list(PROBE), add_special_tokens=False)]
    theirs = sp.encode(list(PROBE), num_threads=1)
    for text, a, b in zip(PROBE, ours, theirs, strict=True):
        if list(a) != list(b):
            i = _first_difference(a, b)
            raise TokenizerError(f"{model}: sentencepiece encodes the probe text {text!r} "
                                 f"differently from {path / 'tokenizer.json'} ({len(b)} vs "
                                 f"{len(a)} tokens, first difference at token {i}: "
                                 f"{b[i:i + 3]} vs {a[i:i + 3]}); {fix}")
    return sp, _literal_pattern(backend)


def load_counting_tokenizer(path: str | Path, *, check: bool = True, threads: int | None = None,
                            sentencepiece: bool = True) -> CountingTokenizer:
    """The tokenizer directory's own tokenizer.json, loaded with `tokenizers`, after
    `check_tokenizer` (once per job: it loads transformers' view of the same directory).

    If the directory was imported from a SentencePiece model and holds its verified copy,
    the counting encodes with sentencepiece on `threads` threads (default `default_threads`)
    unless `sentencepiece` is False: see the module's docstring."""
    path = Path(path)
    backend = _read_backend(path)
    hf = load_tokenizer(path)
    eos_id = check_tokenizer(path, backend, hf) if check else backend.token_to_id(hf.eos_token)
    threads = default_threads() if threads is None else threads
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    sp = _sentencepiece_of(path, backend, threads) if sentencepiece else None
    return CountingTokenizer(path=path, backend=backend, eos_token=hf.eos_token, eos_id=eos_id,
                             vocab_size=backend.get_vocab_size(with_added_tokens=True),
                             sentencepiece=sp[0] if sp else None, threads=threads,
                             literal=sp[1] if sp else None)


# --- SentencePiece import ---------------------------------------------------------------------

def _read_proto(model_file: Path):
    from google.protobuf.message import DecodeError
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    try:
        proto.ParseFromString(model_file.read_bytes())
    except FileNotFoundError:
        raise TokenizerError(f"{model_file}: SentencePiece model not found") from None
    except (DecodeError, IsADirectoryError) as exc:
        raise TokenizerError(f"{model_file}: not a SentencePiece model ({exc})") from None
    if not proto.pieces:
        raise TokenizerError(f"{model_file}: not a SentencePiece model (no pieces)")
    return proto


def _converters():
    """transformers' SentencePiece converters, as candidates: the generic one (SentencePiece's
    normalisation rules, e.g. nmt_nfkc with whitespace clean-up) and Llama's (identity
    normalisation, a dummy prefix, whitespace kept), both with byte fallback."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import (
        LlamaConverter,
        SentencePieceExtractor,
        SpmConverter,
    )

    def tokenizer(self, proto):
        # transformers 5.23's SpmConverter.tokenizer fails on BPE models (it passes the
        # vocabulary where the extractor expects the model class): extract BPE ourselves.
        if proto.trainer_spec.model_type != 2:
            return SpmConverter.tokenizer(self, proto)
        kw = SentencePieceExtractor(self.original_tokenizer.vocab_file).extract(BPE)
        tok = Tokenizer(BPE(kw["vocab"], kw["merges"], unk_token=proto.trainer_spec.unk_piece,
                            fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback,
                            dropout=None))
        tok.add_tokens(kw["additional_special_tokens"])
        return tok

    class Generic(SpmConverter):
        handle_byte_fallback = True
        decoder = LlamaConverter.decoder  # byte pieces back to bytes; the dummy prefix dropped

    Generic.tokenizer = tokenizer

    class Llama(LlamaConverter):
        pass

    Llama.tokenizer = tokenizer
    return {"spm": Generic, "llama": Llama}


def _convert(model_file: Path, proto, name: str):
    from types import SimpleNamespace

    pieces = proto.pieces
    original = SimpleNamespace(  # the attributes the converters read from a slow tokenizer
        vocab_file=str(model_file), legacy=True,
        add_prefix_space=proto.normalizer_spec.add_dummy_prefix,
        convert_ids_to_tokens=lambda i: pieces[i].piece)
    converter = _converters()[name]
    converter.handle_byte_fallback = bool(proto.trainer_spec.byte_fallback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the byte-fallback warning: handled above
        return converter(original).converted()


def _mismatch(sp, backend, texts: Sequence[str], unk_id: int) -> str | None:
    """The first text whose ids (or decoded ids) differ from sentencepiece's, described."""
    ours = [e.ids for e in backend.encode_batch(list(texts), add_special_tokens=False)]
    theirs = sp.encode(list(texts))
    for text, a, b in zip(texts, ours, theirs, strict=True):
        if list(a) != list(b):
            i = _first_difference(a, b)
            return (f"{text[:80]!r}: {len(a)} vs sentencepiece's {len(b)} tokens, first "
                    f"difference at token {i} ({a[i:i + 3]} vs {b[i:i + 3]})")
        if unk_id not in b and backend.decode(b, skip_special_tokens=False) != sp.decode(b):
            return f"{text[:80]!r}: decodes differently from sentencepiece"
    return None


def _batches(texts: Iterable[str], n: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_sentencepiece(model_file: str | Path, out_dir: str | Path, *,
                         corpus: Iterable[str] = (), batch: int = 4096) -> dict:
    """A fast tokenizer directory (tokenizer.json + tokenizer_config.json naming
    `PreTrainedTokenizerFast` + special tokens) built from a SentencePiece unigram or BPE model
    by transformers' converters; the first converter whose ids equal sentencepiece's on the
    probe and on every text of `corpus` is kept, none: `TokenizerError`, nothing written.
    The model is copied in as `sentencepiece.model` (counting encodes with it). The saved
    directory is then checked as the pipeline loads it (`load_counting_tokenizer`).
    Writes `import.json` (model and tokenizer.json sha256, converter, texts verified) beside
    it; returns it."""
    import sentencepiece as spm
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    model_file = Path(model_file)
    proto = _read_proto(model_file)
    spec = proto.trainer_spec
    if spec.model_type not in (1, 2):
        kind = {3: "word", 4: "char"}.get(spec.model_type, str(spec.model_type))
        raise TokenizerError(f"{model_file}: a SentencePiece {kind} model; only unigram and BPE "
                             f"models can be imported")
    if spec.eos_id < 0:
        raise TokenizerError(f"{model_file}: the SentencePiece model defines no EOS piece "
                             f"(eos_id = -1); training needs one")
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    tried = {}
    for name in _converters():
        backend = _convert(model_file, proto, name)
        tried[name] = _mismatch(sp, backend, PROBE, spec.unk_id)
        if tried[name] is None:
            break
    else:
        raise TokenizerError(f"{model_file}: no exact conversion to a fast tokenizer; on the "
                             f"probe: " + "; ".join(f"{k} converter: {v}" for k, v in
                                                     tried.items()))
    piece = [p.piece for p in proto.pieces]
    special = {"eos_token": piece[spec.eos_id], "unk_token": piece[spec.unk_id]}
    if spec.bos_id >= 0:
        special["bos_token"] = piece[spec.bos_id]
    if spec.pad_id >= 0:
        special["pad_token"] = piece[spec.pad_id]
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    n_texts = 0
    with atomic_path(out_dir) as tmp:
        fast.save_pretrained(tmp)
        config_file = tmp / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["tokenizer_class"] = "PreTrainedTokenizerFast"  # loads tokenizer.json as it is
        write_json(config_file, config)
        saved = Tokenizer.from_file(str(tmp / "tokenizer.json"))
        problem = _mismatch(sp, saved, PROBE, spec.unk_id)
        for chunk in _batches(corpus, batch):
            if problem:
                break
            problem = _mismatch(sp, saved, chunk, spec.unk_id)
            n_texts += len(chunk)
        if problem:
            raise TokenizerError(f"{model_file}: the converted tokenizer ({name} converter) is "
                                 f"not exact: {problem}")
        shutil.copyfile(model_file, tmp / SP_FILE)
        record = {
            "sentencepiece_model": model_file.name,
            "sentencepiece_file": SP_FILE,
            "sentencepiece_sha256": sha256_file(tmp / SP_FILE),
            "model_type": {1: "unigram", 2: "bpe"}[spec.model_type],
            "byte_fallback": bool(spec.byte_fallback),
            "normalizer": proto.normalizer_spec.name,
            "converter": name,
            "vocab_size": saved.get_vocab_size(with_added_tokens=True),
            "special_tokens": special,
            "verified": {"probe_texts": len(PROBE), "corpus_texts": n_texts},
            "tokenizer_sha256": sha256_file(tmp / "tokenizer.json"),
        }
        write_json(tmp / IMPORT_FILE, record)
        # as the pipeline loads it: transformers reads it as tokenizers does, and so does
        # sentencepiece from the copy (the hashes just recorded, the probe)
        load_counting_tokenizer(tmp, threads=1)
    log.info("%s -> %s: %s converter, ids equal to sentencepiece on %d probe and %d corpus "
             "texts", model_file, out_dir, name, len(PROBE), n_texts)
    return record
