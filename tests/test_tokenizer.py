"""cptmix.corpus.tokenizer: counting reads tokenizer.json with `tokenizers`, checked against
transformers on the probe; degenerate tokenizers refused; SentencePiece import exact; an
imported directory counts and indexes with sentencepiece itself, with tokenizer.json's ids.

SentencePiece models are trained here, in a few seconds, on generated bilingual text: a
unigram with byte fallback (as llm-jp publishes), a BPE with byte fallback, and a unigram with
identity normalisation (whitespace kept, the Llama convention)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
from samples import EN, JA, write_jsonl

from cptmix.cli import main
from cptmix.corpus import (
    TokenizerError,
    count_source,
    import_sentencepiece,
    load_counting_tokenizer,
    read_counts,
    train_tokenizer,
)
from cptmix.corpus.sources import chunks
from cptmix.corpus.tokenizer import PROBE, default_threads
from cptmix.io import sha256_file

JA_WORDS = ["患者", "心筋梗塞", "糖尿病", "投与", "検査", "血圧", "治療", "副作用", "遺伝子", "がん",
            "肺炎", "は", "を", "に", "が", "の", "した", "する", "された", "。", "、", "アスピリン",
            "インスリン", "ミリグラム", "１２", "％"]
EN_WORDS = ["patient", "myocardial", "infarction", "diabetes", "was", "given", "the", "of",
            "and", "aspirin", "insulin", "trial", "gene", "risk", "cancer", "increased", "mg",
            "dose", "blood", "pressure", ".", ",", "BRCA1", "HbA1c", "7.2%"]


def bilingual(n: int, seed: int) -> list[str]:
    """Generated Japanese and English medical lines; with `seed` != 0 also the whitespace,
    full-width forms and characters the tokenizers were not trained on."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            text = "".join(rng.choice(JA_WORDS) for _ in range(rng.randint(3, 25)))
        else:
            text = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(3, 25)))
        if seed and i % 5 == 0:
            text = rng.choice(["  ", "\t", "\n", " ", "ＡＢＣ　"]) + text + rng.choice(
                ["", " ", "\n\n", "  💊", " ß", "\t"]) + rng.choice(JA + EN)
        out.append(text)
    return out


@pytest.fixture(scope="session")
def sp_models(tmp_path_factory):
    import sentencepiece as spm

    d = tmp_path_factory.mktemp("spm")
    (d / "train.txt").write_text("\n".join(bilingual(2000, 0)) + "\n", encoding="utf-8")
    common = {"input": str(d / "train.txt"), "vocab_size": 400, "character_coverage": 1.0,
              "byte_fallback": True, "minloglevel": 2, "num_threads": 1}
    kinds = {"unigram": {"model_type": "unigram"}, "bpe": {"model_type": "bpe"},
             "unigram-identity": {"model_type": "unigram", "normalization_rule_name": "identity",
                                  "remove_extra_whitespaces": False}}
    for kind, extra in kinds.items():
        spm.SentencePieceTrainer.train(model_prefix=str(d / kind), **common, **extra)
    return {kind: d / f"{kind}.model" for kind in kinds}


@pytest.fixture(scope="session")
def test_corpus(tmp_path_factory):
    """A bilingual corpus none of the tokenizers saw (another seed, odd whitespace)."""
    d = tmp_path_factory.mktemp("corpus")
    texts = bilingual(400, 7) + JA + EN + list(PROBE)
    path = write_jsonl(d / "test.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    return path, texts


@pytest.fixture(scope="session")
def imported(sp_models, test_corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("imported")
    return {kind: (import_sentencepiece(model, d / kind, corpus=test_corpus[1]), d / kind)
            for kind, model in sp_models.items()}


@pytest.mark.parametrize("kind", ["unigram", "bpe", "unigram-identity"])
def test_imported_counts_equal_sentencepiece(kind, sp_models, test_corpus, imported, tmp_path):
    import sentencepiece as spm

    record, out = imported[kind]
    path, texts = test_corpus
    assert record["verified"] == {"probe_texts": len(PROBE), "corpus_texts": len(texts)}
    assert record["model_type"] == kind.split("-")[0] and record["byte_fallback"] is True
    # identity normalisation keeps whitespace as Llama does; nmt_nfkc cleans it up
    assert record["converter"] == ("llama" if kind == "unigram-identity" else "spm")
    totals = count_source(path, "ja", out, tmp_path / "counts.tsv")  # the pipeline's path
    sp = spm.SentencePieceProcessor(model_file=str(sp_models[kind]))
    expected = [len(ids) for ids in sp.encode(texts)]
    assert read_counts(tmp_path / "counts.tsv").tokens.tolist() == expected
    assert totals["tokens"] == sum(expected) and totals["skipped_documents"] == 0


def test_imported_directory_loads_offline_with_autotokenizer(sp_models, imported):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    record, out = imported["unigram"]
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    sp = spm.SentencePieceProcessor(model_file=str(sp_models["unigram"]))
    assert tok(list(PROBE), add_special_tokens=False)["input_ids"] == sp.encode(list(PROBE))
    assert (tok.eos_token, tok.eos_token_id) == ("</s>", sp.eos_id())
    assert (tok.unk_token, tok.bos_token) == ("<unk>", "<s>")
    assert record["special_tokens"]["eos_token"] == "</s>"
    counting = load_counting_tokenizer(out)
    assert counting.eos_id == 2 and counting.vocab_size == 400
    # byte fallback decodes back to the text (an emoji no piece covers)
    assert tok.decode(sp.encode("pulse 💊")) == sp.decode(sp.encode("pulse 💊")) == "pulse 💊"


def test_demo_tokenizer_passes_the_check(tmp_path):
    train_tokenizer(JA + EN + list(PROBE), tmp_path / "tok", vocab_size=300, min_frequency=1)
    tok = load_counting_tokenizer(tmp_path / "tok")
    assert tok.eos_token == "<|endoftext|>" and tok.eos_id == 0
    assert main(["tokenizer", "check", str(tmp_path / "tok")]) == 0


def _tokens_of(tok, text: str, word: str) -> list[int]:
    """The ids of `word`'s tokens in `text` (its last occurrence, with the space before it
    where byte-level BPE fuses one in), which must start and end at token boundaries (no
    token shared with the text around it)."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    start = text.rindex(word)
    end = start + len(word)
    spans = enc["offset_mapping"]
    if text[start - 1] == " " and any(a == start - 1 and b > start for a, b in spans):
        start -= 1
    assert any(a == start for a, _ in spans) and any(b == end for _, b in spans), (text, spans)
    return [i for i, (a, b) in zip(enc["input_ids"], spans) if a >= start and b <= end]


def test_an_answer_tokenizes_as_the_option_it_repeats(tmp_path):
    """In both languages an MCQA answer has the tokens of its option line, as med-eval's
    prompts put it there: "A. insulin" / "Answer: insulin" share them with byte-level BPE
    alone, "A. 肝障害" / "答え：肝障害" only because the space before a Japanese word is a
    token of its own (with plain ByteLevel it fuses into the word's first token and the
    answer never shares a token with its option)."""
    from cptmix.corpus import load_tokenizer

    ja_terms = ["肝障害", "低血圧", "好中球減少症", "アムロジン"]
    en_terms = ["hepatotoxicity", "hypotension", "neutropenia", "amlodipine"]
    texts = []
    for k in range(len(ja_terms)):
        ja, en = ja_terms[k:] + ja_terms[:k], en_terms[k:] + en_terms[:k]
        texts.append("質問：次のうち正しいものはどれか。\n" + "\n".join(
            f"{'ABCD'[i]}. {t}" for i, t in enumerate(ja)) + f"\n答え：{ja[0]}")
        texts.append(f"{ja[0]}の患者には{ja[1]}がみられた。{ja[2]}は{ja[3]}で治療する。")
        texts.append("Question: Which is true?\n" + "\n".join(
            f"{'ABCD'[i]}. {t}" for i, t in enumerate(en)) + f"\nAnswer: {en[0]}")
    train_tokenizer(texts * 20 + list(PROBE), tmp_path / "tok", vocab_size=400, min_frequency=2)
    tok = load_tokenizer(tmp_path / "tok")
    for option, answer, term in [("C. {}", "答え：{}", t) for t in ja_terms] + [
            ("C. {}", "Answer: {}", t) for t in en_terms]:
        prompt = f"質問：どれか。\nB. 風邪\n{option.format(term)}\n{answer.format(term)}"
        assert _tokens_of(tok, prompt[:prompt.rindex("\n")], term) == _tokens_of(
            tok, prompt, term), term
    for text in ("A. 肝障害\n答え：肝障害", "English and 日本語 mixed:  二つ  spaces "):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def _with_class(src: Path, dst: Path, tokenizer_class: str) -> Path:
    shutil.copytree(src, dst)
    config_file = dst / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["tokenizer_class"] = tokenizer_class
    config_file.write_text(json.dumps(config), encoding="utf-8")
    return dst


def test_a_slow_class_transformers_rebuilds_is_refused(imported, test_corpus, tmp_path, capsys):
    # transformers 5 rebuilds LlamaTokenizer as a BPE from the vocabulary: a unigram
    # tokenizer.json is then encoded otherwise than it counts
    slow = _with_class(imported["unigram"][1], tmp_path / "llama-class", "LlamaTokenizer")
    with pytest.raises(TokenizerError, match="encodes the probe text") as err:
        load_counting_tokenizer(slow)
    assert str(slow) in str(err.value) and "tokenizer_class" in str(err.value)
    out = tmp_path / "counts.tsv"
    assert main(["count", "--source", str(test_corpus[0]), "--lang", "ja",
                 "--tokenizer", str(slow), "--out", str(out)]) == 2
    assert "encodes the probe text" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [slow]


def _save(tok, out: Path, **special) -> Path:
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=tok, **special).save_pretrained(str(out))
    return out


def _degenerate(kind: str, out: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    if kind == "tiny vocabulary":  # 3 tokens: every text encodes to nothing
        tok = Tokenizer(models.BPE(vocab={"<|endoftext|>": 0, "<pad>": 1, "a": 2}, merges=[]))
        return _save(tok, out, eos_token="<|endoftext|>", pad_token="<pad>")
    vocab = {"<|endoftext|>": 0, "<unk>": 1, **{f"w{i}": i + 2 for i in range(200)}}
    if kind == "no tokens":  # 202 tokens no text uses, no unknown token: all dropped
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        return _save(tok, out, eos_token="<|endoftext|>")
    if kind == "unknown only":
        tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        return _save(tok, out, eos_token="<|endoftext|>", unk_token="<unk>")
    train_tokenizer(JA + EN, out, vocab_size=300, min_frequency=1)  # "no EOS"
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("eos_token")
    (out / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return out


@pytest.mark.parametrize(("kind", "phrase"), [
    ("tiny vocabulary", "3 tokens in its vocabulary"),
    ("no tokens", "encodes to no tokens"),
    ("unknown only", "encodes to the unknown token only"),
    ("no EOS", "eos_token"),
])
def test_a_degenerate_tokenizer_is_refused(kind, phrase, test_corpus, tmp_path, capsys):
    tok = _degenerate(kind, tmp_path / "tok")
    with pytest.raises(TokenizerError, match=phrase) as err:
        load_counting_tokenizer(tok)
    assert str(tok) in str(err.value)
    out = tmp_path / "counts.tsv"
    assert main(["count", "--source", str(test_corpus[0]), "--lang", "ja",
                 "--tokenizer", str(tok), "--out", str(out)]) == 2
    assert phrase in capsys.readouterr().err and not out.exists()


def test_cli_import_verifies_on_a_corpus(sp_models, test_corpus, tmp_path, capsys):
    out = tmp_path / "tok"
    assert main(["tokenizer", "import", "--sentencepiece", str(sp_models["bpe"]),
                 "--out", str(out), "--corpus", str(test_corpus[0])]) == 0
    n = len(test_corpus[1])
    assert f"on {len(PROBE)} probe and {n} corpus texts" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["import.json", "sentencepiece.model",
                                                     "tokenizer.json", "tokenizer_config.json"]
    record = json.loads((out / "import.json").read_text(encoding="utf-8"))
    assert record["sentencepiece_sha256"] == sha256_file(sp_models["bpe"])
    assert (out / "sentencepiece.model").read_bytes() == sp_models["bpe"].read_bytes()


def test_import_refuses_an_inexact_conversion(sp_models, tmp_path, capsys):
    # A literal "</s>" in the text: the fast tokenizer matches its special token, while
    # sentencepiece spells it out. Not exact: refused, nothing written.
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "投与した。"},
                                                {"id": "b", "text": "end of text </s> here"}])
    out = tmp_path / "tok"
    assert main(["tokenizer", "import", "--sentencepiece", str(sp_models["unigram"]),
                 "--out", str(out), "--corpus", str(corpus)]) == 2
    err = capsys.readouterr().err
    assert "not exact" in err and "end of text </s> here" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_import_refuses_a_file_that_is_no_sentencepiece_model(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"\x00\xffnot a model" * 10)
    with pytest.raises(TokenizerError, match="not a SentencePiece model"):
        import_sentencepiece(bad, tmp_path / "tok")
    assert not (tmp_path / "tok").exists()


@pytest.mark.parametrize(("options", "phrase"), [
    ({"model_type": "char"}, "a SentencePiece char model; only unigram and BPE"),
    ({"model_type": "unigram", "eos_id": -1}, "defines no EOS piece"),
])
def test_import_refuses_models_it_cannot_make_exact(options, phrase, sp_models, tmp_path):
    import sentencepiece as spm

    train = sp_models["unigram"].parent / "train.txt"
    spm.SentencePieceTrainer.train(input=str(train), model_prefix=str(tmp_path / "m"),
                                   vocab_size=300, minloglevel=2, num_threads=1, **options)
    with pytest.raises(TokenizerError, match=phrase) as err:
        import_sentencepiece(tmp_path / "m.model", tmp_path / "tok")
    assert str(tmp_path / "m.model") in str(err.value) and not (tmp_path / "tok").exists()


# --- counting with sentencepiece -------------------------------------------------------------

# Texts that spell out one of tokenizer.json's added tokens: transformers (what training
# reads) matches them as the special token, sentencepiece spells them out in pieces.
SPELLED = ["end of text </s> here", "<s>投与した。", "an <unk> marker", "心筋梗塞</s>の患者"]


@pytest.fixture(scope="session")
def spelled_corpus(test_corpus, tmp_path_factory):
    texts = test_corpus[1] + SPELLED
    d = tmp_path_factory.mktemp("spelled")
    path = write_jsonl(d / "c.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    return path, texts


@pytest.mark.parametrize("kind", ["unigram", "bpe", "unigram-identity"])
def test_sentencepiece_counts_what_tokenizer_json_counts(kind, sp_models, imported,
                                                         spelled_corpus, tmp_path, caplog):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    out = imported[kind][1]
    path, texts = spelled_corpus
    with_sp = load_counting_tokenizer(out, threads=2)
    with_json = load_counting_tokenizer(out, sentencepiece=False)
    assert (with_sp.engine, with_sp.threads, with_json.engine) == ("sentencepiece", 2,
                                                                    "tokenizers")
    # what training and evaluation read: transformers over tokenizer.json
    hf = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    truth = hf(texts, add_special_tokens=False)["input_ids"]
    assert with_sp.encode_batch(texts) == with_json.encode_batch(texts) == truth
    assert with_sp.lengths(texts) == [len(ids) for ids in truth]
    # control: sentencepiece alone differs exactly on the spelled-out texts, which are
    # therefore encoded by tokenizer.json
    raw = spm.SentencePieceProcessor(model_file=str(sp_models[kind])).encode(texts)
    assert [t for t, a, b in zip(texts, raw, truth, strict=True) if a != b] == SPELLED
    assert with_sp.stats["tokenizer_json_texts"] == 2 * len(SPELLED)  # two calls above
    with_sp.report("the calls above")  # and the counts start again
    with caplog.at_level("INFO", logger="cptmix.corpus.tokenizer"):
        a = count_source(path, "ja", with_sp, tmp_path / "sp.tsv")
    b = count_source(path, "ja", with_json, tmp_path / "json.tsv")
    assert (tmp_path / "sp.tsv").read_bytes() == (tmp_path / "json.tsv").read_bytes()
    assert a == b and a["tokens"] == sum(map(len, truth))
    assert f"(sentencepiece, 2 threads): {len(texts) - len(SPELLED)} texts; {len(SPELLED)} " \
           f"texts that spell out" in caplog.text


def test_sentencepiece_indexes_what_tokenizer_json_indexes(imported, spelled_corpus, tmp_path):
    pytest.importorskip("megatron.core")
    from cptmix.corpus.indexed import index_source

    out = imported["unigram"][1]
    path = spelled_corpus[0]
    files = {}
    for engine in (True, False):
        tok = load_counting_tokenizer(out, sentencepiece=engine)
        prefix = tmp_path / tok.engine / "tokens"
        index_source(path, "ja", out, prefix, progress=False, tokenizer=tok, chunk_docs=100)
        files[tok.engine] = [prefix.with_suffix(s).read_bytes() for s in (".bin", ".idx")]
    assert files["sentencepiece"] == files["tokenizers"]
    assert index_source(path, "ja", out, tmp_path / "auto" / "tokens", progress=False)[
        "text_tokens"] == sum(load_counting_tokenizer(out).lengths(spelled_corpus[1]))
    with pytest.raises(ValueError, match="not from tokenizer_dir"):
        index_source(path, "ja", imported["bpe"][1], tmp_path / "x" / "tokens",
                     tokenizer=load_counting_tokenizer(out))


def test_a_directory_without_its_model_counts_with_tokenizer_json(imported, spelled_corpus,
                                                                  tmp_path, caplog):
    copy = tmp_path / "tok"
    shutil.copytree(imported["unigram"][1], copy)
    (copy / "sentencepiece.model").unlink()
    with caplog.at_level("INFO", logger="cptmix.corpus.tokenizer"):
        tok = load_counting_tokenizer(copy)
    assert tok.engine == "tokenizers" and "no sentencepiece.model" in caplog.text
    texts = spelled_corpus[1]
    assert tok.encode_batch(texts) == load_counting_tokenizer(imported["unigram"][1]) \
        .encode_batch(texts)


def _tamper(kind: str, d: Path, other_model: Path) -> Path:
    record_file = d / "import.json"
    if kind == "model changed":
        data = bytearray((d / "sentencepiece.model").read_bytes())
        data[-1] ^= 1
        (d / "sentencepiece.model").write_bytes(bytes(data))
        return d / "sentencepiece.model"
    if kind == "tokenizer.json changed":  # the same tokenizer, written otherwise
        file = d / "tokenizer.json"
        file.write_text(json.dumps(json.loads(file.read_text(encoding="utf-8"))),
                        encoding="utf-8")
        return file
    if kind == "another model, its sha256 recorded":
        shutil.copyfile(other_model, d / "sentencepiece.model")
        record = json.loads(record_file.read_text(encoding="utf-8"))
        record["sentencepiece_sha256"] = sha256_file(other_model)
        record_file.write_text(json.dumps(record), encoding="utf-8")
        return d / "sentencepiece.model"
    record_file.write_text("{not json", encoding="utf-8")  # "import.json unreadable"
    return record_file


@pytest.mark.parametrize(("kind", "phrase"), [
    ("model changed", "is not the sentencepiece_sha256"),
    ("tokenizer.json changed", "is not the tokenizer_sha256"),
    ("another model, its sha256 recorded", "sentencepiece encodes the probe text"),
    ("import.json unreadable", "not readable JSON"),
])
def test_a_tampered_import_is_refused(kind, phrase, imported, sp_models, test_corpus, tmp_path,
                                      capsys):
    copy = tmp_path / "tok"
    shutil.copytree(imported["unigram"][1], copy)
    file = _tamper(kind, copy, sp_models["bpe"])
    load_counting_tokenizer(copy, sentencepiece=False)  # tokenizer.json alone still counts
    with pytest.raises(TokenizerError, match=phrase) as err:
        load_counting_tokenizer(copy)
    assert str(file) in str(err.value)
    out = tmp_path / "counts.tsv"
    assert main(["count", "--source", str(test_corpus[0]), "--lang", "ja",
                 "--tokenizer", str(copy), "--out", str(out)]) == 2
    assert phrase in capsys.readouterr().err and not out.exists()


def test_threads_default_to_the_jobs(monkeypatch, imported):
    monkeypatch.setenv("RAYON_NUM_THREADS", "3")
    assert default_threads() == 3
    assert load_counting_tokenizer(imported["unigram"][1]).threads == 3
    for value in ("", "0", "many"):
        monkeypatch.setenv("RAYON_NUM_THREADS", value)
        assert default_threads() == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        load_counting_tokenizer(imported["unigram"][1], threads=0)


def test_chunks_start_small_and_keep_order():
    docs = [{"text": "x" * (i % 7)} for i in range(1000)]
    sizes = [len(c) for c in chunks(docs, max_docs=300)]
    assert sizes == [64, 128, 256, 300, 252]
    assert [len(c) for c in chunks(docs, max_docs=7)][:3] == [7, 7, 7]
    assert [d for c in chunks(docs, max_docs=300) for d in c] == docs
    # 0 + 1 + ... + 6 = 21 characters every 7 documents: 100 reached at the 35th (105)
    assert [len(c) for c in chunks(docs, max_docs=300, max_chars=100)][:2] == [35, 35]
