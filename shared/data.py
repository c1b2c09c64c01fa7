"""Data sets for every stage: ``(Xtrain, ctrain), (Xval, cval), num_classes``.

Every loader returns float64 features ``x`` of shape ``(N, D)`` (images: ``(N, 784)``, or
``(N, 28, 28)`` with ``flatten=False``) and int64 class labels ``y`` of shape ``(N,)`` with values
``0 .. num_classes - 1``. "val" is the validation part; with ``final=True`` the loaders that have an
official test split return it in its place. :func:`describe` gives a one-line description of each
data set and its split, which the command lines and reports print.

=============  ==================================================================================
name           loader
=============  ==================================================================================
synth          :func:`load_synth` - the hand-out's 2-D elliptic-boundary problem (generated)
mnist-sample   :func:`load_mnist_sample` - 7,000 real MNIST digits shipped with the project
mnist          :func:`load_mnist` - full MNIST (files found locally or downloaded once)
fashion-mnist  :func:`load_fashion_mnist` - full Fashion-MNIST (local, Debian package, download)
iris           :func:`load_iris` - Fisher's 150 irises, shipped as a CSV
disc           :func:`load_disc` - 2-D points inside / outside a disc (generated)
=============  ==================================================================================

Where full MNIST / Fashion-MNIST files come from, in order (each file separately, raw or ``.gz``):

1. the ``data_dir`` argument (the folder itself or its ``<name>/`` subfolder), or else the
   ``MLP_LADDER_DATA`` environment variable (a root folder: files in ``$MLP_LADDER_DATA/<name>/``);
2. the per-user cache, ``~/.cache/mlp-ladder/<name>/`` (see :func:`shared.download.cache_root`);
3. for Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist/`` (``dataset-fashion-mnist``),
   unless the ``MLP_LADDER_SYSTEM_DATA`` environment variable is ``0`` (what a machine without
   the package sees; the test suite sets it, so no test reads system data);
4. a download from a public mirror into the cache (``download=True``) with pooch
   (:mod:`shared.download`): progress bar, MD5 check against the published checksums, the file
   renamed into place only once verified; what a killed download left is removed at the next
   start. Mirrors: the ``mirrors`` argument, else the
   environment variables ``MLP_LADDER_MNIST_MIRROR`` / ``MLP_LADDER_FASHION_MNIST_MIRROR``
   (base URLs separated by commas or spaces), else :data:`IDX_SETS`' defaults.

Local files are not checksummed (Debian recompresses its copies, and a course may ship its own
subset) but are read strictly by :mod:`shared.idx`; :func:`matches_official` checks a file's
uncompressed content against the official one. Offline and without the files, the loaders raise
:class:`DataNotFoundError` naming the missing files, every place looked in and how to get them
(``python -m shared.data --fetch <name>``, or ``$MLP_LADDER_DATA``).

``limit=`` (MNIST, Fashion-MNIST, the MNIST sample) keeps the first ``limit`` training images,
cut while they are still uint8: a quick run on 10,000 images never converts all 70,000.

Randomness comes from a passed-in or created ``np.random.Generator``, never the global state.
Leaves out: data augmentation, other data sets, and lazy/memory-mapped loading (full MNIST as
float64 is about 440 MB; pass ``dtype=np.float32`` to halve it).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.download import (
    ChecksumError,
    DownloadError,
    cache_root,
    clean_stale_downloads,
    content_md5,
)
from shared.download import download as fetch_file
from shared.errors import ConfigError, LadderError, run_main
from shared.idx import IDXError, read_idx_pair
from shared.memory import check_fits, estimate_data_bytes
from shared.records import note_data_source

__all__ = [
    "DATASETS", "DataNotFoundError", "IDXError", "ChecksumError", "DownloadError", "IDX_SETS",
    "load_synth", "load_mnist", "load_fashion_mnist", "load_mnist_sample", "load_iris",
    "load_disc", "load_dataset", "as_lists", "describe", "find_idx_files", "matches_official",
    "manual_download_lines",
]

DATASETS = ("synth", "mnist-sample", "mnist", "fashion-mnist", "iris", "disc")

DATA_FILES = Path(__file__).resolve().parent / "data_files"
SAMPLE_DIR = DATA_FILES / "mnist-sample"
IRIS_CSV = DATA_FILES / "iris" / "iris.csv"

NUM_VAL_IDX = 5_000  # full (Fashion-)MNIST: the last 5,000 training images validate


class DataNotFoundError(LadderError, FileNotFoundError):
    """The files of a data set are neither on disk nor downloadable; the message says which
    files, where they were looked for and how to put them there by hand."""


def _rng(seed) -> np.random.Generator:
    """``np.random.default_rng(seed)`` for a seed that is an integer >= 0 (else ConfigError)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- synthetic 2-D data
SYNTH_Q = np.array([[1.0, -0.05], [1.0, 0.4]])
SYNTH_THRESHOLD = 0.6


def load_synth(num_train: int = 60_000, num_val: int = 10_000, seed: int = 0,
               rng: np.random.Generator | None = None):
    """The hand-out's synthetic 2-class data: 2 standard-normal features, label 1 where the
    quadratic form ``x Q x^T > 0.6`` with ``Q = [[1, -0.05], [1, 0.4]]`` (an elliptic boundary,
    about 56% ones).

    Randomness comes from ``rng`` when given, else from ``np.random.default_rng(seed)``; the global
    numpy state is never touched. Returns ``(Xtrain (num_train, 2), ctrain (num_train,)),
    (Xval (num_val, 2), cval (num_val,)), 2`` with float64 features and int64 labels.
    The validation points are fresh draws from the same distribution, so they serve as a test set
    too (there is no separate one).
    """
    if num_train < 0 or num_val < 0:
        raise ConfigError(f"num_train and num_val must be >= 0, got {num_train}, {num_val}")
    check_fits(estimate_data_bytes(num_train + num_val, 2 + 1),
               f"the synth data set of {num_train + num_val:,} samples", "number of samples")
    rng = _rng(seed) if rng is None else rng
    x = rng.standard_normal((num_train + num_val, 2))
    q = np.einsum("bf,fk,bk->b", x, SYNTH_Q, x)
    y = (q > SYNTH_THRESHOLD).astype(np.int64)
    note_data_source("synth", ["generated by shared.data.load_synth"])
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:]), 2


def as_lists(split):
    """A ``(X, c)`` pair of arrays as Python lists (``X`` a list of lists of floats, ``c`` ints),
    for stage 1, which works without numpy."""
    X, c = split
    return [[float(v) for v in row] for row in X], [int(v) for v in c]


# --------------------------------------------------------------------------- IDX data sets
@dataclass(frozen=True)
class IDXSet:
    """Where an IDX data set's files come from and how to recognise the official ones.

    ``files`` maps a role (``train-images``, ``train-labels``, ``test-images``, ``test-labels``)
    to ``(file name without .gz, MD5 of the published .gz, MD5 of the uncompressed content)``.
    """

    name: str
    title: str
    files: dict
    mirrors: tuple[str, ...]
    mirror_env: str
    system_dirs: tuple[tuple[str, str], ...] = ()  # (folder, what provides it)
    credit: str = ""
    classes: tuple[str, ...] = field(default_factory=tuple)


IDX_SETS = {
    "mnist": IDXSet(
        name="mnist",
        title="MNIST",
        files={
            "train-images": ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                             "6bbc9ace898e44ae57da46a324031adb"),
            "train-labels": ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
                             "a25bea736e30d166cdddb491f175f624"),
            "test-images": ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
                            "2646ac647ad5339dbf082846283269ea"),
            "test-labels": ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
                            "27ae3e4e09519cfbb04c329615203637"),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        mirror_env="MLP_LADDER_MNIST_MIRROR",
        credit="Yann LeCun, Corinna Cortes, Christopher J.C. Burges; CC BY-SA 3.0",
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": IDXSet(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files={
            "train-images": ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                             "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            "train-labels": ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
                             "9018921c3c673c538a1fc5bad174d6f9"),
            "test-images": ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
                            "8181f5470baa50b63fa0f6fddb340f0a"),
            "test-labels": ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
                            "15d484375f8d13e6eb1aabb0c3f46965"),
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        mirror_env="MLP_LADDER_FASHION_MNIST_MIRROR",
        system_dirs=(("/usr/share/datasets/fashion-mnist",
                      "Debian/Ubuntu package dataset-fashion-mnist"),),
        credit="Han Xiao, Kashif Rasul, Roland Vollgraf (Zalando Research); MIT licence",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    ),
}


def _mirrors(spec: IDXSet, mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is None:
        env = os.environ.get(spec.mirror_env, "").strip()
        mirrors = re.split(r"[,\s]+", env) if env else spec.mirrors
    return [m if m.endswith("/") else m + "/" for m in mirrors if m]


#: Set this environment variable to 0 to ignore the system-wide folders (``IDXSet.system_dirs``).
SYSTEM_DATA_ENV = "MLP_LADDER_SYSTEM_DATA"


def system_dirs(spec: IDXSet) -> tuple[tuple[str, str], ...]:
    """``spec.system_dirs``, or none when ``$MLP_LADDER_SYSTEM_DATA`` is 0 / off / no."""
    if os.environ.get(SYSTEM_DATA_ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return ()
    return spec.system_dirs


def _places(spec: IDXSet, data_dir, cache_dir) -> list[tuple[Path, str]]:
    """The folders searched, in order, each with where it comes from."""
    places: list[tuple[Path, str]] = []
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        places += [(d, "data_dir argument"), (d / spec.name, "data_dir argument")]
    elif data_env() is not None:
        places.append((data_env() / spec.name, "MLP_LADDER_DATA environment variable"))
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / spec.name
    places.append((cache, "per-user cache"))
    places += [(Path(d), what) for d, what in system_dirs(spec)]
    return places


def data_env() -> Path | None:
    """The folder ``$MLP_LADDER_DATA`` names, or None when it is unset or empty. Set but unusable
    - a file, a loop of symbolic links, not readable - it is an error (:class:`DataNotFoundError`
    naming it), never silently passed over; a folder that does not exist (yet) or lacks the
    files is searched in vain, and the loader says which copy it used instead."""
    text = os.environ.get("MLP_LADDER_DATA", "")
    if not text.strip():
        return None
    p = Path(text).expanduser()
    try:
        mode = p.stat().st_mode
        why = None if stat.S_ISDIR(mode) else "is a file, not a folder"
    except FileNotFoundError:
        return p
    except OSError as e:
        why = "is a loop of symbolic links" if e.errno == errno.ELOOP else (e.strerror or str(e))
    if why is None and not os.access(p, os.R_OK | os.X_OK):
        why = "is not readable (check its permissions)"
    if why:
        raise DataNotFoundError(f"MLP_LADDER_DATA={text} {why}; set it to the folder that holds "
                                "mnist/ or fashion-mnist/, or unset it")
    return p


_NOTED: set = set()


def _note_fallback(spec: IDXSet, found: dict, data_dir) -> None:
    """One line on stderr (once per process) when ``$MLP_LADDER_DATA`` is set but the files of
    ``spec`` came from elsewhere: which copy is used, and why."""
    root = data_env() if data_dir is None else None
    if root is None:
        return
    folder = root / spec.name
    used = sorted({str(p.parent) for p in found.values() if p is not None
                   and p.parent != folder})
    if not used or (spec.name, str(folder)) in _NOTED:
        return
    _NOTED.add((spec.name, str(folder)))
    if not root.is_dir():
        why = f"MLP_LADDER_DATA={root} does not exist"
    elif not any(root.iterdir()):
        why = f"MLP_LADDER_DATA={root} is empty"
    elif not folder.is_dir():
        why = f"MLP_LADDER_DATA={root} has no {spec.name}/ folder"
    else:
        why = f"{folder} (from MLP_LADDER_DATA) lacks {spec.title} files"
    print(f"note: {why}; using the copy in {', '.join(used)}", file=sys.stderr)


def find_idx_files(name: str, roles: Sequence[str] = ("train-images", "train-labels",
                                                      "test-images", "test-labels"),
                   data_dir=None, cache_dir=None) -> dict:
    """``{role: path or None}``: where each file of data set ``name`` is found locally (raw or
    ``.gz``), following the lookup order in the module docstring. Nothing is downloaded."""
    spec = IDX_SETS[name]
    found = {}
    for role in roles:
        fname = spec.files[role][0]
        found[role] = next((p for folder, _ in _places(spec, data_dir, cache_dir)
                            for p in (folder / fname, folder / (fname + ".gz")) if p.is_file()),
                           None)
    return found


def matches_official(name: str, role: str, path) -> bool:
    """Whether ``path`` (raw or any gzip compression) holds the official uncompressed content of
    data set ``name``'s file ``role`` (MD5 of the decompressed bytes)."""
    return content_md5(path) == IDX_SETS[name].files[role][2]


def _missing_message(spec: IDXSet, missing: Sequence[str], data_dir, cache_dir,
                     mirrors: list[str], reason: str) -> str:
    """What is missing, where it was looked for, why it was not downloaded and how to get it, as
    sentences (a command prints it on one line). ``python -m shared.data`` lists the files'
    addresses and checksums for fetching them by hand."""
    names = [spec.files[r][0] for r in missing]
    places = _places(spec, data_dir, cache_dir)
    looked = "; ".join(f"{folder} ({what})" for folder, what in places)
    unset = "" if data_dir is not None or data_env() is not None else \
        " (MLP_LADDER_DATA is not set)"
    text = (f"{spec.title}: {len(names)} file(s) not found: "
            + ", ".join(f"{n}[.gz]" for n in names)
            + f". Looked in: {looked}{unset}. Download: {reason}. "
            f"To get them: run `python -m shared.data --fetch {spec.name}` where the internet is "
            f"reachable, or put the files (raw or .gz) in <folder>/{spec.name}/ and set "
            f"MLP_LADDER_DATA=<folder>; `python -m shared.data` lists their addresses and MD5 "
            "checksums for a manual download.")
    for folder, what in spec.system_dirs:           # how to get them, even when ignored
        if "package" in what:
            text += f" On Debian/Ubuntu: sudo apt install {what.split()[-1]} (installs {folder})."
    return text


def manual_download_lines(name: str, roles: Sequence[str] | None = None,
                          mirrors: Sequence[str] | None = None) -> list[str]:
    """Shell lines that fetch data set ``name``'s files by hand into the per-user cache, each
    with its published MD5 (``python -m shared.data`` prints them for missing files)."""
    spec = IDX_SETS[name]
    roles = list(spec.files) if roles is None else list(roles)
    urls = _mirrors(spec, mirrors)
    base = urls[0] if urls else spec.mirrors[0]
    cache = cache_root() / spec.name
    lines = [f"mkdir -p {cache} && cd {cache}"]
    for r in roles:
        fname, gz_md5, _ = spec.files[r]
        lines.append(f"curl -fLO {base}{fname}.gz    # MD5 {gz_md5}")
    return lines


def _locate(spec: IDXSet, roles: Sequence[str], data_dir, cache_dir, download_ok: bool,
            mirrors: Sequence[str] | None) -> dict:
    found = find_idx_files(spec.name, roles, data_dir, cache_dir)
    missing = [r for r in roles if found[r] is None]
    if not missing:
        return found
    urls = _mirrors(spec, mirrors)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / spec.name
    clean_stale_downloads(cache)  # what a killed download left behind
    if not download_ok:
        raise DataNotFoundError(_missing_message(spec, missing, data_dir, cache_dir, urls,
                                                 "not attempted (download=False)"))
    for i, role in enumerate(missing):
        fname, gz_md5, raw_md5 = spec.files[role]
        try:
            found[role] = fetch_file([u + fname + ".gz" for u in urls], cache / (fname + ".gz"),
                                   gz_md5, content_md5s=(raw_md5,))
        except DownloadError as e:
            raise DataNotFoundError(_missing_message(
                spec, missing[i:], data_dir, cache_dir, urls, f"failed ({e})")) from e
    return found


def _to_features(images: np.ndarray, flatten: bool, dtype) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float (N, 784) or (N, 28, 28) in [0, 1]."""
    x = images.reshape(len(images), -1) if flatten else images
    x = x.astype(dtype)
    x /= 255.0
    return x


def _image_splits(xi, yi, ti, tl, flatten: bool, dtype, limit: int | None):
    """uint8 images and labels of the training (``xi, yi``) and validation / test (``ti, tl``)
    parts as ``(Xtrain, ctrain), (Xval, cval), 10``. ``limit`` cuts the training part while it is
    still uint8, so only the kept images become floats."""
    if limit is not None:
        xi, yi = xi[:limit], yi[:limit]
    return ((_to_features(xi, flatten, dtype), yi.astype(np.int64)),
            (_to_features(ti, flatten, dtype), tl.astype(np.int64)), 10)


def _check_limit(limit) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ConfigError(f"limit must be an integer >= 1 (or None for all), got {limit!r}")
    return int(limit)


def _load_idx_set(name: str, final: bool, flatten: bool, data_dir, cache_dir, download_ok: bool,
                  mirrors, dtype, limit=None):
    limit = _check_limit(limit)
    spec = IDX_SETS[name]
    roles = ["train-images", "train-labels"] + (["test-images", "test-labels"] if final else [])
    paths = _locate(spec, roles, data_dir, cache_dir, download_ok, mirrors)
    note_data_source(name, [paths[r] for r in roles])
    xi, yi = read_idx_pair(paths["train-images"], paths["train-labels"], (28, 28), 10)
    if final:
        ti, tl = read_idx_pair(paths["test-images"], paths["test-labels"], (28, 28), 10)
    else:
        if len(xi) <= NUM_VAL_IDX:
            raise IDXError(f"{paths['train-images']}: {len(xi)} training images, need more than "
                           f"{NUM_VAL_IDX} to hold out the last {NUM_VAL_IDX} for validation")
        xi, ti = xi[:-NUM_VAL_IDX], xi[-NUM_VAL_IDX:]
        yi, tl = yi[:-NUM_VAL_IDX], yi[-NUM_VAL_IDX:]
    _note_fallback(spec, paths, data_dir)
    return _image_splits(xi, yi, ti, tl, flatten, dtype, limit)


def load_mnist(final: bool = False, flatten: bool = True, data_dir=None, *, download: bool = True,
               mirrors: Sequence[str] | None = None, cache_dir=None, dtype=np.float64,
               limit: int | None = None):
    """Full MNIST (70,000 handwritten digits, 10 classes), pixels scaled to [0, 1].

    ``final=False``: the first 55,000 official training images train, the last 5,000 validate
    (the test set is not touched, or even needed). ``final=True``: the official 60,000 train /
    10,000 test split. Returns ``(Xtrain (N, 784), ctrain (N,)), (Xval (M, 784), cval (M,)), 10``;
    images are ``(N, 28, 28)`` with ``flatten=False``. Files are found or fetched as described in
    the module docstring; ``cache_dir`` replaces the per-user cache folder ``<cache>/mnist``.
    ``limit`` keeps only the first ``limit`` training images (the validation / test part is
    whole); they are cut while still uint8, so only the kept ones are converted to floats.
    Raises :class:`DataNotFoundError` (offline, no files), :class:`ChecksumError` (a mirror served
    a corrupt file) or :class:`IDXError` (a local file is not a valid MNIST file).
    """
    return _load_idx_set("mnist", final, flatten, data_dir, cache_dir, download, mirrors, dtype,
                         limit)


def load_fashion_mnist(final: bool = False, flatten: bool = True, data_dir=None, *,
                       download: bool = True, mirrors: Sequence[str] | None = None,
                       cache_dir=None, dtype=np.float64, limit: int | None = None):
    """Full Fashion-MNIST (70,000 28x28 grey clothing images, 10 classes, 6,000 per class in
    training), pixels scaled to [0, 1]. Same arguments (``limit`` too), splits and errors as
    :func:`load_mnist`;
    also finds Debian's ``/usr/share/datasets/fashion-mnist/`` (package dataset-fashion-mnist).
    Class names: ``IDX_SETS["fashion-mnist"].classes``."""
    return _load_idx_set("fashion-mnist", final, flatten, data_dir, cache_dir, download, mirrors,
                         dtype, limit)


# --------------------------------------------------------------------------- shipped MNIST sample
SAMPLE_TRAIN, SAMPLE_TEST, SAMPLE_VAL = 6_000, 1_000, 1_000


def load_mnist_sample(final: bool = False, seed: int = 0, flatten: bool = True,
                      rng: np.random.Generator | None = None, dtype=np.float64,
                      limit: int | None = None):
    """A 7,000-digit sample of *real* MNIST shipped with the project (so it works offline) - NOT
    the full MNIST: 7,000 digits drawn with a fixed seed from the official 10,000-image MNIST test
    split (LeCun, Cortes, Burges; CC BY-SA 3.0), stored as a 6,000-digit train part and a
    1,000-digit test part (``shared/data_files/mnist-sample``, built by
    ``python -m shared.build_mnist_sample``).

    ``final=False``: the train part split at random (``rng`` or ``default_rng(seed)``) into 5,000
    train / 1,000 validation. ``final=True``: 6,000 train / the 1,000 test digits. Returns
    ``(Xtrain (N, 784), ctrain (N,)), (Xval (M, 784), cval (M,)), 10`` (``(N, 28, 28)`` with
    ``flatten=False``), pixels in [0, 1]. Accuracies on it are not comparable to full-MNIST ones.
    ``limit`` keeps the first ``limit`` training digits of the split (cut before converting).
    """
    limit = _check_limit(limit)
    xi, yi = read_idx_pair(SAMPLE_DIR / "train-images-idx3-ubyte.gz",
                           SAMPLE_DIR / "train-labels-idx1-ubyte.gz")
    ti, tl = read_idx_pair(SAMPLE_DIR / "t10k-images-idx3-ubyte.gz",
                           SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    note_data_source("mnist-sample", sorted(SAMPLE_DIR.glob("*-ubyte.gz")))
    if len(xi) != SAMPLE_TRAIN or len(ti) != SAMPLE_TEST:
        raise IDXError(f"{SAMPLE_DIR}: expected {SAMPLE_TRAIN} train and {SAMPLE_TEST} test "
                       f"digits, found {len(xi)} and {len(ti)} (rebuild it with "
                       "python -m shared.build_mnist_sample)")
    if not final:
        rng = _rng(seed) if rng is None else rng
        perm = rng.permutation(SAMPLE_TRAIN)
        tr, va = perm[: SAMPLE_TRAIN - SAMPLE_VAL], perm[SAMPLE_TRAIN - SAMPLE_VAL:]
        xi, ti, yi, tl = xi[tr], xi[va], yi[tr], yi[va]
    return _image_splits(xi, yi, ti, tl, flatten, dtype, limit)


# --------------------------------------------------------------------------- Iris
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def read_iris_csv(path=IRIS_CSV) -> tuple[np.ndarray, np.ndarray]:
    """The raw Iris table: features ``(150, 4)`` in cm and classes ``(150,)`` int64.

    The file is scikit-learn's ``iris.csv`` (R.A. Fisher 1936, via the UCI Machine Learning
    Repository, with the two UCI transcription errors corrected to Fisher's paper): a header line
    ``150,4,setosa,versicolor,virginica`` then one ``f1,f2,f3,f4,class`` row per flower.
    """
    path = Path(path)
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    try:
        n, d = int(header[0]), int(header[1])
        x = np.array([[float(v) for v in r[:d]] for r in rows], dtype=np.float64)
        c = np.array([int(r[d]) for r in rows], dtype=np.int64)
    except (ValueError, IndexError) as e:
        raise ValueError(f"{path}: not an Iris CSV ({e})") from None
    if x.shape != (n, d) or tuple(header[2:]) != IRIS_CLASSES:
        raise ValueError(f"{path}: header says {header}, found {x.shape} values")
    return x, c


def load_iris(seed: int = 0, val_fraction: float = 0.2, rng: np.random.Generator | None = None,
              standardize: bool = True):
    """Fisher's Iris data (150 flowers, 4 measurements, 3 classes of 50), shipped as a CSV.

    Split stratified and at random (``rng`` or ``default_rng(seed)``): ``round(50 *
    val_fraction)`` flowers of each class validate (default 10 per class: 120 train / 30 val),
    both parts in shuffled order. Features are standardised with the *training* part's mean and
    standard deviation (``standardize=False`` keeps centimetres). Returns ``(Xtrain (120, 4),
    ctrain (120,)), (Xval (30, 4), cval (30,)), 3``. There is no separate test set.
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    x, c = read_iris_csv()
    note_data_source("iris", [IRIS_CSV])
    rng = _rng(seed) if rng is None else rng
    tr, va = [], []
    for k in range(len(IRIS_CLASSES)):
        idx = rng.permutation(np.flatnonzero(c == k))
        n_val = int(round(len(idx) * val_fraction))
        if n_val < 1 or n_val >= len(idx):
            raise ConfigError(f"val_fraction={val_fraction} leaves {n_val} of {len(idx)} flowers "
                             f"per class for validation; need at least 1 and fewer than all")
        va.append(idx[:n_val])
        tr.append(idx[n_val:])
    tr, va = rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(va))
    xtr, xva = x[tr], x[va]
    if standardize:
        mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
        xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    return (xtr, c[tr]), (xva, c[va]), 3


# --------------------------------------------------------------------------- the disc test
DISC_RADIUS = float(np.sqrt(2.0 / np.pi))  # disc area pi r^2 = 2 = half the [-1, 1]^2 square


def load_disc(n: int = 1000, seed: int = 0, val_fraction: float = 0.2,
              radius: float = DISC_RADIUS, rng: np.random.Generator | None = None):
    """The "disc test": ``n`` points uniform in the square ``[-1, 1]^2``, label 1 inside the
    disc ``x1^2 + x2^2 < radius^2`` centred at the origin, 0 outside. Not linearly separable, so
    a network needs its hidden layer.

    The default radius ``sqrt(2 / pi) ~= 0.798`` makes the disc cover half the square, so the
    classes are balanced in expectation. The first ``n - round(n * val_fraction)`` points train,
    the rest validate (all i.i.d.; default 800 / 200); there is no separate test set.
    Returns ``(Xtrain (n_train, 2), ctrain), (Xval (n_val, 2), cval), 2``.
    """
    n_val = int(round(n * val_fraction))
    if n < 2 or not 0 < n_val < n:
        raise ConfigError(f"need n >= 2 and 0 < round(n * val_fraction) < n, got n={n}, "
                         f"val_fraction={val_fraction}")
    if not radius > 0:
        raise ConfigError(f"radius must be > 0, got {radius}")
    check_fits(estimate_data_bytes(n, 2 + 1), f"the disc data set of {n:,} points",
               "number of points")
    rng = _rng(seed) if rng is None else rng
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((x**2).sum(axis=1) < radius**2).astype(np.int64)
    note_data_source("disc", ["generated by shared.data.load_disc"])
    return (x[: n - n_val], y[: n - n_val]), (x[n - n_val:], y[n - n_val:]), 2


# --------------------------------------------------------------------------- by name
def describe(name: str, final: bool = False) -> str:
    """One line describing data set ``name`` and the split its loader returns (default
    arguments), for command lines and reports."""
    mnist_split = ("official 60,000 train / 10,000 test" if final else
                   "first 55,000 official training images train / last 5,000 validate "
                   "(test set untouched)")
    no_test = "; no separate test set (final=True gives the same split)"
    lines = {
        "synth": "synth: generated 2-D standard-normal points, label 1 where x.Q.x > 0.6 (about 56%"
                 " ones), 2 classes; 60,000 train / 10,000 validation, independent draws (seeded)"
                 + no_test,
        "mnist-sample": "mnist-sample: 7,000 real MNIST digits shipped with the project, drawn "
                        "from the 10,000-image MNIST test split - a sample, NOT full MNIST; "
                        + ("6,000 train / 1,000 test" if final else
                           "5,000 train / 1,000 validation (seeded split of its 6,000 train part)"
                           ),
        "mnist": f"mnist: full MNIST handwritten digits, 28x28 pixels in [0, 1], 10 classes; "
                 f"{mnist_split}",
        "fashion-mnist": f"fashion-mnist: full Fashion-MNIST clothing images, 28x28 pixels in "
                         f"[0, 1], 10 classes; {mnist_split}",
        "iris": "iris: Fisher's 150 irises, 4 standardised measurements, 3 classes; stratified "
                "seeded split 120 train / 30 validation" + no_test,
        "disc": f"disc: generated points uniform in [-1, 1]^2, label 1 inside the disc of radius "
                f"{DISC_RADIUS:.3f} (about 50% ones), 2 classes; 800 train / 200 validation "
                f"(seeded)" + no_test,
    }
    if name not in lines:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return lines[name]


def load_dataset(name: str, *, seed: int = 0, final: bool = False, **kw):
    """Load data set ``name`` (one of :data:`DATASETS`); other keywords go to its loader.

    ``seed`` and ``final`` are accepted for every name so a command line can pass them always:
    ``seed`` is ignored by mnist / fashion-mnist (fixed split), ``final`` by synth / iris / disc
    (no separate test set); :func:`describe` says which split you get.
    """
    if name == "synth":
        return load_synth(seed=seed, **kw)
    if name == "mnist-sample":
        return load_mnist_sample(final=final, seed=seed, **kw)
    if name == "mnist":
        return load_mnist(final=final, **kw)
    if name == "fashion-mnist":
        return load_fashion_mnist(final=final, **kw)
    if name == "iris":
        return load_iris(seed=seed, **kw)
    if name == "disc":
        return load_disc(seed=seed, **kw)
    raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    """``python -m shared.data``: list the data sets and where the full ones' files are;
    ``--fetch mnist fashion-mnist`` downloads the missing ones into the cache."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m shared.data",
        description="List the data sets (and where the files of the full ones are found); "
                    "--fetch downloads missing MNIST / Fashion-MNIST files into the per-user "
                    "cache ($MLP_LADDER_CACHE, else ~/.cache/mlp-ladder). Files are also found "
                    "in $MLP_LADDER_DATA/<name>/.")
    ap.add_argument("--fetch", nargs="+", choices=sorted(IDX_SETS), default=[],
                    help="download the missing files of these data sets (all four files each)")
    ap.add_argument("--data-dir", default=None, help="also look in this folder first")
    args = ap.parse_args(argv)
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise ConfigError(f"--data-dir {args.data_dir}: no such folder")
    roles = ("train-images", "train-labels", "test-images", "test-labels")
    for name in args.fetch:
        _locate(IDX_SETS[name], roles, args.data_dir, None, True, None)
    for name in DATASETS:
        print(describe(name))
        if name in IDX_SETS:
            found = find_idx_files(name, roles, args.data_dir)
            for role, p in found.items():
                where = p if p else f"MISSING (python -m shared.data --fetch {name})"
                print(f"    {role:13s} {where}")
            missing = [r for r, p in found.items() if p is None]
            if missing:
                print("    by hand:")
                for line in manual_download_lines(name, missing):
                    print(f"      {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, prog="python -m shared.data"))
