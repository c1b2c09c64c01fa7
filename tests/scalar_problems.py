"""A random stage-1 problem shared by the stage-1 tests: weights from ``init_weights`` and
Gaussian inputs as Python lists, classes as ints, all from one seeded ``random.Random``."""

from __future__ import annotations

import random

from shared import weights as wf


def problem(sizes, n, seed, scale=1.0, activation="sigmoid"):
    """``(weights, X (n, sizes[0]) lists, c (n) ints)``; inputs are ``scale`` times N(0, 1); the
    weights' hidden ``activation`` is one of ``shared.weights.ACTIVATIONS``."""
    rng = random.Random(seed)
    weights = wf.init_weights(sizes, rng, activation=activation)
    X = [[scale * rng.gauss(0, 1) for _ in range(sizes[0])] for _ in range(n)]
    c = [rng.randrange(sizes[-1]) for _ in range(n)]
    return weights, X, c
