"""The `hf` training backend: HF `transformers` Llama models trained by a plain torch loop
(readable on one screen, deterministic on CPU), checkpoints as safetensors directories.

All three steps share `_train`: AdamW with the paper's betas/epsilon/weight decay, linear
warm-up and cosine decay to a minimum LR (`schedule.lr_at`), gradient clipping, the forward
pass in the hyper-parameters' `precision` (bf16: `torch.autocast`, fp32 master weights) with
transformers' `attention` implementation (`train_step`), a progress
bar, a per-step log (`train_log.tsv`) and resumable checkpoints: every `checkpoint_every`
steps the model and optimizer state go to `<out_dir>.partial/`; a rerun after a crash or a
pre-emption continues from there (batch order is a pure function of seed and epoch, so the
resumed run sees exactly the batches the uninterrupted one would have). Each checkpoint carries
the run's fingerprint (`cptmix.train.resume`: hyper-parameters, seed, threads, data and model
hashes, library versions); a rerun resumes only a checkpoint of exactly its own run, and one
that is of another run or unreadable is discarded with one log line saying why.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from cptmix.code import module_hash
from cptmix.corpus.tokenizer import load_tokenizer
from cptmix.io import atomic_path
from cptmix.train import resume
from cptmix.train.data import collate_sft, pack_documents, sft_examples
from cptmix.train.schedule import lr_at, warmup_steps

log = logging.getLogger(__name__)

STATE = "state.json"  # written last into a checkpoint: its presence marks a complete one


def _seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)


def load_model(model_dir: str | Path, attention: str = "sdpa"):
    """The model saved in `model_dir` in fp32 (the master weights), with transformers'
    `attention` implementation (hyper-parameter `attention`)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(model_dir), use_safetensors=True, local_files_only=True, dtype=torch.float32,
        attn_implementation=attention)


def init_model(arch: dict, tokenizer, seed: int, attention: str = "sdpa"):
    """A randomly initialised Llama-architecture model sized by `arch` (hidden_size,
    num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        attn_implementation=attention,
        vocab_size=len(tokenizer), hidden_size=arch["hidden_size"],
        intermediate_size=arch["intermediate_size"],
        num_hidden_layers=arch["num_hidden_layers"],
        num_attention_heads=arch["num_attention_heads"],
        num_key_value_heads=arch.get("num_key_value_heads", arch["num_attention_heads"]),
        max_position_embeddings=arch["max_position_embeddings"],
        tie_word_embeddings=arch.get("tie_word_embeddings", True),
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(cfg)


PRECISIONS = ("fp32", "bf16")  # what this backend trains in (fp16 needs a loss scaler: not here)


def autocast(hp: dict):
    """The forward pass's precision context for hyper-parameter `precision`: bf16 = torch.autocast to
    bfloat16 (matmuls and attention in bf16; weights, gradients and AdamW state stay fp32, and
    autocast keeps the softmax and the loss in fp32); fp32 = no autocast. The device is the
    model's (this backend trains on the CPU)."""
    precision = hp.get("precision", "bf16")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: the hf backend trains in "
                         f"{' or '.join(PRECISIONS)}")
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def _fingerprint(mode: str, hp: dict, seed: int, threads: int, data: list, model_dir,
                 **extra) -> dict:
    """This backend's run identity (`resume.fingerprint`); `model_dir`: the starting model
    (for pre-training: the tokenizer directory)."""
    return resume.fingerprint(
        backend="hf", mode=mode, hp=hp, seed=seed, data=resume.data_hashes(data),
        model=resume.model_hashes(model_dir), threads=max(1, int(threads)),
        software=resume.software("torch", "transformers", "tokenizers", "safetensors"),
        code=module_hash("cptmix.train.hf"), **extra)


def make_optimizer(model, hp: dict) -> torch.optim.AdamW:
    """AdamW with the paper's betas/epsilon; weight decay on matrices only (not on norms,
    biases)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(hp.get("weight_decay", 0.1))},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=float(hp["lr"]), betas=(float(hp.get("beta1", 0.9)), float(hp.get("beta2", 0.95))),
        eps=float(hp.get("eps", 1e-8)))


def train_step(model, opt, batch: dict, hp: dict) -> float:
    """One optimizer step on `batch` in `hp`'s precision: forward (under `autocast`),
    backward, gradient clipping, AdamW; returns the loss. A non-finite loss is returned
    before anything is updated."""
    with autocast(hp):
        loss = model(**batch).loss
    value = loss.item()
    if not math.isfinite(value):
        return value
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp.get("grad_clip", 1.0)))
    opt.step()
    opt.zero_grad(set_to_none=True)
    return value


def _train(model, tokenizer, out_dir: Path, n_batches_per_epoch: int,
           get_batch: Callable[[int, int], dict], hp: dict, seed: int, desc: str,
           fingerprint: dict) -> None:
    """Run the loop and save `out_dir` atomically. `get_batch(epoch, i)` returns batch i of
    an epoch; the number of optimizer steps is epochs × batches (capped by `max_steps`).
    `fingerprint`: the run's identity, written with every checkpoint and into training.json."""
    epochs = int(hp.get("epochs", 1))
    total = epochs * n_batches_per_epoch
    if hp.get("max_steps"):
        total = min(total, int(hp["max_steps"]))
    warm = warmup_steps(hp, total)
    opt = make_optimizer(model, hp)
    partial = out_dir.with_name(out_dir.name + ".partial")
    start, rows = _resume(partial, model, opt, fingerprint, total)
    every = int(hp.get("checkpoint_every", 0))
    model.train()
    bar = tqdm(total=total, initial=start, desc=desc, mininterval=5, dynamic_ncols=True)
    for step in range(start, total):
        lr = lr_at(step, total, float(hp["lr"]), float(hp["min_lr"]), warm)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = get_batch(step // n_batches_per_epoch, step % n_batches_per_epoch)
        loss = train_step(model, opt, batch, hp)
        if not math.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss is {loss} at step {step}")
        rows.append(f"{step}\t{step // n_batches_per_epoch}\t{lr:.8g}\t{loss:.6f}")
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        if every and (step + 1) % every == 0 and step + 1 < total:
            _checkpoint(partial, model, opt, step + 1, rows, fingerprint)
    bar.close()
    model.eval()
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "train_log.tsv").write_text("step\tepoch\tlr\tloss\n" + "\n".join(rows) + "\n")
        (tmp / "training.json").write_text(json.dumps(
            {"steps": total, "warmup_steps": warm, "batches_per_epoch": n_batches_per_epoch,
             "seed": seed, "hyperparameters": hp, "fingerprint": fingerprint},
            indent=2, sort_keys=True) + "\n")
    shutil.rmtree(partial, ignore_errors=True)
    log.info("%s: %d steps, final loss %s -> %s", desc, total,
             rows[-1].split("\t")[-1] if rows else "n/a", out_dir)


def _checkpoint(partial: Path, model, opt, step: int, rows: list[str], fingerprint: dict
                ) -> None:
    from safetensors.torch import save_model

    with atomic_path(partial) as tmp:
        tmp.mkdir()
        resume.write_fingerprint(tmp, fingerprint)
        save_model(model, str(tmp / "model.safetensors"))  # handles the tied embeddings
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        # The batch order and schedule are pure functions of (seed, step); the global RNG is
        # saved anyway so any stochastic layer (dropout) resumes exactly too.
        torch.save(torch.get_rng_state(), tmp / "rng.pt")
        (tmp / STATE).write_text(json.dumps({"step": step, "log": rows}))


def _read_weights(path: Path, model) -> dict:
    """The checkpoint's tensors, checked against the model: every saved name is the model's
    with its shape and dtype, and a name not saved is an alias of a saved one (tied
    embeddings, which `save_model` stores once)."""
    from safetensors.torch import load_file

    weights = resume.read_part(path, lambda p: load_file(str(p)))
    expected = model.state_dict()
    for name, t in weights.items():
        ref = expected.get(name)
        if ref is None or ref.shape != t.shape or ref.dtype != t.dtype:
            raise resume.UnreadableCheckpoint(
                path, f"tensor {name} {tuple(t.shape)} {t.dtype} is not the model's "
                      f"({'none' if ref is None else f'{tuple(ref.shape)} {ref.dtype}'})")
    saved = {expected[n].data_ptr() for n in weights}
    lost = [n for n in expected if n not in weights and expected[n].data_ptr() not in saved]
    if lost:
        raise resume.UnreadableCheckpoint(path, f"missing tensors {', '.join(lost[:3])}")
    return weights


def _read_tensors(path: Path):
    # weights_only=True: the optimizer state is tensors and plain containers, no pickled code.
    return resume.read_part(path, lambda p: torch.load(p, weights_only=True))


def _resume(partial: Path, model, opt, fingerprint: dict, total: int) -> tuple[int, list[str]]:
    """(first step, log rows so far): from `partial` if it holds a readable checkpoint of
    exactly this run (`fingerprint`), else (0, []) with `partial` removed and the reason
    logged. Every file is read and checked before the model or optimizer is touched."""
    if not resume.check_partial(partial, fingerprint, marker=STATE):
        return 0, []
    try:
        state = resume.read_state(partial / STATE, total)
        weights = _read_weights(partial / "model.safetensors", model)
        opt_state = _read_tensors(partial / "optimizer.pt")
        rng = _read_tensors(partial / "rng.pt")
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
            raise resume.UnreadableCheckpoint(partial / "rng.pt", "not a torch RNG state")
        groups = opt_state.get("param_groups") if isinstance(opt_state, dict) else None
        if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != [
                len(g["params"]) for g in opt.param_groups]:
            raise resume.UnreadableCheckpoint(partial / "optimizer.pt",
                                              "not this model's optimizer state")
    except resume.UnreadableCheckpoint as err:
        resume.discard(partial, f"unreadable checkpoint file {err}")
        return 0, []
    opt.load_state_dict(opt_state)
    model.load_state_dict(weights, strict=False)  # the names not saved are aliases (checked)
    torch.set_rng_state(rng)
    log.info("resuming from %s at step %d (the checkpoint's fingerprint matches this run)",
             partial, state["step"])
    return int(state["step"]), list(state["log"])


def _lm_batches(blocks: torch.Tensor, batch_size: int, seed: int):
    n = max(1, blocks.shape[0] // batch_size)

    def get_batch(epoch: int, i: int) -> dict:
        order = torch.randperm(blocks.shape[0], generator=torch.Generator().manual_seed(
            seed * 1000 + epoch))
        x = blocks[order[i * batch_size:(i + 1) * batch_size]]
        return {"input_ids": x, "labels": x}

    return n, get_batch


def pretrain_base(arch: dict, tokenizer_dir, corpus_paths: list, out_dir, hp: dict,
                  seed: int, threads: int = 1) -> None:
    """Pre-train the demo's base model from scratch (the stand-in for llm-jp-3-13b)."""
    _seed_everything(seed, threads)
    tok = load_tokenizer(tokenizer_dir)
    model = init_model(arch, tok, seed, hp.get("attention", "sdpa"))
    blocks = pack_documents(tok, corpus_paths, int(hp["block_size"]))
    n, get_batch = _lm_batches(blocks, int(hp["batch_size"]), seed)
    log.info("pre-training: %d blocks x %d tokens", blocks.shape[0], blocks.shape[1])
    fp = _fingerprint("pretrain", hp, seed, threads, corpus_paths, tokenizer_dir,
                      architecture=arch)
    _train(model, tok, Path(out_dir), n, get_batch, hp, seed, "pretrain base", fp)


def continual_pretrain(model_dir, corpus_paths: list, out_dir, hp: dict, seed: int,
                       threads: int = 1) -> None:
    """Continual pre-training of `model_dir` on a mixture's materialised corpus."""
    _seed_everything(seed, threads)
    tok = load_tokenizer(model_dir)
    model = load_model(model_dir, hp.get("attention", "sdpa"))
    blocks = pack_documents(tok, corpus_paths, int(hp["block_size"]))
    n, get_batch = _lm_batches(blocks, int(hp["batch_size"]), seed)
    log.info("CPT: %d blocks x %d tokens = %d tokens/epoch", blocks.shape[0], blocks.shape[1],
             blocks.numel())
    fp = _fingerprint("cpt", hp, seed, threads, corpus_paths, model_dir)
    _train(model, tok, Path(out_dir), n, get_batch, budget_schedule(hp, n), seed,
           f"cpt {Path(out_dir).name}", fp)


def budget_schedule(hp: dict, n_batches: int) -> dict:
    """`hp` with a `token_budget` (tokens to train, e.g. corpus.token_budget's ledger) turned
    into steps: ceil(budget / (batch_size × block_size)) optimizer steps (a `max_steps` in
    `hp` still caps them) over as many passes as that needs; `hp` unchanged without one."""
    budget = hp.get("token_budget")
    if budget is None:
        return hp
    per_step = int(hp["batch_size"]) * int(hp["block_size"])
    steps = max(1, math.ceil(int(budget) / per_step))
    if hp.get("max_steps"):
        steps = min(steps, int(hp["max_steps"]))
    return {**hp, "epochs": math.ceil(steps / n_batches), "max_steps": steps}


def supervised_finetune(model_dir, sft_path, out_dir, hp: dict, seed: int,
                        threads: int = 1) -> None:
    """SFT with the loss on response tokens only; identical settings for every model."""
    _seed_everything(seed, threads)
    tok = load_tokenizer(model_dir)
    model = load_model(model_dir, hp.get("attention", "sdpa"))
    examples = sft_examples(tok, sft_path, int(hp["max_length"]))
    bs = int(hp["batch_size"])
    n = math.ceil(len(examples) / bs)

    def get_batch(epoch: int, i: int) -> dict:
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(
            seed * 1000 + epoch)).tolist()
        return collate_sft([examples[j] for j in order[i * bs:(i + 1) * bs]], tok.pad_token_id)

    log.info("SFT: %d examples, %d batches/epoch", len(examples), n)
    fp = _fingerprint("sft", hp, seed, threads, [sft_path], model_dir)
    _train(model, tok, Path(out_dir), n, get_batch, hp, seed, f"sft {Path(out_dir).name}", fp)


# --- the backend's entry points (cptmix.train.backends) ----------------------------------------

def run_cpt(*, model, data, out, hp: dict, seed: int, threads: int = 1, job_file=None,
            log_file=None) -> None:
    """`backends.run_cpt` with hf: `continual_pretrain` on the materialised corpus `data`, in
    this process (`job_file` and `log_file` are not used)."""
    continual_pretrain(model, [data], out, hp, seed=seed, threads=threads)


def run_sft(*, model, data, out, hp: dict, seed: int, threads: int = 1, job_file=None,
            log_file=None) -> None:
    """`backends.run_sft` with hf: `supervised_finetune`, in this process."""
    supervised_finetune(model, data, out, hp, seed=seed, threads=threads)
