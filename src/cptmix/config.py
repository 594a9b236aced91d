"""Study configuration: loading, cross-field checks and mixture resolution.

First stage of the pipeline. The Snakefile validates the config against
`workflow/schemas/config.schema.yaml` (JSON Schema) and then calls `check_config`, which
adds the checks JSON Schema cannot express (mixtures reference known sources, `extends`
chains resolve without cycles, fractions in [0, 1], covariates name statistics). Every
error names the config file (when known) and the offending field.

Mixtures are declared as data, as in the paper's Fig. 2: a list of `(source, fraction)`
pairs, optionally extending another mixture. `resolve_mixtures` flattens `extends` so each
mixture becomes a `{source: fraction}` mapping; an extending mixture inherits its parent's
sources and may raise (never lower) a fraction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
STATISTICS = (
    "total_tokens", "ja_tokens", "en_tokens", "parallel_tokens",
    "ja_ratio", "en_ratio", "parallel_ratio",
)
LANGS = ("ja", "en", "parallel")


class ConfigError(ValueError):
    """A config value is wrong; the message names the file and the field."""


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return cfg


def _field(path) -> str:
    """JSON-Schema error path -> `mixtures.EnJa-Plus.sources[2].fraction`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_problems(cfg: dict, schema_path: str | Path) -> list[str]:
    """Every JSON-Schema violation, one line each, named by config path."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
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
        if name == "mixtures":
            problems.append("sources.mixtures: the name is taken by results/corpus/mixtures")
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
    tasks = (cfg.get("evaluate") or {}).get("tasks", "all")
    if tasks != "all":
        for i, t in enumerate(tasks):
            if t not in TASK_NAMES:
                problems.append(f"evaluate.tasks[{i}]: unknown task {t!r}")
    problems += _replicate_problems(cfg)
    return problems


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
    analysis = cfg.get("analysis") or {}
    if analysis.get("noise_floor") and len(set(seeds)) < 2:
        problems.append(f"analysis.noise_floor: a noise floor needs at least 2 seeds "
                        f"(replicates gives {len(set(seeds))}: {seeds}); add seeds to "
                        "replicates.seeds or set analysis.noise_floor: false")
    metrics = analysis.get("metrics", list(ANALYSIS_METRICS))
    for i, m in enumerate(metrics):
        if m not in ANALYSIS_METRICS:
            problems.append(f"analysis.metrics[{i}]: unknown metric {m!r} (the score tables "
                            f"have: {', '.join(ANALYSIS_METRICS)})")
    return problems


# Score columns the analysis can run on: the JMedBench metric (`score`, the headline) and the
# continuous metric beside it (`continuous`: gold-option log-probability / per-byte
# log-likelihood of the gold target), both written by the evaluate stage.
ANALYSIS_METRICS = ("score", "continuous")
REPLICATE_SCOPES = ("full", "sft")


def replicate_seeds(cfg: dict) -> list[int]:
    """The training seeds of the study's replicates, in order: `replicates.seeds`, or
    `replicates.n` consecutive seeds from `seed`, or just `seed` (one replicate)."""
    rep = cfg.get("replicates") or {}
    base = int(cfg.get("seed", 1234))
    if "seeds" in rep:
        return [int(s) for s in rep["seeds"]]
    return [base + k for k in range(int(rep.get("n", 1)))]


def replicate_scope(cfg: dict) -> str:
    """`full`: every seed trains its own CPT and SFT (training noise of both); `sft`: CPT once
    (the first seed), SFT per seed (SFT noise only: cheaper, and it says less)."""
    return str((cfg.get("replicates") or {}).get("scope", "full"))


def cpt_seed(cfg: dict, seed: int) -> int:
    """The seed of the CPT run that the SFT replicate `seed` starts from."""
    return replicate_seeds(cfg)[0] if replicate_scope(cfg) == "sft" else int(seed)


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

    tasks = (cfg.get("evaluate") or {}).get("tasks", "all")
    return list(TASK_NAMES) if tasks == "all" else [t for t in TASK_NAMES if t in set(tasks)]


def missing_inputs(cfg: dict, root: str | Path = ".") -> list[tuple[str, bool]]:
    """Input paths that do not exist and that no rule makes: (path, is_directory) pairs."""
    out: dict[str, bool] = {}
    for _, path, is_dir in external_inputs(cfg, root):
        if not (Path(root) / path).exists():
            out.setdefault(path, is_dir)
    return list(out.items())
