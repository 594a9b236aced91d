"""Small I/O helpers shared by every stage: atomic writes and JSONL reading with errors that
name the file, the line and the field."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `path` only if the block succeeds, so a
    crash never leaves a partial output that a rerun would mistake for a finished one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    try:
        yield tmp
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())  # durable before the rename makes it visible


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in blocks (provenance of inputs)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict], sort_keys: bool = True) -> None:
    """Records as JSON Lines (UTF-8, unescaped non-ASCII), written atomically."""
    write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=sort_keys) + "\n"
                             for r in records))


def write_tsv(path: str | Path, df, float_format: str = "%.6f") -> None:
    """A DataFrame as TSV with fixed float formatting, so equal inputs give equal bytes."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format=float_format, lineterminator="\n")


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[dict]:
    """Records of a JSONL file; a bad line raises ValueError naming file, line and field."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{lineno}: a record must be a JSON object")  # noqa: TRY004 - bad input data, not a caller error
            for field in required:
                if field not in rec:
                    raise ValueError(f"{path}:{lineno}: missing field {field!r}")
            yield rec


def log_to(path: str | Path) -> None:
    """Send logging and stderr (progress bars, warnings) of a workflow job to its log file."""
    import logging
    import sys

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = fh
    logging.basicConfig(level=logging.INFO, stream=fh, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def declared_paths(rule: str, paths: Mapping, declared: Iterable[str]
                   ) -> dict[str, dict[int, str]]:
    """A rule's {model: {seed: path}} from its params (seeds as keys of any type), checked
    against the files the rule declares as inputs: a params path that is not an input (so
    Snakemake would not wait for it) is an error naming `rule`."""
    out = {str(m): {int(s): str(f) for s, f in per.items()} for m, per in paths.items()}
    undeclared = {f for per in out.values() for f in per.values()} - set(map(str, declared))
    if undeclared:
        raise ValueError(f"{rule}: params name undeclared inputs {sorted(undeclared)}")
    return out
