"""cptmix: a Japanese/English medical data-mixture study as one Snakemake workflow."""
__version__ = "0.1.0"


def lazy_exports(package: str, exports: dict[str, str]):
    """`__getattr__` and `__dir__` for a package that re-exports its modules' names without
    importing them up front (PEP 562): `exports` maps each name to the module that defines it,
    imported on first use. A package's `__init__` then costs nothing to run, so importing one
    light module of it (what the workflow does while it plans, and every job's script) does not
    load the whole stage and its libraries (scipy, matplotlib, scikit-learn, pandas, torch)."""
    import importlib

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(importlib.import_module(package), name, value)  # the next access is direct
        return value

    def __dir__():
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
