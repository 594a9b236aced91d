"""What a workflow job's code is, as one hash: its script and every cptmix module the script
can run.

Snakemake reruns a job whose script changed, but not one whose library code changed: after
an update of cptmix, results made by the old code would stay next to new ones. Each rule
records `code_hashes()[script]` as a param, so a change to a file a job can run reruns that
job (and what depends on its outputs), and a change elsewhere does not: a new figure reruns
the analysis, not the training.

What a file can run is over-approximated, never under: every `import` / `from ... import`
statement anywhere in it (inside functions too, whichever branch runs), the module behind a
name a package exports lazily (`lazy_exports`' `_EXPORTS`), every quoted string that names a
cptmix module (a backend chosen by name) and a package's `__main__` (`python -m package`).
The statements are found by a scan of the text, not by parsing it: the workflow computes these
hashes every time it is read (every `snakemake` call, every cluster job), and parsing the
library takes a third of a second where the scan takes milliseconds; an import named in a
comment or a docstring only makes the set larger. tests/test_code.py checks the scan against
the syntax tree of every module. Files are hashed byte for byte. Third-party libraries are not
hashed: constraints.txt pins them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "cptmix"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = rf"{_NAME}(?:\s*\.\s*{_NAME})*"
# `import a.b as c, d` (to the end of the logical line)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.MULTILINE)
# `from .a.b import x as y, z` / `from a import (x,\n y)`
_FROM = re.compile(rf"^[ \t]*from[ \t]+(\.*)[ \t]*({_DOTTED})?[ \t]+import[ \t]+"
                   rf"(\([^)]*\)|[^\n#;]+)", re.MULTILINE)
_QUOTED = re.compile(rf"""["']({PACKAGE}(?:\.{_NAME})+)["']""")
# _EXPORTS = {"name": "cptmix.module", ...} (cptmix.lazy_exports)
_EXPORTS = re.compile(r"^_EXPORTS[^=\n]*=\s*\{([^}]*)\}", re.MULTILINE)
_EXPORT_ITEM = re.compile(rf"""["']({_NAME})["']\s*:\s*["']({PACKAGE}(?:\.{_NAME})+)["']""")


def package_root() -> Path:
    """The directory holding the cptmix package that jobs import (the installed one)."""
    return Path(__file__).resolve().parent.parent


def module_path(root: Path, module: str) -> Path | None:
    """The file of `module` under `root` (a package: its __init__.py), or None."""
    base = root.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


@cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def _names(clause: str) -> list[str]:
    """The imported names of `x as y, z` / `(x,\\n y)` (a clause of `references`, whose
    line continuations are already joined)."""
    clause = clause.strip().strip("()")
    return [part.split()[0] for part in re.split(r"[,\s]*,[,\s]*", clause.strip(" ,\n"))
            if part.strip()]


def lazy_exports(source: str) -> dict[str, str]:
    """A package's `_EXPORTS` literal: exported name -> the module defining it."""
    found = _EXPORTS.search(source)
    return dict(_EXPORT_ITEM.findall(found.group(1))) if found else {}


def references(source: str, module: str, is_package: bool
               ) -> tuple[set[str], set[tuple[str, str]]]:
    """(modules named, (module, name) pairs of `from module import name`) in one file's text:
    import statements anywhere and quoted module names; relative imports resolved against
    `module` (a package's own name when `is_package`). Only cptmix modules are kept."""
    source = source.replace("\\\n", " ")
    # the lazy exports' modules count only for the names imported (`_direct`)
    modules = set(_QUOTED.findall(_EXPORTS.sub("", source)))
    names: set[tuple[str, str]] = set()
    for clause in _IMPORT.findall(source):
        modules.update(re.sub(r"\s+", "", n) for n in re.split(r"\s*,\s*", clause.strip())
                       for n in [n.split(" as ")[0]] if n)
    for dots, name, clause in _FROM.findall(source):
        name = re.sub(r"\s+", "", name or "")
        if dots:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[:len(parts) - len(dots) + 1]
            name = ".".join([*parts, *([name] if name else [])])
        modules.add(name)
        names.update((name, n) for n in _names(clause))
    keep = {m for m in modules if m.split(".")[0] == PACKAGE}
    return keep, {(m, n) for m, n in names if m.split(".")[0] == PACKAGE}


@cache
def _exports_of(package_file: Path) -> dict[str, str]:
    """`lazy_exports` of a package's __init__.py, scanned once per file."""
    return lazy_exports(_read(package_file).decode("utf-8"))


def _with_parents(module: str) -> list[str]:
    """`a.b.c` -> a, a.b, a.b.c: importing a module runs its packages' __init__ first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def _direct(root: Path, path: Path, module: str) -> frozenset[str]:
    """The cptmix modules that running `path` (module `module`) can import directly."""
    modules, names = references(_read(path).decode("utf-8"), module,
                                path.name == "__init__.py")
    found: set[str] = set()
    for name in modules:
        found.update(_with_parents(name))
    for package, name in names:
        sub = f"{package}.{name}"
        if module_path(root, sub):
            found.update(_with_parents(sub))  # `from package import submodule`
            continue
        package_file = module_path(root, package)
        if package_file and package_file.name == "__init__.py":
            target = _exports_of(package_file).get(name)
            if target:
                found.update(_with_parents(target))
    # a package run as a program (`python -m package`, a launcher's string) runs __main__
    found.update(f"{m}.__main__" for m in list(found)
                 if (root.joinpath(*m.split(".")) / "__main__.py").is_file())
    return frozenset(m for m in found if module_path(root, m))


def _reachable(root: Path, start: Iterable[str]) -> list[str]:
    """`start` and every cptmix module they can import, sorted."""
    todo = sorted(start)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(_direct(root, module_path(root, module), module) - seen)
    return sorted(seen)


def closure(script: str | Path, root: str | Path | None = None) -> list[str]:
    """Every cptmix module (sorted) that `script` can run, under the package `root`
    (default: the installed one)."""
    root = Path(root) if root else package_root()
    return _reachable(root, _direct(root, Path(script), "__main__"))


def _digest(files: Iterable[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, path in files:
        data = _read(path)
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def code_hash(script: str | Path, root: str | Path | None = None) -> str:
    """sha256 over `script` and the files of its `closure`, each named by its module."""
    root = Path(root) if root else package_root()
    return _digest([("__main__", Path(script)),
                    *((m, module_path(root, m)) for m in closure(script, root))])


def module_hash(module: str, root: str | Path | None = None) -> str:
    """sha256 over `module` and every cptmix module it can import: the code a resumable
    step runs (a training run's checkpoint holds it; a rerun with other code starts over)."""
    root = Path(root) if root else package_root()
    if module_path(root, module) is None:
        raise ValueError(f"{module}: not a module of {root}")
    return _digest((m, module_path(root, m)) for m in _reachable(root, _with_parents(module)))


def code_hashes(scripts: Iterable[str | Path], root: str | Path | None = None
                ) -> dict[str, str]:
    """{script file name without .py: `code_hash`} for each script."""
    return {Path(s).stem: code_hash(s, root) for s in scripts}
