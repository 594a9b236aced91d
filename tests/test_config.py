"""cptmix.config: schema, cross-field checks, mixture resolution."""

import copy
from pathlib import Path

import pytest
from studies import study_config

from cptmix.config import (
    ConfigError,
    StudyConfig,
    check_config,
    fill_defaults,
    load_config,
    mixture_parents,
    replicate_seeds,
    resolve_mixtures,
    schema_default,
    validate_schema,
    with_defaults,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def demo_cfg():
    return load_config(ROOT / "config" / "config.yaml")


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml",
                                  "tests/config/overlay.yaml"])
def test_shipped_configs_are_valid(path):
    # the test overlay is checked as the study it makes: merged over the demo config
    cfg = study_config() if path.startswith("tests/") else load_config(ROOT / path)
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


# --- Defaults: the schema's, filled once (cptmix.config.fill_defaults) -------------------------

def test_fill_defaults_fills_present_sections_only(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    for key in ("seed", "replicates", "threads"):
        cfg.pop(key, None)
    del cfg["sft"]["contamination"]
    del cfg["sft"]["chat_template"]
    cfg["analysis"] = {}
    filled = with_defaults(cfg)
    assert "replicates" not in filled and "threads" not in filled  # absent sections stay so
    assert filled["seed"] == 1234
    assert filled["sft"]["chat_template"] == "never"
    assert "contamination" not in filled["sft"]  # its defaults only inside a given section
    assert filled["analysis"] == {"metrics": ["score", "continuous"], "noise_floor": False}
    # named entries (additionalProperties) get their defaults
    assert filled["translate"]["ejmmt_en2ja"]["max_chars"] == 400
    assert filled["translate"]["ejmmt_en2ja"]["id_suffix"] == ""
    assert filled["parallel"]["parallel_abstracts"]["ja_id_suffix"] == ""
    assert filled["sources"]["general"]["files_per_shard"] == 1
    assert filled["sources"]["general"]["id_field"] == "id"
    # keys without a schema default are never invented
    assert "output_field" not in filled["translate"]["pmc_ja_mt"]
    assert "max_repetitions" not in with_defaults({**cfg, "corpus": {}})["corpus"]
    assert "mt_source" in filled["evaluate"] and "comet_model" not in filled["evaluate"]["mt_source"]
    # given values win; the original is untouched by with_defaults
    assert filled["translate"]["pmc_ja_mt"]["shards"] == 4
    assert "chat_template" not in cfg["sft"]
    # filling twice changes nothing; fill_defaults works in place
    assert fill_defaults(copy.deepcopy(filled)) == filled
    assert fill_defaults(cfg) is cfg and cfg == filled


def test_fill_defaults_nested_sections_and_hyperparameters(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["train"]["sft"]["parallel"] = {"tensor": 2}
    del cfg["train"]["sft"]["epochs"]
    cfg["sft"]["contamination"] = {"ngram": 7}
    cfg["replicates"] = {"seeds": [1, 2]}
    filled = with_defaults(cfg)
    assert filled["train"]["sft"]["parallel"] == {"tensor": 2, "pipeline": 1, "data": 1}
    assert filled["train"]["sft"]["epochs"] == 1  # via allOf + $ref
    assert "parallel" not in filled["train"]["cpt"]
    assert filled["sft"]["contamination"] == {"ngram": 7, "threshold": 0.9, "num_perm": 128}
    assert filled["replicates"] == {"seeds": [1, 2], "scope": "full"}


def test_schema_default_reads_the_schema():
    assert schema_default("seed") == 1234
    assert schema_default("sft", "contamination", "threshold") == 0.9
    assert schema_default("translate", "*", "max_chars") == 400
    assert schema_default("train", "sft", "epochs") == 1
    with pytest.raises(KeyError):
        schema_default("corpus", "max_repetitions")  # absent = no limit: no default
    with pytest.raises(KeyError):
        schema_default("no_such_section")


def test_study_config_is_the_typed_defaulted_view(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    del cfg["sft"]["contamination"]
    del cfg["analysis"]
    del cfg["threads"]
    study = StudyConfig.from_dict(cfg)
    assert "contamination" not in cfg["sft"]  # from_dict does not fill its argument
    assert study.seed == 1234 and study.seeds == (1234,) and study.replicate_scope == "full"
    assert study.sft.contamination.threshold == 0.9  # section absent: the schema's defaults
    assert study.sft.contamination.ngram == 5 and study.sft.contamination.num_perm == 128
    assert study.analysis.metrics == ("score", "continuous")
    assert study.analysis.noise_floor is False and study.analysis.covariates is None
    assert study.threads.corpus == 8 and study.threads.translate == 1
    assert study.threads.train == 1 and study.threads.evaluate == 1
    assert study.evaluate.batch_size == 16 and study.evaluate.max_new_tokens == 32
    assert study.evaluate.mt_source.comet_model is None
    assert study.translate["pmc_ja_mt"].shards == 4
    assert study.translate["ejmmt_en2ja"].shards == 1
    assert study.translate["ejmmt_en2ja"].output_field == "japanese"
    assert study.translate["pmc_ja_mt"].output_field is None
    assert study.parallel["parallel_abstracts"].seed == 7
    assert study.parallel["parallel_abstracts"].ja_id_suffix == ""
    assert study.token_budget == {"epochs": 3}  # train.cpt.epochs passes
    assert study.megatron_sequence_length == 128  # train.cpt.block_size
    assert study.corpus.max_repetitions == 8
    assert study.train.sft_backend == "hf" == study.train.backend
    assert study.world is not None
    with pytest.raises(AttributeError):
        study.seed = 1  # frozen


def test_study_config_optional_sections_off(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    for key in ("world", "sft", "translate", "parallel"):
        del cfg[key]
    cfg["sft_data"] = "sft.jsonl"
    del cfg["evaluate"]["mt_source"]
    cfg["corpus"] = {"token_budget": {"tokens": 1000}, "sequence_length": 64}
    study = StudyConfig.from_dict(cfg)
    assert study.world is None and study.sft is None
    assert study.translate == {} and study.parallel == {}
    assert study.evaluate.mt_source is None
    assert study.token_budget == {"tokens": 1000}
    assert study.megatron_sequence_length == 64


def test_mixture_parents_come_from_resolved_mixtures(demo_cfg):
    parents = mixture_parents(demo_cfg)
    assert parents == {"EnJa-Base": None, "JaDominant": "EnJa-Base", "EnDominant": "EnJa-Base",
                       "EnJa-Plus": "EnDominant", "EnJa-Balance": "EnDominant",
                       "EnJa-Hybrid": "EnJa-Balance"}
    assert StudyConfig.from_dict(demo_cfg).parents == parents
    cfg = copy.deepcopy(demo_cfg)
    cfg["mixtures"]["JaDominant"]["extends"] = "Nope"
    with pytest.raises(ConfigError, match="unknown mixture 'Nope'"):
        mixture_parents(cfg)


def test_replicate_seeds_default_seed_is_the_schemas(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    del cfg["seed"]
    cfg["replicates"] = {"n": 2}
    assert replicate_seeds(cfg) == [schema_default("seed"), schema_default("seed") + 1]
