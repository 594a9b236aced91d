"""cptmix.config: schema, cross-field checks, mixture resolution."""

import copy
from pathlib import Path

import pytest

from cptmix.config import ConfigError, check_config, load_config, resolve_mixtures, validate_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def demo_cfg():
    return load_config(ROOT / "config" / "config.yaml")


@pytest.mark.parametrize("path", ["config/config.yaml", "tests/config/config.yaml"])
def test_shipped_configs_are_valid(path):
    cfg = load_config(ROOT / path)
    validate_schema(cfg, SCHEMA)
    check_config(cfg)


def test_paper_mixtures_are_built_additively(demo_cfg):
    mix = resolve_mixtures(demo_cfg)
    assert list(mix) == ["EnJa-Base", "JaDominant", "EnDominant", "EnJa-Plus", "EnJa-Balance",
                         "EnJa-Hybrid"]
    base = mix["EnJa-Base"]
    assert mix["JaDominant"] == {**base, "pmc_ja_mt": 1.0}
    assert mix["EnDominant"] == {**base, "pmc_en": 1.0}
    assert mix["EnJa-Plus"] == {**mix["EnDominant"], "pmc_ja_mt": 0.5}
    assert mix["EnJa-Balance"] == {**mix["EnDominant"], "pmc_ja_mt": 1.0}
    hybrid = mix["EnJa-Hybrid"]
    assert hybrid["parallel_abstracts"] == 1.0 > base["parallel_abstracts"]
    assert set(mix["EnJa-Balance"]) < set(hybrid)


def _broken(cfg, mutate):
    cfg = copy.deepcopy(cfg)
    mutate(cfg)
    return cfg


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["mixtures"]["EnJa-Base"]["sources"].append({"source": "nope", "fraction": 1}),
     "mixtures.EnJa-Base.sources[3].source"),
    (lambda c: c["mixtures"]["EnJa-Plus"].update(extends="Missing"), "mixtures.EnJa-Plus.extends"),
    (lambda c: c["mixtures"]["EnJa-Base"].update(extends="EnJa-Hybrid"), "cycle"),
    (lambda c: c["mixtures"]["EnJa-Plus"]["sources"].append({"source": "pmc_en", "fraction": 0.2}),
     "lowers pmc_en"),
    (lambda c: c["sources"].update({"bad name": {"path": "x", "lang": "ja"}}), "sources.bad name"),
    (lambda c: c["sources"]["ja_base"].update(lang="fr"), "sources.ja_base.lang"),
    (lambda c: c["analysis"]["covariates"].update(ja_ratio=["ja_ratio"]),
     "analysis.covariates.ja_ratio"),
    (lambda c: c["evaluate"].update(tasks=["MedQA", "NotATask"]), "evaluate.tasks"),
    (lambda c: c["mixtures"].update(base={"sources": [{"source": "ja_base", "fraction": 1}]}),
     "mixtures.base"),
])
def test_cross_field_errors_name_the_field(demo_cfg, mutate, field):
    with pytest.raises(ConfigError, match="^config: ") as err:
        check_config(_broken(demo_cfg, mutate), where="config")
    assert field in str(err.value)


def test_all_problems_are_reported_at_once(demo_cfg):
    def mutate(c):
        c["mixtures"]["EnJa-Plus"]["sources"][0]["fraction"] = 1.5
        c["sources"]["ja_base"]["lang"] = "fr"
        c["evaluate"]["tasks"] = ["MedQA", "Nope"]

    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml")
    msg = str(err.value)
    assert msg.startswith("my.yaml: 3 problems:")
    assert "mixtures.EnJa-Plus.sources[0].fraction: 1.5 is not in [0, 1]" in msg
    assert "sources.ja_base.lang" in msg and "evaluate.tasks[1]: unknown task 'Nope'" in msg


def test_schema_problems_all_at_once_with_config_paths(demo_cfg):
    def mutate(c):
        c["mixtures"]["EnJa-Plus"]["sources"][0]["fraction"] = 1.5
        c["train"]["cpt"]["lr"] = -1
    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    msg = str(err.value)
    assert "mixtures.EnJa-Plus.sources[0].fraction: 1.5 is greater than the maximum of 1" in msg
    assert "train.cpt.lr: -1" in msg


def test_path_checks_skip_workflow_outputs(demo_cfg, tmp_path):
    check_config(demo_cfg, check_paths=True, root=tmp_path)  # results/... are produced
    cfg = _broken(demo_cfg, lambda c: c["sources"]["ja_base"].update(path="data/ja.jsonl"))
    with pytest.raises(ConfigError, match="sources.ja_base.path: data/ja.jsonl does not exist"):
        check_config(cfg, check_paths=True, root=tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ja.jsonl").write_text("")
    check_config(cfg, check_paths=True, root=tmp_path)


def test_schema_rejects_fraction_out_of_range(demo_cfg):
    cfg = _broken(demo_cfg, lambda c: c["mixtures"]["EnJa-Base"]["sources"][0].update(
        fraction=1.5))
    with pytest.raises(ConfigError, match=r"mixtures\.EnJa-Base\.sources\[0\]\.fraction"):
        validate_schema(cfg, SCHEMA, where="my.yaml")


def test_load_config_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
