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


def validate_schema(cfg: dict, schema_path: str | Path, where: str = "config") -> None:
    """JSON-Schema validation with one readable error (the CLI's equivalent of
    `snakemake.utils.validate`, which the Snakefile uses)."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        field = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{where}: field {field}: {err.message}")


def resolve_mixtures(cfg: dict, where: str = "config") -> dict[str, dict[str, float]]:
    """Flatten `extends` chains: mixture name -> {source: fraction}, in declaration order."""
    declared = cfg.get("mixtures") or {}
    resolved: dict[str, dict[str, float]] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> dict[str, float]:
        if name in resolved:
            return resolved[name]
        if name in stack:
            chain = " -> ".join((*stack, name))
            raise ConfigError(f"{where}: field mixtures.{stack[0]}.extends: cycle {chain}")
        spec = declared[name]
        parent = spec.get("extends")
        out: dict[str, float] = {}
        if parent is not None:
            if parent not in declared:
                raise ConfigError(
                    f"{where}: field mixtures.{name}.extends: unknown mixture {parent!r}")
            out = dict(resolve(parent, (*stack, name)))
        for i, entry in enumerate(spec.get("sources") or []):
            src, frac = entry["source"], float(entry["fraction"])
            field = f"mixtures.{name}.sources[{i}]"
            if not 0.0 <= frac <= 1.0:
                raise ConfigError(f"{where}: field {field}.fraction: {frac} is not in [0, 1]")
            if src in out and frac < out[src]:
                raise ConfigError(
                    f"{where}: field {field}.fraction: {name} extends {parent} but lowers "
                    f"{src} from {out[src]} to {frac}; an extension must be a superset")
            out[src] = frac
        resolved[name] = out
        return out

    for name in declared:
        resolve(name, ())
    return {name: resolved[name] for name in declared}


def check_config(cfg: dict, where: str = "config") -> None:
    """Cross-field checks that JSON Schema cannot express. Raises ConfigError."""
    sources = cfg.get("sources") or {}
    for name, spec in sources.items():
        if not NAME_RE.match(name):
            raise ConfigError(f"{where}: field sources.{name}: name must match {NAME_RE.pattern}")
        if spec.get("lang") not in (*LANGS, "document"):
            raise ConfigError(f"{where}: field sources.{name}.lang: {spec.get('lang')!r} is "
                              f"not one of {(*LANGS, 'document')}")
    mixtures = cfg.get("mixtures") or {}
    if not mixtures:
        raise ConfigError(f"{where}: field mixtures: at least one mixture is required")
    for name, spec in mixtures.items():
        if not NAME_RE.match(name):
            raise ConfigError(f"{where}: field mixtures.{name}: name must match {NAME_RE.pattern}")
        if name == "base":
            raise ConfigError(f"{where}: field mixtures.base: 'base' names the model before CPT")
        for i, entry in enumerate(spec.get("sources") or []):
            if entry.get("source") not in sources:
                raise ConfigError(
                    f"{where}: field mixtures.{name}.sources[{i}].source: unknown source "
                    f"{entry.get('source')!r} (known: {', '.join(sources)})")
    for name, mix in resolve_mixtures(cfg, where).items():
        if not any(f > 0 for f in mix.values()):
            raise ConfigError(f"{where}: field mixtures.{name}: selects no data")
    pre = (cfg.get("base_model") or {}).get("pretrain_sources") or []
    for i, src in enumerate(pre):
        if src not in sources:
            raise ConfigError(
                f"{where}: field base_model.pretrain_sources[{i}]: unknown source {src!r}")
    covs = (cfg.get("analysis") or {}).get("covariates") or {}
    for stat, cov in covs.items():
        if stat not in STATISTICS:
            raise ConfigError(f"{where}: field analysis.covariates.{stat}: unknown statistic")
        for c in cov:
            if c not in STATISTICS or c == stat:
                raise ConfigError(
                    f"{where}: field analysis.covariates.{stat}: bad covariate {c!r}")
    from cptmix.tasks import TASK_NAMES

    tasks = (cfg.get("evaluate") or {}).get("tasks", "all")
    if tasks != "all":
        for t in tasks:
            if t not in TASK_NAMES:
                raise ConfigError(f"{where}: field evaluate.tasks: unknown task {t!r}")


def selected_tasks(cfg: dict) -> list[str]:
    from cptmix.tasks import TASK_NAMES

    tasks = (cfg.get("evaluate") or {}).get("tasks", "all")
    return list(TASK_NAMES) if tasks == "all" else [t for t in TASK_NAMES if t in set(tasks)]
