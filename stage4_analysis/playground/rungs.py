"""Do the rungs agree on the step the playground is about to take?

One call, :func:`agreement`, runs the loss and gradients of the current weights on the next
mini-batch through every rung (stage 1, 2, 3 - stage 1 only for networks of at most
:data:`STAGE1_CHECK_PARAMETERS` parameters, as it is pure Python) and reports the largest
difference over every pair, every parameter, the input gradient and the loss.

The cross-rung machinery is ``stage4_analysis.compare``'s: only its public
``implementations()``, ``compare()`` and ``difference()`` are used, through the one import
below, so a move of that module changes one line here.

Leaves out: PyTorch (the check runs every redraw; ``python -m stage4_analysis.compare``
includes it), and networks outside the weight format (leaky ReLU: stage 3 only, nothing to
compare with).
"""

from __future__ import annotations

import numpy as np

from shared.weights import ACTIVATIONS as WEIGHT_FORMAT_ACTIVATIONS
from shared.weights import count_parameters
from stage4_analysis import compare as cross_rung  # the one line that names the module

STAGE1_CHECK_PARAMETERS = 1_000


def agreement(weights: dict, X: np.ndarray, c: np.ndarray) -> dict:
    """Compare the rungs on ``weights`` (shared weight format) and the batch X (B, D), c (B,).

    Returns ``{"rungs": [names], "max_abs": float, "rel": float, "pair": "a~b", "tensor": name,
    "skipped": reason or None}``; ``rel`` is ``compare``'s relative error of the worst tensor
    and ``max_abs`` the largest absolute difference of any tensor.
    """
    if weights.get("activation") not in WEIGHT_FORMAT_ACTIVATIONS:
        return {"rungs": [], "max_abs": None, "rel": None, "pair": None, "tensor": None,
                "skipped": "leaky ReLU is a stage-3 layer only: no other rung to compare with"}
    impls = cross_rung.implementations(include_torch=False)
    skipped = None
    if count_parameters(weights["sizes"]) > STAGE1_CHECK_PARAMETERS:
        impls.pop("stage1")
        skipped = f"stage 1 left out: more than {STAGE1_CHECK_PARAMETERS:,} parameters"
    report = cross_rung.compare(weights, X, c, impls)
    max_abs = max([d["max_abs"] for t in report["tensors"].values()
                   for d in t["pairs"].values()] +
                  [d["max_abs"] for d in report["loss_pairs"].values()])
    worst = report["worst"]
    return {"rungs": list(impls), "max_abs": max_abs, "rel": worst["rel"],
            "pair": worst["pair"], "tensor": worst["tensor"], "skipped": skipped}


def largest_difference(a, b) -> float:
    """The largest absolute difference of two same-shaped arrays (``compare.difference``)."""
    return cross_rung.difference(a, b)["max_abs"]
