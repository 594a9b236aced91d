"""The workflow runs the test suite shares: one local study (tests/config/overlay.yaml over
config/config.yaml) and one
second clean run of the same config (through the real one-node Slurm when it is installed,
else locally), so the whole workflow runs twice per suite, not four times.

`tests/test_workflow.py` checks the study's outputs and that the two runs are byte-identical;
`tests/test_slurm.py` checks how the second run's jobs went through Slurm.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "config.yaml"
OVERLAY = ROOT / "tests" / "config" / "overlay.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


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
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), *args]
    if "--profile" not in args and "--cores" not in args:
        cmd += ["--cores", "2"]
    env = {**(env or os.environ), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=workdir,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


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
