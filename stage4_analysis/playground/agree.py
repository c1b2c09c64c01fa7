"""Do the rungs agree on the step the playground is about to take?

One call, :func:`agreement`, runs the loss and gradients of the current weights on the next
mini-batch through every rung (stage 1, 2, 3 - stage 1 only for networks of at most
:data:`STAGE1_CHECK_PARAMETERS` parameters, as it is pure Python) and reports the largest
difference over every pair, every parameter, the input gradient and the loss.

The cross-rung machinery is the project's own: ``implementations()`` and ``difference()`` from
``stage4_analysis.rungs``, ``compare()`` from ``stage4_analysis.compare``, imported in the two
lines below and nowhere else in the playground, so a move of either touches one line.

Leaves out: PyTorch (the check runs at every redraw; ``python -m stage4_analysis.compare``
includes it).
"""

from __future__ import annotations

import numpy as np

from shared.weights import count_parameters
from stage4_analysis.compare import compare
from stage4_analysis.rungs import difference, implementations

STAGE1_CHECK_PARAMETERS = 1_000


def agreement(weights: dict, X: np.ndarray, c: np.ndarray) -> dict:
    """Compare the rungs on ``weights`` (shared weight format) and the batch X (B, D), c (B,).

    Returns ``{"rungs": [names], "max_abs": float, "rel": float, "pair": "a~b", "tensor": name,
    "skipped": reason or None}``; ``rel`` is ``compare``'s relative error of the worst tensor
    and ``max_abs`` the largest absolute difference of any tensor or loss.
    """
    impls = implementations(include_torch=False)
    skipped = None
    if count_parameters(weights["sizes"]) > STAGE1_CHECK_PARAMETERS:
        impls.pop("stage1")
        skipped = f"stage 1 left out: more than {STAGE1_CHECK_PARAMETERS:,} parameters"
    report = compare(weights, X, c, impls)
    max_abs = max([d["max_abs"] for t in report["tensors"].values()
                   for d in t["pairs"].values()] +
                  [d["max_abs"] for d in report["loss_pairs"].values()])
    worst = report["worst"]
    return {"rungs": list(impls), "max_abs": max_abs, "rel": worst["rel"],
            "pair": worst["pair"], "tensor": worst["tensor"], "skipped": skipped}


def largest_difference(a, b) -> float:
    """The largest absolute difference of two same-shaped arrays (``rungs.difference``)."""
    return difference(a, b)["max_abs"]
