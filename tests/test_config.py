"""cptmix.config: schema, cross-field checks, mixture resolution."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from studies import study_config

from cptmix.config import (
    RESULT_PATHS,
    WORKING_SUFFIXES,
    ConfigError,
    StudyConfig,
    check_config,
    check_config_files,
    config_files_label,
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
    assert study.token_budget == {"epochs": 6}  # train.cpt.epochs passes
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


# --- Strict YAML: a repeated key is an error, never "the last one wins" ----------------------

def test_repeated_keys_name_the_key_both_lines_and_the_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("seed: 1\n"                                   # 1
                    "mixtures:\n"                                 # 2
                    "  A:\n"                                      # 3
                    "    sources: [{source: a, fraction: 1, fraction: 0.5}]\n"  # 4
                    "  B: {extends: A}\n"                         # 5
                    "  A:\n"                                      # 6
                    "    sources: []\n"                           # 7
                    "seed: 3\n")                                  # 8
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).splitlines() == [
        f"{path}: 3 problems:",
        ("  mixtures.A.sources[0]: key 'fraction' is repeated (lines 4 and 4); YAML would "
        "silently keep only the last"),
        "  mixtures: key 'A' is repeated (lines 3 and 6); YAML would silently keep only the last",
        ("  (top level): key 'seed' is repeated (lines 1 and 8); YAML would silently keep only "
        "the last")]


def test_strict_loader_keeps_merge_keys_and_equal_values_apart(tmp_path):
    path = tmp_path / "ok.yaml"
    # `<<` merges may be overridden (that is what they are for); the same key in two
    # different mappings is no repetition; 1 and "1" are different keys
    path.write_text("base: &b {lr: 1, epochs: 2}\ncpt:\n  <<: *b\n  lr: 3\nsft: {lr: 1}\n"
                    "m: {1: a, '1': b}\n")
    assert load_config(path) == {"base": {"lr": 1, "epochs": 2}, "cpt": {"lr": 3, "epochs": 2},
                                 "sft": {"lr": 1}, "m": {1: "a", "1": "b"}}
    path.write_text("m: {1: a, 1.0: b}\n")  # equal once read: one dict key, so repeated
    with pytest.raises(ConfigError, match=r"m: key 1.0 is repeated \(lines 1 and 1\)"):
        load_config(path)
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml",
                                  "config/replicates.yaml", "tests/config/overlay.yaml"])
def test_shipped_config_files_have_no_repeated_keys(path):
    assert load_config(ROOT / path) == yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_replicates_overlay_merged_over_the_demo_is_valid():
    from snakemake.utils import update_config

    cfg = load_config(ROOT / "config" / "config.yaml")
    update_config(cfg, load_config(ROOT / "config" / "replicates.yaml"))
    check_config(cfg, schema=SCHEMA)


def test_check_config_files_reads_every_file_strictly(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("seed: 1\n")
    (tmp_path / "b.yaml").write_text("train:\n  cpt: {}\n  cpt: {}\n")
    monkeypatch.chdir(tmp_path)
    check_config_files([tmp_path / "a.yaml"])
    with pytest.raises(ConfigError, match=r"^b.yaml: train: key 'cpt' is repeated \(lines 2 "
                                          r"and 3\)"):
        check_config_files([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_config_files_label(tmp_path):
    (tmp_path / "c").mkdir()
    assert config_files_label([tmp_path / "c" / "a.yaml", tmp_path / "b.yaml"],
                              cwd=tmp_path) == "c/a.yaml + b.yaml"
    assert config_files_label(["/elsewhere/x.yaml"], cwd=tmp_path) == "/elsewhere/x.yaml"
    assert config_files_label([]) == "config"


# --- Names against every path they form --------------------------------------------------------

def _mixture(cfg, name, frac=0.3):
    cfg["mixtures"][name] = {"sources": [{"source": "ja_base", "fraction": frac}]}


def _source(cfg, name):
    cfg["sources"][name] = {"path": "data/x.jsonl", "lang": "ja"}


NAME_CASES = [
    ("mixture ..", lambda c: _mixture(c, ".."),
     "mixtures: '..' is not a name but a path step"),
    ("mixture .", lambda c: _mixture(c, "."), "mixtures: '.' is not a name but a path step"),
    ("hidden source", lambda c: _source(c, ".ja"), "sources: '.ja' starts with '.'"),
    ("hidden translation", lambda c: c["translate"].update(
        {".t": {"input": "x.jsonl", "backend": "noisy"}}), "translate: '.t' starts with '.'"),
    ("mixtures differing in case", lambda c: _mixture(c, "enja-plus"),
     ("mixtures.enja-plus: forms results/corpus/mixtures/enja-plus, which collides with "
     "mixtures.EnJa-Plus's results/corpus/mixtures/EnJa-Plus (they differ only in letter case")),
    ("sources differing in case", lambda c: _source(c, "JA_BASE"),
     ("sources.JA_BASE: forms results/corpus/JA_BASE, which collides with sources.ja_base's "
     "results/corpus/ja_base (they differ only in letter case")),
    ("source named like the mixtures folder", lambda c: _source(c, "mixtures"),
     ("sources.mixtures: forms results/corpus/mixtures, which collides with the workflow's own "
     "results/corpus/mixtures (from results/corpus/mixtures/{mixture}/stats.json)")),
    ("source named like a corpus table", lambda c: _source(c, "composition.tsv"),
     ("sources.composition.tsv: forms results/corpus/composition.tsv, which collides with the "
     "workflow's own results/corpus/composition.tsv")),
    ("mixture named like the base's checkpoint", lambda c: _mixture(c, "base.partial"),
     ("mixtures.base.partial: forms results/models/cpt/base.partial, which collides with the "
     "workflow's own results/models/cpt/base.partial")),
    ("mixture Base", lambda c: _mixture(c, "Base"),
     ("mixtures.Base: forms results/models/cpt/Base, which collides with the workflow's own "
     "results/models/cpt/base (they differ only in letter case")),
    ("model named like an evaluation file", lambda c: _mixture(c, "mt_source_quality.json"),
     ("mixtures.mt_source_quality.json: forms results/eval/mt_source_quality.json, which "
     "collides with the workflow's own results/eval/mt_source_quality.json")),
    ("translation named like another's output", lambda c: c["translate"].update(
        {"pmc_ja_mt.jsonl": {"input": "x.jsonl", "backend": "noisy"}}),
     ("translate.pmc_ja_mt.jsonl: forms results/prepare/translate/pmc_ja_mt.jsonl, which "
     "collides with translate.pmc_ja_mt's results/prepare/translate/pmc_ja_mt.jsonl")),
    ("parallel sources differing in case", lambda c: c["parallel"].update(
        {"Parallel_Abstracts": {"pairs": "p.jsonl"}}),
     "parallel.Parallel_Abstracts: forms results/prepare/parallel/Parallel_Abstracts.jsonl"),
    # 251 characters + ".json" (stats.json's folder is fine; its log file is not): 255 is the limit
    ("name too long for a file", lambda c: _mixture(c, "m" * 252),
     (f"mixtures.{'m' * 252}: forms results/logs/mixture_stats/{'m' * 252}.log, whose last part "
     "is over 255 bytes")),
]


@pytest.mark.parametrize("name, mutate, phrase", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_names_are_checked_against_every_path_they_form(demo_cfg, name, mutate, phrase):
    with pytest.raises(ConfigError, match="^my.yaml: ") as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    assert phrase in str(err.value)
    assert len(str(err.value).splitlines()) == 1  # one problem, one message


def test_names_that_only_look_alike_pass(demo_cfg):
    def mutate(c):
        _mixture(c, "base-2")              # base's folder is "base", not a prefix match
        _mixture(c, "EnJa-Plus.v2", 0.4)   # ".v2" is no reserved suffix
        _source(c, "seed-1")               # results/corpus/seed-1: nothing else there
        c["translate"]["pmc_ja_mt.provenance"] = {"input": "x.jsonl", "backend": "noisy"}
        _mixture(c, "m" * 251, 0.5)        # + ".log" / ".tsv" = 255 bytes: the limit itself
    check_config(_broken(demo_cfg, mutate), schema=SCHEMA)


def _rule_path_literals():
    """(file, is f-string, text) of every results/ string literal in workflow/rules."""
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for line in smk.read_text(encoding="utf-8").splitlines():
            for m in re.finditer(r'(f?)"(results/[^"]*)"', line.split("#", 1)[0]):
                yield smk.name, m.group(1) == "f", m.group(2)


def _f_string_regex(text):
    """An f-string's text as a regex over RESULT_PATHS: `{{x}}` is the placeholder {x}, a
    replacement field `{expr}` any text within one path part; the f-string may be a folder
    the rules join more parts to (`f"results/corpus/mixtures/{wildcards.mixture}"`)."""
    out = ""
    for token in re.split(r"(\{\{\w+\}\}|\{[^{}]*\})", text):
        if token.startswith("{{"):
            out += re.escape(token[1:-1])
        elif token.startswith("{"):
            out += r"[^/]+"
        else:
            out += re.escape(token)
    return re.compile(out + "(/|$)")


def test_every_results_path_in_the_rules_is_in_the_name_check():
    literals = list(_rule_path_literals())
    assert len(literals) > 80  # the scan found the rules' paths
    for smk, is_f, text in literals:
        if is_f:
            assert any(_f_string_regex(text).match(p) for p in RESULT_PATHS), (smk, text)
        else:
            assert text in RESULT_PATHS, f"{smk}: {text} is missing from config.RESULT_PATHS"
    # and nothing listed is stale: each entry is in a rule, or a job's working path
    plain = {t for _, is_f, t in literals if not is_f}
    regexes = [_f_string_regex(t) for _, is_f, t in literals if is_f]
    for p in RESULT_PATHS:
        if p.endswith(WORKING_SUFFIXES):
            assert p.removesuffix(next(s for s in WORKING_SUFFIXES if p.endswith(s))) in plain
        else:
            assert p in plain or any(r.match(p) for r in regexes), f"{p}: in no rule"


def test_every_working_path_suffix_of_the_library_is_in_the_name_check():
    """`<output>.partial` and the like, which jobs create beside an output: a name that ends
    in one would collide with a neighbour's working directory."""
    found = set()
    for py in (ROOT / "src" / "cptmix").rglob("*.py"):
        found |= set(re.findall(r'(?:\.name|str\(\w+\))\s*\+\s*"(\.[\w.]+)"',
                                py.read_text(encoding="utf-8")))
    assert found == {".partial", ".partial.json", ".nemo"}
    assert set(WORKING_SUFFIXES) == found
    for p in RESULT_PATHS:  # every model directory has its checkpoint folder listed
        if p.startswith("results/models/") and p.endswith(("seed-{seed}", "cpt/base")):
            assert p + ".partial" in RESULT_PATHS, p


# --- Every task name, identical mixtures, megatron seeds ----------------------------------------

def test_task_names_in_every_section(demo_cfg):
    def mutate(c):
        spec = c["sft"]["sources"]["jmedbench_train"]
        spec["tasks"] = ["MedQA", "MedQA-Xx"]
        spec["contamination"]["against"] = ["JMMLU-Medical", "Igaku"]
        c["evaluate"]["tasks"] = ["NotATask"]

    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    assert str(err.value).splitlines()[1:] == [
        "  evaluate.tasks[0]: unknown task 'NotATask'",
        "  sft.sources.jmedbench_train.tasks[1]: unknown task 'MedQA-Xx'",
        "  sft.sources.jmedbench_train.contamination.against[1]: unknown task 'Igaku'"]


def test_identical_mixtures_are_an_error(demo_cfg):
    # EnDominant + pmc_ja_mt 0.5 and a 0 fraction of textbooks: EnJa-Plus exactly
    def mutate(c):
        c["mixtures"]["Copy"] = {"extends": "EnDominant", "sources": [
            {"source": "pmc_ja_mt", "fraction": 0.5}, {"source": "textbooks", "fraction": 0}]}

    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    assert str(err.value) == (
        "my.yaml: mixtures.Copy: selects exactly the same data as mixtures.EnJa-Plus "
        "(ja_base×1, en_base×1, parallel_abstracts×0.1, pmc_en×1, pmc_ja_mt×0.5); the analysis "
        "would count one design point twice")
    # a different fraction is a different mixture
    check_config(_broken(demo_cfg, lambda c: mutate(c) or c["mixtures"]["Copy"]["sources"][0]
                         .update(fraction=0.25)), schema=SCHEMA)


def _megatron(seed=None, replicates=None, sft_only=False, tensor=1):
    def mutate(c):
        if sft_only:
            c["train"]["sft"]["backend"] = "megatron"
        else:
            c["train"]["backend"] = "megatron"
        c["train"]["cpt"]["parallel"] = {"tensor": tensor}
        if seed is not None:
            c["seed"] = seed
        if replicates is not None:
            c["replicates"] = replicates
    return mutate


TORCH_LIMIT = 2**64 - 1 - 2718  # megatron-core: torch seed = seed + 2718 + tensor-parallel rank
SEED_CASES = [
    ("study seed over numpy's range", _megatron(seed=2**32),
     ("seed: 4294967296 is over 4294967295 (2**32 - 1), the largest seed "
     "numpy.random.RandomState takes")),
    ("replicate seed over torch's range", _megatron(replicates={"seeds": [1, TORCH_LIMIT + 1]}),
     (f"replicates.seeds[1]: seed {TORCH_LIMIT + 1} is over {TORCH_LIMIT}: megatron-core seeds "
     "torch")),
    ("tensor parallel lowers the limit", _megatron(replicates={"seeds": [TORCH_LIMIT]}, tensor=2),
     f"replicates.seeds[0]: seed {TORCH_LIMIT} is over {TORCH_LIMIT - 1}"),
    ("seed + n over torch's range (megatron SFT only)",
     _megatron(seed=TORCH_LIMIT, replicates={"n": 2}, sft_only=True),
     f"replicates.n: seed {TORCH_LIMIT + 1} is over {TORCH_LIMIT}"),
]


@pytest.mark.parametrize("name, mutate, phrase", SEED_CASES, ids=[c[0] for c in SEED_CASES])
def test_megatron_seed_limits(demo_cfg, name, mutate, phrase):
    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    assert str(err.value).startswith("my.yaml: ") and len(str(err.value).splitlines()) == 1
    assert phrase in str(err.value)


def _set(section: str, **values):
    """A mutation setting `values` in one training phase (base_model.train, train.cpt,
    train.sft, design.proxy.train) and, with `backend`, train.backend."""
    def mutate(c):
        if "backend" in values:
            c["train"]["backend"] = values.pop("backend")
        node = c
        for part in section.split("."):
            node = node.setdefault(part, {})
        node.update(values)
    return mutate


def _sweep(mutate):
    """`mutate` on the demo with config/sweep.yaml's design block."""
    def both(c):
        c["design"] = yaml.safe_load((ROOT / "config" / "sweep.yaml").read_text())["design"]
        mutate(c)
    return both


BACKEND_HP_CASES = [
    ("fp16 on hf CPT", _set("train.cpt", precision="fp16"),
     "train.cpt.precision: fp16 is not supported by the hf backend (fp32 or bf16)"),
    ("fp16 on the pre-training (always hf)", _set("base_model.train", precision="fp16"),
     "base_model.train.precision: fp16 is not supported by the hf backend (fp32 or bf16)"),
    ("fp16 in the proxy overrides", _sweep(_set("design.proxy.train", precision="fp16")),
     "design.proxy.train.precision: fp16 is not supported by the hf backend (fp32 or bf16)"),
    ("flash_attention on hf SFT", _set("train.sft", flash_attention=True),
     ("train.sft.flash_attention: a megatron/NeMo setting; the hf backend takes attention "
      "(sdpa or eager)")),
    ("eager attention on megatron", _set("train.cpt", backend="megatron", attention="eager"),
     ("train.cpt.attention: 'eager' is an hf-backend setting; the megatron backend takes "
      "flash_attention")),
]


@pytest.mark.parametrize("name, mutate, phrase", BACKEND_HP_CASES,
                         ids=[c[0] for c in BACKEND_HP_CASES])
def test_training_settings_a_backend_cannot_honour(demo_cfg, name, mutate, phrase):
    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, mutate), where="my.yaml", schema=SCHEMA)
    assert str(err.value) == f"my.yaml: {phrase}"


def test_training_settings_each_backend_takes(demo_cfg):
    check_config(_broken(demo_cfg, _set("train.cpt", precision="bf16", attention="eager")),
                 schema=SCHEMA)
    check_config(_broken(demo_cfg, _set("train.cpt", backend="megatron", precision="fp16",
                                        flash_attention=True)), schema=SCHEMA)
    assert schema_default("train", "cpt", "precision") == "bf16"
    assert schema_default("train", "sft", "attention") == "sdpa"


VERIFY_CASES = [
    ("a replicate seed", {"seeds": [7, 1234]},
     ("design.verify.seeds[1]: 1234 is a replicate seed; a verification seed adds a CPT run, "
      "so it must be another seed")),
    ("no proposal", {"seeds": [7]},
     "design.verify.seeds: there is no proposal to verify (design.propose is false)"),
]


@pytest.mark.parametrize("name, verify, phrase", VERIFY_CASES, ids=[c[0] for c in VERIFY_CASES])
def test_verification_seeds_are_new_seeds_of_a_proposal(demo_cfg, name, verify, phrase):
    def mutate(c):
        c["design"]["verify"] = verify
        if name == "no proposal":
            c["design"]["propose"] = False

    with pytest.raises(ConfigError) as err:
        check_config(_broken(demo_cfg, _sweep(mutate)), where="my.yaml", schema=SCHEMA)
    assert str(err.value) == f"my.yaml: {phrase}"


def test_verification_seeds_train_their_own_cpt_runs(demo_cfg):
    from cptmix.config import cpt_seed, cpt_seeds, verify_seeds

    def mutate(c):
        c["design"]["verify"] = {"seeds": [7, 8]}
        c["replicates"] = {"seeds": [1234, 1235], "scope": "sft"}

    cfg = _broken(demo_cfg, _sweep(mutate))
    check_config(cfg, schema=SCHEMA)
    cfg = with_defaults(cfg)
    assert verify_seeds(cfg) == [7, 8] and StudyConfig.from_dict(cfg).verify_seeds == (7, 8)
    assert cpt_seeds(cfg) == [1234]
    assert [cpt_seed(cfg, s) for s in (1234, 1235, 7, 8)] == [1234, 1234, 7, 8]
    assert verify_seeds(with_defaults(demo_cfg)) == []  # no design block


def test_megatron_seed_limits_cover_verification_seeds(demo_cfg):
    def mutate(c):
        _megatron()(c)
        c["design"]["verify"] = {"seeds": [TORCH_LIMIT + 1]}

    with pytest.raises(ConfigError, match=r"design.verify.seeds\[0\]: seed \d+ is over"):
        check_config(_broken(demo_cfg, _sweep(mutate)), schema=SCHEMA)


def test_megatron_seed_limits_are_the_limits(demo_cfg):
    check_config(_broken(demo_cfg, _megatron(seed=2**32 - 1)), schema=SCHEMA)
    check_config(_broken(demo_cfg, _megatron(replicates={"seeds": [TORCH_LIMIT]})), schema=SCHEMA)
    # megatron SFT only: the study seed shuffles no megatron dataset, so only torch's limit
    check_config(_broken(demo_cfg, _megatron(seed=2**40, sft_only=True)), schema=SCHEMA)
    check_config(_broken(demo_cfg, lambda c: c.update(seed=2**40)), schema=SCHEMA)  # hf


def _objects(node, path=()):
    """(path, mapping) of every mapping in a config, outermost first."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, (*path, i))


def _dotted(path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
                   for i, p in enumerate(path))


@pytest.mark.parametrize("files", [["config/config.yaml"], ["config/paper.yaml"],
                                   ["config/config.yaml", "config/sweep.yaml"],
                                   ["config/paper.yaml", "config/paper_sweep.yaml"]])
def test_a_misspelt_key_in_any_section_is_an_error(files):
    """Every section of the shipped configs, at any depth, refuses a key it does not know
    (a misspelt `train.cpt.lrr` once trained at the default lr without a word), with one
    error naming the section; a map of named entries (sources, mixtures, world.docs, ...)
    refuses it as an entry it cannot be."""
    from cptmix.config import merge_config, selected_tasks
    from cptmix.design import DesignError, check_design

    def check(c):  # what the workflow checks before it plans (common.smk)
        check_config(c, where="my.yaml", schema=SCHEMA)
        check_design(c, selected_tasks(c), where="my.yaml")

    cfg = load_config(ROOT / files[0])
    for overlay in files[1:]:
        cfg = merge_config(cfg, load_config(ROOT / overlay))
    check(cfg)
    sections = list(_objects(cfg))
    assert len(sections) > 30, len(sections)
    for path, _ in sections:
        broken = copy.deepcopy(cfg)
        target = broken
        for part in path:
            target = target[part]
        target["misspelt_key"] = 1
        with pytest.raises((ConfigError, DesignError)) as err:
            check(broken)
        assert _dotted(path) in str(err.value) or not path, (path, str(err.value))


def test_every_schema_object_is_closed():
    """The schema's own structure: every object that lists its keys refuses others
    (additionalProperties or, where an allOf/$ref brings keys in, unevaluatedProperties), and
    the open hyper-parameter definition is closed at every place it is used."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    open_defs = {"#/$defs/hyperparameters"}
    problems = []

    def closed(node):
        return node.get("additionalProperties") is not None and \
            node.get("additionalProperties") is not True or \
            node.get("unevaluatedProperties") is False or "patternProperties" in node

    def walk(node, path, inside_closed=False):
        if isinstance(node, dict):
            if node.get("$ref") in open_defs and not (closed(node) or inside_closed):
                problems.append(f"{path}: {node['$ref']} used without unevaluatedProperties")
            if "properties" in node and not (closed(node) or inside_closed) \
                    and not path.startswith("/$defs/"):
                problems.append(f"{path}: open object")
            for key, value in node.items():
                if key in ("if", "not"):  # conditions, not objects a config fills
                    continue
                walk(value, f"{path}/{key}",
                     inside_closed=key == "allOf" and node.get("unevaluatedProperties") is False)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", inside_closed)

    walk(schema, "")
    assert not problems, problems


def test_world_docs_names_the_generators_sources():
    """The schema's world.docs source names (a config check before anything runs) are the
    world generator's (`cptmix.demo.generate.SOURCES`, which check_world_config uses): one list
    written twice, kept equal here."""
    from cptmix.demo.generate import SOURCES

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    docs = schema["properties"]["world"]["properties"]["docs"]
    assert docs["propertyNames"]["enum"] == list(SOURCES)
