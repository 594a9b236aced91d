"""cptmix.corpus.realise: token shares → subsample fractions and epochs (hand-computed),
the repetition limit, share caps, and what hash subsampling really keeps (declared vs
realised, and the calibrated fractions)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cptmix.corpus.ledger import RepetitionError, write_ledger
from cptmix.corpus.mixture import keep_document
from cptmix.corpus.realise import (
    RealiseError,
    calibrate_fractions,
    realise_shares,
    realised_shares,
    realised_tokens,
    share_caps,
    source_token_counts,
)
from cptmix.design import proxy_budget, sweep_shares, sweep_spec


def test_realisation_arithmetic_by_hand():
    # T = {a: 1000, b: 100}, B = 500, w = (0.5, 0.5): n = 250 each; b needs 2.5 passes, so
    # E = 3 and f = n / (E T): a 250 / 3000, b 250 / 300
    r = realise_shares("m", {"a": 0.5, "b": 0.5}, {"a": 1000, "b": 100}, 500, 4)
    assert r["epochs"] == 3 and r["token_budget"] == 500 and r["mixture"] == "m"
    assert r["fractions"] == {"a": 250 / 3000, "b": 250 / 300}
    assert r["expected_tokens"] == {"a": 250.0, "b": 250.0}
    assert r["repetitions"] == {"a": 0.25, "b": 2.5}
    for s, t in {"a": 1000, "b": 100}.items():  # E passes over the subset give n_s
        assert r["epochs"] * r["fractions"][s] * t == pytest.approx(r["expected_tokens"][s])
    # everything fits once: E = 1, f = n / T
    r = realise_shares("m", {"a": 0.6, "b": 0.4}, {"a": 1000, "b": 1000}, 500)
    assert r["epochs"] == 1 and r["fractions"] == {"a": 0.3, "b": 0.2}


def test_epochs_are_exact_where_floats_would_round_up():
    # 0.07 × 300000 / 3000 = 7 exactly, but 21.000000000000004 / 3 in floats: E would be 8
    assert math.ceil(0.07 * 300000 / 3000) == 8  # the float pitfall (control)
    r = realise_shares("m", {"a": 0.07, "b": 0.93}, {"a": 3000, "b": 10**6}, 300000, 8)
    assert r["epochs"] == 7 and r["fractions"]["a"] == 1.0 and r["repetitions"]["a"] == 7.0


def test_a_zero_share_leaves_the_source_out():
    r = realise_shares("m", {"a": 1.0, "b": 0.0}, {"a": 1000}, 500)  # b: no counts needed
    assert r["fractions"] == {"a": 0.5, "b": 0.0} and r["repetitions"]["b"] == 0.0
    assert r["expected_tokens"]["b"] == 0.0


def test_repetitions_above_the_limit_are_an_error_naming_key_mixture_and_source():
    args = ("sweep-07", {"a": 0.5, "b": 0.5}, {"a": 1000, "b": 100}, 500)
    assert realise_shares(*args, max_repetitions=2.5)["epochs"] == 3  # at the limit: fine
    with pytest.raises(RepetitionError, match=r"^design\.sweep\.token_budget: mixture sweep-07 "
                                              r"needs 250 tokens of source b .* 2\.50 passes "
                                              r"over its 100 tokens, more than "
                                              r"max_repetitions=2"):
        realise_shares(*args, max_repetitions=2)
    with pytest.raises(RepetitionError, match=r"^design\.proposal\.token_budget: "):
        realise_shares(*args, max_repetitions=2, key="design.proposal.token_budget")


@pytest.mark.parametrize("shares,tokens,budget,message", [
    ({"a": 0.5, "b": 0.4}, {"a": 10, "b": 10}, 10, "shares sum to 0.9, not 1"),
    ({"a": 1.2, "b": -0.2}, {"a": 10, "b": 10}, 10, "source a has share 1.2, not in"),
    ({"a": 0.5, "b": 0.5}, {"a": 10}, 10, "no token count for source"),
    ({"a": 0.5, "b": 0.5}, {"a": 10, "b": 0}, 10, "source b holds no tokens"),
    ({"a": 0.5, "b": 0.5}, {"a": 10, "b": 10}, 0, "design.sweep.token_budget: must be a pos"),
])
def test_bad_realisation_inputs(shares, tokens, budget, message):
    with pytest.raises(RealiseError, match=message.replace(".", r"\.")):
        realise_shares("m", shares, tokens, budget)


def test_share_caps_are_the_largest_realisable_shares():
    caps = share_caps({"a": 1000, "b": 100, "c": 30}, 500, 2)
    assert caps == {"a": 1.0, "b": 0.4, "c": 0.12}
    assert realise_shares("m", {"b": 0.4, "a": 0.6}, {"a": 1000, "b": 100}, 500, 2)  # at cap
    with pytest.raises(RepetitionError):  # control: one grid step above the cap
        realise_shares("m", {"b": 0.400001, "a": 0.599999}, {"a": 1000, "b": 100}, 500, 2)
    assert share_caps({"c": 1}, 3, 1) == {"c": 0.333333}  # rounded down onto the grid


def counts_table(prefix: str, tokens: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{prefix}-{i:03d}" for i in range(len(tokens))],
                         "lang": "ja", "tokens": tokens})


def test_source_and_realised_tokens_count_eods_and_follow_keep_document(tmp_path):
    a = counts_table("a", [10, 20, 30, 40] * 10)
    shards = {"00000": a.iloc[:25], "00001": a.iloc[25:]}
    assert source_token_counts({"a": a, "s": shards}) == {"a": 1040, "s": 1040}  # 1000 + 40 EOD
    kept_by_hand = sum(t + 1 for i, t in zip(a["id"], a["tokens"], strict=True)
                       if keep_document("a", i, 0.5))
    assert 0 < kept_by_hand < 1040
    assert realised_tokens({"a": 0.5, "b": 0.0}, {"a": shards}) == {"a": kept_by_hand, "b": 0}
    assert realised_tokens({"a": 1.0}, {"a": a}) == {"a": 1040}
    b = counts_table("b", [5] * 8)
    shares = realised_shares({"a": 1.0, "b": 1.0}, {"a": a, "b": b})
    assert shares == {"a": 1040 / 1088, "b": 48 / 1088}
    with pytest.raises(RealiseError, match="select no tokens"):
        realised_shares({"a": 0.0}, {"a": a})


def test_calibrated_fractions_hold_the_declared_shares_to_within_a_document():
    counts = {"a": counts_table("a", [7, 31, 12, 55, 3, 90, 18, 26] * 40),
              "b": counts_table("b", [40, 9, 64, 22, 13] * 60)}
    tokens = source_token_counts(counts)
    errors = {"nominal": [], "calibrated": []}
    for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        shares = {"a": w, "b": round(1 - w, 6)}
        r = realise_shares("m", shares, tokens, 12000, 4)
        c = calibrate_fractions(r, counts)
        assert c["nominal_fractions"] == r["fractions"] and c["epochs"] == r["epochs"]
        for s in ("a", "b"):
            target = r["expected_tokens"][s] / r["epochs"]
            got = realised_tokens(c["fractions"], counts)[s]
            assert abs(got - target) <= (int(counts[s]["tokens"].max()) + 1) / 2  # nearest
        for kind, fr in (("nominal", r["fractions"]), ("calibrated", c["fractions"])):
            real = realised_shares(fr, counts)
            errors[kind].append(abs(real["a"] - shares["a"]))
    # the nominal fractions miss by more, on average (hash subsampling keeps whole documents)
    assert sum(errors["calibrated"]) < 0.5 * sum(errors["nominal"])


def test_a_sweep_realises_its_budget_in_its_shares():
    cfg = {"sources": {s: {} for s in "abc"},
           "design": {"sweep": {"n": 8, "method": "sobol", "seed": 3, "sources": list("abc"),
                                "token_budget": 10_000, "max_repetitions": 4}}}
    spec = sweep_spec(cfg)
    tokens = {"a": 50_000, "b": 20_000, "c": 2_600}  # c takes a share up to 1.04: E up to 4
    for name, shares in sweep_shares(spec).items():
        r = realise_shares(name, shares, tokens, spec.token_budget, spec.max_repetitions)
        assert 1 <= r["epochs"] <= 4 and all(0 <= f <= 1 for f in r["fractions"].values())
        trained = {s: r["epochs"] * r["fractions"][s] * tokens[s] for s in tokens}
        assert sum(trained.values()) == pytest.approx(10_000)
        assert all(trained[s] == pytest.approx(shares[s] * 10_000) for s in tokens)


def test_a_proxy_ledger_counts_the_passes_the_run_trains(tmp_path):
    """At E = max_repetitions a calibrated subset may hold a few tokens less than B / E: hf
    trains E passes over it (proxy_hp), which the ledger must count as E, not as B tokens
    (4.01 passes: the error a 1M-token demo sweep hit on one of its 16 mixtures)."""
    counts = {"a": counts_table("a", [7, 31, 12, 55, 3, 90, 18, 26] * 40),
              "b": counts_table("b", [40, 9, 64, 22, 13] * 60)}
    r = calibrate_fractions(realise_shares("m", {"a": 0.2, "b": 0.8},
                                           source_token_counts(counts), 40_000, 4), counts)
    subset = sum(realised_tokens(r["fractions"], counts).values())
    assert r["epochs"] == 4 and 40_000 / subset > 4  # the subset is a little short of B / E
    out = (tmp_path / "blend.json", tmp_path / "ledger.tsv")
    with pytest.raises(RepetitionError):  # control: B tokens over the subset
        write_ledger("m", r["fractions"], counts, *out, tokens=40_000, pool="subset",
                     max_repetitions=4)
    assert proxy_budget(r, megatron=True) == {"tokens": 40_000}
    budget = proxy_budget(r, megatron=False)
    assert budget == {"epochs": 4}
    df = write_ledger("m", r["fractions"], counts, *out, **budget, pool="subset",
                      max_repetitions=4)
    assert df["epochs"].tolist() == [4.0, 4.0] and df["tokens_seen"].sum() == 4 * subset
