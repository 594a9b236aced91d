"""cptmix.demo: the synthetic bilingual medical world (sources, JMedBench sets, SFT, audit)."""

from __future__ import annotations

import copy
import csv
import json
import re
from collections import Counter

import pytest

from cptmix.demo import DEFAULT_WORLD, generate_world
from cptmix.demo.names import katakana
from cptmix.demo.sources import EVERYDAY_EVERY, REVIEW_PER_DOC
from cptmix.demo.templates import research_pairs
from cptmix.demo.translate import NoisyTranslator
from cptmix.demo.world import EXCLUDE, ROLES
from cptmix.tasks import DC, JA, MCQA, MT, NER, STS, TASKS, get_task, prompt_and_target

SMALL = {
    "seed": 11, "n_diseases": 12, "n_drugs": 12, "n_genes": 8, "mt_noise": 0.2,
    "eval_items": 8, "sft_items": 6,
    "docs": {"general": 60, "ja_base": 30, "en_base": 30, "pmc_en": 30,
             "parallel_abstracts": 20, "textbooks": 12},
    "review_questions": {"en_base": 20, "ja_base": 16},
}
SOURCES = ("general", "ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts",
           "textbooks")
BUILT = ("pmc_ja_mt", "parallel_abstracts")  # made from the world's raw inputs (cptmix.prepare)
KANA = re.compile(r"[\u3040-\u30ff]")
LATIN = re.compile(r"[A-Za-z]")


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _sentences(text: str) -> list[str]:
    """Split English and Japanese text into sentences (and lines)."""
    return [s for s in re.split(r"(?<=。)|(?<=[.?])\s+|\n", text) if s and s.strip()]


def build_from_world(cfg, out, built):
    """What the demo DAG builds from the world's raw inputs (cptmix.prepare, as prepare.smk's rules
    do): pmc_ja_mt (noisy translator, 2 shards), parallel_abstracts and the SFT set."""
    from cptmix.corpus.tokenizer import train_tokenizer
    from cptmix.prepare.parallel import build_parallel
    from cptmix.prepare.sft import build_sft
    from cptmix.prepare.translate import NoisyBackend, merge_shards, translate_shard

    backend = NoisyBackend(cfg)
    for k in range(2):
        translate_shard(out / "sources" / "pmc_en.jsonl", built / f"mt-{k}.jsonl", backend,
                        shard=k, n_shards=2, id_suffix="-ja", provenance_path=built / f"mt-{k}.json")
    merge_shards([built / f"mt-{k}.jsonl" for k in range(2)],
                 [built / f"mt-{k}.json" for k in range(2)], built / "pmc_ja_mt.jsonl",
                 built / "pmc_ja_mt.provenance.json")
    build_parallel(built / "parallel_abstracts.jsonl", seed=cfg["seed"],
                   pairs=out / "parallel" / "abstract_pairs.jsonl")
    train_tokenizer([json.loads(x)["text"] for x in (out / "sources" / "general.jsonl")
                     .read_text(encoding="utf-8").splitlines()], built / "tokenizer", 400)
    build_sft({"jmedbench_train": {"format": "jmedbench", "path": str(out / "sft_sources")}},
              eval_data_dir=out / "jmedbench", tokenizer=built / "tokenizer",
              out_jsonl=built / "sft.jsonl", stats_tsv=built / "sft_stats.tsv",
              contamination_tsv=built / "contamination.tsv", removed_jsonl=built / "removed.jsonl")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(SMALL, out)
    built = tmp_path_factory.mktemp("built")
    build_from_world(SMALL, out, built)
    audit = json.loads((out / "world.json").read_text(encoding="utf-8"))
    entities = {e["id"]: e for ents in audit["entities"].values() for e in ents}
    sources = {s: _read_jsonl((built if s in BUILT else out / "sources") / f"{s}.jsonl")
               for s in SOURCES}
    tests = {t.name: _read_jsonl(out / "jmedbench" / t.folder / "test.jsonl") for t in TASKS}
    sft = _read_jsonl(built / "sft.jsonl")
    return {"out": out, "audit": audit, "entities": entities, "sources": sources,
            "tests": tests, "sft": sft}


def _names(world, fact, lang):
    return [world["entities"][eid][lang] for eid in fact["args"].values()]


# --- determinism and files ---------------------------------------------------------------------

def _snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_config_gives_byte_identical_files(tmp_path, world):
    generate_world(copy.deepcopy(SMALL), tmp_path / "again")
    assert _snapshot(tmp_path / "again") == _snapshot(world["out"])


def test_another_seed_gives_another_world(tmp_path, world):
    generate_world({**SMALL, "seed": SMALL["seed"] + 1}, tmp_path / "other")
    assert _snapshot(tmp_path / "other") != _snapshot(world["out"])


def test_expected_files_are_written(world):
    out = world["out"]
    folders = {t.folder for t in TASKS}
    assert len(folders) == 26  # EJMMT's one folder serves both directions
    for folder in folders:
        assert (out / "jmedbench" / folder / "test.jsonl").is_file()
    for name in ("parallel/abstract_pairs.jsonl", "planted_effects.tsv", "world.json"):
        assert (out / name).is_file()
    for folder in folders:
        assert (out / "sft_sources" / folder / "train.jsonl").is_file()
    assert not (out / "sources" / "pmc_ja_mt.jsonl").exists(), "built by the translate rule"


# --- sources ---------------------------------------------------------------------------------

def test_sources_have_the_configured_documents_and_languages(world):
    src = world["sources"]
    for name in SOURCES:
        docs = src[name]
        want = SMALL["docs"]["pmc_en" if name == "pmc_ja_mt" else name]
        want += -(-SMALL["review_questions"].get(name, 0) // REVIEW_PER_DOC)
        if name == "ja_base":  # plus its everyday notes
            want += max(1, SMALL["docs"]["ja_base"] // EVERYDAY_EVERY)
        assert len(docs) == want, name
        assert len({d["id"] for d in docs}) == len(docs), f"{name}: duplicate ids"
        for d in docs:
            assert set(d) == {"id", "text", "lang"} and d["text"].strip()
    assert {d["lang"] for d in src["ja_base"] + src["textbooks"] + src["pmc_ja_mt"]} == {"ja"}
    assert {d["lang"] for d in src["en_base"] + src["pmc_en"]} == {"en"}
    assert {d["lang"] for d in src["parallel_abstracts"]} == {"parallel"}
    langs = [d["lang"] for d in src["general"]]
    assert abs(langs.count("en") - langs.count("ja")) <= 1 and "parallel" in langs
    for d in src["ja_base"] + src["textbooks"]:
        # (but for the option letters of med-eval's prompt in the review questions: "A. ...")
        text = re.sub(r"(?m)^[A-E]\. ", "", d["text"])
        assert " " not in text, "Japanese text is written without spaces"


def test_general_text_names_every_entity_but_states_no_fact(world):
    text = "\n".join(d["text"] for d in world["sources"]["general"])
    for e in world["entities"].values():
        if e["type"] in ("disease", "drug", "gene"):
            assert e["en"] in text and e["ja"] in text, e
    sentences = [s for d in world["sources"]["general"] for s in _sentences(d["text"])]
    for fact in world["audit"]["facts"]:
        for lang in ("en", "ja"):
            names = _names(world, fact, lang)
            assert not any(all(n in s for n in names) for s in sentences), fact["id"]


def test_pmc_ja_mt_translates_each_pmc_en_document(world):
    en, ja = world["sources"]["pmc_en"], world["sources"]["pmc_ja_mt"]
    assert [d["id"] + "-ja" for d in en] == [d["id"] for d in ja]
    for e, j in zip(en, ja, strict=True):
        assert len(e["text"].split("\n")) == len(j["text"].split("\n"))
        assert KANA.search(j["text"])
    assert world["audit"]["translator"]["unmatched_sentences"] == 0


def test_parallel_abstracts_interleave_both_languages(world):
    orders = set()
    for d in world["sources"]["parallel_abstracts"]:
        lines = d["text"].split("\n")
        assert len(lines) % 2 == 0
        for a, b in zip(lines[::2], lines[1::2], strict=True):
            assert bool(KANA.search(a)) != bool(KANA.search(b)), "one line of each language"
            orders.add(bool(KANA.search(a)))
    assert orders == {True, False}, "the language order is drawn at random"


def test_pmc_facts_reach_japanese_only_through_mt_parallel_and_textbooks(world):
    mt = "\n".join(d["text"] for d in world["sources"]["pmc_ja_mt"])
    ja_base = [s for d in world["sources"]["ja_base"] for s in _sentences(d["text"])]
    pmc = [f for f in world["audit"]["facts"] if f["tier"] == "pmc"]
    assert pmc
    for fact in pmc:
        names = _names(world, fact, "ja")
        assert all(n in mt for n in names), fact["id"]
        assert fact["statements"].get("pmc_en", 0) >= 2
        assert not any(all(n in s for n in names) for s in ja_base), fact["id"]
        assert "ja_base" not in fact["statements"] and "en_base" not in fact["statements"]


def test_japan_local_facts_are_stated_only_in_japanese(world):
    english = [s for name in ("en_base", "pmc_en", "parallel_abstracts")
               for d in world["sources"][name] for s in _sentences(d["text"])
               if not KANA.search(s)]
    ja_base = "\n".join(d["text"] for d in world["sources"]["ja_base"])
    for fact in world["audit"]["facts"]:
        if fact["tier"] != "jp":
            continue
        en_names = _names(world, fact, "en")
        assert not any(all(n in s for n in en_names) for s in english), fact["id"]
        assert set(fact["statements"]) <= {"ja_base", "textbooks"}
        assert fact["statements"]["textbooks"] >= 1, "textbooks state every one"
        assert (fact["statements"].get("ja_base", 0) >= 1) == fact["in_ja_base"]
        if fact["in_ja_base"]:
            assert any(all(n in s for n in _names(world, fact, "ja"))
                       for s in _sentences(ja_base))


def test_ja_base_states_part_of_the_japan_local_facts_textbooks_all(world):
    """IgakuQA's textbooks effect: ja_base (every mixture) states about half of the
    evaluation-split Japan-local facts, so only a mixture with textbooks can know the rest;
    it states every SFT-split one (its review questions practise them)."""
    jp = [f for f in world["audit"]["facts"] if f["tier"] == "jp"]
    evals = [f for f in jp if f["split"] == "eval"]
    assert all(f["in_textbooks"] for f in jp)
    assert all(f["in_ja_base"] for f in jp if f["split"] == "sft")
    share = sum(f["in_ja_base"] for f in evals) / len(evals)
    assert 0.3 <= share <= 0.7, share


def test_textbooks_state_the_tnm_rule(world):
    text = "\n".join(d["text"] for d in world["sources"]["textbooks"])
    assert "長径3cm以下はT1" in text
    others = "\n".join(d["text"] for s in ("general", "ja_base", "pmc_ja_mt")
                       for d in world["sources"][s])
    assert "T1" not in others


# --- the translator -----------------------------------------------------------------------------

LEXICON = {"drug": {"Velostatin": "ヴェロスタチン", "Koramab": "コラマブ"},
           "disease": {"Karsen disease": "カルセン病", "Tobi anemia": "トビ貧血"},
           "heading": {"Results": "結果"}}
PAIRS = [("{drug} is an effective treatment for {disease}.",
          "{drug}は{disease}に有効な治療薬である。"),
         ("A total of {n} patients with {disease} were enrolled.",
          "{disease}患者{n}例を登録した。")]
TEXT = ("Results\nVelostatin is an effective treatment for Karsen disease. "
        "A total of 120 patients with Tobi anemia were enrolled.")


def test_translator_without_noise_is_clean():
    tr = NoisyTranslator(PAIRS, LEXICON, noise=0.0, seed=1)
    assert tr.translate(TEXT, "d1") == ("結果\nヴェロスタチンはカルセン病に有効な治療薬である。"
                                        "トビ貧血患者120例を登録した。")
    assert tr.unmatched == 0 and sum(tr.errors.values()) == 0


def test_translator_noise_is_seeded_per_document():
    tr = NoisyTranslator(PAIRS, LEXICON, noise=1.0, seed=1)
    a = tr.translate(TEXT, "d1")
    assert a == tr.translate(TEXT, "d1")
    assert "ヴェロスタチンはカルセン病" not in a  # every term goes wrong at noise 1
    assert sum(tr.errors.values()) == 2 * 4  # 4 terms (heading, drug, 2 diseases) per call
    outputs = {tr.translate(TEXT, f"doc{i}") for i in range(20)}
    assert len(outputs) > 1


def test_translator_counts_sentences_it_cannot_parse():
    tr = NoisyTranslator(PAIRS, LEXICON)
    assert tr.translate("Velostatin was stored cold.", "x") == "ヴェロスタチン was stored cold."
    assert tr.unmatched == 1


def test_translator_knows_every_research_template():
    lexicon = {"drug": {"Velostatin": "ヴェロスタチン"},
               "disease": {"Karsen disease": "カルセン病"}, "gene": {"TAVE3": "TAVE3"},
               "symptom": {"fever": "発熱"},
               "ae": {"insomnia": "不眠"}, "design": {"case-control study": "症例対照研究"},
               "country": {"Korea": "韓国"}, "endpoint": {"mortality": "死亡率"},
               "sample": {"Blood samples": "血液検体"}}
    values = {k: next(iter(v)) for k, v in lexicon.items()}
    values.update(n="12", months="6", age="50", pct="3")
    tr = NoisyTranslator(research_pairs(), lexicon)
    for en, ja in research_pairs():
        ja_values = {k: lexicon[k][v] if k in lexicon else v for k, v in values.items()}
        assert tr.translate(en.format(**values), "x") == ja.format(**ja_values), en
    assert tr.unmatched == 0


def test_mt_noise_changes_pmc_ja_mt_only(tmp_path):
    cfg = {**SMALL, "docs": {**SMALL["docs"], "general": 10, "pmc_en": 10}}
    generate_world({**cfg, "mt_noise": 0.0}, tmp_path / "clean")
    generate_world({**cfg, "mt_noise": 0.5}, tmp_path / "noisy")
    clean, noisy = _snapshot(tmp_path / "clean"), _snapshot(tmp_path / "noisy")
    changed = {k for k in clean if clean[k] != noisy[k]}
    assert changed == {"world.json"}  # the translator's outputs are built (cptmix.prepare)
    from cptmix.prepare.translate import NoisyBackend, translate_shard

    for name, noise in (("clean", 0.0), ("noisy", 0.5)):
        translate_shard(tmp_path / name / "sources" / "pmc_en.jsonl",
                        tmp_path / name / "pmc_ja_mt.jsonl", NoisyBackend({**cfg, "mt_noise": noise}),
                        shard=0, n_shards=1, id_suffix="-ja")
    clean_mt = (tmp_path / "clean" / "pmc_ja_mt.jsonl").read_text(encoding="utf-8")
    assert clean_mt != (tmp_path / "noisy" / "pmc_ja_mt.jsonl").read_text(encoding="utf-8")
    # Without noise every English term is translated: only gene symbols stay in Latin letters.
    genes = json.loads(clean["world.json"])["entities"]["gene"]
    for d in map(json.loads, clean_mt.splitlines()):
        text = d["text"]
        for g in genes:
            text = text.replace(g["ja"], "")
        assert not LATIN.search(text), d["id"]


# --- JMedBench test sets --------------------------------------------------------------------

FIELDS = {
    MCQA: {"sample_id", "question", "options", "answer_idx", "n_options", "metadata"},
    DC: {"sample_id", "premise", "hypothesis", "label", "n_label", "metadata"},
    STS: {"sample_id", "premise", "hypothesis", "label", "n_label", "metadata"},
    MT: {"sample_id", "english", "japanese"},
    NER: {"sample_id", "text", "labels", "entity_type"},
}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_every_task_has_well_formed_records(world, task):
    records = world["tests"][task.name]
    assert len(records) == SMALL["eval_items"]
    assert len({r["sample_id"] for r in records}) == len(records)
    for r in records:
        assert set(r) == FIELDS[task.category]
        if task.category == MCQA:
            assert r["n_options"] == len(r["options"]) == len(set(r["options"]))
            assert 0 <= r["answer_idx"] < r["n_options"]
            assert len(r["question"]) < 200
            is_ja = bool(KANA.search(r["question"]))
            assert is_ja == (task.language == "Japanese")
        elif task.category in (DC, STS):
            assert r["n_label"] == len(task.labels)
            assert 0 <= r["label"] < r["n_label"]
        elif task.category == NER:
            assert r["entity_type"] == task.instruction and len(r["text"]) < 120
            assert r["labels"] == ["none"] or all(label in r["text"] for label in r["labels"])
        elif task.category == MT:
            assert LATIN.search(r["english"]) and KANA.search(r["japanese"])
        prompt, target = prompt_and_target(task, r)
        # med-eval appends options and translations directly, grades and entities after a space
        assert prompt and target.strip() and target.startswith(" ") == (task.category in (STS,
                                                                                          NER))


def test_mcqa_option_counts(world):
    assert {r["n_options"] for r in world["tests"]["MedQA"]} == {5}
    assert {r["n_options"] for r in world["tests"]["USMLEQA"]} == {4}
    assert {tuple(r["options"]) for r in world["tests"]["PubMedQA"]} == {("yes", "no", "maybe")}


def test_mcqa_answers_follow_the_facts(world):
    facts = {f["id"]: f for f in world["audit"]["facts"]}
    roles = {"treats": "drug", "gene": "gene", "symptom": "symptom", "ae": "ae",
             "jp_first_line": "drug", "jp_region": "region", "jp_coverage": "program"}
    answers = {"treats": 0, "trial_null": 1, "trial_maybe": 2}
    positions = set()
    for task in TASKS:
        if task.category != MCQA:
            continue
        lang = "en" if task.language == "English" else "ja"
        for r in world["tests"][task.name]:
            fact = facts[r["metadata"]["fact"]]
            assert fact["split"] == "eval"
            if task.name.startswith("PubMedQA"):
                assert r["answer_idx"] == answers[fact["kind"]]
                continue
            positions.add(r["answer_idx"])
            role = roles[fact["kind"]]
            assert r["options"][r["answer_idx"]] == world["entities"][fact["args"][role]][lang]
            # No distractor is also a right answer (e.g. the other treatment of the disease).
            subject = next(v for k, v in fact["args"].items() if k != role)
            related = {f["args"][roles[f["kind"]]] for f in facts.values()
                       if f["kind"] in roles and subject in f["args"].values()
                       and roles[f["kind"]] == role}
            right = {world["entities"][eid][lang] for eid in related}
            wrong = [o for i, o in enumerate(r["options"]) if i != r["answer_idx"]]
            assert not right & set(wrong), (task.name, r["sample_id"])
    assert len(positions) > 2, "answer positions are drawn at random"


def test_tasks_lean_on_the_designed_fact_tiers(world):
    def tiers(name):
        return [r["metadata"]["tier"] for r in world["tests"][name]]

    assert set(tiers("IgakuQA")) == {"jp"}
    assert tiers("IgakuQA") == tiers("IgakuQA-En")  # one is the other's translation
    assert tiers("MedQA").count("pmc") > tiers("MMLU-Medical").count("pmc")
    assert tiers("MMLU-Medical").count("base") > len(tiers("MMLU-Medical")) / 2
    assert set(tiers("PubMedQA")) == {"pmc"}


def test_ner_labels_are_all_the_entities_of_the_asked_type(world):
    types = {"BC2GM-Jp": {"gene"}, "JNLPBA-Jp": {"gene"}, "BC5Chem-Jp": {"drug", "chemical"},
             "BC5Disease-Jp": {"disease", "common"}, "NCBI-Disease-Jp": {"disease", "common"},
             "MRNER-Disease": {"complaint"}, "MRNER-Medicine": {"drug"},
             "NRNER": {"symptom", "drug"}}
    for name, wanted in types.items():
        names = [e["ja"] for e in world["entities"].values() if e["type"] in wanted]
        n_empty = 0
        for r in world["tests"][name]:
            present = [n for n in names if n in r["text"]]
            negated = [n for n in present
                       if re.search(re.escape(n) + "(は認めなかった|はなかった|なし)", r["text"])]
            labels = [] if r["labels"] == ["none"] else r["labels"]  # JMedBench's "no entity"
            assert "none" not in labels, r
            assert sorted(labels) == sorted(set(present) - set(negated)), r
            assert labels == sorted(labels, key=r["text"].index)
            n_empty += not labels
        assert n_empty < len(world["tests"][name])


def test_classification_labels_follow_their_rules(world):
    for r in world["tests"]["RRTNM"]:
        size = float(re.search(r"長径([\d.]+)cm", r["premise"]).group(1))
        assert r["label"] == sum(size > t for t in (3, 5, 7))
    facts = {f["id"]: f for f in world["audit"]["facts"]}
    for r in world["tests"]["CRADE"]:
        known_ae = world["entities"][facts[r["metadata"]["fact"]]["args"]["ae"]]["ja"]
        assert (known_ae + "が出現") in r["premise"] or r["label"] in (0, 1)
        if r["label"] == 3:
            assert "再投与で再発" in r["premise"]
    sts = world["tests"]["JCSTS"]
    assert all(r["label"] == len(r["metadata"]["shared"]) for r in sts)
    assert len({r["label"] for r in sts}) > 2


# --- SFT ----------------------------------------------------------------------------------------

def test_sft_examples_cover_every_task_and_never_repeat_a_test_prompt(world):
    sft = world["sft"]
    assert len({ex["id"] for ex in sft}) == len(sft)
    eval_prompts = {prompt_and_target(t, r)[0] for t in TASKS for r in world["tests"][t.name]}
    assert not eval_prompts & {ex["prompt"] for ex in sft}
    assert {ex["task"] for ex in sft} == {t.name for t in TASKS}
    for ex in sft:
        assert set(ex) == {"id", "source", "task", "prompt", "response"}
        assert ex["response"].strip()
        get_task(ex["task"])


def test_sft_mcqa_asks_about_other_facts_than_the_tests(world):
    test_questions = {r["question"] for t in TASKS if t.category == MCQA
                      for r in world["tests"][t.name]}
    sft_questions = {re.split(r": |：", ex["prompt"].split("\n")[0], maxsplit=1)[1]
                     for ex in world["sft"]
                     if get_task(ex["task"]).category == MCQA}
    assert sft_questions and not sft_questions & test_questions


def _review_questions(world, source):
    """(question line, options, answer) of every review question in `source`."""
    out = []
    for d in world["sources"][source]:
        if d["id"].startswith(("enr-", "jar-")):
            for block in d["text"].split("\n", 1)[1].split("\n\n"):
                lines = block.split("\n")
                out.append((lines[0], [re.sub(r"^[A-E]\. ", "", x) for x in lines[1:-1]],
                            re.split(r"Answer: |答え：", lines[-1], maxsplit=1)[1]))
    return out


@pytest.fixture(scope="module")
def review_world(tmp_path_factory):
    """The default world's sizes (its review pools), without the text the test does not read."""
    cfg = copy.deepcopy(DEFAULT_WORLD)
    cfg["docs"].update(general=10, pmc_en=10, parallel_abstracts=10, textbooks=10)
    out = tmp_path_factory.mktemp("review")
    generate_world(cfg, out)
    audit = json.loads((out / "world.json").read_text(encoding="utf-8"))
    return {"cfg": cfg, "audit": audit,
            "entities": {e["id"]: e for ents in audit["entities"].values() for e in ents},
            "sources": {s: _read_jsonl(out / "sources" / f"{s}.jsonl")
                        for s in ("en_base", "ja_base")}}


@pytest.mark.parametrize("source, lang", [("en_base", "en"), ("ja_base", "ja")])
def test_review_questions_ask_only_sft_facts_the_source_states(review_world, source, lang):
    world = review_world
    questions = _review_questions(world, source)
    assert len(questions) == world["cfg"]["review_questions"][source]
    facts = world["audit"]["facts"]
    asked = set()
    for question, options, answer in questions:
        assert question.startswith("Question: " if lang == "en" else "質問："), question
        assert answer in options and len(set(options)) == len(options) >= 2
        fact = [f for f in facts if world["entities"][_subject(f)][lang] in question
                and world["entities"][f["args"][_object_role(f)]][lang] == answer]
        assert len(fact) == 1, (question, answer)
        fact = fact[0]
        assert fact["split"] == "sft", "never an evaluation fact"
        assert fact["statements"].get(source, 0) >= 1, "a fact the source states"
        asked.add(fact["id"])
        # no option is another answer linked to the question's subject
        linked = {world["entities"][f["args"][_object_role(f)]][lang] for f in facts
                  if _subject(f) == _subject(fact) and f is not fact
                  and f["kind"] in EXCLUDE[fact["kind"]]}
        assert not linked & set(options), question
    assert len(asked) == len({f["id"] for f in facts if f["split"] == "sft"
                              and f["statements"].get(source, 0) >= 1
                              and (source == "ja_base" or f["tier"] == "base")}), "all asked"
    # every kind the source states is practised equally often
    per_kind = Counter(f["kind"] for q, _, a in questions for f in facts
                       if f["id"] in asked and world["entities"][_subject(f)][lang] in q
                       and world["entities"][f["args"][_object_role(f)]][lang] == a)
    assert max(per_kind.values()) - min(per_kind.values()) <= 1, per_kind
    # distractors are the review's own answers: no entity is offered that never answers
    answers = Counter(a for _, _, a in questions)
    offered = Counter(o for _, opts, a in questions for o in opts if o != a)
    assert set(offered) <= set(answers)


def _subject(fact):
    return fact["args"][ROLES[fact["kind"]][0]]


def _object_role(fact):
    return ROLES[fact["kind"]][1]


def test_review_questions_change_no_other_file(tmp_path, world):
    generate_world({**copy.deepcopy(SMALL), "review_questions": {}}, tmp_path)
    again, first = _snapshot(tmp_path), _snapshot(world["out"])
    changed = {k for k in first if again.get(k) != first[k]}
    assert changed == {"sources/en_base.jsonl", "sources/ja_base.jsonl", "world.json"}
    for name in ("en_base", "ja_base"):
        plain = _read_jsonl(tmp_path / "sources" / f"{name}.jsonl")
        assert plain == world["sources"][name][:len(plain)], "appended after the source"


# --- planted effects, audit, config --------------------------------------------------------------

def test_planted_effects_are_data_on_named_sources(world):
    from cptmix.analyze.columns import STATISTICS
    from cptmix.demo.planted import SOURCES as PLANTED_SOURCES

    with open(world["out"] / "planted_effects.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0]) == ["task", "expected_sign", "driver_sources", "held_sources",
                             "statistic", "rationale"]
    assert sorted(r["task"] for r in rows) == sorted(t.name for t in TASKS)
    # Every mixture source except "general" (pre-training only) may drive an effect.
    assert set(PLANTED_SOURCES) == set(SOURCES) - {"general"}
    for r in rows:
        assert r["expected_sign"] in ("+", "-", "0"), r
        drivers = [d for d in r["driver_sources"].split(",") if d]
        assert set(drivers) <= set(PLANTED_SOURCES), r
        assert r["statistic"] in ("", *STATISTICS), r
        assert bool(drivers) == (r["expected_sign"] != "0") == bool(r["statistic"]), r
        assert r["rationale"].strip()
        # the base sources of the task's language(s), held whole by every declared mixture
        held = r["held_sources"].split(",")
        language = next(t.language for t in TASKS if t.name == r["task"])
        assert held == (["ja_base", "en_base"] if r["task"] in ("IgakuQA-En", "EJMMT-Ja",
                                                                 "EJMMT-En")
                        else ["ja_base"] if language == JA else ["en_base"]), r
        assert not set(held) & set(drivers), r
    by_task = {r["task"]: r for r in rows}
    assert by_task["RRTNM"]["driver_sources"] == "textbooks"
    assert "pmc_ja_mt" in by_task["MedQA-Jp"]["driver_sources"].split(",")
    assert by_task["MedQA"]["driver_sources"] == "pmc_en"
    assert sum(r["expected_sign"] == "0" for r in rows) == 3


# --- answer priors ---------------------------------------------------------------------------

# A world large enough for stable shares (the balance does not depend on the text sources).
BALANCE_WORLD = {**SMALL, "n_diseases": 48, "n_drugs": 48, "n_genes": 32, "eval_items": 120,
                 "sft_items": 40}
# Tolerances: gold and distractor options are SFT targets equally often (within 5 % of the
# larger mean, 0.03 in the never-a-target share) and each entity is a distractor in
# proportion to how often it is the answer (total variation <= 0.05).
SFT_TOL, NEVER_TOL, TV_TOL = 0.05, 0.03, 0.05


def _balance_records(tmp_path):
    from cptmix.demo.balance import read_world_records

    cfg = {**BALANCE_WORLD, "docs": {k: 4 for k in SMALL["docs"]}}
    generate_world(cfg, tmp_path)
    return read_world_records(tmp_path)


def _imbalances(rows):
    bad = []
    for r in rows:
        if "entity_tv" in r:
            if abs(r["gold_sft"] - r["distractor_sft"]) > SFT_TOL * max(r["gold_sft"],
                                                                       r["distractor_sft"], 1):
                bad.append((r["task"], "sft"))
            if abs(r["gold_never"] - r["distractor_never"]) > NEVER_TOL:
                bad.append((r["task"], "never"))
            if r["entity_tv"] > TV_TOL:
                bad.append((r["task"], "tv"))
        elif max(r["eval_label_tv"], r["sft_label_tv"]) > TV_TOL:
            bad.append((r["task"], "labels"))
    return bad


def test_no_answer_prior_separates_gold_from_distractors(tmp_path):
    from cptmix.demo.balance import answer_balance

    tests, train = _balance_records(tmp_path)
    rows = answer_balance(tests, train)
    assert {r["task"] for r in rows} == {t.name for t in TASKS
                                         if t.category in (MCQA, DC, STS)}
    assert sum("entity_tv" in r for r in rows) == 11  # MCQA with entity options
    assert _imbalances(rows) == []
    # SFT's own MCQA distractors are dealt the same way.
    assert _imbalances([r for r in answer_balance(train, train) if "entity_tv" in r]) == []


def test_balance_check_catches_a_biased_distractor_draw(tmp_path):
    """Control: distractors drawn from the entities that are never SFT targets (the bias of
    the first demo world, exaggerated) fail the check."""
    import random

    from cptmix.demo.balance import answer_balance

    tests, train = _balance_records(tmp_path)
    targets = {prompt_and_target(t, r)[1].strip() for t in TASKS for r in train[t.name]}
    rng = random.Random(0)
    for task in TASKS:
        if task.category != MCQA or task.name.startswith("PubMedQA"):
            continue
        pool = sorted({o for r in tests[task.name] for o in r["options"]})
        never = [o for o in pool if o not in targets]
        for r in tests[task.name]:
            gold = r["options"][r["answer_idx"]]
            wrong = rng.sample([o for o in never if o != gold], r["n_options"] - 1)
            r["options"] = [*wrong[:r["answer_idx"]], gold, *wrong[r["answer_idx"]:]]
    bad = _imbalances(answer_balance(tests, train))
    assert {task for task, _ in bad} >= {"MedQA", "MedQA-Jp", "USMLEQA", "MMLU-Medical"}


def test_distractors_come_from_the_gold_answers_tier(tmp_path):
    """Every distractor is a name from the same tier as the gold answer (the sources that
    mention the options are the same), so no mixture can prefer the answer by having read
    its name; control: distractors dealt across tiers (the world before) fail."""
    import random

    from cptmix.demo.balance import object_tiers, tier_mixing

    tests, _ = _balance_records(tmp_path)
    tiers = object_tiers(tmp_path / "world.json")
    mixing = tier_mixing(tests, tiers)
    # <= 2 %: the rare conflict that no swap within the tier repairs takes another valid name
    assert len(mixing) == 11 and max(mixing.values()) <= 0.02, mixing
    rng = random.Random(0)
    for name in ("MedQA", "USMLEQA", "MedMCQA", "MMLU-Medical"):
        pool = sorted({o for r in tests[name] for o in r["options"]})
        for r in tests[name]:
            gold = r["options"][r["answer_idx"]]
            wrong = rng.sample([o for o in pool if o != gold], len(r["options"]) - 1)
            r["options"] = [*wrong[:r["answer_idx"]], gold, *wrong[r["answer_idx"]:]]
    crossed = tier_mixing(tests, tiers)
    assert min(crossed[n] for n in ("MedQA", "USMLEQA", "MedMCQA", "MMLU-Medical")) > 0.2


def test_ner_sft_names_are_disjoint_from_every_test_name(world):
    from cptmix.demo.evalsets import NER_FAMILIES

    ner = {spec["task"] for spec in NER_FAMILIES.values()}
    invented = {e["ja"] for e in world["entities"].values()
                if e["type"] in ("disease", "drug", "gene")}
    sft_only = {e["ja"] for ents in world["audit"]["sft_ner_names"].values() for e in ents}
    assert sft_only and not sft_only & invented
    sources = "\n".join(d["text"] for docs in world["sources"].values() for d in docs)
    assert not any(n in sources for n in sft_only), "SFT-only names appear in no source"
    test_labels = {lab for t in ner for r in world["tests"][t] for lab in r["labels"]}
    sft_labels = Counter(lab for ex in world["sft"] if ex["task"] in ner
                         for lab in ex["response"].strip().split(", "))
    invented_sft = {lab for lab in sft_labels if lab in sft_only}
    assert invented_sft and not (set(sft_labels) - {"none"}) & (test_labels & invented)
    # Too many names to memorise: each invented name is an SFT label a few times at most.
    assert max(sft_labels[n] for n in invented_sft) <= 6


def test_world_json_records_where_each_fact_is_stated(world):
    audit = world["audit"]
    assert audit["config"] == SMALL
    for f in audit["facts"]:
        assert f["split"] in ("eval", "sft") and f["tier"] in ("base", "pmc", "jp")
        primary = {"base": "en_base", "pmc": "pmc_en", "jp": "textbooks"}[f["tier"]]
        assert f["statements"].get(primary, 0) >= 1, f["id"]
    assert {f["split"] for f in audit["facts"] if f["kind"] == "treats"} == {"eval", "sft"}


@pytest.mark.parametrize("word, kana", [
    ("velorin", "ヴェロリン"), ("karsen", "カルセン"), ("statin", "スタチン"), ("tinib", "チニブ"),
    ("pril", "プリル"), ("dipin", "ディピン"), ("Aria", "アリア"), ("fomab", "フォマブ"),
])
def test_katakana_transliteration(word, kana):
    assert katakana(word) == kana


def test_katakana_rejects_letters_outside_the_syllable_table():
    with pytest.raises(ValueError, match="cannot transliterate"):
        katakana("xylo")


@pytest.mark.parametrize("mutate, error, match", [
    (lambda c: c.pop("mt_noise"), ValueError, "missing key"),
    (lambda c: c.update(mt_noise=1.5), ValueError, "world.mt_noise"),
    (lambda c: c.update(n_drugs="12"), TypeError, "world.n_drugs"),
    (lambda c: c.update(n_genes=2), ValueError, "world.n_genes"),
    (lambda c: c["docs"].pop("textbooks"), ValueError, "world.docs.textbooks"),
    (lambda c: c["docs"].update(wiki=3), ValueError, "world.docs.wiki"),
    (lambda c: c["docs"].update(pmc_ja_mt=7), ValueError, "world.docs.pmc_ja_mt"),
    (lambda c: c["review_questions"].update(textbooks=3), ValueError,
     "world.review_questions.textbooks"),
    (lambda c: c["review_questions"].update(en_base=-1), ValueError,
     "world.review_questions.en_base"),
    (lambda c: c.update(review_questions=[5]), TypeError, "world.review_questions"),
])
def test_bad_world_configs_name_the_key(tmp_path, mutate, error, match):
    cfg = copy.deepcopy(SMALL)
    mutate(cfg)
    with pytest.raises(error, match=match):
        generate_world(cfg, tmp_path)
    assert not any(tmp_path.iterdir())


def test_default_world_is_sized_as_designed(tmp_path):
    generate_world(copy.deepcopy(DEFAULT_WORLD), tmp_path)
    chars = {s: v["characters"] for s, v in
             json.loads((tmp_path / "world.json").read_text(encoding="utf-8"))["sources"].items()}
    assert 350_000 < chars["general"] < 450_000
    assert 250_000 < chars["pmc_en"] < 350_000
    for name in ("pmc_ja_mt", "parallel_abstracts", "textbooks"):
        assert 80_000 < chars[name] < 200_000, name
    for name in ("ja_base", "en_base"):  # with their 2000 review questions each
        assert 80_000 < chars[name] < 500_000, name
    # the pre-training text outweighs every source but the two that carry exam practice
    assert max((c, s) for s, c in chars.items() if s not in ("ja_base", "en_base"))[1] \
        == "general"


# --- planted "none" tasks ------------------------------------------------------------------

def test_none_tasks_read_only_words_no_added_source_writes(tmp_path):
    """The planted-"none" tasks (MRNER-Disease, SMDIS, JCSTS) are made of everyday words that
    ja_base (in every mixture whole) and the general text write and that no source a mixture
    adds (pmc_en and its translation, textbooks, parallel abstracts) writes, and of no
    fact-bearing name; control: the same world with one of those words written into a
    textbook, and one with a drug in a none task's item, fail the check."""
    from cptmix.demo.balance import ADDED_SOURCES, none_exposure, none_leaks

    cfg = {**SMALL, "docs": {**SMALL["docs"], "ja_base": 80, "general": 120}}
    generate_world(cfg, tmp_path)
    rows = none_exposure(tmp_path)
    assert {r["task"] for r in rows} == {"MRNER-Disease", "SMDIS", "JCSTS"}
    assert none_leaks(rows) == []
    # what the tasks ask is read: every everyday term is in ja_base's notes or general text
    assert all(r["ja_base"] + r["general"] > 0 for r in rows)
    assert {r["type"] for r in rows} >= {"complaint", "remedy", "common", "age", "course"}
    assert set(ADDED_SOURCES) <= set(rows[0])

    word = next(r["term"] for r in rows if r["type"] == "complaint")
    textbooks = tmp_path / "sources" / "textbooks.jsonl"
    docs = [json.loads(x) for x in textbooks.read_text(encoding="utf-8").splitlines()]
    docs[0]["text"] += f"{word}に注意する。"
    textbooks.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs),
                         encoding="utf-8")
    leaks = none_leaks(none_exposure(tmp_path))
    assert leaks and {r["term"] for r in leaks} == {word}
    assert all(r["textbooks"] == 1 for r in leaks)

    audit = json.loads((tmp_path / "world.json").read_text(encoding="utf-8"))
    drug = audit["entities"]["drug"][0]["ja"]
    smdis = tmp_path / "jmedbench" / "smdis" / "test.jsonl"
    items = [json.loads(x) for x in smdis.read_text(encoding="utf-8").splitlines()]
    items[0]["premise"] = f"{drug}のニュースを見た。"
    smdis.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items),
                     encoding="utf-8")
    assert any(r["term"] == drug and r["task"] == "SMDIS"
               for r in none_leaks(none_exposure(tmp_path)))
