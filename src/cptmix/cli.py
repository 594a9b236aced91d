"""The `cptmix` command: library entry points usable outside Snakemake.

    cptmix check-config config/config.yaml   # schema + cross-field checks, before any GPU hour
    cptmix mixtures config/config.yaml       # how the mixtures are composed (extends resolved)
    cptmix world --out DIR                   # generate the synthetic demo world
    cptmix count --source 'D/*.jsonl.zst' --lang ja ...   # token counts of one source
    cptmix tokenizer import --sentencepiece M.model --out DIR   # exact fast tokenizer from SP
    cptmix tokenizer check DIR               # counts what transformers reads? not degenerate?
    cptmix evaluate --model DIR --data DIR   # one model on the JMedBench tasks
    cptmix analyze --composition C.tsv ...   # the analysis on any study's tables
    cptmix design config/config.yaml config/sweep.yaml   # a sweep, its space filling, VIFs
    cptmix plan config/paper.yaml            # compute and disk budget of the CPT runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cptmix.config import SCHEMA_PATH as SCHEMA  # workflow/schemas/config.schema.yaml


def _check_config(args) -> int:
    from cptmix.config import check_config, load_config

    cfg = load_config(args.config)
    schema = Path(args.schema) if args.schema else SCHEMA
    check_config(cfg, where=str(args.config), schema=schema if schema.exists() else None,
                 check_paths=args.paths)
    if (cfg.get("design") or {}).get("sweep"):  # the design block's own checks
        from cptmix.analyze.candidates import check_models
        from cptmix.config import fill_defaults, selected_tasks
        from cptmix.design import check_design, sweep_spec

        fill_defaults(cfg)
        check_design(cfg, selected_tasks(cfg), where=str(args.config))
        spec = sweep_spec(cfg, where=str(args.config))
        check_models(cfg["design"]["surrogate"]["models"], spec.n, len(spec.sources),
                     cfg["design"]["surrogate"]["folds"])
    print(f"{args.config}: OK" + (" (input paths exist)" if args.paths else ""))
    return 0


def _mixtures(args) -> int:
    from cptmix.config import load_config, mixture_parents, resolve_mixtures
    from cptmix.corpus.mixture import relations

    cfg = load_config(args.config)
    mixtures = resolve_mixtures(cfg, where=str(args.config))
    parents = mixture_parents(cfg, where=str(args.config))
    for name, fractions in mixtures.items():
        parent = parents[name]
        parts = ", ".join(f"{s}×{f:g}" for s, f in fractions.items())
        print(f"{name:14s} = {parts}" + (f"   (extends {parent})" if parent else ""))
    lines, warnings = relations(mixtures, parents)
    print("\nhow the mixtures relate:")
    print("\n".join(f"  {line}" for line in lines))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _world(args) -> int:
    from cptmix.config import load_config
    from cptmix.demo import DEFAULT_WORLD, generate_world

    cfg = dict(DEFAULT_WORLD)
    if args.config:
        cfg.update(load_config(args.config)["world"])  # strictly: no repeated keys
    if args.seed is not None:
        cfg["seed"] = args.seed
    generate_world(cfg, args.out)
    print(f"world written to {args.out}")
    return 0


def _count(args) -> int:
    from cptmix.corpus import Source, count_source
    from cptmix.corpus.tokenizer import load_counting_tokenizer

    entry = {"path": args.source, "lang": args.lang, "text_field": args.text_field,
             "id_field": args.id_field or None, "lang_field": args.lang_field,
             **({"format": args.format} if args.format else {})}
    source = Source.from_config(args.name or Path(args.source[0]).name, entry)
    totals = count_source(source, None, load_counting_tokenizer(args.tokenizer), args.out,
                          progress=args.progress, strict=args.strict)
    print(f"{', '.join(args.source)}: {totals['documents']} documents, {totals['tokens']} tokens "
          f"(ja {totals['ja_tokens']}, en {totals['en_tokens']}, parallel "
          f"{totals['parallel_tokens']}), {totals['skipped_documents']} empty documents "
          f"skipped -> {args.out}")
    return 0


def _tokenizer_import(args) -> int:
    from cptmix.corpus import Source, iter_documents
    from cptmix.corpus.tokenizer import import_sentencepiece

    texts = ()
    if args.corpus:
        # The language is irrelevant here: only the texts are compared.
        entry = {"path": args.corpus, "lang": "ja", "id_field": None,
                 "text_field": args.text_field, **({"format": args.format} if args.format else {})}
        texts = (d["text"] for d in iter_documents(Source.from_config("corpus", entry)))
    record = import_sentencepiece(args.sentencepiece, args.out, corpus=texts)
    v = record["verified"]
    print(f"{args.out}: {record['model_type']} tokenizer of {record['vocab_size']} tokens "
          f"({record['converter']} converter); ids equal to sentencepiece's on "
          f"{v['probe_texts']} probe and {v['corpus_texts']} corpus texts")
    return 0


def _tokenizer_check(args) -> int:
    from cptmix.corpus.tokenizer import PROBE, load_counting_tokenizer

    tok = load_counting_tokenizer(args.directory)
    print(f"{args.directory}: OK ({tok.vocab_size} tokens, EOS {tok.eos_token!r} = "
          f"{tok.eos_id}; tokenizer.json and transformers agree on the {len(PROBE)} probe "
          f"texts)")
    return 0


def _evaluate(args) -> int:
    from cptmix.evaluate import evaluate_model

    scores = evaluate_model(args.model, args.data, args.out, args.predictions,
                            tasks=args.tasks or None, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens, threads=args.threads,
                            scoring=args.scoring, option_metric=args.option_metric)
    print(scores.to_string(index=False))
    return 0


def _design(args) -> int:
    from cptmix.config import fill_defaults, load_configs
    from cptmix.plan import design_tables, format_design

    cfg, where = load_configs(args.config)
    schema = SCHEMA if SCHEMA.exists() else None
    from cptmix.config import check_config

    check_config(cfg, where=where, schema=schema)
    fill_defaults(cfg)
    print(format_design(design_tables(cfg, where=where, counts_dir=args.counts)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cptmix",
        description="Japanese/English medical data-mixture study (CPT, SFT, JMedBench, "
                    "partial correlations). The workflow itself runs with `snakemake`; these "
                    "subcommands expose the library.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate a config (schema + cross-field checks)")
    p.add_argument("config", help="YAML config, e.g. config/config.yaml")
    p.add_argument("--schema", help="JSON schema (default: workflow/schemas/config.schema.yaml)")
    p.add_argument("--paths", action="store_true",
                   help="also check that input files exist (sources, tokenizer, model, data); "
                        "paths under results/ are produced by the workflow and not checked")
    p.set_defaults(func=_check_config)

    p = sub.add_parser("mixtures", help="print each mixture's resolved (source × fraction) list")
    p.add_argument("config", help="YAML config")
    p.set_defaults(func=_mixtures)

    p = sub.add_parser("world", help="generate the synthetic bilingual medical demo world")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--config", help="YAML config whose `world` block overrides the defaults")
    p.add_argument("--seed", type=int, help="world seed (overrides the config)")
    p.set_defaults(func=_world)

    p = sub.add_parser("count", help="count the tokens of every document of one source")
    p.add_argument("--source", required=True, nargs="+",
                   help="files, globs or (format text) directories of the source: JSONL, "
                        "JSONL.gz, JSONL.zst, Parquet or plain-text directories")
    p.add_argument("--lang", required=True, choices=["ja", "en", "parallel", "document"],
                   help="the source's language, or 'document' to read each record's lang")
    p.add_argument("--format", choices=["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "text"],
                   help="file format (default: from each file's suffix; a directory is text)")
    p.add_argument("--text-field", default="text", help="field/column of the text")
    p.add_argument("--id-field", default="id",
                   help="field/column of the document id; '' = <file>:<line or row>")
    p.add_argument("--lang-field", default="lang", help="per-document language field")
    p.add_argument("--name", help="source name (default: the first path's file name)")
    p.add_argument("--tokenizer", required=True, help="HF tokenizer directory")
    p.add_argument("--out", required=True, help="output TSV (id, lang, tokens)")
    p.add_argument("--progress", action="store_true", help="progress bar with tokens/s")
    p.add_argument("--strict", action="store_true",
                   help="a document with empty text is an error (default: skipped, counted)")
    p.set_defaults(func=_count)

    p = sub.add_parser("tokenizer", help="import or check a tokenizer directory")
    tsub = p.add_subparsers(dest="tokenizer_command", required=True)
    t = tsub.add_parser("import", help="an exact fast tokenizer directory from a SentencePiece "
                                       "model, verified against sentencepiece")
    t.add_argument("--sentencepiece", required=True, metavar="MODEL",
                   help="SentencePiece .model file (unigram or BPE)")
    t.add_argument("--out", required=True, metavar="DIR", help="tokenizer directory to write")
    t.add_argument("--corpus", nargs="+", metavar="PATH",
                   help="also verify on every document of these files/globs/directories "
                        "(JSONL, JSONL.gz, JSONL.zst, Parquet, text directories)")
    t.add_argument("--text-field", default="text", help="field/column of the corpus text")
    t.add_argument("--format", choices=["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "text"],
                   help="corpus file format (default: from each file's suffix)")
    t.set_defaults(func=_tokenizer_import)
    t = tsub.add_parser("check", help="check a tokenizer directory as counting loads it")
    t.add_argument("directory", help="HF tokenizer directory (tokenizer.json)")
    t.set_defaults(func=_tokenizer_check)

    p = sub.add_parser("evaluate", help="evaluate one HF model on JMedBench-layout data")
    p.add_argument("--model", required=True, help="HF causal LM directory (safetensors)")
    p.add_argument("--data", required=True, help="JMedBench layout: {task_folder}/test.jsonl")
    p.add_argument("--out", required=True, help="scores TSV")
    p.add_argument("--predictions", required=True, help="directory for per-item predictions")
    p.add_argument("--tasks", nargs="*", help="task names (default: all 27)")
    p.add_argument("--batch-size", type=int, default=16, help="items per forward pass")
    p.add_argument("--max-new-tokens", type=int, default=48, help="MT/NER generation budget")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--scoring", choices=["cptmix", "medeval"], default="cptmix",
                   help="option scoring: cptmix (corrected, default) or medeval (med-eval's own "
                        "token sequences, to compare with published JMedBench numbers)")
    p.add_argument("--option-metric", choices=["zscore", "margin", "logprob"],
                   default="zscore",
                   help="continuous metric of MCQA/DC/STS: zscore (gold log-likelihood minus "
                        "the other options' mean, over the options' SD; default), margin (the "
                        "same in nats) or logprob (gold log-softmax over the options)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("design", help="a config's designed sweep: shares, space filling, "
                                      "realisation, statistics and their VIFs")
    p.add_argument("config", nargs="+", help="YAML config file(s), merged in order as "
                                             "`snakemake --configfile A B` merges them")
    p.add_argument("--counts", default="results/corpus",
                   help="where the counting rules wrote results/corpus/{source}/{shard}/"
                        "counts.tsv (used when every source is counted; else the sources' "
                        "declared `tokens`)")
    p.set_defaults(func=_design)

    from cptmix.analyze.cli import add_arguments, run_from_args

    p = sub.add_parser("analyze", help="score differences, (partial) correlations, figures")
    add_arguments(p)
    p.set_defaults(func=run_from_args)

    from cptmix import plan

    p = sub.add_parser("plan", help="tokens, steps, FLOPs, GPU-hours and disk of the CPT runs")
    plan.add_arguments(p)
    p.set_defaults(func=plan.run_from_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError) as exc:
        print(f"cptmix {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
