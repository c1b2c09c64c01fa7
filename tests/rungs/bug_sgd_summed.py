"""Example bug: sgd_train steps with the gradient summed over the batch instead of its mean (the
update is batch_size times too large); loss_and_grads itself is right."""

import numpy as np
from good_rung import loss_and_grads, predict_proba  # noqa: F401


def sgd_train(weights, X, c, lr, batch_size=1):
    weights = {**weights, "layers": [{"W": np.array(layer["W"], dtype=float),
                                      "b": np.array(layer["b"], dtype=float)}
                                     for layer in weights["layers"]]}
    for s in range(0, len(X), batch_size):
        n = len(X[s:s + batch_size])
        _, grads, _ = loss_and_grads(weights, X[s:s + batch_size], c[s:s + batch_size])
        for layer, g in zip(weights["layers"], grads["layers"]):
            layer["W"] -= lr * n * g["W"]          # BUG: the mean's gradient, times n = the sum's
            layer["b"] -= lr * n * g["b"]
    return weights
