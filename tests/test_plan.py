"""cptmix.plan: token, step, FLOP, GPU-hour and disk arithmetic, checked by hand."""

from pathlib import Path

import pytest
import yaml

from cptmix.cli import main as cli_main
from cptmix.config import load_config
from cptmix.plan import PlanError, implied_mfu, mixture_tokens, plan_study

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(**cpt):
    """Two mixtures over declared sizes: M1 = ja 1000 + en 3000; M2 = M1 + half of par (200)."""
    return {
        "sources": {
            "ja1": {"path": "ja1.jsonl", "lang": "ja", "tokens": 1000},
            "en1": {"path": "en1.jsonl", "lang": "en", "tokens": 3000},
            "par": {"path": "par.jsonl", "lang": "parallel", "tokens": 200},
            "mixed": {"path": "mixed.jsonl", "lang": "document", "tokens": 500},
        },
        "mixtures": {
            "M1": {"sources": [{"source": "ja1", "fraction": 1.0},
                               {"source": "en1", "fraction": 1.0}]},
            "M2": {"extends": "M1", "sources": [{"source": "par", "fraction": 0.5}]},
        },
        "corpus": {"token_budget": {"epochs": 2}},
        "base_model": {"path": "model", "parameters": 10},
        "train": {"backend": "megatron",
                  "cpt": {"batch_size": 4, "block_size": 50, "lr": 1e-4, "min_lr": 1e-5,
                          "parallel": {"tensor": 2, "pipeline": 1, "data": 2}, **cpt},
                  "sft": {"batch_size": 2, "lr": 1e-5, "min_lr": 1e-6}},
    }


def test_hand_computed_plan():
    df = plan_study(tiny_config(), mfu=0.5, gpu_flops=1000, token_bytes=4, keep=1)
    m1, m2, total = (df.set_index("mixture").loc[n] for n in ("M1", "M2", "total"))
    # M1: 4000 tokens, 2 epochs = 8000 trained; 4 seqs × 50 tokens = 200 tokens/step -> 40 steps
    assert (m1.tokens_B, m1.ja_B, m1.en_B, m1.parallel_B) == pytest.approx(
        (4000e-9, 1000e-9, 3000e-9, 0.0))
    assert m1.trained_B == pytest.approx(8000e-9) and m1.steps == 40
    # FLOPs = 6 × 10 × 8000 = 480,000; at 0.5 × 1000 FLOP/s -> 960 s = 0.2667 GPU-h on 2×1×2 GPUs
    assert m1.flops == pytest.approx(480_000)
    assert m1.gpu_hours == pytest.approx(960 / 3600) and m1.gpus == 4
    assert m1.wall_hours == pytest.approx(240 / 3600)
    # M2 adds half of par: 4100 tokens, 100 of them parallel; 8200 trained -> ceil(41.0) steps
    assert m2.parallel_B == pytest.approx(100e-9) and m2.steps == 41
    # checkpoints: (14 + 2) B/param × 10 params per run; CPT + SFT per mixture, + base SFT
    assert m1.checkpoint_GB == pytest.approx(320e-9)
    assert total.checkpoint_GB == pytest.approx(2 * 320e-9 + 160e-9)
    # indexed data: whole sources × 4 bytes; par counts in full for M2, once in the total
    assert m1.indexed_GB == pytest.approx(16_000e-9) and m2.indexed_GB == pytest.approx(16_800e-9)
    assert total.indexed_GB == pytest.approx(16_800e-9)
    assert total.flops == pytest.approx(6 * 10 * (8000 + 8200)) and total.steps == 81


@pytest.mark.parametrize("replicates, cpt_runs, sft_runs", [
    ({"seeds": [1, 2, 3]}, 3, 3), ({"n": 2, "scope": "sft"}, 1, 2)])
def test_replicates_multiply_the_runs(replicates, cpt_runs, sft_runs):
    one = plan_study(tiny_config(), mfu=0.5, gpu_flops=1000).set_index("mixture")
    cfg = {**tiny_config(), "replicates": replicates}
    many = plan_study(cfg, mfu=0.5, gpu_flops=1000).set_index("mixture")
    m1 = many.loc["M1"]
    assert m1.runs == cpt_runs and m1.steps == one.loc["M1", "steps"]  # steps: one run's
    assert m1.flops == pytest.approx(cpt_runs * 480_000)
    assert m1.gpu_hours == pytest.approx(cpt_runs * 960 / 3600)
    assert m1.wall_hours == pytest.approx(240 / 3600)  # one run's wall clock
    # (14 + 2) B/param × 10 params = 160e-9 GB per run: CPT runs + SFT runs, + base SFT per seed
    assert m1.checkpoint_GB == pytest.approx((cpt_runs + sft_runs) * 160e-9)
    assert many.loc["total", "checkpoint_GB"] == pytest.approx(
        2 * (cpt_runs + sft_runs) * 160e-9 + sft_runs * 160e-9)
    assert many.loc["total", "wall_hours"] == pytest.approx(cpt_runs * (240 + 246) / 3600)


def test_token_budget_in_tokens_and_max_steps_cap():
    cfg = tiny_config()
    cfg["corpus"] = {"token_budget": {"tokens": 1000}}
    assert plan_study(cfg).set_index("mixture").loc["M1", "steps"] == 5  # 1000 / 200
    cfg = tiny_config(max_steps=3)
    assert plan_study(cfg).set_index("mixture").loc["M2", "trained_B"] == pytest.approx(600e-9)


def test_document_sources_count_in_the_total_only():
    cfg = tiny_config()
    cfg["mixtures"]["M3"] = {"sources": [{"source": "mixed", "fraction": 0.5}]}
    row = mixture_tokens(cfg).loc["M3"]
    assert row.total == 250 and row.ja == row.en == row.parallel == 0


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["sources"]["en1"].pop("tokens"), "en1"),
    (lambda c: c["base_model"].pop("parameters"), "base_model.parameters"),
    (lambda c: c["train"]["cpt"].update(batch_size=5), "not a multiple"),
    (lambda c: c["train"]["cpt"].pop("block_size"), "block_size"),
])
def test_missing_or_impossible_inputs_are_named(change, message):
    cfg = tiny_config()
    change(cfg)
    with pytest.raises(PlanError, match=message):
        plan_study(cfg)


def test_implied_mfu():
    # 1,000 FLOPs on 2 GPUs of 100 FLOP/s in 10 s -> 1000 / (2 × 10 × 100) = 0.5
    assert implied_mfu(1000, 2, 10 / 3600, gpu_flops=100) == pytest.approx(0.5)


def test_paper_config_reproduces_table_c1_and_the_budget():
    cfg = load_config(ROOT / "config" / "paper.yaml")
    tokens = mixture_tokens(cfg) / 1e9
    table_c1 = {  # paper Table C.1: total, ja, en, parallel (B tokens)
        "EnJa-Base": (15.00, 5.00, 9.50, 0.48), "JaDominant": (42.76, 32.76, 9.50, 0.48),
        "EnDominant": (43.68, 5.00, 38.18, 0.48), "EnJa-Plus": (57.56, 18.88, 38.18, 0.48),
        "EnJa-Balance": (71.44, 32.76, 38.18, 0.48), "EnJa-Hybrid": (79.62, 36.11, 36.42, 7.07),
    }
    for name, expected in table_c1.items():
        got = tokens.loc[name, ["total", "ja", "en", "parallel"]].to_numpy()
        assert got == pytest.approx(expected, abs=0.015), name
    hybrid = plan_study(cfg, mfu=0.284).set_index("mixture").loc["EnJa-Hybrid"]
    # 6 × 13e9 × 79.62e9 = 6.21e21 FLOPs; 256 GPUs at 28.4 % of 989 TFLOP/s -> ~24 h
    assert hybrid.gpus == 256 and hybrid.flops == pytest.approx(6.21e21, rel=1e-3)
    assert hybrid.wall_hours == pytest.approx(24, abs=0.2)
    assert implied_mfu(hybrid.flops, 256, 24) == pytest.approx(0.284, abs=0.001)


def test_cli(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    tsv = tmp_path / "plan.tsv"
    assert cli_main(["plan", str(path), "--mfu", "0.5", "--gpu-flops", "1000",
                     "--observed", "M1=0.1", "--tsv", str(tsv)]) == 0
    out = capsys.readouterr().out
    # 480,000 FLOPs / (4 GPUs × 360 s × 1000 FLOP/s) = 0.333
    assert "M1: 4 GPUs × 0.1 h implies MFU 0.333" in out and "total" in out
    assert tsv.read_text().splitlines()[0].startswith("mixture\ttokens_B")
    assert cli_main(["plan", str(path), "--observed", "nope=1"]) == 2
