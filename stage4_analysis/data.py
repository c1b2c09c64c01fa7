"""The data sets of the experiments, in one place, and loading them once per process.

What this adds over ``shared.data.load_dataset``: the names the report gives the data sets
(:data:`NAMES`), which image set each mode trains on (:data:`QUICK_IMAGES` offline,
:data:`FULL_IMAGES` the real ones; an experiment picks among them), a fixed split seed, offline by
default (nothing is downloaded unless the reproduction was started with ``--download``), a cheap
check that a data set's files are present (:func:`data_problem`) and a per-process cache
(:func:`load_data`), so a worker loads the data once for all the runs it executes.
"""

from __future__ import annotations

import os

from shared.data import IDX_SETS

#: Every data set an experiment may use, with the name the report gives it.
NAMES = {
    "mnist-sample": "MNIST sample (shipped with the project, real MNIST digits)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "synth": "synthetic 2-D data (hand-out's load_synth)",
    "iris": "Iris",
    "disc": "disc test data",
}
#: The image set of quick mode: shipped with the project, so a quick reproduction is offline.
QUICK_IMAGES = "mnist-sample"
#: The image sets of full mode (their files may be absent: :func:`data_problem` says so).
FULL_IMAGES = ("mnist", "fashion-mnist")

#: Data-set split seed. The mnist-sample split depends on a seed; it is fixed so that every run
#: of a study sees the same train/validation split and only the initialisation and the shuffling
#: change with the run's seed.
DATA_SEED = 0

DOWNLOAD_ENV = "MLP_LADDER_ANALYSIS_DOWNLOAD"

_DATA_CACHE: dict = {}


def allow_download() -> bool:
    """Downloads are off unless the reproduction was started with ``--download``."""
    return os.environ.get(DOWNLOAD_ENV) == "1"


def data_problem(dataset: str, final: bool) -> str | None:
    """None when ``dataset`` can be loaded here without a download, else the loader's error
    message (which says which files are missing, where it looked and how to get them).
    Cheap: checks the files' presence, loads nothing."""
    if dataset not in NAMES:
        raise ValueError(f"unknown data set {dataset!r}; stage4_analysis.data.NAMES lists "
                         + ", ".join(NAMES))
    if dataset not in IDX_SETS:
        return None
    from shared.data import DataNotFoundError, find_idx_files, load_dataset

    roles = ("train-images", "train-labels") + (("test-images", "test-labels") if final else ())
    found = find_idx_files(dataset, roles)
    if all(found.values()) or allow_download():
        return None
    try:
        load_dataset(dataset, final=final, download=False)
    except DataNotFoundError as e:
        return str(e)
    return None  # pragma: no cover - the files appeared between the two checks


def short_problem(message: str) -> str:
    """The loader's missing-files message in one line: what is missing and where it looked (the
    full message, with how to get the files, is kept in the lr-study note / the loader)."""
    lines = message.splitlines()
    places = [ln.strip() for ln in lines[1:] if ln.startswith("  ") and "(" in ln
              and not ln.strip().startswith(("curl", "mkdir"))]
    return lines[0] + (f" (looked in: {'; '.join(places)})" if places else "")


def load_data(dataset: str, final: bool, dtype: str = "float64", limit: int | None = None):
    """``((xtr, ytr), (xval, yval), num_classes)``, cached per process (a worker keeps the data
    of the runs it already did). ``limit`` keeps the first ``limit`` training samples."""
    import numpy as np

    from shared.data import load_dataset

    key = (dataset, bool(final), dtype)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 2:  # full Fashion-MNIST is ~190 MB in float32: keep two at most
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        kw = {"dtype": np.dtype(dtype)}
        if dataset in IDX_SETS:
            kw["download"] = allow_download()
        _DATA_CACHE[key] = load_dataset(dataset, seed=DATA_SEED, final=final, **kw)
    (xtr, ytr), (xval, yval), k = _DATA_CACHE[key]
    if limit is not None:
        xtr, ytr = xtr[:limit], ytr[:limit]
    return (xtr, ytr), (xval, yval), k

