"""Check a layer's, activation's or loss's backward against central differences of its forward,
in the shape the student's course gave it.

    python -m stage3_batched.gradcheck tests/rungs/my_layers.py:MyLinear
    python -m stage3_batched.gradcheck layers.py:Linear              (CS3317: W, grad_W)
    python -m stage3_batched.gradcheck layers.py:FullyConnectedLayer (ECE421: parameters dict)
    python -m stage3_batched.gradcheck activations.py:Activation     (ECE421: backward(Z, dY))
    python -m stage3_batched.gradcheck layers.py:affine              (CS231n: affine_forward...)
    python -m stage3_batched.gradcheck losses.py:CrossEntropyLoss    (a loss: its input gradient)
    python -m stage3_batched.gradcheck stage3_batched.layers:Softmax --shape 5 4

How the name is found - a layer class, an activation with ``backward(Z, dY)``, a CS231n function
pair, a function with its derivative, a loss; parameters in ``params`` / ``grads``, ``parameters``
/ ``gradients``, or ``W`` with ``grad_W`` / ``dW``, any layout, a bias (n,) or (1, n) - is
:mod:`stage3_batched.gradcheck_shapes`; how a loss is called is
:mod:`stage3_batched.gradcheck_losses`. The course (``--course NAME``, else found from the files
next to the named one) says how to build its classes, how its loss takes labels, and whether its
backward adds to the gradients.

The check of a layer: a random float64 input X (N, D) - N different from every width, so a
transposed gradient or a cache shows by its shape - a random dY shaped like the output, the scalar
``f = sum(dY * forward(X))``, whose gradient with respect to X is what ``backward(dY)`` must
return and with respect to each parameter what it must leave as that parameter's gradient (set to
zero first), and central differences ``(f(v + h) - f(v - h)) / 2h`` of every entry of X and of
every parameter (the stored array itself is perturbed, so its layout does not matter). Where the
course's backward adds to the gradients (it has ``zero_grad``), a second backward must double
them. The check of a loss: labels drawn as the loss takes them, its input gradient against central
differences of its own value, and value and gradient against the ladder's cross-entropy (on logits
or on probabilities), so a loss summed instead of averaged is caught. Errors are relative,
``|a - n| / (|a| + |n|)`` over whole arrays; a right backward agrees to about 1e-8 with
``h = 1e-6`` in float64, a wrong one is off by a number of order 1, and the report names the
likely cause (transposed, opposite sign, 1/N missing, bias averaged instead of summed, ...).

A layer holding float arrays that are not parameters gradcheck can find is never a pass: it says
where it looked and fails (``--input-only`` checks dX alone). Exit status 0 when every check
passes, 1 when one fails, 2 when the name cannot be imported or built or its signature is not one
gradcheck knows (the message gives the contract it expected).

In a notebook: ``check_layer(MyLinear, args=(4, 3))`` (a class or a built layer) returns a
:class:`GradCheck`; ``check_target("layers.py:affine")`` a list of them, one per construction.

What it leaves out: random forwards (dropout in training mode: build it in evaluation mode),
non-smooth points (a ReLU input within ``h`` of 0 - random inputs almost never are), float32
(central differences need float64), losses other than cross-entropy, and big layers: at most
:data:`MAX_ENTRIES` inputs and parameters together (each costs two forward passes).
"""

from __future__ import annotations

import argparse
import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from shared.cli import positive_float
from shared.errors import ConfigError, one_line, run_main
from stage3_batched import gradcheck_losses as losses
from stage3_batched import gradcheck_shapes as shapes
from stage3_batched.gradcheck_shapes import load_class, load_target  # noqa: F401 - the API

STEP = 1e-6
TOL = 1e-6
MAX_ENTRIES = 20_000  # central differences run forward twice per entry: keep the check short


@dataclass
class GradCheck:
    """The result of one check: relative error per gradient, and what went wrong."""

    layer: str                                        # how it was built, e.g. "Linear(4, 3)"
    input_shape: tuple
    output_shape: tuple
    errors: dict = field(default_factory=dict)        # "input" / parameter name -> rel. error
    shapes: dict = field(default_factory=dict)        # same keys -> shape
    problems: dict = field(default_factory=dict)      # same keys -> what is wrong (wrong shape)
    hints: dict = field(default_factory=dict)         # same keys -> a likely cause of an error
    notes: list = field(default_factory=list)         # what passed with a remark
    tol: float = TOL
    header: str = ""                                  # a loss's: how it was called, on what

    @property
    def ok(self) -> bool:
        return not self.problems and all(e <= self.tol for e in self.errors.values())

    def text(self) -> str:
        """What the report says is wrong, for searching: the layer, its problems and hints."""
        return f"{self.layer}: " + "; ".join([*self.problems.values(), *self.hints.values()])


def rel_error(a, b) -> float:
    """``|a - b| / (|a| + |b|)`` with norms over the whole arrays; 0 when both are zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if not np.all(np.isfinite(a)):
        return math.inf
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def central_difference(f, values: np.ndarray, j, step: float = STEP) -> float:
    """``(f(v_j + step) - f(v_j - step)) / (2 step)`` for the scalar ``f()``, perturbing
    ``values[j]`` in place and restoring it."""
    old = values[j]
    values[j] = old + step
    up = f()
    values[j] = old - step
    down = f()
    values[j] = old
    return (up - down) / (2 * step)


def numeric_gradient(f, values: np.ndarray, step: float = STEP) -> np.ndarray:
    """Central differences of the scalar ``f()`` w.r.t. every entry of ``values``."""
    grad = np.zeros(values.shape)
    for j in np.ndindex(values.shape):
        grad[j] = central_difference(f, values, j, step)
    return grad


def slopes(forward, values: np.ndarray, dY, step: float = STEP):
    """Central differences of the whole output ``forward()`` w.r.t. every entry of ``values``:
    ``(grad, diag)`` - grad of ``sum(dY * forward())`` (shaped like values) and, when the output
    is shaped like values, the diagonal of the Jacobian (d out_j / d v_j), else None."""
    grad, diag = np.zeros(values.shape), np.zeros(values.shape)
    for j in np.ndindex(values.shape):
        old = values[j]
        values[j] = old + step
        up = np.array(forward(), np.float64)
        values[j] = old - step
        down = np.array(forward(), np.float64)
        values[j] = old
        slope = (up - down) / (2 * step)
        grad[j] = np.sum(dY * slope)
        diag[j] = slope[j] if slope.shape == values.shape else 0.0
    return grad, (diag if np.shape(dY) == values.shape else None)


# ----------------------------------------------------------------------------- hints
def _close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-6 * max(abs(x), abs(y))


def factor_hint(k: float, name: str, n: int, loss: bool = False) -> str:
    """The cause of a gradient (or loss value) ``k`` times the right one, in a student's words;
    ``n`` is the batch size N."""
    if _close(k, -1.0):
        return "the right gradient with the opposite sign"
    if _close(k, n):
        return (f"{n} = N times the right {'value' if name == 'value' else 'gradient'}: 1/N "
                "missing (the loss of a batch is the mean over its N rows)" if loss or
                name == "value" else f"{n} = N times the right gradient: 1/N missing")
    if _close(k, 1.0 / n):
        if name.lower().startswith("b"):
            return (f"1/N = 1/{n} times the right gradient: bias averaged instead of summed (db is "
                    "the sum of dY's rows; the loss already divided by N)")
        return f"1/N = 1/{n} times the right gradient: 1/N applied twice"
    if _close(k, 2.0):
        return "twice the right gradient (a gradient added twice?)"
    return f"{k:.6g} times the right gradient"


def gradient_hint(a, num, name: str, n: int, tol: float, loss: bool = False) -> str | None:
    """Why ``a`` (same shape as ``num``) is wrong, if it is a simple change of ``num``."""
    if a.ndim == 2 and a.shape == a.T.shape and rel_error(a, num.T) <= tol:
        return "transposed: the transpose of the right gradient"
    if np.vdot(num, num) > 0:
        k = float(np.vdot(a, num) / np.vdot(num, num))
        if abs(k) > 1e-12 and rel_error(a, k * num) <= tol:
            return factor_hint(k, name, n, loss)
    return None


def elementwise_hint(a, dY, diag, num, at_output, X, tol: float) -> str | None:
    """Why dX = ``a`` is wrong for a layer whose output j depends on input j alone (or, when
    it does not, whether ``a`` used only the Jacobian's diagonal). ``at_output()`` gives the
    local derivative taken at the output Y instead of the input."""
    if diag is None:
        return None
    if rel_error(dY * diag, num) > tol:                      # outputs mix the inputs of a row
        if rel_error(a, dY * diag) <= tol:
            return ("only the diagonal of the Jacobian: each output depends on every input of "
                    "its row (softmax: J = diag(y) - y y^T, dx = y * (dy - sum(dy * y)))")
        return None
    if rel_error(a, diag) <= tol:
        return "the local derivative alone: the upstream gradient dY is not multiplied in"
    if rel_error(a, dY) <= tol:
        return "dY passed through unchanged: the local derivative is missing"
    mask = np.round(diag)
    if np.allclose(diag, mask, atol=1e-6) and np.isin(mask, (0.0, 1.0)).all() \
            and rel_error(a, dY * (1 - mask)) <= tol:
        return "the mask is inverted: the gradient passes where the input is negative"
    if rel_error(a, dY * at_output()) <= tol:
        return "the derivative taken at the output y instead of the input x"
    j = np.unravel_index(np.argmax(np.abs(a - dY * diag) * (np.abs(dY) > 0.1)), a.shape)
    return (f"at x = {X[j]:.4g} the slope of forward is {diag[j]:.6g} but backward gives "
            f"{a[j] / dY[j]:.6g} times dY")


# ----------------------------------------------------------------------------- layers
def _compare(result: GradCheck, name: str, label: str, a, num, n: int,
             loss: bool = False) -> None:
    """Record gradient ``a`` (None when missing) against ``num`` (central differences)."""
    result.shapes[name] = tuple(num.shape)
    if a is None:
        result.problems[name] = f"{label} is missing after backward"
        return
    a = np.array(a, np.float64)
    if a.shape != num.shape:
        if num.ndim == 2 and num.shape[0] == 1 and a.shape == num.shape[1:] \
                and rel_error(a, num[0]) <= result.tol:
            result.errors[name] = rel_error(a, num[0])
            result.notes.append(f"{label} has shape {a.shape} for a bias of shape {num.shape}: "
                                "the right values (reshape it to the bias's shape)")
            return
        hint = ""
        if a.shape == num.T.shape and rel_error(a, num.T) <= result.tol:
            hint = "; transposed: it holds the transpose of the right gradient"
        result.problems[name] = f"{label} has shape {a.shape}, it must be {num.shape}{hint}"
        return
    result.errors[name] = rel_error(a, num)
    if result.errors[name] > result.tol:
        hint = gradient_hint(a, num, name, n, result.tol, loss)
        if hint:
            result.hints[name] = hint


def _first_forward(s: shapes.Subject, shape, widths, n: int, rng):
    """``(X, Y)``: the first candidate input width forward accepts (or ``shape``)."""
    tried, why = [], ""
    for d in ([shape[1]] if shape else widths):
        X = rng.standard_normal((shape[0], d) if shape else (n, d))
        try:
            Y = s.forward(X)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - the layer's own code failed: try another width
            tried.append(str(X.shape))
            why = f"{type(e).__name__}: {one_line(e)}"
            continue
        return X, np.asarray(Y)
    raise ConfigError(f"{s.how}: forward on X of shape {' or '.join(tried)} raised {why}; give "
                      "--shape N D")


def _forward_checked(s: shapes.Subject, X):
    try:
        return np.asarray(s.forward(X))
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - the layer's own code failed
        raise ConfigError(f"{s.how}: forward on X of shape {X.shape} raised "
                          f"{type(e).__name__}: {one_line(e)}; give --shape N D") from None


def _prepare(s: shapes.Subject, shape, widths, rng, input_only: bool):
    """X, Y, dY and the result, with the parameters found (a probe forward and backward first,
    as some courses make their parameters on the first forward and gradients on backward)."""
    n = shape[0] if shape else shapes.pick_batch(widths)
    X, Y = _first_forward(s, shape, widths, n, rng)
    if Y.dtype != np.float64:
        raise ConfigError(f"{s.how}: forward returns {Y.dtype}; central differences need float64")
    if not np.array_equal(_forward_checked(s, X.copy()), Y):
        raise ConfigError(f"{s.how}: forward gives different outputs for the same X (is it "
                          "random, like dropout in training mode?); check it in evaluation mode")
    dY = rng.standard_normal(Y.shape)
    result = GradCheck(s.how, tuple(X.shape), tuple(Y.shape))
    if s.layer is not None:
        try:
            s.backward(dY.copy())
        except Exception as e:  # noqa: BLE001 - reported by the check itself
            result.problems["input"] = f"backward raised {type(e).__name__}: {one_line(e)}"
        s.params = shapes.find_parameters(s.layer)
    _unknown_arrays(s, result, len(X), input_only)
    for p in s.params:
        if np.asarray(p.value()).dtype != np.float64:
            raise ConfigError(f"{s.how}: parameter {p.name!r} is {np.asarray(p.value()).dtype};"
                              " central differences need float64 (build the layer in float64)")
    return X, dY, result


def _unknown_arrays(s: shapes.Subject, result: GradCheck, n: int, input_only: bool) -> None:
    """A layer holding float arrays gradcheck cannot match is a failure (or, with
    ``--input-only``, a note: then no parameter is checked)."""
    unknown = shapes.unrecognised_arrays(s.layer, s.params, n) if s.layer is not None else []
    held = ", ".join(f"{k} {tuple(v)}" for k, v in unknown)
    if input_only:
        names = ", ".join(p.name for p in s.params) + (", " if s.params and held else "") + held
        s.params = []
        result.notes.append("--input-only: dX alone is checked" + (f"; not checked: {names}"
                                                                  if names else ""))
        return
    if unknown:
        result.shapes["parameters"] = ()
        result.problems["parameters"] = (
            f"the layer holds float arrays gradcheck cannot match to gradients: {held}; it "
            f"looked for {shapes.LOOKED_FOR}. Name them so, or pass --input-only to check dX "
            "alone")


def _accumulation(s: shapes.Subject, X, dY, first: dict, result: GradCheck) -> None:
    """A second backward without zeroing must leave twice the first gradients."""
    s.forward(X)
    try:
        s.backward(dY.copy())
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        result.problems["accumulate"] = f"a second backward raised {type(e).__name__}: {e}"
        return
    again = {p.name: np.array(p.grad(), np.float64) for p in s.params if p.name in first}
    errs = [rel_error(again[k], 2 * first[k]) for k in first if again[k].shape == first[k].shape]
    if not errs:
        return
    result.errors["accumulate"] = max(errs)
    result.shapes["accumulate"] = ()
    if result.errors["accumulate"] > result.tol:
        labels = {p.name: p.label for p in s.params}
        same = [labels[k] for k in first if again[k].shape == first[k].shape
                and rel_error(again[k], first[k]) <= result.tol]
        result.hints["accumulate"] = (
            f"gradients overwritten instead of accumulated ({', '.join(same)}): backward must "
            "add to them (grad_W += ...), zero_grad resets them" if same else
            "a second backward without zero_grad must leave twice the gradients")


def check_subject(s: shapes.Subject, *, shape=None, widths=(shapes.IN,), seed: int = 0,
                  step: float = STEP, tol: float = TOL, input_only: bool = False) -> GradCheck:
    """Gradient-check one :class:`~stage3_batched.gradcheck_shapes.Subject`."""
    rng = np.random.default_rng(seed)
    X, dY, result = _prepare(s, shape, widths, rng, input_only)
    result.tol = tol
    if "input" in result.problems:
        result.shapes["input"] = tuple(X.shape)
        return result
    entries = X.size + sum(int(np.size(p.value())) for p in s.params)
    if entries > MAX_ENTRIES:
        raise ConfigError(f"{s.how} on X {X.shape}: {entries:,} inputs and parameters, central "
                          f"differences are kept to {MAX_ENTRIES:,}; use a smaller --shape or "
                          "--args")
    s.zero()
    s.forward(X)
    try:
        dX = s.backward(dY.copy())
    except Exception as e:  # noqa: BLE001 - the layer's own backward failed: a failed check
        result.shapes["input"] = tuple(X.shape)
        result.problems["input"] = f"backward raised {type(e).__name__}: {one_line(e)}"
        return result
    first = {p.name: np.array(p.grad(), np.float64) for p in s.params if p.grad() is not None}
    _check_gradients(s, X, dY, dX, first, result, step)
    if s.accumulates and first:
        _accumulation(s, X, dY, first, result)
    return result


def _check_gradients(s, X, dY, dX, first: dict, result: GradCheck, step: float) -> None:
    def output():
        return s.forward(X)

    num, diag = slopes(output, X, dY, step)
    _compare(result, "input", "backward's return value (dX)", dX, num, len(X))
    for p in s.params:
        pnum, _ = slopes(output, p.value(), dY, step)
        _compare(result, p.name, p.label, first.get(p.name), pnum, len(X))
    if "input" in result.errors and result.errors["input"] > result.tol \
            and "input" not in result.hints:
        def at_output():
            Y = np.array(output(), np.float64)
            return slopes(lambda: s.forward(Y), Y, np.ones_like(Y), step)[1]

        hint = elementwise_hint(np.asarray(dX, np.float64), dY, diag, num, at_output, X,
                                result.tol)
        if hint:
            result.hints["input"] = hint
    if not s.params and s.layer is not None and not result.notes \
            and "parameters" not in result.problems:
        result.notes.append("no parameters: dX is the whole check")


def check_layer(layer, *, args=None, shape=None, seed: int = 0, step: float = STEP,
                tol: float = TOL, input_only: bool = False, accumulates: bool | None = None,
                data: dict | None = None) -> GradCheck:
    """Gradient-check one layer: ``layer`` is a class (built with ``args``, else the first
    construction :func:`~stage3_batched.gradcheck_shapes.constructions` finds) or a built layer.
    ``shape = (N, D)`` fixes the input's shape. ``accumulates`` (default: the layer has a
    ``zero_grad``) adds the check that a second backward doubles the gradients. Returns a
    :class:`GradCheck`; :class:`ConfigError` when the layer cannot be built or called."""
    a = ()
    if inspect.isclass(layer):
        a = shapes.constructions(layer, args, data)[0]
        layer, how = shapes.build(layer, a)
    else:
        how = type(layer).__name__ + " (given)"
    if accumulates is None:
        accumulates = callable(getattr(layer, "zero_grad", None))
    s = shapes.layer_subject(layer, how, accumulates)
    widths = shapes.input_widths(layer, a)
    return check_subject(s, shape=shape, widths=widths, seed=seed, step=step, tol=tol,
                         input_only=input_only)


# ----------------------------------------------------------------------------- losses
K_CLASSES = 3


def _reference(kind: str, pred, c):
    """The ladder's cross-entropy of ``pred`` (logits or probabilities): (value, dpred)."""
    from stage3_batched.losses import CrossEntropy, SoftmaxCrossEntropy

    ref = SoftmaxCrossEntropy() if kind == "logits" else CrossEntropy()
    return ref.forward(pred, c), ref.backward()


def check_loss(target: shapes.Target, *, data: dict | None = None, seed: int = 0,
               step: float = STEP, tol: float = TOL) -> GradCheck:
    """Gradient-check a loss: its input gradient against central differences of its own value,
    and value and gradient against the ladder's cross-entropy (the mean over the batch); a loss
    the course marks ``"input": "other"`` (not a cross-entropy) against central differences
    only."""
    rng = np.random.default_rng(seed)
    loss, how = losses.build_loss(target, data or {})
    n = shapes.pick_batch([K_CLASSES])
    c = rng.permutation(np.arange(n) % K_CLASSES)             # every class present
    probs = _softmax(rng.standard_normal((n, K_CLASSES)))
    call = losses.loss_call(loss, target.name, data or {}, probs, c)
    pred = _softmax(rng.standard_normal((n, K_CLASSES))) if call.input == "probabilities" \
        else 2.0 * rng.standard_normal((n, K_CLASSES))
    result = GradCheck(how, pred.shape, (), tol=tol,
                       header=f"{how} as {call.describe()}, on "
                              f"{call.input.replace('other', 'predictions')} {pred.shape} "
                              f"float64 and labels {c.tolist()}")
    try:
        value, grad = call.run(loss, pred.copy(), c)
        num = numeric_gradient(lambda: call.value(loss, pred, c), pred, step)
    except Exception as e:  # noqa: BLE001 - the student's loss failed: a failed check
        result.shapes["input"] = pred.shape
        result.problems["input"] = f"the loss raised {type(e).__name__}: {one_line(e)}"
        return result
    _compare(result, "input", "its gradient (dpred)", grad, num, n, loss=True)
    if call.input == "other":
        result.notes.append("not a cross-entropy: its gradient against central differences "
                            "of its own value only")
    else:
        _against_reference(result, call.input, pred, c, value, grad)
    return result


def _against_reference(result: GradCheck, kind: str, pred, c, value, grad) -> None:
    """The value and gradient against the ladder's cross-entropy on ``kind`` inputs."""
    n, tol = len(c), result.tol
    ref_value, ref_grad = _reference(kind, pred, c)
    result.errors["value"] = rel_error(value, ref_value)
    result.shapes["value"] = ()
    if result.errors["value"] > tol and ref_value:
        result.hints["value"] = factor_hint(value / ref_value, "value", n, loss=True) \
            .replace("gradient", "value")
    _compare(result, "reference", "its gradient", grad, ref_grad, n, loss=True)
    if result.errors.get("reference", 1.0) <= tol and result.errors.get("input", 0.0) > tol:
        result.hints["input"] = ("backward is right (it is the ladder's gradient), forward is "
                                 "not the loss it differentiates: see the loss value")


def _softmax(O):
    E = np.exp(O - O.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- any name
def check_target(spec: str, *, args=None, shape=None, course: str | None = None, seed: int = 0,
                 step: float = STEP, tol: float = TOL, input_only: bool = False) -> list:
    """Every check of what ``spec`` names (``FILE.py:NAME``): one per construction of a class
    (ECE421's ``Activation`` is checked with each activation it knows), one for a function pair,
    a derivative pair or a loss. ``course`` forces the course (else it is found from the files
    next to the named one)."""
    target = shapes.load_target(spec)
    mod = shapes.find_course(target, course)
    data = shapes.course_data(mod)
    kw = dict(seed=seed, step=step, tol=tol)
    if target.kind == "loss":
        return [check_loss(target, data=data, **kw)]
    if target.kind in ("pair", "derivative"):
        s = shapes.pair_subject(target, np.random.default_rng(seed)) if target.kind == "pair" \
            else shapes.derivative_subject(target)
        return [check_subject(s, shape=shape, input_only=input_only, **kw)]
    cls = target.objs[0]
    accumulates = True if getattr(mod, "ACCUMULATES", False) else None
    out = []
    for a in shapes.constructions(cls, args, data):
        out.append(check_layer(cls, args=a, shape=shape, input_only=input_only,
                               accumulates=accumulates, **kw))
    return out


# ----------------------------------------------------------------------------- the report
ROW_NAMES = {"input": "input", "value": "loss value vs the ladder's",
             "reference": "input vs the ladder's", "accumulate": "accumulates (2nd backward)"}


def _row(result: GradCheck, name: str, width: int) -> str:
    shape = "x".join(map(str, result.shapes.get(name, ()))) or "-"
    label = ROW_NAMES.get(name, name)
    if name in result.problems:
        return f"  {label:<{width}} {shape:>7}  FAIL: {result.problems[name]}"
    e = result.errors[name]
    verdict = "" if e <= result.tol else "  FAIL"
    if name in result.hints:
        verdict += f": {result.hints[name]}"
    return f"  {label:<{width}} {shape:>7}  {e:.2e}{verdict}"


def format_check(result: GradCheck, step: float = STEP) -> str:
    """The report of one check: one row per gradient, notes, then the verdict."""
    n = "x".join(map(str, result.output_shape))
    head = result.header or (f"{result.layer} on X {result.input_shape} float64; scalar "
                             f"sum(dY * forward(X)) with a random dY ({n})")
    names = list(result.shapes) + [k for k in result.problems if k not in result.shapes]
    width = max([len("gradient")] + [len(ROW_NAMES.get(k, k)) for k in names])
    lines = [f"{head}; central differences with step {step:g}",
             f"  {'gradient':<{width}} {'shape':>7}  relative error"]
    lines += [_row(result, name, width) for name in names]
    lines += [f"  note: {note}" for note in result.notes]
    lines.append(f"tolerance {result.tol:g}: " + ("pass" if result.ok else "FAIL"))
    return "\n".join(lines)


def format_checks(results: list, step: float = STEP) -> str:
    text = "\n\n".join(format_check(r, step) for r in results)
    if len(results) > 1:
        bad = [r.layer for r in results if not r.ok]
        text += (f"\n\n{len(results)} checks: " + ("all pass" if not bad else
                                                   f"{len(bad)} FAIL ({'; '.join(bad)})"))
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stage3_batched.gradcheck",
        description="Check a layer's, activation's or loss's backward (dX, and the gradients it "
                    "leaves for its parameters) against central differences of its forward, in "
                    "the shape of your course. Exit status 0 pass, 1 fail, 2 when the name "
                    "cannot be imported, built or called.")
    p.add_argument("layer", metavar="FILE.py:NAME",
                   help="a class of yours (layers.py:Linear, activations.py:Activation, "
                        "losses.py:CrossEntropyLoss), a CS231n pair (layers.py:affine for "
                        "affine_forward / affine_backward), or a module's (stage3_batched."
                        "layers:Linear)")
    p.add_argument("--args", nargs="+", metavar="ARG",
                   help="constructor arguments, e.g. --args 4 3 (default: the course's, else "
                        "none, two widths, one width or each activation name that works)")
    p.add_argument("--shape", type=int, nargs=2, metavar=("N", "D"),
                   help="the input's shape (default: N = 5 or more, unlike every width; D the "
                        "layer's input width)")
    p.add_argument("--course", metavar="NAME",
                   help=f"the course whose shape the code has ({', '.join(shapes.course_names())}"
                        "; default: found from the files next to it)")
    p.add_argument("--input-only", action="store_true",
                   help="check dX alone (for a layer whose parameters gradcheck cannot find)")
    p.add_argument("--seed", type=int, default=0, help="seed of X, dY, labels and parameters")
    p.add_argument("--tol", type=positive_float, default=TOL,
                   help=f"largest relative error that passes (default {TOL:g})")
    args = p.parse_args(argv)
    if args.shape and min(args.shape) < 1:
        p.error(f"--shape needs two positive sizes, got {args.shape}")
    ctor = None if args.args is None else [shapes.parse_arg(a) for a in args.args]
    results = check_target(args.layer, args=ctor, shape=args.shape, course=args.course,
                           seed=args.seed, tol=args.tol, input_only=args.input_only)
    print(format_checks(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(run_main(main))
