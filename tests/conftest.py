"""Test-suite settings shared by every test file.

BLAS threads: the suite runs on small machines (2 cores in CI) with several numpy-heavy tests and
worker processes at once; OpenBLAS threads that spin while waiting then slow tiny matrix products
down by one to two orders of magnitude. One BLAS thread per process keeps the suite fast and its
time predictable. This must happen before numpy is first imported, hence at the top of conftest.

Data: no test sees the machine's data files unless it asks to. Every test runs with the system
folders switched off (``MLP_LADDER_SYSTEM_DATA=0``: Debian's dataset-fashion-mnist is ignored),
an empty per-user cache of its own and no ``MLP_LADDER_DATA``, so a test that builds a data
folder gets what it built and nothing else, on a bare machine and on a full one alike (child
processes inherit the same environment). A test that wants the real files where they exist
takes the :func:`system_data` fixture (and skips with a reason where they do not); so does a test
that replaces the system folders by folders of its own (``IDXSet.system_dirs``).
"""

import os

import pytest

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(autouse=True)
def _no_machine_data(monkeypatch, tmp_path_factory):
    """Hide the system data folders, the user's cache and ``$MLP_LADDER_DATA`` from the test."""
    monkeypatch.setenv("MLP_LADDER_SYSTEM_DATA", "0")
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path_factory.mktemp("empty-cache")))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)


@pytest.fixture
def system_data(monkeypatch):
    """Let the test read the system data folders (Debian's packages), where installed."""
    monkeypatch.delenv("MLP_LADDER_SYSTEM_DATA", raising=False)
