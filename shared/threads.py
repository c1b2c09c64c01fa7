"""How many threads the BLAS library behind numpy uses: one module for every command.

Why it matters: on a machine whose cores are busy with other jobs, a multi-threaded BLAS can make
the small matrix products of mini-batch training many times slower (its threads wait for each
other). One thread is immune to that. Benchmarks pin one thread (or say how many they use) and
report ratios measured side by side.

Built on ``threadpoolctl``, which changes the thread count of an already loaded BLAS (OpenBLAS,
MKL, BLIS) at run time, so no environment variable has to be set before numpy is imported.

* :func:`set_threads` - for a command's ``--threads N`` (the whole process from now on);
* :func:`limited` - a ``with`` block (benchmarks, tests);
* :func:`blas_threads` - the count in force now; every run record stores it.
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
