"""CS231n-style functional layers: each ``*_forward`` returns ``(out, cache)`` and each
``*_backward(dout, cache)`` returns the gradients with respect to the forward's arguments.

x is (N, d_1, ..., d_k), reshaped to (N, D) rows; w (D, M); b (M,).
"""

import numpy as np


def affine_forward(x, w, b):
    """out = x_rows w + b (N, M); cache (x, w, b)."""
    # BEGIN SOLUTION: reshape x to (N, D), multiply by w, add b
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)
    # END SOLUTION


def affine_backward(dout, cache):
    """dout (N, M) -> (dx like x, dw (D, M), db (M,))."""
    # BEGIN SOLUTION: dx = dout w^T reshaped like x, dw = x_rows^T dout, db = row sum of dout
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
    # END SOLUTION


def relu_forward(x):
    """out = max(0, x); cache x."""
    # BEGIN SOLUTION: max(0, x), cache x
    return np.maximum(x, 0.0), x
    # END SOLUTION


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0."""
    # BEGIN SOLUTION: dout * 1[x > 0]
    return dout * (cache > 0)
    # END SOLUTION


def softmax_loss(x, y):
    """Softmax cross-entropy: x (N, C) scores, y (N,) integer labels -> (mean loss, dx (N, C))."""
    # BEGIN SOLUTION: stable softmax, mean of -log p at y, dx = (p - onehot(y)) / N
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1.0
    return loss, dx / N
    # END SOLUTION
