"""The ladder's own contract: one file defining ``loss_and_grads(weights, X, c) -> (loss, grads,
dX)`` and, optionally, ``sgd_train(weights, X, c, lr, batch_size)`` and ``predict_proba(weights,
X)`` (shared/README.md). Stage 1, 2 and 3 implement it; so can a student's own rung.
"""

from __future__ import annotations

import types
from pathlib import Path

NAME = "ladder"
TITLE = "mlp-ladder's own contract (loss_and_grads in the shared weight format)"
FILES = ()
SHAPE = ("loss_and_grads(weights, X, c) -> (mean loss, grads, dX); weights {'sizes', "
         "'activation', 'layers': [{'W': (in, out), 'b': (out,)}, ...]}, X (N, D), c (N,) ints")
ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu")
MAX_HIDDEN = None
ACCUMULATES = False
BUGS = ()


def matches(path) -> bool:
    path = Path(path)
    return path.is_file() and "loss_and_grads" in path.read_text(errors="replace")


def load(path):
    from stage4_analysis.rungcheck import load_rung

    return load_rung(path)


def cannot(weights, files) -> str | None:
    return None


def rung(files) -> types.ModuleType:
    return files
