"""Course shapes: how each course's starter code looks, and how to run it as a rung of the ladder.

Students arrive with code in their course's shape - CS3317's ``Linear`` with ``grad_W``,
ECE421's ``parameters`` / ``gradients`` dicts, CS231n's ``affine_forward``, BYOMLP's
``add_layer`` - not in the ladder's ``loss_and_grads(weights, X, c)``. Each module of this package
describes one course:

* ``NAME``, ``TITLE``, ``FILES`` - the hand-out's file names, in the order they import each other;
* ``SHAPE`` - a few lines for a student: where parameters and gradients live, weight layout,
  label format, loss convention;
* ``ACTIVATIONS`` / ``MAX_HIDDEN`` - which of the ladder's networks the course can express;
* ``cannot(weights, files)`` - why one problem cannot be expressed with these files (or None);
* ``rung(files)`` - an object with the ladder contract (``loss_and_grads``, and where the course
  has them ``sgd_train`` and ``loss_and_grads_twice``, two backward passes without resetting);
* ``ACCUMULATES`` - whether the course's backward adds to the gradients (it has a zero_grad);
* ``BUGS`` - planted bugs, each a one-line change to the reference solution (``solutions/``), the
  rubric item it breaks and what the diagnosis must name;
* ``GRADCHECK`` (optional, at the end of the module) - what ``python -m stage3_batched.gradcheck``
  needs to know about the course's layers and losses, a dict with the optional keys
  ``"checks"`` - the names worth checking, ``("layers.py:Linear", ...)``;
  ``"networks"`` - class names that are the course's whole network (refused, pointing to
  ``compare --rung``);
  ``"build"`` - ``{class name: [constructor arguments, ...]}``, one check per tuple (ECE421's
  ``Activation``: one per activation name);
  ``"losses"`` - ``{loss name: {"order": "pred_target" | "target_pred", "labels": "int" |
  "onehot", "input": "logits" | "probabilities" | "other"}}``, how the loss takes its arguments
  (what is left out is found by calling it; "other": not a cross-entropy, checked against
  central differences only; ``{"input": "unsupported", "why": ...}`` refuses it with the why).

Adding a course is adding one module here and naming it in :data:`ORDER`. ``solutions/<name>/``
holds the course's reference solution: the functions a student writes carry ``# BEGIN SOLUTION:
<what to do>`` / ``# END SOLUTION`` around their bodies, so a starter is the same file with those
bodies replaced by ``raise NotImplementedError``.

The instructor's kit on top of these (``python -m stage4_analysis.courses list | handout |
grade``) writes starters from the solutions and grades submissions item by item. What it leaves
out: a course's own provided files beyond what its grader runs; only the files a student writes
are adapted to the ladder.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.errors import ConfigError, one_line

ORDER = ("ladder", "cs3317", "ece421", "byomlp", "cs231n", "vu")
SOLUTIONS = Path(__file__).resolve().parent / "solutions"


@dataclass(frozen=True)
class Bug:
    """A planted bug: replace ``old`` by ``new`` in ``file`` of the reference solution."""

    name: str
    file: str
    old: str
    new: str
    items: tuple          # the rubric items it breaks
    names: str            # a phrase the diagnosis (or gradcheck's hint) must contain


def get(name: str) -> types.ModuleType:
    """The course module ``name``; :class:`ConfigError` naming the courses otherwise."""
    if name not in ORDER:
        raise ConfigError(f"--course {name}: no such course; choose one of {', '.join(ORDER)}")
    return importlib.import_module(f"{__name__}.{name}")


def all_courses() -> dict[str, types.ModuleType]:
    return {name: get(name) for name in ORDER}


def solution_folder(name: str) -> Path:
    return SOLUTIONS / name


def load_files(folder, files, flag: str = "--rung") -> types.SimpleNamespace:
    """Import the course files ``files`` (e.g. ``("layers.py", "model.py")``) from ``folder``
    as modules that may import each other by their plain names (``from layers import Linear``).
    Returns a namespace ``files.layers``, ``files.model``, ... The names are taken out of
    ``sys.modules`` again afterwards, so two folders never share a module. A missing file or one
    that does not import is a :class:`ConfigError` (one line)."""
    folder = Path(folder)
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise ConfigError(f"{flag} {folder}: no {', '.join(missing)} there (this course's "
                          f"files: {', '.join(files)})")
    stems = [Path(f).stem for f in files]
    saved = {s: sys.modules.pop(s) for s in stems if s in sys.modules}
    sys.path.insert(0, str(folder.resolve()))
    try:
        return types.SimpleNamespace(**{s: _import(folder / f, s, flag) for s, f in
                                        zip(stems, files)})
    finally:
        sys.path.remove(str(folder.resolve()))
        for s in stems:
            sys.modules.pop(s, None)
        sys.modules.update(saved)


def _import(path: Path, stem: str, flag: str) -> types.ModuleType:
    if stem in sys.modules:                       # imported already by an earlier file
        return sys.modules[stem]
    try:
        return importlib.import_module(stem)
    except BaseException as e:  # noqa: BLE001 - anything the student's file raises on import
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ConfigError(f"{flag} {path}: importing it raised {type(e).__name__}: "
                          f"{one_line(e)}") from None


def detect(path) -> str | None:
    """The course whose files ``path`` (a folder, or a file in it) holds, or None."""
    path = Path(path)
    for name in reversed(ORDER):                  # the ladder's single file last
        if get(name).matches(path):
            return name
    return None


def onehot(c, k: int) -> np.ndarray:
    """(N, k) float64 one-hot rows of the integer labels c (N,)."""
    Y = np.zeros((len(c), k))
    Y[np.arange(len(c)), np.asarray(c)] = 1.0
    return Y


def files_match(path: Path, files, must_define: dict | None = None) -> bool:
    """Whether ``path`` (a folder, or a file inside it) holds all of ``files``, and each file
    named in ``must_define`` mentions the given name (read as text, nothing is run)."""
    folder = path if path.is_dir() else path.parent
    if not all((folder / f).is_file() for f in files):
        return False
    for f, word in (must_define or {}).items():
        if word not in (folder / f).read_text(errors="replace"):
            return False
    return True


def folder_of(path) -> Path:
    path = Path(path)
    return path if path.is_dir() else path.parent


def weights_layers(weights) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W (in, out), b (out,)), ...]`` float64 copies of the weight format's layers."""
    from shared import weights as wf

    return [(np.array(lw["W"], np.float64), np.array(lw["b"], np.float64))
            for lw in wf.to_arrays(weights)["layers"]]
