"""One source of defaults: the library's literal defaults equal the schema's `default:` values.

Every module under src/cptmix is parsed with `ast`; the scanner collects literal defaults
(numbers, strings, bools) of keyword parameters, of annotated class attributes (dataclass
fields) and of `mapping.get("key", literal)` reads, and pairs each with the schema default of
the same config key: by an explicit mapping (module prefix, name) -> schema path, or else by a
leaf key name that is unambiguous in the schema (every default given for that name agrees).
Names that only look like a config key are listed in UNRELATED with the reason.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from studies import study_config

from cptmix.config import fill_defaults, load_config, schema_default, schema_defaults

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "cptmix"

# Names whose schema default depends on the section (or that are named differently in the
# library): (module prefix, name) -> schema path ("*" = any named entry).
EXPLICIT: dict[tuple[str, str], tuple[str, ...]] = {
    ("cptmix.prepare.translate", "batch_size"): ("translate", "*", "batch_size"),
    ("cptmix.prepare.translate", "max_new_tokens"): ("translate", "*", "max_new_tokens"),
    ("cptmix.prepare.parallel", "seed"): ("parallel", "*", "seed"),
    ("cptmix.evaluate", "batch_size"): ("evaluate", "batch_size"),
    ("cptmix.evaluate", "max_new_tokens"): ("evaluate", "max_new_tokens"),
    ("cptmix.train", "seed"): ("seed",),
    ("cptmix.analyze", "replicate_scope"): ("replicates", "scope"),
    ("cptmix.analyze", "require_noise_floor"): ("analysis", "noise_floor"),
    ("cptmix.analyze", "noise_floor"): ("analysis", "noise_floor"),
    ("cptmix.design", "method"): ("design", "sweep", "method"),
    ("cptmix.design", "alpha"): ("design", "sweep", "alpha"),
}

# Generic names whose only schema default belongs to one section (the design block's
# `design.sweep.method`, `design.objective.metric`): a library parameter of that name elsewhere
# (the evaluation's scoring method, the analysed metric) is a different setting, so these pair
# only through EXPLICIT.
SECTION_ONLY = {"method", "metric"}

# (module, function or class, name): why a default of that name is not the config key's.
UNRELATED: dict[tuple[str, str, str], str] = {
    ("cptmix.evaluate.translation_quality", "mt_quality", "id_field"):
        "the EJMMT records' id field (sample_id), not a translate or source field",
    ("cptmix.prepare.translate", "PerDocument", "batch_size"):
        "a per-document engine translates one document per call (a class constant)",
    ("cptmix.records", "task_data_path", "split"):
        "the JMedBench split evaluation reads (test), not sft.sources.*.split",
    ("cptmix.records", "load_records", "split"):
        "the JMedBench split evaluation reads (test), not sft.sources.*.split",
}

# Known differences between a library default and the schema: none (the hf backend's seed is
# required; the workflow passes the study seed). (module, owner, name) -> reason, as an xfail.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Default:
    module: str  # cptmix.prepare.sft
    owner: str  # function or class (qualified: Class.method), "" at module level
    name: str  # parameter, attribute or .get key
    value: object
    kind: str  # param | field | get
    path: str  # file relative to the repository
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _literal(node: ast.AST) -> tuple[bool, object]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False, None
    ok = isinstance(value, bool | int | float | str)
    return ok, value


def scan_source(source: str, module: str, path: str = "<string>") -> list[Default]:
    """Literal defaults of keyword parameters, class attributes and `.get(key, literal)`."""
    tree = ast.parse(source)
    found: list[Default] = []

    def visit(node: ast.AST, owner: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{owner}.{child.name}" if owner else child.name
                args = child.args
                positional = [*args.posonlyargs, *args.args]
                pairs = list(zip(positional[len(positional) - len(args.defaults):],
                                 args.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                          if d is not None]
                for arg, default in pairs:
                    ok, value = _literal(default)
                    if ok:
                        found.append(Default(module, name, arg.arg, value, "param", path,
                                             default.lineno))
                visit(child, name)
            elif isinstance(child, ast.ClassDef):
                name = f"{owner}.{child.name}" if owner else child.name
                for stmt in child.body:
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                            and stmt.value is not None:
                        ok, value = _literal(stmt.value)
                        if ok:
                            found.append(Default(module, name, stmt.target.id, value, "field",
                                                 path, stmt.lineno))
                    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                            and isinstance(stmt.targets[0], ast.Name):
                        ok, value = _literal(stmt.value)
                        if ok:
                            found.append(Default(module, name, stmt.targets[0].id, value,
                                                 "field", path, stmt.lineno))
                visit(child, name)
            else:
                if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                        and child.func.attr == "get" and len(child.args) == 2 \
                        and isinstance(child.args[0], ast.Constant) \
                        and isinstance(child.args[0].value, str):
                    ok, value = _literal(child.args[1])
                    if ok:
                        found.append(Default(module, owner, child.args[0].value, value, "get",
                                             path, child.lineno))
                visit(child, owner)

    visit(tree, "")
    return found


def scan_package(package: Path = PACKAGE) -> list[Default]:
    out = []
    for file in sorted(package.rglob("*.py")):
        rel = file.relative_to(SRC).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out += scan_source(file.read_text(encoding="utf-8"), module,
                           str(file.relative_to(ROOT)))
    return out


def _same(a, b) -> bool:
    return json.dumps(a) == json.dumps(b)  # 1 != 1.0 != True, "" != None


def leaf_defaults(defaults: dict[tuple[str, ...], object]) -> dict[str, object]:
    """Leaf key -> default, for the keys every schema default of which agrees."""
    by_key: dict[str, list[object]] = {}
    for path, value in defaults.items():
        if isinstance(value, dict | list):
            continue
        by_key.setdefault(path[-1], []).append(value)
    return {k: v[0] for k, v in by_key.items() if all(_same(v[0], x) for x in v)}


def pair(found: list[Default], defaults: dict[tuple[str, ...], object]
         ) -> list[tuple[Default, tuple[str, ...], object]]:
    """(library default, schema path, schema default) for every library default that names a
    config key with a schema default."""
    leaves = leaf_defaults(defaults)
    paths_by_key: dict[str, tuple[str, ...]] = {}
    for path in defaults:
        paths_by_key.setdefault(path[-1], path)
    out = []
    for d in found:
        if (d.module, d.owner.split(".")[0], d.name) in UNRELATED:
            continue
        explicit = next((p for (prefix, name), p in EXPLICIT.items()
                         if name == d.name and (d.module == prefix
                                                or d.module.startswith(prefix + "."))), None)
        if explicit is not None:
            out.append((d, explicit, defaults[explicit]))
        elif d.name in leaves and d.name not in SECTION_ONLY:
            out.append((d, paths_by_key[d.name], leaves[d.name]))
    return out


SCHEMA_DEFAULTS = schema_defaults()
PAIRS = pair(scan_package(), SCHEMA_DEFAULTS)


def _id(p) -> str:
    d = p[0]
    return f"{d.module}.{d.owner}:{d.name}={d.value!r}"


def _params():
    for p in PAIRS:
        d = p[0]
        reason = KNOWN_DIFFERENCES.get((d.module, d.owner.split(".")[0], d.name))
        marks = [pytest.mark.xfail(reason=f"{d.where}: {reason}", strict=True)] if reason else []
        yield pytest.param(p, id=_id(p), marks=marks)


@pytest.mark.parametrize("found", list(_params()))
def test_library_default_equals_schema(found):
    d, path, value = found
    assert _same(d.value, value), (
        f"{d.where}: {d.owner} {d.name}={d.value!r}, but the schema's {'.'.join(path)} "
        f"default is {value!r}")


def test_scanner_finds_the_known_pairs():
    """The scan is not vacuous: the contamination check's, the translate shard's, the parallel
    build's and the source reader's defaults are all compared."""
    got = {(d.module, d.name, ".".join(path)) for d, path, _ in PAIRS}
    for expected in [
        ("cptmix.prepare.sft", "threshold", "sft.contamination.threshold"),
        ("cptmix.prepare.sft", "ngram", "sft.contamination.ngram"),
        ("cptmix.prepare.sft", "num_perm", "sft.contamination.num_perm"),
        ("cptmix.prepare.sft", "chat_template", "sft.chat_template"),
        ("cptmix.prepare.contamination", "threshold", "sft.contamination.threshold"),
        ("cptmix.prepare.translate", "max_chars", "translate.*.max_chars"),
        ("cptmix.prepare.translate", "max_new_tokens", "translate.*.max_new_tokens"),
        ("cptmix.prepare.translate", "id_suffix", "translate.*.id_suffix"),
        ("cptmix.prepare.parallel", "ja_id_suffix", "parallel.*.ja_id_suffix"),
        ("cptmix.corpus.sources", "files_per_shard", "sources.*.files_per_shard"),
        ("cptmix.evaluate.runner", "batch_size", "evaluate.batch_size"),
        ("cptmix.evaluate.runner", "max_new_tokens", "evaluate.max_new_tokens"),
    ]:
        assert expected in got, f"scanner missed {expected}"
    assert len(PAIRS) >= 30


def test_scanner_catches_a_wrong_default():
    source = '''
from dataclasses import dataclass

def build(items, *, ngram: int = 5, threshold: float = 0.8, num_perm=128, other=3):
    return items

@dataclass
class Spec:
    max_chars: int = 300
    name: str = "x"

def read(spec):
    return spec.get("target_lang", "en"), spec.get("unknown_key", 1)
'''
    found = scan_source(source, "cptmix.prepare.fake")
    assert {(d.owner, d.name, d.value, d.kind) for d in found} >= {
        ("build", "threshold", 0.8, "param"), ("build", "ngram", 5, "param"),
        ("Spec", "max_chars", 300, "field"), ("read", "target_lang", "en", "get")}
    wrong = {(d.name, d.value, value) for d, _, value in pair(found, SCHEMA_DEFAULTS)
             if not _same(d.value, value)}
    assert wrong == {("threshold", 0.8, 0.9), ("max_chars", 300, 400), ("target_lang", "en", "ja")}


def test_scanner_keeps_ambiguous_names_out():
    """`seed` has two schema defaults (study 1234, parallel 0): without an explicit mapping a
    `seed` default is not compared, nor a name with no schema default."""
    found = scan_source("def f(seed: int = 7, lr: float = 1.0):\n    pass\n", "cptmix.demo.x")
    assert pair(found, SCHEMA_DEFAULTS) == []
    assert "seed" not in leaf_defaults(SCHEMA_DEFAULTS)


def test_exceptions_are_not_stale():
    """Every UNRELATED and KNOWN_DIFFERENCES entry still names a default the scan finds (and
    a known difference still differs: its xfail is strict)."""
    scanned = {(d.module, d.owner.split(".")[0], d.name) for d in scan_package()}
    for key in [*UNRELATED, *KNOWN_DIFFERENCES]:
        assert key in scanned, f"stale exception {key}: no such default any more"


def test_every_mapped_path_has_a_schema_default():
    for path in EXPLICIT.values():
        schema_default(*path)  # KeyError if the schema lost it


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml",
                                  "tests/config/overlay.yaml"])
def test_fill_defaults_matches_snakemake_validate(name):
    """What fill_defaults writes is exactly what Snakemake's `validate(config, schema)` writes
    (the jsonschema FAQ's extend-with-default), values and key order alike."""
    import copy

    from jsonschema import Draft202012Validator, validators

    from cptmix.config import load_schema

    def extend_with_default(cls):
        validate_properties = cls.VALIDATORS["properties"]

        def set_defaults(validator, properties, instance, schema):
            for prop, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(prop, sub["default"])
            yield from validate_properties(validator, properties, instance, schema)

        return validators.extend(cls, {"properties": set_defaults})

    cfg = study_config() if name.startswith("tests/") else load_config(ROOT / name)
    theirs = copy.deepcopy(cfg)
    extend_with_default(Draft202012Validator)(load_schema()).validate(theirs)
    ours = fill_defaults(copy.deepcopy(cfg))
    assert json.dumps(ours) == json.dumps(theirs)
