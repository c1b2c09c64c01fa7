"""CS231n's functional layers: ``affine_forward(x, w, b) -> (out, cache)``,
``affine_backward(dout, cache) -> (dx, dw, db)``, ``relu_forward`` / ``relu_backward``,
``softmax_loss(x, y) -> (loss, dx)``, in one ``layers.py``.

As a rung: affine, the activation pair, ..., affine, then ``softmax_loss``; backward in
reverse. The activation pair is ``<name>_forward`` / ``<name>_backward`` when the file defines it
(CS231n's assignment has relu; sigmoid, tanh and leaky_relu pairs are used where a student wrote
them). Functions keep no state, so nothing accumulates.
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import Bug, files_match, folder_of, load_files, weights_layers

NAME = "cs231n"
TITLE = "Stanford CS231n assignment 1/2 (functional layers with caches)"
FILES = ("layers.py",)
SHAPE = ("affine_forward(x, w, b) -> (out, cache) with w (D, M), b (M,); affine_backward(dout, "
         "cache) -> (dx, dw, db); relu_forward / relu_backward; softmax_loss(x, y) -> (loss, dx) "
         "on integer labels")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
MAX_HIDDEN = None
ACCUMULATES = False

BUGS = (
    Bug("transposed dw", "layers.py", "dw = x.reshape(x.shape[0], -1).T @ dout",
        "dw = dout.T @ x.reshape(x.shape[0], -1)", ("affine",), "transpose"),
    Bug("missing 1/N", "layers.py", "return loss, dx / N", "return loss, dx",
        ("softmax_loss",), "1/N"),
    Bug("relu passes every gradient", "layers.py", "return dout * (cache > 0)", "return dout",
        ("relu",), ""),
)


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"layers.py": "affine_forward"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def _pair(files, act):
    return (getattr(files.layers, f"{act}_forward", None),
            getattr(files.layers, f"{act}_backward", None))


def cannot(weights, files) -> str | None:
    act = weights.get("activation", "sigmoid")
    if not all(callable(f) for f in _pair(files, act)):
        have = sorted(a for a in ACTIVATIONS if all(callable(f) for f in _pair(files, a)))
        return (f"layers.py defines no {act}_forward / {act}_backward (its activations: "
                f"{', '.join(have) or 'none'})")
    return None


def rung(files) -> types.SimpleNamespace:
    L = files.layers

    def loss_and_grads(weights, X, c):
        layers = weights_layers(weights)
        act_forward, act_backward = _pair(files, weights.get("activation", "sigmoid"))
        h, caches = np.asarray(X, np.float64), []
        for i, (W, b) in enumerate(layers):
            h, cache = L.affine_forward(h, W, b)
            act_cache = None
            if i < len(layers) - 1:
                h, act_cache = act_forward(h)
            caches.append((cache, act_cache))
        loss, dout = L.softmax_loss(h, np.asarray(c))
        grads = [None] * len(layers)
        for i in reversed(range(len(layers))):
            cache, act_cache = caches[i]
            if act_cache is not None:
                dout = act_backward(dout, act_cache)
            dout, dw, db = L.affine_backward(dout, cache)
            grads[i] = {"W": dw, "b": db}
        return loss, {"layers": grads}, dout

    return types.SimpleNamespace(loss_and_grads=loss_and_grads)


# ----------------------------------------------------------------------------- gradcheck
#: What ``python -m stage3_batched.gradcheck`` checks in these files, and how (see __init__).
GRADCHECK = {
    "checks": ("layers.py:affine", "layers.py:relu", "layers.py:softmax_loss"),
    "losses": {"softmax_loss": {"order": "pred_target", "labels": "int", "input": "logits"}},
}
