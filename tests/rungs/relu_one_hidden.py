"""A correct rung of fixed architecture: one ReLU hidden layer, written as a student would, with
what it cannot do declared so the checker skips those problems instead of failing them.

Check it with ``python -m stage4_analysis.compare --rung tests/rungs/relu_one_hidden.py``.
"""

import numpy as np

ACTIVATIONS = ("relu",)
MAX_HIDDEN = 1


def loss_and_grads(weights, X, c):
    (W, b), (V, cb) = ((np.asarray(lay["W"]), np.asarray(lay["b"])) for lay in weights["layers"])
    X, c, N = np.asarray(X, float), np.asarray(c), len(c)
    K = X @ W + b                                  # (N, H)
    H = np.maximum(K, 0.0)
    O = H @ V + cb                                 # (N, classes)
    Y = np.exp(O - O.max(axis=1, keepdims=True))
    Y /= Y.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(Y[np.arange(N), c]))
    dO = Y.copy()
    dO[np.arange(N), c] -= 1.0
    dO /= N
    dH = dO @ V.T
    dK = dH * (K > 0)
    grads = [{"W": X.T @ dK, "b": dK.sum(axis=0)}, {"W": H.T @ dO, "b": dO.sum(axis=0)}]
    return loss, {"layers": grads}, dK @ W.T
