"""The playground's data sets: small 2-D problems one can see whole, and the MNIST sample.

Each maker returns ``(X (n_train, D), c (n_train,)), (Xval (n_val, D), cval (n_val,)), K`` like
the loaders of ``shared.data``, with 20 % of the points held out for validation. The disc test
(``shared.data.load_disc``) and the VU hand-out's synthetic data (``shared.data.load_synth``) come
from their loaders in ``shared.data``; XOR, two spirals and two moons are made here, the way
TensorFlow Playground and scikit-learn draw them. ``noise`` moves each generated point by
Gaussian noise of that standard deviation *after* its label is fixed, so labels near the
boundary end up on the wrong side (the disc and synth data have no noise of their own); for
MNIST it is ignored. ``size`` is the number of points (for MNIST: training digits, at most
5,000; the 1,000 validation digits stay whole).

Randomness: one ``np.random.Generator`` from ``seed`` per call; the same arguments give the same
points. Leaves out: data from files other than the shipped MNIST sample, and more than 2
classes in the plane.
"""

from __future__ import annotations

import numpy as np

from shared.data import load_disc, load_mnist_sample, load_synth
from shared.errors import ConfigError

#: Name -> what the page shows in its data menu.
DATASETS = {
    "disc": "disc test (inside / outside a disc)",
    "synth": "VU synthetic data (elliptic boundary)",
    "xor": "XOR (four quadrants)",
    "spirals": "two spirals",
    "moons": "two moons",
    "mnist-sample": "MNIST sample (784 pixels, 10 digits)",
}
VAL_FRACTION = 0.2
MAX_DIGITS = 5_000


def _split(X: np.ndarray, c: np.ndarray, num_classes: int):
    """The first 80 % train, the rest validate (the points are drawn i.i.d.)."""
    n_val = int(round(len(X) * VAL_FRACTION))
    n = len(X) - n_val
    return (X[:n], c[:n]), (X[n:], c[n:]), num_classes


def xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in ``[-1, 1]^2``; class 1 where ``x1 x2 < 0`` (the two off-diagonal
    quadrants). X (n, 2), c (n,)."""
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] < 0).astype(np.int64)


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms, 1.75 turns each, radius growing to 1; class = arm."""
    c = rng.permutation(np.arange(n) % 2).astype(np.int64)
    t = rng.uniform(0.0, 1.0, size=n)
    angle = 1.75 * 2 * np.pi * t + np.pi * c
    X = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return X, c


def moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape), centred and scaled
    into about ``[-1, 1]^2``; class = moon."""
    c = rng.permutation(np.arange(n) % 2).astype(np.int64)
    t = rng.uniform(0.0, np.pi, size=n)
    x1 = np.where(c == 0, np.cos(t), 1.0 - np.cos(t))
    x2 = np.where(c == 0, np.sin(t), 0.5 - np.sin(t))
    return np.stack([(x1 - 0.5) / 1.5, (x2 - 0.25) / 1.5], axis=1), c


def _from_loader(name: str, n: int, rng: np.random.Generator):
    """The disc and synth points from ``shared.data``, all of them, in draw order."""
    if name == "disc":
        (X, c), (Xv, cv), _ = load_disc(n=n, rng=rng, val_fraction=VAL_FRACTION)
    else:
        n_val = int(round(n * VAL_FRACTION))
        (X, c), (Xv, cv), _ = load_synth(num_train=n - n_val, num_val=n_val, rng=rng)
    return np.concatenate([X, Xv]), np.concatenate([c, cv])


def make(name: str, size: int = 500, noise: float = 0.0, seed: int = 0):
    """Data set ``name`` (a key of :data:`DATASETS`) with ``size`` points and input noise
    ``noise`` (a standard deviation >= 0), drawn from ``np.random.default_rng(seed)``."""
    if name not in DATASETS:
        raise ConfigError(f"data set: unknown {name!r}; choose one of {', '.join(DATASETS)}")
    if not 10 <= size <= 100_000:
        raise ConfigError(f"size: {size} points; choose between 10 and 100,000")
    if not 0.0 <= noise <= 1.0:
        raise ConfigError(f"noise: {noise}; choose a standard deviation between 0 and 1")
    rng = np.random.default_rng(seed)
    if name == "mnist-sample":
        return load_mnist_sample(rng=rng, limit=min(size, MAX_DIGITS))
    if name in ("disc", "synth"):
        X, c = _from_loader(name, size, rng)
    else:
        X, c = {"xor": xor, "spirals": spirals, "moons": moons}[name](size, rng)
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    return _split(X, c, 2)
