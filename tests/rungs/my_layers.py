"""Example layers a student writes for stage 3's contract (forward / backward, params / grads).

Check one with ``python -m stage3_batched.gradcheck tests/rungs/my_layers.py:MyLinear``.
"""

import numpy as np


class MyLinear:
    """Y = X W + b: X (N, in) -> Y (N, out); W (in, out), b (out,)."""

    def __init__(self, in_dim, out_dim, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        self.params = {"W": rng.standard_normal((in_dim, out_dim)) / np.sqrt(in_dim),
                       "b": np.zeros(out_dim)}
        self.grads = {"W": np.zeros((in_dim, out_dim)), "b": np.zeros(out_dim)}

    def forward(self, X):
        self.X = X
        return X @ self.params["W"] + self.params["b"]

    def backward(self, dY):
        self.grads["W"] += self.X.T @ dY             # dW = X^T dY (in, out)
        self.grads["b"] += dY.sum(axis=0)            # db = sum over the rows of dY (out,)
        return dY @ self.params["W"].T               # dX = dY W^T (N, in)


class MySigmoid:
    """y = 1 / (1 + exp(-x)) elementwise; dx = dy y (1 - y)."""

    params, grads = {}, {}

    def forward(self, X):
        self.Y = 1 / (1 + np.exp(-X))
        return self.Y

    def backward(self, dY):
        return dY * self.Y * (1 - self.Y)
