"""Study configuration: loading, cross-field checks and mixture resolution.

First stage of the pipeline. Config files are read strictly (`load_config`: a mapping key
repeated anywhere is an error naming both lines; the workflow re-reads every file Snakemake
was given). The Snakefile validates the config against `workflow/schemas/config.schema.yaml`
(JSON Schema) and then calls `check_config`, which adds the checks JSON Schema cannot express
(mixtures reference known sources, `extends` chains resolve without cycles, fractions in
[0, 1], covariates name statistics, every task name is known, no two mixtures select the same
data, names are safe in every path they form under results/ (`RESULT_PATHS`), seeds fit the
megatron backend). Every error names the config file (when known) and the offending field.

Mixtures are declared as data, as in the paper's Fig. 2: a list of `(source, fraction)`
pairs, optionally extending another mixture. `resolve_mixtures` flattens `extends` so each
mixture becomes a `{source: fraction}` mapping; an extending mixture inherits its parent's
sources and may raise (never lower) a fraction.

Defaults have one source: the schema's `default:` values. `fill_defaults` writes them into a
config (as Snakemake's `validate` does, and only where the schema says: a section's defaults
only when the section is there); `StudyConfig.from_dict` is the typed, frozen view the rules
and scripts read values from, never restating a default.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import yaml

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
STATISTICS = (
    "total_tokens", "ja_tokens", "en_tokens", "parallel_tokens",
    "ja_ratio", "en_ratio", "parallel_ratio",
)
LANGS = ("ja", "en", "parallel")


# The study's JSON Schema (in the repository beside the workflow, as `cptmix check-config`
# reads it): the shape of a config and the one source of its defaults.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is wrong; the message names the file and the field."""


# libyaml's parser where PyYAML was built with it (the pinned wheel is): the same documents,
# parsed ~10 x faster, which the workflow pays at every start (config files and the schema).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SAFE_LOADER):
    """PyYAML's safe loader that records repeated mapping keys instead of letting the last
    one silently win (YAML requires unique keys; PyYAML does not check)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[yaml.Node, Any, int, int]] = []  # mapping, key, lines

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` keys may be overridden: that is what they are for
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        self.repeated.append((node, key, first[key], line))
                    else:
                        first[key] = line
                except TypeError:
                    continue  # an unhashable key: the constructor itself reports it
        return super().construct_mapping(node, deep=deep)


def _mapping_paths(node: yaml.Node, path: str, out: dict[int, str]) -> dict[int, str]:
    """id(mapping node) -> its config path (`mixtures.EnJa-Plus`), for the messages."""
    if id(node) in out:
        return out  # an alias: named where it was defined
    if isinstance(node, yaml.MappingNode):
        out[id(node)] = path
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            _mapping_paths(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(node, yaml.SequenceNode):
        out[id(node)] = path
        for i, value in enumerate(node.value):
            _mapping_paths(value, f"{path}[{i}]", out)
    return out


def load_yaml_strict(path: str | Path, where: str | None = None) -> Any:
    """A YAML file's data, refusing what a plain `yaml.safe_load` lets through: a mapping key
    repeated anywhere (every one reported, with both lines). Errors are ConfigErrors naming
    the file (as `where`, default the path)."""
    path = Path(path)
    where = where or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") \
            from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if loader.repeated:
        fields = _mapping_paths(node, "", {})
        problems = []
        for mapping, key, first, again in sorted(loader.repeated, key=lambda r: r[3]):
            field = fields.get(id(mapping)) or "(top level)"
            problems.append(f"{field}: key {key!r} is repeated (lines {first} and {again}); "
                            f"YAML would silently keep only the last")
        _raise(problems, where)
    return data


def load_config(path: str | Path, where: str | None = None) -> dict[str, Any]:
    """One config file, read strictly (`load_yaml_strict`); the top level must be a mapping.
    Errors name the file as `where` (default: the path)."""
    cfg = load_yaml_strict(path, where)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where or path}: top level must be a mapping")
    return cfg


def merge_config(base: dict, overlay: Mapping) -> dict:
    """`overlay` merged into `base` in place the way Snakemake merges `--configfile A B`
    (snakemake.utils.update_config): mappings key by key, recursively; anything else
    replaced."""
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
    return base


def load_configs(paths: Sequence[str | Path]) -> tuple[dict[str, Any], str]:
    """Several config files read strictly and merged in order, as the workflow sees
    `--configfile A B`; also their label for messages (`config_files_label`)."""
    if not paths:
        raise ConfigError("no config file given")
    cfg: dict[str, Any] = {}
    for path in paths:
        merge_config(cfg, load_config(path, where=config_files_label([path])))
    return cfg, config_files_label(paths)


def check_config_files(paths) -> None:
    """Read every config file strictly (Snakemake reads --configfile leniently: a repeated
    key there silently keeps the last value), so the first bad one raises its ConfigError,
    naming the file as `config_files_label` does."""
    for path in paths:
        load_config(path, where=config_files_label([path]))


def config_files_label(paths, cwd: str | Path | None = None) -> str:
    """How messages name a study given as config files: `config/config.yaml`, or
    `config/config.yaml + tests/config/overlay.yaml` (relative to `cwd` where inside it)."""
    import os

    cwd = Path(cwd or os.getcwd()).resolve()
    names = []
    for p in paths:
        p = Path(p)
        try:
            names.append(str(p.resolve().relative_to(cwd)))
        except ValueError:
            names.append(str(p))
    return " + ".join(names) or "config"


def _field(path) -> str:
    """JSON-Schema error path -> `mixtures.EnJa-Plus.sources[2].fraction`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_problems(cfg: dict, schema_path: str | Path) -> list[str]:
    """Every JSON-Schema violation, one line each, named by config path."""
    import jsonschema

    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_field(e.absolute_path)}: {e.message}" for e in errors]


def validate_schema(cfg: dict, schema_path: str | Path, where: str = "config") -> None:
    """JSON-Schema validation reporting all problems at once."""
    _raise(schema_problems(cfg, schema_path), where)


def _raise(problems: list[str], where: str) -> None:
    if len(problems) == 1:
        raise ConfigError(f"{where}: {problems[0]}")
    if problems:
        lines = "\n  ".join(problems)
        raise ConfigError(f"{where}: {len(problems)} problems:\n  {lines}")


def _resolve(cfg: dict, problems: list[str]) -> dict[str, dict[str, float]]:
    declared = cfg.get("mixtures") or {}
    resolved: dict[str, dict[str, float]] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> dict[str, float]:
        if name in resolved:
            return resolved[name]
        if name in stack:
            problems.append(f"mixtures.{stack[0]}.extends: cycle {' -> '.join((*stack, name))}")
            return {}
        spec = declared[name]
        parent = spec.get("extends")
        out: dict[str, float] = {}
        if parent is not None:
            if parent in declared:
                out = dict(resolve(parent, (*stack, name)))
            else:
                problems.append(f"mixtures.{name}.extends: unknown mixture {parent!r}")
        for i, entry in enumerate(spec.get("sources") or []):
            src, frac = entry.get("source"), float(entry.get("fraction", 0.0))
            field = f"mixtures.{name}.sources[{i}]"
            if not 0.0 <= frac <= 1.0:
                problems.append(f"{field}.fraction: {frac} is not in [0, 1]")
            elif src in out and frac < out[src]:
                problems.append(
                    f"{field}.fraction: {name} extends {parent} but lowers {src} from "
                    f"{out[src]} to {frac}; an extension must be a superset")
            out[src] = frac
        resolved[name] = out
        return out

    for name in declared:
        resolve(name, ())
    return {name: resolved[name] for name in declared}


def resolve_mixtures(cfg: dict, where: str = "config") -> dict[str, dict[str, float]]:
    """Flatten `extends` chains: mixture name -> {source: fraction}, in declaration order."""
    problems: list[str] = []
    mixtures = _resolve(cfg, problems)
    _raise(problems, where)
    return mixtures


def cross_field_problems(cfg: dict) -> list[str]:
    """The checks JSON Schema cannot express, every problem at once."""
    from cptmix.tasks import TASK_NAMES

    problems: list[str] = []
    sources = cfg.get("sources") or {}
    for name, spec in sources.items():
        if not NAME_RE.match(name):
            problems.append(f"sources.{name}: name must match {NAME_RE.pattern}")
        if spec.get("lang") not in (*LANGS, "document"):
            problems.append(f"sources.{name}.lang: {spec.get('lang')!r} is not one of "
                            f"{(*LANGS, 'document')}")
        if spec.get("format") == "text" and spec.get("lang") == "document":
            problems.append(f"sources.{name}.lang: a plain-text directory has no per-document "
                            f"language field; give ja, en or parallel")
        for field, path in _source_paths(name, spec):
            if any(c in path for c in "{}"):
                problems.append(f"{field}: {path!r} contains braces (the workflow would read "
                                f"them as wildcards)")
            elif produced_by_workflow(path) and is_glob(path):
                problems.append(f"{field}: {path!r} is a glob under results/; a file the "
                                f"workflow makes must be named exactly")
    mixtures = cfg.get("mixtures") or {}
    if not mixtures:
        problems.append("mixtures: at least one mixture is required")
    for name, spec in mixtures.items():
        if not NAME_RE.match(name):
            problems.append(f"mixtures.{name}: name must match {NAME_RE.pattern}")
        if name == "base":
            problems.append("mixtures.base: 'base' names the model before CPT")
        for i, entry in enumerate(spec.get("sources") or []):
            if entry.get("source") not in sources:
                problems.append(f"mixtures.{name}.sources[{i}].source: unknown source "
                                f"{entry.get('source')!r} (known: {', '.join(sources)})")
    for name, mix in _resolve(cfg, problems).items():
        if mixtures.get(name, {}).get("sources") is not None and not any(
                f > 0 for f in mix.values()):
            problems.append(f"mixtures.{name}: selects no data (every fraction is 0)")
    for i, src in enumerate((cfg.get("base_model") or {}).get("pretrain_sources") or []):
        if src not in sources:
            problems.append(f"base_model.pretrain_sources[{i}]: unknown source {src!r}")
    for stat, cov in ((cfg.get("analysis") or {}).get("covariates") or {}).items():
        if stat not in STATISTICS:
            problems.append(f"analysis.covariates.{stat}: unknown statistic "
                            f"(known: {', '.join(STATISTICS)})")
        for c in cov:
            if c not in STATISTICS or c == stat:
                problems.append(f"analysis.covariates.{stat}: bad covariate {c!r}")
    for field, tasks in _task_lists(cfg):
        for i, t in enumerate(tasks):
            if t not in TASK_NAMES:
                problems.append(f"{field}[{i}]: unknown task {t!r}")
    problems += _identical_mixture_problems(cfg)
    problems += name_problems(cfg)
    problems += _replicate_problems(cfg)
    problems += megatron_seed_problems(cfg)
    problems += backend_hp_problems(cfg)
    return problems


def _task_lists(cfg: dict) -> list[tuple[str, list]]:
    """(config field, task names) of every list of JMedBench task names in a config ("all"
    stands for every task and is not listed): evaluate.tasks, and per SFT source its tasks
    and contamination.against."""
    found = [("evaluate.tasks", (cfg.get("evaluate") or {}).get("tasks"))]  # absent: all
    for name, spec in ((cfg.get("sft") or {}).get("sources") or {}).items():
        found.append((f"sft.sources.{name}.tasks", spec.get("tasks")))
        found.append((f"sft.sources.{name}.contamination.against",
                      (spec.get("contamination") or {}).get("against")))
    return [(field, list(tasks)) for field, tasks in found if isinstance(tasks, list)]


def _identical_mixture_problems(cfg: dict) -> list[str]:
    """Two mixtures that select the same data (fractions of 0 select nothing) would be one
    design point counted twice by the analysis."""
    problems: list[str] = []
    first: dict[frozenset, str] = {}
    for name, mix in _resolve(cfg, []).items():
        selected = frozenset((s, f) for s, f in mix.items() if f > 0)
        if not selected:
            continue  # "selects no data": reported on its own
        if selected in first:
            parts = ", ".join(f"{s}×{f:g}" for s, f in mix.items() if f > 0)
            problems.append(f"mixtures.{name}: selects exactly the same data as "
                            f"mixtures.{first[selected]} ({parts}); the analysis would count "
                            f"one design point twice")
        else:
            first[selected] = name
    return problems


# --- Names and the paths they form ----------------------------------------------------------
# Every path under results/ that the rules write (outputs, logs, benchmarks, job files; in
# workflow/rules/*.smk) or that a job keeps beside its output while it runs (resumable
# checkpoints, NeMo's work directory, translation state). `{source}`, `{mixture}`,
# `{translation}`, `{parallel}` are config names and `{model}` is "base" or a mixture; the
# other placeholders ({shard} 00000.., {seed} an integer, {metric}, {name} of the demo world's
# fixed sources) never hold a config name. tests/test_config.py checks that every results/
# path written in the rules is listed here, so no rule's paths escape the name checks.
# Atomic writes also keep `.{file}.tmp-{pid}` beside each output: names may not start with ".".
RESULT_PATHS = (
    # world.smk (demo only)
    "results/world/sources/{name}.jsonl", "results/world/jmedbench",
    "results/world/parallel/abstract_pairs.jsonl", "results/world/sft_sources",
    "results/world/planted_effects.tsv", "results/world/world.json",
    "results/logs/generate_world/world.log", "results/benchmarks/generate_world/world.tsv",
    # prepare.smk
    "results/prepare/translate/{translation}/shards/{shard}.jsonl",
    "results/prepare/translate/{translation}/shards/{shard}.provenance.json",
    "results/prepare/translate/{translation}/shards/{shard}.jsonl.partial",
    "results/prepare/translate/{translation}/shards/{shard}.jsonl.partial.json",
    "results/logs/translate_shard/{translation}/{shard}.log",
    "results/benchmarks/translate_shard/{translation}/{shard}.tsv",
    "results/prepare/translate/{translation}.jsonl",
    "results/prepare/translate/{translation}.provenance.json",
    "results/logs/merge_translation/{translation}.log",
    "results/benchmarks/merge_translation/{translation}.tsv",
    "results/prepare/parallel/{parallel}.jsonl",
    "results/logs/build_parallel/{parallel}.log",
    "results/benchmarks/build_parallel/{parallel}.tsv",
    "results/prepare/sft/train.jsonl", "results/prepare/sft/stats.tsv",
    "results/prepare/sft/contamination.tsv", "results/prepare/sft/removed.jsonl",
    "results/logs/build_sft/sft.log", "results/benchmarks/build_sft/sft.tsv",
    # corpus.smk
    "results/tokenizer", "results/logs/train_tokenizer/tokenizer.log",
    "results/benchmarks/train_tokenizer/tokenizer.tsv",
    "results/corpus/{source}/{shard}/counts.tsv", "results/corpus/{source}/{shard}/counts.json",
    "results/logs/count_source/{source}/{shard}.log",
    "results/benchmarks/count_source/{source}/{shard}.tsv",
    "results/corpus/{source}/{shard}/tokens.bin", "results/corpus/{source}/{shard}/tokens.idx",
    "results/corpus/{source}/{shard}/provenance.json",
    "results/logs/index_source/{source}/{shard}.log",
    "results/benchmarks/index_source/{source}/{shard}.tsv",
    "results/corpus/mixtures/{mixture}/stats.json",
    "results/logs/mixture_stats/{mixture}.log", "results/benchmarks/mixture_stats/{mixture}.tsv",
    "results/corpus/mixtures/{mixture}/corpus.jsonl",
    "results/logs/build_mixture/{mixture}.log", "results/benchmarks/build_mixture/{mixture}.tsv",
    "results/corpus/mixtures/{mixture}/blend.json", "results/corpus/mixtures/{mixture}/ledger.tsv",
    "results/logs/ledger/{mixture}.log", "results/benchmarks/ledger/{mixture}.tsv",
    "results/corpus/mixtures/{mixture}/realised.json",
    "results/logs/realise_mixture/{mixture}.log",
    "results/benchmarks/realise_mixture/{mixture}.tsv",
    "results/corpus/mixtures/{mixture}/megatron_cache",
    "results/logs/build_index_cache/{mixture}.log",
    "results/benchmarks/build_index_cache/{mixture}.tsv",
    "results/corpus/composition.tsv", "results/corpus/design.txt",
    "results/logs/composition/composition.log", "results/benchmarks/composition/composition.tsv",
    # train.smk (+ the backends' working directories beside each model)
    "results/models/cpt/base", "results/models/cpt/base.partial",
    "results/logs/pretrain_base/base.log", "results/benchmarks/pretrain_base/base.tsv",
    "results/models/cpt/{mixture}/seed-{seed}", "results/models/cpt/{mixture}/seed-{seed}.partial",
    "results/logs/train_cpt/{mixture}/seed-{seed}.log",
    "results/logs/train_cpt/{mixture}/seed-{seed}.job.json",
    "results/benchmarks/train_cpt/{mixture}/seed-{seed}.tsv",
    "results/models/sft/{model}/seed-{seed}", "results/models/sft/{model}/seed-{seed}.partial",
    "results/models/sft/{model}/seed-{seed}.nemo",
    "results/logs/train_sft/{model}/seed-{seed}.log",
    "results/logs/train_sft/{model}/seed-{seed}.job.json",
    "results/benchmarks/train_sft/{model}/seed-{seed}.tsv",
    # evaluate.smk
    "results/eval/{model}/seed-{seed}", "results/eval/{model}/seed-{seed}/scores.tsv",
    "results/eval/{model}/seed-{seed}/items.tsv",
    "results/eval/{model}/seed-{seed}/scores.provenance.json",
    "results/eval/{model}/seed-{seed}/predictions",
    "results/logs/evaluate_model/{model}/seed-{seed}.log",
    "results/benchmarks/evaluate_model/{model}/seed-{seed}.tsv",
    "results/eval/mt_source_quality.json", "results/logs/score_mt_source/mt_source.log",
    "results/benchmarks/score_mt_source/mt_source.tsv",
    # analyze.smk: the design (config `design`)
    *(f"results/analysis/design/{name}" for name in (
        "surrogate_cv.tsv", "surrogates.tsv", "runs.tsv", "proposal.json", "surrogate.md",
        "planted_sweep_check.tsv", "verification.tsv", "verification.md", "verification.png",
        "verification.svg", "power.tsv", "surrogate_power.tsv", "power.md", "power.png",
        "power.svg", "reference.json")),
    "results/logs/choose_reference/design.log", "results/benchmarks/choose_reference/design.tsv",
    "results/logs/fit_surrogate/design.log", "results/benchmarks/fit_surrogate/design.tsv",
    "results/logs/sweep_power/design.log", "results/benchmarks/sweep_power/design.tsv",
    "results/logs/verify_proposal/design.log", "results/benchmarks/verify_proposal/design.tsv",
    # analyze.smk (one folder per metric; the metrics are fixed names)
    *(f"results/analysis/{{metric}}/{name}" for name in (
        "score_differences.tsv", "noise_floors.tsv", "contrasts.tsv", "averages.tsv",
        "correlations.tsv", "partial_correlations.tsv", "prediction.tsv", "provenance.tsv",
        "provenance.json", "summary.md", "planted_effects_check.tsv", "figures")),
    "results/logs/analyze/{metric}.log", "results/benchmarks/analyze/{metric}.tsv",
)
# What jobs append to an output's name for the working path beside it (listed in RESULT_PATHS
# where they occur): hf/megatron resumable checkpoints, NeMo's work directory, a translation
# shard's progress and state.
WORKING_SUFFIXES = (".partial", ".partial.json", ".nemo")
# Config sections whose names are placeholders of RESULT_PATHS.
NAMED_SECTIONS = {"source": "sources", "mixture": "mixtures", "translation": "translate",
                  "parallel": "parallel"}
MAX_COMPONENT_BYTES = 255  # one path component (file or folder name) on ext4, XFS, APFS, NTFS


def _config_names(cfg: dict) -> dict[str, list[tuple[str, str | None]]]:
    """placeholder -> (value, config field) of every config name it takes; the field is None
    for names the workflow itself gives (the base model)."""
    names = {kind: [(n, f"{section}.{n}") for n in (cfg.get(section) or {})]
             for kind, section in NAMED_SECTIONS.items()}
    names["model"] = [("base", None), *names["mixture"]]
    return names


def _formed_paths(cfg: dict):
    """(pattern, [(component, owner)]) of every path RESULT_PATHS forms with the config's
    names; a component's owner is the config field of the name in it (None: the workflow's)."""
    import itertools

    names = _config_names(cfg)
    for pattern in RESULT_PATHS:
        kinds = list(dict.fromkeys(k for k in re.findall(r"\{(\w+)\}", pattern) if k in names))
        for values in itertools.product(*(names[k] for k in kinds)):
            chosen = dict(zip(kinds, values, strict=True))
            parts = []
            for comp in pattern.split("/"):
                owner = None
                for kind, (value, field) in chosen.items():
                    if "{" + kind + "}" in comp:
                        comp, owner = comp.replace("{" + kind + "}", value), field or owner
                parts.append((comp, owner))
            yield pattern, parts


def name_problems(cfg: dict) -> list[str]:
    """Names that are unsafe as path components or collide with another path under results/:
    `.`, `..` and hidden names; a component that is one config name in one path and another
    name (or the workflow's own folder or file) in another, compared without letter case,
    as case-insensitive file systems (macOS, Windows) do; components over 255 bytes."""
    problems: list[str] = []
    for section in NAMED_SECTIONS.values():
        for name in cfg.get(section) or {}:
            if not isinstance(name, str) or not NAME_RE.match(name):
                continue  # reported by the name pattern check
            if name in (".", ".."):
                problems.append(f"{section}: {name!r} is not a name but a path step (it "
                                f"would place outputs outside their folder)")
            elif name.startswith("."):
                problems.append(f"{section}: {name!r} starts with '.' (a hidden file; the "
                                f"workflow's temporary files are named '.<file>.tmp-<pid>')")
    if problems:
        return problems  # the paths below would not mean what they say
    # (folder, component), both case-folded -> owner -> (the path, the pattern it comes from)
    seen: dict[tuple[str, str], dict[str | None, tuple[str, str]]] = {}
    long: dict[str, str] = {}
    for pattern, parts in _formed_paths(cfg):
        for depth, (comp, owner) in enumerate(parts):
            path = "/".join(c for c, _ in parts[:depth + 1])
            if owner is not None and len(comp.encode()) > MAX_COMPONENT_BYTES:
                long.setdefault(owner, path)
            key = ("/".join(c for c, _ in parts[:depth]).casefold(), comp.casefold())
            seen.setdefault(key, {}).setdefault(owner, (path, pattern))
    fields = [f for names in _config_names(cfg).values() for _, f in names if f is not None]
    rank = {f: i for i, f in enumerate(dict.fromkeys(fields))}
    reported: set[frozenset] = set()
    for owners in seen.values():
        listed = list(owners.items())  # in the order the paths were formed
        for j, (later, (path_l, pattern_l)) in enumerate(listed):
            for earlier, (path_e, pattern_e) in listed[:j]:
                pair = frozenset((earlier, later))
                if pair in reported or "mixtures.base" in pair:
                    continue  # mixtures.base: reported as the base model's name
                reported.add(pair)
                if later is None or (earlier is not None and rank[earlier] > rank[later]):
                    # the message names a config field first, the one declared later
                    later, path_l, earlier, path_e, pattern_e = \
                        earlier, path_e, later, path_l, pattern_l
                case = "" if path_l == path_e else \
                    " (they differ only in letter case: one path on case-insensitive file systems)"
                if earlier is None:
                    source = "" if pattern_e == path_e else f" (from {pattern_e})"
                    theirs = f"the workflow's own {path_e}{source}"
                else:
                    theirs = f"{earlier}'s {path_e}"
                problems.append(f"{later}: forms {path_l}, which collides with {theirs}{case}")
    for owner, path in long.items():
        problems.append(f"{owner}: forms {path}, whose last part is over {MAX_COMPONENT_BYTES} "
                        f"bytes (the file system limit)")
    return problems


# Seeds megatron-core can take. It shuffles the sample index of the study's data
# (BlendedMegatronDatasetConfig.random_seed = `seed`) with numpy.random.RandomState, which takes
# 0 .. 2**32 - 1; every training job seeds torch (0 .. 2**64 - 1) with its replicate seed and
# model_parallel_cuda_manual_seed adds 2718 + the tensor-parallel rank to it.
NUMPY_SEED_MAX = 2**32 - 1
TORCH_SEED_MAX = 2**64 - 1
MEGATRON_SEED_OFFSET = 2718


def megatron_seed_problems(cfg: dict) -> list[str]:
    """Seeds a megatron training job could not take, refused before anything runs."""
    train = cfg.get("train") or {}
    phases = [(p, train.get(p) or {}) for p in ("cpt", "sft")]
    megatron = [(p, hp) for p, hp in phases if _phase_backend(train, p) == "megatron"]
    if not megatron:
        return []
    problems = []
    seed = cfg.get("seed", schema_default("seed"))
    if train.get("backend") == "megatron" and isinstance(seed, int) and seed > NUMPY_SEED_MAX:
        problems.append(f"seed: {seed} is over {NUMPY_SEED_MAX} (2**32 - 1), the largest seed "
                        f"numpy.random.RandomState takes, which megatron-core's dataset "
                        f"shuffles with")
    tp = max(int((hp.get("parallel") or {}).get("tensor", 1)) for _, hp in megatron)
    limit = TORCH_SEED_MAX - MEGATRON_SEED_OFFSET - (tp - 1)
    rep = cfg.get("replicates") or {}
    if "seeds" in rep:
        fields = [(f"replicates.seeds[{i}]", s) for i, s in enumerate(rep["seeds"])]
    elif "n" in rep:
        fields = [("replicates.n", max(replicate_seeds(cfg)))]
    else:
        fields = [("seed", seed)] if not problems else []
    fields += [(f"design.verify.seeds[{i}]", s) for i, s in enumerate(
        ((cfg.get("design") or {}).get("verify") or {}).get("seeds") or [])]
    for field, value in fields:
        if isinstance(value, int) and value > limit:
            problems.append(f"{field}: seed {value} is over {limit}: megatron-core seeds "
                            f"torch (which takes up to 2**64 - 1) with the seed + "
                            f"{MEGATRON_SEED_OFFSET} + the tensor-parallel rank (tensor = {tp})")
    return problems


def backend_hp_problems(cfg: dict) -> list[str]:
    """Training settings a phase's backend cannot honour: fp16 or flash_attention on the hf
    backend (it trains fp32 or bf16, with `attention`), `attention: eager` on megatron or NeMo
    (they take flash_attention). The phases: base_model.train (pre-training, always hf),
    train.cpt and design.proxy.train (train.backend), train.sft (its own backend)."""
    train = cfg.get("train") or {}
    phases = [("base_model.train", "hf", (cfg.get("base_model") or {}).get("train")),
              ("train.cpt", _phase_backend(train, "cpt"), train.get("cpt")),
              ("design.proxy.train", _phase_backend(train, "cpt"),
               ((cfg.get("design") or {}).get("proxy") or {}).get("train")),
              ("train.sft", _phase_backend(train, "sft"), train.get("sft"))]
    problems = []
    for field, backend, hp in phases:
        if not isinstance(hp, Mapping):
            continue
        if backend == "hf" and hp.get("precision") == "fp16":
            problems.append(f"{field}.precision: fp16 is not supported by the hf backend "
                            f"(fp32 or bf16)")
        if backend == "hf" and hp.get("flash_attention"):
            problems.append(f"{field}.flash_attention: a megatron/NeMo setting; the hf backend "
                            f"takes attention (sdpa or eager)")
        if backend in ("megatron", "nemo") and hp.get("attention", "sdpa") != "sdpa":
            problems.append(f"{field}.attention: {hp['attention']!r} is an hf-backend setting; "
                            f"the {backend} backend takes flash_attention")
    return problems


def _phase_backend(train: dict, phase: str) -> str | None:
    """The backend of a training phase: train.sft.backend overrides train.backend for SFT."""
    if phase == "sft" and (train.get("sft") or {}).get("backend"):
        return train["sft"]["backend"]
    return train.get("backend")


def _replicate_problems(cfg: dict) -> list[str]:
    """Seeds and what the analysis asks of them (the schema has checked their shape)."""
    problems: list[str] = []
    rep = cfg.get("replicates") or {}
    if "seeds" in rep and "n" in rep:
        problems.append("replicates: give either seeds (a list) or n (a count), not both")
        return problems
    seeds = replicate_seeds(cfg)
    duplicates = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicates:
        problems.append(f"replicates.seeds: duplicate seed(s) {duplicates}; each replicate "
                        "needs its own seed")
    design = cfg.get("design") or {}
    extra = (design.get("verify") or {}).get("seeds") or []
    if extra and not design.get("propose", schema_default("design", "propose")):
        problems.append("design.verify.seeds: there is no proposal to verify (design.propose "
                        "is false)")
    for i, s in enumerate(extra):
        if s in seeds:
            problems.append(f"design.verify.seeds[{i}]: {s} is a replicate seed; a "
                            f"verification seed adds a CPT run, so it must be another seed")
    analysis = cfg.get("analysis") or {}
    if analysis.get("noise_floor") and len(set(seeds)) < 2:
        problems.append(f"analysis.noise_floor: a noise floor needs at least 2 seeds "
                        f"(replicates gives {len(set(seeds))}: {seeds}); add seeds to "
                        "replicates.seeds or set analysis.noise_floor: false")
    metrics = analysis.get("metrics", schema_default("analysis", "metrics"))
    for i, m in enumerate(metrics):
        if m not in ANALYSIS_METRICS:
            problems.append(f"analysis.metrics[{i}]: unknown metric {m!r} (the score tables "
                            f"have: {', '.join(ANALYSIS_METRICS)})")
    return problems


# Score columns the analysis can run on: the JMedBench metric (`score`, the headline) and the
# continuous metric beside it (`continuous`: gold-option z-score, margin or log-probability /
# per-byte log-likelihood of the gold target), both written by the evaluate stage.
ANALYSIS_METRICS = ("score", "continuous")
REPLICATE_SCOPES = ("full", "sft")


def replicate_seeds(cfg: dict) -> list[int]:
    """The training seeds of the study's replicates, in order: `replicates.seeds`, or
    `replicates.n` consecutive seeds from `seed`, or just `seed` (one replicate)."""
    rep = cfg.get("replicates") or {}
    base = int(cfg.get("seed", schema_default("seed")))
    if "seeds" in rep:
        return [int(s) for s in rep["seeds"]]
    return [base + k for k in range(int(rep.get("n", 1)))]


def replicate_scope(cfg: dict) -> str:
    """`full`: every seed trains its own CPT and SFT (training noise of both); `sft`: CPT once
    (the first seed), SFT per seed (SFT noise only: cheaper, and it says less)."""
    return str((cfg.get("replicates") or {}).get("scope", schema_default("replicates", "scope")))


def verify_seeds(cfg: dict) -> list[int]:
    """design.verify.seeds: the CPT-reseeded replicates of the proposed mixture and the best
    anchor (none without a design that proposes)."""
    design = cfg.get("design") or {}
    if not design or not design.get("propose", schema_default("design", "propose")):
        return []
    return [int(s) for s in (design.get("verify") or {}).get("seeds") or []]


def cpt_seed(cfg: dict, seed: int) -> int:
    """The seed of the CPT run that the SFT replicate `seed` starts from: under scope `sft`
    the first replicate seed, except for a verification seed (design.verify.seeds), which
    always trains its own CPT run."""
    if replicate_scope(cfg) == "sft" and int(seed) not in verify_seeds(cfg):
        return replicate_seeds(cfg)[0]
    return int(seed)


def cpt_seeds(cfg: dict) -> list[int]:
    """The seeds of independent CPT runs among the replicates: the first seed under scope
    `sft`, every replicate seed under `full`."""
    seeds = replicate_seeds(cfg)
    return seeds[:1] if replicate_scope(cfg) == "sft" else seeds


def produced_by_workflow(path: str) -> bool:
    """Paths under results/ are written by the workflow itself (e.g. the demo world)."""
    return Path(path).parts[:1] == ("results",)


def _source_paths(name: str, spec: dict) -> list[tuple[str, str]]:
    """(config field, path or glob) of a source: `path` is one string or a list."""
    paths = spec.get("path")
    if isinstance(paths, str):
        return [(f"sources.{name}.path", paths)]
    return [(f"sources.{name}.path[{i}]", p) for i, p in enumerate(paths or [])
            if isinstance(p, str)]


def _source_inputs(name: str, spec: dict, root: str | Path = ".") -> list[tuple[str, str, bool]]:
    """(field, file or directory, is_directory) a source reads: globs are expanded; a glob
    that matches nothing stands for itself (it is then missing)."""
    import glob as globmod

    is_dir = spec.get("format") == "text"
    out = []
    for field, pattern in _source_paths(name, spec):
        matches = sorted(globmod.glob(pattern, root_dir=root, recursive=True)) \
            if is_glob(pattern) else []
        out += [(field, m, is_dir or (Path(root) / m).is_dir()) for m in matches] or \
            [(field, pattern, is_dir)]
    return out


def is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def external_inputs(cfg: dict, root: str | Path = ".") -> list[tuple[str, str, bool]]:
    """(config field, path, is_directory) of every input the study reads but no rule makes."""
    found = [x for n, s in (cfg.get("sources") or {}).items() for x in _source_inputs(n, s, root)]
    found += [("tokenizer.path", (cfg.get("tokenizer") or {}).get("path"), True),
              ("base_model.path", (cfg.get("base_model") or {}).get("path"), True),
              ("evaluate.data_dir", (cfg.get("evaluate") or {}).get("data_dir"), True),
              ("sft_data", cfg.get("sft_data"), False)]
    found += _build_inputs(cfg)
    return [(f, p, d) for f, p, d in found if p and not produced_by_workflow(p)]


def _build_inputs(cfg: dict) -> list[tuple[str, str, bool]]:
    """What the build rules (translate, build_parallel, build_sft) read."""
    found = []
    data_dir = (cfg.get("evaluate") or {}).get("data_dir")
    for name, spec in (cfg.get("translate") or {}).items():
        path = spec.get("input")
        if data_dir and path and Path(data_dir) in Path(path).parents:
            path = None  # inside the evaluation data (EJMMT): covered by evaluate.data_dir
        found += [(f"translate.{name}.input", path, False),
                  (f"translate.{name}.model", spec.get("model"), True)]
    for name, spec in (cfg.get("parallel") or {}).items():
        found += [(f"parallel.{name}.{k}", spec.get(k), False) for k in ("pairs", "en", "ja")]
    for name, spec in ((cfg.get("sft") or {}).get("sources") or {}).items():
        found.append((f"sft.sources.{name}.path", spec.get("path"),
                      spec.get("format") == "jmedbench"))
    return found


def path_problems(cfg: dict, root: str | Path = ".") -> list[str]:
    """Input paths that must exist before anything runs (not those the workflow produces)."""
    root = Path(root)
    problems = [f"{field}: {path} " + ("matches no file" if is_glob(path) else "does not exist")
                for field, path, _ in external_inputs(cfg, root) if not (root / path).exists()]
    tok, model = (cfg.get("tokenizer") or {}).get("path"), (cfg.get("base_model") or {}).get("path")
    if tok and model and (root / model).is_dir() and (root / tok).is_dir():
        mine, theirs = root / tok / "tokenizer.json", root / model / "tokenizer.json"
        if mine.exists() and theirs.exists() and mine.read_bytes() != theirs.read_bytes():
            problems.append(f"tokenizer.path: {tok} differs from the tokenizer of base_model.path "
                            f"{model}; every stage must use the model's own tokenizer")
    return problems


def check_config(cfg: dict, where: str = "config", schema: str | Path | None = None,
                 check_paths: bool = False, root: str | Path = ".") -> None:
    """All checks, all problems reported at once in one ConfigError: the schema (when given;
    cross-field checks assume a well-shaped config, so they only run once it passes), the
    cross-field checks and, with `check_paths`, that the input files exist."""
    problems = schema_problems(cfg, schema) if schema else []
    if not problems:
        problems = cross_field_problems(cfg)
    if not problems and check_paths:
        problems = path_problems(cfg, root)
    _raise(problems, where)


def selected_tasks(cfg: dict) -> list[str]:
    from cptmix.tasks import TASK_NAMES

    tasks = (cfg.get("evaluate") or {}).get("tasks", schema_default("evaluate", "tasks"))
    return list(TASK_NAMES) if tasks == "all" else [t for t in TASK_NAMES if t in set(tasks)]


def missing_inputs(cfg: dict, root: str | Path = ".") -> list[tuple[str, bool]]:
    """Input paths that do not exist and that no rule makes: (path, is_directory) pairs."""
    out: dict[str, bool] = {}
    for _, path, is_dir in external_inputs(cfg, root):
        if not (Path(root) / path).exists():
            out.setdefault(path, is_dir)
    return list(out.items())


# --- Defaults: the schema's `default:` values, the one source -----------------------------------
@functools.lru_cache(maxsize=8)
def _schema_at(path: str) -> dict:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_SAFE_LOADER)


def load_schema(schema: str | Path | Mapping | None = None) -> dict:
    """The study schema (parsed once per path; do not modify it), or `schema` itself."""
    if isinstance(schema, Mapping):
        return dict(schema)
    return _schema_at(str(Path(schema or SCHEMA_PATH).resolve()))


def _deref(node: Any, root: Mapping) -> Any:
    """Follow local `$ref`s (`#/$defs/...`) to the schema they name."""
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"schema: only local $refs are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
    return node


def _is_valid(instance: Any, node: Mapping, root: Mapping) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(
        {**node, "$defs": root.get("$defs", {})}).is_valid(instance)


def _fill(instance: Any, node: Any, root: Mapping) -> None:
    """Fill `instance` in place with the defaults of `node` (JSON-Schema semantics: a
    property's default only inside an object that is there; the branch of a oneOf/anyOf or
    if/then/else only where it applies)."""
    node = _deref(node, root)
    if not isinstance(node, Mapping):
        return
    if isinstance(instance, dict):
        props = node.get("properties") or {}
        for key, sub in props.items():  # schema order, as Snakemake's validate fills them
            sub = _deref(sub, root)
            if key not in instance and isinstance(sub, Mapping) and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
        for key, sub in props.items():
            if key in instance:
                _fill(instance[key], sub, root)
        patterns = node.get("patternProperties") or {}
        extra = node.get("additionalProperties")
        for key, value in instance.items():
            if key in props:
                continue
            matched = [sub for pattern, sub in patterns.items() if re.search(pattern, key)]
            for sub in matched:
                _fill(value, sub, root)
            if not matched and isinstance(extra, Mapping):
                _fill(value, extra, root)
        for key, sub in (node.get("dependentSchemas") or {}).items():
            if key in instance:
                _fill(instance, sub, root)
    elif isinstance(instance, list):
        prefix = node.get("prefixItems") or []
        items = node.get("items")
        for i, value in enumerate(instance):
            if i < len(prefix):
                _fill(value, prefix[i], root)
            elif isinstance(items, Mapping):
                _fill(value, items, root)
    for sub in node.get("allOf") or []:
        _fill(instance, sub, root)
    for keyword in ("oneOf", "anyOf"):
        branches = node.get(keyword) or []
        valid = [sub for sub in branches if _is_valid(instance, _deref(sub, root), root)]
        for sub in valid:
            _fill(instance, sub, root)
    if "if" in node:
        branch = "then" if _is_valid(instance, _deref(node["if"], root), root) else "else"
        if branch in node:
            _fill(instance, node[branch], root)


def fill_defaults(cfg: dict, schema: str | Path | Mapping | None = None) -> dict:
    """Write the schema's defaults into `cfg` (in place; returns it) where the config omits
    them: top-level ones, those of sections that are there (a default inside `sft.contamination`
    only when that section is given; absent sections stay absent, e.g. `world`, `sft`,
    `translate`) and those of every named entry (`sources.*`, `translate.*`, `parallel.*`).
    Fills what Snakemake's `validate(config, schema)` fills; never a value without a schema
    default. Assumes a config that passed the schema (see `check_config`)."""
    root = load_schema(schema)
    _fill(cfg, root, root)
    return cfg


def with_defaults(cfg: Mapping, schema: str | Path | Mapping | None = None) -> dict:
    """A defaulted deep copy of `cfg` (the original is not changed)."""
    return fill_defaults(copy.deepcopy(dict(cfg)), schema)


def schema_node(*path: str, schema: str | Path | Mapping | None = None) -> dict:
    """The subschema of a config path: property names, `*` for a named entry (e.g.
    `schema_node("translate", "*")`); `allOf` parts are merged."""
    root = load_schema(schema)
    node = _deref(root, root)
    for part in path:
        parts = [node, *[_deref(s, root) for s in node.get("allOf") or []]]
        if part == "*":
            found = next((p["additionalProperties"] for p in parts
                          if isinstance(p.get("additionalProperties"), Mapping)), None)
        else:
            found = next((p["properties"][part] for p in parts
                          if part in (p.get("properties") or {})), None)
        if found is None:
            raise KeyError(f"schema has no {'.'.join(path)}")
        node = _deref(found, root)
    return node


def schema_default(*path: str, schema: str | Path | Mapping | None = None) -> Any:
    """The schema's default of one config key, e.g. `schema_default("seed")` (KeyError if
    the schema gives none)."""
    node = schema_node(*path, schema=schema)
    if "default" not in node:
        raise KeyError(f"schema gives no default for {'.'.join(path)}")
    return copy.deepcopy(node["default"])


def schema_defaults(schema: str | Path | Mapping | None = None) -> dict[tuple[str, ...], Any]:
    """Every default in the schema: config path (`*` for a named entry) -> value."""
    root = load_schema(schema)
    out: dict[tuple[str, ...], Any] = {}

    def walk(node: Any, path: tuple[str, ...], seen: tuple[str, ...]) -> None:
        if isinstance(node, Mapping) and "$ref" in node:
            if node["$ref"] in seen:
                return
            seen = (*seen, node["$ref"])
        node = _deref(node, root)
        if not isinstance(node, Mapping):
            return
        if "default" in node and path:
            out[path] = node["default"]
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, (*path, key), seen)
        if isinstance(node.get("additionalProperties"), Mapping):
            walk(node["additionalProperties"], (*path, "*"), seen)
        for sub in node.get("patternProperties", {}).values():
            walk(sub, (*path, "*"), seen)
        if isinstance(node.get("items"), Mapping):
            walk(node["items"], (*path, "[]"), seen)
        for keyword in ("allOf", "oneOf", "anyOf"):
            for sub in node.get(keyword) or []:
                walk(sub, path, seen)
        for keyword in ("then", "else"):
            if keyword in node:
                walk(node[keyword], path, seen)

    walk(root, (), ())
    return out


def _defaulted(section: Mapping | None, *path: str) -> dict:
    """A config section (absent: `{}`) with its schema defaults, for the typed view."""
    root = load_schema()
    out = copy.deepcopy(dict(section or {}))
    _fill(out, schema_node(*path), root)
    return out


def mixture_parents(cfg: Mapping, where: str = "config") -> dict[str, str | None]:
    """mixture -> the mixture it `extends` (None for none), in declaration order, after the
    `extends` chains resolved (an unknown parent or a cycle raises, as in resolve_mixtures)."""
    resolve_mixtures(dict(cfg), where)
    return {name: spec.get("extends") for name, spec in (cfg.get("mixtures") or {}).items()}


# --- The typed view the rules and scripts read (frozen; values from the defaulted config) ---------
@dataclass(frozen=True)
class ContaminationConfig:
    """`sft.contamination`: the near-duplicate check of the SFT set against evaluation."""

    ngram: int
    threshold: float
    num_perm: int

    @classmethod
    def from_dict(cls, d: Mapping | None) -> ContaminationConfig:
        d = _defaulted(d, "sft", "contamination")
        return cls(ngram=int(d["ngram"]), threshold=float(d["threshold"]),
                   num_perm=int(d["num_perm"]))


@dataclass(frozen=True)
class SftConfig:
    """`sft`: the SFT set built by build_sft (absent: the study gives `sft_data` instead)."""

    sources: Mapping[str, Any]
    chat_template: str
    contamination: ContaminationConfig

    @classmethod
    def from_dict(cls, d: Mapping) -> SftConfig:
        d = _defaulted(d, "sft")
        return cls(sources=d["sources"], chat_template=str(d["chat_template"]),
                   contamination=ContaminationConfig.from_dict(d.get("contamination")))


@dataclass(frozen=True)
class TranslateSpec:
    """One `translate.<name>` entry (cptmix.prepare.translate)."""

    input: str
    backend: str
    shards: int
    max_chars: int
    target_lang: str
    id_field: str
    text_field: str
    output_field: str | None  # None: the translation replaces text_field
    id_suffix: str
    num_beams: int
    max_new_tokens: int
    batch_size: int
    device: str
    model: str | None  # hf only
    prompt_template: str | None  # hf causal LMs only

    @classmethod
    def from_dict(cls, d: Mapping) -> TranslateSpec:
        d = _defaulted(d, "translate", "*")
        return cls(input=d["input"], backend=d["backend"], shards=int(d["shards"]),
                   max_chars=int(d["max_chars"]), target_lang=d["target_lang"],
                   id_field=d["id_field"], text_field=d["text_field"],
                   # optional, no default: absent = off / not used
                   output_field=d.get("output_field"), id_suffix=d["id_suffix"],
                   num_beams=int(d["num_beams"]), max_new_tokens=int(d["max_new_tokens"]),
                   batch_size=int(d["batch_size"]), device=d["device"],
                   model=d.get("model"), prompt_template=d.get("prompt_template"))


@dataclass(frozen=True)
class ParallelSpec:
    """One `parallel.<name>` entry (cptmix.prepare.parallel): `pairs`, or `en` + `ja`."""

    pairs: str | None
    en: str | None
    ja: str | None
    ja_id_suffix: str
    seed: int

    @classmethod
    def from_dict(cls, d: Mapping) -> ParallelSpec:
        d = _defaulted(d, "parallel", "*")
        # pairs / en + ja: one form or the other (schema oneOf), the other absent
        return cls(pairs=d.get("pairs"), en=d.get("en"), ja=d.get("ja"),
                   ja_id_suffix=d["ja_id_suffix"], seed=int(d["seed"]))


@dataclass(frozen=True)
class MtSourceConfig:
    """`evaluate.mt_source`: appendix B, the MT engine's translations against references."""

    hypotheses: str
    references: str
    comet_model: str | None  # optional: no COMET score without it

    @classmethod
    def from_dict(cls, d: Mapping) -> MtSourceConfig:
        d = _defaulted(d, "evaluate", "mt_source")
        return cls(hypotheses=d["hypotheses"], references=d["references"],
                   comet_model=d.get("comet_model"))


@dataclass(frozen=True)
class EvaluateConfig:
    data_dir: str
    tasks: str | tuple[str, ...]  # "all" or task names
    batch_size: int
    max_new_tokens: int | Mapping[str, int]  # one number, or per category {MT, NER}
    mt_source: MtSourceConfig | None  # absent = no appendix-B check
    scoring: str  # option scoring rule: "cptmix" or "medeval" (cptmix.evaluate.scoring)
    option_metric: str  # option tasks' continuous metric: "zscore", "margin" or "logprob"

    @classmethod
    def from_dict(cls, d: Mapping) -> EvaluateConfig:
        d = _defaulted(d, "evaluate")
        tasks = d["tasks"]
        return cls(data_dir=d["data_dir"], tasks=tasks if tasks == "all" else tuple(tasks),
                   batch_size=int(d["batch_size"]), max_new_tokens=d["max_new_tokens"],
                   mt_source=MtSourceConfig.from_dict(d["mt_source"])
                   if d.get("mt_source") is not None else None,
                   scoring=d["scoring"], option_metric=d["option_metric"])


@dataclass(frozen=True)
class AnalysisConfig:
    metrics: tuple[str, ...]
    covariates: Mapping[str, list[str]] | None  # None: the paper's default covariates
    noise_floor: bool

    @classmethod
    def from_dict(cls, d: Mapping | None) -> AnalysisConfig:
        d = _defaulted(d, "analysis")
        return cls(metrics=tuple(d["metrics"]), covariates=d.get("covariates"),
                   noise_floor=bool(d["noise_floor"]))


@dataclass(frozen=True)
class CorpusConfig:
    token_budget: Mapping[str, float] | None  # None: train.cpt.epochs passes (StudyConfig)
    max_repetitions: float | None  # None: no limit
    sequence_length: int | None  # None: train.cpt.block_size (StudyConfig)
    strict: bool  # empty documents are an error (else skipped and counted)

    @classmethod
    def from_dict(cls, d: Mapping | None) -> CorpusConfig:
        d = _defaulted(d, "corpus")
        return cls(token_budget=d.get("token_budget"), max_repetitions=d.get("max_repetitions"),
                   sequence_length=d.get("sequence_length"), strict=bool(d["strict"]))


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase's hyper-parameters: the values the rules read, and the whole
    (defaulted) mapping the training scripts get as `params.hp`."""

    epochs: int
    block_size: int | None  # CPT packing length; SFT uses max_length
    hp: Mapping[str, Any] = dataclass_field(repr=False)

    @classmethod
    def from_dict(cls, d: Mapping, *path: str) -> PhaseConfig:
        d = _defaulted(d, *path)
        return cls(epochs=int(d["epochs"]), block_size=d.get("block_size"), hp=d)


@dataclass(frozen=True)
class TrainConfig:
    backend: str
    sft_backend: str  # train.sft.backend, else train.backend
    cpt: PhaseConfig
    sft: PhaseConfig

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        d = _defaulted(d, "train")
        return cls(backend=d["backend"], sft_backend=d["sft"].get("backend", d["backend"]),
                   cpt=PhaseConfig.from_dict(d["cpt"], "train", "cpt"),
                   sft=PhaseConfig.from_dict(d["sft"], "train", "sft"))


@dataclass(frozen=True)
class ThreadsConfig:
    train: int
    evaluate: int
    corpus: int
    translate: int
    surrogate: int

    @classmethod
    def from_dict(cls, d: Mapping | None) -> ThreadsConfig:
        d = _defaulted(d, "threads")
        return cls(**{f.name: int(d[f.name]) for f in dataclass_fields(cls)})


@dataclass(frozen=True)
class StudyConfig:
    """The typed view of a checked config: `StudyConfig.from_dict(config)`. Every value
    comes from the config or the schema's default; optional sections whose absence means
    "off" are None (`sft`, `world`) or empty (`translate`, `parallel`)."""

    seed: int
    seeds: tuple[int, ...]  # replicate seeds (replicates.seeds / n, else (seed,))
    replicate_scope: str
    verify_seeds: tuple[int, ...]  # design.verify.seeds (empty: none, or no proposal)
    mixtures: Mapping[str, Mapping[str, float]]  # resolved: extends flattened
    parents: Mapping[str, str | None]  # mixture -> the mixture it extends
    world: Mapping[str, Any] | None  # the demo world; None for real corpora
    corpus: CorpusConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    analysis: AnalysisConfig
    threads: ThreadsConfig
    sft: SftConfig | None  # None: the study gives `sft_data`
    translate: Mapping[str, TranslateSpec]
    parallel: Mapping[str, ParallelSpec]

    @classmethod
    def from_dict(cls, cfg: Mapping, where: str = "config") -> StudyConfig:
        cfg = with_defaults(cfg)
        return cls(
            seed=int(cfg["seed"]), seeds=tuple(replicate_seeds(cfg)),
            replicate_scope=replicate_scope(cfg), verify_seeds=tuple(verify_seeds(cfg)),
            mixtures=resolve_mixtures(cfg, where), parents=mixture_parents(cfg, where),
            world=cfg.get("world"),  # absent = no demo world
            corpus=CorpusConfig.from_dict(cfg.get("corpus")),
            train=TrainConfig.from_dict(cfg["train"]),
            evaluate=EvaluateConfig.from_dict(cfg["evaluate"]),
            analysis=AnalysisConfig.from_dict(cfg.get("analysis")),
            threads=ThreadsConfig.from_dict(cfg.get("threads")),
            sft=SftConfig.from_dict(cfg["sft"]) if "sft" in cfg else None,
            translate={n: TranslateSpec.from_dict(s)
                       for n, s in (cfg.get("translate") or {}).items()},
            parallel={n: ParallelSpec.from_dict(s)
                      for n, s in (cfg.get("parallel") or {}).items()},
        )

    @property
    def token_budget(self) -> Mapping[str, float]:
        """Tokens trained per mixture: corpus.token_budget, else train.cpt.epochs passes."""
        budget = self.corpus.token_budget
        return dict(budget) if budget is not None else {"epochs": self.train.cpt.epochs}

    @property
    def megatron_sequence_length(self) -> int | None:
        """Megatron sample length: corpus.sequence_length, else the CPT block size."""
        length = self.corpus.sequence_length
        return length if length is not None else self.train.cpt.block_size
