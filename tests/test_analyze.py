"""Tests of the analysis stage (cptmix.analyze): score differences, averages, correlations,
the paper's partial correlation (against pingouin and a hand computation), degenerate cases,
and byte-identical reruns of run_analysis."""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats as sps

from cptmix.analyze import (
    STATISTICS,
    correlations,
    language_averages,
    partial_corr,
    partial_correlations,
    run_analysis,
    score_differences,
)
from cptmix.analyze.cli import add_arguments, run_from_args
from cptmix.analyze.report import OUTPUT_FILES
from cptmix.analyze.tables import read_composition, read_scores

# --- a 3-task x 2-mixture example small enough to check by hand ----------------------------


def _scores(rows):
    return pd.DataFrame(rows, columns=["task", "category", "language", "metric", "score", "n"])


BASE = _scores([("A", "MCQA", "Japanese", "accuracy", 0.5, 10),
                ("B", "MT", "English", "bleu", 0.2, 10),
                ("C", "NER", "Japanese", "entity_f1", 0.3, 10)])
# Mixture files list the tasks in another order: the result must follow the base order.
M1 = _scores([("C", "NER", "Japanese", "entity_f1", 0.35, 10),
              ("A", "MCQA", "Japanese", "accuracy", 0.6, 10),
              ("B", "MT", "English", "bleu", 0.1, 10)])
M2 = _scores([("B", "MT", "English", "bleu", 0.25, 10),
              ("C", "NER", "Japanese", "entity_f1", 0.3, 10),
              ("A", "MCQA", "Japanese", "accuracy", 0.4, 10)])


def test_score_differences_by_hand():
    diffs = score_differences(BASE, {"m2": M2, "m1": M1})
    assert list(diffs.columns) == ["mixture", "task", "category", "language", "base_score",
                                   "cpt_score", "score_diff"]
    assert diffs["mixture"].tolist() == ["m2"] * 3 + ["m1"] * 3  # mixture order as given
    assert diffs["task"].tolist() == ["A", "B", "C"] * 2  # task order of the base file
    np.testing.assert_allclose(diffs["cpt_score"], [0.4, 0.25, 0.3, 0.6, 0.1, 0.35])
    np.testing.assert_allclose(diffs["score_diff"], [-0.1, 0.05, 0.0, 0.1, -0.1, 0.05],
                               atol=1e-12)
    assert diffs["category"].tolist()[:3] == ["MCQA", "MT", "NER"]


def test_score_differences_rejects_missing_task():
    with pytest.raises(ValueError, match="missing task.*C"):
        score_differences(BASE, {"m1": M1[M1["task"] != "C"]})


def test_language_averages_by_hand():
    mixes = {"m1": M1, "m2": M2}
    avg = language_averages(score_differences(BASE, mixes), mixes, BASE)
    assert avg["mixture"].tolist() == ["base", "m1", "m2"]
    assert list(avg.columns) == ["mixture", "ja_score", "en_score", "ja_diff", "en_diff",
                                 "diff_MCQA", "diff_MT", "diff_NER", "diff_DC", "diff_STS"]
    a = avg.set_index("mixture")
    np.testing.assert_allclose(a.loc["base", ["ja_score", "en_score"]], [0.4, 0.2])
    assert a.loc["base", ["ja_diff", "en_diff", "diff_MCQA"]].isna().all()
    np.testing.assert_allclose(a.loc["m1", ["ja_score", "en_score", "ja_diff", "en_diff"]],
                               [0.475, 0.1, 0.075, -0.1])
    np.testing.assert_allclose(a.loc["m1", ["diff_MCQA", "diff_MT", "diff_NER"]],
                               [0.1, -0.1, 0.05])
    assert a.loc["m1", ["diff_DC", "diff_STS"]].isna().all()  # no such tasks here
    np.testing.assert_allclose(a.loc["m2", ["ja_score", "en_score", "ja_diff", "en_diff"]],
                               [0.35, 0.25, -0.05, 0.05], atol=1e-12)


# --- correlations --------------------------------------------------------------------------


def _random_setting(n_mix=8, n_tasks=4, seed=0, exact=False):
    """A composition with n_mix mixtures and a long score-difference table.

    exact=False draws all seven statistics independently (no identities, so every partial
    correlation is defined); exact=True makes total = ja + en + parallel and ratios = shares.
    """
    rng = np.random.default_rng(seed)
    mixtures = [f"mix{i}" for i in range(n_mix)]
    comp = pd.DataFrame({"mixture": mixtures})
    if exact:
        for col in ("ja_tokens", "en_tokens", "parallel_tokens"):
            comp[col] = rng.integers(10**8, 4 * 10**10, n_mix)
        comp["total_tokens"] = comp["ja_tokens"] + comp["en_tokens"] + comp["parallel_tokens"]
        for lang in ("ja", "en", "parallel"):
            comp[f"{lang}_ratio"] = comp[f"{lang}_tokens"] / comp["total_tokens"]
    else:
        for col in STATISTICS:
            comp[col] = rng.uniform(0.05, 0.9, n_mix) if "ratio" in col else \
                rng.integers(10**8, 8 * 10**10, n_mix)
    comp = comp[["mixture", *STATISTICS]]
    rows = [{"mixture": m, "task": f"T{t}", "category": "MCQA",
             "language": "Japanese" if t % 2 else "English", "base_score": 0.5,
             "cpt_score": 0.5 + d, "score_diff": d}
            for m in mixtures for t in range(n_tasks)
            for d in [float(rng.normal(0, 0.05))]]
    return comp, pd.DataFrame(rows)


def test_correlations_match_scipy():
    comp, diffs = _random_setting(seed=1)
    corr = correlations(diffs, comp)
    assert list(corr.columns) == ["task", "statistic", "n", "r", "p"]
    assert len(corr) == 4 * len(STATISTICS)
    for _, row in corr.iterrows():
        y = diffs[diffs["task"] == row["task"]]["score_diff"].to_numpy()
        ref = sps.pearsonr(comp[row["statistic"]].to_numpy(float), y)
        assert row["n"] == 8
        assert row["r"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_partial_corr_matches_pingouin():
    rng = np.random.default_rng(7)
    n = 12
    z = rng.normal(size=(n, 2))
    x = z @ [1.0, -0.5] + rng.normal(size=n)
    y = 0.6 * x + z @ [0.3, 0.8] + rng.normal(size=n)
    res = partial_corr(x * 1e10, y, z)  # scale must not matter
    data = pd.DataFrame({"x": x, "y": y, "z1": z[:, 0], "z2": z[:, 1]})
    ref = pingouin.partial_corr(data, x="x", y="y", covar=["z1", "z2"])
    pval_col = "p_val" if "p_val" in ref.columns else "p-val"
    assert res.note == ""
    assert res.r == pytest.approx(float(ref["r"].iloc[0]), abs=1e-10)
    assert res.p == pytest.approx(float(ref[pval_col].iloc[0]), rel=1e-8)
    # The paper's p: the plain Pearson test on the residuals (df = n - 2).
    assert res.p_paper == pytest.approx(sps.pearsonr(
        x - np.c_[np.ones(n), z] @ np.linalg.lstsq(np.c_[np.ones(n), z], x, rcond=None)[0],
        y - np.c_[np.ones(n), z] @ np.linalg.lstsq(np.c_[np.ones(n), z], y, rcond=None)[0],
    ).pvalue, rel=1e-8)


def test_partial_correlations_table_matches_pingouin():
    comp, diffs = _random_setting(seed=3)
    covs = {"ja_tokens": ["en_tokens", "parallel_ratio"], "en_ratio": []}
    part = partial_correlations(diffs, comp, covs)
    assert list(part.columns) == ["task", "statistic", "covariates", "n", "r", "p_paper", "p",
                                  "note"]
    assert part["r"].notna().all()  # independent random statistics: nothing degenerate
    row = part[(part["task"] == "T1") & (part["statistic"] == "ja_tokens")].iloc[0]
    assert row["covariates"] == "en_tokens,parallel_ratio"
    data = comp.merge(diffs[diffs["task"] == "T1"][["mixture", "score_diff"]], on="mixture")
    data = data.astype({c: float for c in STATISTICS})
    ref = pingouin.partial_corr(data, x="ja_tokens", y="score_diff",
                                covar=["en_tokens", "parallel_ratio"])
    assert row["r"] == pytest.approx(float(ref["r"].iloc[0]), abs=1e-10)
    # Unspecified statistics keep the default group covariates; [] means none (plain Pearson).
    assert part[part["statistic"] == "total_tokens"]["covariates"].iloc[0] == \
        "ja_tokens,en_tokens,parallel_tokens"
    plain = part[(part["statistic"] == "en_ratio")].iloc[0]
    assert plain["covariates"] == "" and plain["p"] == pytest.approx(plain["p_paper"])


def test_partial_corr_hand_computed():
    # Covariate z splits the points into two groups; residuals are deviations from group means:
    # rx = [-.5, .5, -1, 1], ry = [.5, -.5, 0, 0] -> r = -0.5 / sqrt(2.5 * 0.5) = -1/sqrt(5).
    res = partial_corr([1, 2, 3, 5], [2, 1, 4, 4], [[0], [0], [1], [1]])
    assert res.n == 4 and res.k == 1
    assert res.r == pytest.approx(-1 / math.sqrt(5), abs=1e-12)
    # df = 2: t = -1/sqrt(2), p = 1 - |t|/sqrt(2 + t^2) = 1 - 1/sqrt(5).
    assert res.p_paper == pytest.approx(1 - 1 / math.sqrt(5), abs=1e-12)
    # df = 1 (Cauchy): t = -0.5, p = 1 - (2/pi) atan(0.5).
    assert res.p == pytest.approx(1 - 2 / math.pi * math.atan(0.5), abs=1e-12)
    assert res.p_paper < res.p  # the paper's df overstates significance for k >= 1


def test_p_paper_smaller_than_p_for_covariates():
    comp, diffs = _random_setting(seed=5)
    part = partial_correlations(diffs, comp, {s: ["en_tokens", "ja_ratio"] for s in
                                              ("total_tokens", "parallel_ratio")})
    sub = part[part["statistic"].isin(["total_tokens", "parallel_ratio"])]
    assert len(sub) == 8 and sub["r"].notna().all()
    assert (sub["p_paper"] < sub["p"]).all()


def test_count_identity_is_degenerate():
    comp, diffs = _random_setting(seed=2, exact=True)
    part = partial_correlations(
        diffs, comp, {"ja_tokens": ["total_tokens", "en_tokens", "parallel_tokens"]})
    ja = part[part["statistic"] == "ja_tokens"]
    assert ja["r"].isna().all() and ja["p"].isna().all() and ja["p_paper"].isna().all()
    assert ja["note"].str.contains("collinear with covariates").all()
    # pingouin returns a number for the same case: exactly the spurious value we must avoid.
    data = comp.merge(diffs[diffs["task"] == "T0"][["mixture", "score_diff"]], on="mixture")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pingouin.partial_corr(data.astype({c: float for c in STATISTICS}), x="ja_tokens",
                                    y="score_diff",
                                    covar=["total_tokens", "en_tokens", "parallel_tokens"])
    assert np.isfinite(float(ref["r"].iloc[0]))
    # With the default covariates every statistic is an exact function of its group.
    default = partial_correlations(diffs, comp)
    assert default["r"].isna().all()
    assert default["note"].str.startswith("predictor collinear").all()


def test_too_few_observations_and_constant_outcome():
    res = partial_corr([1, 2, 3, 5], [2, 1, 4, 4], [[0, 1], [0, 3], [1, 2], [1, 7]])
    assert math.isnan(res.r) and math.isnan(res.p) and math.isnan(res.p_paper)
    assert res.note.startswith("too few observations")
    # NaN outcomes drop their rows: 5 points -> 4 usable, k = 2 -> n <= k + 2.
    res = partial_corr([1, 2, 3, 5, 8], [2, 1, np.nan, 4, 4],
                       [[0, 1], [0, 3], [1, 2], [1, 7], [2, 2]])
    assert res.n == 4 and math.isnan(res.r)
    res = partial_corr([1, 2, 3, 5, 8], [0.1] * 5, [[0], [0], [1], [1], [3]])
    assert math.isnan(res.r) and res.note.startswith("constant outcome")


# --- files ---------------------------------------------------------------------------------


def _write_inputs(tmp_path, percent=False):
    comp, _ = _random_setting(n_mix=5, seed=11)
    if percent:
        comp[["ja_ratio", "en_ratio", "parallel_ratio"]] *= 100
    comp.to_csv(tmp_path / "composition.tsv", sep="\t", index=False)
    rng = np.random.default_rng(4)
    tasks = [("IgakuQA", "MCQA", "Japanese", "accuracy"), ("MedQA", "MCQA", "English", "accuracy"),
             ("EJMMT-Ja", "MT", "Japanese", "bleu"), ("NRNER", "NER", "Japanese", "entity_f1"),
             ("CRADE", "DC", "Japanese", "accuracy"), ("JCSTS", "STS", "Japanese", "pearson")]
    paths = {}
    for name in ["base", *comp["mixture"]]:
        df = pd.DataFrame(tasks, columns=["task", "category", "language", "metric"])
        df["score"] = rng.uniform(0.2, 0.7, len(tasks))
        df["n"] = 50
        df.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
        paths[name] = tmp_path / f"{name}.tsv"
    base = paths.pop("base")
    return tmp_path / "composition.tsv", base, paths


def test_run_analysis_writes_everything_byte_identically(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path)
    covs = {"ja_tokens": ["en_tokens"]}
    run_analysis(comp, base, mixes, tmp_path / "a", covs)
    run_analysis(comp, base, mixes, tmp_path / "b", covs)
    for name in OUTPUT_FILES:
        a, b = (tmp_path / d / name for d in ("a", "b"))
        assert a.is_file() and a.stat().st_size > 0, name
        assert a.read_bytes() == b.read_bytes(), f"{name} differs between runs"
    # Rerunning into an existing folder gives the same bytes and leaves no temporary files.
    first = {n: (tmp_path / "a" / n).read_bytes() for n in OUTPUT_FILES}
    run_analysis(comp, base, mixes, tmp_path / "a", covs)
    assert {n: (tmp_path / "a" / n).read_bytes() for n in OUTPUT_FILES} == first
    assert not list((tmp_path / "a").rglob("*.tmp"))
    long = pd.read_csv(tmp_path / "a" / "score_differences.tsv", sep="\t")
    assert len(long) == 5 * 6
    wide = pd.read_csv(tmp_path / "a" / "score_differences_wide.tsv", sep="\t")
    assert list(wide.columns) == ["task", "category", "language", *mixes]
    assert "0.1234567" not in (tmp_path / "a" / "score_differences.tsv").read_text()
    summary = (tmp_path / "a" / "summary.md").read_text()
    assert "| base |" in summary and "undefined" in summary
    assert (tmp_path / "a" / "figures" / "partial_correlations.png").read_bytes()[:4] == \
        b"\x89PNG"


def test_cli_and_percent_ratios(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path, percent=True)
    assert read_composition(comp)["ja_ratio"].max() <= 1.0  # percent read as fractions
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--composition", str(comp), "--base-scores", str(base),
                              "--mixture-scores", *[f"{k}={v}" for k, v in mixes.items()],
                              "--out", str(tmp_path / "out"),
                              "--covariates", "ja_ratio=en_tokens", "en_ratio="])
    assert run_from_args(args) == 0
    part = pd.read_csv(tmp_path / "out" / "partial_correlations.tsv", sep="\t",
                       keep_default_na=False)
    assert part[part["statistic"] == "ja_ratio"]["covariates"].unique().tolist() == ["en_tokens"]
    assert part[part["statistic"] == "en_ratio"]["covariates"].unique().tolist() == [""]
    bad = parser.parse_args(["--composition", str(comp), "--base-scores", str(base),
                             "--mixture-scores", "nameonly", "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="NAME=PATH"):
        run_from_args(bad)


def test_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "scores.tsv"
    BASE.drop(columns="score").to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"scores\.tsv.*missing column.*score"):
        read_scores(path)
    comp, _ = _random_setting()
    cpath = tmp_path / "comp.tsv"
    comp.drop(columns="parallel_ratio").to_csv(cpath, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"comp\.tsv.*missing column.*parallel_ratio"):
        read_composition(cpath)
