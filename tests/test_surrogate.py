"""Surrogates of a mixture sweep (`cptmix.analyze.surrogate`) and the proposal (`propose`).

Known-truth checks: a sweep whose outcome is linear in the shares (small seed noise) is
recovered by the linear model (LOO Spearman >= 0.9, chosen) and its proposal lands on the
optimum vertex of the capped, bounded simplex; pure noise gives held-out Spearman ~ 0 and no
claim (rarely a false one over several seeds); too few mixtures are refused; bad bounds, caps
and objectives are one SurrogateError naming the config key; the tables and proposal.json are
byte-identical when written twice; the verification's test is the paired t / Welch t of scipy.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cptmix.analyze import candidates as C
from cptmix.analyze import propose as P
from cptmix.analyze import surrogate as S

SOURCES = ("ja_base", "en_base", "pmc_ja_mt")
BETA = np.array([1.0, 0.2, -0.5])  # pure-source outcomes of the linear truth
BOUNDS = {"ja_base": (0.05, 0.6), "en_base": (0.0, 0.9), "pmc_ja_mt": (0.0, 0.9)}


def sweep(n: int = 16, seed: int = 0, linear: bool = True, n_seeds: int = 3,
          noise: float = 0.02) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shares, runs): n Dirichlet mixtures inside BOUNDS, target ja_average per seed."""
    rng = np.random.default_rng(seed)
    lo, hi = P.feasible_box(SOURCES, BOUNDS)
    w = P.project(lo + (1 - lo.sum()) * rng.dirichlet(np.ones(len(SOURCES)), n), lo, hi)
    names = [f"sweep-{i + 1:02d}" for i in range(n)]
    shares = pd.DataFrame(w, index=names, columns=list(SOURCES))
    truth = w @ BETA if linear else np.zeros(n)
    rows = [{"mixture": m, "seed": 1234 + s, "ja_average": truth[i] + rng.normal(0, noise)}
            for i, m in enumerate(names) for s in range(n_seeds)]
    return shares, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def linear_case():
    shares, runs = sweep()
    cv, choice = P.surrogate_tables(shares, runs, {"ja_average": 1})
    return shares, runs, cv, choice


# ---------------------------------------------------------------------------------------------
# Targets


def long_scores(tasks=("MedQA-Jp", "IgakuQA", "MedQA"), mixtures=("sweep-01", "sweep-02"),
                seeds=(1, 2)) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(mixtures):
        for s in seeds:
            for j, t in enumerate(tasks):
                rows.append({"mixture": m, "seed": s, "task": t,
                             "continuous": -1.0 + 0.1 * i + 0.01 * s + 0.001 * j})
    return pd.DataFrame(rows)


def test_runs_table_language_averages_from_the_registry():
    runs = S.runs_table(long_scores(), "continuous")
    assert list(runs.columns) == ["mixture", "seed", "IgakuQA", "MedQA-Jp", "MedQA",
                                  "ja_average", "en_average"]
    row = runs.iloc[1]  # sweep-01, seed 2: IgakuQA j=1, MedQA-Jp j=0, MedQA j=2
    assert (row["mixture"], row["seed"]) == ("sweep-01", 2)
    assert row["ja_average"] == pytest.approx(-1.0 + 0.02 + 0.0005)
    assert row["en_average"] == pytest.approx(-1.0 + 0.02 + 0.002)
    means = S.mixture_means(runs)
    assert means.loc["sweep-02", "MedQA"] == pytest.approx(-0.9 + 0.015 + 0.002)
    se = S.mixture_se(runs)
    assert se.loc["sweep-02", "MedQA"] == pytest.approx(np.std([0.01, 0.02], ddof=1) / 2 ** .5)


def test_runs_table_refuses_unknown_missing_and_repeated_tasks():
    bad = long_scores(tasks=("MedQA-Jp", "NoSuchTask"))
    with pytest.raises(S.SurrogateError, match="unknown task 'NoSuchTask'"):
        S.runs_table(bad, "continuous")
    holes = long_scores().iloc[1:]
    with pytest.raises(S.SurrogateError, match="seed 1 has no row for task 'MedQA-Jp'"):
        S.runs_table(holes, "continuous")
    twice = pd.concat([long_scores(), long_scores().iloc[:1]])
    with pytest.raises(S.SurrogateError, match="listed more than once"):
        S.runs_table(twice, "continuous")
    with pytest.raises(S.SurrogateError, match="missing column"):
        S.runs_table(long_scores(), "score")
    S.runs_table(long_scores().rename(columns={"continuous": "score"}), "score")  # control


def test_read_runs_reads_the_evaluation_files(tmp_path):
    scores = long_scores()
    for (m, s), g in scores.groupby(["mixture", "seed"]):
        folder = tmp_path / m / f"seed-{s}"
        folder.mkdir(parents=True)
        table = pd.DataFrame({"task": g["task"], "category": "MCQA",
                              "language": ["Japanese", "Japanese", "English"],
                              "metric": "accuracy", "score": 0.5, "stderr": 0.1, "n": 10,
                              "continuous": g["continuous"], "continuous_stderr": 0.01})
        table.to_csv(folder / "scores.tsv", sep="\t", index=False)
    got = S.read_runs(str(tmp_path / "{model}" / "seed-{seed}"), ["sweep-01", "sweep-02"],
                      [1, 2], "continuous")
    pd.testing.assert_frame_equal(got, S.runs_table(scores, "continuous"))


# ---------------------------------------------------------------------------------------------
# Held-out checks and the choice


def test_linear_truth_is_recovered_and_chosen(linear_case):
    _, _, cv, choice = linear_case
    obj = cv[cv["target"] == P.OBJECTIVE].set_index("model")
    assert list(obj.index) == list(S.MODELS)
    assert obj.loc["linear", "loo_spearman"] >= 0.9
    assert obj.loc["linear", "kfold_spearman"] >= 0.9
    assert obj.loc["linear", "loo_mae"] < 0.2 * obj.loc["linear", "loo_mean_mae"]
    # The mean baseline's LOO ranking is exactly reversed (mean of the others), as documented.
    assert obj.loc["linear", "loo_mean_spearman"] == pytest.approx(-1.0)
    assert obj.loc["linear", "chosen"] == "yes"
    picked = choice.set_index("target").loc[P.OBJECTIVE]
    assert (picked["model"], picked["claim"]) == ("linear", "yes")
    # Control: the same data scored with the truth removed makes no claim.
    shares, runs = sweep(linear=False)
    _, choice0 = P.surrogate_tables(shares, runs, models=["linear"])
    assert choice0.iloc[0]["model"] == S.MEAN and choice0.iloc[0]["claim"] == "no"


def test_pure_noise_has_no_skill_and_rarely_claims():
    rhos, claims = [], 0
    for seed in range(6):
        shares, runs = sweep(seed=100 + seed, linear=False, noise=1.0)
        cv, choice = P.surrogate_tables(shares, runs)
        rhos.append(cv.set_index("model").loc["linear", "loo_spearman"])
        claims += int(choice.iloc[0]["claim"] == "yes")
    assert abs(float(np.mean(rhos))) < 0.35, rhos
    assert claims <= 1, claims


def test_refuses_too_few_mixtures_naming_the_config_key():
    # linear on 3 sources: 3 free parameters; the LOO/5-fold training sets need >= 3 runs.
    assert C.min_mixtures("linear", 3) == 4
    assert C.min_mixtures("gbm", 3) == 13  # max(10, 6) runs, 13 - ceil(13/5) = 10
    with pytest.raises(S.SurrogateError, match=r"design\.surrogate\.models: model 'linear'"):
        S.check_models(["linear"], 3, 3)
    S.check_models(["linear"], 4, 3)  # control: one more mixture is enough
    with pytest.raises(S.SurrogateError, match="model 'gbm'"):
        S.check_models(["linear", "gbm"], 12, 3)
    with pytest.raises(S.SurrogateError, match="unknown model 'lightgbm'"):
        S.check_models(["lightgbm"], 50, 3)
    shares, runs = sweep(n=3)
    with pytest.raises(S.SurrogateError, match=r"design\.surrogate\.models"):
        P.surrogate_tables(shares, runs, models=["linear"])
    with pytest.raises(S.SurrogateError, match="3 free parameters"):
        S.fit_model("linear", shares.to_numpy()[:2], np.zeros(2))


# ---------------------------------------------------------------------------------------------
# The proposal


def test_projection_and_rounding_by_hand():
    lo, hi = np.zeros(3), np.array([0.6, 1.0, 1.0])
    np.testing.assert_allclose(P.project([0.5, 0.5, 0.5], lo, hi)[0], [1 / 3] * 3)
    np.testing.assert_allclose(P.project([1.0, 0.0, 0.0], lo, hi)[0], [0.6, 0.2, 0.2])
    w = P.round_shares(np.array([1 / 3] * 3), lo, hi, 4)
    np.testing.assert_array_equal(w, [0.3334, 0.3333, 0.3333])
    assert np.round(np.array([1 / 3] * 3), 4).sum() != 1.0  # control: naive rounding
    assert P.round_shares(np.array([0.6, 0.2, 0.2]), lo, hi, 4).sum() == 1.0


def test_proposal_finds_the_capped_vertex(linear_case):
    shares, runs, cv, _ = linear_case
    caps = {"en_base": 0.3}
    rec = P.propose(shares, runs, {"ja_average": 1}, bounds=BOUNDS, caps=caps, cv=cv)
    # Linear truth (1.0, 0.2, -0.5): ja_base at its bound 0.6, en_base at its cap 0.3.
    w = np.array([rec["proposed"][s] for s in SOURCES])
    np.testing.assert_allclose(w, [0.6, 0.3, 0.1], atol=0.02)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert rec["model"] == "linear" and rec["claim"] is True
    assert rec["bounds"]["en_base"] == [0.0, 0.3]
    assert rec["interval"]["lower"] < rec["predicted"] < rec["interval"]["upper"]
    assert rec["predicted"] == pytest.approx(w @ BETA, abs=0.03)
    # Control: without the cap en_base takes the whole remainder.
    free = P.propose(shares, runs, {"ja_average": 1}, bounds=BOUNDS, cv=cv)
    np.testing.assert_allclose([free["proposed"][s] for s in SOURCES], [0.6, 0.4, 0.0],
                               atol=0.02)
    assert free["predicted"] > free["best_measured"]["measured"]


def test_a_trust_region_keeps_the_proposal_near_the_measured_mixtures(linear_case):
    """The linear truth's optimum is the vertex (0.6, 0.4, 0); measured only far from it, a
    proposal with a trust region stays within the design's median nearest-neighbour distance
    of a measured mixture (and predicts about the best of them); without one it goes to the
    vertex (control)."""
    shares, runs, _, _ = linear_case
    far = shares[shares["ja_base"] + shares["en_base"] < 0.7]  # no measured point near it
    runs = runs[runs["mixture"].isin(far.index)]
    free = P.propose(far, runs, {"ja_average": 1}, ["linear"], bounds=BOUNDS,
                     trust_region=False)
    near = P.propose(far, runs, {"ja_average": 1}, ["linear"], bounds=BOUNDS)  # the default
    x = far.to_numpy()
    radius = near["search"]["trust_radius"]
    assert radius == pytest.approx(P.trust_radius(x)) and 0 < radius < 0.3
    assert free["search"]["trust_radius"] is None
    np.testing.assert_allclose([free["proposed"][s] for s in SOURCES], [0.6, 0.4, 0.0],
                               atol=0.02)
    w = np.array([near["proposed"][s] for s in SOURCES])
    assert np.sqrt(((x - w) ** 2).sum(axis=1)).min() <= radius + 1e-5  # rounding: 1e-6 grid
    assert near["predicted"] > near["best_measured"]["measured"] - 0.05
    assert near["predicted"] < free["predicted"] and "median nearest-neighbour" in near["note"]


@pytest.mark.parametrize("model", ["loglinear", "gp", "gbm"])
def test_every_model_proposes_inside_bounds_and_caps(linear_case, model):
    shares, runs, _, _ = linear_case
    caps = {"en_base": 0.25, "pmc_ja_mt": 0.5}
    rec = P.propose(shares, runs, {"ja_average": 1}, [model], bounds=BOUNDS, caps=caps)
    w = np.array([rec["proposed"][s] for s in SOURCES])
    lo, hi = P.feasible_box(SOURCES, BOUNDS, caps)
    assert np.all(w >= lo - 1e-12) and np.all(w <= hi + 1e-12), w
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert rec["model"] in (model, S.MEAN)
    if rec["claim"]:
        assert w[0] >= 0.5  # the best source is pushed towards its bound by every model


def test_noise_proposal_makes_no_claim():
    shares, runs = sweep(seed=7, linear=False, noise=1.0)
    rec = P.propose(shares, runs, {"ja_average": 2.0}, ["linear", "loglinear"])
    assert rec["model"] == S.MEAN and rec["claim"] is False
    assert "makes no claim" in rec["note"]
    best = rec["best_measured"]
    assert rec["proposed"] == pytest.approx(best["shares"], abs=1e-4)
    assert rec["predicted"] == pytest.approx(S.mixture_means(runs)["ja_average"].mean())


def test_bad_bounds_caps_and_objective_name_the_key(linear_case):
    shares, runs, cv, _ = linear_case
    with pytest.raises(S.SurrogateError, match=r"design\.sweep\.bounds: the shares cannot"):
        P.feasible_box(SOURCES, {"ja_base": (0.5, 0.6), "en_base": (0.6, 0.9)})
    with pytest.raises(S.SurrogateError, match=r"design\.sweep\.max_repetitions: unknown"):
        P.feasible_box(SOURCES, caps={"textbooks": 0.1})
    with pytest.raises(S.SurrogateError, match=r"design\.sweep\.bounds: the shares cannot"):
        P.feasible_box(SOURCES, caps={s: 0.3 for s in SOURCES})
    with pytest.raises(S.SurrogateError, match=r"design\.objective\.targets: unknown target "
                                               "'MedQA'"):
        P.propose(shares, runs, {"MedQA": 1}, cv=cv)
    with pytest.raises(S.SurrogateError, match=r"design\.objective\.targets\.ja_average"):
        P.propose(shares, runs, {"ja_average": -1}, cv=cv)
    P.feasible_box(SOURCES, BOUNDS, {"en_base": 0.3})  # control
    off = shares.copy()
    off.iloc[2, 0] += 0.1
    with pytest.raises(S.SurrogateError, match="mixture 'sweep-03': shares sum to 1.1"):
        S.check_shares(off)
    S.check_shares(shares)  # control


def test_tables_and_proposal_are_byte_identical(tmp_path, linear_case):
    shares, runs, cv, choice = linear_case
    again, choice2 = P.surrogate_tables(shares, runs, {"ja_average": 1})
    rec = [P.propose(shares, runs, {"ja_average": 1}, bounds=BOUNDS, cv=c) for c in (cv, again)]
    for i, (c, ch, r) in enumerate(zip((cv, again), (choice, choice2), rec, strict=True)):
        S.write_cv(c, tmp_path / f"cv{i}.tsv")
        S.write_cv(ch, tmp_path / f"choice{i}.tsv")
        P.write_proposal(r, tmp_path / f"proposal{i}.json")
    for name in ("cv", "choice", "proposal"):
        ext = "json" if name == "proposal" else "tsv"
        assert (tmp_path / f"{name}0.{ext}").read_bytes() == (tmp_path / f"{name}1.{ext}"
                                                              ).read_bytes()
    header = (tmp_path / "cv0.tsv").read_text().splitlines()[0].split("\t")
    assert header == list(S.CV_COLUMNS)
    loaded = json.loads((tmp_path / "proposal0.json").read_text())
    assert loaded["model"] == "linear" and sum(loaded["proposed"].values()) == pytest.approx(1)


def test_held_out_checks_do_not_depend_on_the_processes(tmp_path, linear_case):
    """fit_surrogate shares the targets out over `threads.surrogate` processes: the table is
    byte-identical to the one-process table (every fit seeded, targets in order)."""
    shares, runs, cv, _ = linear_case
    two = runs.assign(other=-runs["ja_average"])  # a second target
    one_proc, two_procs = (P.surrogate_tables(shares, two, {"ja_average": 1}, n_jobs=k)[0]
                           for k in (1, 2))
    assert list(one_proc["target"].unique()) == ["ja_average", "other", "objective"]
    S.write_cv(one_proc, tmp_path / "one.tsv")
    S.write_cv(two_procs, tmp_path / "two.tsv")
    assert (tmp_path / "one.tsv").read_bytes() == (tmp_path / "two.tsv").read_bytes()
    # and a target's rows are those of a table without the other target
    for table, name in ((cv, "alone"), (one_proc, "with_other")):
        S.write_cv(table[table["target"] == "ja_average"], tmp_path / f"{name}.tsv")
    assert (tmp_path / "alone.tsv").read_bytes() == (tmp_path / "with_other.tsv").read_bytes()


# ---------------------------------------------------------------------------------------------
# Verification


def test_verify_paired_over_seeds_matches_scipy():
    measured = {1: 0.5, 2: 0.6, 3: 0.7}
    anchors = {"EnJa-Base": {1: 0.4, 2: 0.45, 3: 0.5}, "JaDominant": {1: 0.1, 2: 0.2, 3: 0.3}}
    out = P.verify_proposal(0.58, (0.5, 0.7), measured, anchors)
    d = np.array([0.1, 0.15, 0.2])
    ref = sps.ttest_rel([0.5, 0.6, 0.7], [0.4, 0.45, 0.5])
    assert out["best_anchor"] == "EnJa-Base"
    assert out["diff"] == pytest.approx(d.mean())
    assert out["diff_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert out["diff_df"] == pytest.approx(2.0)
    assert out["diff_p"] == pytest.approx(ref.pvalue)
    assert out["measured_mean"] == pytest.approx(0.6)
    assert out["measured_se"] == pytest.approx(0.1 / np.sqrt(3))
    assert out["error"] == pytest.approx(0.02)
    assert out["inside_interval"] is True
    assert out["clears_noise_floor"] == "yes" and out["beats_best_anchor"] == "yes"
    # Controls: an interval above the measurement; a noisy difference does not clear.
    assert P.verify_proposal(0.7, (0.65, 0.8), measured, anchors)["inside_interval"] is False
    noisy = P.verify_proposal(0.6, None, {1: 0.5, 2: 0.6, 3: 0.7},
                              {"A": {1: 0.55, 2: 0.45, 3: 0.72}})
    assert noisy["clears_noise_floor"] == "no" and noisy["beats_best_anchor"] == "no"


def test_verify_welch_when_seeds_differ_and_two_way_with_items():
    measured = {1: 0.5, 2: 0.6, 3: 0.7}
    out = P.verify_proposal(0.6, None, measured, {"A": {7: 0.3, 8: 0.35}})
    ref = sps.ttest_ind([0.5, 0.6, 0.7], [0.3, 0.35], equal_var=False)
    assert out["diff_p"] == pytest.approx(ref.pvalue)
    assert out["test"].startswith("Welch")
    rng = np.random.default_rng(3)
    items_p, items_a = rng.normal(0.6, 0.2, (3, 40)), rng.normal(0.4, 0.2, (3, 40))
    per_seed = dict(zip((1, 2, 3), items_p.mean(1), strict=True))
    anchor = {"A": dict(zip((1, 2, 3), items_a.mean(1), strict=True))}
    out = P.verify_proposal(0.6, None, per_seed, anchor, measured_items=items_p,
                            anchor_items={"A": items_a})
    from cptmix.analyze.twoway import seed_item_test
    ref2 = seed_item_test(items_p - items_a)
    assert out["diff_se"] == pytest.approx(float(ref2["se"]))
    assert out["diff_p"] == pytest.approx(float(ref2["p"]))
    assert out["test"].startswith("two-way")


def test_run_surrogates_writes_and_verify_from_runs(tmp_path, linear_case):
    shares, runs, _, _ = linear_case
    rec = P.run_surrogates(shares, runs, {"ja_average": 1}, tmp_path, ["linear"],
                           bounds=BOUNDS, metric="continuous")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["choice.tsv", "cv.tsv",
                                                          "proposal.json"]
    assert json.loads((tmp_path / "proposal.json").read_text())["metric"] == "continuous"
    # The trained proposal measures its prediction exactly on seed 1, +-0.01 on the others.
    extra = pd.DataFrame([{"mixture": "proposed", "seed": 1233 + s,
                           "ja_average": rec["predicted"] + d}
                          for s, d in ((1, 0.0), (2, 0.01), (3, -0.01))])
    out = P.verify_from_runs(rec, pd.concat([runs, extra]), "proposed",
                             ["sweep-01", "sweep-02"])
    assert out["measured_mean"] == pytest.approx(rec["predicted"])
    assert out["inside_interval"] is True
    means = S.mixture_means(runs)["ja_average"]
    best = "sweep-01" if means["sweep-01"] >= means["sweep-02"] else "sweep-02"
    assert out["best_anchor"] == best
    assert out["diff"] == pytest.approx(rec["predicted"] - means[best])
    with pytest.raises(S.SurrogateError, match="no runs for mixture 'missing'"):
        P.verify_from_runs(rec, runs, "missing", ["sweep-01"])
