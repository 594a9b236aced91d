"""cptmix.code: which library modules a workflow script can run, and the hash of that code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_imports import import_graph, module_name

from cptmix.code import _direct, closure, code_hash, code_hashes, module_path, references

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

FILES = {
    "cptmix/__init__.py": "",
    # a function-level import, a relative one and a parenthesised list over two lines
    "cptmix/a.py": ("from . import b\n\ndef run():\n    from cptmix.pkg import (\n"
                    "        f,\n        g as h,\n    )\n    return b, f, h\n"),
    "cptmix/b.py": "import cptmix.c as c_module  # noqa\nBACKEND = 'cptmix.d'\n",
    "cptmix/c.py": "X = 1\n",
    "cptmix/d.py": "Y = 1\n",
    "cptmix/unused.py": "import cptmix.a\n",
    "cptmix/pkg/__init__.py": ('from cptmix import lazy\n_EXPORTS = {\n    "f": "cptmix.pkg.impl",'
                               '\n    "g": "cptmix.pkg.impl",\n    "z": "cptmix.pkg.other",\n}\n'),
    "cptmix/pkg/impl.py": "def f():\n    pass\n\ng = f\n",
    "cptmix/pkg/other.py": "def z():\n    pass\n",
    "cptmix/lazy.py": "",
}


@pytest.fixture()
def package(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    script = tmp_path / "script.py"
    script.write_text("from cptmix.a import run\nrun()\n", encoding="utf-8")
    return tmp_path, script


def test_closure_follows_every_import_kind_and_only_the_lazy_exports_used(package):
    root, script = package
    assert closure(script, root) == ["cptmix", "cptmix.a", "cptmix.b", "cptmix.c", "cptmix.d",
                                     "cptmix.lazy", "cptmix.pkg", "cptmix.pkg.impl"]


def test_hash_changes_with_the_code_a_script_can_run_only(package):
    root, script = package
    before = code_hash(script, root)
    assert code_hash(script, root) == before  # deterministic
    for name in ("cptmix/unused.py", "cptmix/pkg/other.py"):  # not reachable from the script
        (root / name).write_text("CHANGED = 1\n", encoding="utf-8")
        assert _hash(script, root) == before, name
    for name in ("cptmix/d.py", "cptmix/pkg/impl.py"):  # reached by a string, a lazy export
        path = root / name
        path.write_text(path.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
        after = _hash(script, root)
        assert after != before, name
        before = after
    script.write_text(script.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert _hash(script, root) != before
    assert set(code_hashes([script], root)) == {"script"}


def _hash(script, root):
    """code_hash with the per-process caches emptied (files changed under them)."""
    _hash_caches_cleared()
    return code_hash(script, root)


def test_the_text_scan_finds_every_import_the_syntax_tree_has():
    """The scan (fast, run at every workflow start) against `ast` (test_imports' graph: every
    import statement anywhere, `from P import name` as P.name where that is a module): for
    every library module, what the scan says it can import includes what the tree says."""
    graph = import_graph()
    assert len(graph) > 50
    missing = {}
    for module, targets in graph.items():
        path = module_path(SRC, module)
        found = _direct(SRC, path, module)
        if targets - found:
            missing[module] = sorted(targets - found)
    assert not missing, missing


def test_references_parses_the_statement_forms():
    text = ("import os, cptmix.io as io  # noqa\n"
            "from .sibling import (\n    one,\n    two as three,\n)\n"
            "from cptmix import \\\n    tasks\n"
            "x = importlib.import_module('cptmix.train.hf')\n"
            "    from ..corpus.ledger import ledger_tokens; y = 1\n")
    modules, names = references(text, "cptmix.analyze.run", is_package=False)
    assert modules == {"cptmix.io", "cptmix.analyze.sibling", "cptmix", "cptmix.train.hf",
                       "cptmix.corpus.ledger"}
    assert names == {("cptmix.analyze.sibling", "one"), ("cptmix.analyze.sibling", "two"),
                     ("cptmix", "tasks"), ("cptmix.corpus.ledger", "ledger_tokens")}


def test_the_workflow_scripts_reach_only_their_stages():
    """The training scripts do not run the analysis and the analysis does not run training:
    a new figure reruns no model."""
    scripts = ROOT / "workflow" / "scripts"
    train = closure(scripts / "train_cpt.py", SRC)
    analyze = closure(scripts / "analyze.py", SRC)
    assert "cptmix.train.hf" in train and not any(m.startswith("cptmix.analyze") for m in train)
    assert "cptmix.analyze.figures" in analyze
    assert not any(m.startswith(("cptmix.train", "cptmix.evaluate")) for m in analyze)


def test_every_rule_with_a_script_records_its_code():
    """Every rule's params hold `code=CODE["<its script>"]` (common.smk computes CODE)."""
    rules = 0
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        for block in re.split(r"^\s*(?:rule|checkpoint) \w+:", text, flags=re.MULTILINE)[1:]:
            script = re.search(r"script:\s*\"\.\./scripts/(\w+)\.py\"", block)
            if script:
                rules += 1
                assert f'code=CODE["{script.group(1)}"]' in block, (smk.name, script.group(1))
    assert rules == len(list((ROOT / "workflow" / "scripts").glob("*.py")))


def test_module_names_agree_with_the_import_test():
    path = SRC / "cptmix" / "analyze" / "run.py"
    assert module_name(path, SRC) == "cptmix.analyze.run"
    assert module_path(SRC, "cptmix.analyze.run") == path
    assert module_path(SRC, "cptmix.analyze") == SRC / "cptmix" / "analyze" / "__init__.py"
    assert module_path(SRC, "cptmix.nope") is None


def test_module_hash_covers_a_module_and_what_it_imports(package):
    from cptmix.code import module_hash

    root, _ = package
    before = module_hash("cptmix.b", root)
    (root / "cptmix" / "a.py").write_text("CHANGED = 1\n", encoding="utf-8")  # imports b
    _hash_caches_cleared()
    assert module_hash("cptmix.b", root) == before
    (root / "cptmix" / "c.py").write_text("X = 2\n", encoding="utf-8")  # b imports c
    _hash_caches_cleared()
    assert module_hash("cptmix.b", root) != before
    with pytest.raises(ValueError, match="cptmix.nope: not a module of"):
        module_hash("cptmix.nope", root)


def _hash_caches_cleared():
    from cptmix import code

    code._read.cache_clear()
    code._direct.cache_clear()
    code._exports_of.cache_clear()


def test_a_package_run_as_a_program_brings_its_main(tmp_path):
    """`python -m cptmix.tool` (a launcher names the package in a string) runs
    cptmix/tool/__main__.py, and what that imports."""
    files = {"cptmix/__init__.py": "", "cptmix/launch.py": 'ENTRY = ("-m", "cptmix.tool")\n',
             "cptmix/tool/__init__.py": "", "cptmix/tool/__main__.py": "from cptmix import loop\n",
             "cptmix/loop.py": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    script = tmp_path / "script.py"
    script.write_text("import cptmix.launch\n", encoding="utf-8")
    assert closure(script, tmp_path) == ["cptmix", "cptmix.launch", "cptmix.loop", "cptmix.tool",
                                         "cptmix.tool.__main__"]
