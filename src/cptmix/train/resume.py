"""Identity of a resumable training run, shared by the training backends (`hf`, `megatron`).

A backend keeps its resume checkpoint in `<out_dir>.partial/`. Resuming is only sound when the
checkpoint was written by the same run: same backend and stage, hyper-parameters, seed, input
data and starting model (and the libraries that compute it). So every checkpoint carries
`fingerprint.json`, the run's `fingerprint`, and a rerun calls `check_partial` first:

* no `.partial/`: a fresh start;
* a fingerprint equal to the run's: resume (the backend then reads its checkpoint files, any
  of which may still be unreadable: it reports them with `UnreadableCheckpoint` / `discard`);
* anything else (a different fingerprint, none (an older cptmix wrote it), an unreadable one):
  one log line saying why, naming the keys that differ (old -> new), the stale directory is
  removed, and training starts over.

File contents are hashed (sha256, streamed in blocks by `cptmix.io.sha256_file`) once per job,
before training; paths are left out, so moving a work directory changes no fingerprint. The
finished model's `training.json` carries the same fingerprint: it describes the run that
produced the weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from cptmix.corpus.sources import Source, content_hash
from cptmix.io import sha256_file, write_json

log = logging.getLogger(__name__)

FINGERPRINT = "fingerprint.json"

# What of a model directory the trained weights depend on: weights, configs, tokenizer files.
# Not the run records beside them (training.json, train_log.tsv, valid_log.tsv).
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "tokenizer.model", "added_tokens.json", "vocab.json",
               "merges.txt", "chat_template.jinja")
WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json")
# Hyper-parameters the result does not depend on: how often a checkpoint is written (batches
# and RNG are functions of seed and step, so a rerun that checkpoints more often after a
# pre-emption still resumes).
NOT_IDENTITY = ("checkpoint_every",)


class UnreadableCheckpoint(Exception):
    """A checkpoint file that cannot be read or does not fit the run: `path` and why."""

    def __init__(self, path: str | Path, why: str):
        super().__init__(f"{path}: {why}")
        self.path = Path(path)


def tree_hash(path: str | Path) -> str:
    """sha256 of a file's bytes; of a directory, sha256 of its sorted `relpath  sha256` listing
    (the scheme `cptmix.corpus.sources.content_hash` uses for text directories)."""
    path = Path(path)
    if not path.is_dir():
        return sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{p.relative_to(path).as_posix()}  {sha256_file(p)}\n" for p in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def model_hashes(model_dir: str | Path) -> dict[str, str]:
    """{file name: sha256} of a model (or tokenizer) directory's weights, configs and tokenizer
    files; an error naming the directory if it holds none of them."""
    model_dir = Path(model_dir)
    names = sorted(p.name for p in model_dir.iterdir() if p.is_file() and (
        p.name in MODEL_FILES or p.name.endswith(WEIGHT_SUFFIXES))) if model_dir.is_dir() else []
    if not names:
        raise FileNotFoundError(f"{model_dir}: no model or tokenizer files (config.json, "
                                f"*.safetensors, tokenizer.json) to train from")
    return {name: sha256_file(model_dir / name) for name in names}


def data_hashes(items: Iterable[str | Path | Source]) -> dict[str, str]:
    """{name: sha256} of training inputs: a configured `Source` by its name (all its files,
    `content_hash`), a file or directory by its file name (`tree_hash`); a repeated name gets
    its position appended."""
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        if isinstance(item, Source):
            name, digest = item.name, content_hash(item, item.units())["sha256"]
        else:
            name, digest = Path(item).name, tree_hash(item)
        out[name if name not in out else f"{name}#{i}"] = digest
    return out


def software(*packages: str) -> dict[str, str]:
    """Installed versions of the packages that compute the run (a resumed run on other
    versions would not be the run that the checkpoint began)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fingerprint(*, backend: str, mode: str, hp: Mapping, seed: int, data: Mapping[str, str],
                model: Mapping[str, str], **extra: Any) -> dict:
    """The identity of a training run as plain JSON data: `backend`, `mode` (pretrain, cpt,
    sft), every hyper-parameter but `NOT_IDENTITY`, the seed, the data and starting model's hashes
    (`data_hashes`, `model_hashes`) and any `extra` setting the result depends on (threads,
    library versions, validation settings)."""
    hp = {k: v for k, v in hp.items() if k not in NOT_IDENTITY}
    fp = {"backend": backend, "mode": mode, "seed": int(seed), "hyperparameters": hp,
          "data": dict(data), "model": dict(model), **extra}
    # round trip: exactly what fingerprint.json will hold (tuples -> lists, keys as strings)
    return json.loads(json.dumps(fp, sort_keys=True, default=str))


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return f"sha256:{value[:12]}"
    return json.dumps(value, ensure_ascii=False)


_ABSENT = object()


def differences(old: Mapping, new: Mapping) -> list[str]:
    """`key: old -> new` for every (flattened, dotted) key whose value differs."""
    a, b = _flat(dict(old)), _flat(dict(new))
    return [f"{k}: {_show(a.get(k, _ABSENT))} -> {_show(b.get(k, _ABSENT))}"
            for k in sorted(set(a) | set(b)) if a.get(k, _ABSENT) != b.get(k, _ABSENT)]


def write_fingerprint(directory: str | Path, fp: Mapping) -> None:
    write_json(Path(directory) / FINGERPRINT, dict(fp))


def discard(partial: str | Path, why: str) -> None:
    """Remove a checkpoint directory that must not be resumed, saying why in one log line."""
    log.warning("%s: %s; checkpoint discarded, training starts over", partial, why)
    shutil.rmtree(partial, ignore_errors=True)


def check_partial(partial: str | Path, fp: Mapping, *, marker: str) -> bool:
    """True when `partial` holds a complete checkpoint (its file `marker` exists) of exactly
    the run `fp`; otherwise `partial` is removed (why: in the log) and False is returned."""
    partial = Path(partial)
    # a job killed while writing a checkpoint leaves cptmix.io.atomic_path's temporary sibling
    for stale in partial.parent.glob(f".{partial.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if not partial.exists():
        return False
    if not (partial / marker).exists():
        log.info("%s: no complete checkpoint in it; removed, training starts from step 0",
                 partial)
        shutil.rmtree(partial, ignore_errors=True)
        return False
    path = partial / FINGERPRINT
    if not path.is_file():
        discard(partial, f"not resumed: the checkpoint has no {FINGERPRINT} (written by an "
                         f"older cptmix), so it cannot be shown to be of this run")
        return False
    try:
        old = read_part(path, lambda p: json.loads(p.read_text(encoding="utf-8")))
    except UnreadableCheckpoint as err:
        discard(partial, f"not resumed: unreadable checkpoint file {err}")
        return False
    if not isinstance(old, dict):
        discard(partial, f"not resumed: unreadable checkpoint file {path}: not a JSON object")
        return False
    diff = differences(old, fp)
    if diff:
        discard(partial, "not resumed: the checkpoint is of a different run (" + "; ".join(diff)
                + ")")
        return False
    return True


def read_part(path: str | Path, reader: Callable[[Path], Any]) -> Any:
    """`reader(path)`, any failure (a missing, truncated or corrupt file) raised as
    `UnreadableCheckpoint` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableCheckpoint(path, "missing")
    try:
        return reader(path)
    except Exception as err:  # whatever the format's reader raises: the file is unusable
        raise UnreadableCheckpoint(path, f"unreadable ({describe(err)})") from err


def describe(err: BaseException) -> str:
    """`Type: first line of the message` (a reader's error in one log line)."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{type(err).__name__}: {first}"


def read_state(path: str | Path, total: int | None = None) -> dict:
    """A checkpoint's `state.json`: {"step": 0 < int (< total), "log": one row per step, ...}."""
    state = read_part(path, lambda p: json.loads(p.read_text(encoding="utf-8")))
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or step <= 0 or (total is not None and step >= total):
        raise UnreadableCheckpoint(path, f"step {step!r} is not a checkpoint step of this run"
                                         + (f" (1..{total - 1})" if total else ""))
    rows = state.get("log")
    if not isinstance(rows, list) or len(rows) != step:
        raise UnreadableCheckpoint(path, f"log has {len(rows) if isinstance(rows, list) else 0}"
                                         f" rows for step {step}")
    return state

