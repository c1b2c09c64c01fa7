"""How many threads the BLAS library behind numpy uses: one module for every command.

Why it matters: on a machine whose cores are busy with other jobs, a multi-threaded BLAS can make
the small matrix products of mini-batch training many times slower (its threads wait for each
other). One thread is immune to that. Benchmarks pin one thread (or say how many they use) and
report ratios measured side by side.

Built on ``threadpoolctl``, which changes the thread count of an already loaded BLAS (OpenBLAS,
MKL, BLIS) at run time, so no environment variable has to be set before numpy is imported.

* :func:`set_threads` - for a command's ``--threads N`` (the whole process from now on);
* :func:`limited` - a ``with`` block (benchmarks, tests);
* :func:`blas_threads` - the count in force now; every run record stores it;
* :func:`blas_library` / :func:`kernel_lines` - which BLAS, version and kernel numpy runs, and
  whether an environment variable forces the kernel (benchmarks print it: timings depend on it).
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import ThreadpoolController, threadpool_limits

_controller: ThreadpoolController | None = None


def _ctl() -> ThreadpoolController:
    global _controller
    if _controller is None:
        import numpy  # noqa: F401  (load the BLAS so it can be found)
        _controller = ThreadpoolController()
    return _controller


def check_threads(threads) -> int:
    from .errors import ConfigError
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads must be a whole number >= 1, got {threads!r}")
    return threads


def blas_threads() -> int:
    """The number of threads numpy's BLAS uses now (1 if no BLAS library is found)."""
    counts = [p.num_threads for p in _ctl().select(user_api="blas").lib_controllers]
    return max(counts) if counts else 1


def set_threads(threads: int | None) -> int:
    """Limit numpy's BLAS to ``threads`` threads for the rest of the process (``None``: leave it
    as it is). Returns the count now in force."""
    if threads is not None:
        check_threads(threads)
        threadpool_limits(limits=threads, user_api="blas")
    return blas_threads()


@contextlib.contextmanager
def limited(threads: int = 1):
    """``with limited(1): ...`` runs the block with ``threads`` BLAS threads, then restores."""
    check_threads(threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        yield threads


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: Environment variables that make OpenBLAS run a kernel other than the one it would pick for
#: this processor (set on some machines because older OpenBLAS builds miscomputed on them).
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_library() -> dict:
    """numpy's BLAS as threadpoolctl sees it: ``{"library", "version", "kernel", "threads",
    "forced_by"}`` (kernel: OpenBLAS's architecture, e.g. Haswell; ``forced_by``: the
    environment variables of :data:`KERNEL_VARIABLES` that are set, name -> value)."""
    info = [lc.info() for lc in _ctl().select(user_api="blas").lib_controllers]
    blas = info[0] if info else {}
    return {"library": blas.get("internal_api"), "version": blas.get("version"),
            "kernel": blas.get("architecture"), "threads": blas.get("num_threads"),
            "forced_by": {v: os.environ[v] for v in KERNEL_VARIABLES if os.environ.get(v)}}


def kernel_lines(blas: dict) -> list[str]:
    """The report's BLAS line, and a warning when ``OPENBLAS_CORETYPE`` forces the kernel."""
    lines = [f"BLAS: {blas['library'] or 'unknown'} {blas['version'] or ''}, kernel "
             f"{blas['kernel'] or 'unknown'}, {blas['threads']} thread(s) (threadpoolctl)"]
    forced = blas["forced_by"]
    if forced.get("OPENBLAS_CORETYPE"):
        also = "".join(f", {k}={v}" for k, v in forced.items() if k != "OPENBLAS_CORETYPE")
        lines.append(f"warning: the environment forces this kernel (OPENBLAS_CORETYPE="
                     f"{forced['OPENBLAS_CORETYPE']}{also}) instead of the one OpenBLAS picks "
                     "for this processor; numpy's matrix products (stages 2-3) may run slower "
                     "than they would here without it. To measure the native kernel, unset it "
                     "for one command: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
                     "python -m stage4_analysis.speed ...")
    return lines
