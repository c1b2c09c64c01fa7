"""Gradient-check helpers shared by the stage-1 and stage-3 tests (an independent oracle: central
differences of a scalar function, compared with a scale-free relative error)."""

from __future__ import annotations

import numpy as np

H = 1e-6  # central-difference step


def rel_error(a, b) -> float:
    """||a - b|| / (||a|| + ||b||): scale-free, 0 for identical arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def central_difference(f, values, j, eps: float) -> float:
    """(f(v_j + eps) - f(v_j - eps)) / (2 eps), perturbing ``values[j]`` in place and restoring
    it. ``values`` is anything indexable and assignable: a Python list (stage 1) or an array."""
    old = values[j]
    values[j] = old + eps
    up = f()
    values[j] = old - eps
    down = f()
    values[j] = old
    return (up - down) / (2 * eps)


def numeric_grad(f, x: np.ndarray, h: float = H) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. every entry of x (perturbed in place)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        g[i] = central_difference(f, x, i, h)
    return g
