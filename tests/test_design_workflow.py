"""Designed sweeps in the workflow (issue 13): the plan of config/sweep.yaml, the bad inputs the
workflow refuses before planning, `cptmix design` / `cptmix plan` with a design block, and
configs merged as Snakemake merges them."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from studies import ROOT, SNAKEMAKE

from cptmix.cli import main
from cptmix.config import load_configs, merge_config
from cptmix.design import designed_mixtures, proxy_hp, sweep_shares, sweep_spec

DEMO = ROOT / "config" / "config.yaml"
SWEEP = ROOT / "config" / "sweep.yaml"
SWEEP_CFG = yaml.safe_load(SWEEP.read_text(encoding="utf-8"))


def _snakemake_n(workdir: Path, *configfiles, targets=()):
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "-n",
           "--cores", "1", *targets, "--configfile", *map(str, configfiles)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=workdir,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _jobs(out: str) -> dict[str, int]:
    table = out[out.index("Job stats:"):].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def _priorities(out: str) -> dict[str, list[int]]:
    """rule -> the priority of each of its jobs in a dry run's plan, in plan order."""
    priority: dict[str, list[int]] = {}
    rule = None
    for line in out.splitlines():
        if m := re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):$", line):
            rule = m.group(1)
            priority.setdefault(rule, []).append(0)  # no priority line: 0
        elif (m := re.match(r"\s*priority: (\d+)$", line)) and rule:
            priority[rule][-1] = int(m.group(1))
    return priority


def test_sweep_plan_lists_every_designed_chain(tmp_path):
    """16 sweep mixtures + proposed beside the six, one run each: each designed mixture is
    realised once, then has the anchors' chain. The verification seeds' runs are planned once
    choose_reference (a checkpoint) has picked the anchor."""
    proc = _snakemake_n(tmp_path, DEMO, SWEEP)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs(proc.stdout)
    assert jobs["realise_mixture"] == 17
    assert jobs["train_cpt"] == 6 + 17 and jobs["ledger"] == 23 and jobs["build_mixture"] == 23
    assert jobs["train_sft"] == 1 + 23 and jobs["evaluate_model"] == 1 + 23
    assert jobs["fit_surrogate"] == 1 and jobs["verify_proposal"] == 1
    assert jobs["choose_reference"] == 1 and "seed-1236" not in proc.stdout
    # the checkpoint runs as soon as its inputs exist, not after the sweep's CPT runs
    checks = _priorities(proc.stdout)
    assert checks["choose_reference"] == [max(checks["ledger"])]
    assert jobs["sweep_power"] == 1  # power by sweep size
    assert jobs["pretrain_base"] == 1 and jobs["analyze"] == 2
    # every realisation and ledger (the repetition checks) is scheduled before any CPT run
    priority = _priorities(proc.stdout)
    assert len(priority["ledger"]) == 23 and len(priority["train_cpt"]) == 23
    assert min(priority["ledger"] + priority["realise_mixture"]) > max(priority["train_cpt"])
    # what choose_reference reads (base and the anchors' SFT and evaluation) runs right after
    # the anchors' CPT runs, before the sweep's; every other SFT and evaluation after them all
    cpt = dict(zip(re.findall(r"rule train_cpt:.*?wildcards: mixture=([\w-]+)", proc.stdout,
                              re.DOTALL), priority["train_cpt"]))
    assert min(cpt[a] for a in ("EnJa-Base", "EnJa-Hybrid")) > 2 > cpt["sweep-01"] == 1
    # a mixture's documents are written as urgently as the CPT run that reads them
    built = dict(zip(re.findall(r"rule build_mixture:.*?wildcards: mixture=([\w-]+)",
                                proc.stdout, re.DOTALL), priority["build_mixture"]))
    assert built == {m: cpt[m] for m in built} and len(built) == 23
    for rule in ("train_sft", "evaluate_model"):
        models = re.findall(rf"rule {rule}:.*?wildcards: model=([\w-]+)", proc.stdout, re.DOTALL)
        assert len(models) == len(priority[rule]) == 24
        ranks = dict(zip(models, priority[rule]))
        assert {ranks[m] for m in ("base", "EnJa-Base", "EnJa-Hybrid")} == {2}, ranks
        assert ranks["sweep-01"] == 0, ranks
    # the anchors train the sweep's budget (corpus.token_budget): design points of the surrogate
    fit = proc.stdout[proc.stdout.index("rule fit_surrogate:"):].split("\n\n")[0]
    for anchor in ("EnJa-Base", "EnJa-Hybrid"):
        assert f"results/eval/{anchor}/seed-1234/scores.tsv" in fit
        assert f"results/corpus/mixtures/{anchor}/ledger.tsv" in fit


def test_the_cpt_seeds_overlay_trains_one_cpt_run_per_seed(tmp_path):
    """config/sweep_cpt_seeds.yaml after config/sweep.yaml: every mixture (the anchors, the
    sweep and the proposal) trains one CPT run per seed, and each SFT starts from its own."""
    proc = _snakemake_n(tmp_path, DEMO, SWEEP, ROOT / "config" / "sweep_cpt_seeds.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs(proc.stdout)
    assert jobs["train_cpt"] == 2 * (6 + 17) and jobs["train_sft"] == 2 * (1 + 23)
    assert jobs["choose_reference"] == 1
    assert "results/models/cpt/sweep-07/seed-1235" in proc.stdout


def test_without_verification_seeds_no_reference_is_planned(tmp_path):
    """design.verify.seeds emptied: no checkpoint, and every SFT and evaluation job keeps
    priority 0 (after every CPT run)."""
    overlay = tmp_path / "noverify.yaml"
    overlay.write_text(yaml.safe_dump({"design": {"verify": {"seeds": []}}}), encoding="utf-8")
    proc = _snakemake_n(tmp_path, DEMO, SWEEP, overlay)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs(proc.stdout)
    assert "choose_reference" not in jobs and jobs["train_sft"] == 1 + 23
    priority = _priorities(proc.stdout)
    assert priority["train_sft"] == [0] * 24 and priority["evaluate_model"] == [0] * 24


@pytest.mark.parametrize("overlays", [[SWEEP], [SWEEP, ROOT / "config" / "sweep_cpt_seeds.yaml"]],
                         ids=["sweep", "sweep+cpt_seeds"])
def test_slurm_profile_groups_the_sweep_without_a_cycle(tmp_path, overlays):
    """On Slurm the sweep's many small jobs are grouped: each designed mixture's corpus jobs
    (realise, statistics, documents, ledger) are one job, evaluations run 7 to a job, and the
    proposed mixture's evaluations, which wait for the surrogate fitted on the others', are in
    their own group (one group holding both would wait for itself: Snakemake refuses it)."""
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "-n",
           "--profile", str(ROOT / "profiles" / "slurm"), "--configfile", str(DEMO),
           *map(str, overlays)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    groups = re.findall(r"Group job (\S+) ", out)
    n_sweep = SWEEP_CFG["design"]["sweep"]["n"]
    assert groups.count("mixture") == n_sweep + 1  # the sweep + proposed
    assert groups.count("eval_proposed") == 1
    members = out.split("Group job mixture")[1].split("Group job")[0]
    assert sorted(re.findall(r"^\s+rule (\w+):", members, flags=re.MULTILINE)) == [
        "build_mixture", "ledger", "mixture_stats", "realise_mixture"]
    assert "depends on itself" not in out


def _overlay(tmp_path: Path, design: dict) -> Path:
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump({"design": design}), encoding="utf-8")
    return path


def _design(**sweep) -> dict:
    block = yaml.safe_load(yaml.safe_dump(SWEEP_CFG["design"]))
    block["sweep"].update(sweep)
    return block


BAD = [
    ("bounds_cannot_sum", _design(bounds={"ja_base": [0.3, 0.5], "en_base": [0.3, 0.7],
                                          "pmc_en": [0.5, 1.0]}),
     "design.sweep.bounds"),
    ("unknown_source", _design(sources=["ja_base", "nope"]),
     "design.sweep.sources: 'nope' is not a source"),
    ("unknown_method", _design(method="grid"), "design.sweep.method"),
    ("objective_task", {**_design(), "objective": {"metric": "continuous",
                                                   "targets": {"MedQB": 1.0}}},
     "design.objective.targets.MedQB"),
    ("too_few_runs", _design(n=4), "design.surrogate.models"),
    ("proxy_epochs", {**_design(), "proxy": {"train": {"epochs": 9}}},
     "design.proxy.train.epochs"),
]


@pytest.mark.parametrize("design, phrase", [pytest.param(d, p, id=i) for i, d, p in BAD])
def test_snakemake_refuses_a_bad_design_before_planning(tmp_path, design, phrase):
    proc = _snakemake_n(tmp_path, DEMO, _overlay(tmp_path, design))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-2000:]
    assert phrase in out, out[-2000:]
    assert "Job stats" not in out and not (tmp_path / "results").exists()


def test_a_declared_mixture_named_like_a_designed_one_is_refused(tmp_path):
    cfg, _ = load_configs([DEMO, SWEEP])
    cfg["mixtures"]["Sweep-01"] = {"extends": "EnJa-Base",
                                   "sources": [{"source": "textbooks", "fraction": 0.3}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = _snakemake_n(tmp_path, path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-2000:]
    assert "mixtures.Sweep-01: collides with the designed mixture 'sweep-01'" in out, out[-2000:]


def test_configs_merge_as_snakemake_merges_them():
    from snakemake.utils import update_config

    paths = [DEMO, SWEEP, ROOT / "tests" / "config" / "overlay.yaml"]
    want = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    for p in paths[1:]:
        update_config(want, yaml.safe_load(p.read_text(encoding="utf-8")))
    got, label = load_configs(paths)
    assert got == want and label.count(" + ") == 2
    assert merge_config({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}, "d": [1]}) == {
        "a": {"b": 3, "c": 2}, "d": [1]}


def test_designed_names_and_proxy_hyperparameters():
    cfg, _ = load_configs([DEMO, SWEEP])
    names = designed_mixtures(cfg)
    assert names[0] == "sweep-01" and names[-2:] == ["sweep-16", "proposed"]
    assert list(sweep_shares(sweep_spec(cfg))) == names[:-1]
    cfg["design"]["proxy"] = {"train": {"lr": 1.0e-3}}
    hp = proxy_hp(cfg, {"epochs": 5})
    assert hp["epochs"] == 5 and hp["lr"] == 1.0e-3
    assert hp["batch_size"] == cfg["train"]["cpt"]["batch_size"]
    cfg["design"]["propose"] = False
    assert designed_mixtures(cfg)[-1] == "sweep-16"


def test_cptmix_design_prints_the_design_and_its_vifs(capsys, tmp_path):
    rc = main(["design", str(DEMO), str(SWEEP), "--counts", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "design.sweep: 16 mixtures, method doptimal" in out
    assert "space filling: minimum pairwise distance" in out
    assert re.search(r"spread: SD of each source's share.*\n  ja_base 0\.\d{3} \(0\.\d{3}\)",
                     out)
    assert "declared shares at the token budget" in out  # no counts, no declared tokens
    assert "sweep            max VIF" in out


def test_cptmix_plan_costs_the_sweep_next_to_the_declared_runs(capsys):
    rc = main(["plan", str(ROOT / "config" / "paper.yaml"),
               str(ROOT / "config" / "paper_sweep.yaml")])
    out = capsys.readouterr().out
    assert rc == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.strip().startswith(("sweep-", "proposed", "EnJa-Base"))}
    assert len([r for r in rows if r.startswith("sweep-")]) == 64 and "proposed" in rows
    assert rows["sweep-01"][5] == "2.00"  # trained_B: the proxy budget
    assert "total declared" in out and "total design" in out


def test_cptmix_plan_costs_the_verification_runs():
    """design.verify.seeds: the proposal trains one more run per seed; the best anchor, known
    only later, is costed as the costliest declared mixture (an upper bound)."""
    from cptmix.plan import VERIFY_ROW, plan_study

    cfg, _ = load_configs([ROOT / "config" / "paper.yaml", ROOT / "config" / "paper_sweep.yaml"])
    plain = plan_study(cfg).set_index("mixture")
    cfg["design"]["verify"] = {"seeds": [11, 12, 13]}
    plan = plan_study(cfg).set_index("mixture")
    runs = plain.loc["proposed", "runs"]
    assert plan.loc["proposed", "runs"] == runs + 3
    assert plan.loc["proposed", "flops"] == pytest.approx(plain.loc["proposed", "flops"]
                                                          / runs * (runs + 3))
    costliest = plain.loc[list(cfg["mixtures"]), "flops"].idxmax()
    assert plan.loc[VERIFY_ROW, "runs"] == 3
    assert plan.loc[VERIFY_ROW, "flops"] == pytest.approx(
        3 * plain.loc[costliest, "flops"] / plain.loc[costliest, "runs"])
    assert plan.loc["total", "flops"] == pytest.approx(
        plain.loc["total", "flops"] + plan.loc[VERIFY_ROW, "flops"]
        + plan.loc["proposed", "flops"] - plain.loc["proposed", "flops"])
    assert VERIFY_ROW not in plain.index
    # checkpoints: the proposal's and the anchor's CPT + SFT per verification seed, and the
    # base model's SFT there too
    per_run = (plan.loc["proposed", "checkpoint_GB"] - plain.loc["proposed", "checkpoint_GB"]) / 6
    assert per_run > 0
    assert plan.loc["total", "checkpoint_GB"] == pytest.approx(
        plain.loc["total", "checkpoint_GB"] + (2 + 2 + 1) * 3 * per_run)


# --- a tiny sweep through the whole workflow ----------------------------------------------------

@pytest.mark.slow
def test_tiny_sweep_plans_only_the_designed_chains(tiny_sweep):
    _, plan, _, again = tiny_sweep.workdir, tiny_sweep.plan, tiny_sweep.log, tiny_sweep.again
    jobs = _jobs(plan)
    assert jobs["realise_mixture"] == 5 and jobs["train_cpt"] == 5  # 4 sweep + proposed
    assert jobs["train_sft"] == 2 * 5 and jobs["evaluate_model"] == 2 * 5  # 2 SFT seeds
    assert jobs["fit_surrogate"] == 1 and jobs["verify_proposal"] == 1
    assert jobs["sweep_power"] == 1  # power by sweep size
    # design.verify.seeds: the reference is a checkpoint; what it trains is planned after it
    assert jobs["choose_reference"] == 1
    assert "pretrain_base" not in jobs and "count_source" not in jobs  # the study's, reused
    assert "Nothing to be done" in again  # a rerun is a no-op


@pytest.mark.slow
def test_tiny_sweep_realises_trains_proposes_and_verifies(tiny_sweep):
    work, _, _, _ = tiny_sweep.workdir, tiny_sweep.plan, tiny_sweep.log, tiny_sweep.again
    cfg = study_cfg = yaml.safe_load((work / "config" / "config.yaml").read_text())
    shares = sweep_shares(sweep_spec(cfg))
    for name, declared in shares.items():
        rec = json.loads((work / f"results/corpus/mixtures/{name}/realised.json").read_text())
        assert rec["shares"] == pytest.approx(declared, abs=1e-12)
        assert rec["token_budget"] == 12000 and rec["epochs"] >= 1
        assert sum(rec["realised_shares"].values()) == pytest.approx(1.0)
        training = json.loads((work / f"results/models/cpt/{name}/seed-1234/training.json")
                              .read_text())
        assert training["hyperparameters"]["epochs"] == rec["epochs"]  # the proxy run's realised epochs
    proposal = json.loads((work / "results/analysis/design/proposal.json").read_text())
    assert sum(proposal["proposed"].values()) == pytest.approx(1.0, abs=1e-9)
    assert 0.1 - 1e-9 <= proposal["proposed"]["pmc_en"] <= 0.8 + 1e-9
    assert proposal["model"] in ("linear", "mean") and proposal["n_mixtures"] == 4
    rec = json.loads((work / "results/corpus/mixtures/proposed/realised.json").read_text())
    assert rec["shares"] == pytest.approx(proposal["proposed"], abs=1e-12)
    cv = pd.read_csv(work / "results/analysis/design/surrogate_cv.tsv", sep="\t")
    assert {"score", "continuous"} == set(cv["metric"]) and "objective" in set(cv["target"])
    ver = pd.read_csv(work / "results/analysis/design/verification.tsv", sep="\t").iloc[0]
    assert ver["n_seeds"] == 2 and ver["best_anchor"] in study_cfg["mixtures"]
    assert ver["best_design_point"] in shares and ver["beats_best_design_point"] in ("yes", "no")
    assert ver["test"].startswith("two-way seed x item")
    summary = (work / "results/analysis/design/verification.md").read_text()
    # design.verify.seeds [1236]: the best anchor and the proposal reseeded, CPT included
    reference = json.loads((work / "results/analysis/design/reference.json").read_text())
    assert reference["best_anchor"] == ver["best_anchor"]
    table = pd.read_csv(work / "results/analysis/design/verification.tsv", sep="\t")
    assert table["replicate_scope"].tolist() == ["sft", "full"]
    assert table["seeds"].tolist() == ["1234,1235", "1234,1236"]
    for model in ("proposed", ver["best_anchor"]):
        info = json.loads((work / f"results/models/cpt/{model}/seed-1236/training.json")
                          .read_text())
        assert info["seed"] == 1236
        assert (work / f"results/eval/{model}/seed-1236/items.tsv").exists()
    assert (work / "results/eval/base/seed-1236/scores.tsv").exists()
    assert not (work / "results/models/cpt/EnJa-Base/seed-1236").exists() or (
        ver["best_anchor"] == "EnJa-Base")  # only the chosen anchor is reseeded
    assert "## CPT reseeded (design.verify.seeds)" in summary
    # one CPT run per mixture (the tests' scope sft): the verdict is about SFT noise only
    assert ver["replicate_scope"] == "sft" and "SFT-seed noise floor" in summary
    assert "may still be a CPT reseed" in summary
    assert "the anchors train 1 pass over their own mixture" in summary  # train.cpt.epochs
    assert "train 12,000 tokens (design.sweep.token_budget): the comparison is not at equal" \
        in summary
    check = pd.read_csv(work / "results/analysis/design/planted_sweep_check.tsv", sep="\t")
    assert set(check["metric"]) == {"score", "continuous"} and len(check) == 2 * 27
    figure = work / "results/analysis/design/verification.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"proposed" in figure.with_suffix(".svg").read_bytes()  # one label per mixture
    # the planted check by sweep size: 1-4 x the 4 sweep mixtures, both metrics
    power = pd.read_csv(work / "results/analysis/design/power.tsv", sep="\t")
    assert sorted(set(power["n_sweep"])) == [4, 8, 12, 16]
    assert set(power["metric"]) == {"score", "continuous"}
    assert {"MedQA", "USMLEQA"} <= set(power["task"])  # pmc_en drives them: testable here
    assert "| continuous | 16 | 16 |" in (work / "results/analysis/design/power.md").read_text()
    skill = pd.read_csv(work / "results/analysis/design/surrogate_power.tsv", sep="\t")
    assert set(skill["target"]) == {"ja_average", "en_average"} and len(skill) == 2 * 2 * 4
    assert (work / "results/analysis/design/power.png").read_bytes()[:4] == b"\x89PNG"


def test_check_config_checks_the_design_block(tmp_path, capsys):
    cfg, _ = load_configs([DEMO, SWEEP])
    cfg["design"]["sweep"]["bounds"] = {"ja_base": [0.6, 1.0], "en_base": [0.5, 1.0]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert "design.sweep.bounds: the lower bounds sum to 1.1 > 1" in capsys.readouterr().err
    cfg["design"]["sweep"]["bounds"] = {}
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
