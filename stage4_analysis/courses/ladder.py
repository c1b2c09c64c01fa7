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
    """What the rung file declares it cannot do: ``ACTIVATIONS = ("relu",)`` (the hidden
    activations it computes) and ``MAX_HIDDEN = 1`` (the most hidden layers it takes)."""
    acts = getattr(files, "ACTIVATIONS", None)
    act = weights.get("activation", "sigmoid")
    if acts is not None and act not in acts:
        return f"the file declares ACTIVATIONS = {tuple(acts)}, this problem is {act}"
    most = getattr(files, "MAX_HIDDEN", None)
    hidden = len(weights["layers"]) - 1
    if most is not None and hidden > most:
        return f"the file declares MAX_HIDDEN = {most}, this problem has {hidden} hidden layers"
    return None


def rung(files) -> types.ModuleType:
    return files


# ----------------------------------------------------------------------------- gradcheck
#: How ``python -m stage3_batched.gradcheck`` calls stage 3's own losses (see __init__).
GRADCHECK = {
    "checks": ("stage3_batched.layers:Linear", "stage3_batched.layers:Softmax",
               "stage3_batched.losses:SoftmaxCrossEntropy", "stage3_batched.losses:CrossEntropy"),
    "losses": {"SoftmaxCrossEntropy": {"order": "pred_target", "labels": "int",
                                       "input": "logits"},
               "CrossEntropyLoss": {"order": "pred_target", "labels": "int", "input": "logits"},
               "CrossEntropy": {"order": "pred_target", "labels": "int",
                                "input": "probabilities"},
               "SquaredError": {"order": "pred_target", "labels": "onehot", "input": "other"},
               "LogisticLoss": {"input": "unsupported",
                                "why": "a loss of one output per sample (N, 1) with 0/1 "
                                       "targets; gradcheck checks losses over K classes"}},
}
