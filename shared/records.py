"""Run records: every run writes what it did as JSON, and figures are drawn only from records.

A record is one JSON file::

    {"schema": "mlp-ladder/run", "version": 1,
     "name": "lr-study", "key": "<12 hex digits>",      # key = hash of the full config
     "config": {...},                                    # everything that defines the run
     "status": "ok" | "diverged" | "failed", "error": null | "message",
     "metrics": {...},                                   # per-step / per-epoch lists, finals
     "wall_time": 12.3, "versions": {"python": ..., "numpy": ...}, "created": "ISO time"}

Files are written atomically (temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves a half-written record that looks finished. Pure Python: numpy values
inside ``metrics`` are converted when numpy is installed, but numpy is never imported here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.errors import LadderError

SCHEMA = "mlp-ladder/run"
VERSION = 1
STATUSES = ("ok", "diverged", "failed")


class RecordError(LadderError, ValueError):
    """A file that is not a valid run record (not JSON, wrong schema, an "ok" run without its
    metrics, ...); the message names the file. Callers treat such a record as absent."""


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, paths and non-finite floats to plain JSON values.

    NaN and +-inf become the strings "nan", "inf", "-inf" (JSON has no such numbers); use
    :func:`from_json_float` to read them back.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if hasattr(obj, "tolist"):  # numpy array or scalar
        return to_jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    raise TypeError(f"cannot store {type(obj).__name__} in a run record")


def from_json_float(v: Any) -> float:
    """Inverse of the non-finite encoding of :func:`to_jsonable` for one number."""
    if isinstance(v, str):
        return float(v)  # "nan", "inf", "-inf"
    return float(v)


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (``0o666`` minus the umask). ``tempfile.mkstemp``
    creates files readable by their owner only (0o600); atomic writers chmod to this so a file
    written via a temporary one has the usual permissions."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an exception, give it
    the usual file mode and rename it to ``path`` (atomic on one file system). On an exception
    the temporary file is removed, so an interrupted write never leaves a file that looks done.

    ``suffix`` ends the temporary name (a writer that picks its format from the name, like
    matplotlib, needs e.g. ``".png.tmp"`` -> pass ``".png"`` and it sees a ``.png`` name).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename; returns the path."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=1) + "\n")


def config_key(config: dict) -> str:
    """A stable 12-hex-digit hash of a config (canonical JSON: sorted keys, no spaces)."""
    canon = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


def library_versions() -> dict:
    """Python and the versions of the libraries a run may have used (those already imported)."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("numpy", "matplotlib", "torch"):
        mod = sys.modules.get(name)
        if mod is not None:
            versions[name] = getattr(mod, "__version__", "?")
    return versions


def make_record(
    name: str,
    config: dict,
    metrics: dict,
    status: str = "ok",
    error: str | None = None,
    wall_time: float | None = None,
) -> dict:
    """Build a record dict (not yet written). ``status`` is one of ok / diverged / failed."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "name": name,
        "key": config_key(config),
        "config": to_jsonable(config),
        "status": status,
        "error": error,
        "metrics": to_jsonable(metrics),
        "wall_time": wall_time,
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_record(path: str | os.PathLike, record: dict) -> Path:
    """Write a record made by :func:`make_record` atomically."""
    if record.get("schema") != SCHEMA:
        raise ValueError("not a run record (use make_record)")
    return atomic_write_json(path, record)


def read_record(path: str | os.PathLike) -> dict:
    """Read a record; raises ValueError naming the file when it is not one."""
    with open(path, encoding="utf-8") as f:
        try:
            rec = json.load(f)
        except ValueError as e:  # JSONDecodeError, or UnicodeDecodeError on a binary file
            raise ValueError(f"{path}: not a JSON run record ({e})") from None
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not an mlp-ladder run record")
    return rec


def iter_records(folder: str | os.PathLike, pattern: str = "*.json") -> Iterator[dict]:
    """Every record below ``folder`` (recursively) matching ``pattern``; other JSON is skipped."""
    for p in sorted(Path(folder).rglob(pattern)):
        try:
            yield read_record(p)
        except ValueError:
            continue
