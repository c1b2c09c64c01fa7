"""The ladder's checking code as the grader calls it: every call into ``stage3_batched.gradcheck``,
``stage4_analysis.rungcheck`` and stage 3's losses and SGD goes through this module.

What it adds: one place that turns a layer into what ``check_layer`` reads, runs the rung check
into a string and keeps its diagnosis lines. What it leaves out: which item checks what
(:mod:`.items`) and running the student's code safely (:mod:`.sandbox`).
"""

from __future__ import annotations

import io

import numpy as np

import stage3_batched.optim
from shared import weights as wf
from stage3_batched import gradcheck, gradcheck_shapes
from stage4_analysis import rungcheck
from stage4_analysis.diagnosis import predict_reference

TOL = gradcheck.TOL
rel_error = gradcheck.rel_error


def _lines(result, label: str) -> list[str]:
    """The failing rows of a :class:`~stage3_batched.gradcheck.GradCheck`, each naming
    ``label``, with gradcheck's likely cause."""
    lines = []
    for name in list(result.shapes) + [k for k in result.problems if k not in result.shapes]:
        what = "dX" if name == "input" else gradcheck.ROW_NAMES.get(name, f"d{name}")
        if name in result.problems:
            lines.append(f"{label}: {what}: {result.problems[name]}")
        elif result.errors.get(name, 0.0) > result.tol:
            hint = result.hints.get(name)
            lines.append(f"{label}: {what}: relative error {result.errors[name]:.2e}"
                         + (f" ({hint})" if hint else ""))
    return lines


def gradient_check(layer, label: str, accumulates: bool, seed: int = 0):
    """gradcheck's ``check_layer`` on a built layer of any course's shape (parameters and
    gradients wherever the course keeps them; ``backward(Z, dY)``; with ``accumulates`` a
    second backward must double the gradients): ``(ok, [feedback lines])``."""
    result = gradcheck.check_layer(layer, seed=seed, accumulates=accumulates)
    return result.ok, _lines(result, label)


def loss_check(cls, course, seed: int = 0):
    """gradcheck's ``check_loss`` on the student's loss class, called as the course calls it:
    its gradient against central differences of its own value, value and gradient against the
    ladder's cross-entropy. ``(ok, [feedback lines])``."""
    target = gradcheck_shapes.Target("loss", cls.__name__, (cls,), "the submission")
    result = gradcheck.check_loss(target, data=gradcheck_shapes.course_data(course), seed=seed)
    return result.ok, _lines(result, f"{cls.__name__}()")


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
