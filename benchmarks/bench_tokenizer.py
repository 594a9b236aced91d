"""Counting throughput: cptmix's counting path against `sentencepiece` on the same text.

    .venv/bin/python benchmarks/bench_tokenizer.py                    # 4 MB, trained unigram
    .venv/bin/python benchmarks/bench_tokenizer.py --model llm-jp-tokenizer-100k.ver3.0b1.model \\
        --mb 50 --threads 16

A bilingual JSONL corpus of `--mb` megabytes is generated from a fixed seed (the generator of
`bench_corpus.py`). The SentencePiece model is `--model`, or a unigram (or `--model-type bpe`)
with byte fallback (as llm-jp publishes) trained here on the corpus's first sentences. It is
imported with `cptmix.corpus.import_sentencepiece` (verified against sentencepiece on the
probe; the model copied into the directory), then, in this one process with the same
`RAYON_NUM_THREADS` / `num_threads`, every pass encodes every document `--repeat` times, the
repeats interleaved (pass 1, 2, ..., then again: a change in the machine's load hits every
pass alike); the best time of each is reported:

* sentencepiece (ids as lists) — `SentencePieceProcessor.encode(chunk, num_threads=T)` on the
  texts in memory, in chunks of `CHUNK_DOCS`;
* sentencepiece (numpy) — the same with `out_type="numpy"` (no Python int per token): the
  faster of the two is the baseline every ratio is against;
* count_source, sentencepiece — the whole counting pass of an imported directory (what the
  `count_source` rule runs): read and validate the JSONL, encode with sentencepiece (texts that
  spell out an added token: with tokenizer.json), write counts.tsv;
* count_source, tokenizer.json — the same pass with `load_counting_tokenizer(...,
  sentencepiece=False)`: a directory with no SentencePiece model (and the former path);
* index_source, sentencepiece / tokenizer.json — the whole megatron indexing pass (read,
  encode, write .bin/.idx with megatron-core's builder, hash the source): skipped with
  `--no-index` or without megatron-core;
* tokenizer.json alone — `encode_batch_fast` on the chunks in memory;
* transformers — `AutoTokenizer(chunk, add_special_tokens=False)` on the same chunks.

Every pass must give the same total token count (they count the same tokens, or the
benchmark fails). Prints tokens/s, each pass's throughput as a ratio to sentencepiece's (goal
>= 0.8 for the sentencepiece counting and indexing passes) and the load average before and
after. Tokenizer training and import are not timed.

Measured 2026-12-02, 2 cores shared with other sessions, --mb 4 (1,274 documents), --threads 1,
--repeat 3, about 25 s a run; ratio to sentencepiece (numpy) in the same run:

    load 0.6 -> 1.2, unigram 8000 pieces (917,053 tokens): sentencepiece 9.22 Mtok/s (lists
        0.75); count_source sentencepiece 0.96, tokenizer.json 0.19; index_source sentencepiece
        0.93, tokenizer.json 0.14; tokenizer.json alone 0.13; transformers 0.09
    load 1.3 -> 1.8, bpe 8000 pieces (543,087 tokens): sentencepiece 1.97 Mtok/s (lists 0.97);
        count_source sentencepiece 0.94, tokenizer.json 0.57; index_source sentencepiece 0.82,
        tokenizer.json 0.58; tokenizer.json alone 0.67; transformers 0.53

The goal is met for an imported directory (the sentencepiece path) while a core is free. On a
busier machine the ratio falls (presumably as reading and writing stop overlapping with
encoding; pausing the garbage collector made no difference): unigram at load 2.9 -> 2.8:
count_source 0.82, index_source 0.73; at load 9.2 -> 7.4: 0.53 and 0.52 (against `encode`
returning lists, the former baseline: 1.03/0.92 and 0.81/0.81). Without a SentencePiece model
(tokenizer.json) the goal is not met: over these runs `tokenizers`' Unigram alone reached
0.09-0.16 of sentencepiece and its BPE 0.67-0.76 (count_source with it 0.57-0.74). Tried for
that path, no gain beyond the noise: chunks of 64-2048 documents, a 10x larger BPE word cache
(no cache: slower), `encode_batch` (slower: it computes offsets), one text at a time
(slower). `--threads 2` on these 2 shared cores (load 2 -> 4) was slower for every pass: not
a measure of scaling.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _chunks(texts: list[str], n: int):
    for i in range(0, len(texts), n):
        yield texts[i:i + n]


def _timed(passes: dict, repeat: int) -> dict[str, tuple[float, int]]:
    """Best wall time and token count of each pass; the repeats are interleaved (pass 1, 2,
    ..., then again) so that a change in the machine's load hits every pass alike."""
    best = dict.fromkeys(passes, float("inf"))
    tokens: dict[str, int] = {}
    for _ in range(repeat):
        for name, fn in passes.items():
            t = time.perf_counter()
            n = fn()
            best[name] = min(best[name], time.perf_counter() - t)
            if tokens.setdefault(name, n) != n:
                raise SystemExit(f"{name}: token counts differ between repeats: "
                                 f"{tokens[name]} vs {n}")
    return {name: (best[name], tokens[name]) for name in passes}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=4.0, help="corpus size in MB")
    parser.add_argument("--model", help="SentencePiece .model (default: train a unigram)")
    parser.add_argument("--vocab", type=int, default=8000, help="vocabulary of the trained model")
    parser.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram",
                        help="algorithm of the trained model (llm-jp publishes unigram)")
    parser.add_argument("--threads", type=int, default=1, help="threads of every pass")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every pass (best kept)")
    parser.add_argument("--no-index", action="store_true",
                        help="skip the index_source passes (they need megatron-core)")
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args()
    # The Rust thread pool reads this once, on first use: before tokenizers is imported.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    logging.disable(logging.INFO)  # count_source's per-pass log lines

    import sentencepiece as spm
    from transformers import AutoTokenizer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_corpus import generate

    from cptmix.corpus import count_source, import_sentencepiece, load_counting_tokenizer
    from cptmix.corpus.sources import CHUNK_DOCS

    index_source = None
    if not args.no_index:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import megatron.core.datasets.indexed_dataset  # noqa: F401

                from cptmix.corpus.indexed import index_source
        except ImportError as exc:
            print(f"index_source passes skipped: {exc}")
            index_source = None

    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench_tokenizer_") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.jsonl"
        n_docs = generate(corpus, args.mb)
        texts = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8")]
        model = Path(args.model) if args.model else None
        if model is None:
            t = time.perf_counter()
            sentences = [s for text in texts[:2000] for s in text.replace("。", "。\n")
                         .replace(". ", ".\n").splitlines() if s.strip()]
            (tmp / "train.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
            spm.SentencePieceTrainer.train(
                input=str(tmp / "train.txt"), model_prefix=str(tmp / "sp"),
                vocab_size=args.vocab, model_type=args.model_type, byte_fallback=True,
                character_coverage=0.9995, minloglevel=2, num_threads=args.threads)
            model = tmp / "sp.model"
            print(f"trained a {args.model_type} SentencePiece model ({args.vocab} pieces, byte "
                  f"fallback) in {time.perf_counter() - t:.1f} s")
        record = import_sentencepiece(model, tmp / "tok")
        sp = spm.SentencePieceProcessor(model_file=str(model))
        with_sp = load_counting_tokenizer(tmp / "tok", threads=args.threads)
        with_json = load_counting_tokenizer(tmp / "tok", threads=args.threads,
                                            sentencepiece=False)
        assert (with_sp.engine, with_json.engine) == ("sentencepiece", "tokenizers")
        hf = AutoTokenizer.from_pretrained(str(tmp / "tok"), local_files_only=True)
        chunks = list(_chunks(texts, CHUNK_DOCS))
        print(f"corpus {corpus.stat().st_size / 1e6:.1f} MB, {n_docs} documents; tokenizer "
              f"{record['vocab_size']} tokens ({record['model_type']}, {record['converter']} "
              f"converter); threads {args.threads}, repeat {args.repeat} (interleaved)")

        def sentencepiece_lists():
            return sum(len(ids) for c in chunks for ids in sp.encode(c, num_threads=args.threads))

        def sentencepiece_numpy():
            return sum(len(ids) for c in chunks
                       for ids in sp.encode(c, num_threads=args.threads, out_type="numpy"))

        def tokenizer_json():
            backend = with_json.backend
            return sum(len(e) for c in chunks
                       for e in backend.encode_batch_fast(c, add_special_tokens=False))

        def counting(tok):
            return lambda: count_source(corpus, "ja", tok, tmp / "counts.tsv")["tokens"]

        def indexing(tok):
            return lambda: index_source(corpus, "ja", tmp / "tok", tmp / "idx" / "tokens",
                                        progress=False, tokenizer=tok)["text_tokens"]

        def transformers():
            return sum(len(ids) for c in chunks
                       for ids in hf(c, add_special_tokens=False)["input_ids"])

        passes = {"sentencepiece (ids as lists)": sentencepiece_lists,
                  "sentencepiece (numpy)": sentencepiece_numpy,
                  "count_source, sentencepiece": counting(with_sp),
                  "count_source, tokenizer.json": counting(with_json)}
        if index_source is not None:
            passes["index_source, sentencepiece"] = indexing(with_sp)
            passes["index_source, tokenizer.json"] = indexing(with_json)
        passes["tokenizer.json alone"] = tokenizer_json
        passes["transformers"] = transformers
        results = _timed(passes, args.repeat)
    load_after = _load()
    counts = {tokens for _, tokens in results.values()}
    if len(counts) != 1:
        raise SystemExit(f"the passes count different tokens: {results}")
    # the baseline: sentencepiece's faster call
    base_s = min(results["sentencepiece (ids as lists)"][0], results["sentencepiece (numpy)"][0])
    tokens = counts.pop()
    print(f"{tokens:,} tokens in every pass; load average (1, 5, 15 min) {load_before} before, "
          f"{load_after} after, on {os.cpu_count()} cores")
    out = {"mb": args.mb, "documents": n_docs, "tokens": tokens, "threads": args.threads,
           "repeat": args.repeat, "model_type": record["model_type"],
           "vocab_size": record["vocab_size"], "load_before": load_before,
           "load_after": load_after, "cpus": os.cpu_count(), "passes": {}}
    for name, (seconds, _) in results.items():
        ratio = base_s / seconds
        out["passes"][name] = {"seconds": seconds, "tokens_per_s": tokens / seconds,
                               "ratio_to_sentencepiece": ratio}
        print(f"  {name:30s} {seconds:7.3f} s  {tokens / seconds / 1e6:6.2f} Mtok/s  "
              f"{ratio:5.2f} x sentencepiece")
    goal = [name for name in out["passes"] if name.endswith(", sentencepiece")]
    met = all(out["passes"][name]["ratio_to_sentencepiece"] >= 0.8 for name in goal)
    print(f"goal: counting ({', '.join(goal)}) >= 0.8 x sentencepiece: "
          + ("met" if met else "NOT met"))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
