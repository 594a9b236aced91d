"""The planted check's power by sweep size (cptmix.analyze.power): its vectorised tests equal
the check's, power grows with the design and with the effect, a null task's false-positive
rate stays near alpha, and the job writes its table, summary and figure deterministically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cptmix.analyze.power import (
    _loo_spearman,
    _none_p,
    _slope_p,
    calibrate,
    power_table,
    simulate,
    skill_markdown,
    skill_targets,
    summary_markdown,
    surrogate_skill,
)
from cptmix.analyze.surrogate import _spearman, heldout_predictions, loo_folds
from cptmix.analyze.sweep import planted_sweep_check

SOURCES = ["a", "b", "c", "d"]
PLANTED = pd.DataFrame({
    "task": ["big", "small", "held", "none"], "expected_sign": ["+", "+", "-", "0"],
    "driver_sources": ["a", "b", "c", ""], "held_sources": ["", "", "d", "d"],
    "statistic": [""] * 4, "rationale": [""] * 4,
})
TRUE = {"big": {"a": 1.0}, "small": {"b": 0.3}, "held": {"c": -0.6, "d": 0.5},
        "none": {"d": 0.4}}


def _design(n: int, seed: int) -> pd.DataFrame:
    w = np.random.default_rng(seed).dirichlet(np.ones(len(SOURCES)), size=n)
    return pd.DataFrame(w, index=[f"m{i:03d}" for i in range(n)], columns=SOURCES)


def _runs(shares: pd.DataFrame, noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task, slope in TRUE.items():
        for m, w in shares.iterrows():
            for s in (1, 2):
                d = sum(v * w[src] for src, v in slope.items()) + rng.normal(0, noise)
                rows.append((m, s, task, "MCQA", "en", d, d))
    return pd.DataFrame(rows, columns=["mixture", "seed", "task", "category", "language",
                                       "value", "diff"])


def test_vectorised_tests_equal_the_planted_check():
    shares = _design(20, 0)
    runs = _runs(shares, 0.1)
    check = planted_sweep_check(PLANTED, runs, shares).set_index("task")
    mean = runs.groupby(["task", "mixture"], sort=False)["diff"].mean()
    s = shares.to_numpy()
    z = shares[["d"]].to_numpy()
    for task, driver, held in (("big", "a", np.empty((20, 0))), ("small", "b", np.empty((20, 0))),
                               ("held", "c", z)):
        y = mean.loc[task].reindex(shares.index).to_numpy()[:, None]
        slope, p = _slope_p(y, shares[driver].to_numpy(), held)
        assert np.isclose(slope[0], check.loc[task, "estimate"], rtol=1e-9, atol=1e-12)
        assert np.isclose(p[0], check.loc[task, "p"], rtol=1e-7, atol=1e-14)
    y = mean.loc["none"].reindex(shares.index).to_numpy()[:, None]
    assert np.isclose(_none_p(y, s, z)[0], check.loc["none", "p"], rtol=1e-7)


def test_power_grows_with_design_size_and_effect_size_and_nulls_stay_near_alpha():
    measured = _design(40, 1)
    runs = _runs(measured, 0.15, seed=3)
    designs = {16: _design(16, 5), 64: _design(64, 6)}
    table, summary = power_table(PLANTED, runs, measured, designs, 300, 0, "continuous",
                                 n_measured=16)
    power = table.set_index(["n_sweep", "task"])["power"]
    assert power[(64, "big")] > 0.95  # a large effect is found at either size
    assert power[(64, "small")] > power[(16, "small")] + 0.2  # a small one needs more runs
    assert power[(16, "small")] < power[(16, "big")]
    assert power[(16, "none")] < 0.15 and power[(64, "none")] < 0.15  # ~ alpha: nulls hold
    rows = summary.set_index("n_sweep")
    assert rows.loc[64, "recovered_mean"] > rows.loc[16, "recovered_mean"]
    assert rows.loc[16, "nonzero"] == 3 and rows.loc[16, "none"] == 1
    # deterministic in the seed
    again, _ = power_table(PLANTED, runs, measured, designs, 300, 0, "continuous",
                           n_measured=16)
    pd.testing.assert_frame_equal(table, again)


def test_a_task_without_effect_has_power_near_zero_control():
    """The control: with nothing planted (pure noise), the calibrated truth is noise-sized and
    the simulated recovery stays far below a planted effect's."""
    measured = _design(16, 2)
    rng = np.random.default_rng(9)
    runs = _runs(measured, 0.15, seed=4)
    runs["diff"] = rng.normal(0, 0.15, len(runs))  # every effect removed
    table, _ = power_table(PLANTED, runs, measured, {64: _design(64, 7)}, 300, 0, "score",
                           n_measured=16)
    assert table.loc[table["expected_sign"] != "0", "power"].max() < 0.5


def test_untestable_designs_give_nan_power_and_are_not_counted():
    measured = _design(16, 3)
    runs = _runs(measured, 0.1)
    truths = calibrate(PLANTED, runs, measured)
    flat = measured.copy()
    flat["a"] = 0.25  # the driver of "big" does not vary in this design
    per_task, counts, _ = simulate(truths, flat, 50, np.random.default_rng(0))
    assert np.isnan(per_task.set_index("task").loc["big", "power"])
    assert counts.max() <= 2


def test_summary_names_the_weak_tasks_and_the_measured_count():
    measured = _design(16, 4)
    table, summary = power_table(PLANTED, _runs(measured, 0.15), measured,
                                 {16: _design(16, 8), 32: _design(32, 9)}, 100, 0, "continuous",
                                 n_measured=16)
    text = summary_markdown(summary, table, {"continuous": 2}, 2)
    assert "| continuous | 16 | 16 |" in text and "| 2 |" in text
    assert "below power 0.5 at 32 sweep mixtures" in text
    # sizes without the measured one (multipliers [2]): no row claims the measured count
    _, larger = power_table(PLANTED, _runs(measured, 0.15), measured, {32: _design(32, 9)},
                            100, 0, "continuous", n_measured=16)
    assert larger["multiplier"].tolist() == [2]
    row = next(line for line in summary_markdown(larger, table, {"continuous": 2}, 2)
               .splitlines() if line.startswith("| continuous | 32 |"))
    assert row.split("|")[7].strip() == ""  # the "measured" column


def test_too_few_measured_points_simulate_nothing_and_say_why(tmp_path):
    measured = _design(4, 5)  # 4 points, 4 sources: the linear mixture model has no df left
    table, summary = power_table(PLANTED, _runs(measured, 0.1), measured,
                                 {4: _design(4, 6)}, 50, 0, "score", n_measured=4)
    assert table.empty and summary.empty
    text = summary_markdown(summary, table, {"score": 0}, 2, 4, 4)
    assert "needs more than 4 measured design points" in text and "has 4" in text


def _targets(shares: pd.DataFrame, slope: float, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = slope * shares["a"] - 0.5 * slope * shares["b"] + rng.normal(0, noise, len(shares))
    return pd.DataFrame({"ja_average": y}, index=shares.index)


def test_closed_form_loo_spearman_is_the_linear_surrogates():
    shares = _design(20, 10)
    y = _targets(shares, 1.0, 0.1, 0)["ja_average"].to_numpy()
    pred, _ = heldout_predictions("linear", shares.to_numpy(), y, loo_folds(20))
    x = np.column_stack([np.ones(20), shares.to_numpy()[:, :-1]])
    assert np.isclose(_loo_spearman(x, y[:, None])[0], _spearman(pred, y)[0], atol=1e-12)


def test_surrogate_skill_grows_with_runs_up_to_its_ceiling_and_noise_gives_none():
    measured = _design(24, 11)
    designs = {16: _design(16, 12), 64: _design(64, 13)}
    skill = surrogate_skill(_targets(measured, 1.0, 0.15, 1), measured, designs, 300,
                            np.random.default_rng(0), "continuous",
                            n_measured=16).set_index("n_sweep")
    assert skill.loc[64, "loo_spearman_mean"] > skill.loc[16, "loo_spearman_mean"]
    assert (skill["loo_spearman_mean"] <= skill["ceiling_mean"] + 0.02).all()
    assert np.isfinite(skill.loc[16, "measured_loo_spearman"])
    assert np.isnan(skill.loc[64, "measured_loo_spearman"])  # measured only at 1x
    assert 0 <= skill.loc[64, "p_reaching_goal"] <= 1
    # control: a target with no dependence on the shares has no skill at any size
    noise = pd.DataFrame({"en_average": np.random.default_rng(2).normal(0, 0.1, 24)},
                         index=measured.index)
    flat = surrogate_skill(noise, measured, designs, 300, np.random.default_rng(0), "score",
                           n_measured=16)
    assert (flat["loo_spearman_mean"].abs() < 0.25).all() and (flat["ceiling_mean"] < 0.25).all()


def test_surrogate_skill_needs_more_mixtures_than_sources():
    measured = _design(4, 14)
    skill = surrogate_skill(_targets(measured, 1.0, 0.1, 0), measured, {4: _design(4, 15)}, 20,
                            np.random.default_rng(0), "score", n_measured=4)
    assert skill.empty
    assert "needs more than 4 measured design points; the measured design has 4" in \
        skill_markdown(skill, 4, 4)


def test_skill_targets_add_the_objective_only_when_it_is_not_an_average():
    runs = pd.DataFrame({"mixture": ["m1", "m2"], "seed": [1, 1], "MedQA": [0.1, 0.3],
                         "IgakuQA": [0.2, 0.0], "ja_average": [0.2, 0.0],
                         "en_average": [0.1, 0.3]})
    _, names = skill_targets(runs, {"metric": "continuous", "targets": {"ja_average": 1.0}})
    assert names == ["ja_average", "en_average"]
    _, names = skill_targets(runs, None)  # another metric than the objective's
    assert names == ["ja_average", "en_average"]
    out, names = skill_targets(runs, {"targets": {"MedQA": 1.0, "IgakuQA": 1.0}})
    assert names == ["ja_average", "en_average", "objective"]
    assert out["objective"].tolist() == pytest.approx([0.15, 0.15])
