"""Benchmark the prepare stage: translate throughput and the SFT contamination check.

    .venv/bin/python benchmarks/bench_prepare.py                     # both, issue sizes
    .venv/bin/python benchmarks/bench_prepare.py --sft 10000 --eval 1000 --docs 20   # quick

* translate — `cptmix.prepare.translate.translate_shard` with a tiny randomly initialised T5
  (seq2seq, d_model 64, 2+2 layers; the output is gibberish, the mechanics are real; every
  chunk generates exactly --max-new-tokens tokens, as a real translation would) on CPU,
  `--docs` documents of 3 paragraphs (one of them long enough to be split at sentences).
  Reports documents/s and chunks/s with `batch_size` 16 (whole documents grouped
  into a batch, longest chunks first) against the naive baseline measured in
  the same run: the same engine with batch_size 1 (one generate call per chunk).
* contamination — `ContaminationIndex` (MinHash LSH + exact Jaccard confirmation) on `--sft`
  SFT items against `--eval` evaluation items, both generated from a fixed seed as MCQA-like
  question + options texts over random names, with planted exact and near duplicates. The
  naive baseline is the exact pairwise comparison (`naive_check`), timed on a subsample of
  `--naive-sample` SFT items against all evaluation items and extrapolated linearly (it is
  exactly linear in SFT items); the two methods must flag the same items of the subsample.
  Goal: under 60 s for 10^5 × 10^4 on 2 cores.

`--json PATH` writes the numbers.

Measured on 2 shared CPU cores (load ~2.5-3.5 from other jobs), defaults:
translate 40 documents = 171 chunks × 24 new tokens: 3.6 documents/s (15.2 chunks/s) batched,
2.2x the one-chunk-per-call baseline (1.6 documents/s). Contamination 10^5 SFT × 10^4 eval
items: 15.6-31 s in one process (index 1.5-2.4 s), 414 flagged (204 exact, 210 near, the
planted ~200 + ~200), identical to the pairwise baseline on its 300-item sample; the pairwise
comparison extrapolates to 5,700-7,600 s (190-490x slower).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロ"
STEMS = ["日本で{a}の医療費を助成する制度はどれか。", "{a}の第一選択薬はどれか。",
         "{a}に関連する遺伝子はどれか。", "Which drug is first-line for {a}?",
         "Which gene is associated with {a} in adults?", "{a}の患者で最もよくみられる症状はどれか。"]


def _name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(KATAKANA) for _ in range(rng.randint(3, 6))) + "症候群"
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 9))) \
        .capitalize() + " disease"


def mcqa_text(rng: random.Random) -> str:
    stem = rng.choice(STEMS).format(a=_name(rng))
    return "\n".join([stem, *(_name(rng) for _ in range(rng.randint(4, 5)))])


def contamination_bench(n_sft: int, n_eval: int, naive_sample: int, seed: int = 0) -> dict:
    from cptmix.prepare.contamination import ContaminationIndex, Item, naive_check

    rng = random.Random(seed)
    ev = [Item(f"e{i}", mcqa_text(rng), "MedQA") for i in range(n_eval)]
    sft = []
    for i in range(n_sft):
        r = rng.random()
        if r < 0.002:  # planted exact duplicate (case and spacing changed)
            text = "  " + rng.choice(ev).content.upper()
        elif r < 0.004:  # planted near duplicate: a few characters added to the question
            lines = rng.choice(ev).content.split("\n")
            lines[0] += "（改題）"
            text = "\n".join(lines)
        else:
            text = mcqa_text(rng)
        sft.append(Item(f"s{i}", text, "sft"))
    t0 = time.perf_counter()
    index = ContaminationIndex(ev, ngram=5, threshold=0.8)
    t_index = time.perf_counter() - t0
    hits = index.check(sft, {"sft": None})
    t_total = time.perf_counter() - t0
    sample = sft[:naive_sample]
    t1 = time.perf_counter()
    naive = naive_check(sample, ev, 5, 0.8)
    t_naive = (time.perf_counter() - t1) * n_sft / max(1, len(sample))
    sample_ids = {it.id for it in sample}
    agree = naive == {h.sft_id for h in hits if h.sft_id in sample_ids}
    return {"sft_items": n_sft, "eval_items": n_eval, "index_s": round(t_index, 2),
            "total_s": round(t_total, 2), "flagged": len(hits),
            "exact": sum(h.kind == "exact" for h in hits),
            "near": sum(h.kind == "near" for h in hits),
            "naive_extrapolated_s": round(t_naive, 1), "speedup_vs_naive": round(
                t_naive / t_total, 1), "naive_sample": len(sample), "agree_on_sample": agree}


def tiny_t5(out: Path, min_new_tokens: int) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = ["The patient was treated with insulin for diabetes.", "患者は糖尿病に対して治療された。"]
    bpe.train_from_iterator(corpus * 50, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=["<pad>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(tok), d_model=64, d_ff=128, d_kv=16, num_layers=2,
                   num_decoder_layers=2, num_heads=4, pad_token_id=tok.pad_token_id,
                   eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    model = T5ForConditionalGeneration(cfg)
    # A random model stops at a random early EOS, which would favour one-chunk-at-a-time
    # generation; every chunk generates min_new_tokens tokens instead, as a real translation of
    # that length would.
    model.generation_config.min_new_tokens = min_new_tokens
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def translate_bench(n_docs: int, max_new_tokens: int, threads: int) -> dict:
    from cptmix.prepare.translate import HFBackend, translate_shard

    rng = random.Random(0)
    sentences = ["The patient was treated with insulin.", "Symptoms improved after two weeks.",
                 "No adverse events were reported in this cohort.", "We enrolled 120 adults."]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tiny_t5(tmp / "model", max_new_tokens)
        src = tmp / "in.jsonl"
        with src.open("w", encoding="utf-8") as fh:
            for i in range(n_docs):
                paras = [rng.choice(sentences), " ".join(rng.choices(sentences, k=6)),
                         rng.choice(sentences)]
                fh.write(json.dumps({"id": f"d{i}", "text": "\n".join(paras)}) + "\n")
        warm = HFBackend(model, max_new_tokens=4, device="cpu", threads=threads)
        warm.translate(sentences)  # first-call costs (kernels, allocator) outside the timing
        for label, batch in (("batched", 16), ("naive", 1)):
            engine = HFBackend(model, max_new_tokens=max_new_tokens, batch_size=batch,
                               device="cpu", threads=threads)
            prov = translate_shard(src, tmp / f"{label}.jsonl", engine, shard=0, n_shards=1,
                                   max_chars=120)
            out[label] = {"batch_size": batch, "seconds": round(prov["seconds"], 2),
                          "docs_per_s": round(n_docs / prov["seconds"], 2),
                          "chunks_per_s": round(prov["chunks_translated"] / prov["seconds"], 2),
                          "chunks": prov["chunks_translated"]}
    out["speedup_vs_naive"] = round(out["naive"]["seconds"] / out["batched"]["seconds"], 2)
    out["max_new_tokens"] = max_new_tokens
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sft", type=int, default=100_000, help="SFT items (issue: 10^5)")
    ap.add_argument("--eval", type=int, default=10_000, help="evaluation items (issue: 10^4)")
    ap.add_argument("--naive-sample", type=int, default=300,
                    help="SFT items the pairwise baseline is timed on")
    ap.add_argument("--docs", type=int, default=40, help="documents translated")
    ap.add_argument("--max-new-tokens", type=int, default=24, help="generation budget per chunk")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--skip", choices=["translate", "contamination"], help="skip one part")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args(argv)
    results = {}
    if args.skip != "translate":
        results["translate"] = translate_bench(args.docs, args.max_new_tokens, args.threads)
        print("translate:", json.dumps(results["translate"]), flush=True)
    if args.skip != "contamination":
        results["contamination"] = contamination_bench(args.sft, args.eval, args.naive_sample)
        print("contamination:", json.dumps(results["contamination"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if "contamination" in results and not results["contamination"]["agree_on_sample"]:
        sys.exit("contamination: LSH and the pairwise baseline disagree on the sample")


if __name__ == "__main__":
    main()
