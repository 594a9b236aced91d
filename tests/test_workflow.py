"""The whole Snakemake workflow on the shrunk test config (tests/config/overlay.yaml over config/config.yaml): every
rule really runs, from the synthetic world to the analysis and the HTML report."""

import copy
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from studies import ROOT, new_workdir, snakemake

from cptmix.tasks import TASK_NAMES

MIXTURES = ["EnJa-Base", "JaDominant", "EnDominant", "EnJa-Plus", "EnJa-Balance", "EnJa-Hybrid"]
SEED_LIST = [1234, 1235]  # the test config's replicate seeds (scope sft)
SEEDS = len(SEED_LIST)


@pytest.fixture(scope="module")
def study(study):
    """The session's study (tests/studies.py), as its work directory."""
    return study.workdir


def job_counts(out: str) -> dict[str, int]:
    """rule -> jobs from a dry run's "Job stats" table."""
    lines = out.split("Job stats:")[1].splitlines()[3:]
    table = lines[:next((k for k, line in enumerate(lines) if not line.strip()), len(lines))]
    return {line.split()[0]: int(line.split()[1]) for line in table
            if not line.startswith("total")}


def outputs_of(out: str, rule: str) -> list[str]:
    """The output paths of every job of `rule` in a dry run's listing (a group's members, e.g.
    evaluate_model's in group `eval`, are listed indented under "Group job")."""
    found = []
    for block in re.split(r"\n[ \t]*rule ", out)[1:]:
        name, _, body = block.partition(":")
        if name.strip() == rule:
            found += [line.split(":", 1)[1].strip() for line in body.splitlines()
                      if line.strip().startswith("output:")]
    return found


def config_with(tmp_path, **extra):
    """The test study plus top-level `extra` keys, as the workdir's default config."""
    return new_workdir(tmp_path, **extra) / "config" / "config.yaml"


@pytest.mark.slow
def test_one_mixture_chain_alone(tmp_path):
    new_workdir(tmp_path)
    target = "results/eval/EnJa-Plus/seed-1234/scores.tsv"
    out = snakemake(tmp_path, "-n", target).stdout
    assert "results/models/cpt/EnJa-Plus/seed-1234" in out
    assert "results/models/cpt/EnJa-Balance" not in out
    assert "results/models/sft/base" not in out
    counts = job_counts(out)
    assert (counts["train_cpt"], counts["train_sft"], counts["evaluate_model"]) == (1, 1, 1)


@pytest.mark.slow
def test_readme_forced_rebuild_of_one_mixture(study):
    """The README's command: the target first, then -R (-R takes every word after it as a
    rule name, so a target written after it would be swallowed and all mixtures rerun)."""
    out = snakemake(study, "-n", "results/eval/EnJa-Plus/seed-1234/scores.tsv",
                    "-R", "train_cpt").stdout
    assert job_counts(out) == {"train_cpt": 1, "train_sft": 1, "evaluate_model": 1}
    assert outputs_of(out, "train_cpt") == ["results/models/cpt/EnJa-Plus/seed-1234"]


@pytest.mark.slow
@pytest.mark.parametrize("replicates, cpt, sft", [
    ({"seeds": [11, 12, 13]}, 18, 21), ({"n": 3, "scope": "sft"}, 6, 21)])
def test_replicates_are_wildcards(tmp_path, replicates, cpt, sft):
    """`replicates` puts every CPT, SFT and evaluation job under a seed wildcard; scope `sft`
    trains CPT once (first seed) and SFT per seed from it."""
    config = config_with(tmp_path, replicates=replicates, analysis={"noise_floor": True})
    out = snakemake(tmp_path, "-n", config=config).stdout
    counts = job_counts(out)
    assert (counts["train_cpt"], counts["train_sft"], counts["evaluate_model"]) == (cpt, sft, sft)
    assert counts["pretrain_base"] == 1 and counts["analyze"] == 2  # score, continuous
    seeds = replicates.get("seeds") or [1234, 1235, 1236]
    models = ["base", *MIXTURES]
    assert sorted(outputs_of(out, "train_sft")) == sorted(
        f"results/models/sft/{m}/seed-{s}" for m in models for s in seeds)
    cpt_seeds = seeds if "seeds" in replicates else seeds[:1]
    assert sorted(outputs_of(out, "train_cpt")) == sorted(
        f"results/models/cpt/{m}/seed-{s}" for m in MIXTURES for s in cpt_seeds)
    assert all(f"results/eval/{m}/seed-{s}/items.tsv" in out for m in models for s in seeds)
    if "scope" in replicates:  # every SFT replicate of a mixture starts from the one CPT run
        sft_inputs = re.findall(r"input: (results/models/cpt/EnJa-Plus/seed-\d+)", out)
        assert set(sft_inputs) == {"results/models/cpt/EnJa-Plus/seed-1234"}
        assert len(sft_inputs) == 3
    rulegraph = snakemake(tmp_path, "--rulegraph").stdout
    assert rulegraph.lstrip().startswith("digraph") and "train_cpt" in rulegraph


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed (make system)")
def test_rulegraph_renders_to_svg(tmp_path):
    new_workdir(tmp_path)
    dot = snakemake(tmp_path, "--rulegraph").stdout
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True)
    assert "<svg" in svg.stdout and "evaluate_model" in svg.stdout


@pytest.mark.slow
def test_composition_invariants(study):
    comp = pd.read_csv(study / "results/corpus/composition.tsv", sep="\t")
    assert list(comp.mixture) == MIXTURES
    assert (comp.total_tokens == comp.ja_tokens + comp.en_tokens + comp.parallel_tokens).all()
    assert ((comp.ja_ratio + comp.en_ratio + comp.parallel_ratio) - 1).abs().max() < 1e-6
    c = comp.set_index("mixture")
    # additive design: every extension has at least the tokens of what it extends
    assert c.loc["JaDominant", "ja_tokens"] > c.loc["EnJa-Base", "ja_tokens"]
    assert c.loc["EnDominant", "en_tokens"] > c.loc["EnJa-Base", "en_tokens"]
    assert (c.loc["EnDominant", "ja_tokens"] < c.loc["EnJa-Plus", "ja_tokens"]
            < c.loc["EnJa-Balance", "ja_tokens"])
    assert c.loc["EnJa-Hybrid", "parallel_tokens"] > c.loc["EnJa-Balance", "parallel_tokens"]


@pytest.mark.slow
def test_every_model_scored_on_all_27_tasks(study):
    for model in ["base", *MIXTURES]:
        scores = pd.read_csv(study / f"results/eval/{model}/seed-1234/scores.tsv", sep="\t")
        assert list(scores.columns) == [
            "task", "category", "language", "metric", "score", "stderr", "n",
            "continuous_metric", "continuous_unit", "continuous", "continuous_stderr"]
        assert list(scores.task) == list(TASK_NAMES)
        assert scores.score.notna().all() and scores.continuous.notna().all()
        assert (scores.n > 0).all()
        option = scores.category.isin(["MCQA", "DC", "STS"])
        assert set(scores.continuous_metric[option]) == {"gold_option_zscore"}  # the default
        # a log-likelihood per byte is <= 0; a z-score takes either sign and |z| <= k /
        # sqrt(k - 1) for k options (2.68 at the demo's most, JCSTS's 6)
        assert (scores.continuous[~option] <= 0).all()
        assert (scores.continuous[option].abs() <= 6 / 5 ** 0.5).all()
        items = pd.read_csv(study / f"results/eval/{model}/seed-1234/items.tsv", sep="\t")
        assert len(items) == scores.n.sum()


@pytest.mark.slow
def test_mt_source_quality(study):
    import json

    q = json.loads((study / "results/eval/mt_source_quality.json").read_text())
    assert 0 < q["bleu"] < 1 and "ja-mecab" in q["sacrebleu_signature"] and q["n"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["score", "continuous"])
def test_analysis_outputs(study, metric):
    out = study / "results/analysis" / metric
    diffs = pd.read_csv(out / "score_differences.tsv", sep="\t")
    assert len(diffs) == 27 * 6
    assert set(diffs.mixture) == set(MIXTURES) and set(diffs.task) == set(TASK_NAMES)
    assert (diffs.score_diff - (diffs.cpt_score - diffs.base_score)).abs().max() < 1e-5
    assert diffs.p.between(0, 1).all() and set(diffs.clears_noise_floor) <= {"yes", "no"}
    partial = pd.read_csv(out / "partial_correlations.tsv", sep="\t")
    assert len(partial) == 27 * 7
    assert (partial.r.isna() == partial.note.notna()).all()
    noise = pd.read_csv(out / "noise_floors.tsv", sep="\t")
    assert list(noise.task) == list(TASK_NAMES) and (noise.n_seeds == SEEDS).all()
    contrasts = pd.read_csv(out / "contrasts.tsv", sep="\t")
    assert len(contrasts) == 27 * 7  # the design's six covering edges + JaDominant vs EnDominant
    figures = list((out / "figures").glob("*.png"))
    assert len(figures) >= 10
    assert len(list((out / "figures").glob("*.svg"))) == len(figures)
    for name in ("prediction.tsv", "provenance.tsv", "summary.md"):
        assert (out / name).stat().st_size > 0
    check = pd.read_csv(out / "planted_effects_check.tsv", sep="\t")
    assert set(check.task) == set(TASK_NAMES)
    assert set(check.recovered) <= {"yes", "no", "untestable", "false positive"}
    for name in ("benchmarks/train_cpt/EnJa-Base/seed-1234.tsv",
                 "logs/train_cpt/EnJa-Base/seed-1234.log"):
        assert (study / "results" / name).exists()


def analysis_tables(study) -> dict[str, bytes]:
    return {p.relative_to(study).as_posix(): p.read_bytes()
            for p in sorted((study / "results/analysis").glob("*/*.tsv"))}


@pytest.mark.slow
def test_rerun_is_a_no_op_and_analysis_is_byte_identical(study):
    dry = snakemake(study, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    before = analysis_tables(study)
    assert len(before) == 2 * 11  # per metric: 10 tables + the planted check
    shutil.rmtree(study / "results/analysis")
    snakemake(study)
    assert analysis_tables(study) == before


def _planned(out: str, rule: str) -> list[str]:
    """The `mixture` wildcard of each job of `rule` in a dry run's plan."""
    return sorted(re.findall(rf"rule {rule}:.*?wildcards: mixture=([\w-]+)", out, re.DOTALL))


@pytest.mark.slow
def test_a_changed_cpt_setting_or_fraction_reruns_what_derives_from_it(study, tmp_path):
    """The ledger's fractions and budget and CPT's hyper-parameters are params functions of
    their inputs, which Snakemake does not record; `recorded_mixture`/`recorded_cpt` record
    what they derive from. A new train.cpt.lr plans every CPT run again (not the ledgers); a new fraction plans
    that mixture's statistics, ledger, documents and CPT run, and no other mixture's (without
    it, both planned nothing)."""
    work = tmp_path / "work"
    shutil.copytree(study, work, symlinks=True,
                    ignore=shutil.ignore_patterns("locks", "incomplete", "conda", "log"))
    config = work / "config" / "config.yaml"
    original = yaml.safe_load(config.read_text(encoding="utf-8"))
    declared = sorted(original["mixtures"])

    def plan(cfg):
        config.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        return snakemake(work, "-n").stdout

    assert "Nothing to be done" in plan(original)  # the copy is up to date as it is
    lr = copy.deepcopy(original)  # key order kept: Snakemake compares params as written
    lr["train"]["cpt"]["lr"] = float(lr["train"]["cpt"]["lr"]) / 2
    out = plan(lr)
    assert _planned(out, "train_cpt") == declared
    assert _planned(out, "ledger") == [] and _planned(out, "mixture_stats") == []
    frac = copy.deepcopy(original)
    hybrid = frac["mixtures"]["EnJa-Hybrid"]["sources"]  # no mixture extends it
    assert hybrid[0]["source"] == "textbooks"
    hybrid[0]["fraction"] = 0.5
    out = plan(frac)
    for rule in ("mixture_stats", "ledger", "build_mixture", "train_cpt"):
        assert _planned(out, rule) == ["EnJa-Hybrid"], rule


@pytest.mark.slow
def test_a_changed_library_module_reruns_the_jobs_that_can_run_it(study, tmp_path):
    """Each rule records the hash of the code its script can run (cptmix.code). On a copy of
    the test study run with a copy of the library: a comment changes a file and reruns what
    imports it; a change to a figure module plans the analysis and nothing that trains or
    evaluates; a change to the hf training backend plans every training job and what
    follows, not the world or the corpus."""
    work = tmp_path / "work"
    shutil.copytree(study, work, symlinks=True,
                    ignore=shutil.ignore_patterns("locks", "incomplete", "conda", "log"))
    src = tmp_path / "repo" / "src"  # beside the schema it reads (repo/workflow)
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "repo" / "workflow").symlink_to(ROOT / "workflow")
    env = {**os.environ, "PYTHONPATH": str(src)}  # the copy is the cptmix that jobs import

    def rules_planned():
        out = snakemake(work, "-n", env=env).stdout
        # a job of a group is printed indented
        return set(re.findall(r"^\s*rule (\w+):", out, re.MULTILINE)), out

    assert "Nothing to be done" in rules_planned()[1]  # the same code: nothing reruns
    figures = src / "cptmix" / "analyze" / "figures.py"
    original = figures.read_text(encoding="utf-8")
    figures.write_text(original + "\n# a comment is a change to the file\n", encoding="utf-8")
    planned, _ = rules_planned()
    assert "analyze" in planned, planned
    assert not planned & {"train_cpt", "train_sft", "evaluate_model", "generate_world"}, planned
    figures.write_text(original, encoding="utf-8")
    assert "Nothing to be done" in rules_planned()[1]  # back to the recorded code
    hf = src / "cptmix" / "train" / "hf.py"
    hf.write_text(hf.read_text(encoding="utf-8") + "\n_CHANGED = 1\n", encoding="utf-8")
    planned, _ = rules_planned()
    assert {"pretrain_base", "train_cpt", "train_sft", "evaluate_model", "analyze"} <= planned
    assert not planned & {"generate_world", "count_source", "build_mixture"}, planned


# What may differ between two clean runs: logs and timings, and snakemake's own marker files.
NOT_COMPARED = ("results/logs/", "results/benchmarks/")


def produced_files(work) -> list[str]:
    return sorted(p.relative_to(work).as_posix() for p in (work / "results").rglob("*")
                  if p.is_file() and p.name != ".snakemake_timestamp"
                  and not p.relative_to(work).as_posix().startswith(NOT_COMPARED))


@pytest.mark.slow
def test_two_clean_runs_are_byte_identical(study, second_study):
    """Determinism: the same config gives the same files, bit for bit, from scratch. The second
    run (through Slurm where it is installed: tests/test_slurm.py) made the chains of EnJa-Base
    and the base model, world to scores: every file it made (data, models, evaluations) must
    equal the session's study's. The analysis' determinism on the same scores is
    test_rerun_is_a_no_op_and_analysis_is_byte_identical."""
    files = produced_files(second_study.workdir)
    for name in ("results/models/cpt/EnJa-Base/seed-1234/model.safetensors",
                 "results/eval/base/seed-1234/items.tsv", "results/corpus/mixtures/EnJa-Base/ledger.tsv"):
        assert name in files or any(f.startswith(name) for f in files), name
    assert len(files) > 50, files
    differ = [name for name in files
              if (second_study.workdir / name).read_bytes() != (study / name).read_bytes()]
    assert not differ, differ


@pytest.mark.slow
def test_html_report(study):
    snakemake(study, "--report", "results/report.html")
    html = (study / "results/report.html").read_text(errors="replace")
    assert "composition.tsv" in html and "partial_correlations.tsv" in html
