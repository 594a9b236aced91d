"""cptmix.prepare: translation (noisy and HF engines, shards, resumption), parallel documents,
the SFT set and its contamination check."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from samples import write_jsonl
from studies import new_workdir

from cptmix.demo import generate_world
from cptmix.prepare.contamination import (
    ContaminationIndex,
    Item,
    jaccard,
    load_eval_items,
    naive_check,
    normalize,
    shingles,
)
from cptmix.prepare.parallel import build_parallel
from cptmix.prepare.sft import build_sft, chat_wrap
from cptmix.prepare.translate import (
    HFBackend,
    NoisyBackend,
    PerDocument,
    merge_shards,
    model_sha256,
    segment,
    shard_lines,
    translate_document,
    translate_shard,
)

ROOT = Path(__file__).resolve().parents[1]
WORLD = {"seed": 3, "n_diseases": 8, "n_drugs": 8, "n_genes": 6, "mt_noise": 0.3,
         "eval_items": 4, "sft_items": 4,
         "docs": {"general": 30, "ja_base": 10, "en_base": 10, "pmc_en": 12,
                  "parallel_abstracts": 8, "textbooks": 8}}


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(WORLD, out)
    return out


# --- segmentation -------------------------------------------------------------------------------

def test_segment_keeps_every_chunk_under_the_limit_and_loses_no_word():
    para = ("First sentence is here. " * 6 + "Averyveryverylongwordthatexceedsthelimit " * 2
            + "Last one?").strip()
    text = f"Title\n\n{para}"
    paragraphs = segment(text, 40)
    assert paragraphs[0] == ["Title"] and paragraphs[1] == [""]
    chunks = paragraphs[2]
    assert len(chunks) > 3 and all(0 < len(c) <= 40 for c in chunks)
    assert "".join(chunks).replace(" ", "") == para.replace(" ", "")


class _Echo(PerDocument):
    """An engine that upper-cases: reassembly is then checkable by eye."""

    def __init__(self):
        self.calls = []

    def translate(self, chunks, key):
        self.calls.append((key, list(chunks)))
        return [c.upper() for c in chunks]

    def fingerprint(self):
        return {"backend": "echo"}


def test_translate_document_reassembles_paragraphs_and_sentences():
    echo = _Echo()
    text, n = translate_document("a b. c d.\n\ne f.", "doc", echo, max_chars=5, target_lang="en")
    assert text == "A B. C D.\n\nE F." and n == 4
    ja, _ = translate_document("a b. c d.", "doc", echo, max_chars=5, target_lang="ja")
    assert ja == "A B.C D."  # Japanese joins sentences without a space


# --- noisy engine, shards, resumption --------------------------------------------------------------

def test_noisy_engine_equals_the_world_translator_whatever_the_shards_and_chunks(world, tmp_path):
    from cptmix.demo import templates
    from cptmix.demo.translate import NoisyTranslator
    from cptmix.demo.world import build_world

    reference = NoisyTranslator(templates.research_pairs(), build_world(WORLD).lexicon("ja"),
                                noise=WORLD["mt_noise"], seed=WORLD["seed"])
    src = world / "sources" / "pmc_en.jsonl"
    want = [reference.translate(d["text"], d["id"]) for d in _lines(src)]
    backend = NoisyBackend(WORLD)
    # Chunks are groups of whole sentences as long as no sentence exceeds max_chars (the
    # world's longest is under 100 characters); the noisy engine then matches them as usual.
    for n_shards, max_chars in ((1, 10_000), (3, 200), (7, 100)):
        parts = [tmp_path / f"{n_shards}-{k}.jsonl" for k in range(n_shards)]
        provs = [tmp_path / f"{n_shards}-{k}.json" for k in range(n_shards)]
        for k in range(n_shards):
            translate_shard(src, parts[k], backend, shard=k, n_shards=n_shards,
                            max_chars=max_chars, id_suffix="-ja", provenance_path=provs[k])
        merged = tmp_path / f"merged-{n_shards}.jsonl"
        merge_shards(parts, provs, merged, tmp_path / f"merged-{n_shards}.json")
        got = _lines(merged)
        assert [d["text"] for d in got] == want
        assert [d["id"] for d in got] == [d["id"] + "-ja" for d in _lines(src)]
        assert {d["lang"] for d in got} == {"ja"}
        prov = json.loads((tmp_path / f"merged-{n_shards}.json").read_text())
        assert prov["documents"] == len(want) and len(prov["shards"]) == n_shards
        assert prov["engine"]["backend"] == "noisy"


@pytest.mark.parametrize("n_shards", [1, 2, 5, 40])
def test_shards_partition_the_lines_in_order(tmp_path, n_shards):
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": "x" * (i % 7 + 1)}
                                               for i in range(23)])
    lines = [line for k in range(n_shards) for _, line in shard_lines(path, k, n_shards)]
    assert lines == path.read_bytes().splitlines(keepends=True)


class _Crash(_Echo):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def translate(self, chunks, key):
        if len(self.calls) == self.after:
            raise RuntimeError("node lost")
        return super().translate(chunks, key)


def test_an_interrupted_shard_resumes_after_its_last_complete_document(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": f"doc {i}. more."}
                                              for i in range(6)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="node lost"):
        translate_shard(src, out, _Crash(after=4), shard=0, n_shards=1)
    assert not out.exists(), "no output until the shard is complete"
    partial = tmp_path / "out.jsonl.partial"
    partial.write_bytes(partial.read_bytes() + b'{"id": "d4", "te')  # a line cut by the crash
    engine = _Echo()
    translate_shard(src, out, engine, shard=0, n_shards=1)
    assert [k for k, _ in engine.calls] == ["d4", "d5"]
    translate_shard(src, tmp_path / "fresh.jsonl", _Echo(), shard=0, n_shards=1)
    assert out.read_bytes() == (tmp_path / "fresh.jsonl").read_bytes()
    assert not partial.exists()


def test_changed_settings_start_a_shard_over(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": "a."} for i in range(3)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        translate_shard(src, out, _Crash(after=2), shard=0, n_shards=1)
    engine = _Echo()
    translate_shard(src, out, engine, shard=0, n_shards=1, max_chars=50)  # other settings
    assert [k for k, _ in engine.calls] == ["d0", "d1", "d2"]


@pytest.mark.parametrize("record, field", [
    ({"id": "a"}, "text"),
    ({"id": 3, "text": "x"}, "id"),
])
def test_bad_translate_input_names_file_and_field(tmp_path, record, field):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "ok", "text": "fine."}, record])
    with pytest.raises(ValueError, match=rf"in\.jsonl: record at byte \d+.*'{field}'"):
        translate_shard(src, tmp_path / "out.jsonl", _Echo(), shard=0, n_shards=1)
    assert not (tmp_path / "out.jsonl").exists()


def test_noisy_engine_needs_the_world_config():
    with pytest.raises(ValueError, match="world"):
        NoisyBackend(None)


# --- HF engine on CPU with tiny random models --------------------------------------------------

@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory):
    """A 1-layer, d_model-32 T5 (seq2seq) with a BPE tokenizer trained here."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["The patient has a fever.", "患者は発熱している。"] * 10,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel
                                                .alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=1,
                      num_decoder_layers=1, num_heads=2, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    out = tmp_path_factory.mktemp("tiny_t5")
    T5ForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def _hf_run(model_dir, tmp_path, name, **kw):
    src = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "p1", "text": "The patient has a fever.\nIt resolved. " + "Long text. " * 12,
         "lang": "en"},
        {"id": "p2", "text": "Insulin is used.\n\nEnd.", "lang": "en"}])
    engine = HFBackend(model_dir, max_new_tokens=6, batch_size=3, device="cpu", **kw)
    prov = translate_shard(src, tmp_path / f"{name}.jsonl", engine, shard=0, n_shards=1,
                           max_chars=40, provenance_path=tmp_path / f"{name}.json")
    return _lines(tmp_path / f"{name}.jsonl"), prov


@pytest.mark.parametrize("kind, beams", [("seq2seq", 1), ("seq2seq", 2), ("causal", 1)])
def test_hf_engine_translates_chunk_by_chunk_deterministically(kind, beams, tiny_t5_dir,
                                                              tiny_model_dir, tmp_path):
    model_dir = tiny_t5_dir if kind == "seq2seq" else tiny_model_dir
    template = None if kind == "seq2seq" else "英語: {text}\n日本語:"
    first, prov = _hf_run(model_dir, tmp_path, "a", num_beams=beams, prompt_template=template)
    again, _ = _hf_run(model_dir, tmp_path, "b", num_beams=beams, prompt_template=template)
    assert first == again
    assert [d["id"] for d in first] == ["p1", "p2"] and {d["lang"] for d in first} == {"ja"}
    # Paragraphs survive reassembly (the empty one stays empty); the long one was split.
    assert [len(d["text"].split("\n")) for d in first] == [2, 3]
    assert first[1]["text"].split("\n")[1] == ""
    assert prov["chunks_translated"] > 5
    assert prov["engine"]["model_sha256"] == model_sha256(model_dir)
    assert prov["engine"]["kind"] == kind and prov["engine"]["num_beams"] == beams


def test_hf_engine_refuses_non_safetensors_and_template_less_causal_lms(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="prompt_template"):
        HFBackend(tiny_model_dir, device="cpu")
    pt_only = tmp_path / "pt"
    shutil.copytree(tiny_model_dir, pt_only)
    for f in pt_only.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        HFBackend(pt_only, prompt_template="{text}", device="cpu")
    with pytest.raises(FileNotFoundError, match="config.json"):
        HFBackend(tmp_path / "nowhere", device="cpu")


# --- parallel documents ------------------------------------------------------------------------

def test_parallel_interleaves_each_paragraph_pair_in_a_seeded_order(tmp_path):
    pairs = [{"id": f"a{i}", "en": "\n".join(f"E{i}-{p}" for p in range(6)),
              "ja": "\n".join(f"J{i}-{p}" for p in range(6))} for i in range(10)]
    src = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    counts = build_parallel(tmp_path / "out.jsonl", seed=1, pairs=src)
    assert counts == {"documents": 10, "paragraphs": 60}
    docs = _lines(tmp_path / "out.jsonl")
    orders = set()
    for i, d in enumerate(docs):
        lines = d["text"].split("\n")
        assert d["lang"] == "parallel" and len(lines) == 12
        for p, (a, b) in enumerate(zip(lines[::2], lines[1::2], strict=True)):
            assert {a, b} == {f"E{i}-{p}", f"J{i}-{p}"}
            orders.add(a[0])
    assert orders == {"E", "J"}
    # The order of a document depends on the seed and its id only, not on its neighbours.
    write_jsonl(tmp_path / "one.jsonl", pairs[3:4])
    build_parallel(tmp_path / "one_out.jsonl", seed=1, pairs=tmp_path / "one.jsonl")
    assert _lines(tmp_path / "one_out.jsonl")[0] == docs[3]
    build_parallel(tmp_path / "other.jsonl", seed=2, pairs=src)
    assert _lines(tmp_path / "other.jsonl") != docs


def test_parallel_from_two_sources_paired_by_id(tmp_path):
    en = write_jsonl(tmp_path / "en.jsonl", [{"id": "x", "text": "A\nB"}])
    ja = write_jsonl(tmp_path / "ja.jsonl", [{"id": "x-ja", "text": "あ\nい"}])
    build_parallel(tmp_path / "out.jsonl", seed=0, en=en, ja=ja, ja_id_suffix="-ja")
    assert sorted(_lines(tmp_path / "out.jsonl")[0]["text"].split("\n")) == ["A", "B", "あ", "い"]
    with pytest.raises(ValueError, match=r"en\.jsonl: record 1: field 'id': no Japanese"):
        build_parallel(tmp_path / "bad.jsonl", seed=0, en=en, ja=ja)


@pytest.mark.parametrize("record, match", [
    ({"id": "a", "en": "A\nB", "ja": "あ"}, r"record 1 \(id 'a'\): 2 English paragraphs but 1"),
    ({"id": "a", "en": "A"}, r"record 1: field 'ja'"),
])
def test_parallel_bad_pairs_name_file_record_and_field(tmp_path, record, match):
    src = write_jsonl(tmp_path / "pairs.jsonl", [record])
    with pytest.raises(ValueError, match=match):
        build_parallel(tmp_path / "out.jsonl", seed=0, pairs=src)
    assert not (tmp_path / "out.jsonl").exists()


# --- contamination ---------------------------------------------------------------------------

Q_EXACT = "日本でメク脳炎の医療費を助成する制度はどれか。"
Q_NEAR = "In Japan, which public program covers the medical costs of Karsen nephritis in adults?"
Q_MISS = "In Japan, which public program covers the dental costs of Karsen nephritis in children?"
OPTIONS = ["自立支援医療", "指定難病医療費助成", "介護保険の特定疾病"]


def _mcqa(sid, question, options=OPTIONS, answer=1):
    return {"sample_id": sid, "question": question, "options": options, "answer_idx": answer,
            "n_options": len(options), "metadata": {}}


@pytest.fixture()
def eval_dir(tmp_path):
    d = tmp_path / "jmedbench"
    write_jsonl(d / "igakuqa" / "test.jsonl", [_mcqa("iq-1", Q_EXACT), _mcqa("iq-2", "別の質問。")])
    near_eval = Q_NEAR.replace(" the medical", " medical")  # the SFT item adds one word
    write_jsonl(d / "medqa" / "test.jsonl", [
        _mcqa("mq-1", near_eval, ["amlodipine", "insulin", "metformin"]),
        _mcqa("mq-2", "Which gene is linked to Velorin syndrome?", ["VELR1", "TAVE3", "KOR2"])])
    write_jsonl(d / "bc2gm_jp" / "test.jsonl", [{"text": "TAVE3の変異を認めた。", "labels": ["TAVE3"],
                                                "entity_type": "gene"}])
    return d


def test_planted_duplicates_are_removed_and_the_near_miss_kept(eval_dir, tmp_path):
    ev = load_eval_items(eval_dir, ["IgakuQA", "MedQA", "BC2GM-Jp"])
    assert len(ev) == 5
    near_content = f"{Q_NEAR}\namlodipine\ninsulin\nmetformin"
    miss_content = f"{Q_MISS}\namlodipine\ninsulin\nmetformin"
    sft = [
        # exact after NFKC (full-width letters/digits), case and whitespace normalisation
        Item("exact", "  " + "\n\n".join([Q_EXACT, *OPTIONS]) + " \t", "s"),
        Item("near", near_content, "s"),
        Item("miss", miss_content, "s"),
        Item("case", "WHICH GENE IS LINKED TO ＶＥＬＯＲＩＮ syndrome?\nvelr1\nTAVE3\nKOR2", "s"),
        Item("other", "全く関係のない質問です。\nA\nB", "s"),
    ]
    index = ContaminationIndex(ev, ngram=5, threshold=0.8)
    hits = {h.sft_id: h for h in index.check(sft, {"s": None})}
    assert set(hits) == {"exact", "near", "case"}
    assert hits["exact"].kind == "exact" and hits["exact"].eval_id == "IgakuQA/iq-1"
    assert hits["case"].kind == "exact" and hits["case"].task == "MedQA"
    assert hits["near"].kind == "near" and hits["near"].eval_id == "MedQA/mq-1"
    # The near-miss really is close, yet below the threshold: kept, not a MinHash artefact.
    miss_sim = jaccard(shingles(normalize(miss_content), 5), index.sets[2])
    assert 0.5 < miss_sim < 0.8 <= hits["near"].similarity
    assert naive_check(sft, ev, 5, 0.8) == set(hits)


def test_contamination_is_checked_only_against_the_configured_tasks(eval_dir):
    ev = load_eval_items(eval_dir, ["IgakuQA", "MedQA", "BC2GM-Jp"])
    index = ContaminationIndex(ev, ngram=5, threshold=0.8)
    items = [Item("a", "\n".join([Q_EXACT, *OPTIONS]), "exam"),
             Item("b", "Which gene is linked to Velorin syndrome?\nVELR1\nTAVE3\nKOR2", "exam"),
             Item("c", "\n".join([Q_EXACT, *OPTIONS]), "unchecked")]
    hits = index.check(items, {"exam": {"IgakuQA"}})
    assert [h.sft_id for h in hits] == ["a"]


def test_lsh_agrees_with_the_pairwise_baseline_on_random_text():
    rng = random.Random(0)
    alphabet = "あいうえおかきくけこabcdefgh "
    base = ["".join(rng.choice(alphabet) for _ in range(rng.randint(20, 80))) for _ in range(150)]
    ev = [Item(f"e{i}", t, "MedQA") for i, t in enumerate(base)]

    def mutate(t, k):
        t = list(t)
        for _ in range(k):
            t[rng.randrange(len(t))] = rng.choice(alphabet)
        return "".join(t)

    sft = [Item(f"s{i}", mutate(rng.choice(base), rng.choice([0, 1, 2, 4, 8, 30])), "s")
           for i in range(300)]
    for threshold in (0.6, 0.8, 0.9):
        index = ContaminationIndex(ev, ngram=4, threshold=threshold)
        got = {h.sft_id for h in index.check(sft, {"s": None})}
        assert got == naive_check(sft, ev, 4, threshold)
        assert 0 < len(got) < len(sft)


# --- the SFT set ----------------------------------------------------------------------------------

@pytest.fixture()
def sft_inputs(tmp_path, eval_dir, tiny_model_dir):
    train = tmp_path / "train"
    write_jsonl(train / "igakuqa" / "train.jsonl",
                [_mcqa("t-1", Q_EXACT), _mcqa("t-2", "日本で新しい制度を問う問題はどれか。")])
    write_jsonl(train / "medqa" / "train.jsonl",
                [_mcqa("t-3", Q_NEAR, ["amlodipine", "insulin", "metformin"]),
                 _mcqa("t-4", Q_MISS, ["amlodipine", "insulin", "metformin"])])
    inst = write_jsonl(tmp_path / "inst.jsonl", [
        {"id": "i1", "instruction": "要約せよ。", "input": "本文", "output": "要約"},
        {"id": "i2", "instruction": "要約せよ。", "input": "本文", "output": "別の要約"},  # dup
        {"id": "i3", "instruction": "Which gene is linked to Velorin syndrome?",
         "input": "VELR1\nTAVE3\nKOR2", "output": "VELR1"}])
    sources = {
        "qa": {"format": "jmedbench", "path": str(train)},
        "general": {"format": "instruction", "path": str(inst),
                    "prompt_template": "{instruction}\n{input}", "response_template": "{output}"},
    }
    paths = {k: tmp_path / "out" / f"{k}" for k in ("sft.jsonl", "stats.tsv", "cont.tsv",
                                                    "removed.jsonl")}
    return sources, eval_dir, tiny_model_dir, paths


def _build(sources, eval_dir, tok, paths, **kw):
    return build_sft(sources, eval_data_dir=eval_dir, tokenizer=tok, out_jsonl=paths["sft.jsonl"],
                     stats_tsv=paths["stats.tsv"], contamination_tsv=paths["cont.tsv"],
                     removed_jsonl=paths["removed.jsonl"],
                     eval_tasks=["IgakuQA", "MedQA", "BC2GM-Jp"], threshold=0.8, **kw)


def test_build_sft_dedups_decontaminates_and_counts(sft_inputs):
    import pandas as pd

    sources, eval_dir, tok, paths = sft_inputs
    stats = _build(sources, eval_dir, tok, paths)
    out = _lines(paths["sft.jsonl"])
    assert [ex["id"] for ex in out] == ["qa:IgakuQA:t-2", "qa:MedQA:t-4", "general:i1"]
    assert out[2]["prompt"] == "要約せよ。\n本文" and out[2]["response"] == "要約"
    assert stats["qa"]["contaminated"] == 2 and stats["general"]["duplicates"] == 1
    assert stats["general"]["contaminated"] == 1  # i3 restates MedQA's mq-2 as free text
    assert stats["qa"]["examples"] == 2 and stats["qa"]["tokens"] > 0
    removed = {r["sft_id"]: r for r in _lines(paths["removed.jsonl"])}
    assert removed["qa:IgakuQA:t-1"]["kind"] == "exact"
    assert removed["qa:MedQA:t-3"]["kind"] == "near"
    table = pd.read_csv(paths["cont.tsv"], sep="\t")
    assert len(table) == 2 * 3  # every source × task
    by = table.set_index(["source", "task"])["removed"]
    assert by["qa", "IgakuQA"] == 1 and by["qa", "MedQA"] == 1 and by["general", "MedQA"] == 1
    first = {p: Path(paths[p]).read_bytes() for p in paths}
    _build(sources, eval_dir, tok, paths)
    assert first == {p: Path(paths[p]).read_bytes() for p in paths}, "deterministic"


def test_build_sft_check_can_be_turned_off_per_source(sft_inputs):
    sources, eval_dir, tok, paths = sft_inputs
    sources["qa"]["contamination"] = {"check": False}
    stats = _build(sources, eval_dir, tok, paths)
    assert stats["qa"]["contaminated"] == 0 and stats["qa"]["examples"] == 4


@pytest.mark.parametrize("mutate, error, match", [
    (lambda s, p: s["general"].update(prompt_template="{instruction}\n{missing}"), ValueError,
     r"inst\.jsonl:1: missing field 'missing'"),
    (lambda s, p: s["general"].update(format="csv"), ValueError, r"sft\.sources\.general\.format"),
    (lambda s, p: s["general"].update(path=str(p / "nowhere.jsonl")), FileNotFoundError,
     r"sft\.sources\.general\.path"),
    (lambda s, p: write_jsonl(Path(s["qa"]["path"]) / "medqa" / "train.jsonl",
                              [{"sample_id": "x", "question": "q", "options": ["a"]}]),
     ValueError, r"MedQA: .*train\.jsonl, line 1.*'answer_idx'"),
])
def test_build_sft_bad_inputs_name_file_and_field(sft_inputs, tmp_path, mutate, error, match):
    sources, eval_dir, tok, paths = sft_inputs
    mutate(sources, tmp_path)
    with pytest.raises(error, match=match):
        _build(sources, eval_dir, tok, paths)
    assert not any(p.exists() for p in paths.values())


def test_chat_template_wraps_prompts_when_the_tokenizer_has_one(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert chat_wrap(tok, "質問", "auto") == "質問"
    with pytest.raises(ValueError, match="no chat template"):
        chat_wrap(tok, "質問", "always")
    tok.chat_template = "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}<bot>"
    assert chat_wrap(tok, "質問", "auto") == "<user>質問</user><bot>"
    assert chat_wrap(tok, "質問", "never") == "質問"


# --- workflow -------------------------------------------------------------------------------------

def test_dry_run_plans_one_job_per_translation_shard(tmp_path):
    new_workdir(tmp_path)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile",
           str(ROOT / "Snakefile"), "--directory", str(tmp_path), "-n",
           "results/prepare/sft/train.jsonl", "results/prepare/parallel/parallel_abstracts.jsonl"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    counts = dict(line.split()[:2] for line in out.split("Job stats:")[1].splitlines()[3:]
                  if line.strip() and not line.startswith("total"))
    assert counts["translate_shard"] == "2" and counts["merge_translation"] == "1"
    assert counts["build_parallel"] == "1" and counts["build_sft"] == "1"
    for k in ("00000", "00001"):
        assert f"results/prepare/translate/pmc_ja_mt/shards/{k}.jsonl" in out


def test_ejmmt_records_are_translated_in_place_for_the_mt_source_check(world, tmp_path):
    """The appendix-B hypotheses: EJMMT records with `japanese` replaced by the engine's
    translation of `english`, paired with the references by sample_id."""
    from cptmix.evaluate.translation_quality import mt_quality

    refs = world / "jmedbench" / "ejmmt" / "test.jsonl"
    out = tmp_path / "hyp.jsonl"
    translate_shard(refs, out, NoisyBackend(WORLD), shard=0, n_shards=1, id_field="sample_id",
                    text_field="english", output_field="japanese")
    hyp, ref = _lines(out), _lines(refs)
    assert [h["sample_id"] for h in hyp] == [r["sample_id"] for r in ref]
    assert [h["english"] for h in hyp] == [r["english"] for r in ref]
    assert "lang" not in hyp[0]
    clean = tmp_path / "clean.jsonl"
    translate_shard(refs, clean, NoisyBackend({**WORLD, "mt_noise": 0.0}), shard=0, n_shards=1,
                    id_field="sample_id", text_field="english", output_field="japanese")
    assert _lines(clean) == ref, "without noise the engine reproduces the clean references"
    assert 0 < mt_quality(out, refs)["bleu"] < 1


def test_context_tells_apart_items_that_share_question_and_options():
    """Published PubMedQA / DC records repeat one question and option list; the passage in
    metadata["context"] is what makes an item, so it is part of the compared content."""
    from cptmix.prepare.contamination import record_content
    from cptmix.tasks import get_task

    q, opts = "この文書の疾患の病期はどれか。", ["I期", "II期", "III期"]
    a, b = ({**_mcqa(s, q, opts), "metadata": {"context": c}}
            for s, c in (("r1", "腫瘍径は2cmで転移なし。"), ("r2", "腫瘍径は6cmでリンパ節転移あり。")))
    task = get_task("RRTNM")
    assert record_content(task, a) != record_content(task, b)
    assert "腫瘍径は2cm" in record_content(task, a)
