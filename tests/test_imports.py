"""The library's import structure, read from the import statements themselves (`ast`, nothing
imported): every stage imports only the stages before it, and no module imports itself back
through any chain, function-level (lazy) imports included.

The stage order is the data flow of the study (README "Layout", ../shared/design.md):
config is a typed view of what the user wrote, `tasks` + `records` (the JMedBench registry and
record loaders) sit below the two stages that read records (`prepare` and `evaluate`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Each unit may import only units to its left (and itself).
STAGES = ("cptmix", "io", "code", "tasks", "records", "config", "design", "demo", "prepare",
          "corpus", "train", "evaluate", "analyze", "plan", "cli")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The cptmix modules `source` imports anywhere (module level or inside functions).

    `from P import name` is an import of the module P.name where that is a module, else of P
    (its __init__); relative imports are resolved against the module's package."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "cptmix")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "cptmix":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
    out.discard(module)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    paths = sorted((src / "cptmix").rglob("*.py"))
    modules = {module_name(p, src) for p in paths}
    return {module_name(p, src): imports(p.read_text(encoding="utf-8"), module_name(p, src),
                                         p.name == "__init__.py", modules)
            for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a path that starts and ends at the same module), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b` for every import of a later stage (or of a unit the order does not name)."""
    rank = {name: i for i, name in enumerate(STAGES)}
    bad = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            ra, rb = rank.get(stage(a)), rank.get(stage(b))
            if ra is None or rb is None or rb > ra:
                bad.append(f"{a} -> {b}")
    return bad


def test_every_library_unit_has_a_place_in_the_stage_order():
    units = {stage(m) for m in import_graph()}
    assert units <= set(STAGES), f"not in STAGES: {sorted(units - set(STAGES))}"


def test_stages_import_only_earlier_stages():
    assert backward_imports(import_graph()) == []


def test_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100  # the graph was really read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_library_never_imports_snakemake():
    hits = [str(p.relative_to(SRC)) for p in (SRC / "cptmix").rglob("*.py")
            if any(isinstance(n, (ast.Import, ast.ImportFrom))
                   and any((getattr(n, "module", None) or a.name).split(".")[0] == "snakemake"
                           for a in n.names)
                   for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert hits == []


def lazy_exports_named_like_modules(src: Path = SRC) -> list[str]:
    """`package.name` for every name a package's `_EXPORTS` (`cptmix.lazy_exports`) maps that
    is also one of its submodules: once anything imports that submodule, Python sets the
    package attribute to the module, and `from package import name` returns the module instead
    of the function, depending on what was imported before."""
    clashes = []
    for init in sorted((src / "cptmix").rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        exports = next((n.value for n in tree.body if isinstance(n, ast.Assign)
                        and any(getattr(t, "id", None) == "_EXPORTS" for t in n.targets)), None)
        if not isinstance(exports, ast.Dict):
            continue
        names = {k.value for k in exports.keys if isinstance(k, ast.Constant)}
        subs = {p.stem for p in init.parent.glob("*.py")} | {
            d.name for d in init.parent.iterdir() if (d / "__init__.py").exists()}
        clashes += [f"{module_name(init, src)}.{n}" for n in sorted(names & subs)]
    return clashes


def test_no_lazy_export_is_named_like_a_submodule():
    assert lazy_exports_named_like_modules() == []


# --- the checks themselves fail where they should (a synthetic package) -----------------------

@pytest.fixture
def fake_src(tmp_path):
    pkg = tmp_path / "cptmix"
    (pkg / "analyze").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "io.py").write_text("")
    (pkg / "analyze" / "__init__.py").write_text("from cptmix.analyze.stats import f\n")
    (pkg / "analyze" / "stats.py").write_text(
        "def f():\n    from cptmix.analyze import inference  # lazy, still a circle\n")
    (pkg / "analyze" / "inference.py").write_text("from .stats import f\nimport cptmix.io\n")
    (pkg / "tasks.py").write_text("from cptmix.analyze import stats\n")  # a later stage
    return tmp_path


def test_checks_find_a_lazy_circle_and_a_backward_import(fake_src):
    graph = import_graph(fake_src)
    assert graph["cptmix.analyze.inference"] == {"cptmix.analyze.stats", "cptmix.io"}
    cycle = find_cycle(graph)
    assert cycle[0] == cycle[-1] and set(cycle) == {"cptmix.analyze.inference",
                                                    "cptmix.analyze.stats"}
    assert backward_imports(graph) == ["cptmix.tasks -> cptmix.analyze.stats"]


def test_the_export_check_finds_a_name_shared_with_a_submodule(tmp_path):
    pkg = tmp_path / "cptmix" / "analyze"
    pkg.mkdir(parents=True)
    (tmp_path / "cptmix" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text('_EXPORTS = {"tables": "cptmix.analyze.tables", '
                                     '"f": "cptmix.analyze.tables"}\n')
    (pkg / "tables.py").write_text("def tables():\n    pass\ndef f():\n    pass\n")
    assert lazy_exports_named_like_modules(tmp_path) == ["cptmix.analyze.tables"]
