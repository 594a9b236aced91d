"""Checkpoint identity (`cptmix.train.resume`): fingerprints, their differences, the decision
to resume; and, through Snakemake itself, a CPT job killed, changed and rerun (slow).

The backends' own resume tests (crash -> rerun, new lr, new data, damaged checkpoint files)
are in tests/test_train.py (hf) and tests/test_megatron.py (megatron)."""

import hashlib
import json
import logging
import re
import shutil

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

CPT = "results/models/cpt/EnJa-Base/seed-1234"
CPT_LOG = "results/logs/train_cpt/EnJa-Base/seed-1234.log"
# What train_cpt of EnJa-Base needs, as the session's study made it (train.cpt is not among
# their inputs or params): the world, translations, tokenizer, corpora and the base model.
UPSTREAM = ("results/world", "results/prepare", "results/tokenizer", "results/corpus",
            "results/models/cpt/base")


def _kill_after_first_checkpoint(workdir, timeout=120.0):
    """Start snakemake on the CPT target and SIGKILL its whole process group (snakemake and
    the job's python) as soon as the job's first checkpoint is complete (state.json, written
    last, is in the atomically renamed `.partial`): a pre-emption mid-training. Returns the
    partial directory and snakemake's output up to the kill."""
    import os
    import signal
    import subprocess
    import time

    from studies import ROOT, SNAKEMAKE

    partial = workdir / (CPT + ".partial")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # --nolock: the kill would leave snakemake's lock behind (a user runs --unlock)
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", "config/config.yaml", "--cores", "2", "--nolock",
           "--rerun-incomplete", CPT]
    with open(workdir / "killed.out", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (partial / "state.json").exists():
            assert proc.poll() is None, "the job ended before its first checkpoint: " + (
                workdir / "killed.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within the timeout"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (workdir / CPT).exists(), "the job finished before the kill: make it longer"
    return partial, (workdir / "killed.out").read_text(encoding="utf-8")


def _rerun(workdir) -> str:
    from studies import snakemake

    (workdir / CPT_LOG).unlink(missing_ok=True)
    snakemake(workdir, "--rerun-incomplete", CPT)
    assert not (workdir / (CPT + ".partial")).exists()
    return (workdir / CPT_LOG).read_text(encoding="utf-8")


def _outputs(workdir) -> dict[str, bytes]:
    return {n: (workdir / CPT / n).read_bytes() for n in ("model.safetensors", "train_log.tsv")}


@pytest.mark.slow
def test_a_killed_cpt_job_resumes_only_its_own_run(tmp_path, study):
    """Snakemake itself: kill -> change train.cpt.lr -> rerun starts over and its log says
    why; kill -> rerun unchanged resumes (log says so) with the weights and log of the run
    that started over and went through uninterrupted, byte for byte. The CPT job's inputs
    are copied from the session's study (they do not depend on train.cpt), so only train_cpt
    runs here."""
    from studies import study_config, write_config

    for sub in UPSTREAM:  # copytree keeps the files' times: snakemake sees them up to date
        shutil.copytree(study.workdir / sub, tmp_path / sub)
    cfg = study_config()
    # 3 passes x 44 batches of 4 x 64 tokens = 132 steps, a checkpoint every 4: long enough
    # to be killed well before the end (3 passes: within corpus.max_repetitions)
    cfg["train"]["cpt"].update({"epochs": 3, "batch_size": 4, "checkpoint_every": 4})
    config = write_config(tmp_path / "config" / "config.yaml", cfg)

    partial, out = _kill_after_first_checkpoint(tmp_path)
    # the only job planned
    assert re.search(r"^train_cpt\s+1\ntotal\s+1$", out, re.MULTILINE), out
    old = json.loads((partial / "state.json").read_text())["log"]  # rows of lr 1e-3
    cfg["train"]["cpt"]["lr"] = 2.0e-3
    write_config(config, cfg)
    log = _rerun(tmp_path)
    assert (f"{partial.relative_to(tmp_path)}: not resumed: the checkpoint is of a different run "
            f"(hyperparameters.lr: 0.001 -> 0.002); checkpoint discarded, training starts "
            f"over") in log, log
    assert "resuming" not in log
    info = json.loads((tmp_path / CPT / "training.json").read_text())
    assert info["fingerprint"]["hyperparameters"]["lr"] == 2.0e-3
    ref = _outputs(tmp_path)  # an uninterrupted run of lr 2e-3, from the base model
    new = [r.split("\t") for r in ref["train_log.tsv"].decode().splitlines()[1:]]
    old = [r.split("\t") for r in old]
    # started over: the first step's loss is the old run's (the base model, the same first
    # batch), its lr the new one, and every loss after it differs (a resumed run would have
    # kept the old rows)
    assert new[0][3] == old[0][3] and float(new[0][2]) == pytest.approx(2 * float(old[0][2]))
    assert all(a[3] != b[3] for a, b in zip(new[1:len(old)], old[1:], strict=True))

    shutil.rmtree(tmp_path / CPT)
    partial, _ = _kill_after_first_checkpoint(tmp_path)
    step = json.loads((partial / "state.json").read_text())["step"]
    log = _rerun(tmp_path)
    assert f"resuming from {partial.relative_to(tmp_path)} at step" in log, log
    assert "discarded" not in log
    assert step >= 4 and _outputs(tmp_path) == ref
