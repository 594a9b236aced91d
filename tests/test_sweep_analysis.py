"""The planted-effect check on a designed sweep (cptmix.analyze.sweep), on synthetic runs with a
known truth, and its controls (no effect planted -> not recovered; noise -> no false positive)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cptmix.analyze.sweep import (
    anchor_shares,
    budget_note,
    planted_sweep_check,
    recovery_counts,
    sweep_runs,
    sweep_shares_table,
)
from cptmix.corpus.realise import read_realised

SOURCES = ["a", "b", "c"]


def _shares(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(len(SOURCES)), size=n)
    return pd.DataFrame(w, index=[f"sweep-{i + 1:02d}" for i in range(n)], columns=SOURCES)


def _runs(shares: pd.DataFrame, effects: dict[str, dict[str, float]], noise: float,
          seeds=(1, 2), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task, slope in effects.items():
        for m, w in shares.iterrows():
            for s in seeds:
                d = sum(slope.get(src, 0.0) * w[src] for src in SOURCES)
                d += rng.normal(0, noise)
                rows.append((m, s, task, "MCQA", "en", d, d))
    return pd.DataFrame(rows, columns=["mixture", "seed", "task", "category", "language",
                                       "value", "diff"])


PLANTED = pd.DataFrame({
    "task": ["T+", "T-", "T0"], "expected_sign": ["+", "-", "0"],
    "driver_sources": ["a", "b,c", ""], "held_sources": ["", "", ""],
    "statistic": ["", "", ""], "rationale": ["", "", ""],
})


def _held(held: dict[str, str]) -> pd.DataFrame:
    """PLANTED with held sources for some tasks ({task: "source,source"})."""
    return PLANTED.assign(held_sources=[held.get(t, "") for t in PLANTED["task"]])


def test_known_effects_are_recovered_and_a_null_task_is_not_a_false_positive():
    shares = _shares(16, 0)
    runs = _runs(shares, {"T+": {"a": 1.0}, "T-": {"b": -1.0, "c": -1.0}, "T0": {}}, 0.05)
    check = planted_sweep_check(PLANTED, runs, shares).set_index("task")
    assert check.loc["T+", "recovered"] == "yes" and check.loc["T+", "estimate"] > 0.8
    assert check.loc["T-", "recovered"] == "yes" and check.loc["T-", "found_sign"] == "-"
    assert check.loc["T0", "recovered"] == "yes"  # no effect found where none is planted
    assert check.loc["T+", "df"] == 14 and check.loc["T+", "n_seeds"] == 2
    assert recovery_counts(check.reset_index()) == {
        "nonzero": 2, "recovered": 2, "right_sign": 2, "none": 1, "false_positives": 0}


def test_control_without_effects_recovers_nothing():
    shares = _shares(16, 1)
    found = 0
    for seed in range(10):
        runs = _runs(shares, {"T+": {}, "T-": {}, "T0": {}}, 0.05, seed=seed)
        found += recovery_counts(planted_sweep_check(PLANTED, runs, shares))["recovered"]
    assert found <= 1  # 20 tests at alpha 0.05, right sign needed: ~0.5 expected


def test_a_composition_effect_on_a_none_task_is_a_false_positive():
    shares = _shares(16, 2)
    runs = _runs(shares, {"T+": {"a": 1.0}, "T-": {"b": -1.0}, "T0": {"c": 2.0}}, 0.05)
    check = planted_sweep_check(PLANTED, runs, shares).set_index("task")
    assert check.loc["T0", "recovered"] == "false positive"


def test_wrong_sign_is_not_recovered():
    shares = _shares(16, 3)
    runs = _runs(shares, {"T+": {"a": -1.0}, "T-": {"b": -1.0}, "T0": {}}, 0.05)
    check = planted_sweep_check(PLANTED, runs, shares).set_index("task")
    assert check.loc["T+", "significant"] == "yes"
    assert check.loc["T+", "direction_only"] == "no" and check.loc["T+", "recovered"] == "no"


def test_realisation_records_are_checked(tmp_path):
    good = {"mixture": "sweep-01", "token_budget": 100, "epochs": 2,
            "shares": {"a": 0.5, "b": 0.5}, "fractions": {"a": 0.2, "b": 1.0},
            "nominal_fractions": {"a": 0.2, "b": 1.0}, "expected_tokens": {"a": 50, "b": 50},
            "repetitions": {"a": 0.4, "b": 2.0}, "source_tokens": {"a": 125, "b": 25},
            "realised_tokens": {"a": 24, "b": 25}, "realised_shares": {"a": 0.49, "b": 0.51}}
    p = tmp_path / "r.json"
    p.write_text(json.dumps(good))
    assert sweep_shares_table({"sweep-01": p}).loc["sweep-01", "b"] == pytest.approx(0.51)
    with pytest.raises(ValueError, match="filed as 'sweep-02'"):
        sweep_shares_table({"sweep-02": p})
    p.write_text(json.dumps({k: v for k, v in good.items() if k != "epochs"}))
    with pytest.raises(ValueError, match="field.s. epochs missing"):
        read_realised(p)


def test_sweep_runs_pairs_each_seed_with_the_base_models_seed(tmp_path):
    def scores(path, value):
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"task": ["MedQA"], "category": ["MCQA"], "language": ["en"],
                      "metric": ["accuracy"], "score": [value], "stderr": [0.01], "n": [10]}
                     ).to_csv(path, sep="\t", index=False)
        return path

    files = {"base": {1: scores(tmp_path / "b1.tsv", 0.2), 2: scores(tmp_path / "b2.tsv", 0.3)},
             "sweep-01": {1: scores(tmp_path / "s1.tsv", 0.5),
                          2: scores(tmp_path / "s2.tsv", 0.4)}}
    runs = sweep_runs(files).set_index("seed")
    assert runs.loc[1, "diff"] == pytest.approx(0.3) and runs.loc[2, "diff"] == pytest.approx(0.1)


def test_a_held_source_is_adjusted_for():
    """T+ rises with its driver a (slope 1) and with the base source b of its language
    (slope 3), which the declared mixtures hold whole. Shares sum to 1, so a sweep that
    raises a lowers b on average: the slope on a alone comes out with the wrong sign; held
    fixed, b is a covariate and the slope is a's own, recovered."""
    shares = _shares(16, 4)
    runs = _runs(shares, {"T+": {"a": 1.0, "b": 3.0}, "T-": {}, "T0": {}}, 0.05)
    naive = planted_sweep_check(PLANTED, runs, shares).set_index("task").loc["T+"]
    assert naive["found_sign"] == "-" and naive["recovered"] == "no"
    row = planted_sweep_check(_held({"T+": "b"}), runs, shares).set_index("task").loc["T+"]
    assert row["held_sources"] == "b" and row["estimate"] == pytest.approx(1.0, abs=0.15)
    assert row["df"] == 16 - 3 and "adjusted for the share of b" in row["test"]
    assert row["recovered"] == "yes"


def test_a_none_task_may_follow_its_held_source_but_nothing_else():
    """A "0" task is tested for what the shares explain beyond its held sources (partial F):
    following b, which it holds, is no false positive; following c as well is."""
    shares = _shares(16, 5)
    runs = _runs(shares, {"T+": {}, "T-": {}, "T0": {"b": 2.0}}, 0.05)
    assert planted_sweep_check(PLANTED, runs, shares).set_index("task").loc[
        "T0", "recovered"] == "false positive"
    row = planted_sweep_check(_held({"T0": "b"}), runs, shares).set_index("task").loc["T0"]
    assert row["recovered"] == "yes" and row["test"].startswith("partial F test, F(1, 13) = ")
    runs = _runs(shares, {"T+": {}, "T-": {}, "T0": {"b": 2.0, "c": 2.0}}, 0.05)
    row = planted_sweep_check(_held({"T0": "b"}), runs, shares).set_index("task").loc["T0"]
    assert row["recovered"] == "false positive" and row["estimate"] > 0.9


def test_drivers_and_held_sources_that_fill_the_simplex_are_untestable():
    """With a driver and two held sources out of three, the driver's share is 1 minus the held
    ones': nothing is left to vary on its own."""
    shares = _shares(16, 6)
    runs = _runs(shares, {"T+": {"a": 1.0}, "T-": {}, "T0": {}}, 0.05)
    row = planted_sweep_check(_held({"T+": "b,c"}), runs, shares).set_index("task").loc["T+"]
    assert row["recovered"] == "untestable" and "apart from the share of b, c" in row["test"]


def test_the_verification_says_whether_anchors_and_proposal_share_a_budget():
    assert "all train 1,000,000 tokens" in budget_note({"tokens": 1_000_000}, 1_000_000)
    assert "equal budget" in budget_note({"tokens": 1_000_000}, 1_000_000)
    for anchors, text in (({"epochs": 6}, "6 passes over their own mixture"),
                          ({"epochs": 1}, "1 pass over"), ({"tokens": 2_000_000}, "2,000,000 tokens")):
        note = budget_note(anchors, 1_000_000)
        assert text in note and "not at equal budget" in note


def test_anchor_shares_come_from_the_ledgers_tokens(tmp_path):
    ledger = tmp_path / "ledger.tsv"
    pd.DataFrame({"source": ["a", "c"], "declared_tokens": [300, 100]}).to_csv(
        ledger, sep="\t", index=False)
    table = anchor_shares({"A": ledger}, ["a", "b", "c"])
    assert table.loc["A"].tolist() == [0.75, 0.0, 0.25]
    with pytest.raises(ValueError, match=r"ledger\.tsv: field 'source' names \['c'\], outside"):
        anchor_shares({"A": ledger}, ["a", "b"])


def test_proposal_chart_is_byte_identical_and_labels_every_mixture(tmp_path):
    from cptmix.analyze.figures import proposal_chart

    measured = pd.DataFrame({"mean": [0.0, -0.2, -0.1], "se": [0.01, 0.02, 0.0],
                             "kind": ["proposed", "anchor", "sweep"]},
                            index=["proposed", "EnJa-Base", "sweep-01"])
    for name in ("a", "b"):
        proposal_chart(measured, -0.08, (-0.14, -0.02), tmp_path / f"{name}.png", "ja_average")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    svg = (tmp_path / "a.svg").read_text()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    for label in ("proposed", "EnJa-Base", "sweep-01", "predicted, interval"):
        assert label in svg
    # control: without a proposed row the prediction is not drawn
    proposal_chart(measured.drop(index="proposed"), -0.08, (-0.14, -0.02), tmp_path / "c.png",
                   "ja_average")
    assert "predicted, interval" not in (tmp_path / "c.svg").read_text()
    # no claim: no interval (NaN bounds), the prediction still drawn; no prediction: none
    proposal_chart(measured, -0.08, (float("nan"), float("nan")), tmp_path / "d.png", "x")
    assert "predicted, interval" in (tmp_path / "d.svg").read_text()
    proposal_chart(measured, float("nan"), (float("nan"), float("nan")), tmp_path / "e.png", "x")
    assert "predicted, interval" not in (tmp_path / "e.svg").read_text()


def test_the_verification_refuses_an_unknown_replicate_scope(tmp_path):
    from cptmix.analyze.sweep import run_verification

    with pytest.raises(ValueError, match="replicate_scope: 'cpt' is not one of full, sft"):
        run_verification(tmp_path / "proposal.json", {}, {}, [], out_table=tmp_path / "t.tsv",
                         out_summary=tmp_path / "s.md", anchor_budget={"tokens": 1},
                         proxy_budget=1, replicate_scope="cpt")
    assert not (tmp_path / "t.tsv").exists()


# --- the verification over independent CPT runs (design.verify.seeds) --------------------------

@pytest.fixture(scope="module")
def verify_world(tmp_path_factory):
    from replicate_world import DEMO_DESIGN, write_world

    root = tmp_path_factory.mktemp("verify")
    design = {**DEMO_DESIGN, "proposed": {"ja_base": 1.0, "pmc_ja_mt": 1.0, "textbooks": 1.0}}
    effects = {f"T{k:02d}-{c}": {"pmc_ja_mt": 0.8, "textbooks": 0.4}
               for k, c in [(1, "MT"), (2, "NER"), (3, "DC"), (5, "MCQA")]}
    w = write_world(root, seeds=(1234, 1235, 1236, 1237), effects=effects, design=design)
    proposal = root / "proposal.json"
    proposal.write_text(json.dumps({"predicted": 0.0, "interval": {"lower": -1.0, "upper": 1.0},
                                    "objective": {"ja_average": 1.0}, "metric": "continuous",
                                    "model": "linear", "claim": True}))
    return root, w, proposal


def _at(files, models, seeds):
    return {m: {s: files[m][s] for s in seeds} for m in models}


def test_choose_reference_picks_what_the_verification_calls_the_best_anchor(verify_world):
    from cptmix.analyze.sweep import choose_reference, run_verification

    root, w, proposal = verify_world
    anchors = [m for m in w["scores"] if m not in ("base", "proposed")]
    replicate = (1234, 1235)
    best = choose_reference(_at(w["scores"], ["base", *anchors], replicate),
                            _at(w["items"], ["base", *anchors], replicate), anchors,
                            {"ja_average": 1.0}, "continuous", root / "reference.json")
    ref = json.loads((root / "reference.json").read_text())
    assert ref["best_anchor"] == best and ref["seeds"] == [1234, 1235]
    assert max(ref["anchors"], key=ref["anchors"].get) == best
    # by hand: a seed's objective is the weighted mean of its Japanese tasks' item means
    tasks = pd.read_csv(w["scores"]["base"][1234], sep="\t")
    ja = tasks.loc[tasks["language"] == "Japanese", "task"].tolist()

    def objective(model, seed):
        t = pd.read_csv(w["items"][model][seed], sep="\t")
        return float(np.mean([t.loc[t.task == k, "item_continuous"].mean() for k in ja]))

    assert ref["anchors"][best] == pytest.approx(np.mean([objective(best, s)
                                                          for s in replicate]), abs=1e-9)
    units = (1234, 1236, 1237)
    models = ["base", "proposed", *anchors]
    result = run_verification(
        proposal, _at(w["scores"], models, replicate), _at(w["items"], models, replicate),
        anchors, out_table=root / "verification.tsv", out_summary=root / "verification.md",
        anchor_budget={"tokens": 1}, proxy_budget=1, replicate_scope="sft",
        out_figure=root / "verification.png", reference_json=root / "reference.json",
        reseeded_scores=_at(w["scores"], ["base", "proposed", best], units),
        reseeded_items=_at(w["items"], ["base", "proposed", best], units))
    assert result["best_anchor"] == best
    table = pd.read_csv(root / "verification.tsv", sep="\t")
    assert table["replicate_scope"].tolist() == ["sft", "full"]
    assert table["seeds"].tolist() == ["1234,1235", "1234,1236,1237"]
    row = table.iloc[1]
    assert row["best_anchor"] == best and row["n_seeds"] == 3
    diffs = [objective("proposed", s) - objective(best, s) for s in units]
    assert row["diff"] == pytest.approx(np.mean(diffs), abs=1e-6)
    assert row["measured_mean"] == pytest.approx(np.mean([objective("proposed", s)
                                                          for s in units]), abs=1e-6)
    assert row["test"].startswith("two-way seed x item") and row["diff_df"] > 0
    summary = (root / "verification.md").read_text()
    assert "## CPT reseeded (design.verify.seeds)" in summary
    assert "once per seed 1234, 1236, 1237: 3 independent CPT runs each" in summary
    assert "over independent CPT runs" in (root / "verification.svg").read_text()


def test_the_verification_refuses_a_reference_that_is_not_the_best_anchor(verify_world,
                                                                        tmp_path):
    from cptmix.analyze.sweep import choose_reference, run_verification

    _root, w, proposal = verify_world
    anchors = [m for m in w["scores"] if m not in ("base", "proposed")]
    best = choose_reference(_at(w["scores"], ["base", *anchors], (1234, 1235)),
                            _at(w["items"], ["base", *anchors], (1234, 1235)), anchors,
                            {"ja_average": 1.0}, "continuous", tmp_path / "chosen.json")
    other = next(a for a in anchors if a != best)
    bad = tmp_path / "reference.json"
    bad.write_text(json.dumps({"best_anchor": other, "objective": {"ja_average": 1.0},
                               "metric": "continuous"}))
    models = ["base", "proposed", *anchors]
    seeds = (1234, 1235)
    with pytest.raises(ValueError, match=r"reference.json: field best_anchor: '"):
        run_verification(proposal, _at(w["scores"], models, seeds),
                         _at(w["items"], models, seeds), anchors,
                         out_table=tmp_path / "t.tsv", out_summary=tmp_path / "s.md",
                         anchor_budget={"tokens": 1}, proxy_budget=1, reference_json=bad,
                         reseeded_scores=_at(w["scores"], ["base", "proposed", other], seeds),
                         reseeded_items=_at(w["items"], ["base", "proposed", other], seeds))
    assert not (tmp_path / "t.tsv").exists()


def test_one_run_per_mixture_makes_no_claim_but_the_reseeded_runs_do(verify_world, tmp_path):
    """config/sweep.yaml's shape: one seed (one run per mixture) plus verification seeds. The
    first row's item test over one run each is reported without a claim (training noise is
    not in it, and a reseed moves a tiny model's averages by more than its item SE); the
    second row, over independent CPT runs, decides."""
    from cptmix.analyze.sweep import choose_reference, run_verification

    _root, w, proposal = verify_world
    anchors = [m for m in w["scores"] if m not in ("base", "proposed")]
    best = choose_reference(_at(w["scores"], ["base", *anchors], (1234,)),
                            _at(w["items"], ["base", *anchors], (1234,)), anchors,
                            {"ja_average": 1.0}, "continuous", tmp_path / "reference.json")
    models, units = ["base", "proposed", *anchors], (1234, 1236, 1237)
    run_verification(
        proposal, _at(w["scores"], models, (1234,)), _at(w["items"], models, (1234,)),
        anchors, out_table=tmp_path / "v.tsv", out_summary=tmp_path / "v.md",
        anchor_budget={"tokens": 1}, proxy_budget=1, replicate_scope="sft",
        reference_json=tmp_path / "reference.json",
        reseeded_scores=_at(w["scores"], ["base", "proposed", best], units),
        reseeded_items=_at(w["items"], ["base", "proposed", best], units))
    table = pd.read_csv(tmp_path / "v.tsv", sep="\t", keep_default_na=False)
    one, reseeded = table.iloc[0], table.iloc[1]
    assert one["n_seeds"] == 1 and one["test"].startswith("items only")
    assert float(one["diff_p"]) < 0.05  # the planted proposal is ahead on its items ...
    assert one["clears_noise_floor"] == "" and one["beats_best_anchor"] == ""  # ... no claim
    assert reseeded["clears_noise_floor"] in ("yes", "no") and reseeded["n_seeds"] == 3
    summary = (tmp_path / "v.md").read_text()
    assert "One run per mixture (seed 1234): no training noise is measured" in summary
    assert "the proposal is not judged against the best anchor (one run each" in summary
    assert "beyond the SFT-seed noise floor" not in summary
    assert "makes no claim" not in summary  # the paragraph above says it; not again as a note
