"""Runs and their records: what an experiment plans, how it executes, where its result is kept.

What this adds over calling a trainer in a loop:

* :class:`Run` is one training run: a plain JSON ``config`` and the function ``fn`` that executes
  it, ``fn(config) -> {"metrics": dict, "status": "ok" | "diverged", "message": str | None}``
  ("status" and "message" may be left out). ``fn`` is a module-level function (worker processes
  import it by name); if it has a parameter ``artifact_dir`` it also gets the folder of its record,
  for files of its own (e.g. trained weights).
* Every finished run is one JSON record, ``<root>/<module>.<function>/<config hash>.json``
  (``shared.records``: config, metrics, status, error, wall time, library versions, and the BLAS
  ``threads`` it ran with), written atomically the moment its result arrives. A run whose record
  says ok or diverged is never run again: an interrupted reproduction resumes where it stopped, a
  repeated one only re-plots, and two experiments asking for the same run share it. A run that
  raised is recorded ``failed`` with the error and traceback, and is retried next time.
  After changing the code a run executes, rerun with ``--fresh`` (the records do not know which
  version of the code made them).
* :func:`execute` runs what is missing with joblib (loky worker processes, one BLAS thread each:
  ``inner_max_num_threads=1``), or on a Dask cluster (:func:`dask_client`). Workers exit when the
  process that started them dies (a ``kill -9`` leaves nothing behind, and no record is written
  after it). With ``jobs=1`` the runs execute in this process.
* :class:`Context` is what an experiment's ``plan`` / ``plot`` / ``summarize`` get: quick or
  full mode, the output folder, the command-line options, the records of other experiments.
  :class:`SkipExperiment` is how ``plan`` says "cannot run here" (the report shows why).

* :func:`writer_lock`: one reproduction writes into a folder at a time; a second one started
  into the same ``--out`` is refused, naming the process that writes there (readers - a report
  viewer, the records of a finished study - take no lock).
* Ctrl-C or SIGTERM (``shared.errors.run_main``) stops everything at once (:func:`interrupt`):
  the workers are killed, no further record is written, and the rerun resumes from the records
  written so far. Workers start deaf to those signals, so they print nothing.

What it leaves out: retrying a failed run within one invocation.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from shared.cli import positive_float, positive_int  # noqa: F401  (the experiments' option types)
from shared.records import config_key, make_record, read_record, write_record

FINAL_STATUSES = ("ok", "diverged")

# loky replaces a worker whose memory grew by a few hundred MB (the data sets it cached) between
# two runs, and warns about it; nothing is lost, so the warning is only noise for a student.
warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given",
                        category=UserWarning)


# --------------------------------------------------------------------------- runs and records
@dataclass
class Run:
    """One run: ``fn(config)``. ``label`` ("lr=0.01 seed=2") is for progress and tables; ``meta``
    is for the planning experiment only (neither is part of the record's key)."""

    config: dict
    fn: Callable
    label: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"Run needs a function, got {self.fn!r}")

    @property
    def folder(self) -> str:
        """``<module>.<function>``: the records of one function live together."""
        return f"{self.fn.__module__.rsplit('.', 1)[-1]}.{self.fn.__name__}"

    @property
    def key(self) -> str:
        return config_key(self.config)

    def path(self, root: str | Path) -> Path:
        return Path(root) / self.folder / f"{self.key}.json"


def read(root: str | Path, run: Run) -> dict | None:
    """The record of ``run`` below ``root``, or None (never finished, or a damaged file)."""
    p = run.path(root)
    if not p.exists():
        return None
    try:
        return read_record(p)
    except (ValueError, OSError):
        return None  # counts as unfinished; the rerun overwrites it


def is_final(rec: dict | None, newer_than: float | None = None) -> bool:
    """True when ``rec`` is a final record (ok or diverged), made after the time ``newer_than``
    (seconds since the epoch) if given."""
    if rec is None or rec.get("status") not in FINAL_STATUSES:
        return False
    if newer_than is None:
        return True
    import datetime as dt

    made = dt.datetime.fromisoformat(rec.get("created", "1970-01-01T00:00:00+00:00"))
    return made.timestamp() >= int(newer_than)


def run_one(run: Run, root: str, threads: int | None = None, parent: int | None = None) -> dict:
    """Execute one run and return its record (not written: the caller writes it). An exception
    becomes a ``failed`` record. ``threads``: BLAS threads to use; ``parent``: the pid of the
    process that handed out the run (a worker exits as soon as that process is gone)."""
    from shared.threads import blas_threads, limited

    if parent is not None and os.getpid() != parent:
        _exit_with_parent(parent)
    t0 = time.perf_counter()
    tb = None
    try:
        kwargs = {}
        if "artifact_dir" in inspect.signature(run.fn).parameters:
            kwargs["artifact_dir"] = run.path(root).parent
        limit = limited(threads) if threads and blas_threads() != threads else (
            contextlib.nullcontext())
        with limit:
            used = blas_threads()
            out = run.fn(dict(run.config), **kwargs)
        name = f"{run.fn.__module__}.{run.fn.__name__}"
        if not isinstance(out, dict) or "metrics" not in out:
            raise TypeError(f"{name} must return a dict with 'metrics', got {type(out).__name__}")
        status = out.get("status") or "ok"
        if status not in FINAL_STATUSES:
            raise ValueError(f"{name} returned status {status!r}; use 'ok' or 'diverged'")
        metrics, error = out["metrics"], out.get("message")
    except Exception as e:  # a failed run is data, not a crash of the study
        status, metrics, error = "failed", {}, f"{type(e).__name__}: {e}"
        tb, used = traceback.format_exc(), blas_threads()
    wall = time.perf_counter() - t0
    try:
        rec = make_record(run.folder, run.config, metrics, status=status, error=error,
                          wall_time=wall)
    except Exception as e:  # e.g. metrics that are not JSON: still a record saying so
        rec = make_record(run.folder, run.config, {}, status="failed", wall_time=wall,
                          error=f"could not store the result: {type(e).__name__}: {e}")
        tb = traceback.format_exc()
    rec.update(label=run.label, run=f"{run.fn.__module__}:{run.fn.__qualname__}", threads=used,
               traceback=tb)
    return rec


_WATCHING: list[int] = []


def _exit_with_parent(parent: int) -> None:
    """In a worker process started by ``parent``: exit at once when ``parent`` dies (it is killed,
    say), instead of finishing queued or running runs nobody will collect."""
    if _WATCHING or os.getppid() != parent:  # already watching, or not its child (Dask worker)
        return
    _WATCHING.append(parent)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def dedupe(runs: Iterable[Run]) -> list[Run]:
    """Distinct runs (same function and config = same run), first occurrence kept, in order."""
    seen, out = set(), []
    for r in runs:
        k = (r.folder, r.key)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


# --------------------------------------------------------------------------- execution
@contextlib.contextmanager
def dask_client(scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client`` of the cluster at ``scheduler`` ("tcp://host:8786"), or of a
    two-process local cluster on 127.0.0.1 (one thread each, no dashboard) when None.

    The local cluster's scratch space is a private temporary folder (never the working folder),
    removed when the cluster closes; one left by a process killed outright is removed by the
    next local cluster (:func:`clean_stale_scratch`). Its processes start deaf to SIGINT: Ctrl-C
    reaches this process only, which closes the cluster (quietly: the workers' complaints about
    cancelled runs are not shown)."""
    from shared.errors import ConfigError

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--backend dask needs Dask: pip install -e '.[cluster]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, ValueError, TypeError) as e:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({e}); check the "
                              "address, or leave --scheduler out for a local cluster") from None
        with client:
            yield client
        return
    clean_stale_scratch()
    scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
    try:
        with signals_blocked([signal.SIGINT]):  # inherited by the cluster's processes
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                   processes=True, dashboard_address=None,
                                   local_directory=scratch, silence_logs=logging.CRITICAL)
        with cluster, Client(cluster) as client:
            yield client
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


SCRATCH_PREFIX = "mlp-ladder-dask-"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_blocked(signals: Sequence[int] = _SIGNALS) -> Iterator[None]:
    """Block ``signals`` in this thread for the block, and (main thread only) ignore them: the
    threads and processes started in it inherit that, so they never see Ctrl-C. A signal that
    arrives meanwhile stays pending and is handled as usual when the block ends."""
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.signal(s, signal.SIG_IGN) for s in signals} if main else {}
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)


def clean_stale_scratch() -> list[Path]:
    """Remove the Dask scratch folders of local clusters whose process is gone (killed outright);
    returns them."""
    from shared.records import pid_alive

    removed = []
    for p in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = p.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def execute(runs: Sequence[Run], root: str | Path, *, jobs: int = 1, client=None,
            newer_than: float | None = None, progress: bool = True, desc: str = "runs",
            on_record: Callable[[dict], None] | None = None) -> dict:
    """Execute every run of ``runs`` that has no final record below ``root`` (``newer_than``:
    none made since that time, for ``--fresh``), writing each record as it arrives. ``jobs``:
    worker processes (1: in this process); ``client``: a Dask client to run on instead;
    ``on_record(record)`` is called after each record is written. Returns ``{"total": n,
    "reused": n, "executed": [record, ...], "desc": desc}``."""
    root = Path(root)
    runs = dedupe(runs)
    note = on_record or (lambda rec: None)
    todo = _not_final(runs, root, newer_than, note)
    result = {"total": len(runs), "reused": len(runs) - len(todo), "executed": [], "desc": desc}
    if not todo:
        return result
    from tqdm.auto import tqdm

    counts = {"ok": 0, "diverged": 0, "failed": 0}
    bar = tqdm(total=len(todo), desc=f"{desc} ({result['reused']} reused)", unit="run",
               disable=None if progress else True, dynamic_ncols=True)
    done, started = set(), time.monotonic()
    try:
        for i, rec in _results(todo, str(root), jobs, client):
            if _INTERRUPTED[0] >= started:  # this process is stopping: no more records
                return result
            write_record(todo[i].path(root), rec)
            note(rec)
            done.add(i)
            result["executed"].append(rec)
            counts[rec["status"]] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update(1)
    except _WorkerDied as e:  # out of memory, killed, crashed: the rest is retried next time
        if _INTERRUPTED[0] >= started:  # the workers were stopped on purpose
            return result
        unfinished = [run for i, run in enumerate(todo) if i not in done]
        result["executed"] += _record_unfinished(unfinished, root, e, note)
    finally:
        bar.close()
    return result


def _not_final(runs: Sequence[Run], root: Path, newer_than: float | None,
               note: Callable[[dict], None]) -> list[Run]:
    """The runs of ``runs`` with no final record below ``root``; ``note`` each one reused."""
    todo = []
    for r in runs:
        rec = read(root, r)
        if is_final(rec, newer_than):
            note(rec)
        else:
            todo.append(r)
    return todo


def _record_unfinished(unfinished: Sequence[Run], root: Path, error: Exception,
                       note: Callable[[dict], None]) -> list[dict]:
    """Write a "failed" record (retried next time) for each run a dead worker left unfinished."""
    records = []
    for run in unfinished:
        rec = make_record(run.folder, run.config, {}, status="failed",
                          error=f"not finished: a worker process failed ({error}); "
                          "rerun to retry")
        rec.update(label=run.label, run=f"{run.fn.__module__}:{run.fn.__qualname__}",
                   threads=None, traceback=None)
        write_record(run.path(root), rec)
        note(rec)
        records.append(rec)
    return records


class _WorkerDied(Exception):
    pass


def _results(todo: list[Run], root: str, jobs: int, client) -> Iterator[tuple[int, dict]]:
    """``(index into todo, record)`` pairs in the order the runs finish."""
    if client is not None:
        from distributed import as_completed

        futures = client.map(run_one, todo, root=root, threads=1, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut, rec in as_completed(futures, with_results=True):
                yield index[fut.key], rec
        except Exception as e:  # KilledWorker and the like
            raise _WorkerDied(f"{type(e).__name__}: {e}") from e
        return
    if jobs <= 1:  # in this process, with numpy's own threads
        for i, run in enumerate(todo):
            yield i, run_one(run, root)
        return
    from joblib import Parallel, delayed, parallel_config
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    parent = os.getpid()
    # (always ``jobs`` workers: batches running side by side share one pool of that size)
    with parallel_config(backend="loky", n_jobs=jobs, inner_max_num_threads=1,
                         initializer=_deaf_worker):
        with signals_blocked():  # the workers start (and stay) deaf to Ctrl-C and SIGTERM
            gen = Parallel(return_as="generator_unordered")(
                delayed(_indexed)(i, run, root, parent) for i, run in enumerate(todo))
        try:
            yield from gen
        except TerminatedWorkerError as e:
            raise _WorkerDied(str(e).splitlines()[0]) from e
        except Exception as e:  # e.g. a worker could not import the run's function
            raise _WorkerDied(f"{type(e).__name__}: {e}") from e
        except BaseException:  # Ctrl-C: stop the workers now, not after the queue
            gen.close()
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=False, kill_workers=True)
            raise


#: When this process was last told to stop its runs (``time.monotonic()``; see :func:`interrupt`).
_INTERRUPTED = [float("-inf")]


def stop_workers() -> None:
    """Stop joblib's idle worker processes now (they would wait a few minutes for more work)."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


def interrupt(threads: Sequence[threading.Thread] = ()) -> None:
    """Stop everything at once (Ctrl-C, SIGTERM, a bug): kill joblib's workers without waiting
    for their runs, make every :func:`execute` still going stop without writing another record,
    and wait briefly for ``threads`` (those running :func:`execute`) to end, so that no record
    is being written when the process exits."""
    _INTERRUPTED[0] = time.monotonic()
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)
    for t in threads:
        t.join(timeout=10)


def _deaf_worker() -> None:
    """In a joblib worker, first thing: ignore Ctrl-C and SIGTERM (the process that started it
    handles them, and stops it)."""
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def _indexed(i: int, run: Run, root: str, parent: int) -> tuple[int, dict]:
    return i, run_one(run, root, 1, parent)


# --------------------------------------------------------------------------- one writer per folder
LOCK_NAME = ".writer.lock"


@contextlib.contextmanager
def writer_lock(folder: str | Path, flag: str = "--out") -> Iterator[None]:
    """Be the only process writing into ``folder`` for the block: an exclusive ``fcntl.flock``
    on ``folder/.writer.lock``, which names its holder. A second writer is refused at once
    (:class:`shared.errors.OutputPathError` naming the process that holds the lock); readers
    take no lock. The lock file is removed when the block ends; the kernel releases the lock of
    a process killed outright."""
    import fcntl
    import socket

    path = Path(folder) / LOCK_NAME
    while True:
        fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 500).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise _busy(folder, flag, holder) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its previous holder removed it meanwhile: lock the new one
    try:
        _write_holder(fd, path, f"process {os.getpid()} on {socket.gethostname()}, since "
                                f"{time.strftime('%H:%M:%S')}")
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    from shared.errors import output_error

    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise (output_error(e, path) or e) from None


def _write_holder(fd: int, path: Path, text: str) -> None:
    from shared.errors import output_error

    try:
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
    except OSError as e:
        raise (output_error(e, path) or e) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _busy(folder, flag: str, holder: str):
    from shared.errors import OutputPathError

    return OutputPathError(f"{flag} {folder}: another run is writing there ({holder}); wait for "
                           f"it to finish, or choose another {flag}")


# --------------------------------------------------------------------------- arrays in records
def pack_array(a, dtype: str = "<f4") -> dict:
    """A numpy array as one compact JSON value ``{"dtype", "shape", "base64"}`` (raw little-endian
    bytes): a (1000, 2) float32 array takes ~11 kB instead of ~40 kB as nested lists."""
    import base64

    import numpy as np

    a = np.ascontiguousarray(np.asarray(a).astype(dtype))
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack_array(d: dict):
    """Inverse of :func:`pack_array`."""
    import base64

    import numpy as np

    raw = base64.b64decode(d["base64"])
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


# --------------------------------------------------------------------------- what experiments get
class SkipExperiment(Exception):
    """Raised by ``plan`` when the experiment cannot run here; the message is the reason shown
    in the report (e.g. the data loader's error for absent MNIST files)."""


def option(*flags: str, **kwargs) -> tuple[tuple[str, ...], dict]:
    """A command-line option an experiment declares in ``OPTIONS``: the arguments of
    ``argparse.ArgumentParser.add_argument``. Its value is ``ctx.option(dest)`` (None when not
    given: use the experiment's own default)."""
    kwargs.setdefault("default", None)
    return tuple(flags), kwargs


def name_of(module: ModuleType) -> str:
    """An experiment's name: its ``NAME``, else its module name with hyphens (``lr-study``)."""
    return getattr(module, "NAME", None) or module.__name__.rsplit(".", 1)[-1].replace("_", "-")


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@dataclass
class Context:
    """One reproduction, as an experiment sees it.

    quick: quick (offline, small) or full mode. out: the output folder (records in ``out/runs``,
    figures in ``out/figures/<NAME>``, sections in ``out/sections``, ``out/report.md``).
    options: command-line values by ``dest`` (None = not given). modules: the experiments of
    this reproduction (for :meth:`records_of`). notes: remarks per experiment for its section.
    """

    quick: bool = True
    out: Path = Path("runs/analysis/quick")
    options: dict = field(default_factory=dict)
    modules: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out = Path(self.out)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def runs_root(self) -> Path:
        return self.out / "runs"

    def fig_dir(self, name: str) -> Path:
        return self.out / "figures" / name

    def rel(self, path: str | os.PathLike) -> str:
        """``path`` relative to the report (for markdown links), with forward slashes."""
        return Path(os.path.relpath(Path(path), self.out)).as_posix()

    def note(self, name: str, text: str) -> None:
        """Add a remark to experiment ``name``'s section (once, however often plan() runs)."""
        notes = self.notes.setdefault(name, [])
        if text not in notes:
            notes.append(text)

    def option(self, key: str, default=None):
        v = self.options.get(key)
        return default if v is None else v

    def records(self, runs: Sequence[Run]) -> list[dict]:
        """The records of ``runs`` in order; a run without one appears as a stub with status
        "missing" (so a plot can say what is absent instead of silently dropping it)."""
        out = []
        for r in runs:
            rec = read(self.runs_root, r)
            if rec is None:
                rec = {"status": "missing", "config": r.config, "label": r.label, "key": r.key,
                       "metrics": {}, "error": "no record (run not finished)"}
            out.append(rec)
        return out

    def module(self, name: str) -> ModuleType:
        for m in self.modules:
            if normalise(name_of(m)) == normalise(name):
                return m
        raise KeyError(f"unknown experiment {name!r}")

    def records_of(self, name: str) -> list[dict]:
        """The records of the runs experiment ``name`` plans (declare it in ``DEPENDS`` so its
        runs are done first)."""
        return self.records(self.module(name).plan(self))
