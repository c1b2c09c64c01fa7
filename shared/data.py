"""Data sets for every stage: ``(xtrain, ytrain), (xval, yval), num_classes``.

(Foundation skeleton: load_synth first; the IDX/MNIST/Fashion-MNIST/Iris/disc loaders follow.)
"""

from __future__ import annotations

import numpy as np

SYNTH_Q = np.array([[1.0, -0.05], [1.0, 0.4]])
SYNTH_THRESHOLD = 0.6


def load_synth(num_train: int = 60_000, num_val: int = 10_000, seed: int = 0,
               rng: np.random.Generator | None = None):
    """The hand-out's synthetic 2-class data: 2 standard-normal features, label 1 where the
    quadratic form ``x Q x^T > 0.6`` with ``Q = [[1, -0.05], [1, 0.4]]`` (an elliptic boundary,
    about 56% ones).

    Randomness comes from ``rng`` when given, else from ``np.random.default_rng(seed)``; the global
    numpy state is never touched. Returns ``(xtrain (num_train, 2), ytrain (num_train,)),
    (xval (num_val, 2), yval (num_val,)), 2`` with float64 features and int64 labels.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError(f"num_train and num_val must be >= 0, got {num_train}, {num_val}")
    rng = np.random.default_rng(seed) if rng is None else rng
    x = rng.standard_normal((num_train + num_val, 2))
    q = np.einsum("bf,fk,bk->b", x, SYNTH_Q, x)
    y = (q > SYNTH_THRESHOLD).astype(np.int64)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:]), 2


def as_lists(split):
    """A ``(x, y)`` pair of arrays as Python lists (``x`` a list of lists of floats, ``y`` ints),
    for stage 1, which works without numpy."""
    x, y = split
    return [[float(v) for v in row] for row in x], [int(v) for v in y]
