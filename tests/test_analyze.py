"""Tests of the analysis stage (cptmix.analyze): score differences, averages, correlations,
the paper's partial correlation (against pingouin and a hand computation), degenerate cases,
and byte-identical reruns of run_analysis."""

from __future__ import annotations

import argparse
import hashlib
import json
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
from cptmix.analyze.checks import check_differences
from cptmix.analyze.cli import add_arguments, run_from_args
from cptmix.analyze.differences import averages_from_differences
from cptmix.analyze.inference import (
    bh_qvalues,
    jackknife_ci,
    leave_one_out_r,
    naive_permutation_pvalue,
    permutation_pvalue,
    permutations_for,
    sign_stability,
    vif_max,
)
from cptmix.analyze.predict import loo_prediction, ridge_predict
from cptmix.analyze.run import DIFFERENCES_OUTPUT_FILES, OUTPUT_FILES, PLANTED_FILE
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
                                  "p_perm", "q_bh", "ci_low", "ci_high", "loo_sign_stable",
                                  "vif_max", "note"]
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
        df["stderr"] = np.sqrt(df["score"] * (1 - df["score"]) / 50)
        df["n"] = 50
        df.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
        paths[name] = tmp_path / f"{name}.tsv"
    base = paths.pop("base")
    return tmp_path / "composition.tsv", base, paths


def _nested(base, mixes):
    """One evaluation per model as run_analysis's {model: {seed: path}} (seed 0)."""
    return {"base": {0: base}, **{m: {0: p} for m, p in mixes.items()}}


def test_run_analysis_writes_everything_byte_identically(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path)
    covs = {"ja_tokens": ["en_tokens"]}
    run_analysis(comp, _nested(base, mixes), tmp_path / "a", covariates=covs)
    run_analysis(comp, _nested(base, mixes), tmp_path / "b", covariates=covs)
    for name in OUTPUT_FILES:
        a, b = (tmp_path / d / name for d in ("a", "b"))
        assert a.is_file() and a.stat().st_size > 0, name
        assert a.read_bytes() == b.read_bytes(), f"{name} differs between runs"
    # Rerunning into an existing folder gives the same bytes and leaves no temporary files
    # (tables only: the figures were compared above, and drawing them is most of the time).
    first = {n: (tmp_path / "a" / n).read_bytes() for n in OUTPUT_FILES}
    run_analysis(comp, _nested(base, mixes), tmp_path / "a", covariates=covs,
                 make_figures=False)
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
    # No run-dependent metadata: no matplotlib version in PNGs, no date in SVGs.
    svg = (tmp_path / "a" / "figures" / "forest_ja_tokens.svg").read_text()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg
    assert b"Software" not in (tmp_path / "a" / "figures" / "composition.png").read_bytes()


def test_cli_and_percent_ratios(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path, percent=True)
    assert read_composition(comp)["ja_ratio"].max() <= 1.0  # percent read as fractions
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--composition", str(comp), "--base-scores", str(base),
                              "--mixture-scores", *[f"{k}={v}" for k, v in mixes.items()],
                              "--out", str(tmp_path / "out"),
                              "--covariates", "ja_ratio=en_tokens", "en_ratio=",
                              "--no-figures"])
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


# --- permutation p, BH q, leave-one-out, jackknife, VIF ------------------------------------


@pytest.mark.parametrize(("x", "y", "z", "expected"), [
    # Perfectly monotone, no covariates: only the identity and the reversal reach |r| = 1.
    ([1, 2, 3, 4], [10, 20, 30, 40], None, 2 / 24),
    # A one-hot outcome on the mixture where a one-hot predictor peaks: r = 1, yet 1 of the
    # n positions is as extreme -> p = 1/n (the t-test would say p = 0).
    ([0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0.25], None, 1 / 6),
    # y = x with unequally spaced values: only the identity reaches |r| = 1 (the reversal is
    # not a linear function of x here), so p = 1/5!.
    ([3, 1, 4, 1.5, 9], [3, 1, 4, 1.5, 9], None, 1 / 120),
    # One covariate (k = 1), x = y: the group-mean residuals are rx = [-1.5, -3, 1.5, 3]; the
    # identity gives r = 1 and swapping within both groups gives exactly -rx (r = -1), every
    # other ordering less: p = 2/4! although the t-test (df = n-2-k = 1) says p = 0.
    ([1, 2, 4, 8], [1, 2, 4, 8], [[0], [1], [0], [1]], 2 / 24),
])
def test_permutation_pvalue_known_cases(x, y, z, expected):
    assert permutation_pvalue(x, y, z) == pytest.approx(expected, abs=1e-12)


def test_permutation_pvalue_matches_naive_loop_with_covariates():
    rng = np.random.default_rng(12)
    z = rng.normal(size=(6, 2))
    x = z @ [0.5, 1.0] + rng.normal(size=6)
    y = 0.8 * x + rng.normal(size=6) * 0.5
    fast = permutation_pvalue(x * 1e9, y, z)
    assert fast == pytest.approx(naive_permutation_pvalue(x * 1e9, y, z), abs=1e-12)
    assert 1 / 720 <= fast <= 1 and fast * 720 == pytest.approx(round(fast * 720))
    assert len(permutations_for(6)) == 720 and (permutations_for(6)[0] == np.arange(6)).all()


def test_monte_carlo_permutations_beyond_exact_limit_are_seeded():
    perms = permutations_for(10)
    assert perms.shape == (10000, 10) and (perms[0] == np.arange(10)).all()
    assert (np.sort(perms, axis=1) == np.arange(10)).all()  # every row a permutation
    x = np.arange(10.0)
    p = permutation_pvalue(x, x, None)
    assert p == permutation_pvalue(x, x, None) and p == pytest.approx(1 / 10000, abs=2e-4)


def test_bh_qvalues_by_hand_and_nan_kept():
    # p sorted: .01, .02, .03, .5 with m = 4 -> q = min over j>=i of p_(j) m / j.
    q = bh_qvalues([0.03, np.nan, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(q[[0, 2, 3, 4]], [0.04, 0.04, 0.5, 0.04])
    assert np.isnan(q[1])


def test_leave_one_out_and_jackknife_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, 3.0, 2.0, 5.0, 4.0]
    loo = leave_one_out_r(x, y)
    for i in range(5):
        keep = [j for j in range(5) if j != i]
        ref = sps.pearsonr(np.array(x)[keep], np.array(y)[keep]).statistic
        assert loo[i] == pytest.approx(ref, abs=1e-12)
    r = sps.pearsonr(x, y).statistic  # 0.8
    assert sign_stability(r, loo) == 1.0
    assert sign_stability(r, np.array([0.5, -0.1, np.nan])) == 0.5
    low, high = jackknife_ci(r, loo)
    z = np.arctanh(loo)
    se = math.sqrt(4 / 5 * np.sum((z - z.mean()) ** 2))
    half = sps.t.ppf(0.975, 4) * se
    assert (low, high) == pytest.approx((math.tanh(math.atanh(r) - half),
                                         math.tanh(math.atanh(r) + half)), abs=1e-12)
    assert low < r < high
    assert all(math.isnan(v) for v in jackknife_ci(r, np.array([0.5, np.nan, 0.2, 0.1])))


def test_vif_max_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    z = np.array([1.0, 3.0, 2.0, 5.0, 4.0])  # corr(x, z) = 0.8 -> VIF = 1 / (1 - 0.64)
    assert vif_max(x, z[:, None]) == pytest.approx(1 / 0.36, rel=1e-9)
    assert vif_max(x) == 1.0
    assert vif_max(x, np.c_[z, x + 2 * z]) == math.inf  # exact linear identity


def test_robust_columns_on_exact_identity_are_nan():
    comp, diffs = _random_setting(n_mix=6, seed=2, exact=True)
    part = partial_correlations(
        diffs, comp, {"ja_tokens": ["total_tokens", "en_tokens", "parallel_tokens"],
                      "en_ratio": ["ja_tokens"]})
    ja = part[part["statistic"] == "ja_tokens"]
    assert ja[["p_perm", "q_bh", "ci_low", "ci_high", "loo_sign_stable"]].isna().all().all()
    assert (ja["vif_max"] == math.inf).all()
    en = part[part["statistic"] == "en_ratio"]
    assert en["p_perm"].between(1 / 720, 1).all() and en["q_bh"].notna().all()
    assert (en["q_bh"] >= en["p_perm"] - 1e-12).all()
    # One family: BH over every defined p_perm of the table, whatever the statistic.
    defined = part["p_perm"].notna()
    np.testing.assert_allclose(part.loc[defined, "q_bh"],
                               sps.false_discovery_control(part.loc[defined, "p_perm"]))


def test_sign_stability_treats_rounding_level_r_as_zero():
    # 2e-16 is an exact zero up to rounding: it must not count as "same sign" by chance.
    assert sign_stability(-0.01, np.array([0.8, 2e-16, -0.3, -0.2])) == 0.5
    assert sign_stability(-0.01, np.array([0.8, -2e-16, -0.3, -0.2])) == 0.5


# --- long score-difference input (cptmix analyze --scores) ---------------------------------


def test_cli_scores_long_form_matches_per_model_form(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path)
    run_analysis(comp, _nested(base, mixes), tmp_path / "per_model", make_figures=False)
    # The workflow's own long table (with base_score/cpt_score) plus an unrelated column.
    long = pd.read_csv(tmp_path / "per_model" / "score_differences.tsv", sep="\t")
    long["comment"] = "ignored"
    long.sample(frac=1.0, random_state=0).to_csv(tmp_path / "S.tsv", sep="\t", index=False)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--composition", str(comp), "--scores", str(tmp_path / "S.tsv"),
                              "--out", str(tmp_path / "long"), "--no-figures"])
    assert run_from_args(args) == 0
    for name in DIFFERENCES_OUTPUT_FILES:
        assert name.startswith("figures/") or (tmp_path / "long" / name).is_file(), name
    assert not (tmp_path / "long" / "noise_floors.tsv").exists()  # no seeds: no noise floor
    for name in ("partial_correlations.tsv", "averages.tsv", "prediction.tsv"):
        b = pd.read_csv(tmp_path / "long" / name, sep="\t")
        # The per-model form adds SE columns (table 1) that a bare difference table cannot give.
        a = pd.read_csv(tmp_path / "per_model" / name, sep="\t")[list(b.columns)]
        key = [c for c in ("task", "statistic", "mixture") if c in a.columns]
        a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4, obj=name)
    both = parser.parse_args(["--composition", str(comp), "--scores", str(tmp_path / "S.tsv"),
                              "--base-scores", str(base), "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="give one of --scores"):
        run_from_args(both)
    neither = parser.parse_args(["--composition", str(comp), "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="give --scores"):
        run_from_args(neither)


def test_differences_only_table_by_hand():
    long = pd.DataFrame({"mixture": ["m1", "m1", "m2", "m2"], "task": ["A", "B", "A", "B"],
                         "category": ["MCQA", "MT", "MCQA", "MT"],
                         "language": ["Japanese", "English"] * 2,
                         "score_diff": ["0.1", "-0.2", "0.3", ""]})
    diffs = check_differences(long)
    assert diffs["base_score"].isna().all() and np.isnan(diffs["score_diff"].iloc[3])
    avg = averages_from_differences(diffs).set_index("mixture")
    assert avg.loc["base"].isna().all() and avg["ja_score"].isna().all()
    np.testing.assert_allclose(avg.loc["m1", ["ja_diff", "en_diff", "diff_MCQA", "diff_MT"]],
                               [0.1, -0.2, 0.1, -0.2])
    assert avg.loc["m2", "ja_diff"] == pytest.approx(0.3) and np.isnan(avg.loc["m2", "en_diff"])
    # A task missing for one mixture becomes a NaN row of the full grid.
    grid = check_differences(long.iloc[:3])
    assert len(grid) == 4 and np.isnan(grid["score_diff"].iloc[3])


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.drop(columns="score_diff"), r"missing column.*score_diff"),
    (lambda d: pd.concat([d, d.iloc[:1]]), r"'m1', task 'A' listed more than once"),
    (lambda d: d.assign(score_diff=["x", "1", "2", "3"]), r"score_diff is not numeric"),
    (lambda d: d.assign(mixture=["base"] * 2 + ["m2"] * 2), r"reserved"),
    (lambda d: d.assign(category=["MCQA", "MT", "NER", "MT"]), r"'A' has more than one"),
])
def test_check_differences_errors(change, message):
    long = pd.DataFrame({"mixture": ["m1", "m1", "m2", "m2"], "task": ["A", "B", "A", "B"],
                         "category": ["MCQA", "MT", "MCQA", "MT"],
                         "language": ["Japanese", "English"] * 2,
                         "score_diff": [0.1, -0.2, 0.3, 0.0]})
    with pytest.raises(ValueError, match=message):
        check_differences(change(long))


# --- prediction ----------------------------------------------------------------------------


def test_ridge_predict_by_hand():
    # x = [0, 2] -> standardised [-1, 1]; beta = sum(xs * (y - 1)) / (sum(xs^2) + alpha)
    # = 2 / 3; x = 4 -> xs = 3 -> 1 + 3 * 2/3 = 3.
    pred = ridge_predict(np.array([[0.0], [2.0]]), np.array([0.0, 2.0]), np.array([[4.0]]), 1.0)
    assert pred[0] == pytest.approx(3.0, abs=1e-12)
    # A feature constant in training carries nothing: the prediction is the training mean.
    pred = ridge_predict(np.array([[1.0], [1.0]]), np.array([0.0, 2.0]), np.array([[5.0]]))
    assert pred[0] == pytest.approx(1.0, abs=1e-12)


def test_loo_prediction_skill():
    comp, diffs = _random_setting(n_mix=8, n_tasks=3, seed=9)
    x = np.log1p(comp.set_index("mixture")["ja_tokens"].astype(float))
    signal = {m: 0.1 * (x[m] - x.mean()) for m in comp["mixture"]}
    diffs.loc[diffs["task"] == "T0", "score_diff"] = diffs["mixture"].map(signal)
    diffs.loc[diffs["task"] == "T1", "score_diff"] = 0.05  # constant: nothing to predict
    pred = loo_prediction(diffs, comp).set_index("task")
    assert list(pred.reset_index().columns) == ["task", "n", "mae_model", "mae_mean", "skill"]
    assert pred.loc["T0", "skill"] > 0.3  # composition does predict a planted signal
    assert pred.loc["T1", "mae_mean"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(pred.loc["T1", "skill"])
    row = pred.loc["T2"]
    assert row["skill"] == pytest.approx(1 - row["mae_model"] / row["mae_mean"])


# --- planted effects (the check itself: tests/test_replicates.py) --------------------------


def test_run_analysis_with_planted_and_provenance(tmp_path):
    comp, base, mixes = _write_inputs(tmp_path)
    names = list(mixes)
    # A chain design: each mixture adds one source to the previous one.
    sources = {m: {f"s{j}": 1.0 for j in range(i + 1)} for i, m in enumerate(names)}
    planted = tmp_path / "planted_effects.tsv"
    pd.DataFrame({"task": ["IgakuQA", "JCSTS"], "expected_sign": ["+", "0"],
                  "driver_sources": ["s1", ""], "held_sources": ["s0", "s0"],
                  "statistic": ["ja_tokens", ""],
                  "rationale": ["", ""]}).to_csv(planted, sep="\t", index=False)
    config = {"b": [1, 2], "a": {"z": 1.5, "y": "text"}}
    run_analysis(comp, _nested(base, mixes), tmp_path / "out", planted=planted,
                 mixture_sources=sources, config=config, make_figures=False)
    check = pd.read_csv(tmp_path / "out" / PLANTED_FILE, sep="\t", keep_default_na=False)
    assert check["task"].tolist() == ["IgakuQA", "JCSTS"]
    # s1 is raised by exactly one covering edge: mixture 1 vs mixture 0.
    assert check["edges"].iloc[0] == f"{names[1]} vs {names[0]}"
    assert check["edges"].iloc[1].count(" vs ") == len(names) - 1
    assert set(check["recovered"]) <= {"yes", "no", "untestable", "false positive"}
    assert check["test"].str.contains("no items, 1 seed").all()
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    canonical = '{"a":{"y":"text","z":1.5},"b":[1,2]}'
    assert prov["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert prov["inputs_sha256"]["planted"] == hashlib.sha256(planted.read_bytes()).hexdigest()
    assert prov["software"]["numpy"] == np.__version__
    table = pd.read_csv(tmp_path / "out" / "provenance.tsv", sep="\t")
    assert {"software.python", "settings.covariates.ja_tokens", "settings.metric"} <= \
        set(table["key"])
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## How much survives" in summary and "## Planted effects" in summary
    bad = tmp_path / "bad.tsv"
    pd.DataFrame({"task": ["A"], "expected_sign": ["?"], "driver_sources": [""],
                  "held_sources": [""], "statistic": [""], "rationale": [""]}).to_csv(
        bad, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"bad\.tsv.*expected_sign"):
        run_analysis(comp, _nested(base, mixes), tmp_path / "bad", planted=bad,
                     make_figures=False)
    old = tmp_path / "old.tsv"
    pd.DataFrame({"task": ["A"], "expected_driver": ["none"], "expected_sign": ["0"]}).to_csv(
        old, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"old\.tsv: missing column\(s\) driver_sources"):
        run_analysis(comp, _nested(base, mixes), tmp_path / "bad", planted=old,
                     make_figures=False)
