"""The whole Snakemake workflow on the shrunk test config (tests/config/config.yaml): every
rule really runs, from the synthetic world to the analysis and the HTML report."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cptmix.tasks import TASK_NAMES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "config" / "config.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MIXTURES = ["EnJa-Base", "JaDominant", "EnDominant", "EnJa-Plus", "EnJa-Balance", "EnJa-Hybrid"]


def snakemake(workdir, *args, check=True):
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(CONFIG), "--cores", "2", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    (work / "config").mkdir()
    shutil.copy(CONFIG, work / "config" / "config.yaml")  # the Snakefile's default configfile
    snakemake(work)
    return work


@pytest.mark.slow
def test_dry_run_plans_the_whole_study(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(CONFIG, tmp_path / "config" / "config.yaml")
    out = snakemake(tmp_path, "-n").stdout
    counts = dict(line.split()[:2] for line in out.split("Job stats:")[1].splitlines()[3:]
                  if line.strip() and not line.startswith("total"))
    assert counts["train_cpt"] == "6" and counts["train_sft"] == "7"
    assert counts["evaluate_model"] == "7" and counts["build_mixture"] == "6"
    assert counts["generate_world"] == "1" and counts["analyze"] == "1"
    assert counts["ledger"] == "6" and counts["score_mt_source"] == "1"


@pytest.mark.slow
def test_one_mixture_chain_alone(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(CONFIG, tmp_path / "config" / "config.yaml")
    out = snakemake(tmp_path, "-n", "results/eval/EnJa-Plus/scores.tsv").stdout
    assert "results/models/cpt/EnJa-Plus" in out
    assert "results/models/cpt/EnJa-Balance" not in out
    assert "results/models/sft/base" not in out
    rulegraph = snakemake(tmp_path, "--rulegraph").stdout
    assert rulegraph.lstrip().startswith("digraph") and "train_cpt" in rulegraph


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed (make system)")
def test_rulegraph_renders_to_svg(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(CONFIG, tmp_path / "config" / "config.yaml")
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
        scores = pd.read_csv(study / f"results/eval/{model}/scores.tsv", sep="\t")
        assert list(scores.columns) == [
            "task", "category", "language", "metric", "score", "stderr", "n"]
        assert list(scores.task) == list(TASK_NAMES)
        assert scores.score.notna().all()
        assert (scores.n > 0).all()


@pytest.mark.slow
def test_mt_source_quality(study):
    import json

    q = json.loads((study / "results/eval/mt_source_quality.json").read_text())
    assert 0 < q["bleu"] < 1 and "ja-mecab" in q["sacrebleu_signature"] and q["n"] > 0


@pytest.mark.slow
def test_analysis_outputs(study):
    diffs = pd.read_csv(study / "results/analysis/score_differences.tsv", sep="\t")
    assert len(diffs) == 27 * 6
    assert set(diffs.mixture) == set(MIXTURES) and set(diffs.task) == set(TASK_NAMES)
    assert (diffs.score_diff - (diffs.cpt_score - diffs.base_score)).abs().max() < 1e-5
    partial = pd.read_csv(study / "results/analysis/partial_correlations.tsv", sep="\t")
    assert len(partial) == 27 * 7
    assert (partial.r.isna() == partial.note.notna()).all()
    figures = list((study / "results/analysis/figures").glob("*.png"))
    assert len(figures) >= 10
    assert len(list((study / "results/analysis/figures").glob("*.svg"))) == len(figures)
    for name in ("prediction.tsv", "provenance.tsv", "summary.md"):
        assert (study / "results/analysis" / name).stat().st_size > 0
    check = pd.read_csv(study / "results/analysis/planted_effects_check.tsv", sep="\t")
    assert set(check.task) == set(TASK_NAMES)
    assert set(check.recovered) <= {"yes", "no", "untestable"}
    for name in ("benchmarks/train_cpt/EnJa-Base.tsv", "logs/train_cpt/EnJa-Base.log"):
        assert (study / "results" / name).exists()


@pytest.mark.slow
def test_rerun_is_a_no_op_and_analysis_is_byte_identical(study):
    assert "Nothing to be done" in snakemake(study, "-n").stdout + snakemake(study, "-n").stderr
    before = {p.name: p.read_bytes() for p in (study / "results/analysis").glob("*.tsv")}
    shutil.rmtree(study / "results/analysis")
    snakemake(study)
    after = {p.name: p.read_bytes() for p in (study / "results/analysis").glob("*.tsv")}
    assert before == after


@pytest.mark.slow
def test_two_clean_runs_are_byte_identical(study, tmp_path):
    """Determinism: the same config gives the same tables, bit for bit, from scratch."""
    (tmp_path / "config").mkdir()
    shutil.copy(CONFIG, tmp_path / "config" / "config.yaml")
    snakemake(tmp_path)
    files = ["corpus/composition.tsv", *(f"eval/{m}/scores.tsv" for m in ["base", *MIXTURES])]
    files += [p.relative_to(study / "results").as_posix()
              for p in sorted((study / "results/analysis").glob("*.tsv"))]
    assert len(files) > 10
    for name in files:
        assert (tmp_path / "results" / name).read_bytes() == (
            study / "results" / name).read_bytes(), name


@pytest.mark.slow
def test_html_report(study):
    snakemake(study, "--report", "results/report.html")
    html = (study / "results/report.html").read_text(errors="replace")
    assert "composition.tsv" in html and "partial_correlations.tsv" in html
