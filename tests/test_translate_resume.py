"""cptmix.prepare.translate: a shard resumes its partial output only when it was made by
exactly this run (`resume_identity`), else it starts over and says why; an unreadable or
foreign partial is reported by path (and line) and discarded. The noisy engine is exact, so a
resumed shard must equal an uninterrupted one byte for byte."""

from __future__ import annotations

import json
import shutil

import pytest

from cptmix.demo import generate_world
from cptmix.prepare.translate import (
    HFBackend,
    NoisyBackend,
    model_sha256,
    resume_identity,
    translate_shard,
)

WORLD = {"seed": 3, "n_diseases": 8, "n_drugs": 8, "n_genes": 6, "mt_noise": 0.3,
         "eval_items": 4, "sft_items": 4,
         "docs": {"general": 30, "ja_base": 10, "en_base": 10, "pmc_en": 12,
                  "parallel_abstracts": 8, "textbooks": 8}}
LOGGER = "cptmix.prepare.translate"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(WORLD, out)
    return out / "sources" / "pmc_en.jsonl"


def _ids(path):
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


class Counting(NoisyBackend):
    """The noisy engine, recording which documents it translated; with `kill_after`, the
    job dies (an exception) when asked for the document after that many."""

    def __init__(self, world, kill_after=None):
        super().__init__(world)
        self.calls, self.kill_after = [], kill_after

    def translate(self, chunks, key):
        if self.kill_after is not None and len(self.calls) == self.kill_after:
            raise KeyboardInterrupt("killed")
        self.calls.append(key)
        return super().translate(chunks, key)


def _run(src, out, world=WORLD, **kw):
    engine = Counting(world)
    prov = translate_shard(src, out, engine, shard=0, n_shards=1, id_suffix="-ja",
                           provenance_path=out.with_suffix(".json"), **kw)
    return engine.calls, prov


def _killed(src, out, after, world=WORLD, **kw):
    """An interrupted run: `after` documents in the partial output, no output."""
    with pytest.raises(KeyboardInterrupt):
        translate_shard(src, out, Counting(world, kill_after=after), shard=0, n_shards=1,
                        id_suffix="-ja", provenance_path=out.with_suffix(".json"), **kw)
    partial = out.with_name(out.name + ".partial")
    assert not out.exists() and len(partial.read_bytes().splitlines()) == after
    return partial


def test_a_killed_shard_resumes_to_the_uninterrupted_output(source, tmp_path, caplog):
    ids = _ids(source)
    calls, _ = _run(source, tmp_path / "ref.jsonl")
    assert calls == ids and len(ids) == 12
    out = tmp_path / "out.jsonl"
    partial = _killed(source, out, after=7)
    # the kill also cut the 7th document's line in the middle
    raw = partial.read_bytes()
    partial.write_bytes(raw[:raw.rstrip(b"\n").rfind(b"\n") + 1 + 25])
    with caplog.at_level("INFO", logger=LOGGER):
        calls, prov = _run(source, out)
    assert "resuming shard 0: 6 of 12 documents already translated" in caplog.text
    assert calls == ids[6:] and prov["resumed_documents"] == 6
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert out.with_suffix(".json").read_bytes() == (tmp_path / "ref.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.jsonl", "ref.json",
                                                          "ref.jsonl"]


def _other_world(key, value):
    return {**WORLD, key: value}


@pytest.mark.parametrize(("change", "phrase"), [
    ({"max_chars": 120}, "fingerprint.max_chars: 400 -> 120"),
    ({"world": _other_world("mt_noise", 0.5)}, "fingerprint.engine.noise: 0.3 -> 0.5"),
    ({"world": _other_world("seed", 4)}, "fingerprint.engine.seed: 3 -> 4"),
    ({"target_lang": "en"}, 'fingerprint.target_lang: "ja" -> "en"'),
    ({"output_field": "text_ja"}, "fingerprint.fields"),
])
def test_a_changed_setting_starts_the_shard_over(change, phrase, source, tmp_path, caplog):
    ids = _ids(source)
    _run(source, tmp_path / "ref.jsonl", **change)  # uninterrupted, with the new setting
    out = tmp_path / "out.jsonl"
    _killed(source, out, after=5)  # with the old settings
    with caplog.at_level("INFO", logger=LOGGER):
        calls, prov = _run(source, out, **change)
    assert "made with other settings (" in caplog.text and phrase in caplog.text
    assert "the partial output is discarded and the shard starts over" in caplog.text
    assert calls == ids and prov["resumed_documents"] == 0
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def test_another_library_version_starts_the_shard_over(source, tmp_path, caplog):
    out = tmp_path / "out.jsonl"
    _killed(source, out, after=5)
    state = out.with_name("out.jsonl.partial.json")
    identity = json.loads(state.read_text(encoding="utf-8"))
    assert identity == resume_identity(identity["fingerprint"], NoisyBackend(WORLD))
    identity["software"]["cptmix"] = "0.0.1"
    state.write_text(json.dumps(identity), encoding="utf-8")
    with caplog.at_level("INFO", logger=LOGGER):
        calls, _ = _run(source, out)
    assert 'software.cptmix: "0.0.1" -> ' in caplog.text and calls == _ids(source)


def test_other_library_code_starts_the_shard_over(source, tmp_path, caplog, monkeypatch):
    """The code that translates (cptmix.code.module_hash of this module and what it imports)
    is part of a partial output's identity: changed code does not continue it."""
    from cptmix.prepare import translate

    out = tmp_path / "out.jsonl"
    _killed(source, out, after=5)
    state = json.loads(out.with_name("out.jsonl.partial.json").read_text(encoding="utf-8"))
    assert state["code"] == translate.module_hash("cptmix.prepare.translate")
    monkeypatch.setattr(translate, "module_hash", lambda module: "0" * 64)
    with caplog.at_level("INFO", logger=LOGGER):
        calls, _ = _run(source, out)
    assert f'made with other settings (code: "{state["code"]}" -> "{"0" * 64}")' in caplog.text
    assert calls == _ids(source)


def _corrupt(kind, partial, state):
    lines = partial.read_bytes().splitlines(keepends=True)
    if kind == "a line that is not JSON":
        lines[2] = b'{"id": "x", "text\n'
    elif kind == "invalid UTF-8":
        lines[1] = lines[1].replace(b"\"text\"", b"\"te\xffxt\"")
    elif kind == "a line without _source_id":
        rec = json.loads(lines[3])
        rec.pop("_source_id")
        lines[3] = (json.dumps(rec) + "\n").encode()
    elif kind == "documents of another input":
        lines[0], lines[1] = lines[1], lines[0]
    elif kind == "an unreadable state file":
        state.write_bytes(b'{"fingerprint": ')
    elif kind == "no state file":
        state.unlink()
    partial.write_bytes(b"".join(lines))


@pytest.mark.parametrize(("kind", "file", "phrase"), [
    ("a line that is not JSON", "partial", "line 3 is unreadable (JSONDecodeError"),
    ("invalid UTF-8", "partial", "line 2 is unreadable"),
    ("a line without _source_id", "partial", "line 4 is unreadable (KeyError"),
    ("documents of another input", "partial", ("line 1 is document 'pmc-00002', the input "
                                               "has 'pmc-00001'")),
    ("an unreadable state file", "state", "unreadable (JSONDecodeError"),
    ("no state file", "partial", "no out.jsonl.partial.json beside it"),
])
def test_an_unreadable_partial_is_reported_and_discarded(kind, file, phrase, source, tmp_path,
                                                         caplog):
    _run(source, tmp_path / "ref.jsonl")
    out = tmp_path / "out.jsonl"
    partial = _killed(source, out, after=5)
    state = out.with_name("out.jsonl.partial.json")
    _corrupt(kind, partial, state)
    with caplog.at_level("INFO", logger=LOGGER):
        calls, prov = _run(source, out)
    path = partial if file == "partial" else state
    assert f"{path}: " in caplog.text and phrase in caplog.text, caplog.text
    assert calls == _ids(source) and prov["resumed_documents"] == 0
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert not partial.exists() and not state.exists()


def test_the_model_hash_covers_what_translates(tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    digest = model_sha256(model)
    (model / "README.md").write_text("notes\n", encoding="utf-8")  # not read by the engine
    assert model_sha256(model) == digest
    for name, text in (("generation_config.json", '{"repetition_penalty": 1.3}'),
                       ("tokenizer_config.json", None)):
        file = model / name
        before = file.read_bytes() if file.exists() else None
        file.write_text(text or file.read_text(encoding="utf-8").replace("}", ', "x": 1}', 1),
                        encoding="utf-8")
        assert model_sha256(model) != digest, name
        if before is None:
            file.unlink()
        else:
            file.write_bytes(before)
        assert model_sha256(model) == digest


def test_an_hf_shard_resumes_only_with_the_same_batch_size(tiny_model_dir, tmp_path, caplog):
    template = "英語: {text}\n日本語:"

    class Killed(HFBackend):
        def translate_docs(self, docs):
            if self.kill:
                raise KeyboardInterrupt("killed")
            self.kill = True
            return super().translate_docs(docs)

    def engine(batch_size, cls=HFBackend):
        e = cls(tiny_model_dir, prompt_template=template, max_new_tokens=3,
                batch_size=batch_size, device="cpu")
        e.kill = False
        return e

    small = tmp_path / "in.jsonl"  # one chunk a document: two in the first batch, then killed
    small.write_text("".join(json.dumps({"id": f"d{i}", "text": text}) + "\n" for i, text in
                             enumerate(["The patient has a fever.", "Insulin is used.",
                                        "It resolved."])), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        translate_shard(small, out, engine(2, Killed), shard=0, n_shards=1)
    assert len(out.with_name("out.jsonl.partial").read_bytes().splitlines()) == 2
    with caplog.at_level("INFO", logger=LOGGER):
        prov = translate_shard(small, out, engine(3), shard=0, n_shards=1)
    assert "fingerprint.engine.batch_size: 2 -> 3" in caplog.text
    assert prov["resumed_documents"] == 0 and prov["engine"]["batch_size"] == 3
    # control: the same batch size resumes
    with pytest.raises(KeyboardInterrupt):
        translate_shard(small, out, engine(2, Killed), shard=0, n_shards=1)
    assert translate_shard(small, out, engine(2), shard=0, n_shards=1)["resumed_documents"] == 2
