"""Run records: every run writes what it did as JSON, and figures are drawn only from records.

A record is one JSON file::

    {"schema": "mlp-ladder/run", "version": 1,
     "name": "lr-study", "key": "<12 hex digits>",      # key = hash of the full config
     "config": {...},                                    # everything that defines the run
     "status": "ok" | "diverged" | "failed", "error": null | "message",
     "metrics": {...},                                   # per-step / per-epoch lists, finals
     "wall_time": 12.3, "versions": {"python": ..., "numpy": ...}, "created": "ISO time",
     "data_files": {"fashion-mnist": ["/usr/share/datasets/fashion-mnist/train-...gz", ...]}}

``data_files`` says which files the run trained on (:func:`data_files_of`).

Files are written atomically (temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves a half-written record that looks finished. Reading checks the
schema (:func:`validate_record`): a record that fails it raises :class:`RecordError`, and
:func:`load_valid_record` treats it as absent, so the run is done again rather than trusted.
Pure Python: numpy values inside ``metrics`` are converted when numpy is installed, but numpy is
never imported here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import platform
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shared.errors import LadderError, missing_folders, output_error

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


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (``True`` for this process)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process / not a pid
        return pid > 0 and not isinstance(pid, bool)
    return True


#: A temporary file whose writer ran on another machine is taken as abandoned after a day.
STALE_AGE = 24 * 3600.0


def writer_gone(host: str, pid: int, path: Path) -> bool:
    """Whether the writer of the temporary ``path`` - process ``pid`` of machine ``host``, as its
    name says - is gone: on this machine, the process no longer runs; on another, ``path`` is
    older than :data:`STALE_AGE`."""
    if host == socket.gethostname():
        return not pid_alive(pid)
    return time.time() - path.stat().st_mtime > STALE_AGE


def _temp_prefix(path: Path) -> str:
    """``.<name>.~<pid>@<host>~``: whose temporary file this is, so a later run can tell a
    killed writer's leftover from a file another process is writing right now."""
    return f".{path.name}.~{os.getpid()}@{socket.gethostname()}~"


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``path`` that :func:`atomic_output` left when its
    process was killed outright (their writer, named in the file name, no longer runs on this
    machine; another machine's after a day). Returns what was removed; ``path`` itself and
    files of live writers are never touched."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.~(\d+)@([^~]+)~")
    # the unnamed temporary files of earlier versions: removed once an hour old
    legacy = re.compile(rf"^\.{re.escape(path.name)}\.[a-z0-9_]{{8}}(\.[a-z0-9]+)*$")
    removed: list[Path] = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        m = pattern.match(p.name)
        try:
            if m is None:
                if legacy.match(p.name) and time.time() - p.stat().st_mtime > 3600 \
                        and p.is_file():
                    p.unlink()
                    removed.append(p)
                continue
            if writer_gone(m[2], int(m[1]), p) and p.is_file():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an exception, give it
    the usual file mode and rename it to ``path`` (atomic on one file system). On an exception
    the temporary file is removed, so an interrupted write never leaves a file that looks done.
A full disk, a read-only file system or missing permissions - also when the writer reports it
as another error (matplotlib's PNG writer) - raise :class:`shared.errors.OutputPathError`
naming ``path``.

    ``suffix`` ends the temporary name (a writer that picks its format from the name, like
    matplotlib, needs e.g. ``".png.tmp"`` -> pass ``".png"`` and it sees a ``.png`` name).
    A process killed outright cannot remove its temporary file; the next write of ``path``
    does (:func:`clean_stale_temporaries`).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise (output_error(e, path) or e) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, also behind a writer's own error: one clear error
        err = output_error(e, path)
        if err is None or err is e:
            raise
        raise err from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def no_empty_folders_left(*folders: str | os.PathLike) -> Iterator[None]:
    """If the block fails (bad data, a failed download, divergence, Ctrl-C), remove the folders
    among ``folders`` and their ancestors that it created and left empty, deepest first: a
    failed command leaves nothing behind. Folders that existed before are never touched."""
    created = {p for f in folders for p in missing_folders(f)}
    try:
        yield
    except BaseException:
        for p in sorted(created, key=lambda q: len(q.parts), reverse=True):
            if p.is_dir() and not any(p.iterdir()):
                with contextlib.suppress(OSError):
                    p.rmdir()
        raise


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


#: The files each data set was read from in this process, ``{name: [path, ...]}`` (filled by
#: the loaders of ``shared.data``; "generated by ..." for the generated data sets).
DATA_SOURCES: dict[str, list[str]] = {}


def note_data_source(name: str, files: Sequence[str | os.PathLike]) -> None:
    """Remember that data set ``name`` was read from ``files`` (the records made later say so)."""
    DATA_SOURCES[name] = [str(f) for f in files]


def data_files_of(config: Any) -> dict:
    """``{data set: files}`` for the data sets ``config`` names (any string value equal to a
    name in :data:`DATA_SOURCES`, at any depth); all loaded so far when it names none."""
    named: set[str] = set()

    def visit(v: Any) -> None:
        if isinstance(v, str) and v in DATA_SOURCES:
            named.add(v)
        elif isinstance(v, dict):
            for w in v.values():
                visit(w)
        elif isinstance(v, (list, tuple)):
            for w in v:
                visit(w)

    visit(config)
    return {k: list(v) for k, v in DATA_SOURCES.items() if k in named or not named}


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
        "data_files": data_files_of(config),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_record(path: str | os.PathLike, record: dict) -> Path:
    """Write a record made by :func:`make_record` atomically."""
    if record.get("schema") != SCHEMA:
        raise ValueError("not a run record (use make_record)")
    return atomic_write_json(path, record)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_record(rec: Any, path: str | os.PathLike = "<record>",
                    required_metrics: Sequence[str] = ()) -> dict:
    """Check ``rec`` against the record schema and return it; raise :class:`RecordError` naming
    ``path`` and the first problem otherwise.

    Checked: the schema header and version; ``name``, ``key``, ``created`` strings; ``config``,
    ``metrics``, ``versions`` objects; ``status`` one of :data:`STATUSES`; ``error`` null or a
    string; ``wall_time`` null or a number >= 0; ``data_files`` (when present) an object of
    lists of strings; ``key`` equal to the hash of ``config`` (a
    record edited by hand or cut short does not pass). A run marked ``"ok"`` must have no error
    and non-empty metrics holding every name in ``required_metrics``.
    """
    why = _field_problem(rec) or _key_problem(rec) or _ok_problem(rec, required_metrics)
    if why:
        raise RecordError(f"{path}: not a valid run record ({why})")
    return rec


def _field_problem(rec: Any) -> str | None:
    """The first field of ``rec`` missing or of the wrong type or value, or None."""
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        return f"no schema {SCHEMA!r}"
    if type(rec.get("version")) is not int or rec["version"] != VERSION:
        return f"version {rec.get('version')!r}, this code reads version {VERSION}"
    for field, kind in (("name", str), ("key", str), ("created", str), ("config", dict),
                        ("metrics", dict), ("versions", dict)):
        if not isinstance(rec.get(field), kind):
            return f"{field!r} missing or not a {'string' if kind is str else 'JSON object'}"
    if not isinstance(rec.get("status"), str) or rec["status"] not in STATUSES:
        return f"status {rec.get('status')!r} is not one of {', '.join(STATUSES)}"
    if rec.get("error") is not None and not isinstance(rec["error"], str):
        return "'error' is neither null nor a string"
    files = rec.get("data_files", {})   # older records have none
    if not (isinstance(files, dict) and all(
            isinstance(v, list) and all(isinstance(f, str) for f in v) for v in files.values())):
        return "'data_files' is not an object of lists of file names"
    wall = rec.get("wall_time")
    if wall is not None and not (_number(wall) and math.isfinite(wall) and wall >= 0):
        return f"wall_time {wall!r} is not a number >= 0"
    return None


def _key_problem(rec: dict) -> str | None:
    """Why the ``key`` of ``rec`` is not the hash of its ``config``, or None when it is."""
    try:
        key = config_key(rec["config"])
    except (TypeError, ValueError, RecursionError):
        return "its config cannot be hashed"
    if rec["key"] != key:
        return f"key {rec['key']!r} does not match its config (hash {key})"
    return None


def _ok_problem(rec: dict, required_metrics: Sequence[str]) -> str | None:
    """Why a run marked ``"ok"`` is not complete (an error, no or missing metrics), or None."""
    if rec["status"] != "ok":
        return None
    if rec.get("error") is not None:
        return "marked ok but holds an error"
    if not rec["metrics"]:
        return "marked ok but has no metrics"
    missing = [m for m in required_metrics if m not in rec["metrics"]]
    if missing:
        return f"marked ok but its metrics lack {', '.join(missing)}"
    return None


def read_json(path: str | os.PathLike, error: type[Exception], what: str) -> Any:
    """The JSON value in the file ``path``. A file that is not JSON - binary or not UTF-8 text,
    malformed, nested too deeply - raises ``error`` with a message naming the file and ``what``
    it should be (``"run record"``, ``"weight file"``); ``OSError`` when it cannot be opened."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{path}: not a JSON {what} (binary or not UTF-8 text)") from None
    except ValueError as e:  # JSONDecodeError
        raise error(f"{path}: not a JSON {what} ({e})") from None
    except RecursionError:
        raise error(f"{path}: not a {what} (JSON nested too deeply)") from None


def read_record(path: str | os.PathLike, required_metrics: Sequence[str] = ()) -> dict:
    """Read a record and check it (:func:`validate_record`). Raises :class:`RecordError` (a
    ``ValueError``) naming the file when it is not a valid record - not JSON, binary, nested too
    deeply, cut short, or failing the schema; ``OSError`` when it cannot be opened."""
    rec = read_json(path, RecordError, "run record")
    return validate_record(rec, path, required_metrics)


def load_valid_record(path: str | os.PathLike, required_metrics: Sequence[str] = ()
                      ) -> dict | None:
    """The record at ``path`` when it exists and is valid (:func:`read_record`), else ``None``.

    For callers deciding whether a run is done: a missing, unreadable, cut-short or invalid
    record (e.g. marked ``"ok"`` without its metrics) counts as absent, so the run is done again
    rather than trusted."""
    try:
        return read_record(path, required_metrics)
    except (RecordError, OSError):
        return None


def iter_records(folder: str | os.PathLike, pattern: str = "*.json") -> Iterator[dict]:
    """Every valid record below ``folder`` (recursively) matching ``pattern``; other JSON and
    invalid records are skipped."""
    for p in sorted(Path(folder).rglob(pattern)):
        rec = load_valid_record(p)
        if rec is not None:
            yield rec
