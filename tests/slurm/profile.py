"""Derive a test profile from profiles/slurm/config.yaml that fits the one-node test cluster.

Every setting and every per-rule entry of the real profile is kept (same executor, rules,
partitions, gres kinds, slurm_extra, log directory), only sizes shrink to the node: one node
per job, one fake GPU per GPU request, one core, a little memory. The site placeholders go (no
account exists without slurmdbd) and the plugin polls `squeue` quickly.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
REAL_PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"


def load_real() -> dict:
    return yaml.safe_load(REAL_PROFILE.read_text(encoding="utf-8"))


def partitions(profile: dict) -> list[str]:
    """Partition names the profile uses, the default-resources one first."""
    names = [profile.get("default-resources", {}).get("slurm_partition")]
    names += [r.get("slurm_partition") for r in profile.get("set-resources", {}).values()]
    return list(dict.fromkeys(n for n in names if n))


def _shrink(res: dict, mem_mb: int, runtime: int) -> dict:
    out = dict(res)
    out.pop("slurm_account", None)  # no slurmdbd, no accounts: the plugin submits without -A
    if "nodes" in out:
        out["nodes"] = 1
    if "gres" in out:  # "gpu:8" / "gpu:h100:8" -> one fake GPU of the same kind
        out["gres"] = re.sub(r":\d+$", ":1", str(out["gres"]))
    if "gpu" in out:
        out["gpu"] = 1
    if "cpus_per_task" in out:
        out["cpus_per_task"] = 1
    if "mem_mb" in out:
        out["mem_mb"] = min(int(out["mem_mb"]), mem_mb)
    if "runtime" in out:
        out["runtime"] = min(int(out["runtime"]), runtime)
    return out


def write_test_profile(out_dir: Path, mem_mb: int = 1000, runtime: int = 30,
                       gpus: int = 2) -> dict:
    """Write `out_dir/config.yaml` (a profile directory) and return it as a dict. A group job
    asks for the sum of its parallel members' GPUs, so groups shrink to the node's `gpus`."""
    prof = load_real()
    prof["group-components"] = [
        f"{name}={min(int(n), gpus)}" for name, n in
        (entry.split("=") for entry in prof.get("group-components", []))]
    prof["default-resources"] = _shrink(prof.get("default-resources", {}), mem_mb, runtime)
    prof["set-resources"] = {rule: _shrink(res, mem_mb, runtime)
                             for rule, res in prof.get("set-resources", {}).items()}
    prof["set-threads"] = {rule: 1 for rule in prof.get("set-threads", {})}
    prof.update({
        "jobs": 4,                                   # a 2-core node runs 2 at once anyway
        "latency-wait": 5,                           # local disk: outputs are there at once
        "retries": 0,                                # a failure must fail the test, not retry
        "slurm-status-command": "squeue",            # no slurmdbd, so no sacct
        "slurm-init-seconds-before-status-checks": 1,
        "seconds-between-status-checks": 1,
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False),
                                         encoding="utf-8")
    return prof
