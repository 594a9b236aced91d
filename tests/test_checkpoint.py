"""Checkpoint identity (`cptmix.train.resume`): fingerprints, their differences, the decision
to resume; and, through Snakemake itself, a CPT job killed, changed and rerun (slow).

The backends' own resume tests (crash -> rerun, new lr, new data, damaged checkpoint files)
are in tests/test_train.py (hf) and tests/test_megatron.py (megatron)."""

import hashlib
import json
import logging
import re

import pytest

from cptmix.corpus.sources import Source
from cptmix.train import resume


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hashes_of_files_directories_sources_and_models(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"x\n")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "b.bin").write_bytes(b"b")
    (tmp_path / "dir" / "sub" / "c.npy").write_bytes(b"c")
    assert resume.tree_hash(tmp_path / "a.jsonl") == _sha(b"x\n")
    listing = f"b.bin  {_sha(b'b')}\nsub/c.npy  {_sha(b'c')}\n"
    assert resume.tree_hash(tmp_path / "dir") == _sha(listing.encode())
    src = Source.from_path(tmp_path / "a.jsonl", "ja", name="ja_base")
    other = tmp_path / "o" / "a.jsonl"
    other.parent.mkdir()
    other.write_bytes(b"y\n")
    assert resume.data_hashes([src, tmp_path / "a.jsonl", other]) == {
        "ja_base": _sha(b"x\n"), "a.jsonl": _sha(b"x\n"), "a.jsonl#2": _sha(b"y\n")}
    model = tmp_path / "model"
    model.mkdir()
    for name, data in [("model.safetensors", b"w"), ("config.json", b"{}"),
                       ("tokenizer.json", b"t"), ("training.json", b"r"),
                       ("train_log.tsv", b"l")]:
        (model / name).write_bytes(data)
    # weights, config and tokenizer; not the run records beside them
    assert resume.model_hashes(model) == {"config.json": _sha(b"{}"),
                                          "model.safetensors": _sha(b"w"),
                                          "tokenizer.json": _sha(b"t")}
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'dir' / 'sub'}: no model or tokenizer"):
        resume.model_hashes(tmp_path / "dir" / "sub")


def _fp(**kw):
    base = {"backend": "hf", "mode": "cpt", "hp": {"lr": 0.001, "epochs": 1}, "seed": 1,
            "data": {"corpus.jsonl": "a" * 64}, "model": {"config.json": "b" * 64}}
    return resume.fingerprint(**{**base, **kw})


def test_fingerprint_is_plain_json_and_differences_name_old_and_new():
    fp = _fp(threads=2, software={"torch": "2.13.0"})
    assert json.loads(json.dumps(fp)) == fp
    assert fp["hyperparameters"] == {"epochs": 1, "lr": 0.001} and fp["seed"] == 1
    assert resume.differences(fp, fp) == []
    new = _fp(hp={"lr": 0.002, "epochs": 1, "max_steps": 5}, data={"corpus.jsonl": "c" * 64},
              threads=2, software={"torch": "2.14.0"})
    assert resume.differences(fp, new) == [
        f"data.corpus.jsonl: sha256:{'a' * 12} -> sha256:{'c' * 12}",
        "hyperparameters.lr: 0.001 -> 0.002",
        "hyperparameters.max_steps: (absent) -> 5",
        'software.torch: "2.13.0" -> "2.14.0"']


def _partial(tmp_path, fp, marker="state.json"):
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / marker).write_text("{}")
    if fp is not None:
        resume.write_fingerprint(partial, fp)
    return partial


def test_check_partial_resumes_only_an_exact_match(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    stale = tmp_path / ".none.partial.tmp-123"  # a checkpoint killed while being written
    stale.mkdir()
    assert resume.check_partial(tmp_path / "none.partial", _fp(), marker="state.json") is False
    assert not stale.exists()
    partial = _partial(tmp_path, _fp())
    assert resume.check_partial(partial, _fp(), marker="state.json") is True
    assert partial.is_dir() and caplog.text == ""
    assert resume.check_partial(partial, _fp(seed=2), marker="state.json") is False
    assert not partial.exists()
    assert caplog.records[-1].getMessage() == (
        f"{partial}: not resumed: the checkpoint is of a different run (seed: 1 -> 2); "
        f"checkpoint discarded, training starts over")


@pytest.mark.parametrize("setup, phrase", [
    (lambda p: (p / "fingerprint.json").unlink(),
     "not resumed: the checkpoint has no fingerprint.json (written by an older cptmix)"),
    (lambda p: (p / "fingerprint.json").write_text('{"seed": '),
     ("not resumed: unreadable checkpoint file {partial}/fingerprint.json: unreadable "
     "(JSONDecodeError: ")),
    (lambda p: (p / "fingerprint.json").write_text("[1]"),
     "not resumed: unreadable checkpoint file {partial}/fingerprint.json: not a JSON object"),
], ids=["older-cptmix", "invalid-json", "not-an-object"])
def test_check_partial_discards_what_it_cannot_match(tmp_path, caplog, setup, phrase):
    partial = _partial(tmp_path, _fp())
    setup(partial)
    caplog.set_level(logging.INFO)
    assert resume.check_partial(partial, _fp(), marker="state.json") is False
    assert not partial.exists()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"{partial}: " + phrase.format(partial=partial))
    assert line.endswith("; checkpoint discarded, training starts over")


def test_check_partial_removes_a_directory_without_a_complete_checkpoint(tmp_path, caplog):
    partial = _partial(tmp_path, None, marker="export")  # e.g. a killed export's staging
    caplog.set_level(logging.INFO)
    assert resume.check_partial(partial, _fp(), marker="latest.txt") is False
    assert not partial.exists() and "no complete checkpoint in it" in caplog.text


def test_read_part_and_read_state_name_the_file(tmp_path):
    with pytest.raises(resume.UnreadableCheckpoint, match=f"^{tmp_path}/x.pt: missing$"):
        resume.read_part(tmp_path / "x.pt", lambda p: p.read_bytes())
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"step": 2, "log": ["a", "b"]}))
    assert resume.read_state(state, total=5)["step"] == 2
    with pytest.raises(resume.UnreadableCheckpoint,
                       match=r"state.json: step 2 is not a checkpoint step of this run \(1..1\)"):
        resume.read_state(state, total=2)
    state.write_text(json.dumps({"step": 2, "log": ["a"]}))
    with pytest.raises(resume.UnreadableCheckpoint, match="log has 1 rows for step 2"):
        resume.read_state(state)


# --- through Snakemake: kill a train_cpt job, rerun it with a new lr or unchanged ---------------

@pytest.mark.slow
def test_a_killed_cpt_job_resumes_only_its_own_run(killed_cpt):
    """Snakemake itself (`studies.run_killed_cpt`, on the session study's upstream files, so
    only train_cpt runs): kill -> change train.cpt.lr -> rerun starts over and its log says
    why; kill -> rerun unchanged resumes (log says so) with the weights and log of the run
    that started over and went through uninterrupted, byte for byte."""
    run = killed_cpt
    # the only job planned: the study's files are up to date for this config
    assert re.search(r"^train_cpt\s+1\ntotal\s+1$", run.planned, re.MULTILINE), run.planned

    assert (f"{run.restart_partial}: not resumed: the checkpoint is of a different run "
            f"(hyperparameters.lr: 0.001 -> 0.002); checkpoint discarded, training starts "
            f"over") in run.restart_log, run.restart_log
    assert "resuming" not in run.restart_log
    assert run.restart_info["fingerprint"]["hyperparameters"]["lr"] == 2.0e-3
    new = [r.split("\t") for r in run.reference["train_log.tsv"].decode().splitlines()[1:]]
    old = [r.split("\t") for r in run.old_rows]  # the killed run of lr 1e-3
    # started over: the first step's loss is the old run's (the base model, the same first
    # batch), its lr the new one, and every loss after it differs (a resumed run would have
    # kept the old rows)
    assert new[0][3] == old[0][3] and float(new[0][2]) == pytest.approx(2 * float(old[0][2]))
    assert all(a[3] != b[3] for a, b in zip(new[1:len(old)], old[1:], strict=True))

    assert f"resuming from {run.resume_partial} at step" in run.resume_log, run.resume_log
    assert "discarded" not in run.resume_log
    assert run.resume_step >= 4 and run.resumed == run.reference
