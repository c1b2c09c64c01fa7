"""Check any layer's backward against central differences of its forward.

    python -m stage3_batched.gradcheck my_layers.py:MyLinear
    python -m stage3_batched.gradcheck my_layers.py:MyLinear --args 4 3
    python -m stage3_batched.gradcheck stage3_batched.layers:Softmax --shape 5 4

The layer is any class with the contract of :mod:`stage3_batched.layers`: ``forward(X) -> Y``,
``backward(dY) -> dX``, and its parameters and their gradients in the dicts ``params`` and
``grads`` (same keys; a layer without parameters may leave both empty or out). It is named as
``FILE.py:Class`` (a file of yours) or ``package.module:Class``, and built with ``--args`` when
they are given (each read as an int, else a float, else kept as text), else with no arguments,
else as ``Class(in_dim, out_dim)`` with two small random widths.

The check: a random float64 input X (N, D) and a random upstream gradient dY (shaped like the
output), the scalar ``f = sum(dY * forward(X))`` - its gradient with respect to X is exactly what
``backward(dY)`` must return, and with respect to each parameter what it must leave in ``grads``
(which are set to zero first: in stage 3 backward *adds* to them) - and central differences
``(f(v + h) - f(v - h)) / 2h`` of every entry of X and of every parameter. It prints the relative
error ``|a - n| / (|a| + |n|)`` (norms over the whole array; 0 when both are zero) for the input
and each parameter, and the tolerance it judges by: a right backward agrees to about 1e-8 or
better with ``h = 1e-6`` in float64, a wrong one is off by a number of order 1.

Exit status 0 when every error is within the tolerance, 1 when one is not (or backward returns
the wrong shape), 2 for a file, module or class that cannot be imported or built.

In a notebook: ``check_layer(MyLinear, args=(4, 3))`` (a class or a built layer) returns a
:class:`GradCheck` whose ``errors`` maps "input" and every parameter name to its relative error.

What it leaves out: layers whose forward is random (dropout in training mode: build it in
evaluation mode), non-smooth points (a ReLU input within ``h`` of 0 - random inputs almost never
are), float32 layers (central differences need float64), and big layers: at most
:data:`MAX_ENTRIES` inputs and parameters together (each costs two forward passes).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.cli import positive_float
from shared.errors import ConfigError, one_line, run_main

STEP = 1e-6
TOL = 1e-6
MAX_ENTRIES = 20_000  # central differences run forward twice per entry: keep the check short


@dataclass
class GradCheck:
    """The result of :func:`check_layer`: relative error per gradient, and what went wrong."""

    layer: str                                        # how it was built, e.g. "Linear(4, 3)"
    input_shape: tuple
    output_shape: tuple
    errors: dict = field(default_factory=dict)        # "input" / parameter name -> rel. error
    shapes: dict = field(default_factory=dict)        # same keys -> shape
    problems: dict = field(default_factory=dict)      # same keys -> what is wrong (wrong shape)
    hints: dict = field(default_factory=dict)         # same keys -> a likely cause of an error
    tol: float = TOL

    @property
    def ok(self) -> bool:
        return not self.problems and all(e <= self.tol for e in self.errors.values())


def rel_error(a, b) -> float:
    """``|a - b| / (|a| + |b|)`` with norms over the whole arrays; 0 when both are zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if not np.all(np.isfinite(a)):
        return math.inf
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def load_class(spec: str):
    """The class named by ``FILE.py:Class`` or ``package.module:Class``; :class:`ConfigError`
    (one line) when it cannot be found or imported."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise ConfigError(f"{spec}: name the layer as FILE.py:Class or package.module:Class")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"{where}: no such file")
        mod_spec = importlib.util.spec_from_file_location(f"layers_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        folder = str(path.resolve().parent)
        sys.path.insert(0, folder)                    # it may import files next to it
        try:
            mod_spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - anything the file raises on import
            raise ConfigError(f"{where}: importing it raised {type(e).__name__}: "
                              f"{one_line(e)}") from None
        finally:
            sys.path.remove(folder)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as e:  # noqa: BLE001 - anything the module raises on import
            raise ConfigError(f"{where}: importing it raised {type(e).__name__}: "
                              f"{one_line(e)}") from None
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and hasattr(v, "forward") and hasattr(v, "backward"))
        raise ConfigError(f"{where} has no {name!r}" + (f"; its layers: {', '.join(found)}"
                                                        if found else ""))
    if not inspect.isclass(cls):
        raise ConfigError(f"{spec} is not a class")
    return cls


def _parse_arg(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build(cls, args=None, rng: np.random.Generator | None = None):
    """``(layer, how, in_dim)``: ``cls(*args)``; without args ``cls()``, else
    ``cls(in_dim, out_dim)`` with random widths 2..5. :class:`ConfigError` when none works."""
    rng = np.random.default_rng(0) if rng is None else rng
    attempts = [tuple(args)] if args is not None else [(), tuple(int(v) for v in
                                                                 rng.integers(2, 6, size=2))]
    why = None
    for a in attempts:
        try:
            layer = cls(*a)
        except MemoryError:
            raise ConfigError(f"{cls.__name__}({', '.join(map(str, a))}): out of memory; give "
                              "smaller --args") from None
        except Exception as e:  # noqa: BLE001 - the class's own constructor failed
            why = f"{type(e).__name__}: {one_line(e)}"
            continue
        how = f"{cls.__name__}({', '.join(map(repr, a))})"
        return layer, how, (a[0] if len(a) == 2 and isinstance(a[0], int) else None)
    tried = " and ".join(f"{cls.__name__}({', '.join(map(str, a))})" for a in attempts)
    raise ConfigError(f"cannot build {cls.__name__}: {tried} raised {why}; give its arguments "
                      "with --args")


def _input_width(layer, in_dim, rng) -> int:
    for value in (getattr(layer, "in_dim", None), in_dim):
        if isinstance(value, (int, np.integer)) and value > 0:
            return int(value)
    W = getattr(layer, "params", {}).get("W")
    if W is not None and np.ndim(W) == 2:
        return int(np.shape(W)[0])
    return int(rng.integers(2, 6))


def _zero_grads(layer) -> None:
    if callable(getattr(layer, "zero_grad", None)):
        layer.zero_grad()
        return
    for g in getattr(layer, "grads", {}).values():
        if isinstance(g, np.ndarray):
            g[...] = 0.0


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


def check_layer(layer, *, args=None, shape=None, seed: int = 0, step: float = STEP,
                tol: float = TOL) -> GradCheck:
    """Gradient-check one layer: ``layer`` is a class (built as :func:`build` says) or a built
    layer. ``shape = (N, D)`` fixes the input's shape (default: N in 2..4, D the layer's input
    width or 2..5). Returns a :class:`GradCheck`; :class:`ConfigError` when the layer cannot be
    built or its forward is not a deterministic float64 function."""
    rng = np.random.default_rng(seed)
    if inspect.isclass(layer):
        layer, how, in_dim = build(layer, args, rng)
    else:
        how, in_dim = type(layer).__name__ + " (given)", None
    params = getattr(layer, "params", None) or {}
    for name, p in params.items():
        if np.asarray(p).dtype != np.float64:
            raise ConfigError(f"{how}: parameter {name!r} is {np.asarray(p).dtype}; central "
                              "differences need float64 (build the layer in float64)")
    if shape is None:
        shape = (int(rng.integers(2, 5)), _input_width(layer, in_dim, rng))
    entries = int(np.prod(shape)) + sum(int(np.size(p)) for p in params.values())
    if entries > MAX_ENTRIES:
        raise ConfigError(f"{how} on X {tuple(shape)}: {entries:,} inputs and parameters, "
                          f"central differences are kept to {MAX_ENTRIES:,}; use a smaller "
                          "--shape or --args")
    X = rng.standard_normal(tuple(shape))

    def forward(X):
        try:
            return np.asarray(layer.forward(X))
        except Exception as e:  # noqa: BLE001 - the layer's own code failed
            raise ConfigError(f"{how}: forward on X of shape {X.shape} raised "
                              f"{type(e).__name__}: {one_line(e)}; give --shape N D") from None

    Y = forward(X)
    if Y.dtype != np.float64:
        raise ConfigError(f"{how}: forward returns {Y.dtype}; central differences need float64")
    if not np.array_equal(forward(X.copy()), Y):
        raise ConfigError(f"{how}: forward gives different outputs for the same X (is it random, "
                          "like dropout in training mode?); check it in evaluation mode")
    dY = rng.standard_normal(Y.shape)
    forward(X)                                        # the cache backward will use
    _zero_grads(layer)
    result = GradCheck(how, tuple(X.shape), tuple(Y.shape), tol=tol)
    try:
        dX = layer.backward(dY.copy())
    except Exception as e:  # noqa: BLE001 - the layer's own backward failed: a failed check
        result.shapes["input"] = tuple(X.shape)
        result.problems["input"] = f"backward raised {type(e).__name__}: {one_line(e)}"
        return result
    analytic = {"input": dX}
    grads = getattr(layer, "grads", None) or {}
    for name in params:
        analytic[name] = grads.get(name)
    analytic = {k: (None if v is None else np.array(v, np.float64)) for k, v in analytic.items()}

    def f():
        return float(np.sum(dY * forward(X)))

    targets = {"input": X, **{name: params[name] for name in params}}
    for name, values in targets.items():
        a = analytic[name]
        result.shapes[name] = tuple(np.shape(values))
        what = "backward's return value (dX)" if name == "input" else f"grads[{name!r}]"
        if a is None:
            result.problems[name] = f"{what} is missing after backward"
            continue
        num = numeric_gradient(f, values, step)
        if a.shape != num.shape:
            hint = ""
            if a.shape == num.T.shape and rel_error(a, num.T) <= tol:
                hint = "; it holds the transpose of the right gradient"
            result.problems[name] = f"{what} has shape {a.shape}, it must be {num.shape}{hint}"
            continue
        result.errors[name] = rel_error(a, num)
        if result.errors[name] > tol:
            if a.ndim == 2 and a.shape == a.T.shape and rel_error(a, num.T) <= tol:
                result.hints[name] = "the transpose of the right gradient"
            elif rel_error(a, -num) <= tol:
                result.hints[name] = "the right gradient with the opposite sign"
            elif np.vdot(num, num) > 0:
                k = float(np.vdot(a, num) / np.vdot(num, num))
                if rel_error(a, k * num) <= tol:
                    result.hints[name] = f"{k:.6g} times the right gradient"
    return result


def format_check(result: GradCheck, step: float = STEP) -> str:
    """The report: one row per gradient, then the verdict."""
    n = "x".join(map(str, result.output_shape))
    lines = [f"{result.layer} on X {result.input_shape} float64; scalar sum(dY * forward(X)) "
             f"with a random dY ({n}); central differences with step {step:g}",
             f"  {'gradient':<10} {'shape':>9}  relative error"]
    for name, shape in result.shapes.items():
        s = "x".join(map(str, shape)) or "scalar"
        if name in result.problems:
            lines.append(f"  {name:<10} {s:>9}  FAIL: {result.problems[name]}")
        else:
            e = result.errors[name]
            verdict = "" if e <= result.tol else "  FAIL"
            if name in result.hints:
                verdict += f": {result.hints[name]}"
            lines.append(f"  {name:<10} {s:>9}  {e:.2e}{verdict}")
    lines.append(f"tolerance {result.tol:g}: " + ("pass" if result.ok else "FAIL"))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stage3_batched.gradcheck",
        description="Check a layer's backward (its dX and the gradients it leaves in grads) "
                    "against central differences of its forward. Exit status 0 pass, 1 fail, "
                    "2 when the layer cannot be imported or built.")
    p.add_argument("layer", metavar="FILE.py:Class",
                   help="the layer class: a file of yours (my_layers.py:MyLinear) or a module "
                        "(stage3_batched.layers:Linear)")
    p.add_argument("--args", nargs="+", metavar="ARG",
                   help="constructor arguments, e.g. --args 4 3 (default: none, else two random "
                        "widths in_dim out_dim)")
    p.add_argument("--shape", type=int, nargs=2, metavar=("N", "D"),
                   help="the input's shape (default: 2-4 rows, the layer's input width)")
    p.add_argument("--seed", type=int, default=0, help="seed of X, dY and the widths")
    p.add_argument("--tol", type=positive_float, default=TOL,
                   help=f"largest relative error that passes (default {TOL:g})")
    args = p.parse_args(argv)
    if args.shape and min(args.shape) < 1:
        p.error(f"--shape needs two positive sizes, got {args.shape}")
    cls = load_class(args.layer)
    ctor = None if args.args is None else [_parse_arg(a) for a in args.args]
    result = check_layer(cls, args=ctor, shape=args.shape, seed=args.seed, tol=args.tol)
    print(format_check(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(run_main(main))
