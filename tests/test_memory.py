"""shared/memory.py: the size estimates (counted by hand) and the check that refuses sizes this
machine cannot hold with one SizeError naming the flag."""

import pytest

from shared import memory
from shared.errors import LadderError, SizeError
from shared.memory import (
    available_bytes,
    check_fits,
    estimate_data_bytes,
    estimate_network_bytes,
)


def test_network_estimate_counted_by_hand():
    # 2-3-2: parameters (2+1)*3 + (3+1)*2 = 17; with gradients and up to two optimiser states:
    # 4 * 17 = 68 numbers. Activations of one sample: X, dX (2 * 2) + k, h, dK, dH of the
    # hidden (4 * 3) and output (4 * 2) layers = 4 + 12 + 8 = 24 numbers.
    assert estimate_network_bytes([2, 3, 2]) == (68 + 24) * 8
    assert estimate_network_bytes([2, 3, 2], batch=10) == (68 + 240) * 8
    assert estimate_network_bytes([2, 3, 2], batch=10, dtype_bytes=4) == (68 + 240) * 4
    assert estimate_network_bytes([2, 3, 2], python_floats=True) == (68 + 24) * 32
    # 784-300-10 at batch 128, float64: P = 785*300 + 301*10 = 238,510
    p = 785 * 300 + 301 * 10
    act = 128 * (2 * 784 + 4 * (300 + 10))
    assert estimate_network_bytes([784, 300, 10], batch=128) == (4 * p + act) * 8


def test_network_estimate_of_absurd_sizes_is_exact_not_overflowed():
    n = 10**12
    got = estimate_network_bytes([784, n, 10])
    assert got == (4 * (785 * n + (n + 1) * 10) + 2 * 784 + 4 * (n + 10)) * 8
    with pytest.raises(ValueError, match="positive integers"):
        estimate_network_bytes([784, 0, 10])
    with pytest.raises(ValueError, match="positive integers"):
        estimate_network_bytes([784])


def test_data_estimate():
    assert estimate_data_bytes(70_000, 784) == 70_000 * 784 * 8 + 70_000 * 8
    assert estimate_data_bytes(10, 2, dtype_bytes=4) == 10 * 2 * 4 + 80


def test_available_bytes_is_plausible():
    got = available_bytes()
    total = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
    except OSError:
        pass
    assert got > 0
    if total is not None:
        assert got <= total


def test_check_fits_refuses_with_the_estimate_and_the_flag(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 10**9)
    check_fits(6 * 10**9, "a network")  # 75% of what is available: fine
    with pytest.raises(SizeError) as e:
        check_fits(7 * 10**9, "a 784-1000000-10 network", flag="--hidden")
    msg = str(e.value)
    assert msg == ("a 784-1000000-10 network needs about 7.0 GB, this machine has 8.0 GB "
                   "available; use a smaller --hidden")
    assert issubclass(SizeError, LadderError)
    with pytest.raises(SizeError, match="needs about 800,000 GB.*use a smaller network, batch"):
        check_fits(8 * 10**14, "the data")


def test_check_fits_on_this_machine():
    check_fits(estimate_network_bytes([784, 300, 10], batch=128), "a small network")
    with pytest.raises(SizeError, match="--hidden"):
        check_fits(estimate_network_bytes([784, 10**11, 10]), "a huge network", "--hidden")
