"""VU Amsterdam deep learning, assignment 1: scalar backpropagation of the 2-3-2 network, one
number at a time in plain Python.

The student's file: ``backprop.py`` with ``forward(x, W, b, V, c) -> y`` (the softmax
probabilities of one sample) and ``backward(x, target, W, b, V, c) -> (loss, dW, db, dV, dc)``,
all nested lists: W[i][j] input i -> hidden j, V[j][m] hidden j -> output m (the ladder's (in,
out) layout), one sigmoid hidden layer, an integer target class.

As a rung: the ladder's lists go in as they are; the loss and gradients of a batch are the means
of the per-sample ones. No dX (the hand-out does not ask for it).
"""

from __future__ import annotations

import types

import numpy as np

from shared import weights as wf
from stage4_analysis.courses import Bug, files_match, folder_of, load_files

NAME = "vu"
TITLE = "VU Amsterdam deep learning assignment 1 (scalar backpropagation)"
FILES = ("backprop.py",)
SHAPE = ("backward(x, target, W, b, V, c) -> (loss, dW, db, dV, dc) on one sample, nested lists, "
         "W (in, hidden), V (hidden, out); one sigmoid hidden layer")
ACTIVATIONS = ("sigmoid",)
MAX_HIDDEN = 1
ACCUMULATES = False

BUGS = (
    Bug("sigmoid derivative at k", "backprop.py", "dk = [dh[j] * h[j] * (1.0 - h[j])",
        "dk = [dh[j] * k[j] * (1.0 - k[j])", ("backward",), "at k"),
    Bug("sign flip", "backprop.py", "do = [y[m] - (1.0 if m == target else 0.0)",
        "do = [(1.0 if m == target else 0.0) - y[m]", ("backward",), "sign"),
)


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"backprop.py": "def backward"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def cannot(weights, files) -> str | None:
    if len(weights["layers"]) != 2:
        return f"the VU network has one hidden layer, this problem has {len(weights['layers']) - 1}"
    act = weights.get("activation", "sigmoid")
    if act != "sigmoid":
        return f"the VU network's hidden layer is a sigmoid, not {act}"
    return None


def rung(files) -> types.SimpleNamespace:
    def loss_and_grads(weights, X, c):
        lists = wf.to_lists(weights)
        (W, b), (V, cb) = ((layer["W"], layer["b"]) for layer in lists["layers"])
        outs = [files.backprop.backward(list(map(float, x)), int(t), W, b, V, cb)
                for x, t in zip(np.asarray(X).tolist(), c)]
        mean = [np.mean([np.asarray(o[i], np.float64) for o in outs], axis=0) for i in range(5)]
        return float(mean[0]), {"layers": [{"W": mean[1], "b": mean[2]},
                                           {"W": mean[3], "b": mean[4]}]}, None

    return types.SimpleNamespace(loss_and_grads=loss_and_grads)


# --------------------------------------------------------------------------- grading
from stage4_analysis.courses.rubric import Item  # noqa: E402 - the grader's part of the module

#: Question 3 of the hand-out (1.5 points: one forward and one backward pass of the network,
#: every derivative reported), split here into its two functions.
RUBRIC = (("forward", "Question 3: forward pass (the softmax probabilities)", 0.5),
          ("backward", "Question 3: backward pass (the loss and every derivative)", 1.0))
#: How ``python -m stage4_analysis.courses grade vu`` checks them: forward against the ladder's
#: probabilities, backward by the rung check against the ladder.
GRADING = {"forward": Item("forward", FILES), "backward": Item("network", FILES, style="course")}

BUGS = BUGS + (
    Bug("bias gradient left at zero", "backprop.py", "db = list(dk)", "db = [0.0] * len(dk)",
        ("backward",), "all zero"),
    Bug("softmax not normalised", "backprop.py", "return [v / sum(e) for v in e]",
        "return e", ("forward", "backward"), "forward pass"),
)


def predict(files, weights, X) -> np.ndarray:
    """The student's ``forward`` on each row of X: (N, K) probabilities."""
    lists = wf.to_lists(weights)
    (W, b), (V, cb) = ((layer["W"], layer["b"]) for layer in lists["layers"])
    return np.array([files.backprop.forward(list(map(float, x)), W, b, V, cb)
                     for x in np.asarray(X).tolist()])


def forward_checks(files, refs) -> list[str]:
    return []
