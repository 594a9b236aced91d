"""Crafted bad inputs across config, corpora, evaluation data and analysis tables: each gives
exit code 2, one clear error naming the file and the field, and leaves no output behind."""

import json
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
     "src.jsonl: document 1: field 'lang' is 'de'"),
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
