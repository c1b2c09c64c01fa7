"""A correct rung, written as a student would: the ladder's network over a batch, in numpy.

Check it with ``python -m stage4_analysis.compare --rung tests/rungs/good_rung.py``.

The ladder contract (shared/README.md): ``weights`` is ``{"sizes", "layers": [{"W", "b"}, ...],
"activation"}`` with float64 arrays, ``W`` (in, out), ``b`` (out,); ``X`` (N, D); ``c`` (N,)
integer classes. ``loss_and_grads`` returns the mean cross-entropy, its gradients in the same
structure and ``dX`` (N, D).

The three steps of the backward pass are functions of their own and keyword arguments of
:func:`loss_and_grads`, so the example bugs next to this file can each swap out one of them.
"""

import numpy as np

# name -> (function, derivative written in terms of k = pre-activation and h = f(k))
ACTIVATIONS = {
    "sigmoid": (lambda k: 1 / (1 + np.exp(-k)), lambda k, h: h * (1 - h)),
    "relu": (lambda k: np.maximum(k, 0.0), lambda k, h: (k > 0).astype(float)),
    "tanh": (np.tanh, lambda k, h: 1 - h**2),
    "leaky_relu": (lambda k: np.where(k > 0, k, 0.01 * k),
                   lambda k, h: np.where(k > 0, 1.0, 0.01)),
}


def softmax(O):
    """Row-wise softmax: O (N, K) -> Y (N, K)."""
    E = np.exp(O - O.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def output_gradient(Y, c):
    """dO (N, K), the gradient of the MEAN loss w.r.t. the logits: (y - onehot(c)) / N."""
    N = len(c)
    dO = Y.copy()
    dO[np.arange(N), c] -= 1.0
    return dO / N


def activation_gradient(dH, K, H, activation):
    """dK (N, n) from dH (N, n): the chain rule through h = f(k), elementwise."""
    return dH * ACTIVATIONS[activation][1](K, H)


def linear_gradients(A, dK, W):
    """For k = a W + b: dW = A^T dK (in, out), db = sum over rows of dK (out,), dA = dK W^T."""
    return A.T @ dK, dK.sum(axis=0), dK @ W.T


def forward(weights, X):
    """Inputs of every layer ``A`` ([X, H_1, ...]), hidden pre-activations ``K``, logits O."""
    f = ACTIVATIONS[weights.get("activation", "sigmoid")][0]
    layers = weights["layers"]
    A, K = [np.asarray(X, dtype=float)], []
    for layer in layers[:-1]:
        K.append(A[-1] @ layer["W"] + layer["b"])
        A.append(f(K[-1]))
    return A, K, A[-1] @ layers[-1]["W"] + layers[-1]["b"]


def loss_and_grads(weights, X, c, output_gradient=output_gradient,
                   activation_gradient=activation_gradient, linear_gradients=linear_gradients):
    """(mean cross-entropy, gradients in the weight format, dX (N, D))."""
    c = np.asarray(c)
    activation = weights.get("activation", "sigmoid")
    A, K, O = forward(weights, X)
    Y = softmax(O)
    loss = -np.mean(np.log(Y[np.arange(len(c)), c]))
    layers = weights["layers"]
    grads = [None] * len(layers)
    dK = output_gradient(Y, c)
    for i in reversed(range(len(layers))):
        dW, db, dA = linear_gradients(A[i], dK, layers[i]["W"])
        grads[i] = {"W": dW, "b": db}
        if i > 0:
            dK = activation_gradient(dA, K[i - 1], A[i], activation)
    return loss, {"sizes": list(weights["sizes"]), "layers": grads}, dA


def sgd_train(weights, X, c, lr, batch_size=1):
    """Plain SGD in the given order: w <- w - lr * mean gradient of each group of batch_size."""
    X, c = np.asarray(X, dtype=float), np.asarray(c)
    weights = {**weights, "layers": [{"W": np.array(layer["W"], dtype=float),
                                      "b": np.array(layer["b"], dtype=float)}
                                     for layer in weights["layers"]]}
    for s in range(0, len(X), batch_size):
        _, grads, _ = loss_and_grads(weights, X[s:s + batch_size], c[s:s + batch_size])
        for layer, g in zip(weights["layers"], grads["layers"]):
            layer["W"] -= lr * g["W"]
            layer["b"] -= lr * g["b"]
    return weights


def predict_proba(weights, X):
    """Softmax probabilities (N, K)."""
    return softmax(forward(weights, X)[2])
