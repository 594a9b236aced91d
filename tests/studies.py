"""The workflow runs the test suite shares: one local study (tests/config/overlay.yaml over
config/config.yaml, every job) and one second clean run of the same config for `SECOND_TARGETS`
only (one mixture's and the base model's chain, world to scores: every GPU rule and most CPU
rules; through the real one-node Slurm when it is installed, else locally).

Both start in the background as soon as collection has chosen tests that need them
(`tests/conftest.py`), so they run while the unit tests do; the fixtures wait for them.
`tests/test_workflow.py` checks the study's outputs and that the second run's files equal the
study's byte for byte; `tests/test_slurm.py` checks how the second run's jobs went through Slurm.

A third run starts once the study is done (`run_killed_cpt`): one CPT job of the study, on the
study's own upstream files, killed and rerun through Snakemake; tests/test_checkpoint.py checks
what it left while the other tests that wait for the study run. A fourth (`run_tiny_sweep`)
also starts then: a 4-mixture designed sweep + proposal on a copy of the study's finished work
(tests/test_design_workflow.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "config.yaml"
OVERLAY = ROOT / "tests" / "config" / "overlay.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# The second run's targets: EnJa-Base's and the base model's scores (18 jobs: world,
# translation, tokenizer, counts, base pre-training, mixture, ledger, CPT, SFT, evaluation).
SECOND_TARGETS = ("results/eval/EnJa-Base/seed-1234/scores.tsv",
                  "results/eval/base/seed-1234/scores.tsv")


def study_config(**extra) -> dict:
    """The workflow-test study: the demo config with tests/config/overlay.yaml merged over it
    exactly as `snakemake --configfile config/config.yaml tests/config/overlay.yaml` merges
    (snakemake's own `update_config`), plus top-level `extra` keys."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    update_config(cfg, yaml.safe_load(OVERLAY.read_text(encoding="utf-8")))
    cfg.update(extra)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def snakemake(workdir, *args, check=True, config="config/config.yaml", env=None, timeout=None):
    """`snakemake` on the repository's Snakefile in `workdir` (2 cores unless args say), with
    `config` (relative to `workdir`; by default the work directory's own config)."""
    # `args` (targets too) before --configfile, which would read following words as files
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           *args, "--configfile", str(config)]
    if "--profile" not in args and "--cores" not in args:
        cmd += ["--cores", "2"]
    env = {**(env or os.environ), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # its own session, so that an interrupted test run can stop it and its jobs as one group
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=workdir, start_new_session=True) as popen:
        _RUNNING.add(popen)
        try:
            out, err = popen.communicate(timeout=timeout)
        except BaseException:
            _stop(popen)
            raise
        finally:
            _RUNNING.discard(popen)
    proc = subprocess.CompletedProcess(cmd, popen.returncode, out, err)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


_RUNNING: set[subprocess.Popen] = set()


def _stop(popen: subprocess.Popen) -> None:
    """SIGTERM to the snakemake process group (snakemake stops its jobs), then SIGKILL."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    except ProcessLookupError:
        pass


def stop_all() -> None:
    """Stop every snakemake still running (a session that ends early leaves none behind)."""
    for popen in list(_RUNNING):
        _stop(popen)


def new_workdir(path: Path, **extra) -> Path:
    """A work directory whose config/config.yaml is the test study (`study_config(**extra)`)."""
    write_config(path / "config" / "config.yaml", study_config(**extra))
    return path


@dataclass
class Run:
    """A finished run of the test study: where it ran and, for the Slurm run, how."""

    workdir: Path
    log: str = ""
    slurm: object | None = None  # the SlurmCluster it ran on, or None for a local run
    profile: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return re.search(r"SLURM run ID: (\S+)", self.log).group(1)


def run_study(work: Path) -> Run:
    """Every job of the test study, locally on 2 cores, in a fresh work directory."""
    proc = snakemake(new_workdir(work), timeout=1800)
    return Run(work, proc.stdout + proc.stderr)


def run_second(base: Path) -> Run:
    """`SECOND_TARGETS` of the test study from scratch: through a one-node Slurm started here
    (profiles/slurm shrunk to the node) where Slurm is installed, else locally. The caller
    stops `run.slurm` when it is done with it."""
    from slurm.cluster import SlurmCluster, available
    from slurm.profile import load_real, partitions, write_test_profile

    work = new_workdir(base / "work")
    if available() is not None:
        proc = snakemake(work, *SECOND_TARGETS, timeout=1800)
        return Run(work, proc.stdout + proc.stderr)
    # the partitions the real profile names exist on the test node, so they stay unchanged
    cluster = SlurmCluster(partitions=tuple(partitions(load_real())), cpus=2, gpus=2,
                           memory_mb=8000, min_job_age_s=3600).start()
    try:
        profile = write_test_profile(base / "profile")
        proc = snakemake(work, *SECOND_TARGETS, "--profile", str(base / "profile"),
                         env=cluster.env, timeout=1800)
    except BaseException:
        cluster.stop()
        raise
    return Run(work, proc.stdout + proc.stderr, cluster, profile)


# --- a CPT job of the study killed and rerun (tests/test_checkpoint.py) -------------------------

CPT = "results/models/cpt/EnJa-Base/seed-1234"
CPT_LOG = "results/logs/train_cpt/EnJa-Base/seed-1234.log"
# What train_cpt of EnJa-Base needs, as the study made it (train.cpt is not among their inputs
# or params): the world, translations, tokenizer, corpora and the base model.
UPSTREAM = ("results/world", "results/prepare", "results/tokenizer", "results/corpus",
            "results/models/cpt/base")


def kill_after_first_checkpoint(workdir: Path, timeout: float = 120.0) -> tuple[Path, str]:
    """Start snakemake on the CPT target and SIGKILL its whole process group (snakemake and
    the job's python) as soon as the job's first checkpoint is complete (state.json, written
    last, is in the atomically renamed `.partial`): a pre-emption mid-training. Returns the
    partial directory and snakemake's output up to the kill."""
    partial = workdir / (CPT + ".partial")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # --nolock: the kill would leave snakemake's lock behind (a user runs --unlock)
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", "config/config.yaml", "--cores", "2", "--nolock",
           "--rerun-incomplete", CPT]
    with open(workdir / "killed.out", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        _RUNNING.add(proc)
        try:
            deadline = time.monotonic() + timeout
            while not (partial / "state.json").exists():
                assert proc.poll() is None, "the job ended before its first checkpoint: " + (
                    workdir / "killed.out").read_text()[-3000:]
                assert time.monotonic() < deadline, "no checkpoint within the timeout"
                time.sleep(0.005)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            _stop(proc)
            _RUNNING.discard(proc)
    assert not (workdir / CPT).exists(), "the job finished before the kill: make it longer"
    return partial, (workdir / "killed.out").read_text(encoding="utf-8")


def rerun(workdir: Path) -> str:
    """snakemake on the CPT target again; the job's log."""
    (workdir / CPT_LOG).unlink(missing_ok=True)
    snakemake(workdir, "--rerun-incomplete", CPT)
    assert not (workdir / (CPT + ".partial")).exists()
    return (workdir / CPT_LOG).read_text(encoding="utf-8")


def cpt_outputs(workdir: Path) -> dict[str, bytes]:
    return {n: (workdir / CPT / n).read_bytes() for n in ("model.safetensors", "train_log.tsv")}


@dataclass
class KilledCpt:
    """What `run_killed_cpt` left: for the kill -> new lr -> rerun, then the kill -> rerun."""

    workdir: Path
    planned: str  # snakemake's output of the first (killed) run, its plan included
    restart_partial: Path  # the checkpoint killed under lr 1e-3
    old_rows: list[str]  # its log rows
    restart_log: str  # the job log of the rerun with lr 2e-3
    restart_info: dict  # that run's training.json
    reference: dict[str, bytes]  # its weights and train_log.tsv
    resume_partial: Path  # the checkpoint killed under lr 2e-3
    resume_step: int  # its step
    resume_log: str  # the job log of the unchanged rerun
    resumed: dict[str, bytes]  # its weights and train_log.tsv


def run_killed_cpt(work: Path, study: Run) -> KilledCpt:
    """EnJa-Base's CPT job of the test study with 132 steps and a checkpoint every 4, on the
    study's upstream files (copied with their times, so that snakemake plans train_cpt only):
    killed at its first checkpoint, rerun with train.cpt.lr 2e-3 (starts over), killed again
    and rerun unchanged (resumes)."""
    for sub in UPSTREAM:
        shutil.copytree(study.workdir / sub, work / sub)
    cfg = study_config()
    # 3 passes x 44 batches of 4 x 64 tokens = 132 steps, a checkpoint every 4: long enough
    # to be killed well before the end (3 passes: within corpus.max_repetitions)
    cfg["train"]["cpt"].update({"epochs": 3, "batch_size": 4, "checkpoint_every": 4})
    config = write_config(work / "config" / "config.yaml", cfg)

    restart_partial, planned = kill_after_first_checkpoint(work)
    old_rows = json.loads((restart_partial / "state.json").read_text())["log"]
    cfg["train"]["cpt"]["lr"] = 2.0e-3
    write_config(config, cfg)
    restart_log = rerun(work)
    restart_info = json.loads((work / CPT / "training.json").read_text())
    reference = cpt_outputs(work)

    shutil.rmtree(work / CPT)
    resume_partial, _ = kill_after_first_checkpoint(work)
    resume_step = json.loads((resume_partial / "state.json").read_text())["step"]
    resume_log = rerun(work)
    return KilledCpt(work, planned, restart_partial.relative_to(work), old_rows, restart_log,
                     restart_info, reference, resume_partial.relative_to(work), resume_step,
                     resume_log, cpt_outputs(work))


# --- a tiny designed sweep on the study's finished work (tests/test_design_workflow.py) ---------

TINY_DESIGN = {
    "sweep": {"n": 4, "method": "sobol", "seed": 3, "sources": ["ja_base", "en_base", "pmc_en"],
              "bounds": {"pmc_en": [0.1, 0.8]}, "token_budget": 12000, "max_repetitions": 4},
    "surrogate": {"models": ["linear"], "folds": 5, "seed": 0},
    "objective": {"metric": "continuous", "targets": {"ja_average": 1.0}},
    "verify": {"seeds": [1236]},  # proposed and the best anchor: one more CPT run each
}
DESIGN_TARGETS = ("results/analysis/design/verification.tsv",
                  "results/analysis/design/power.tsv")


@dataclass
class SweepRun:
    """What `run_tiny_sweep` left: its work directory, the plan (as the run printed it before
    its first job), the run's output, the rerun's plan."""

    workdir: Path
    plan: str
    log: str
    again: str


def run_tiny_sweep(work: Path, study: Run) -> SweepRun:
    """The study's finished work directory copied (mtimes and Snakemake's metadata kept), with
    a 4-mixture sweep + proposal added to its config: only the designed chains, the surrogate
    and the verification run (started in the background once the study is done)."""
    work = work / "work"
    shutil.copytree(study.workdir, work, symlinks=True,
                    ignore=shutil.ignore_patterns("locks", "incomplete", "conda", "log"))
    write_config(work / "config" / "config.yaml", study_config(design=TINY_DESIGN))
    run = snakemake(work, *DESIGN_TARGETS, timeout=1200)
    again = snakemake(work, "-n", *DESIGN_TARGETS)
    log = run.stdout + run.stderr  # its plan first: the "Job stats" a dry run would print
    return SweepRun(work, log[log.index("Job stats:"):], log, again.stdout)


class Background:
    """`fn(path)` in a thread, started now; `result()` waits for it and returns its value (or
    raises what it raised)."""

    def __init__(self, fn, path: Path):
        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(fn, path), daemon=True,
                                        name=f"cptmix-{fn.__name__}")
        self._thread.start()

    def _run(self, fn, path: Path) -> None:
        try:
            self._value = fn(path)
        except BaseException as exc:  # noqa: BLE001 - raised in the test that waits for it
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def value(self):
        """The value once finished, None if it failed (its test reports that)."""
        self._thread.join()
        return self._value
