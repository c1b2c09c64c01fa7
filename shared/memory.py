"""How much memory a network or a data set needs, and whether this machine has it.

A command that is about to allocate a network or load a data set calls :func:`check_fits` first,
so a size the machine cannot hold ends in one line naming the flag to change
(:class:`shared.errors.SizeError`) instead of a ``MemoryError`` traceback half-way through, or
the machine swapping for minutes.

The estimates count what the ladder's networks hold, not what the allocator adds:

* parameters ``P = sum (n_in + 1) n_out`` (weights and biases), their gradients (``P``), and the
  optimiser's state (up to ``2 P``: Adam's two moment estimates; SGD with momentum needs ``P``,
  plain SGD nothing - the estimate takes the largest, so it is an upper bound);
* activations of one batch: the input ``X`` and its gradient ``dX`` (``2 batch n_in``), and for
  each later layer ``k, h`` and their gradients ``dK, dH`` (``4 batch n``).

Each number takes ``dtype_bytes`` bytes in a numpy array (8 for float64, 4 for float32), or about
32 bytes as a Python float in a list (stage 1: a 24-byte float object plus an 8-byte list slot).

Pure Python (no numpy): stage 1 imports it too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from shared.errors import SizeError

#: Bytes per number when it is a Python float in a list: the float object and its list slot.
PYTHON_FLOAT_BYTES = 32
#: The share of the available memory a command may plan to use.
FRACTION = 0.8

__all__ = ["estimate_network_bytes", "estimate_data_bytes", "available_bytes", "check_fits",
           "format_bytes", "PYTHON_FLOAT_BYTES", "FRACTION"]


def _sizes(sizes: Sequence[int]) -> list[int]:
    out = [int(n) for n in sizes]
    if len(out) < 2 or any(n < 1 for n in out):
        raise ValueError(f"sizes must be >= 2 positive integers, got {list(sizes)}")
    return out


def estimate_network_bytes(sizes: Sequence[int], *, batch: int = 1, dtype_bytes: int = 8,
                           python_floats: bool = False) -> int:
    """Bytes a network ``sizes = [n_in, n_1, ..., n_out]`` needs to train on batches of
    ``batch`` samples: parameters + gradients + optimiser state (``4 P`` numbers) + one batch's
    activations and their gradients (``batch (2 n_in + 4 sum n_i)`` numbers), at
    ``dtype_bytes`` per number, or :data:`PYTHON_FLOAT_BYTES` with ``python_floats=True``."""
    sizes = _sizes(sizes)
    batch = max(int(batch), 1)
    params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    activations = batch * (2 * sizes[0] + 4 * sum(sizes[1:]))
    per_number = PYTHON_FLOAT_BYTES if python_floats else int(dtype_bytes)
    return (4 * params + activations) * per_number


def estimate_data_bytes(n: int, d: int, dtype_bytes: int = 8) -> int:
    """Bytes of a data set of ``n`` samples with ``d`` features: ``X`` (n, d) at ``dtype_bytes``
    per number and the int64 labels ``c`` (n,)."""
    n, d = max(int(n), 0), max(int(d), 0)
    return n * d * int(dtype_bytes) + 8 * n


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """What a cgroup-v2 memory limit still leaves this process's group (containers), if any."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Memory this process can still use, in bytes: ``MemAvailable`` of ``/proc/meminfo`` (the
    kernel's estimate, counting reclaimable caches), capped by a container's cgroup limit; without
    ``/proc``: psutil, else ``os.sysconf`` free pages."""
    found = _meminfo_available()
    if found is None:
        try:
            import psutil

            found = int(psutil.virtual_memory().available)
        except Exception:  # noqa: BLE001 - any failure: try the next source
            found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = 0
    room = _cgroup_room()
    return min(found, room) if room is not None else found


def format_bytes(n: int) -> str:
    """``n`` bytes for a message: GB (one decimal below 100 GB), MB below 0.1 GB."""
    if n >= 10**11:
        return f"{n / 1e9:,.0f} GB"
    if n >= 10**8:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.0f} MB" if n >= 10**6 else f"{n / 1e3:.0f} kB"


def check_fits(nbytes: int, what: str, flag: str | None = None) -> None:
    """Raise :class:`SizeError` when ``nbytes`` exceed :data:`FRACTION` of :func:`available_bytes`.

    ``what`` names the thing (``"a 784-100000-10 network with batches of 128"``); ``flag`` the
    option that shrinks it (``"--hidden"``), named in the message's advice.
    """
    available = available_bytes()
    if available <= 0 or nbytes <= FRACTION * available:
        return
    advice = f"use a smaller {flag}" if flag else "use a smaller network, batch or data set"
    raise SizeError(f"{what} needs about {format_bytes(nbytes)}, this machine has "
                    f"{format_bytes(available)} available; {advice}")
