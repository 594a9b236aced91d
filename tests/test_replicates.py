"""Tests of the seed-aware analysis: the two-way seed x item test (by hand, S = 1 = paired t,
calibration), STS pseudo-values, the design's covering edges, noise floors, the bootstrap's
pairing, the honest planted check with its controls, bad inputs and byte-identical reruns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from replicate_world import DEMO_DESIGN, write_world
from scipy import stats as sps

from cptmix.analyze import run_analysis
from cptmix.analyze.bootstrap import BOOTSTRAP_SEED, bootstrap_differences
from cptmix.analyze.design import covering_edges, design_edges
from cptmix.analyze.noise import averages_se, difference_tests, noise_floors
from cptmix.analyze.planted import PLANTED_CHECK_COLUMNS, planted_check
from cptmix.analyze.replicates import ReplicateData, TaskItems, jackknife_pseudo_values
from cptmix.analyze.run import OUTPUT_FILES, PLANTED_FILE
from cptmix.analyze.twoway import seed_item_test

# --- the two-way test ------------------------------------------------------------------------


def test_two_way_se_by_hand():
    # d = [[1, 2, 3], [3, 4, 8]]: grand mean 3.5, seed means 2, 5, item means 2, 3, 5.5.
    # MS_seed = 3 (1.5^2 + 1.5^2) / 1 = 13.5; MS_item = 2 (1.5^2 + .5^2 + 2^2) / 2 = 6.5;
    # residuals +-[.5, .5, -1] -> SS = 3 over 2 df, MS_res = 1.5.
    # var_a = (13.5 - 1.5)/3 = 4, var_b = (6.5 - 1.5)/2 = 2.5, var_e = 1.5:
    # Var = 4/2 + 2.5/3 + 1.5/6 = 18.5/6; df = 18.5^2 / (13.5^2/1 + 6.5^2/2 + 1.5^2/2).
    res = seed_item_test(np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 8.0]]))
    var = 18.5 / 6
    df = 18.5 ** 2 / (13.5 ** 2 + 6.5 ** 2 / 2 + 1.5 ** 2 / 2)
    assert float(res["estimate"]) == pytest.approx(3.5)
    assert float(res["se"]) == pytest.approx(math.sqrt(var), rel=1e-12)
    assert float(res["df"]) == pytest.approx(df, rel=1e-12)
    assert float(res["p"]) == pytest.approx(2 * sps.t.sf(3.5 / math.sqrt(var), df), rel=1e-10)
    assert float(res["seed_var"]) == pytest.approx(2.0) and \
        float(res["item_var"]) == pytest.approx(2.5 / 3)


def test_two_way_floors_the_seed_component_but_keeps_its_df():
    # d = [[1, 2, 3], [2, 1, 3]]: seed means equal -> MS_seed = 0 < MS_res = 0.5 (residuals
    # +-[.5, -.5, 0]); MS_item = 2 (.25 + .25 + 1)/2 = 1.5. var_a floored at 0, var_b = 0.5,
    # Var = 0.5/3 + 0.5/6 = 0.25; the seed stratum (MS_res standing in) keeps its 1 df:
    # df = 1.5^2 / (0.5^2/1 + 1.5^2/2 + 0.5^2/2) = 1.5 (not the residual's 2).
    res = seed_item_test(np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]]))
    assert float(res["se"]) == pytest.approx(0.5, rel=1e-12)
    assert float(res["df"]) == pytest.approx(1.5, rel=1e-12)
    assert float(res["seed_var"]) == 0.0


def test_one_seed_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    base = rng.random(40)
    cpt = base + rng.normal(0.05, 0.2, 40)
    res = seed_item_test((cpt - base)[None, :])
    ref = sps.ttest_rel(cpt, base)
    assert float(res["estimate"] / res["se"]) == pytest.approx(ref.statistic, rel=1e-10)
    assert float(res["p"]) == pytest.approx(ref.pvalue, rel=1e-10)
    assert float(res["df"]) == 39


def test_two_way_test_is_calibrated_where_items_only_is_not():
    # Null differences with a training-noise seed effect larger than the item noise of a mean:
    # the two-way test keeps (about) its level, the items-only paired t on the seed-pooled
    # items does not.
    rng = np.random.default_rng(11)
    reps, s_n, i_n = 4000, 3, 120
    d = (rng.normal(0, 0.05, (reps, s_n, 1)) + rng.normal(0, 0.02, (reps, 1, i_n))
         + rng.normal(0, 0.15, (reps, s_n, i_n)))
    two_way = float(np.mean(seed_item_test(d)["p"] < 0.05))
    naive = float(np.mean(seed_item_test(d.reshape(reps, 1, s_n * i_n))["p"] < 0.05))
    assert 0.02 <= two_way <= 0.075
    assert naive > 0.3


def test_pearson_pseudo_values_mean_is_r_and_spread_is_the_jackknife():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, 30).astype(float)
    y = np.clip(x + rng.normal(0, 1.2, 30), 0, 5).round()
    pseudo = jackknife_pseudo_values(x, y)
    r = np.corrcoef(x, y)[0, 1]
    assert pseudo.mean() == pytest.approx(r, abs=1e-12)
    loo = np.array([np.corrcoef(np.delete(x, i), np.delete(y, i))[0, 1] for i in range(30)])
    jack_var = 29 / 30 * np.sum((loo - loo.mean()) ** 2)
    assert pseudo.var(ddof=1) / 30 == pytest.approx(jack_var, rel=1e-9)


# --- the design ------------------------------------------------------------------------------


def test_covering_edges_of_the_demo_design():
    edges = covering_edges(DEMO_DESIGN)
    assert [(e.a, e.b) for e in edges] == [
        ("JaDominant", "EnJa-Base"), ("EnDominant", "EnJa-Base"), ("EnJa-Plus", "EnDominant"),
        ("EnJa-Balance", "JaDominant"), ("EnJa-Balance", "EnJa-Plus"),
        ("EnJa-Hybrid", "EnJa-Balance")]
    by_name = {e.name: e for e in edges}
    assert by_name["EnJa-Hybrid vs EnJa-Balance"].added_text() == \
        "parallel_abstracts 0.1→1, textbooks 0→1"
    assert by_name["EnJa-Balance vs EnJa-Plus"].raised_sources() == {"pmc_ja_mt"}
    # EnJa-Balance does not cover EnDominant: EnJa-Plus lies between them.
    assert "EnJa-Balance vs EnDominant" not in by_name
    paper = design_edges(DEMO_DESIGN, list(DEMO_DESIGN))[-1]
    assert (paper.name, paper.kind) == ("JaDominant vs EnDominant", "paper")
    assert paper.added_text() == "pmc_ja_mt 0→1; lowered: pmc_en 1→0"


# --- small ReplicateData by hand --------------------------------------------------------------


def _data(values: np.ndarray, models=("base", "A", "B"), seeds=(1, 2)) -> ReplicateData:
    """values (M, S, T, I) -> ReplicateData with item means as scores."""
    n_tasks = values.shape[2]
    tasks = pd.DataFrame({"task": [f"T{t}" for t in range(n_tasks)], "category": "MCQA",
                          "language": ["Japanese", "English"] * (n_tasks // 2) +
                          ["Japanese"] * (n_tasks % 2), "metric": "accuracy"})
    return ReplicateData(list(models), list(seeds), tasks, values.mean(-1),
                         np.full(values.shape[:3], np.nan), np.full(n_tasks, values.shape[3]),
                         [TaskItems(values[:, :, t]) for t in range(n_tasks)])


def test_noise_floors_by_hand():
    # One task, 2 seeds, 2 items; scores per (model, seed) = item means.
    v = np.zeros((3, 2, 1, 2))
    v[0, :, 0] = [[0.0, 1.0], [1.0, 1.0]]  # base: 0.5, 1.0
    v[1, :, 0] = [[1.0, 1.0], [1.0, 1.0]]  # A: 1.0, 1.0
    v[2, :, 0] = [[0.0, 0.0], [1.0, 0.0]]  # B: 0.0, 0.5
    data = _data(v)
    floors = noise_floors(data, difference_tests(data)).iloc[0]
    assert floors["sd_base"] == pytest.approx(math.sqrt(0.125))  # SD of (0.5, 1.0)
    assert floors["sd_cpt"] == pytest.approx(math.sqrt((0 + 0.125) / 2))
    # Differences: A - base = (0.5, 0), B - base = (-0.5, -0.5): variances 0.125 and 0.
    assert floors["sd_diff"] == pytest.approx(math.sqrt(0.125 / 2))
    assert floors["n_seeds"] == 2 and floors["n_items"] == 2 and floors["scope"] == "full"
    tests = difference_tests(data)[0]
    assert floors["se_diff"] == pytest.approx(math.sqrt(np.mean(tests["se"] ** 2)))
    df = np.median(tests["df"])
    assert floors["mdd"] == pytest.approx((sps.t.ppf(0.975, df) + sps.t.ppf(0.8, df))
                                          * floors["se_diff"])


def test_one_seed_noise_floor_is_nan_and_averages_se_is_items_only():
    rng = np.random.default_rng(8)
    v = (rng.random((3, 1, 2, 20)) < 0.5).astype(float)
    data = _data(v, seeds=(7,))
    tests = difference_tests(data)
    floors = noise_floors(data, tests)
    assert floors[["sd_base", "sd_cpt", "sd_diff"]].isna().all().all()
    assert floors["note"].str.contains("training noise not measured").all()
    se = averages_se(data, tests).set_index("mixture")
    # T0 is Japanese, T1 English: each language mean is one task's difference.
    assert se.loc["A", "ja_diff_se"] == pytest.approx(float(tests[0]["se"][0]))
    assert se.loc["B", "en_diff_se"] == pytest.approx(float(tests[1]["se"][1]))


def test_bootstrap_keeps_the_pairing():
    # The bootstrap differences must equal a by-hand resample with the same draws: one seed
    # draw shared by all tasks, one item draw per task shared by every model.
    rng = np.random.default_rng(2)
    v = rng.random((3, 2, 2, 5))
    data = _data(v)
    boot = bootstrap_differences(data, n_boot=4)
    ref = np.random.default_rng(BOOTSTRAP_SEED)
    seed_w = ref.multinomial(2, [0.5, 0.5], size=4) / 2
    for t in range(2):
        counts = ref.multinomial(5, np.full(5, 0.2), size=4)
        for b in range(4):
            means = (v[:, :, t, :] * counts[b]).sum(-1) / 5  # (M, S)
            avg = means @ seed_w[b]
            np.testing.assert_allclose(boot[t, b], avg[1:] - avg[0], atol=1e-12)


# --- planted check -----------------------------------------------------------------------------


def _planted_data(d_ab, d_cb=None):
    """Models base, A={x}, B={x, y}, C={x, y, z}; one seed; one task; B - A = d_ab."""
    d_ab = np.asarray(d_ab, dtype=float)
    v = np.zeros((4, 1, 1, len(d_ab)))
    v[2, 0, 0] = d_ab
    v[3, 0, 0] = d_ab + (np.asarray(d_cb, dtype=float) if d_cb is not None else 0.0)
    data = _data(v, models=("base", "A", "B", "C"), seeds=(1,))
    design = {"A": {"x": 1.0}, "B": {"x": 1.0, "y": 1.0}, "C": {"x": 1.0, "y": 1.0, "z": 1.0}}
    return data, design_edges(design, ["A", "B", "C"])


def _planted(task="T0", sign="+", drivers="y"):
    return pd.DataFrame({"task": [task], "expected_sign": [sign], "driver_sources": [drivers],
                         "statistic": [""], "rationale": [""]})


def test_planted_check_by_hand():
    # B - A = [1, 0, 1, 1]: mean .75, sd .5, se .25, t = 3 on 3 df: p = 0.0577 -> right sign
    # but not significant: direction only, not recovered.
    data, edges = _planted_data([1, 0, 1, 1])
    row = planted_check(_planted(), data, edges).iloc[0]
    assert list(planted_check(_planted(), data, edges).columns) == list(PLANTED_CHECK_COLUMNS)
    assert row["edges"] == "B vs A" and row["estimate"] == pytest.approx(0.75)
    assert row["se"] == pytest.approx(0.25) and row["df"] == 3
    assert row["p"] == pytest.approx(2 * sps.t.sf(3, 3))
    assert (row["direction_only"], row["significant"], row["recovered"]) == ("yes", "no", "no")
    assert "items only" in row["test"]
    # Eight items, 7 ones: t = .875 / sqrt(.125/8) = 7, df 7: p < .001 -> recovered.
    data, edges = _planted_data([1, 1, 1, 0, 1, 1, 1, 1])
    row = planted_check(_planted(), data, edges).iloc[0]
    assert row["p"] == pytest.approx(2 * sps.t.sf(7, 7)) and row["recovered"] == "yes"
    # The wrong sign is never recovered, however significant.
    assert planted_check(_planted(sign="-"), data, edges).iloc[0]["recovered"] == "no"
    # A driver no edge raises: untestable. Expected 0 with a strong edge: false positive.
    assert planted_check(_planted(drivers="w"), data, edges).iloc[0]["recovered"] == \
        "untestable"
    zero = planted_check(_planted(sign="0", drivers=""), data, edges).iloc[0]
    assert zero["recovered"] == "false positive"
    # Bonferroni over the 2 covering edges: p = 2 x the smallest edge p.
    assert zero["p"] == pytest.approx(2 * 2 * sps.t.sf(7, 7))


def _claims(tasks, drivers, held=""):
    rows = [(t, "+", drivers.get(t, ""), held, "", "") if t in drivers
            else (t, "0", "", held, "", "") for t in tasks]
    return pd.DataFrame(rows, columns=["task", "expected_sign", "driver_sources",
                                       "held_sources", "statistic", "rationale"])


# Claimed drivers for the first 8 tasks (each raised by at least one covering edge).
CLAIMS = {"T00-MCQA": "pmc_en", "T01-MT": "parallel_abstracts", "T02-NER": "pmc_ja_mt",
          "T03-DC": "textbooks", "T04-STS": "pmc_en", "T05-MCQA": "pmc_ja_mt",
          "T06-MT": "textbooks", "T07-NER": "pmc_en"}


def _check(tmp_path, effects):
    from cptmix.analyze.replicates import load_replicates

    w = write_world(tmp_path, seeds=(1, 2, 3, 4), n_tasks=14, n_items=80, effects=effects,
                    seed_sd=0.2, rng_seed=4)
    data = load_replicates(w["scores"], w["items"])
    planted = _claims([t[0] for t in w["tasks"]], CLAIMS)
    return planted_check(planted, data, design_edges(DEMO_DESIGN, list(DEMO_DESIGN)))


def test_planted_control_without_effects_recovers_nothing(tmp_path):
    # Pure noise (training noise per model and seed, item noise), several seeds: the claimed
    # effects must not come out as recovered, and the null tasks give no false positives
    # beyond chance (6 null tasks at a family-wise 5 % each).
    out = _check(tmp_path, effects={})
    claimed = out[out["expected_sign"] == "+"]
    assert int((claimed["recovered"] == "yes").sum()) <= 1
    assert int((out["recovered"] == "false positive").sum()) <= 1
    assert claimed["test"].str.contains("two-way seed x item").all()


def test_planted_control_with_effects_recovers_them(tmp_path):
    effects = {t: {d: 1.5} for t, d in CLAIMS.items()}
    out = _check(tmp_path, effects=effects)
    claimed = out[out["expected_sign"] == "+"]
    assert int((claimed["recovered"] == "yes").sum()) >= 7
    assert int((out["recovered"] == "false positive").sum()) <= 1


# --- run_analysis end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicates")
    effects = {"T00-MCQA": {"pmc_en": 1.0}, "T04-STS": {"pmc_en": 1.0}}
    return root, write_world(root, n_tasks=6, n_items=30, effects=effects)


def test_run_analysis_with_seeds_and_items(world):
    root, w = world
    out = root / "out"
    run_analysis(w["composition"], w["scores"], out, items=w["items"], planted=w["planted"],
                 mixture_sources=DEMO_DESIGN, make_figures=False)
    for name in OUTPUT_FILES:
        if not name.startswith("figures/"):
            assert (out / name).is_file(), name
    diffs = pd.read_csv(out / "score_differences.tsv", sep="\t")
    assert diffs["n_seeds"].eq(3).all() and diffs["n_items"].eq(30).all()
    assert set(diffs["clears_noise_floor"]) <= {"yes", "no"}
    assert diffs["test"].str.startswith("two-way").all()
    assert diffs.loc[diffs["task"] == "T04-STS", "test"].str.contains("jackknife").all()
    per_seed = pd.read_csv(out / "score_differences_per_seed.tsv", sep="\t")
    mean = per_seed.groupby(["mixture", "task"], sort=False)["score_diff"].mean().to_numpy()
    np.testing.assert_allclose(mean, diffs["score_diff"], atol=2e-6)
    contrasts = pd.read_csv(out / "contrasts.tsv", sep="\t")
    assert contrasts["contrast"].nunique() == 7 and len(contrasts) == 7 * 6
    floors = pd.read_csv(out / "noise_floors.tsv", sep="\t")
    assert floors[["sd_base", "sd_cpt", "sd_diff", "se_diff", "mdd"]].notna().all().all()
    part = pd.read_csv(out / "partial_correlations.tsv", sep="\t")
    assert list(part.columns[-3:]) == ["r_boot_low", "r_boot_high", "p_boot"]
    corr = pd.read_csv(out / "correlations.tsv", sep="\t")
    row = corr[(corr["task"] == "T00-MCQA") & (corr["statistic"] == "en_tokens")].iloc[0]
    # The planted en_tokens-driven effect: the seed x item interval excludes 0 (a percentile
    # interval need not contain r itself near the boundary r = 1).
    assert 0 < row["r_boot_low"] < row["r_boot_high"] <= 1 and row["p_boot"] < 0.05
    planted = pd.read_csv(out / PLANTED_FILE, sep="\t", keep_default_na=False)
    assert set(planted["recovered"]) <= {"yes", "no", "untestable", "false positive"}
    summary = (out / "summary.md").read_text()
    assert "replicate scope `full`" in summary and "## Planted effects" in summary
    assert "False positives among" in summary


def test_continuous_metric_uses_item_continuous(world):
    root, w = world
    out = root / "cont"
    run_analysis(w["composition"], w["scores"], out, items=w["items"], metric="continuous",
                 make_figures=False)
    diffs = pd.read_csv(out / "score_differences.tsv", sep="\t")
    row = diffs[(diffs["mixture"] == "EnJa-Base") & (diffs["task"] == "T01-MT")].iloc[0]
    by_seed = []
    for s in (1234, 1235, 1236):
        b = pd.read_csv(w["items"]["base"][s], sep="\t")
        c = pd.read_csv(w["items"]["EnJa-Base"][s], sep="\t")
        by_seed.append(c.loc[c.task == "T01-MT", "item_continuous"].mean()
                       - b.loc[b.task == "T01-MT", "item_continuous"].mean())
    assert row["score_diff"] == pytest.approx(np.mean(by_seed), abs=1e-6)
    floors = pd.read_csv(out / "noise_floors.tsv", sep="\t")
    assert floors.loc[floors.task == "T01-MT", "metric"].item() == "gold_loglik_per_byte"


def test_replicate_tables_are_byte_identical(world):
    root, w = world
    for name in ("a", "b"):
        run_analysis(w["composition"], w["scores"], root / name, items=w["items"],
                     planted=w["planted"], mixture_sources=DEMO_DESIGN, make_figures=False)
    names = [n for n in OUTPUT_FILES if not n.startswith("figures/")] + [PLANTED_FILE]
    for name in names:
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


# --- bad inputs --------------------------------------------------------------------------------


def test_missing_seed_names_model_and_seed(world):
    root, w = world
    scores = {m: dict(p) for m, p in w["scores"].items()}
    del scores["EnJa-Plus"][1236]
    with pytest.raises(ValueError, match=r"model 'EnJa-Plus' has no seed 1236"):
        run_analysis(w["composition"], scores, root / "x", make_figures=False)


def test_unknown_and_absent_metric(world, tmp_path):
    _root, w = world
    with pytest.raises(ValueError, match=r"metric: 'bleu' is not one of score, continuous"):
        run_analysis(w["composition"], w["scores"], tmp_path / "x", metric="bleu")
    scores = {m: dict(p) for m, p in w["scores"].items()}
    path = tmp_path / "scores.tsv"
    pd.read_csv(scores["base"][1234], sep="\t").drop(columns="continuous").to_csv(
        path, sep="\t", index=False)
    scores["base"][1234] = path
    with pytest.raises(ValueError, match=r"scores\.tsv: missing column\(s\) continuous"):
        run_analysis(w["composition"], scores, tmp_path / "x", metric="continuous",
                     items=w["items"])
    assert not (tmp_path / "x").exists()


def test_noise_floor_needs_two_seeds(world, tmp_path):
    _root, w = world
    one = {m: {1234: p[1234]} for m, p in w["scores"].items()}
    with pytest.raises(ValueError, match="a noise floor needs at least 2 seeds"):
        run_analysis(w["composition"], one, tmp_path / "x", require_noise_floor=True)
    # Without the requirement one seed runs, and says the test is items only.
    items = {m: {1234: p[1234]} for m, p in w["items"].items()}
    run_analysis(w["composition"], one, tmp_path / "one", items=items, make_figures=False)
    diffs = pd.read_csv(tmp_path / "one" / "score_differences.tsv", sep="\t")
    assert diffs["test"].str.contains("training noise not measured").all()
    assert "One seed: training noise is not measured" in (tmp_path / "one" /
                                                          "summary.md").read_text()


def test_items_with_other_sample_ids_name_the_file(world, tmp_path):
    _root, w = world
    items = {m: dict(p) for m, p in w["items"].items()}
    df = pd.read_csv(items["JaDominant"][1235], sep="\t")
    df = df[df["sample_id"] != "T02-NER-007"]
    bad = tmp_path / "items.tsv"
    df.to_csv(bad, sep="\t", index=False)
    items["JaDominant"][1235] = bad
    with pytest.raises(ValueError, match=r"items\.tsv: field sample_id: task 'T02-NER'.*"
                                         r"T02-NER-007"):
        run_analysis(w["composition"], w["scores"], tmp_path / "x", items=items)


@pytest.mark.parametrize("drivers, held, phrase", [
    ("pmc_fr", "", r"column driver_sources: task 'T00-MCQA': unknown source\(s\) pmc_fr"),
    ("pmc_en", "ja_fr", r"column held_sources: task 'T00-MCQA': unknown source\(s\) ja_fr"),
    ("pmc_en", "ja_base,pmc_en", r"column held_sources: task 'T00-MCQA': pmc_en also a driver"),
    ("pmc_en", "ja_base,ja_base", r"column held_sources: task 'T00-MCQA' names ja_base more"),
    ("pmc_en,pmc_en", "", r"column driver_sources: task 'T00-MCQA' names pmc_en more"),
], ids=["unknown_driver", "unknown_held", "held_driver", "held_twice", "driver_twice"])
def test_planted_bad_source_names_file_and_column(world, tmp_path, drivers, held, phrase):
    _root, w = world
    bad = tmp_path / "planted.tsv"
    _claims(["T00-MCQA"], {"T00-MCQA": drivers}, held).to_csv(bad, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"planted\.tsv: " + phrase):
        run_analysis(w["composition"], w["scores"], tmp_path / "x", items=w["items"],
                     planted=bad, mixture_sources=DEMO_DESIGN)


def test_cli_replicate_form_equals_run_analysis(world, capsys):
    """`cptmix analyze --eval-pattern ... --seeds ...` is the workflow's call, by name."""
    from cptmix.cli import main

    root, w = world
    run_analysis(w["composition"], w["scores"], root / "lib", items=w["items"],
                 planted=w["planted"], mixture_sources=DEMO_DESIGN, make_figures=False)
    design = [f"{m}=" + ",".join(f"{s}:{f}" for s, f in srcs.items())
              for m, srcs in DEMO_DESIGN.items()]
    args = ["analyze", "--composition", str(w["composition"]), "--out", str(root / "cli"),
            "--eval-pattern", str(root / "eval" / "{model}" / "seed-{seed}"),
            "--mixtures", *DEMO_DESIGN, "--seeds", "1234", "1235", "1236",
            "--planted", str(w["planted"]), "--mixture-sources", *design, "--no-figures"]
    assert main(args) == 0
    for name in ("score_differences.tsv", "noise_floors.tsv", "planted_effects_check.tsv"):
        assert (root / "cli" / name).read_bytes() == (root / "lib" / name).read_bytes(), name
    bad = args[:args.index("--seeds")] + ["--seeds", "1234", "1234"]
    assert main(bad) == 2 and "--seeds: duplicate seed(s)" in capsys.readouterr().err
    assert main(args[:args.index("--seeds")]) == 2
    assert "--eval-pattern needs --mixtures and --seeds" in capsys.readouterr().err
