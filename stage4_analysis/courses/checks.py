"""The ladder's checking code as the grader calls it: every call into ``stage3_batched.gradcheck``,
``stage4_analysis.rungcheck`` and stage 3's losses and SGD goes through this module.

What it adds: one place that turns a layer into what ``check_layer`` reads, runs the rung check
into a string and keeps its diagnosis lines. What it leaves out: which item checks what
(:mod:`.items`) and running the student's code safely (:mod:`.sandbox`).
"""

from __future__ import annotations

import io

import numpy as np

import stage3_batched.losses
import stage3_batched.optim
from shared import weights as wf
from stage3_batched import gradcheck
from stage4_analysis import rungcheck
from stage4_analysis.diagnosis import predict_reference

TOL = gradcheck.TOL
rel_error = gradcheck.rel_error


def _meaning(hint: str | None, n: int) -> str:
    """The gradcheck hint, and what a factor of 1/N (N rows) means."""
    if not hint:
        return ""
    try:
        k = float(hint.split(" times ")[0])
    except ValueError:
        return f" ({hint})"
    if n > 1 and abs(k * n - 1) <= 1e-5:            # the hint has 6 significant digits
        return f" (1/{n} of the right gradient, {n} rows: averaged over the batch, not summed)"
    return f" ({hint})"


def gradient_check(layer, shape, label: str, seed: int = 0):
    """``check_layer`` on a built layer (it reads ``params``, ``grads`` and ``zero_grad``):
    ``(ok, [feedback lines])``, each naming ``label``."""
    result = gradcheck.check_layer(layer, shape=tuple(shape), seed=seed,
                                   accumulates=False)     # the item checks it, by the course
    lines = []
    for name in result.shapes:
        what = "dX" if name == "input" else f"d{name}"
        if name in result.problems:
            lines.append(f"{label}: {what}: {result.problems[name]}")
        elif result.errors[name] > result.tol:
            lines.append(f"{label}: {what} against central differences: relative error "
                         f"{result.errors[name]:.2e}"
                         + _meaning(result.hints.get(name), int(shape[0])))
    return result.ok, lines


def numeric_gradient(f, values: np.ndarray) -> np.ndarray:
    """Central differences of the scalar ``f()`` w.r.t. every entry of ``values`` (in place)."""
    return gradcheck.numeric_gradient(f, values)


def ladder_loss(pred, target, on: str):
    """Stage 3's mean cross-entropy and its gradient: ``on`` "logits" (integer labels) or
    "probabilities" (one-hot targets)."""
    loss = (stage3_batched.losses.SoftmaxCrossEntropy() if on == "logits"
            else stage3_batched.losses.CrossEntropy())
    value = loss.forward(np.asarray(pred, np.float64), target)
    return value, loss.backward()


def ladder_sgd(params: dict, grads: dict, lr: float, momentum: float):
    """Stage 3's SGD with momentum over the dicts ``params`` / ``grads`` (updated in place)."""
    return stage3_batched.optim.SGD(params, grads, lr=lr, momentum=momentum)


def ladder_probabilities(weights, X) -> np.ndarray:
    """The ladder's softmax probabilities (N, K) of the network ``weights`` on X (N, D)."""
    return predict_reference(weights, X)


def rung_problems(course):
    """The rung check's problems for ``course`` without its real digits (a 784-wide network
    through a course's scalar code takes seconds): the worked example and small random networks
    in every activation the course has."""
    acts = tuple(a for a in course.ACTIVATIONS if a in wf.ACTIVATIONS)
    return rungcheck.rung_cases(acts, digits=False)


def rung_check(rung, cases, label: str, course: str | None = None):
    """The rung check on ``cases`` of ``rung`` (with ``loss_and_grads`` only), or with
    ``course`` of that course's files ``rung`` through its adapter, with its further checks
    (accumulation, SGD steps): ``(ok, [lines])`` - the summary, the first disagreement, the
    diagnoses and the verdict. A grader counts a skipped problem (the network raised, or
    ignored its activation) as a failure: a course's network must run every activation the
    course has."""
    out = io.StringIO()
    ok, results = rungcheck.check_rung(label, cases, module=rung, out=out, course=course)
    lines = out.getvalue().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(label + ": "))
    further = [x for x in lines[:start] if x.endswith(": DISAGREE") and not x.startswith(" ")]
    kept = [lines[start][len(label) + 2:]] + further + [x for x in lines[start + 1:] if x.strip()]
    skipped = [f"problem {i} skipped: {r.note}" for i, r in enumerate(results, 1)
               if r.status == "skipped"]
    return ok and not skipped, kept + (skipped[:1] if ok else [])
