"""Thread count of the BLAS library behind numpy, for the command lines (``--threads N``).

numpy's BLAS (OpenBLAS here) reads its thread count from the environment once, when numpy is
imported, and numpy offers no call to change it afterwards. So ``--threads N`` sets the usual
variables and starts the same command again (``os.execve``) if they were not set already. PyTorch
(used by the benchmark only) is set with ``torch.set_num_threads`` by the caller.

Why it matters: on a machine whose cores are busy with other jobs, a multi-threaded BLAS can make
the small matrix products of mini-batch training 10-100x slower (its threads wait for each other);
measured here: a Fashion-MNIST epoch took 74 s instead of 0.45 s while other jobs ran. One thread
(``--threads 1``) is immune to that and costs less than a factor 2 on an idle machine.
"""

from __future__ import annotations

import os
import sys

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def ensure_threads(threads: int | None, module: str, argv: list[str] | None) -> None:
    """Make sure this process runs with ``threads`` BLAS threads: if the environment does not
    say so yet, replace the process by ``python -m module argv...`` with it set (does not
    return). ``threads=None`` leaves everything as it is."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    want = str(threads)
    if all(os.environ.get(v) == want for v in THREAD_VARS):
        return
    env = dict(os.environ, **{v: want for v in THREAD_VARS})
    argv = sys.argv[1:] if argv is None else list(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
