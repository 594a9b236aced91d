"""cptmix.train: schedule, SFT masking, a real tiny training run, crash-safe resume."""

import json
import logging
import math
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cptmix.corpus import load_tokenizer, train_tokenizer
from cptmix.train import continual_pretrain, lr_at, pretrain_base, supervised_finetune
from cptmix.train import hf as hf_backend
from cptmix.train.data import IGNORE, sft_examples
from cptmix.train.schedule import warmup_steps

ARCH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64}
HP = {"epochs": 2, "batch_size": 4, "block_size": 32, "lr": 3e-3, "min_lr": 3e-4,
      "warmup_fraction": 0.1, "weight_decay": 0.1}
TEXTS = ["ヴェロリン症候群はタクソマブで治療する。", "Velorin syndrome is treated with taxomab.",
         "遺伝子VELR1はヴェロリン症候群に関連する。", "Gene VELR1 is associated with Velorin syndrome."]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    train_tokenizer(TEXTS, d / "tok", vocab_size=300, min_frequency=1)
    corpus = d / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": TEXTS[i % 4]},
                                         ensure_ascii=False) + "\n" for i in range(120)))
    sft = d / "sft.jsonl"
    sft.write_text("".join(json.dumps({"id": str(i), "prompt": "質問: 治療薬は?\n答え:",
                                       "response": " タクソマブ"}, ensure_ascii=False) + "\n"
                           for i in range(12)))
    pretrain_base(ARCH, d / "tok", [corpus], d / "base", HP, seed=1)
    return d, corpus, sft


@pytest.mark.parametrize("step, expected", [
    (0, 1e-4 / 10), (9, 1e-4), (10, 1e-4), (100, 1e-5), (55, (1e-4 + 1e-5) / 2),
])
def test_cosine_schedule_with_warmup(step, expected):
    assert lr_at(step, 100, 1e-4, 1e-5, warmup=10) == pytest.approx(expected)


def test_warmup_steps_fraction_or_absolute():
    assert warmup_steps({"warmup_fraction": 0.03}, 1000) == 30
    assert warmup_steps({"warmup_steps": 20}, 1000) == 20
    assert warmup_steps({"warmup_steps": 20}, 5) == 5


def test_pretrain_writes_safetensors_and_learns(setup):
    d, _, _ = setup
    out = d / "base"
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert not list(out.glob("*.bin")) and not (d / "base.partial").exists()
    rows = [line.split("\t") for line in (out / "train_log.tsv").read_text().splitlines()[1:]]
    losses = [float(r[3]) for r in rows]
    assert len(losses) == json.loads((out / "training.json").read_text())["steps"]
    assert losses[-1] < losses[0] * 0.7


def test_sft_masks_the_prompt(setup):
    d, _, sft = setup
    tok = load_tokenizer(d / "tok")
    (ids, labels), *_ = sft_examples(tok, sft, max_length=64)
    n_prompt = len(tok("質問: 治療薬は?\n答え:", add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] and ids[-1] == tok.eos_token_id


def test_sft_runs_and_is_deterministic(setup):
    d, _, sft = setup
    hp = {**HP, "max_length": 64, "warmup_steps": 1}
    supervised_finetune(d / "base", sft, d / "sft1", hp, seed=3)
    supervised_finetune(d / "base", sft, d / "sft2", hp, seed=3)
    a, b = load_file(str(d / "sft1" / "model.safetensors")), load_file(
        str(d / "sft2" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    base = load_file(str(d / "base" / "model.safetensors"))
    assert not all(torch.equal(a[k], base[k]) for k in a)


def _linear_output_dtypes(model, hp):
    """The dtypes of every Linear layer's output during one `train_step` in `hp`."""
    seen = set()
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    x = torch.randint(3, 100, (2, 16))
    loss = hf_backend.train_step(model, hf_backend.make_optimizer(model, hp),
                                 {"input_ids": x, "labels": x}, hp)
    for h in hooks:
        h.remove()
    return seen, loss


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_precision_sets_the_compute_dtype_and_keeps_fp32_weights(setup, precision, dtype):
    d, _, _ = setup
    model = hf_backend.load_model(d / "base")
    seen, loss = _linear_output_dtypes(model, {**HP, "precision": precision})
    assert seen == {dtype} and math.isfinite(loss)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_the_hf_backend_refuses_fp16():
    with pytest.raises(ValueError, match="precision 'fp16': the hf backend trains in fp32 or bf16"):
        hf_backend.autocast({"precision": "fp16"})


def test_bf16_eager_cpt_is_deterministic_saves_fp32_and_differs_from_fp32(setup, tmp_path):
    d, corpus, _ = setup
    runs = {}
    for name, extra in [("a", {"precision": "bf16", "attention": "eager"}),
                        ("b", {"precision": "bf16", "attention": "eager"}),
                        ("fp32", {"precision": "fp32"})]:
        continual_pretrain(d / "base", [corpus], tmp_path / name, {**HP, **extra}, seed=2)
        runs[name] = load_file(str(tmp_path / name / "model.safetensors"))
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["fp32"][k]) for k in runs["a"])
    assert {t.dtype for t in runs["a"].values()} == {torch.float32}
    # the attention used in training is not saved: the evaluation loads the model as it would
    # any other (transformers' default attention)
    assert "eager" not in (tmp_path / "a" / "config.json").read_text()
    info = json.loads((tmp_path / "a" / "training.json").read_text())
    assert info["hyperparameters"]["precision"] == "bf16"


@pytest.mark.parametrize("budget, steps", [(1000, 8), (1024, 8), (1025, 9), (5000, 40)])
def test_cpt_trains_its_token_budget(setup, tmp_path, budget, steps):
    """corpus.token_budget with the hf backend: ceil(budget / (4 × 32)) steps, as many passes
    over the packed corpus as that needs (it has fewer batches than 40 per pass)."""
    d, corpus, _ = setup
    out = tmp_path / "cpt"
    continual_pretrain(d / "base", [corpus], out, {**HP, "token_budget": budget}, seed=2)
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == steps
    assert info["batches_per_epoch"] * (info["hyperparameters"]["epochs"] - 1) < steps
    assert len((out / "train_log.tsv").read_text().splitlines()) == steps + 1


def test_budget_schedule_keeps_a_max_steps_cap_and_plain_epochs():
    assert hf_backend.budget_schedule(HP, 10) is HP
    hp = hf_backend.budget_schedule({**HP, "token_budget": 10_000, "max_steps": 20}, 10)
    assert (hp["max_steps"], hp["epochs"]) == (20, 2)


CKPT_HP = {**HP, "checkpoint_every": 5}


@pytest.fixture(scope="module")
def cpt_ref(setup):
    """An uninterrupted CPT run with checkpoints (the reference of every resume test)."""
    d, corpus, _ = setup
    continual_pretrain(d / "base", [corpus], d / "cpt_ref", CKPT_HP, seed=2)
    return d / "cpt_ref"


def _crash_at_step_12(monkeypatch, model_dir, corpus, out, hp=CKPT_HP):
    """A CPT run pre-empted at step 12, after its checkpoint at step 10."""
    real_lr_at = hf_backend.lr_at

    def crash(step, *args):
        if step == 12:
            raise KeyboardInterrupt("simulated pre-emption")
        return real_lr_at(step, *args)

    with monkeypatch.context() as m:
        m.setattr(hf_backend, "lr_at", crash)
        with pytest.raises(KeyboardInterrupt):
            continual_pretrain(model_dir, [corpus], out, hp, seed=2)
    partial = out.with_name(out.name + ".partial")
    assert not out.exists()
    assert json.loads((partial / "state.json").read_text())["step"] == 10
    return partial


def _same_run(got_dir, ref_dir):
    ref, got = (load_file(str(p / "model.safetensors")) for p in (ref_dir, got_dir))
    assert set(ref) == set(got)
    assert all(torch.equal(got[k], ref[k]) for k in ref)  # bit-identical
    assert (got_dir / "train_log.tsv").read_text() == (ref_dir / "train_log.tsv").read_text()
    assert not got_dir.with_name(got_dir.name + ".partial").exists()


def test_cpt_resumes_after_a_crash(setup, cpt_ref, monkeypatch, caplog):
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, d / "cpt")
    fp = json.loads((partial / "fingerprint.json").read_text())
    assert fp["hyperparameters"]["lr"] == 3e-3 and fp["backend"] == "hf" and fp["seed"] == 2
    assert set(fp["data"]) == {"corpus.jsonl"} and "model.safetensors" in fp["model"]
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], d / "cpt", CKPT_HP, seed=2)
    assert f"resuming from {partial} at step 10" in caplog.text
    assert "discarded" not in caplog.text
    _same_run(d / "cpt", cpt_ref)
    # training.json describes the run that produced the weights: its fingerprint
    info = json.loads((d / "cpt" / "training.json").read_text())
    assert info["fingerprint"] == fp == json.loads((cpt_ref / "training.json").read_text())[
        "fingerprint"]


def test_cpt_resumes_with_another_checkpoint_interval(setup, cpt_ref, monkeypatch, caplog,
                                                     tmp_path):
    """How often checkpoints are written is no part of the result: still resumed."""
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, tmp_path / "cpt")
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], tmp_path / "cpt", {**CKPT_HP, "checkpoint_every": 3},
                       seed=2)
    assert f"resuming from {partial} at step 10" in caplog.text
    _same_run(tmp_path / "cpt", cpt_ref)


def test_cpt_after_a_crash_and_a_new_lr_starts_over(setup, monkeypatch, caplog, tmp_path):
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, tmp_path / "cpt")
    new = {**CKPT_HP, "lr": 2e-3}
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], tmp_path / "cpt", new, seed=2)
    lines = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert lines == [(f"{partial}: not resumed: the checkpoint is of a different run "
                     f"(hyperparameters.lr: 0.003 -> 0.002); checkpoint discarded, training "
                     f"starts over")]
    assert "resuming" not in caplog.text
    continual_pretrain(d / "base", [corpus], tmp_path / "clean", new, seed=2)
    _same_run(tmp_path / "cpt", tmp_path / "clean")
    info = json.loads((tmp_path / "cpt" / "training.json").read_text())
    assert info["hyperparameters"]["lr"] == info["fingerprint"]["hyperparameters"]["lr"] == 2e-3


def test_cpt_after_a_crash_and_a_changed_data_file_starts_over(setup, monkeypatch, caplog,
                                                               tmp_path):
    d, corpus, _ = setup
    data = tmp_path / "corpus.jsonl"
    data.write_bytes(corpus.read_bytes())
    _crash_at_step_12(monkeypatch, d / "base", data, tmp_path / "cpt")
    data.write_bytes(corpus.read_bytes() + b'{"id": "new", "text": "Gene VELR1."}\n')
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [data], tmp_path / "cpt", CKPT_HP, seed=2)
    assert "not resumed: the checkpoint is of a different run (data.corpus.jsonl: sha256:" \
        in caplog.text
    assert "resuming" not in caplog.text
    rows = (tmp_path / "cpt" / "train_log.tsv").read_text().splitlines()
    assert rows[1].startswith("0\t0\t")  # from step 0


def test_cpt_after_a_crash_and_changed_library_code_starts_over(setup, monkeypatch, caplog,
                                                                tmp_path):
    """The training code (cptmix.code.module_hash of the backend and what it imports) is part
    of the fingerprint: a checkpoint of other code is not resumed."""
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, tmp_path / "cpt")
    code = json.loads((partial / "fingerprint.json").read_text())["code"]
    assert code == hf_backend.module_hash("cptmix.train.hf")
    monkeypatch.setattr(hf_backend, "module_hash", lambda module: "0" * 64)
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], tmp_path / "cpt", CKPT_HP, seed=2)
    assert (f"{partial}: not resumed: the checkpoint is of a different run (code: "
            f"sha256:{code[:12]} -> sha256:000000000000)") in caplog.text
    assert "resuming" not in caplog.text


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage, file", [
    (_truncate, "model.safetensors"),
    (lambda p: p.write_text('{"step": 10, "log": ['), "state.json"),
    (lambda p: p.unlink(), "optimizer.pt"),
    (lambda p: p.write_bytes(b"not a tensor"), "rng.pt"),
    (lambda p: p.write_text('{"step": 99, "log": []}'), "state.json"),
], ids=["weights-cut-in-half", "state-invalid-json", "optimizer-missing", "rng-garbage",
        "state-wrong-step"])
def test_an_unreadable_checkpoint_is_discarded(setup, cpt_ref, monkeypatch, caplog, tmp_path,
                                               damage, file):
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, tmp_path / "cpt")
    damage(partial / file)
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], tmp_path / "cpt", CKPT_HP, seed=2)
    lines = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{partial}: unreadable checkpoint file {partial / file}: ")
    assert lines[0].endswith("; checkpoint discarded, training starts over")
    _same_run(tmp_path / "cpt", cpt_ref)


def test_a_checkpoint_without_fingerprint_is_not_resumed(setup, cpt_ref, monkeypatch, caplog,
                                                         tmp_path):
    """A checkpoint of an older cptmix (no fingerprint.json) cannot be shown to be this run's."""
    d, corpus, _ = setup
    partial = _crash_at_step_12(monkeypatch, d / "base", corpus, tmp_path / "cpt")
    (partial / "fingerprint.json").unlink()
    caplog.set_level(logging.INFO)
    continual_pretrain(d / "base", [corpus], tmp_path / "cpt", CKPT_HP, seed=2)
    assert (f"{partial}: not resumed: the checkpoint has no fingerprint.json (written by an "
            f"older cptmix)") in caplog.text
    _same_run(tmp_path / "cpt", cpt_ref)


# --- the backend registry (cptmix.train.backends) and the rule scripts that use it ------------

ROOT = Path(__file__).resolve().parent.parent


def test_registry_refuses_unknown_backends_and_stages():
    from cptmix.train import backend_env, run_cpt, run_sft

    args = {"model": "m", "data": "d", "out": "o", "hp": {}, "seed": 1}
    known = "the known backends are hf, megatron, nemo"
    for call in (lambda: run_cpt("deepspeed", **args), lambda: run_sft("deepspeed", **args),
                 lambda: backend_env("deepspeed")):
        with pytest.raises(ValueError, match=f"backend 'deepspeed' is unknown: {known}"):
            call()
    with pytest.raises(ValueError, match=f"backend 'nemo' does not run CPT "
                                         f"\\(CPT runs with hf, megatron; {known}\\)"):
        run_cpt("nemo", **args)


def test_registry_envs_and_modules():
    from cptmix.train.backends import BACKENDS, STAGES, backend_env

    assert set(BACKENDS) == {"hf", "megatron", "nemo"}
    assert BACKENDS["nemo"].stages == ("sft",)
    for name, b in BACKENDS.items():
        assert (ROOT / backend_env(name)).is_file(), backend_env(name)
        assert set(b.stages) <= set(STAGES)
    # every module imports by name without megatron-core, NeMo or (for the registry and
    # cptmix.train) torch; each has the entry point of every stage it runs, and only those
    code = (
        "import importlib, json, sys\n"
        "import cptmix.train\n"
        "light = 'torch' not in sys.modules\n"
        "from cptmix.train.backends import BACKENDS, STAGES\n"
        "points = {n: [s for s in STAGES if callable(getattr(importlib.import_module(b.module),"
        " f'run_{s}', None))] for n, b in BACKENDS.items()}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('megatron', 'nemo',"
        " 'nemo_run', 'lightning', 'transformer_engine'))\n"
        "print(json.dumps([light, points, heavy]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    light, points, heavy = json.loads(out)
    assert light and heavy == []
    assert points == {n: list(b.stages) for n, b in BACKENDS.items()}


def _run_script(script, monkeypatch, *, inputs, backend, hp=None):
    from types import SimpleNamespace

    import cptmix.io

    monkeypatch.setattr(cptmix.io, "log_to", lambda path: None)  # keeps pytest's stderr
    sm = SimpleNamespace(input=SimpleNamespace(**inputs), output=["out/m"], log=["m.log"],
                         threads=3, params=SimpleNamespace(hp=hp or {"lr": 1.0}, seed=7,
                                                           backend=backend, job="m.job.json"))
    runpy.run_path(str(ROOT / "workflow" / "scripts" / script), init_globals={"snakemake": sm})


@pytest.mark.parametrize("script, backend, inputs, target, expected", [
    ("train_cpt.py", "hf", {"corpus": "c.jsonl", "ledger": "l.tsv", "model": "b"},
     "cptmix.train.hf.continual_pretrain",
     (("b", ["c.jsonl"], "out/m", {"lr": 1.0}), {"seed": 7, "threads": 3})),
    ("train_sft.py", "hf", {"model": "b", "data": "s.jsonl"},
     "cptmix.train.hf.supervised_finetune",
     (("b", "s.jsonl", "out/m", {"lr": 1.0}), {"seed": 7, "threads": 3})),
    ("train_cpt.py", "megatron", {"cache": "cache", "ledger": "l.tsv", "model": "b"},
     "cptmix.train.megatron.launch.run_job",
     (({"mode": "cpt", "model_dir": "b", "cache_dir": "cache", "out_dir": "out/m",
        "hp": {"lr": 1.0}, "seed": 7, "valid_every": 0, "valid_sequences": 8},
       "m.job.json", "m.log"), {})),
    ("train_sft.py", "megatron", {"model": "b", "data": "s.jsonl"},
     "cptmix.train.megatron.launch.run_job",
     (({"mode": "sft", "model_dir": "b", "sft_data": "s.jsonl", "out_dir": "out/m",
        "hp": {"lr": 1.0}, "seed": 7}, "m.job.json", "m.log"), {})),
    ("train_sft.py", "nemo", {"model": "b", "data": "s.jsonl"},
     "cptmix.train.nemo.run_nemo_sft",
     (("b", "s.jsonl", "out/m", {"lr": 1.0}), {"seed": 7, "work_dir": "out/m.nemo"})),
])
def test_rule_scripts_call_their_backend(monkeypatch, script, backend, inputs, target,
                                         expected):
    """What each rule script calls, per backend: the calls the scripts made when they chose
    the backend themselves (before the registry)."""
    calls = []
    monkeypatch.setattr(target, lambda *a, **k: calls.append((a, k)))
    _run_script(script, monkeypatch, inputs=inputs, backend=backend)
    assert calls == [expected]


def test_rule_script_refuses_cpt_with_nemo(monkeypatch):
    with pytest.raises(ValueError, match="'nemo' does not run CPT"):
        _run_script("train_cpt.py", monkeypatch, backend="nemo",
                    inputs={"corpus": "c.jsonl", "ledger": "l.tsv", "model": "b"})
