"""cptmix.corpus.tokenizer: counting reads tokenizer.json with `tokenizers`, checked against
transformers on the probe; degenerate tokenizers refused; SentencePiece import exact.

SentencePiece models are trained here, in a few seconds, on generated bilingual text: a
unigram with byte fallback (as llm-jp publishes), a BPE with byte fallback, and a unigram with
identity normalisation (whitespace kept, the Llama convention)."""

from __future__ import annotations

import json
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
from cptmix.corpus.tokenizer import PROBE

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
    assert sorted(p.name for p in out.iterdir()) == ["import.json", "tokenizer.json",
                                                     "tokenizer_config.json"]


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
