"""Crafted bad inputs across config, corpora, evaluation data and analysis tables: each gives
exit code 2, one clear error naming the file and the field, and leaves no output behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cptmix.cli import main
from cptmix.corpus import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def _config(tmp_path, mutate=None, text=None):
    path = tmp_path / "study.yaml"
    if text is not None:
        path.write_text(text)
    else:
        cfg = json.loads(json.dumps(DEMO))
        mutate(cfg)
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def _set(path, value):
    def mutate(cfg):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


CONFIG_CASES = [
    ("fraction", _set(["mixtures", "EnJa-Plus", "sources", 0, "fraction"], 1.5),
     "mixtures.EnJa-Plus.sources[0].fraction: 1.5 is greater than the maximum of 1"),
    ("unknown source", _set(["mixtures", "EnJa-Plus", "sources", 0, "source"], "pmc_xx"),
     "mixtures.EnJa-Plus.sources[0].source: unknown source 'pmc_xx'"),
    ("extends cycle", _set(["mixtures", "EnJa-Base", "extends"], "EnJa-Plus"),
     "extends: cycle"),
    ("unsafe name", lambda c: c["mixtures"].update({"a b": {"sources": []}}),
     "mixtures: 'a b' does not match"),
    ("unknown task", _set(["evaluate", "tasks"], ["MedQA", "MedQA-Xx"]),
     "evaluate.tasks[1]: unknown task 'MedQA-Xx'"),
    ("negative lr", _set(["train", "cpt", "lr"], -0.1), "train.cpt.lr: -0.1"),
    ("missing section", lambda c: c.pop("mixtures"), "'mixtures' is a required property"),
    ("bad covariate", _set(["analysis", "covariates", "ja_ratio"], ["ja_ratio"]),
     "analysis.covariates.ja_ratio: bad covariate 'ja_ratio'"),
    ("lowered fraction", lambda c: c["mixtures"]["EnJa-Hybrid"]["sources"].append(
        {"source": "pmc_ja_mt", "fraction": 0.5}), "an extension must be a superset"),
    ("unknown source format", _set(["sources", "ja_base", "format"], "csv"),
     "sources.ja_base.format: 'csv' is not one of"),
    ("text directory per-document lang",
     lambda c: c["sources"]["ja_base"].update(format="text", lang="document"),
     "sources.ja_base.lang: a plain-text directory has no per-document language field"),
    ("glob of workflow outputs", _set(["sources", "ja_base", "path"], "results/x/*.jsonl"),
     "sources.ja_base.path: 'results/x/*.jsonl' is a glob under results/"),
    ("braces in a path", _set(["sources", "ja_base", "path"], ["a.jsonl", "b{x}.jsonl"]),
     "sources.ja_base.path[1]: 'b{x}.jsonl' contains braces"),
    ("empty path list", _set(["sources", "ja_base", "path"], []), "sources.ja_base.path"),
    ("zero files per shard", _set(["sources", "ja_base", "files_per_shard"], 0),
     "sources.ja_base.files_per_shard: 0 is less than the minimum of 1"),
    ("duplicate seeds", _set(["replicates"], {"seeds": [1234, 1235, 1234]}),
     "replicates.seeds: duplicate seed(s) [1234]"),
    ("seeds and n", _set(["replicates"], {"seeds": [1, 2], "n": 2}),
     "replicates: give either seeds (a list) or n (a count), not both"),
    ("noise floor with one seed",
     lambda c: (c.update(replicates={"seeds": [7]}), c["analysis"].update(noise_floor=True)),
     "analysis.noise_floor: a noise floor needs at least 2 seeds"),
    ("noise floor with no replicates",
     lambda c: (c.pop("replicates", None), c["analysis"].update(noise_floor=True)),
     "analysis.noise_floor: a noise floor needs at least 2 seeds"),
    ("unknown metric", _set(["analysis", "metrics"], ["score", "accuracy"]),
     "analysis.metrics[1]: 'accuracy' is not one of ['score', 'continuous']"),
    ("unknown replicate scope", _set(["replicates"], {"n": 2, "scope": "cpt"}),
     "replicates.scope: 'cpt' is not one of ['full', 'sft']"),
    ("misspelt top-level key", _set(["replicate"], {"n": 3}),
     "Additional properties are not allowed ('replicate' was unexpected)"),
    # names against the paths they form (cptmix.config.name_problems)
    ("path-step mixture name", lambda c: c["mixtures"].update(
        {"..": {"sources": [{"source": "ja_base", "fraction": 0.3}]}}),
     "mixtures: '..' is not a name but a path step"),
    ("mixture names differing in case", lambda c: c["mixtures"].update(
        {"enja-plus": {"sources": [{"source": "ja_base", "fraction": 0.3}]}}),
     ("mixtures.enja-plus: forms results/corpus/mixtures/enja-plus, which collides with "
     "mixtures.EnJa-Plus's results/corpus/mixtures/EnJa-Plus")),
    ("source named like a workflow folder", lambda c: c["sources"].update(
        {"mixtures": {"path": "x.jsonl", "lang": "ja"}}),
     "sources.mixtures: forms results/corpus/mixtures, which collides with the workflow's own"),
    ("mixture named like the base model's checkpoint", lambda c: c["mixtures"].update(
        {"base.partial": {"sources": [{"source": "ja_base", "fraction": 0.3}]}}),
     "mixtures.base.partial: forms results/models/cpt/base.partial"),
    ("identical mixtures", lambda c: c["mixtures"].update(
        {"Twin": {"extends": "EnDominant", "sources": [{"source": "pmc_ja_mt", "fraction": 1}]}}),
     "mixtures.Twin: selects exactly the same data as mixtures.EnJa-Balance"),
    ("unknown task in an SFT source",
     _set(["sft", "sources", "jmedbench_train", "contamination", "against"], ["MedQA-X"]),
     "sft.sources.jmedbench_train.contamination.against[0]: unknown task 'MedQA-X'"),
    ("seed megatron cannot take",
     lambda c: (c["train"].update(backend="megatron"), c.update(seed=2**32)),
     "seed: 4294967296 is over 4294967295 (2**32 - 1)"),
]


@pytest.mark.parametrize("name, mutate, phrase", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config(tmp_path, capsys, name, mutate, phrase):
    path = _config(tmp_path, mutate)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and phrase in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_config_not_yaml_and_missing_paths(tmp_path, capsys):
    assert main(["check-config", str(_config(tmp_path, text="mixtures: [\n"))]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    path = _config(tmp_path, _set(["sources", "ja_base", "path"], "corpora/ja.jsonl"))
    assert main(["check-config", str(path)]) == 0
    assert main(["check-config", "--paths", str(path)]) == 2
    assert "sources.ja_base.path: corpora/ja.jsonl does not exist" in capsys.readouterr().err
    path = _config(tmp_path, _set(["sources", "ja_base", "path"], ["corpora/*.jsonl.zst"]))
    assert main(["check-config", "--paths", str(path)]) == 2
    assert "sources.ja_base.path[0]: corpora/*.jsonl.zst matches no file" in \
        capsys.readouterr().err


DEMO_TEXT = (ROOT / "config" / "config.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["check-config", "mixtures"])
def test_repeated_key_in_a_config_file(tmp_path, capsys, command):
    lines = DEMO_TEXT.splitlines(keepends=True)
    first = lines.index("train:\n") + 2  # line number of `  backend: hf` right below it
    assert lines[first - 1].startswith("  backend: hf ")
    text = "".join([*lines[:first], "  backend: megatron\n", *lines[first:]])
    path = _config(tmp_path, text=text)
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: train: key 'backend' is repeated (lines {first} and {first + 1}); YAML " \
        "would silently keep only the last" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def _snakemake_n(workdir, *configfiles):
    from studies import SNAKEMAKE

    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "-n",
           "--cores", "1", "--configfile", *configfiles]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=workdir,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_snakemake_refuses_a_repeated_key_in_any_config_file(tmp_path):
    """Snakemake reads --configfile leniently (the last value wins); the workflow reads every
    file again strictly and stops before planning anything."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(DEMO_TEXT, encoding="utf-8")
    (tmp_path / "overlay.yaml").write_text(
        "train:\n  cpt:\n    lr: 1.0e-3\n  cpt:\n    lr: 5.0e-4\n", encoding="utf-8")
    proc = _snakemake_n(tmp_path, "config/config.yaml", "overlay.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # snakemake's exit code for an error in the workflow
    assert "overlay.yaml: train: key 'cpt' is repeated (lines 2 and 4)" in out
    assert "Traceback" not in out and "train_cpt" not in out  # nothing was planned
    assert not (tmp_path / "results").exists()


def test_snakemake_refuses_a_name_that_leaves_its_folder(tmp_path):
    """The issue's case: a mixture named '..' plans results/corpus/mixtures/../stats.json."""
    (tmp_path / "config").mkdir()
    text = DEMO_TEXT.replace("  EnJa-Hybrid:  ", "  ..:\n    sources: [{source: textbooks, "
                             "fraction: 0.5}]\n  EnJa-Hybrid:  ")
    assert text != DEMO_TEXT
    (tmp_path / "config" / "config.yaml").write_text(text, encoding="utf-8")
    proc = _snakemake_n(tmp_path, "config/config.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "config/config.yaml: mixtures: '..' is not a name but a path step" in out
    assert "Traceback" not in out and not (tmp_path / "results").exists()


def test_exit_code_of_the_real_command(tmp_path):
    path = _config(tmp_path, _set(["mixtures", "EnJa-Plus", "sources", 0, "fraction"], 1.5))
    proc = subprocess.run([str(Path(sys.executable).with_name("cptmix")), "check-config",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "fraction" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok") / "tok"
    train_tokenizer(["糖尿病の治療。", "Insulin treats diabetes."], d, vocab_size=300,
                    min_frequency=1)
    return d


CORPUS_CASES = [
    ("missing text", '{"id": "a", "text": "x"}\n{"id": "b"}\n', "ja", "src.jsonl:2: missing field 'text'"),
    ("missing id", '{"text": "x"}\n', "ja", "src.jsonl:1: missing field 'id'"),
    ("not json", '{"id": "a", "text": "x"}\n{"id": "b", text}\n', "en", "src.jsonl:2: not valid JSON"),
    ("duplicate id", '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "en",
     "field 'id' 'a' is duplicated"),
    ("bad document lang", '{"id": "a", "text": "x", "lang": "de"}\n', "document",
     "src.jsonl:1: field 'lang' is 'de'"),
    ("not an object", '["a", "b"]\n', "ja", "src.jsonl:1: a record must be a JSON object"),
]


@pytest.mark.parametrize("name, text, lang, phrase", CORPUS_CASES, ids=[c[0] for c in CORPUS_CASES])
def test_bad_corpus(tmp_path, capsys, tokenizer, name, text, lang, phrase):
    src = tmp_path / "src.jsonl"
    src.write_text(text)
    out = tmp_path / "out" / "counts.tsv"
    code = main(["count", "--source", str(src), "--lang", lang, "--tokenizer", str(tokenizer),
                 "--out", str(out)])
    assert code == 2
    assert phrase in capsys.readouterr().err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temp file either


def test_missing_source_and_tokenizer(tmp_path, capsys, tokenizer):
    out = tmp_path / "counts.tsv"
    assert main(["count", "--source", str(tmp_path / "nope.jsonl"), "--lang", "ja",
                 "--tokenizer", str(tokenizer), "--out", str(out)]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
    src = tmp_path / "src.jsonl"
    src.write_text('{"id": "a", "text": "x"}\n')
    assert main(["count", "--source", str(src), "--lang", "ja", "--tokenizer",
                 str(tmp_path / "no_tok"), "--out", str(out)]) == 2
    assert "no_tok: not a tokenizer directory" in capsys.readouterr().err
    assert not out.exists()


def _gz(text: bytes) -> bytes:
    import gzip

    return gzip.compress(text, mtime=0)


def _zst(text: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(text)


def _parquet(records) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), buf)
    return buf.getvalue()


OK_LINE = b'{"id": "a", "text": "x"}\n'
# (case, files to write, --source argument(s), extra count arguments, phrase in the error)
SOURCE_CASES = [
    ("invalid utf-8 jsonl", {"s.jsonl": OK_LINE + b'{"id": "b", "text": "\xff"}\n'}, ["s.jsonl"],
     [], "s.jsonl:2: not valid UTF-8"),
    ("invalid utf-8 gz", {"s.jsonl.gz": _gz(OK_LINE * 2 + b'{"id": "c", "text": "\xfe"}\n')},
     ["s.jsonl.gz"], [], "s.jsonl.gz:3: not valid UTF-8"),
    ("malformed zst line", {"s.jsonl.zst": _zst(OK_LINE + b'{"id": "b", "text": }\n')},
     ["s.jsonl.zst"], [], "s.jsonl.zst:2: not valid JSON"),
    ("corrupt gzip", {"s.jsonl.gz": b"this is not gzip"}, ["s.jsonl.gz"], [],
     "s.jsonl.gz:1: cannot decompress"),
    ("corrupt zst", {"s.jsonl.zst": b"this is not zstd at all"}, ["s.jsonl.zst"], [],
     "s.jsonl.zst:1: cannot decompress"),
    ("missing text field", {"s.jsonl": OK_LINE}, ["s.jsonl"], ["--text-field", "body"],
     "s.jsonl:1: missing field 'body'"),
    ("text not a string", {"s.jsonl": b'{"id": "a", "text": 3}\n'}, ["s.jsonl"], [],
     "s.jsonl:1: field 'text' is int, not a string"),
    ("parquet missing column", {"s.parquet": _parquet([{"id": "a", "body": "x"}])},
     ["s.parquet"], [], "s.parquet: missing column 'text' (columns: id, body)"),
    ("parquet null text", {"s.parquet": _parquet([{"id": "a", "text": "x"},
                                                 {"id": "b", "text": None}])},
     ["s.parquet"], [], "s.parquet: row 2: field 'text' is null"),
    ("not parquet", {"s.parquet": b"PAR1 but not really"}, ["s.parquet"], [],
     "s.parquet: not a readable Parquet file"),
    ("text dir invalid utf-8", {"d/a.txt": "糖尿病".encode(), "d/b.txt": b"ok\nbad \xff"},
     ["d"], ["--format", "text"], "d/b.txt:2: not valid UTF-8"),
    ("empty source", {"s.jsonl": b"\n\n"}, ["s.jsonl"], [],
     "s.jsonl: source s.jsonl has no documents"),
    ("empty file among several", {"p/a.jsonl": OK_LINE, "p/b.jsonl": b""}, ["p/*.jsonl"], [],
     "p/b.jsonl: source *.jsonl has no documents in this file"),
    ("empty text directory", {"d/.keep": b""}, ["d"], ["--format", "text"],
     "d: source d has no documents"),
    ("glob matches nothing", {"p/a.jsonl": OK_LINE}, ["p/*.jsonl.zst"], [],
     "p/*.jsonl.zst matches no file"),
    ("path does not exist", {}, ["nope.jsonl"], [], "nope.jsonl: source file does not exist"),
    ("unknown format", {"s.csv": b"id,text\n"}, ["s.csv"], [], "cannot tell the format of"),
    ("duplicate id across files", {"p/a.jsonl": OK_LINE, "p/b.jsonl.gz": _gz(OK_LINE)},
     ["p/*"], [], "p/b.jsonl.gz:1: field 'id' 'a' is duplicated (first at"),
    ("missing per-document lang", {"s.jsonl": OK_LINE}, ["s.jsonl"], ["--lang", "document"],
     "s.jsonl:1: missing field 'lang'"),
]


@pytest.mark.parametrize("name, files, paths, extra, phrase", SOURCE_CASES,
                         ids=[c[0] for c in SOURCE_CASES])
def test_bad_source_file(tmp_path, capsys, tokenizer, name, files, paths, extra, phrase):
    data = tmp_path / "data"
    data.mkdir()
    for rel, content in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(content)
    out = tmp_path / "out" / "counts.tsv"
    lang = [] if "--lang" in extra else ["--lang", "ja"]
    code = main(["count", "--source", *(str(data / p) for p in paths), *lang, *extra,
                 "--tokenizer", str(tokenizer), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert phrase in err and "Traceback" not in err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temp file either


# --- analysis tables ------------------------------------------------------------------------
MIX = ["A", "B", "C", "D", "E", "F"]
COMP_HEADER = ("mixture\ttotal_tokens\tja_tokens\ten_tokens\tparallel_tokens\tja_ratio\t"
               "en_ratio\tparallel_ratio\n")


def _composition(path, mixtures=MIX, drop_last_column=False):
    rows = []
    for i, m in enumerate(mixtures):
        ja, en, par = 100 + 37 * i, 200 + 11 * i * i, 5 + 3 * (i % 3)
        tot = ja + en + par
        rows.append([m, tot, ja, en, par, ja / tot, en / tot, par / tot])
    header = COMP_HEADER
    if drop_last_column:
        header = header.rsplit("\t", 1)[0] + "\n"
        rows = [r[:-1] for r in rows]
    path.write_text(header + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def _scores(path, mixtures=MIX, value=None, header="mixture\ttask\tcategory\tlanguage\tscore_diff"):
    lines = [header]
    for i, m in enumerate(mixtures):
        for t, (cat, lang) in {"MedQA": ("MCQA", "English"), "JCSTS": ("STS", "Japanese")}.items():
            v = value if value is not None else round(0.01 * ((i * 7 + len(t)) % 5) - 0.02, 4)
            lines.append(f"{m}\t{t}\t{cat}\t{lang}\t{v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _analyze(tmp_path, comp, scores, *extra):
    out = tmp_path / "out"
    code = main(["analyze", "--composition", str(comp), "--scores", str(scores), "--out",
                 str(out), "--no-figures", *extra])
    return code, out


def test_analysis_missing_composition_column(tmp_path, capsys):
    code, out = _analyze(tmp_path, _composition(tmp_path / "C.tsv", drop_last_column=True),
                         _scores(tmp_path / "S.tsv"))
    assert code == 2 and "C.tsv: missing column(s) parallel_ratio" in capsys.readouterr().err
    assert not out.exists()


def test_analysis_mixture_without_composition_row(tmp_path, capsys):
    code, out = _analyze(tmp_path, _composition(tmp_path / "C.tsv", MIX[:5]),
                         _scores(tmp_path / "S.tsv"))
    assert code == 2 and "C.tsv: field mixture: no row for mixture(s) F" in capsys.readouterr().err
    assert not out.exists()


def test_analysis_scores_missing_column(tmp_path, capsys):
    scores = _scores(tmp_path / "S.tsv", header="mixture\ttask\tcategory\tlanguage\tdiff")
    code, out = _analyze(tmp_path, _composition(tmp_path / "C.tsv"), scores)
    err = capsys.readouterr().err
    assert code == 2 and "S.tsv" in err and "score_diff" in err
    assert not out.exists()


def test_analysis_constant_outcome_and_too_few_mixtures_are_notes_not_crashes(tmp_path):
    import pandas as pd

    code, out = _analyze(tmp_path, _composition(tmp_path / "C.tsv"),
                         _scores(tmp_path / "S.tsv", value=0.05))
    assert code == 0
    partial = pd.read_csv(out / "partial_correlations.tsv", sep="\t")
    assert partial.r.isna().all()
    assert partial.note.str.contains("constant outcome").all()
    few = tmp_path / "few"
    few.mkdir()
    code, out = _analyze(few, _composition(few / "C.tsv", MIX[:3]), _scores(few / "S.tsv", MIX[:3]))
    assert code == 0
    partial = pd.read_csv(out / "partial_correlations.tsv", sep="\t")
    counts = partial[partial.statistic == "ja_tokens"]
    assert counts.r.isna().all() and counts.note.str.contains("too few observations").all()


# --- evaluation data --------------------------------------------------------------------------
MCQA_OK = {"sample_id": "q1", "question": "Which drug treats Velorin syndrome?",
           "options": ["Taxomab", "Velostatin", "Gifersusartan", "Lenazide"], "answer_idx": 1,
           "n_options": 4, "metadata": {}}


def _eval(tmp_path, tiny_model_dir, records, task="MedQA", folder="medqa", raw=None):
    data = tmp_path / "jmedbench"
    if records is not None or raw is not None:
        (data / folder).mkdir(parents=True)
        text = raw if raw is not None else "".join(json.dumps(r) + "\n" for r in records)
        (data / folder / "test.jsonl").write_text(text)
    else:
        data.mkdir()
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--out",
                 str(out / "scores.tsv"), "--predictions", str(out / "predictions"),
                 "--tasks", task])
    return code, out


EVAL_CASES = [
    ("missing task directory", None, "medqa"),
    ("record missing a field", [{k: v for k, v in MCQA_OK.items() if k != "options"}],
     "options"),
    ("answer index out of range", [{**MCQA_OK, "answer_idx": 7}], "answer_idx"),
    ("empty task", [], "empty"),
]


@pytest.mark.parametrize("name, records, phrase", EVAL_CASES, ids=[c[0] for c in EVAL_CASES])
def test_bad_evaluation_data(tmp_path, capsys, tiny_model_dir, name, records, phrase):
    code, out = _eval(tmp_path, tiny_model_dir, records)
    err = capsys.readouterr().err
    assert code == 2
    assert "MedQA" in err and phrase in err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
