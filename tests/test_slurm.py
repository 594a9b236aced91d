"""The workflow through a real Slurm: `snakemake --profile` (profiles/slurm shrunk to one node)
on a single-node cluster started here (tests/slurm/cluster.py), against a local run.

The session's second clean run of the test study (`second_study` in tests/conftest.py: the
chains of EnJa-Base and the base model, world to scores, 18 jobs with every GPU rule) goes
through sbatch; its results must equal the session's local run (`study`) byte for byte
(tests/test_workflow.py compares every file), and every job must have reached Slurm as the
profile says.
Skipped only when Slurm/munge are not installed (`make system` installs them) or not root.
Fast checks of the profile itself and of the paper config's plan run everywhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from slurm.cluster import SlurmCluster, available
from slurm.profile import load_real, write_test_profile
from studies import SECOND_TARGETS, SNAKEMAKE, snakemake

ROOT = Path(__file__).resolve().parents[1]
GPU_RULES = {"pretrain_base", "translate_shard", "train_cpt", "train_sft", "evaluate_model"}

needs_slurm = pytest.mark.skipif(available() is not None, reason=str(available()))


def _rules() -> set[str]:
    text = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    return set(re.findall(r"^\s*rule (\w+):", text, flags=re.MULTILINE))


def test_profile_covers_real_rules_and_keeps_cpu_rules_on_cpu():
    prof = load_real()
    assert prof["executor"] == "slurm"
    assert set(prof["set-resources"]) <= _rules()  # no entry for a rule that does not exist
    cpu = prof["default-resources"]["slurm_partition"]
    for rule, res in prof["set-resources"].items():
        if rule in GPU_RULES:
            assert "gpu" in res["gres"] and res["slurm_partition"] != cpu, rule
        else:
            assert "gres" not in res and "gpu" not in res, rule
            assert res.get("slurm_partition", cpu) == cpu, rule
    assert {"train_cpt", "train_sft", "evaluate_model"} <= set(prof["set-resources"])


def test_test_profile_shrinks_sizes_only(tmp_path):
    real, small = load_real(), write_test_profile(tmp_path)
    assert set(small["set-resources"]) == set(real["set-resources"])
    cpt = small["set-resources"]["train_cpt"]
    assert cpt["nodes"] == 1 and cpt["gres"] == "gpu:1" and cpt["cpus_per_task"] == 1
    assert cpt["slurm_extra"] == real["set-resources"]["train_cpt"]["slurm_extra"]
    assert "slurm_account" not in small["default-resources"]
    assert small["slurm-logdir"] == real["slurm-logdir"]


def test_paper_config_plans_without_its_data(tmp_path):
    proc = subprocess.run(
        [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(ROOT / "config" / "paper.yaml"), "-n"],
        check=False, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = proc.stdout.split("Job stats:")[1].split("total")[0]
    counts = dict(line.split() for line in stats.splitlines()[3:] if line.strip())
    assert counts["train_cpt"] == "6" and counts["train_sft"] == "7"
    assert counts["evaluate_model"] == "7" and counts["count_source"] == "8"
    assert not {"generate_world", "pretrain_base", "train_tokenizer"} & set(counts)


def _jobs(cluster: SlurmCluster, run_id: str) -> list[dict]:
    """The jobs of one Snakemake run (the plugin names every job by the run's id) that the
    cluster still lists (MinJobAge keeps finished ones): id, comment (the plugin writes
    rule_<rule>_wildcards_<w>), partition, gres per node, state."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-n", run_id, "-o", "%i|%k|%P|%b|%T"],
                         capture_output=True, text=True, env=cluster.env, check=True).stdout
    keys = ("id", "comment", "partition", "gres", "state")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in out.splitlines()]


def _rule(comment: str) -> str:
    return comment.removeprefix("rule_").split("_wildcards_")[0]


@pytest.mark.slow
@needs_slurm
def test_workflow_through_slurm_matches_local_run(second_study, study):
    cluster, profile, remote = second_study.slurm, second_study.profile, second_study.workdir
    assert cluster is not None  # Slurm is installed, so the second run went through it
    run_id = second_study.run_id
    jobs = _jobs(cluster, run_id)
    assert jobs, f"no job reached Slurm:\n{second_study.log[-3000:]}"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    # every job of the plan went through sbatch: one Slurm job per Snakemake job, except the
    # evaluations, which rule evaluate_model groups (`eval`; the profile: 7 to a job, the test
    # profile: 2, the fake GPUs). EnJa-Base is declared: its corpus jobs stay ungrouped.
    planned = snakemake(remote, "-n", "--forceall", *SECOND_TARGETS).stdout
    stats = planned.split("Job stats:")[1]
    n_planned = int(stats.split("total")[1].split()[0])
    n_eval = int(re.search(r"^evaluate_model\s+(\d+)", stats, flags=re.MULTILINE).group(1))
    assert n_eval == 2 and profile["group-components"][0].startswith("eval=")
    groups = [j for j in jobs if _rule(j["comment"]) not in _rules()]  # named by the group
    size = int(profile["group-components"][0].split("=")[1])
    assert -(-n_eval // size) <= len(groups) < n_eval, [j["comment"] for j in jobs]
    assert len(jobs) == n_planned - n_eval + len(groups), (len(jobs), n_planned, n_eval, jobs)
    rules = {_rule(j["comment"]) for j in jobs}
    assert GPU_RULES | {"generate_world", "count_source", "build_mixture", "ledger"} \
        <= rules | {"evaluate_model"}
    # GPU rules (and the evaluation group) asked for a GPU on the profile's GPU partition;
    # CPU rules for none
    gpu_partition = profile["set-resources"]["train_cpt"]["slurm_partition"]
    cpu_partition = profile["default-resources"]["slurm_partition"]
    for job in jobs:
        if _rule(job["comment"]) in GPU_RULES or job in groups:
            assert job["partition"] == gpu_partition and "gpu:1" in job["gres"], job
        else:
            assert job["partition"] == cpu_partition and "gpu" not in job["gres"], job
    # the profile's slurm_extra reached sbatch as two options: one task per node, whole node
    cpt = next(j for j in jobs if _rule(j["comment"]) == "train_cpt")
    shown = subprocess.run(["scontrol", "show", "job", cpt["id"]], capture_output=True,
                           text=True, env=cluster.env, check=True).stdout.split()
    assert "NtasksPerN:B:S:C=1:0:*:*" in shown and "OverSubscribe=NO" in shown, shown
    # the job-completion log has them too, and sbatch's per-job logs sit under the log path
    assert cluster.jobcomp.read_text().count(f"Name={run_id} JobState=COMPLETED") \
        == len(jobs)
    logs = list((remote / profile["slurm-logdir"]).rglob("*.log"))
    cpt_logs = list((remote / profile["slurm-logdir"] / "rule_train_cpt").rglob("*.log"))
    assert len(logs) == len(jobs) and len(cpt_logs) == 1, logs
    # the same scores as the session's local run (test_workflow compares every file)
    for name in SECOND_TARGETS:
        assert (remote / name).read_bytes() == (study.workdir / name).read_bytes(), name
