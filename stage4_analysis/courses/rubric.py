"""How the grader checks one rubric item: the :class:`Item` each course module lists in its
``GRADING`` table (``python -m stage4_analysis.courses grade``).

What it adds: a name for the check (``kind``), the student's file and the class or function it
builds, and the reference files the grader puts in place of the student's so that one bug costs
only the items it breaks. What it leaves out: the checks themselves (:mod:`.items`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One rubric item's check.

    ``kind``: "layer" (forward against the reference, backward against central differences),
    "loss" (value against stage 3, gradient against central differences), "forward" (the
    network's output against the ladder's probabilities), "network" (the rung check of the
    whole network against the ladder; ``style`` "course": through the course's adapter with its
    further checks), "sgd" (steps against stage 3's SGD) or "train" (a short training run must
    reach ``threshold`` validation accuracy).
    ``files``: the student's files the check imports; ``reference``: the reference solution's
    files imported in their place beforehand (the student's files import those instead);
    ``name`` / ``args``: what is built (``Linear(4, 3)``); ``style``: how a layer keeps its
    parameters ("attrs": ``W``/``grad_W``, "dicts": ``parameters``/``gradients``, "z":
    ``backward(Z, dY)``, "plain": no parameters).
    """

    kind: str
    files: tuple
    name: str = ""
    args: tuple = ()
    style: str = "plain"
    reference: tuple = ()
    shape: tuple = (3, 4)
    threshold: float = 0.0
