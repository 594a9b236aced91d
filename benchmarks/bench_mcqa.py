"""Benchmark MCQA option scoring: cptmix's shared-prefix path vs its naive per-option path vs
EleutherAI lm-eval's HF backend, on the same items with the same model, in one run.

    .venv/bin/python benchmarks/bench_mcqa.py                       # cptmix prefix vs naive
    .venv/bin/python benchmarks/bench_mcqa.py --lm-eval-python /tmp/lmeval-venv/bin/python

Items are MedQA-Jp-shaped (a ~200-character Japanese question, five options, the template of
`cptmix.tasks`), generated from a fixed seed, or read from a JMedBench folder (`--data`,
`--task`). The model is a local HF directory (`--model`) or, by default, a small random Llama
(4 layers, hidden 256) with a byte-level BPE tokenizer trained on the items, built into a
temporary directory. Prints items/s per method, the speed-up over each baseline and how many
items get the same predicted option; `--json` writes the numbers to a file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cptmix.evaluate.scoring import score_options
from cptmix.records import load_records
from cptmix.tasks import get_task, gold_index, prompt_and_choices

_WORDS = [
    "患者", "発熱", "頭痛", "咳嗽", "血圧", "高血圧", "糖尿病", "投与", "検査",
    "所見", "診断", "治療", "既往", "症状", "来院", "入院", "腹痛", "嘔吐",
    "心電図", "胸部", "X線", "異常", "認める", "歳", "男性", "女性", "数日前",
    "から", "の", "で", "を", "に", "が", "は",
]


def synthetic_items(n: int, seed: int) -> list[dict]:
    """MedQA-Jp-shaped records: sample_id, question (~200 chars), 5 options, answer_idx."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        question = "".join(rng.choice(_WORDS, size=int(rng.integers(60, 110)))) + "。診断はどれか。"
        options = ["".join(rng.choice(_WORDS, size=int(rng.integers(2, 6)))) for _ in range(5)]
        records.append({"sample_id": i, "question": question, "options": options,
                        "answer_idx": int(rng.integers(0, 5)), "n_options": 5, "metadata": {}})
    return records


def build_model(out: Path, texts: list[str], seed: int) -> Path:
    """A random 4-layer Llama and a BPE tokenizer trained on `texts`, saved to `out`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<|endoftext|>", "<pad>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                        pad_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688,
                         num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                         max_position_embeddings=2048, initializer_range=0.1,
                         tie_word_embeddings=False, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).eval().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def time_cptmix(model, tokenizer, requests, batch_size: int, method: str, repeats: int):
    """Best-of-`repeats` seconds and the option log-likelihoods of one scoring pass."""
    best, scores = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        scores = score_options(model, tokenizer, requests, batch_size=batch_size, method=method)
        best = min(best, time.perf_counter() - start)
    return best, [[s.loglik for s in item] for item in scores]


def agreement(a: list[list[float]], b: list[list[float]]) -> tuple[int, float]:
    """Items with the same argmax option, and the largest |loglik difference|."""
    same = sum(int(np.argmax(x) == np.argmax(y)) for x, y in zip(a, b, strict=True))
    diff = max(abs(u - v) for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))
    return same, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="HF model dir (default: build a small random Llama)")
    parser.add_argument("--data", help="JMedBench data dir (default: synthetic items)")
    parser.add_argument("--task", default="MedQA-Jp", help="task to read from --data")
    parser.add_argument("--items", type=int, default=200, help="number of items to score")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (all methods)")
    parser.add_argument("--repeats", type=int, default=2, help="cptmix timings: best of N")
    parser.add_argument("--device", default="cpu", help="torch device (cpu or cuda)")
    parser.add_argument("--dtype", default="float32", help="model dtype (float32, bfloat16)")
    parser.add_argument("--seed", type=int, default=0, help="seed for items and random model")
    parser.add_argument("--lm-eval-python", help="python of a venv with lm-eval installed")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    records = (load_records(task, args.data) if args.data
               else synthetic_items(args.items, args.seed))[:args.items]
    requests = [prompt_and_choices(task, r) for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else build_model(
            Path(tmp) / "model", [p + "".join(c) for p, c in requests], args.seed)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, args.dtype), local_files_only=True)
        model.to(args.device).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        n = len(requests)
        n_opts = sum(len(c) for _, c in requests)
        prompt_tokens = np.mean([len(tokenizer(p, add_special_tokens=False)["input_ids"])
                                 for p, _ in requests])
        print(f"{n} items, {n_opts} options, mean prompt {prompt_tokens:.0f} tokens; "
              f"{args.device} {args.dtype}, {args.threads} threads, batch {args.batch_size}")

        score_options(model, tokenizer, requests[:4], batch_size=args.batch_size)  # warm-up
        t_fast, fast = time_cptmix(model, tokenizer, requests, args.batch_size, "prefix",
                                   args.repeats)
        t_naive, naive = time_cptmix(model, tokenizer, requests, args.batch_size, "naive",
                                     args.repeats)
        same, diff = agreement(fast, naive)
        result = {"items": n, "options": n_opts, "device": args.device, "dtype": args.dtype,
                  "threads": args.threads, "batch_size": args.batch_size,
                  "cptmix_prefix_items_per_s": n / t_fast,
                  "cptmix_naive_items_per_s": n / t_naive,
                  "speedup_vs_naive": t_naive / t_fast, "agree_with_naive": same,
                  "max_abs_loglik_diff_vs_naive": diff}
        print(f"cptmix prefix : {n / t_fast:8.1f} items/s")
        print(f"cptmix naive  : {n / t_naive:8.1f} items/s   prefix is {t_naive / t_fast:.2f}x; "
              f"same option on {same}/{n}, max |Δloglik| {diff:.2e}")

        if args.lm_eval_python:
            items_path = Path(tmp) / "items.jsonl"
            items_path.write_text("".join(
                json.dumps({"prompt": p, "choices": list(c), "gold": gold_index(task, r)},
                           ensure_ascii=False) + "\n"
                for (p, c), r in zip(requests, records, strict=True)), encoding="utf-8")
            proc = subprocess.run(
                [args.lm_eval_python, str(Path(__file__).with_name("lmeval_mcqa.py")),
                 "--model", str(model_dir), "--items", str(items_path),
                 "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                 "--device", args.device, "--dtype", args.dtype],
                capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"lm-eval run failed:\n{proc.stderr[-4000:]}")
            lm = json.loads(proc.stdout.strip().splitlines()[-1])
            # Time cptmix once more after lm-eval: on a shared machine, load changes between
            # phases, and best-of over both sides of the lm-eval run is fairer to compare.
            t_fast = min(t_fast, time_cptmix(model, tokenizer, requests, args.batch_size,
                                             "prefix", 1)[0])
            t_lm = lm["loglikelihood_seconds"]
            same_lm, diff_lm = agreement(fast, lm["logliks"])
            result.update({"cptmix_prefix_items_per_s": n / t_fast,
                           "lm_eval_version": lm["lm_eval_version"],
                           "lm_eval_items_per_s": n / t_lm,
                           "lm_eval_simple_evaluate_items_per_s": n / lm["seconds"],
                           "speedup_vs_lm_eval": t_lm / t_fast,
                           "agree_with_lm_eval": same_lm,
                           "max_abs_loglik_diff_vs_lm_eval": diff_lm})
            print(f"lm-eval {lm['lm_eval_version']}: {n / t_lm:8.1f} items/s   (loglikelihood "
                  f"call; {n / lm['seconds']:.1f} items/s for all of simple_evaluate)")
            print(f"cptmix prefix : {n / t_fast:8.1f} items/s   best of all runs: "
                  f"{t_lm / t_fast:.2f}x lm-eval; same option on {same_lm}/{n}, "
                  f"max |Δloglik| {diff_lm:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
