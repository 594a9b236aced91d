"""cptmix.design: the sweep block's checks, the design methods (bounds, exact sums,
determinism, prefix stability, space filling; the D-optimal exchange), the map onto the
bounded simplex, and the design-quality functions (minimum pairwise distance, share spread,
VIFs, correlations)."""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from cptmix.config import STATISTICS
from cptmix.design import (
    METHODS,
    PREFIX_STABLE,
    VIF_COLUMNS,
    DesignError,
    capped,
    fedorov_exchange,
    max_vif,
    min_pairwise_distance,
    round_shares,
    share_spread,
    share_statistics,
    statistic_correlations,
    sweep_names,
    sweep_points,
    sweep_problems,
    sweep_shares,
    sweep_spec,
    to_bounded_simplex,
    vif,
)

SOURCES = ["ja_base", "en_base", "pmc_en", "pmc_ja_mt", "parallel_abstracts", "textbooks"]
BOUNDS = {"pmc_en": [0.0, 0.4], "ja_base": [0.1, 0.5]}


def config(**sweep):
    block = {"n": 16, "method": "sobol", "seed": 11, "sources": list(SOURCES),
             "bounds": copy.deepcopy(BOUNDS), "token_budget": 300000, "max_repetitions": 4}
    block.update(sweep)
    return {"sources": {s: {"path": f"{s}.jsonl", "lang": "ja"} for s in [*SOURCES, "general"]},
            "mixtures": {"EnJa-Base": {"sources": [{"source": "ja_base", "fraction": 1.0}]}},
            "design": {"sweep": block}}


def spec(**sweep):
    return sweep_spec(config(**sweep))


# --- names and the spec ------------------------------------------------------------------------

def test_sweep_names_are_zero_padded_to_at_least_two_digits():
    assert sweep_names(1) == ["sweep-01"]
    assert sweep_names(16)[0] == "sweep-01" and sweep_names(16)[-1] == "sweep-16"
    assert sweep_names(9) == [f"sweep-0{i}" for i in range(1, 10)]
    assert sweep_names(100)[0] == "sweep-001" and sweep_names(100)[-1] == "sweep-100"
    assert sweep_names(32)[:16] == sweep_names(16)  # names of the same points stay


def test_sweep_spec_reads_the_block_and_fills_unlisted_bounds():
    s = spec()
    assert s.n == 16 and s.method == "sobol" and s.seed == 11 and s.sources == tuple(SOURCES)
    assert s.bounds_of("pmc_en") == (0.0, 0.4) and s.bounds_of("ja_base") == (0.1, 0.5)
    assert s.bounds_of("textbooks") == (0.0, 1.0)  # unlisted
    assert s.token_budget == 300000 and s.max_repetitions == 4 and s.alpha == 1.0
    assert s.names == tuple(sweep_names(16))
    assert sweep_spec({"sources": {}}) is None and sweep_spec({"design": {}}) is None
    assert sweep_spec(config(token_budget=3.0e5)).token_budget == 300000  # YAML float


BAD = [  # (change to the sweep block, key the message names)
    ({"method": "halton"}, "design.sweep.method: unknown method 'halton'"),
    ({"n": 0}, "design.sweep.n: must be an integer >= 1"),
    ({"n": 2.5}, "design.sweep.n: must be an integer >= 1"),
    ({"seed": -1}, "design.sweep.seed"),
    ({"sources": [*SOURCES, "nope"]}, "design.sweep.sources: 'nope' is not a source"),
    ({"sources": [*SOURCES, "textbooks"]}, ("design.sweep.sources: listed more than once: "
                                           "textbooks")),
    ({"sources": ["ja_base"], "bounds": {}}, "design.sweep.sources: a sweep needs at least two"),
    ({"bounds": {**BOUNDS, "general": [0, 0.5]}}, ("design.sweep.bounds.general: 'general' is "
                                                  "not one of design.sweep.sources")),
    ({"bounds": {"pmc_en": [0.5, 0.4]}}, "design.sweep.bounds.pmc_en: [0.5, 0.4] must satisfy"),
    ({"bounds": {"pmc_en": [-0.1, 0.4]}}, "design.sweep.bounds.pmc_en: [-0.1, 0.4] must"),
    ({"bounds": {"pmc_en": [0.0, 1.5]}}, "design.sweep.bounds.pmc_en: [0, 1.5] must"),
    ({"bounds": {"pmc_en": [0.0]}}, "design.sweep.bounds.pmc_en: must be two numbers"),
    ({"bounds": {"pmc_en": [0.1000001, 0.1000004]}},
     "design.sweep.bounds.pmc_en: [0.1000001, 0.1000004] holds no share on the grid of 1e-6"),
    ({"bounds": {"pmc_en": [0.6, 1.0], "ja_base": [0.5, 1.0]}},
     "design.sweep.bounds: the lower bounds sum to 1.1 > 1"),
    ({"bounds": {s: [0.0, 0.15] for s in SOURCES}},
     "design.sweep.bounds: the upper bounds sum to 0.9 < 1"),
    ({"bounds": {s: [0.0, 0.1] if s != "textbooks" else [0.5, 0.5] for s in SOURCES}},
     "design.sweep.bounds: the bounds leave exactly one mixture"),
    ({"sources": ["ja_base", "en_base"], "bounds": {"ja_base": [0.3, 0.3]}},
     "design.sweep.bounds: the bounds leave exactly one mixture"),
    ({"token_budget": 0}, "design.sweep.token_budget: must be a positive integer"),
    ({"token_budget": -5}, "design.sweep.token_budget: must be a positive integer"),
    ({"max_repetitions": 0.5}, "design.sweep.max_repetitions: must be a number >= 1"),
    ({"alpha": 2.0}, "design.sweep.alpha: only the dirichlet method uses alpha"),
    ({"method": "dirichlet", "alpha": 0}, "design.sweep.alpha: must be a number > 0"),
    ({"colour": "red"}, "design.sweep.colour: unknown key"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_each_bad_sweep_block_raises_naming_its_key(change, message):
    assert sweep_problems(config()) == []  # control: the unchanged block is good
    with pytest.raises(DesignError, match="^" + re.escape("cfg.yaml: " + message)):
        sweep_spec(config(**change), where="cfg.yaml")


def test_a_missing_key_and_a_name_clash_are_errors_and_all_problems_are_listed():
    cfg = config()
    del cfg["design"]["sweep"]["token_budget"]
    with pytest.raises(DesignError, match=r"design\.sweep\.token_budget: missing"):
        sweep_spec(cfg)
    cfg = config(n=3)
    cfg["mixtures"]["sweep-02"] = {"sources": [{"source": "en_base", "fraction": 1.0}]}
    with pytest.raises(DesignError, match=r"design\.sweep\.n: the sweep's names sweep-02 are "
                                          r"declared mixtures \(mixtures\.sweep-02\)"):
        sweep_spec(cfg)
    problems = sweep_problems(config(n=0, method="halton", token_budget=0))
    assert [p.split(":")[0] for p in problems] == [
        "design.sweep.n", "design.sweep.method", "design.sweep.token_budget"]
    with pytest.raises(DesignError, match=r"^3 problems:\n  design\.sweep\.n"):
        sweep_spec(config(n=0, method="halton", token_budget=0))


# --- the methods -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(METHODS))
def test_shares_respect_the_bounds_sum_to_one_exactly_and_are_deterministic(method):
    s = spec(method=method, n=24)
    shares = sweep_shares(s)
    assert list(shares) == sweep_names(24)
    lo, hi = s.lower, s.upper
    for row in shares.values():
        assert list(row) == SOURCES
        assert sum(Decimal(repr(w)) for w in row.values()) == 1  # exactly, in decimal
        assert all(len(repr(w).split(".")[-1]) <= 6 for w in row.values())  # 1e-6 grid
        w = np.array(list(row.values()))
        assert (w >= lo).all() and (w <= hi).all()
    assert repr(sweep_shares(s)) == repr(shares)  # byte-identical rerun
    assert sweep_shares(s.replace(seed=12)) != shares  # another seed, another design
    # controls: the bounds bind (without them some point leaves them), and the raw points
    # before rounding do not sum to 1 exactly
    free = sweep_points(spec(method=method, n=24, bounds={}))
    assert (free[:, 2] > 0.4).any() or (free[:, 0] < 0.1).any()
    raw = METHODS[method](s, 24)
    assert any(sum(Decimal(float(w)) for w in row) != 1 for row in raw)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_prefix_stability_is_as_claimed(method):
    small, large = sweep_shares(spec(method=method, n=16)), sweep_shares(spec(method=method,
                                                                              n=32))
    same = all(large[name] == small[name] for name in small)
    assert same is PREFIX_STABLE[method]  # latin: its strata depend on n (claimed unstable)


def test_space_filling_beats_iid_draws_of_the_same_size():
    """Mean minimum pairwise distance over 8 seeds, n = 32: sobol and latin (cube designs mapped
    onto the bounds) against iid Dirichlet(1) draws kept inside the same bounds (the same
    uniform distribution, without the design)."""
    def mean_min_distance(method):
        return np.mean([min_pairwise_distance(sweep_points(spec(method=method, n=32, seed=k)))
                        for k in range(8)])
    iid, sobol, latin = (mean_min_distance(m) for m in ("dirichlet", "sobol", "latin"))
    assert sobol > 1.25 * iid and latin > 1.25 * iid


def test_fedorov_exchange_finds_the_vertices_of_the_linear_mixture_model():
    """Scheffé's linear model on three components: the D-optimal 3-point design is the three
    vertices (det(X'X) = 1). From three interior candidates the exchange must reach them."""
    grid = np.array([(i / 10, j / 10, (10 - i - j) / 10) for i in range(11)
                     for j in range(11 - i)])
    start = [int(np.argmin(np.abs(grid - c).sum(axis=1)))
             for c in ((0.4, 0.3, 0.3), (0.3, 0.4, 0.3), (0.3, 0.3, 0.4))]
    before = np.linalg.det(grid[start].T @ grid[start])
    picked = fedorov_exchange(grid, start)
    assert sorted(map(tuple, grid[picked])) == [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0),
                                                (1.0, 0.0, 0.0)]
    assert before < 0.01 < np.linalg.det(grid[picked].T @ grid[picked])  # control: it moved
    assert len(set(fedorov_exchange(grid, list(range(8))))) == 8  # distinct points


def test_doptimal_spreads_every_share_more_than_the_space_filling_designs():
    s = spec(n=16)
    free = [i for i, (lo, hi) in enumerate(zip(s.lower, s.upper, strict=True)) if hi > lo]
    spread = {m: share_spread(sweep_shares(s.replace(method=m))) for m in ("sobol", "doptimal")}
    for src in SOURCES:
        assert spread["doptimal"][src] > 1.2 * spread["sobol"][src], src

    def logdet(m):
        x = sweep_points(s.replace(method=m))[:, free]
        return np.linalg.slogdet(x.T @ x)[1]
    assert logdet("doptimal") > logdet("sobol") + 1  # det(X'X) e-fold larger at least


def test_share_spread_is_the_sd_of_each_share():
    points = {"a": {"x": 0.2, "y": 0.8}, "b": {"x": 0.6, "y": 0.4}}
    assert share_spread(points) == pytest.approx({"x": 0.2, "y": 0.2})


def test_dirichlet_with_bounds_that_reject_almost_everything_is_an_error():
    tight = {s: [0.16, 0.17] for s in SOURCES}  # a sliver of the simplex
    with pytest.raises(DesignError, match=r"design\.sweep\.bounds: only \d+ of \d+ Dirichlet"):
        sweep_points(spec(method="dirichlet", bounds=tight))
    w = sweep_points(spec(method="sobol", bounds=tight))  # control: the map never rejects
    assert (w >= 0.16).all() and (w <= 0.17).all()


def test_fixed_sources_keep_their_share():
    s = spec(bounds={"textbooks": [0.25, 0.25]}, n=8)
    for method in METHODS:
        w = sweep_points(s.replace(method=method))
        assert (w[:, -1] == 0.25).all() and np.allclose(w.sum(axis=1), 1)


def test_capped_lowers_upper_bounds_and_checks_again():
    s = capped(spec(), {"pmc_en": 0.2, "textbooks": 0.3, "en_base": 1.0})
    assert s.bounds_of("pmc_en") == (0.0, 0.2) and s.bounds_of("textbooks") == (0.0, 0.3)
    assert s.bounds_of("en_base") == (0.0, 1.0)
    assert (sweep_points(s)[:, 2] <= 0.2).all()
    with pytest.raises(DesignError, match=r"design\.sweep\.bounds: the upper bounds sum to"):
        capped(spec(), dict.fromkeys(SOURCES, 0.1))
    with pytest.raises(DesignError, match=r"design\.sweep\.bounds\.ja_base: its lower bound "
                                          r"0\.1 is above its repetition cap 0\.05"):
        capped(spec(), {"ja_base": 0.05})


# --- the map onto the bounded simplex ----------------------------------------------------------

def test_without_bounds_the_map_is_uniform_dirichlet_stick_breaking():
    u = np.array([[0.1, 0.5, 0.9], [0.7, 0.2, 0.4]])
    w = to_bounded_simplex(u, np.zeros(4), np.ones(4))
    for row, point in zip(w, u, strict=True):
        r, expect = 1.0, []
        for i, x in enumerate(point):  # Beta(1, m) quantile of the stick left
            expect.append(r * (1 - (1 - x) ** (1 / (3 - i))))
            r -= expect[-1]
        assert np.allclose(row, [*expect, r], atol=1e-12)


def test_bounded_map_matches_hand_derived_quantiles():
    # two sources, a in [0.2, 0.6]: a is uniform on [0.2, 0.6]
    w = to_bounded_simplex(np.array([[0.0], [0.25], [1.0]]), np.array([0.2, 0.0]),
                           np.array([0.6, 1.0]))
    assert np.allclose(w[:, 0], [0.2, 0.3, 0.6]) and np.allclose(w.sum(axis=1), 1)
    # three sources, a in [0, 0.5]: density of a ∝ 1 − a, so F(x) = (1 − (1 − x)²) / 0.75
    u = np.array([[0.3, 0.5], [0.9, 0.5]])
    w = to_bounded_simplex(u, np.zeros(3), np.array([0.5, 1.0, 1.0]))
    assert np.allclose(w[:, 0], 1 - np.sqrt(1 - 0.75 * u[:, 0]), atol=1e-12)
    # given a, b is uniform on [0, 1 − a]
    assert np.allclose(w[:, 1], 0.5 * (1 - w[:, 0]), atol=1e-12)
    # three sources, the LAST one bounded, c in [0, 0.5] (the inclusion–exclusion term): the
    # density of a is ∝ min(0.5, 1 − a), so F(x) = x / 0.75 up to x = 0.5, then
    # (0.25 + (0.25 − (1 − x)²) / 2) / 0.375; given a, b is uniform on [max(0, 0.5 − a), 1 − a]
    u = np.array([[0.4, 0.5], [0.9, 0.25]])
    w = to_bounded_simplex(u, np.zeros(3), np.array([1.0, 1.0, 0.5]))
    a = np.array([0.75 * 0.4, 1 - math.sqrt(0.075)])
    b = np.maximum(0, 0.5 - a) + u[:, 1] * (1 - a - np.maximum(0, 0.5 - a))
    assert np.allclose(w, np.column_stack([a, b, 1 - a - b]), atol=1e-12)


def test_round_shares_largest_remainder_inside_the_bounds():
    third = np.full((1, 3), 1 / 3)
    assert round_shares(third, np.zeros(3), np.ones(3)).tolist() == [[333334, 333333, 333333]]
    w = np.array([[0.4000004, 0.5999996]])  # nearest grid point 0.4 / 0.6
    assert round_shares(w, np.zeros(2), np.array([0.4, 1.0])).tolist() == [[400000, 600000]]
    w = np.array([[0.4000009, 0.5999991]])  # nearest would be 0.400001: above the bound
    assert round_shares(w, np.zeros(2), np.ones(2)).tolist() == [[400001, 599999]]  # control
    assert round_shares(w, np.zeros(2), np.array([0.4, 1.0])).tolist() == [[400000, 600000]]


# --- quality -----------------------------------------------------------------------------------

def test_min_pairwise_distance():
    pts = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]]
    assert min_pairwise_distance(pts) == pytest.approx(math.sqrt(0.5))
    mapping = {"a": {"x": 1.0}, "b": {"y": 1.0}}  # missing sources are 0
    assert min_pairwise_distance(mapping) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="at least two points"):
        min_pairwise_distance([[1.0, 0.0]])


def test_vif_known_value_and_perfect_collinearity():
    t = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 3, 2, 4]})  # r = 0.8: VIF = 1 / 0.36
    assert vif(t, ["x", "y"]).tolist() == pytest.approx([1 / 0.36, 1 / 0.36])
    t = pd.DataFrame({"a": [1.0, 2, 4, 3, 7, 5], "b": [2.0, 1, 1, 5, 2, 4],
                      "c": [0.5, 3, 2, 2, 9, 1]})
    assert np.isfinite(vif(t, ["a", "b", "c"])).all()  # control: independent columns
    t["c"] = t.a + 2 * t.b  # an exact linear combination
    assert np.isinf(vif(t, ["a", "b", "c"])).all()
    t["d"] = 3.0  # a constant column is collinear with the intercept
    assert vif(t, ["a", "b", "d"])["d"] == math.inf
    assert np.isfinite(vif(t, ["a", "b", "d"])[["a", "b"]]).all()


# The paper's six mixtures (Table C.1, B tokens: ja / en / parallel; config/paper.yaml)
PAPER = {"EnJa-Base": (5.007, 9.504, 0.489), "JaDominant": (32.762, 9.504, 0.489),
         "EnDominant": (5.007, 38.184, 0.489), "EnJa-Plus": (18.8845, 38.184, 0.489),
         "EnJa-Balance": (32.762, 38.184, 0.489), "EnJa-Hybrid": (36.116, 36.426, 7.078)}


def table_c1():
    rows = []
    for name, (ja, en, par) in PAPER.items():
        total = ja + en + par
        rows.append({"mixture": name, **share_statistics(
            {"j": ja / total, "e": en / total, "p": par / total},
            {"j": "ja", "e": "en", "p": "parallel"}, total)})
    return pd.DataFrame(rows).set_index("mixture")


def test_vif_of_all_seven_statistics_is_infinite_by_construction_but_not_the_default():
    t = table_c1()
    assert np.isinf(vif(t, STATISTICS)).all()
    assert max_vif(t) < 2 and list(vif(t).index) == list(VIF_COLUMNS)
    # a fixed-budget sweep: the same total everywhere, so total_tokens is inf, the ratios not
    sweep = pd.DataFrame([share_statistics(dict(zip("jep", row, strict=True)),
                                           {"j": "ja", "e": "en", "p": "parallel"}, 1e9)
                          for row in sweep_points(spec(sources=["ja_base", "en_base", "pmc_en"],
                                                       bounds={}, n=8))])
    assert vif(sweep)["total_tokens"] == math.inf
    assert np.isfinite(vif(sweep, ["ja_ratio", "parallel_ratio"])).all()


def test_statistic_correlations_and_share_statistics():
    st = share_statistics({"a": 0.5, "b": 0.3, "c": 0.2},
                          {"a": "ja", "b": "en", "c": "parallel"}, 1000)
    assert st == {"total_tokens": 1000.0, "ja_tokens": 500.0, "en_tokens": 300.0,
                  "parallel_tokens": 200.0, "ja_ratio": 0.5, "en_ratio": 0.3,
                  "parallel_ratio": 0.2}
    with pytest.raises(ValueError, match=r"sources\.a\.lang: .* got 'document'"):
        share_statistics({"a": 1.0}, {"a": "document"}, 10)
    t = pd.DataFrame({"ja_ratio": [0.2, 0.5, 0.9], "en_ratio": [0.8, 0.5, 0.1],
                      "parallel_ratio": [0.0, 0.0, 0.0]})
    c = statistic_correlations(t, ["ja_ratio", "en_ratio", "parallel_ratio"])
    assert c.loc["ja_ratio", "en_ratio"] == pytest.approx(-1.0)
    assert math.isnan(c.loc["ja_ratio", "parallel_ratio"])  # constant: no correlation
