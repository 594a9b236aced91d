"""A real single-node Slurm cluster for tests: munged + slurmctld + slurmd in one directory.

Used by tests/test_slurm.py (session fixture) to run the workflow through
`snakemake --profile profiles/slurm`; also runnable by hand to poke at it:

    python tests/slurm/cluster.py            # start, print `export SLURM_CONF=...`, wait for ^C

Debian's slurm-wlm 22.05 and munge (`make system`), no systemd: every daemon is started here
in the foreground (`-D`/`--foreground`) as a child process and stopped by its pid. Everything
(config, keys, sockets, spool, state, logs) lives in one fresh directory, on free ports, so a
second cluster or a system Slurm on the same machine is never touched.

Choices that make Slurm work in a container without cgroups (facts found on this machine):
`ProctrackType=proctrack/linuxproc`, `TaskPlugin=task/none` and no cgroup.conf;
`select/cons_tres` + `CR_Core_Memory` with `DefMemPerCPU` so jobs share the node by core and
memory (else one job takes the whole node); fake GPUs as gres.conf `File=` entries that are
device files (symlinks to /dev/null named gpu0..; a count-only gres leaves the node INVAL).
No accounting daemon: the job-completion plugin writes every finished job (with its TRES, so
a `gres/gpu` request is visible) to a text file, and the Snakemake plugin polls `squeue`,
which needs finished jobs kept for `MinJobAge` seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

NODE = "cptmix-node"
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")


def available() -> str | None:
    """None when Slurm and munge are installed, else why not (a skip reason)."""
    missing = [d for d in TOOLS if shutil.which(d) is None
               and not Path("/usr/sbin", d).exists()]
    if missing:
        return f"not installed: {', '.join(missing)} (`make system` installs slurm-wlm + munge)"
    if os.geteuid() != 0:
        return "a test Slurm needs root (slurmd runs jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class SlurmCluster:
    """One node, `cpus` cores, `gpus` fake GPUs, `memory_mb` of memory, the given partitions
    (the first is the default); `start()` returns once the node accepts jobs."""

    partitions: tuple[str, ...] = ("debug",)
    cpus: int = 2
    gpus: int = 2
    memory_mb: int = 8000
    mem_per_cpu_mb: int = 1000
    min_job_age_s: int = 300  # squeue must still list a finished job when the plugin polls
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cptmix-slurm-")))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        """One line per finished job (JobId, Name, JobState, Partition, Tres, ...)."""
        return self.root / "jobcomp.txt"

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients (sbatch, squeue, snakemake) to talk to this cluster."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def write_config(self) -> None:
        r = self.root
        for sub in ("spool", "state", "munge", "dev"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        # munged runs as `munge` and must reach its socket/key: a world-traversable tree.
        r.chmod(0o755)
        shutil.chown(r / "munge", "munge", "munge")
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        shutil.chown(key, "munge", "munge")
        # The plugin's job step drops every SLURM_* variable (SLURM_CONF too) before its
        # nested `srun`, which then looks for /etc/slurm/slurm.conf; a real cluster has that
        # file, this one must not touch it: an `srun` first on PATH points it here instead.
        (r / "bin").mkdir(exist_ok=True)
        srun = r / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {_exe("srun")} "$@"\n')
        srun.chmod(0o755)
        gpus = []
        for i in range(self.gpus):
            dev = r / "dev" / f"gpu{i}"
            if not dev.exists():
                dev.symlink_to("/dev/null")
            gpus.append(dev)
        parts = "\n".join(
            f"PartitionName={p} Nodes={NODE} Default={'YES' if i == 0 else 'NO'} "
            f"MaxTime=INFINITE State=UP OverSubscribe=NO"
            for i, p in enumerate(self.partitions))
        self.conf.write_text(f"""\
# Written by tests/slurm/cluster.py: a throw-away single-node cluster.
ClusterName=cptmix-test
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r / 'munge' / 'munge.socket'}
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'slurmctld.log'}
SlurmdLogFile={r / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container: track processes by /proc, no task binding, no cgroup.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# share the node by core and memory; without DefMemPerCPU one job takes all of it
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={self.mem_per_cpu_mb}
SchedulerType=sched/backfill
ReturnToService=2
# the snakemake plugin polls squeue: finished jobs must stay listed a while
MinJobAge={self.min_job_age_s}
InactiveLimit=0
MpiDefault=none
MailProg=/bin/true
KillWait=5
Waittime=0
MessageTimeout=20
# no slurmdbd: finished jobs (with their TRES) go to a text file
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
GresTypes=gpu
# the hardware seen in a container may differ from what is declared: trust the config
SlurmdParameters=config_overrides
NodeName={NODE} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={self.cpus} \
RealMemory={self.memory_mb} Gres=gpu:{self.gpus} State=UNKNOWN
{parts}
""")
        # fake GPUs must be device files; a count-only gres leaves the node INVAL
        (r / "gres.conf").write_text("".join(
            f"NodeName={NODE} Name=gpu File={dev}\n" for dev in gpus))

    def _spawn(self, name: str, argv: list[str], **kwargs) -> None:
        with open(self.root / f"{name}.out", "wb") as log:  # the child keeps its own fd
            self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                env=self.env, start_new_session=True, **kwargs)

    def start(self, timeout_s: float = 60) -> SlurmCluster:
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout_s: float) -> None:
        self.write_config()
        m = self.root / "munge"
        # munged as the `munge` user (like `runuser -u munge`), but as our own child so that
        # stopping it by pid also reaps it
        self._spawn("munged", [_exe("munged"), "--foreground", "--force",
                               f"--key-file={m / 'munge.key'}", f"--socket={m / 'munge.socket'}",
                               f"--pid-file={m / 'munged.pid'}", f"--log-file={m / 'munged.log'}",
                               f"--seed-file={m / 'seed'}"],
                    user="munge", group="munge", extra_groups=[])
        self._wait(lambda: (m / "munge.socket").exists(), timeout_s, "munged socket")
        self._spawn("slurmctld", [_exe("slurmctld"), "-D", "-c", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._run("scontrol", "ping").returncode == 0 and
                   "UP" in self._run("scontrol", "ping").stdout, timeout_s, "slurmctld")
        self._spawn("slurmd", [_exe("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait(self._node_idle, timeout_s, f"node {NODE} idle")

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, check=False, capture_output=True, text=True,
                              env=self.env, timeout=30)

    def _node_idle(self) -> bool:
        out = self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()
        return bool(out) and all(s.rstrip("*") in ("idle", "mixed", "allocated") for s in out)

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for "
                                       f"{what}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"waiting for {what}:\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munge/munged.log", "slurmctld.out",
                     "slurmd.out", "munged.out"):
            p = self.root / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def stop(self) -> None:
        """Stop every daemon this cluster started, by pid (slurmd first, munged last), and
        remove its directory."""
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            # every daemon exits cleanly on SIGTERM
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    why = available()
    if why:
        raise SystemExit(why)
    cluster = SlurmCluster(partitions=("cpu", "gpu")).start()
    print(f"export SLURM_CONF={cluster.conf}\n(Ctrl-C stops the cluster)", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
