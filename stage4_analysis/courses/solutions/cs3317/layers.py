"""Layers of the CS3317 coursework-3 MLP: Linear, ReLU, Sigmoid (NumPy only).

Every layer has ``forward(X)`` and ``backward(grad_output)``. ``X`` is a mini-batch (N, D);
``grad_output`` is dL/d(output) of the same shape as the output; ``backward`` returns
dL/d(input). A Linear layer keeps its parameters in ``W`` (in_dim, out_dim) and ``b``
(out_dim,) and *adds* their gradients to ``grad_W`` and ``grad_b``; ``SGD.zero_grad()`` resets
them before every backward pass.
"""

import numpy as np


class Linear:
    """z = X W + b: X (N, in_dim) -> z (N, out_dim)."""

    def __init__(self, in_dim, out_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.W = rng.standard_normal((in_dim, out_dim)) * np.sqrt(2.0 / in_dim)   # He init
        self.b = np.zeros(out_dim)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)
        self.X = None

    def forward(self, X):
        """z = X W + b (N, out_dim); cache X for the backward pass."""
        # BEGIN SOLUTION: cache X, return X @ W + b
        self.X = X
        return X @ self.W + self.b
        # END SOLUTION

    def backward(self, grad_output):
        """grad_output = dL/dz (N, out_dim). Adds dL/dW = X^T grad_output (in_dim, out_dim) to
        grad_W and dL/db = sum over the rows of grad_output (out_dim,) to grad_b; returns
        dL/dX = grad_output W^T (N, in_dim)."""
        # BEGIN SOLUTION: grad_W += X^T grad_output, grad_b += row sums, return grad_output W^T
        self.grad_W += self.X.T @ grad_output
        self.grad_b += grad_output.sum(axis=0)
        return grad_output @ self.W.T
        # END SOLUTION


class ReLU:
    """max(0, X) elementwise."""

    def forward(self, X):
        """max(0, X) (N, D); cache the input."""
        # BEGIN SOLUTION: cache X, return max(0, X)
        self.X = X
        return np.maximum(X, 0.0)
        # END SOLUTION

    def backward(self, grad_output):
        """dL/dX = grad_output * 1[X > 0]: the gradient passes where the input was positive."""
        # BEGIN SOLUTION: zero the gradient where the input was <= 0
        return grad_output * (self.X > 0)
        # END SOLUTION


class Sigmoid:
    """sigma(X) = 1 / (1 + exp(-X)) elementwise."""

    def forward(self, X):
        """sigma(X) (N, D); cache the output sigma."""
        # BEGIN SOLUTION: cache and return 1 / (1 + exp(-X))
        self.out = 1.0 / (1.0 + np.exp(-X))
        return self.out
        # END SOLUTION

    def backward(self, grad_output):
        """dL/dX = grad_output * sigma * (1 - sigma)."""
        # BEGIN SOLUTION: multiply by sigma (1 - sigma) of the cached output
        return grad_output * self.out * (1.0 - self.out)
        # END SOLUTION
