"""Check your own rung: a student's code, in the ladder's contract or in their course's shape,
against stage 3 and against central differences of its own loss.

    python -m stage4_analysis.rungcheck --rung my_rung.py                 # loss_and_grads(...)
    python -m stage4_analysis.rungcheck --rung my_cs3317/ --course cs3317  # the course's files
    python -m stage4_analysis.compare --rung my_rung.py                   # the same command

**The ladder's contract.** A Python file that defines ``loss_and_grads(weights, X, c) -> (loss,
grads, dX)`` (and, optionally, ``sgd_train`` and ``predict_proba``), shared/README.md: ``weights``
with float64 numpy arrays (``{"sizes", "activation", "layers": [{"W": (in, out), "b": (out,)},
...]}``), ``X`` a float64 (N, D) array and ``c`` an int array (N,). ``--lists`` passes nested
Python lists instead (stage 1's form). The gradients may come back as ``{"layers": [{"W": dW,
"b": db}, ...]}`` or as a list of such dicts or of ``(dW, db)`` pairs.

**A course's shape** (``--course NAME``, or found from the files): the folder holds the files the
course's hand-out names (``stage4_analysis/courses/``: CS3317 ``layers.py losses.py model.py
optimizer.py``, ECE421 ``activations.py layers.py loss.py``, BYOMLP ``mlp.py``, CS231n
``layers.py``, VU ``backprop.py``); the course's module adapts them to the contract, so no student
writes an adapter. Problems the course cannot express (an activation it does not have, a depth
its network does not take) are skipped with the reason, never failed.

For every parameter (and ``dX``) it prints the largest difference against stage 3 and against
central differences of *your own* loss (on at most :data:`FD_ENTRIES` entries per tensor), names
the first layer, counting from the loss, that disagrees, and where a simple diagnosis fits it
says which (``diagnosis.py``). Where the course's backward adds to the gradients (it has a
zero_grad) a second backward without resetting must double them; where it has an SGD step, a few
steps must match stage 3's. Exit status 0 when everything agrees, 1 on any disagreement, 2 (one
line) for a path that does not exist, does not import, or is not in the course's shape.

What it leaves out: training trajectories (``tests/test_cross_stage.py`` compares the rungs'),
speed, and code style.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import random
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared import weights as wf
from shared.cli import nonnegative_int, positive_int
from shared.data import DATASETS
from shared.errors import ConfigError, one_line, run_main
from stage4_analysis.diagnosis import MATCH_TOL, diagnose, predict_reference, reference
from stage4_analysis.rungs import _arguments, _stage3, difference, named_tensors, order_from_loss

RUNG_TOL = 1e-8       # a student's rung against stage 3: its sums may run in another order
FD_TOL = 1e-6         # a rung's gradients against central differences of its own loss
FD_STEP = 1e-6        # central-difference step
FD_ENTRIES = 40       # central differences on at most this many entries per tensor


@dataclass
class Case:
    """One problem a rung is checked on: weights (float64 arrays), X (N, D), c (N,)."""

    name: str
    weights: dict
    X: np.ndarray
    c: np.ndarray


def _random_case(name, sizes, n, seed, activation) -> Case:
    rng = random.Random(seed)
    weights = wf.to_arrays(wf.init_weights(sizes, rng, activation=activation))
    X = np.array([[rng.gauss(0, 1) for _ in range(sizes[0])] for _ in range(n)])
    c = np.array([rng.randrange(sizes[-1]) for _ in range(n)])
    return Case(f"{name}, {activation}, {n} random samples", weights, X, c)


def rung_cases(activations=wf.ACTIVATIONS, digits: bool = True,
               digits_activation: str | None = None) -> list[Case]:
    """The problems ``--rung`` checks by default: the worked example (sigmoid, one sample),
    small random networks (2 to 4 samples, one with a square hidden layer) in each of
    ``activations``, and three real digits of mnist-sample through a 784-12-10 network (with
    ``digits_activation``, else the only activation, else the sigmoid)."""
    weights, x, c = wf.worked_example()
    cases = [Case("worked example 2-3-2, sigmoid, 1 sample", wf.to_arrays(weights),
                  np.array([x]), np.array([c]))]
    shapes = {"sigmoid": [([3, 4, 3], 3), ([5, 7, 6, 4], 4)],
              "relu": [([4, 6, 3], 3), ([4, 5, 5, 3], 2)],
              "tanh": [([4, 6, 3], 3), ([4, 5, 5, 3], 2)]}
    for a, act in enumerate(activations):
        for b, (sizes, n) in enumerate(shapes.get(act, shapes["tanh"])):
            cases.append(_random_case("-".join(map(str, sizes)), sizes, n, 10 * a + b + 1, act))
    if digits:
        from shared.data import load_mnist_sample

        (xtr, ytr), _, _ = load_mnist_sample()
        act = digits_activation or (activations[0] if len(activations) == 1 else "sigmoid")
        w = wf.to_arrays(wf.init_weights([784, 12, 10], random.Random(5), activation=act))
        cases.append(Case(f"mnist-sample 784-12-10, {act}, 3 real digits", w,
                          np.asarray(xtr[:3], np.float64), np.asarray(ytr[:3])))
    return cases


class RungOutputError(Exception):
    """A rung's return value does not have the contract's form (message says what it has)."""


def load_rung(path):
    """Import the Python file ``path`` as a module (its folder is on ``sys.path`` while it is
    imported, so it may import files next to it). Raises :class:`ConfigError` - one line - for a
    missing file, one that does not import (the exception's type and message) and one without
    ``loss_and_grads``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--rung {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"rung_{abs(hash(str(p.resolve())))}", p)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--rung {path}: not a Python file (it must end in .py)")
    module = importlib.util.module_from_spec(spec)
    folder = str(p.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as e:  # noqa: BLE001 - anything the student's file raises on import
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ConfigError(f"--rung {path}: importing it raised {type(e).__name__}: {one_line(e)}"
                          f"{_where(e, p)}") from None
    finally:
        sys.path.remove(folder)
    if not callable(getattr(module, "loss_and_grads", None)):
        raise ConfigError(f"--rung {path}: it defines no function loss_and_grads(weights, X, c) "
                          "(the ladder interface, shared/README.md)")
    return module


def _where(e: BaseException, path: Path | None = None) -> str:
    """`` (file.py line 12)`` of the innermost frame of ``e`` in ``path`` (else anywhere)."""
    frames = traceback.extract_tb(e.__traceback__)
    if path is not None:
        frames = [f for f in frames if Path(f.filename).resolve() == path.resolve()]
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name} line {frames[-1].lineno})"


def _float(v, what) -> float:
    try:
        return float(np.asarray(v, np.float64).reshape(()))
    except (TypeError, ValueError):
        raise RungOutputError(f"{what} is not a number: {type(v).__name__}") from None


def rung_tensors(out, n_layers: int) -> tuple[float, dict[str, np.ndarray | None]]:
    """``(loss, {"layer0.W": dW, ..., "input": dX or None})`` from a rung's return value."""
    if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
        raise RungOutputError(f"loss_and_grads must return (loss, grads, dX), it returned "
                              f"{type(out).__name__}")
    loss = _float(out[0], "the loss")
    grads = out[1]
    layers = grads.get("layers") if isinstance(grads, dict) else grads
    if not isinstance(layers, (list, tuple)) or len(layers) != n_layers:
        raise RungOutputError(f"grads must be {{'layers': [{{'W': dW, 'b': db}}, ...]}} with "
                              f"{n_layers} layers, got {type(grads).__name__}"
                              + (f" with {len(layers)}" if isinstance(layers, (list, tuple))
                                 else ""))
    tensors = {}
    for i, g in enumerate(layers):
        if isinstance(g, dict) and "W" in g and "b" in g:
            dW, db = g["W"], g["b"]
        elif isinstance(g, (list, tuple)) and len(g) == 2:
            dW, db = g
        else:
            raise RungOutputError(f"layer {i} of grads must be {{'W': dW, 'b': db}} or "
                                  f"(dW, db), got {type(g).__name__}")
        for name, v in (("W", dW), ("b", db)):
            try:
                tensors[f"layer{i}.{name}"] = np.asarray(v, np.float64)
            except (TypeError, ValueError):
                raise RungOutputError(f"grads layer {i} {name} is not an array of numbers") \
                    from None
    dX = out[2] if len(out) == 3 else None
    tensors["input"] = None if dX is None else np.asarray(dX, np.float64)
    return loss, tensors


def _low_precision(out) -> str | None:
    """The dtype name if the rung returned any float16/float32 array, else None."""
    grads = out[1] if isinstance(out, (tuple, list)) and len(out) > 1 else None
    layers = grads.get("layers", []) if isinstance(grads, dict) else grads or []
    values = [out[0]] + [v for g in layers
                         for v in (g.values() if isinstance(g, dict) else g)]
    for v in values:
        dtype = getattr(v, "dtype", None)
        if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
            return str(dtype)
    return None


@dataclass
class CaseResult:
    """What checking a rung on one :class:`Case` found."""

    name: str
    status: str                          # "agree", "DISAGREE", "skipped" or "failed"
    rows: list = field(default_factory=list)   # (tensor, shape, vs stage 3, vs own loss, note)
    first: str | None = None             # the first layer that disagrees, counting from the loss
    bug: str | None = None               # the diagnosis's name
    diagnosis: str | None = None         # ... and what it means
    note: str | None = None


def layer_label(tensor: str, n_layers: int) -> str:
    """"layer 1 (the output layer)" for "layer1.W"; "the loss" and "the input gradient dX"."""
    if tensor == "loss":
        return "the loss (the forward pass)"
    if tensor == "input":
        return "the input gradient dX"
    i = int(tensor[5:].split(".")[0])
    return f"layer {i}" + (" (the output layer)" if i == n_layers - 1 else "")



def _entries(shape, rng: np.random.Generator) -> list[tuple]:
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= FD_ENTRIES else np.sort(
        rng.choice(size, FD_ENTRIES, replace=False))
    return [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]


def own_central_differences(fn, case: Case, name: str, entries, lists: bool) -> np.ndarray:
    """Central differences of the rung's own loss w.r.t. tensor ``name`` at ``entries``."""
    weights, X = wf.to_arrays(case.weights), np.array(case.X, np.float64)
    if name == "input":
        arr = X
    else:
        i, p = name[5:].split(".")
        arr = weights["layers"][int(i)][p]

    def f():
        return _float(fn(*_arguments(weights, X, case.c, lists))[0], "the loss")

    from stage3_batched.gradcheck import central_difference

    return np.array([central_difference(f, arr, j, FD_STEP) for j in entries])


def _ignores_activation(loss, loss3, case: Case) -> str | None:
    """The activation whose network the rung computed instead of the problem's, if any."""
    act = wf.activation_of(case.weights)
    if act == "sigmoid" or difference(loss, loss3)["rel"] <= 1e-9:   # the ladder's own network
        return None
    for other in wf.ACTIVATIONS:
        if other != act:
            loss_other, _ = reference({**case.weights, "activation": other}, case.X, case.c)
            if difference(loss, loss_other)["rel"] <= 1e-9:
                return other
    return None


def _run(fn, case: Case, lists: bool):
    """``(out, loss, tensors)`` of the rung on the problem, or the :class:`CaseResult` that
    says why there are none (its return value has the wrong form, or it raised)."""
    act = wf.activation_of(case.weights)
    try:
        out = fn(*_arguments(case.weights, case.X, case.c, lists))
        return (out, *rung_tensors(out, len(case.weights["layers"])))
    except RungOutputError as e:
        return CaseResult(case.name, "failed", note=str(e))
    except Exception as e:  # noqa: BLE001 - the rung's own code failed
        why = f"loss_and_grads raised {type(e).__name__}: {one_line(e)}{_where(e)}"
        if act != "sigmoid":
            return CaseResult(case.name, "skipped", note=f"{why}; {act} problems skipped")
        return CaseResult(case.name, "failed", note=why)


def _row(fn, case: Case, name: str, s, r, rng, lists: bool, tol: float):
    """One tensor's row ``(name, shape, vs stage 3, vs own loss, note)`` and whether it fails;
    an exception of the rung's while its loss is differentiated numerically propagates."""
    shape = "x".join(map(str, r.shape))
    if s is None:
        return (name, shape, None, None, "dX not returned: not checked"), False
    if s.shape != r.shape:
        return (name, shape, None, None, f"shape {s.shape}, it must be {r.shape}"), True
    d3 = difference(s, r)
    entries = _entries(r.shape, rng)
    num = own_central_differences(fn, case, name, entries, lists)
    dfd = difference(np.array([s[j] for j in entries]), num)
    checked = "" if len(entries) == r.size else f"{len(entries)} of {r.size} entries"
    return (name, shape, d3, dfd, checked), d3["rel"] > tol or dfd["rel"] > FD_TOL


def _explain(result: CaseResult, case: Case, out, loss, mine, loss3, ref, first, tol) -> None:
    """Fill in a disagreeing result: the first layer, the diagnosis, float32, or the forward."""
    n_layers = len(case.weights["layers"])
    result.status, result.first = "DISAGREE", layer_label(first, n_layers)
    result.bug, result.diagnosis = diagnose(case, loss, mine, loss3, ref, first, tol)
    low = _low_precision(out)
    worst = max((row[2]["rel"] for row in result.rows if row[2] is not None), default=0.0)
    if result.bug in (None, "a different forward pass") and low and worst < 1e-3:
        result.bug = "float32 arithmetic"
        result.diagnosis = (f"your rung returns {low} arrays, good to about 7 digits; "
                            f"compute in float64 (the tolerance is {tol:g})")
    own = [row for row in result.rows if row[3] is not None]
    if all(row[3]["rel"] <= FD_TOL for row in own) and result.bug is None:
        result.note = ("the gradients match central differences of your own loss, so the "
                       "backward pass fits your forward pass: look at the forward pass")


def check_case(fn, case: Case, *, lists: bool = False, tol: float = RUNG_TOL,
               seed: int = 0, cannot=None) -> CaseResult:
    """Check the rung ``fn`` (its ``loss_and_grads``) on one problem against stage 3 and against
    central differences of its own loss. ``cannot(weights)`` says why the rung cannot express
    the problem (it is then skipped), or None."""
    why = cannot(case.weights) if cannot else None
    if why:
        return CaseResult(case.name, "skipped", note=f"skipped: {why}")
    loss3, grads3, dX3 = _stage3(case.weights, case.X, case.c)
    ref = named_tensors(grads3, dX3)
    ran = _run(fn, case, lists)
    if isinstance(ran, CaseResult):
        return ran
    out, loss, mine = ran
    other = _ignores_activation(loss, loss3, case)
    if other:
        return CaseResult(case.name, "skipped",
                          note=f"its loss is the {other} network's: the function ignores "
                               f"weights['activation']; {wf.activation_of(case.weights)} "
                               "problems skipped")
    result, rng = CaseResult(case.name, "agree"), np.random.default_rng(seed)
    d = difference(loss, loss3)
    result.rows.append(("loss", "scalar", d, None, ""))
    failing = ["loss"] if d["rel"] > tol else []
    for name in order_from_loss(len(case.weights["layers"])):
        try:
            row, bad = _row(fn, case, name, mine[name], ref[name], rng, lists, tol)
        except Exception as e:  # noqa: BLE001 - the rung's own code failed
            return CaseResult(case.name, "failed", note=f"loss_and_grads raised "
                              f"{type(e).__name__}: {one_line(e)}{_where(e)} while its loss "
                              "was differentiated numerically")
        result.rows.append(row)
        failing += [name] if bad else []
    if failing:
        _explain(result, case, out, loss, mine, loss3, ref, failing[0], tol)
    return result


def _sgd_case(activations) -> Case:
    act = "sigmoid" if "sigmoid" in activations else activations[0]
    return _random_case("4-5-3", [4, 5, 3], 6, 99, act)


def _one_factor(pairs) -> float | None:
    """The factor k with ``a = k b`` in every pair (rounded to -1 when it is -1), else None."""
    s = np.concatenate([a.ravel() for a, _ in pairs])
    r = np.concatenate([b.ravel() for _, b in pairs])
    if float(r @ r) == 0:
        return None
    k = float(s @ r) / float(r @ r)
    if difference(s, k * r)["rel"] > MATCH_TOL:
        return None
    return -1.0 if abs(k + 1) <= MATCH_TOL else k


def _update_factor(mine: dict, want: dict, before: dict, batch: int) -> str:
    """Why the rung's SGD step differs from stage 3's, when one factor explains the update
    ``w_new - w_old``: the batch size (summed, not averaged), its inverse, or -1."""
    names = [n for n in want if n != "input"]
    k = _one_factor([(mine[n] - before[n], want[n] - before[n]) for n in names])
    if k is None:
        flipped = [n for n in names if _one_factor([(mine[n] - before[n],
                                                     want[n] - before[n])]) == -1.0]
        return (f"; the update of {', '.join(flipped)} has the opposite sign: the step is "
                "w + lr dw there, it must be w - lr dw") if flipped else ""
    if batch > 1 and abs(k - batch) <= MATCH_TOL * batch:
        return (f"; the update is {batch} times stage 3's, {batch} being the batch size: the "
                "step uses the gradient summed over the batch, not its mean (or the rate is "
                "multiplied by the batch size)")
    if batch > 1 and abs(k - 1 / batch) <= MATCH_TOL:
        return (f"; the update is 1/{batch} of stage 3's, {batch} being the batch size: the "
                "mean's 1/N is applied twice (or the rate is divided by the batch size)")
    if abs(k + 1) <= MATCH_TOL:
        return "; the update has the opposite sign: the step is w + lr dw, it must be w - lr dw"
    return f"; the update is {k:.6g} times stage 3's in every entry"


def _first_step(module, case: Case, batch: int, lists: bool) -> str:
    """The diagnosis of one SGD step (the first batch alone) against stage 3's, or ""."""
    import stage3_batched

    X, c = case.X[:batch], case.c[:batch]
    try:
        out = module.sgd_train(*_arguments(case.weights, X, c, lists), 0.5,
                               **({"batch_size": batch} if batch > 1 else {}))
        _, mine = rung_tensors((0.0, out, None), 2)
    except Exception:  # noqa: BLE001 - already reported by the full run if it fails
        return ""
    want = named_tensors(stage3_batched.sgd_train(case.weights, X, c, 0.5, batch), X)
    return _update_factor(mine, want, named_tensors(case.weights, X), batch)


def check_sgd_train(module, *, lists: bool = False, tol: float = RUNG_TOL,
                    activations=("sigmoid",)) -> tuple[bool, str]:
    """The rung's ``sgd_train`` against stage 3's: 6 samples, lr 0.5, batches of 2 (of 1 when
    the function takes no ``batch_size``). Also checks that the input weights are not changed."""
    import stage3_batched

    case = _sgd_case(activations)
    batch = 2 if "batch_size" in inspect.signature(module.sgd_train).parameters else 1
    args = _arguments(case.weights, case.X, case.c, lists)
    before = wf.to_arrays(args[0])
    try:
        out = module.sgd_train(*args, 0.5, **({"batch_size": batch} if batch > 1 else {}))
        _, mine = rung_tensors((0.0, out, None), 2)
    except RungOutputError as e:
        return False, f"sgd_train: {e} (it must return the new weights in the weight format)"
    except Exception as e:  # noqa: BLE001 - the rung's own code failed
        return False, f"sgd_train raised {type(e).__name__}: {one_line(e)}{_where(e)}"
    want = named_tensors(stage3_batched.sgd_train(case.weights, case.X, case.c, 0.5, batch),
                         case.X)
    shapes = [n for n in want if n != "input" and mine[n].shape != want[n].shape]
    worst = max((difference(mine[n], want[n]) | {"name": n} for n in want if n != "input"
                 and n not in shapes), key=lambda d: d["rel"])
    changed = any(difference(np.asarray(a[p], np.float64), b[p])["max_abs"] > 0
                  for a, b in zip(wf.to_arrays(args[0])["layers"], before["layers"])
                  for p in ("W", "b"))
    ok = not shapes and worst["rel"] <= tol and not changed
    what = (f"sgd_train (6 samples, lr 0.5, batch_size {batch}) against stage 3: largest "
            f"relative error {worst['rel']:.2e} ({worst['name']})")
    if shapes:
        what += f"; wrong shapes: {', '.join(shapes)}"
    elif not ok:
        what += _first_step(module, case, batch, lists)
    if changed:
        what += "; it changed the weights it was given (the contract: return new weights)"
    return ok, what + (": agree" if ok else ": DISAGREE")


def check_accumulation(rung, *, activations=("sigmoid",), tol: float = RUNG_TOL):
    """Two backward passes without resetting must leave twice the gradients of one (the
    course's backward adds to them, its zero_grad resets them)."""
    case = _sgd_case(activations)
    try:
        _, once = rung_tensors(rung.loss_and_grads(case.weights, case.X, case.c), 2)
        _, twice = rung_tensors(rung.loss_and_grads_twice(case.weights, case.X, case.c), 2)
    except Exception as e:  # noqa: BLE001 - the rung's own code failed
        return False, f"two backward passes raised {type(e).__name__}: {one_line(e)}{_where(e)}"
    names = [n for n in once if n != "input" and once[n].shape == twice[n].shape]
    if all(difference(twice[n], 2 * once[n])["rel"] <= tol for n in names):
        return True, "two backward passes without zero_grad add up (twice one pass's): agree"
    kept = [n for n in names if difference(twice[n], once[n])["rel"] <= tol
            and difference(once[n], 0 * once[n])["max_abs"] > 0]
    why = (f"gradients overwritten instead of accumulated ({', '.join(kept)}): a second "
           "backward without zero_grad leaves one pass's gradient, not the sum; add to them "
           "(grad_W += X^T dY) and let zero_grad reset them") if kept else (
           "two backward passes without zero_grad do not give twice one pass's gradients")
    return False, why + ": DISAGREE"


def check_predict_proba(module, cases, *, lists: bool = False,
                        tol: float = RUNG_TOL) -> tuple[bool, str]:
    """The rung's ``predict_proba`` against the reference's softmax on the given problems."""
    worst = 0.0
    for case in cases:
        weights, X, _ = _arguments(case.weights, case.X, case.c, lists)
        try:
            mine = np.asarray(module.predict_proba(weights, X), np.float64)
        except Exception as e:  # noqa: BLE001 - the rung's own code failed
            return False, f"predict_proba raised {type(e).__name__}: {one_line(e)}{_where(e)}"
        want = predict_reference(case.weights, case.X)
        if mine.shape != want.shape:
            return False, (f"predict_proba returned shape {mine.shape} on {case.name}, it must "
                           f"be {want.shape}")
        worst = max(worst, difference(mine, want)["rel"])
    ok = worst <= tol
    return ok, (f"predict_proba on {_count(len(cases), 'problem')}: largest relative error "
                f"{worst:.2e}: "
                + ("agree" if ok else "DISAGREE"))



def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _num(d, key) -> str:
    return f"{'-':>9}" if d is None else f"{d[key]:>9.2e}"


def format_case(number: int, result: CaseResult) -> str:
    """One problem's table: per tensor, from the loss back to the input, the largest difference
    against stage 3 and against central differences of the rung's own loss."""
    lines = [f"problem {number}: {result.name}"]
    if result.rows:
        lines += [f"  {'':<9} {'':>7}   {'against stage 3':^19}   {'against own loss':^19}"
                  .rstrip(),
                  f"  {'tensor':<9} {'shape':>7}   {'max|Δ|':>9} {'rel':>9}   "
                  f"{'max|Δ|':>9} {'rel':>9}"]
        for name, shape, d3, dfd, note in result.rows:
            lines.append(f"  {name:<9} {shape:>7}   {_num(d3, 'max_abs')} {_num(d3, 'rel')}   "
                         f"{_num(dfd, 'max_abs')} {_num(dfd, 'rel')}  {note}".rstrip())
    if result.status == "DISAGREE":
        lines.append("  -> DISAGREE: " + (
            "the loss itself differs (the forward pass)" if result.first.startswith("the loss")
            else f"the first layer to disagree, counting from the loss, is {result.first}"))
        if result.bug:
            lines.append(f"     diagnosis: {result.bug} - {result.diagnosis}")
        else:
            lines.append("     no simple diagnosis fits; compare the formula of that layer with "
                         "the derivation in stage3_batched/README.md")
    else:
        lines.append(f"  -> {result.status}")
    if result.note:
        lines.append(f"     {result.note}")
    return "\n".join(lines)


def open_rung(path, course: str | None = None, *, module=None):
    """``(course module, the student's files, the rung)`` for ``path``: ``course`` names the
    course (None: the ladder's contract for a file defining loss_and_grads, else the course whose
    files the folder holds). One :class:`ConfigError` line when nothing fits."""
    from stage4_analysis import courses

    p = Path(path)
    if module is None and not p.exists():
        raise ConfigError(f"--rung {path}: no such file")
    if course is None and (module is not None or p.is_file()):
        course = "ladder" if module is not None or courses.get("ladder").matches(p) \
            else courses.detect(p) or "ladder"        # a lone file: the ladder's own errors
    elif course is None:
        course = courses.detect(p)
    if course is None:
        shapes = "; ".join(f"{m.NAME}: {' '.join(m.FILES)}" for m in courses.all_courses().values()
                           if m.FILES)
        raise ConfigError(f"--rung {path}: neither a file defining loss_and_grads(weights, X, c) "
                          f"nor a course's files ({shapes}); give --course NAME")
    shape = courses.get(course)
    files = module if module is not None else shape.load(p)
    return shape, files, shape.rung(files)


def _extras(shape, rung, cases, results, *, lists: bool, tol: float) -> list[tuple[bool, str]]:
    """The checks beyond loss_and_grads the rung has: accumulation, sgd_train, predict_proba."""
    acts = [a for a in shape.ACTIVATIONS if a in wf.ACTIVATIONS] or ["sigmoid"]
    extras = []
    if shape.ACCUMULATES and callable(getattr(rung, "loss_and_grads_twice", None)):
        extras.append(check_accumulation(rung, activations=acts, tol=tol))
    if callable(getattr(rung, "sgd_train", None)):
        extras.append(check_sgd_train(rung, lists=lists, tol=tol, activations=acts))
    if callable(getattr(rung, "predict_proba", None)):
        checked = [c for c, r in zip(cases, results) if r.status != "skipped"]
        if checked:
            extras.append(check_predict_proba(rung, checked, lists=lists, tol=tol))
    return extras


def check_rung(path, cases: list[Case], *, lists: bool = False, tol: float = RUNG_TOL,
               out=None, module=None, course: str | None = None) -> tuple[bool, list[CaseResult]]:
    """Check the rung at ``path`` (a file in the ladder's contract, or a course's files; its
    imported ``module`` may be given instead) on ``cases``, and its extra checks, print the
    tables to ``out`` (default stdout) and return ``(all agree, results)``. A skipped problem
    counts neither way, but at least one problem must be checked."""
    out = out or sys.stdout
    shape, files, rung = open_rung(path, course, module=module)
    if shape.FILES:
        print(f"{path}: {shape.TITLE}, read as the ladder's contract ({shape.SHAPE})\n",
              file=out)
    results = []
    for number, case in enumerate(cases, 1):
        results.append(check_case(rung.loss_and_grads, case, lists=lists, tol=tol, seed=number,
                                  cannot=lambda w: shape.cannot(w, files)))
        print(format_case(number, results[-1]) + "\n", file=out)
    extras = _extras(shape, rung, cases, results, lists=lists, tol=tol)
    for _, line in extras:
        print(line, file=out)
    if extras:
        print(file=out)
    checked = [r for r in results if r.status != "skipped"]
    ok = (bool(checked) and all(r.status in ("agree", "skipped") for r in results)
          and all(good for good, _ in extras))
    print_summary(path, results, extras, out)
    print(f"verdict: {'your rung agrees with the ladder' if ok else 'DISAGREE'}", file=out)
    return ok, results


def print_summary(path, results: list[CaseResult], extras, out) -> None:
    """The counts (problems and extra checks), the first disagreement and every diagnosis."""
    counts = {s: sum(r.status == s for r in results)
              for s in ("agree", "DISAGREE", "failed", "skipped")}
    summary = ", ".join(f"{v} {k.lower()}" for k, v in counts.items() if v)
    bad_extras = sum(not good for good, _ in extras)
    more = (f"; {_count(len(extras), 'further check')}: "
            f"{len(extras) - bad_extras} agree{f', {bad_extras} disagree' if bad_extras else ''}"
            if extras else "")
    print(f"{path}: {_count(len(results), 'problem')}: {summary}{more}", file=out)
    bad = [(i, r) for i, r in enumerate(results, 1) if r.status in ("DISAGREE", "failed")]
    if bad:
        i, r = bad[0]
        if r.status == "DISAGREE":
            where = "" if r.first.startswith("the loss") else ", counting from the loss"
            print(f"first disagreement (problem {i}): {r.first}{where}", file=out)
        else:
            print(f"problem {i} failed: {r.note}", file=out)
        named = {}
        for i, r in bad:
            if r.bug:
                named.setdefault(r.bug, []).append(i)
        for bug, where in named.items():
            first = next(r for r in results if r.bug == bug)
            print(f"diagnosis (problem{'s' if len(where) > 1 else ''} "
                  f"{', '.join(map(str, where))}): {bug} - "
                  f"{f'in problem {where[0]}, ' if len(results) > 1 else ''}{first.diagnosis}",
                  file=out)
    elif not any(r.status != "skipped" for r in results):
        print("no problem could be checked (every one was skipped)", file=out)


def course_cases(shape, activation: str | None = None, files=None,
                 digits: bool = True) -> list[Case]:
    """The default problems for a rung of the course ``shape``: every activation it can express
    (with ``files``, those the student's files have), or only ``activation``; with ``digits``
    also the three real digits."""
    acts = tuple(a for a in shape.ACTIVATIONS if a in wf.ACTIVATIONS)
    have = acts if files is None else tuple(a for a in acts if not shape.cannot(
        wf.to_arrays(wf.init_weights([2, 2, 2], random.Random(0), activation=a)), files))
    if activation:
        return rung_cases((activation,), digits=digits)
    return rung_cases(acts or wf.ACTIVATIONS, digits=digits,
                      digits_activation=(have or acts or ("sigmoid",))[0]
                      if "sigmoid" not in have else "sigmoid")


def parser() -> argparse.ArgumentParser:
    from stage4_analysis import courses
    from stage4_analysis.problems import WRITERS

    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.rungcheck",
        description="Check your own rung - a file with loss_and_grads(weights, X, c), or your "
                    "course's files - against stage 3 and against central differences of its "
                    "own loss. Exit status 0 agree, 1 disagree, 2 for bad input.",
        epilog=WRITERS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rung", metavar="PATH", required=True,
                   help="a Python file defining loss_and_grads (optionally sgd_train, "
                        "predict_proba), or a folder (or a file in it) with a course's files")
    p.add_argument("--course", choices=courses.ORDER,
                   help="the course whose shape PATH has (default: found from the files)")
    p.add_argument("--lists", action="store_true",
                   help="pass nested Python lists (stage 1's form) instead of numpy arrays")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="one problem: random weights of these layer sizes")
    p.add_argument("--weights", metavar="FILE", help="one problem: a weights file's network")
    p.add_argument("--activation", choices=wf.ACTIVATIONS,
                   help="hidden activation (default: every one the course can express)")
    p.add_argument("--dataset", choices=DATASETS, help="one problem: samples of this data set")
    p.add_argument("--samples", type=positive_int, default=2, help="samples (default 2)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (default 0)")
    p.add_argument("--tol", type=float, default=RUNG_TOL,
                   help=f"relative tolerance against stage 3 (default {RUNG_TOL:g})")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-torch", action="store_true", help=argparse.SUPPRESS)   # no torch here
    return p


def main(argv=None) -> int:
    from stage4_analysis.problems import build_problem, check_problem_flags

    p = parser()
    args = p.parse_args(argv)
    check_problem_flags(p, args)
    if args.json:
        raise ConfigError("--json does not apply with --rung (its report is a table)")
    shape, files, _ = open_rung(args.rung, args.course)   # bad path: one line before any work
    if args.sizes or args.weights or args.dataset:
        weights, X, c, where = build_problem(args)
        cases = [Case(where, wf.to_arrays(weights), np.asarray(X, np.float64), np.asarray(c))]
    else:
        cases = course_cases(shape, args.activation, files)
    ok, _ = check_rung(args.rung, cases, lists=args.lists, tol=args.tol, module=files,
                       course=shape.NAME)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run_main(main))
