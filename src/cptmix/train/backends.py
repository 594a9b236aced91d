"""The training backends by name: which module runs each, in which conda environment, and
which stages it runs (`cpt`, `sft`).

A backend's module exposes `run_cpt` and/or `run_sft` (one per stage it runs), each with the
keyword signature of `run_cpt` / `run_sft` here (less `backend`); it is imported only when a
job of that backend runs (`importlib`), so neither this module nor `cptmix.train` imports
megatron-core or NeMo (or torch). A new backend is one entry of `BACKENDS` and one module.

The base model of the demo is pre-trained by `hf` alone (`cptmix.train.hf.pretrain_base`,
the pretrain_base rule), which is not dispatched by backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

STAGES = ("cpt", "sft")


@dataclass(frozen=True)
class Backend:
    name: str
    module: str  # importable name of the module with the stage entry points
    env: str  # conda env file of its training jobs, relative to the repository root
    stages: tuple[str, ...]  # those of STAGES it runs: the module has run_<stage> for each


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("hf", "cptmix.train.hf", "envs/train.yaml", ("cpt", "sft")),
    Backend("megatron", "cptmix.train.megatron.launch", "envs/megatron.yaml", ("cpt", "sft")),
    Backend("nemo", "cptmix.train.nemo", "envs/nemo.yaml", ("sft",)),
)}


def get_backend(name: str, stage: str | None = None) -> Backend:
    """The registry entry of `name`; with `stage`, one that runs it. Anything else is a
    ValueError naming the backend and the known ones."""
    known = ", ".join(BACKENDS)
    entry = BACKENDS.get(name)
    if entry is None:
        raise ValueError(f"training backend {name!r} is unknown: the known backends are {known}")
    if stage is not None and stage not in entry.stages:
        able = ", ".join(b.name for b in BACKENDS.values() if stage in b.stages)
        raise ValueError(f"training backend {name!r} does not run {stage.upper()} "
                         f"({stage.upper()} runs with {able}; the known backends are {known})")
    return entry


def backend_env(name: str) -> str:
    """The conda env file of backend `name`'s jobs, relative to the repository root (the rule
    files prefix "../../")."""
    return get_backend(name).env


def backend_module(name: str, stage: str | None = None) -> ModuleType:
    """The module of backend `name` (imported now), checked to run `stage` if given."""
    return importlib.import_module(get_backend(name, stage).module)


def _run(stage: str, name: str, **kwargs) -> None:
    getattr(backend_module(name, stage), f"run_{stage}")(**kwargs)


def run_cpt(backend: str, *, model: str | Path, data: str | Path, out: str | Path, hp: dict,
            seed: int, threads: int = 1, job_file: str | Path | None = None,
            log_file: str | Path | None = None) -> None:
    """Continual pre-training of the HF model directory `model` on one mixture's training
    data `data` (what the backend reads: the materialised corpus JSONL for hf, the index
    cache directory for megatron) into the HF model directory `out`, with the hyperparameters
    `hp` and `seed`. `threads`: CPU threads of an in-process backend; `job_file` / `log_file`:
    where a launched backend writes its job spec and its ranks' output."""
    _run("cpt", backend, model=model, data=data, out=out, hp=hp, seed=seed, threads=threads,
         job_file=job_file, log_file=log_file)


def run_sft(backend: str, *, model: str | Path, data: str | Path, out: str | Path, hp: dict,
            seed: int, threads: int = 1, job_file: str | Path | None = None,
            log_file: str | Path | None = None) -> None:
    """Supervised fine-tuning of the HF model directory `model` on the SFT JSONL `data`
    ({prompt, response}) into the HF model directory `out`; the other arguments as for
    `run_cpt`."""
    _run("sft", backend, model=model, data=data, out=out, hp=hp, seed=seed, threads=threads,
         job_file=job_file, log_file=log_file)
