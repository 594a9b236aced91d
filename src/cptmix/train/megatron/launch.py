"""How a megatron training job is started: one `torchrun` per node.

* One node (a workstation, or a Slurm job with `--nodes=1`): `torchrun --standalone
  --nproc-per-node G -m cptmix.train.megatron train --job JOB.json`.
* Several nodes (a Slurm allocation, the Snakemake job script runs on its first node):
  `srun --nodes N --ntasks-per-node 1 --overlap torchrun --nnodes N --nproc-per-node G
  --rdzv-backend c10d --rdzv-endpoint FIRST_NODE:PORT --rdzv-id SLURM_JOB_ID ...`: srun
  starts one torchrun per node and they meet at a c10d rendezvous on the allocation's first
  node. Nodes and node list come from `scontrol show job $SLURM_JOB_ID`, the first node from
  `scontrol show hostnames`.

`torchrun` is invoked as `python -m torch.distributed.run` of the running interpreter, so the
job uses the same environment as the Snakemake script that launches it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from cptmix.io import write_text

log = logging.getLogger(__name__)

RDZV_PORT = 29500


class LaunchError(RuntimeError):
    pass


def world_size(hp: dict) -> int:
    par = hp.get("parallel", {}) or {}
    return int(par.get("tensor", 1)) * int(par.get("pipeline", 1)) * int(par.get("data", 1))


def slurm_job(env: Mapping[str, str] = os.environ, run=subprocess.run) -> tuple[int, str] | None:
    """(nodes, nodelist) of the Slurm allocation this process runs in, None outside Slurm.

    Asked from `scontrol show job` by SLURM_JOB_ID: snakemake-executor-plugin-slurm runs a
    job's script inside `srun -n1` with every SLURM_* variable but the job id stripped, and
    the step's own variables describe one node, not the allocation."""
    job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if not job_id:
        return None
    out = run(["scontrol", "show", "job", "-o", str(job_id)], check=True, capture_output=True,
              text=True).stdout
    nodes = re.search(r"\bNumNodes=(\d+)", out)
    nodelist = re.search(r"(?<![A-Za-z])NodeList=(\S+)", out)
    if not nodes or not nodelist:
        raise LaunchError(f"scontrol show job {job_id}: no NumNodes/NodeList in {out[:200]!r}")
    return int(nodes.group(1)), nodelist.group(1)


def allocation(hp: dict, env: Mapping[str, str] = os.environ, run=subprocess.run
               ) -> tuple[int, int, str | None]:
    """(nodes, GPUs per node, Slurm nodelist or None): nodes from the Slurm allocation (1
    outside Slurm), GPUs per node = TP × PP × DP of the config / nodes, which must divide."""
    job = slurm_job(env, run)
    nodes, nodelist = job if job else (1, None)
    world = world_size(hp)
    if world % nodes:
        raise LaunchError(f"parallel: {world} GPUs (tensor × pipeline × data) cannot be spread "
                          f"evenly over {nodes} nodes")
    return nodes, world // nodes, nodelist


def head_node(nodelist: str, run=subprocess.run) -> str:
    """First host of a Slurm nodelist (the rendezvous host)."""
    out = run(["scontrol", "show", "hostnames", nodelist], check=True, capture_output=True,
              text=True).stdout.split()
    if not out:
        raise LaunchError(f"scontrol show hostnames {nodelist}: no hosts")
    return out[0]


def command(job_file: str | Path, *, nodes: int, gpus_per_node: int, head: str | None = None,
            job_id: str = "cptmix", python: str = sys.executable,
            port: int = RDZV_PORT, entry: tuple[str, ...] = ("-m", "cptmix.train.megatron"),
            ) -> list[str]:
    """The argv that starts every rank of a job."""
    torchrun = [python, "-m", "torch.distributed.run", "--nproc-per-node", str(gpus_per_node)]
    if nodes == 1:
        torchrun += ["--standalone", "--nnodes", "1"]
    else:
        if not head:
            raise LaunchError("multi-node launch needs the rendezvous host")
        torchrun += ["--nnodes", str(nodes), "--rdzv-backend", "c10d",
                     "--rdzv-endpoint", f"{head}:{port}", "--rdzv-id", job_id]
    argv = [*torchrun, *entry, "train", "--job", str(job_file)]
    if nodes > 1:
        # --overlap: the Snakemake job script itself runs in a one-task step of the allocation
        # (the slurm jobstep executor's `srun -n1`), whose CPUs/GPUs this step shares
        argv = ["srun", "--nodes", str(nodes), "--ntasks-per-node", "1", "--overlap",
                "--kill-on-bad-exit=1", *argv]
    return argv


def run_job(job: dict, job_file: str | Path, log_file: str | Path | None = None,
            env: Mapping[str, str] = os.environ, **command_kw) -> list[str]:
    """Write the job spec, start torchrun (through srun on several nodes) and wait; a failed
    rank fails the job with its exit code. Returns the argv that ran."""
    nodes, gpn, nodelist = allocation(job["hp"], env)
    head = head_node(nodelist) if nodes > 1 else None
    argv = command(job_file, nodes=nodes, gpus_per_node=gpn, head=head,
                   job_id=str(env.get("SLURM_JOB_ID", "cptmix")), **command_kw)
    write_text(job_file, json.dumps(job, indent=2, sort_keys=True) + "\n")
    log.info("launching: %s", " ".join(argv))
    out = open(log_file, "a") if log_file else None  # noqa: SIM115 - closed below
    try:
        rc = subprocess.run(argv, check=False, stdout=out, stderr=subprocess.STDOUT if out else None,
                            env=dict(env)).returncode
    finally:
        if out:
            out.close()
    if rc != 0:
        raise LaunchError(f"{job['mode']} job {job['out_dir']}: torchrun exited with {rc} "
                          f"(see {log_file or 'the output above'})")
    return argv


def cpt_job(model_dir, cache_dir, out_dir, hp: dict, seed: int) -> dict:
    """The job spec of continual pre-training (see `loop.train`)."""
    return {"mode": "cpt", "model_dir": str(model_dir), "cache_dir": str(cache_dir),
            "out_dir": str(out_dir), "hp": dict(hp), "seed": int(seed),
            "valid_every": int(hp.get("valid_every", 0)),
            "valid_sequences": int(hp.get("valid_sequences", 8))}


def sft_job(model_dir, sft_data, out_dir, hp: dict, seed: int) -> dict:
    """The job spec of SFT (see `loop.train`)."""
    return {"mode": "sft", "model_dir": str(model_dir), "sft_data": str(sft_data),
            "out_dir": str(out_dir), "hp": dict(hp), "seed": int(seed)}


# --- the backend's entry points (cptmix.train.backends) ----------------------------------------

def run_cpt(*, model, data, out, hp: dict, seed: int, threads: int = 1, job_file=None,
            log_file=None) -> None:
    """`backends.run_cpt` with megatron: the CPT job on the mixture's index cache `data`,
    its spec written to `job_file`, its ranks' output appended to `log_file` (`threads` is
    not used: each rank is one GPU's process)."""
    run_job(cpt_job(model, data, out, hp, seed), job_file, log_file)


def run_sft(*, model, data, out, hp: dict, seed: int, threads: int = 1, job_file=None,
            log_file=None) -> None:
    """`backends.run_sft` with megatron: the SFT job on the SFT JSONL `data`."""
    run_job(sft_job(model, data, out, hp, seed), job_file, log_file)
