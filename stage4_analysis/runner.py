"""Run many independent training runs, in parallel, each saved the moment it finishes.

What this adds over calling a trainer in a loop:

* :class:`RunSpec` names one run: the function that executes it (``"package.module:function"``,
  a top-level function so a worker process can import it), its full configuration (hashed into
  the record key) and the store folder its record goes to.
* :func:`run_specs` skips every run whose record already exists (resume), runs the rest in a
  process pool of ``jobs`` workers with one overall tqdm bar, and writes each record from the
  worker as soon as the run ends (``Store.put``, atomic). An exception inside a run becomes a
  ``failed`` record with the error text and traceback; a run the executor reports as diverged
  becomes a ``diverged`` record. Neither stops the study. ``KeyboardInterrupt`` does stop it, and
  the interrupted runs leave no record, so the next invocation runs exactly those again.

Threads: with ``jobs > 1`` every worker is limited to one BLAS/OpenMP thread, so two workers on
two cores do not each start two BLAS threads and fight. The limit must be in place before numpy
is imported in the worker (OpenBLAS sizes its pool at import time). Workers are therefore started
with the ``spawn`` method (a fresh interpreter: nothing is imported yet, and it behaves the same
on Linux, macOS and Windows) and the variables ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``, ``VECLIB_MAXIMUM_THREADS``, ``NUMEXPR_NUM_THREADS`` are set to 1 in the
parent's environment while the pool exists (a spawned child inherits it; the parent's own numpy
is already loaded and keeps its threads). ``fork`` would copy a parent whose OpenBLAS pool is
already sized, where the variables no longer have any effect. If ``threadpoolctl`` is installed,
the worker initializer also applies ``threadpool_limits(1)`` as a second guard.
With ``jobs == 1`` (or a single run to do) runs execute in this process with numpy's own
threading, and no pool is started.

This module imports no numpy, so importing it in a fresh worker costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from shared.records import config_key

from .store import Store

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass
class RunSpec:
    """One run to execute.

    execute: ``"package.module:function"``; the function takes the config dict (and, if it has
        a parameter named ``artifact_dir``, the folder where it may save files of its own next
        to the record, e.g. ``artifact_dir / f"{config_key(config)}.npz"``) and returns
        ``{"metrics": dict, "status": "ok" | "diverged", "message": str | None}`` ("status" and
        "message" optional). It must be a module-level function (workers import it by name).
    config: everything that defines the run (data set, split, seed, hyper-parameters, and a code
        version of the executor); its ``config_key`` is the record's file name. JSON values only.
    store: folder under ``runs/``; experiments that want to share runs use the same store and the
        same executor.
    label: a short human description ("lr=0.01 seed=2") for progress and tables.
    """

    execute: str
    config: dict
    store: str
    label: str = ""
    meta: dict = field(default_factory=dict)  # not hashed, not stored: for the planning module

    @property
    def key(self) -> str:
        return config_key(self.config)


def resolve(target: str) -> Callable:
    """``"pkg.mod:func"`` -> the function."""
    if ":" not in target:
        raise ValueError(f"executor must look like 'package.module:function', got {target!r}")
    mod, _, name = target.partition(":")
    fn = getattr(importlib.import_module(mod), name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"{mod!r} has no function {name!r}")
    return fn


def execute_and_store(root: str, spec: RunSpec) -> dict:
    """Run one spec and write its record; returns a short summary. Exceptions -> 'failed'."""
    store = Store(root)
    t0 = time.perf_counter()
    tb = None
    try:
        fn = resolve(spec.execute)
        kwargs = {}
        if "artifact_dir" in inspect.signature(fn).parameters:
            # where the executor may save files that belong to this run (model weights), named
            # by the record's key: the record's own folder
            kwargs["artifact_dir"] = Path(root) / spec.store
        out = fn(dict(spec.config), **kwargs)
        if not isinstance(out, dict) or "metrics" not in out:
            raise TypeError(f"{spec.execute} must return a dict with 'metrics', got {type(out)}")
        status = out.get("status") or "ok"
        if status not in ("ok", "diverged"):
            raise ValueError(f"{spec.execute} returned status {status!r}; use 'ok' or 'diverged'")
        metrics, error = out["metrics"], out.get("message")
    except Exception as e:  # a failed run is data, not a crash of the study
        status, metrics, error = "failed", {}, f"{type(e).__name__}: {e}"
        tb = traceback.format_exc()
    wall = time.perf_counter() - t0
    extra = {"label": spec.label, "execute": spec.execute, "pid": os.getpid()}
    try:
        store.put(spec.store, spec.config, metrics, status, error, wall, traceback=tb, **extra)
    except Exception as e:  # e.g. metrics that are not JSON: still leave a record saying so
        error = f"could not store the result: {type(e).__name__}: {e}"
        status = "failed"
        store.put(spec.store, spec.config, {}, status, error, wall,
                  traceback=traceback.format_exc(), **extra)
    return {"store": spec.store, "key": spec.key, "label": spec.label, "status": status,
            "error": error, "wall_time": wall}


def _init_worker() -> None:
    """Pool initializer: one BLAS thread per worker (see the module docstring), and Ctrl-C left
    to the parent, which stops the workers itself (so no worker goes on with queued runs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in THREAD_ENV_VARS:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


class _ThreadEnv:
    """Set the thread-limiting variables in this process's environment, restore them after."""

    def __enter__(self):
        self.saved = {v: os.environ.get(v) for v in THREAD_ENV_VARS}
        for v in THREAD_ENV_VARS:
            os.environ[v] = "1"
        return self

    def __exit__(self, *exc):
        for v, old in self.saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
        return False


def default_jobs() -> int:
    return os.cpu_count() or 1


def dedupe(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """Specs with distinct (store, key), first occurrence kept, order kept."""
    seen, out = set(), []
    for s in specs:
        k = (s.store, s.key)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def _progress(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=None if progress else True,
                dynamic_ncols=True)


def run_specs(
    specs: Sequence[RunSpec],
    root: str | Path,
    *,
    jobs: int | None = None,
    progress: bool = True,
    desc: str = "runs",
) -> dict:
    """Execute every spec whose record is not final yet; returns counts and run summaries.

    ``{"total": n_distinct, "skipped": n_already_done, "executed": [summary, ...]}`` where a
    summary is ``{"store", "key", "label", "status", "error", "wall_time"}``.
    """
    root = str(root)
    store = Store(root)
    specs = dedupe(specs)
    todo = [s for s in specs if not store.is_done(s.store, s.config)]
    result = {"total": len(specs), "skipped": len(specs) - len(todo), "executed": []}
    if not todo:
        return result
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    workers = min(jobs, len(todo))
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    bar = _progress(len(todo), f"{desc} ({result['skipped']} done before)", progress)

    def note(summary):
        result["executed"].append(summary)
        counts[summary["status"]] += 1
        bar.set_postfix(counts, refresh=False)
        bar.update(1)

    try:
        if workers == 1:
            for spec in todo:
                note(execute_and_store(root, spec))
        else:
            _run_pool(todo, root, workers, note)
    finally:
        bar.close()
    return result


def _record_lost(root: str, spec: RunSpec, msg: str) -> dict:
    """A failed record for a run whose worker never reported back."""
    Store(root).put(spec.store, spec.config, {}, "failed", msg, None,
                    label=spec.label, execute=spec.execute)
    return {"store": spec.store, "key": spec.key, "label": spec.label, "status": "failed",
            "error": msg, "wall_time": None}


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill the workers: their unfinished runs leave no record
    (records are written atomically at the end of a run), so a rerun does exactly those."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # private, but stable
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def _run_pool(todo: list[RunSpec], root: str, workers: int, note) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with _ThreadEnv():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)
        try:
            futures = {pool.submit(execute_and_store, root, s): s for s in todo}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = futures[fut]
                    try:
                        note(fut.result())
                    except BrokenProcessPool as e:
                        # The worker died (killed, out of memory, segfault): record it as failed;
                        # failed runs are retried by the next invocation.
                        note(_record_lost(root, spec, "a worker process died (killed, out "
                                          "of memory or crashed) while this run was queued or "
                                          f"running; rerun to retry ({e})"))
                    except Exception as e:  # e.g. the spec could not be sent to the worker
                        note(_record_lost(root, spec, f"{type(e).__name__}: {e}"))
        except BaseException:  # Ctrl-C (or a bug here): stop the workers now, not after the queue
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
