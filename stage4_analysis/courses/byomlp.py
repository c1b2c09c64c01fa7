"""Ursinus CS 477 "Build your own MLP": an MLP API with named layers, trained one sample at a
time, in the hand-out's file and names.

The student's file: ``mlp.py`` with ``MLP(d, est_lossderiv)``, ``add_layer(m, f, fderiv,
name)``, ``forward(x, start, end)``, ``backward(x, y)`` (one sample; gradients *added* to each
layer's ``dW``, ``db``), ``step(alpha)`` and ``zero_grad()``; each layer a dict with ``W`` (m,
m_prev) - (out, in), the transpose of the ladder's layout - and ``b`` (m,). The activations and
the losses' derivatives (``logistic``, ``leaky_relu``, ``softmax``,
``softmax_est_crossentropy_deriv``, ...) are provided by the course.

As a rung: the ladder's W is transposed into each layer; a batch of N samples is N calls of
``backward`` whose summed gradients are divided by N (the ladder's loss is the batch mean), and
an SGD step of rate lr on a batch of B is ``step(lr / B)``. The provided activations are checked
against their derivatives first: a mismatch there is the course's provided code, not the
student's backward.
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import Bug, files_match, folder_of, load_files, onehot, weights_layers

NAME = "byomlp"
TITLE = "Ursinus CS 477, Build your own MLP (named layers, one sample at a time)"
FILES = ("mlp.py",)
SHAPE = ("MLP(d, est_lossderiv).add_layer(m, f, fderiv, name): layers as dicts with W (out, in), "
         "b (out,), dW, db; backward(x, y) on one sample adds to dW, db (sums over samples); "
         "step(alpha); zero_grad()")
#: ladder activation -> the course's provided (function, derivative) names
PROVIDED = {"sigmoid": ("logistic", "logistic_deriv"),
            "leaky_relu": ("leaky_relu", "leaky_relu_deriv")}
ACTIVATIONS = tuple(PROVIDED)
MAX_HIDDEN = None
ACCUMULATES = True

RUBRIC = (("forward", "Forward pass: add_layer and forward", 10),
          ("backward", "Backpropagation: backward, step and zero_grad", 15),
          ("disc", "The disc test trains", 5))

BUGS = (
    Bug("step climbs the loss", "mlp.py", 'layer["W"] -= alpha * layer["dW"]',
        'layer["W"] += alpha * layer["dW"]', ("backward", "disc"), "opposite sign"),
    Bug("derivative at the output h", "mlp.py",
        'g = (layer["W"].T @ g) * self.layers[l - 1]["fderiv"](self.layers[l - 1]["a"])',
        'g = (layer["W"].T @ g) * self.layers[l - 1]["fderiv"](self.layers[l - 1]["h"])',
        ("backward", "disc"), "applied to h"),
    Bug("gradients overwritten", "mlp.py", 'layer["db"] += g', 'layer["db"] = g',
        ("backward",), "overwritten"),
)


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"mlp.py": "add_layer"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def cannot(weights, files) -> str | None:
    act = weights.get("activation", "sigmoid")
    names = PROVIDED.get(act)
    if names is None:
        return (f"mlp.py provides {', '.join(f for f, _ in PROVIDED.values())} as activations, "
                f"no {act}")
    missing = [n for n in names if not callable(getattr(files.mlp, n, None))]
    if missing:
        return f"mlp.py has no {', '.join(missing)}"
    return provided_mismatch(files, act)


def provided_mismatch(files, act: str) -> str | None:
    """Whether the course's provided activation and its derivative agree (central differences
    at points away from 0); a sentence naming the provided code when they do not."""
    f_name, d_name = PROVIDED[act]
    f, d = getattr(files.mlp, f_name), getattr(files.mlp, d_name)
    x = np.array([-2.0, -0.7, -0.3, 0.4, 1.1, 2.5])
    h = 1e-6
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    given = np.asarray(d(x), np.float64)
    if np.allclose(given, numeric, rtol=1e-6, atol=1e-8):
        return None
    j = int(np.argmax(np.abs(given - numeric)))
    return (f"the course's provided {f_name} and {d_name} in mlp.py disagree: at x = {x[j]:g} "
            f"the slope of {f_name} is {numeric[j]:.6g} but {d_name} returns {given[j]:.6g} - "
            "that is the provided code, not your backward; the hand-out's starter has this "
            f"mismatch, fix {f_name} (or {d_name}) before checking {act} networks")


def build(files, weights):
    """The student's MLP for ``weights``: one add_layer per layer, then W (out, in) and b set to
    the ladder's (transposed) values. The output layer is the provided softmax."""
    mlp_mod = files.mlp
    layers = weights_layers(weights)
    f_name, d_name = PROVIDED[weights.get("activation", "sigmoid")]
    net = mlp_mod.MLP(layers[0][0].shape[0], mlp_mod.softmax_est_crossentropy_deriv)
    for i, (W, _) in enumerate(layers):
        last = i == len(layers) - 1
        net.add_layer(W.shape[1], mlp_mod.softmax if last else getattr(mlp_mod, f_name),
                      None if last else getattr(mlp_mod, d_name))
    if len(net.layers) != len(layers):
        raise ValueError(f"after {len(layers)} add_layer calls MLP.layers holds "
                         f"{len(net.layers)} layers")
    for layer, (W, b) in zip(net.layers, layers):
        layer["W"], layer["b"] = W.T.copy(), b.copy()
    return net


def rung(files) -> types.SimpleNamespace:
    def loss_and_grads(weights, X, c, passes=1):
        net = build(files, weights)
        K = len(net.layers[-1]["b"])
        Y, X = onehot(c, K), np.asarray(X, np.float64)
        losses = [-np.log(net.forward(x)[t]) for x, t in zip(X, c)]
        for _ in range(passes):
            for x, y in zip(X, Y):
                net.backward(x, y)
        N = len(X)
        grads = [{"W": np.asarray(layer["dW"], np.float64).T / N,
                  "b": np.asarray(layer["db"], np.float64) / N} for layer in net.layers]
        return float(np.mean(losses)), {"layers": grads}, None

    def sgd_train(weights, X, c, lr, batch_size=1):
        net = build(files, weights)
        Y, X = onehot(c, len(net.layers[-1]["b"])), np.asarray(X, np.float64)
        for s in range(0, len(X), batch_size):
            net.zero_grad()
            for x, y in zip(X[s:s + batch_size], Y[s:s + batch_size]):
                net.backward(x, y)
            net.step(lr / len(X[s:s + batch_size]))     # the course sums, the ladder averages
        return {"sizes": list(weights["sizes"]), "activation": weights.get("activation"),
                "layers": [{"W": layer["W"].T, "b": layer["b"]} for layer in net.layers]}

    return types.SimpleNamespace(
        loss_and_grads=loss_and_grads, sgd_train=sgd_train,
        loss_and_grads_twice=lambda w, X, c: loss_and_grads(w, X, c, passes=2))
