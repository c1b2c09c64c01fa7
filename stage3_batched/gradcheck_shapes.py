"""How :mod:`stage3_batched.gradcheck` finds a student's code in the shape their course gave it,
and wraps it in one interface (``forward(X)``, ``backward(dY)``, parameters and gradients).

What a name ``FILE.py:NAME`` (or ``package.module:NAME``) can be:

* a **layer class** - ``forward(X) -> Y`` and ``backward(dY) -> dX``, or an activation class with
  ``backward(Z, dY)`` (ECE421's ``Activation(name)``; Z the forward's input), found by signature.
  Its parameters are found in the dicts ``params`` / ``grads`` (the ladder) or ``parameters`` /
  ``gradients`` (ECE421), else as array attributes ``NAME`` with ``grad_NAME``, ``dNAME`` or
  ``NAME_grad`` (CS3317's ``W`` / ``grad_W``). Any layout works - the stored array itself is
  perturbed - and a bias (n,) or (1, n). It is built with ``--args``, else with the arguments the
  course module lists (its ``GRADCHECK["build"]``), else with no arguments, two widths, one width
  or an activation name (each activation the constructor accepts is checked);
* a **function pair** (CS231n) - ``NAME_forward(x, w, b) -> (out, cache)`` and
  ``NAME_backward(dout, cache) -> (dx, dw, db)``; parameter shapes from the forward's argument
  names: ``w...`` (D, M), ``b...`` (M,);
* a **function and its derivative** (BYOMLP's provided ``logistic`` / ``logistic_deriv``);
* a **loss** - a class whose ``forward`` takes two arrays (``forward(logits, labels)`` +
  ``backward()``; ``forward(Y, Y_hat)`` + ``backward(Y, Y_hat)``) or a function named ``*loss*``
  returning ``(loss, dx)``; how it is called is :mod:`stage3_batched.gradcheck_losses`.

The course (``stage4_analysis.courses``, imported only when needed: stage 3 does not depend on
stage 4) is ``--course NAME`` or the one whose files the named file's folder holds.

What it leaves out: layers that need more than constructor arguments (a whole network of a
course is ``compare --rung``'s job), inputs of more than two dimensions.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.errors import ConfigError, one_line

IN, OUT = 4, 3                 # default widths: different, so a transposed gradient shows
ACTIVATION_NAMES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
GRAD_NAMES = ("grad_{}", "d{}", "{}_grad", "d_{}")
DICT_PLACES = (("params", "grads"), ("parameters", "gradients"))
NETWORKS = "a whole network is checked by python -m stage4_analysis.compare --rung"
LOOKED_FOR = ("the dicts params / grads and parameters / gradients (same keys), and attributes "
              "NAME with grad_NAME, dNAME or NAME_grad (W with grad_W or dW)")


@dataclass
class Target:
    """What ``FILE.py:NAME`` names: ``kind`` is "class", "pair", "derivative" or "loss"."""

    kind: str
    name: str
    objs: tuple                # the class; (forward, backward); (f, fderiv); the loss
    where: str                 # the file or module
    path: Path | None = None   # the file, when it is one


# ----------------------------------------------------------------------------- loading
def _isolated_exec(path: Path, name: str):
    """Import the file ``path`` as a module that may import the files next to it by their plain
    names; those are taken out of ``sys.modules`` again, so two folders never share a module."""
    folder = path.resolve().parent
    stems = {p.stem for p in folder.glob("*.py")}
    saved = {s: sys.modules.pop(s) for s in stems if s in sys.modules}
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - anything the file raises on import
        raise ConfigError(f"{path}: importing it raised {type(e).__name__}: {one_line(e)}") \
            from None
    finally:
        sys.path.remove(str(folder))
        for s in stems:
            sys.modules.pop(s, None)
        sys.modules.update(saved)
    return module


def load_module(where: str):
    """The module of ``FILE.py`` (a path) or ``package.module``; :class:`ConfigError` (one line)
    when it cannot be found or imported."""
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"{where}: no such file")
        return _isolated_exec(path, f"gradcheck_{path.stem}")
    try:
        return importlib.import_module(where)
    except Exception as e:  # noqa: BLE001 - anything the module raises on import
        raise ConfigError(f"{where}: importing it raised {type(e).__name__}: "
                          f"{one_line(e)}") from None


def _split(spec: str) -> tuple[str, str]:
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise ConfigError(f"{spec}: name the layer as FILE.py:Class (or FILE.py:affine for "
                          "affine_forward / affine_backward) or package.module:Class")
    return where, name


def _checkable(module) -> list[str]:
    """The names in ``module`` gradcheck can check, for an error message."""
    out = []
    for n, v in vars(module).items():
        if inspect.isclass(v) and hasattr(v, "forward") and hasattr(v, "backward"):
            out.append(n)
        elif n.endswith("_forward") and callable(getattr(module, n[:-8] + "_backward", None)):
            out.append(n[:-8])
    return sorted(out)


def load_target(spec: str) -> Target:
    """What ``spec`` names (see the module docstring); :class:`ConfigError` otherwise."""
    where, name = _split(spec)
    module = load_module(where)
    path = Path(where) if where.endswith(".py") else None
    base = name[:-8] if name.endswith("_forward") else name
    obj = getattr(module, name, None)
    pair = (getattr(module, f"{base}_forward", None), getattr(module, f"{base}_backward", None))
    if inspect.isclass(obj):
        if not (callable(getattr(obj, "forward", None))
                and callable(getattr(obj, "backward", None))):
            raise ConfigError(f"{spec}: {name} has no forward and backward; gradcheck checks "
                              f"layers and losses ({NETWORKS})")
        kind = "loss" if _is_loss_class(obj) else "class"
        return Target(kind, name, (obj,), where, path)
    if all(callable(f) for f in pair):
        return Target("pair", base, pair, where, path)
    deriv = next((getattr(module, f"{name}{s}") for s in ("_deriv", "_derivative", "_prime")
                  if callable(getattr(module, f"{name}{s}", None))), None)
    if callable(obj) and deriv is not None:
        return Target("derivative", name, (obj, deriv), where, path)
    if callable(obj) and "loss" in name.lower():
        return Target("loss", name, (obj,), where, path)
    if obj is None:
        found = _checkable(module)
        raise ConfigError(f"{where} has no {name!r}" + (f"; its layers: {', '.join(found)}"
                                                        if found else ""))
    raise ConfigError(f"{spec} is not a class (a layer or a loss), a pair {base}_forward / "
                      f"{base}_backward, a function with its {name}_deriv, or a loss function "
                      f"({NETWORKS})")


def load_class(spec: str):
    """The class ``spec`` names (``FILE.py:Class`` or ``package.module:Class``)."""
    target = load_target(spec)
    if target.kind not in ("class", "loss") or not inspect.isclass(target.objs[0]):
        raise ConfigError(f"{spec} is not a class")
    return target.objs[0]


# ----------------------------------------------------------------------------- courses
def find_course(target: Target, forced: str | None = None):
    """The course module: ``forced`` (``--course``), else the course whose files the target's
    folder holds, else the ladder's for a module of this project, else None."""
    from stage4_analysis import courses  # stage 4 is needed only here, and only now

    if forced is not None:
        return _refuse_network(courses.get(forced), target)
    if target.path is None:
        return courses.get("ladder") if target.where.startswith("stage3_batched") else None
    name = courses.detect(target.path)
    return None if name in (None, "ladder") else _refuse_network(courses.get(name), target)


def _refuse_network(course, target: Target):
    """The course, unless the target is one of its whole networks (``GRADCHECK["networks"]``)."""
    if target.name in course_data(course).get("networks", ()):
        raise ConfigError(f"{target.where}:{target.name} is {course.NAME}'s whole network: "
                          f"{NETWORKS} {target.where} --course {course.NAME}")
    return course


def course_data(course) -> dict:
    """The course module's ``GRADCHECK`` dict ({} without a course or without one)."""
    return dict(getattr(course, "GRADCHECK", None) or {})


def course_names() -> tuple:
    from stage4_analysis import courses

    return courses.ORDER


# ----------------------------------------------------------------------------- signatures
def _binds(func, n: int) -> bool:
    try:
        inspect.signature(func).bind(*range(n))
    except TypeError:
        return False
    except ValueError:                       # no signature (a builtin): assume it binds
        return True
    return True


def _required(func) -> list[str]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _is_loss_class(cls) -> bool:
    forward = getattr(cls, "forward", None)
    return callable(forward) and len(_required(forward)) >= 3     # self, pred, target


def signature_text(func) -> str:
    try:
        return f"{func.__qualname__}{inspect.signature(func)}"
    except (TypeError, ValueError):
        return getattr(func, "__qualname__", repr(func))


def backward_form(layer) -> str:
    """"dY" for ``backward(dY)``, "Z, dY" for ``backward(Z, dY)``; :class:`ConfigError` (the
    contract gradcheck expects) when neither binds or forward does not take X."""
    if not _binds(layer.forward, 1):
        raise ConfigError(f"{signature_text(layer.forward)}: gradcheck calls forward(X) -> Y "
                          "with X (N, D)")
    if _binds(layer.backward, 1):
        return "dY"
    if _binds(layer.backward, 2):
        return "Z, dY"
    raise ConfigError(f"{signature_text(layer.backward)}: gradcheck calls backward(dY) -> dX "
                      "(dY shaped like the output) or backward(Z, dY) -> dZ (Z the forward's "
                      "input)")


# ----------------------------------------------------------------------------- building
def parse_arg(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _generic_constructions(cls) -> list[list[tuple]]:
    """Groups of argument tuples to try in order: the first group in which any construction
    works is used, every working construction of it is checked."""
    n = max(len(_required(cls.__init__)) - 1, 0)
    groups = [[()], [(IN, OUT)], [(OUT,)], [(a,) for a in ACTIVATION_NAMES],
              [(OUT, a) for a in ACTIVATION_NAMES]]
    return sorted(groups, key=lambda g: len(g[0]) != n)          # the matching arity first


def constructions(cls, args=None, data: dict | None = None) -> list[tuple]:
    """The argument tuples to build ``cls`` with: ``args``; else the course's list for it; else
    the first of the generic groups with a working construction (all of its working ones)."""
    if args is not None:
        return [tuple(args)]
    listed = (data or {}).get("build", {}).get(cls.__name__)
    if listed:
        return [tuple(a) for a in listed]
    for group in _generic_constructions(cls):
        works = [a for a in group if _try_build(cls, a)[0] is not None]
        if works:
            return works
    return [()]                    # none works: build() says why


def _try_build(cls, a: tuple):
    try:
        return cls(*a), None
    except MemoryError:
        raise ConfigError(f"{cls.__name__}({', '.join(map(str, a))}): out of memory; give "
                          "smaller --args") from None
    except Exception as e:  # noqa: BLE001 - the class's own constructor failed
        return None, f"{type(e).__name__}: {one_line(e)}"


def build(cls, a: tuple):
    """``(layer, how)`` for ``cls(*a)``; :class:`ConfigError` when the constructor fails."""
    layer, why = _try_build(cls, a)
    if layer is None:
        tried = f"{cls.__name__}({', '.join(map(repr, a))})"
        raise ConfigError(f"cannot build {cls.__name__}: {tried} raised {why}; give its "
                          "arguments with --args")
    return layer, f"{cls.__name__}({', '.join(map(repr, a))})"


# ----------------------------------------------------------------------------- parameters
@dataclass
class Param:
    """One parameter: where its array and its gradient are looked up (after every call)."""

    name: str
    owner: object              # the layer, or the dict holding the parameter
    key: str
    grad_owner: object         # the layer (attribute) or the name of the gradient dict
    grad_key: str
    label: str = ""            # how the report names the gradient, e.g. "grad_W"

    def value(self) -> np.ndarray:
        return self.owner[self.key] if isinstance(self.owner, Mapping) \
            else getattr(self.owner, self.key)

    def grad(self):
        if isinstance(self.grad_owner, tuple):             # (layer, dict attribute name)
            layer, attr = self.grad_owner
            return (getattr(layer, attr, None) or {}).get(self.grad_key)
        if isinstance(self.grad_owner, Mapping):
            return self.grad_owner.get(self.grad_key)
        return getattr(self.grad_owner, self.grad_key, None)


def _float_array(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.ndim >= 1


def _attrs(obj) -> dict:
    return vars(obj) if hasattr(obj, "__dict__") else {}


def find_parameters(layer) -> list[Param]:
    """The parameters of ``layer`` in any of the places :data:`LOOKED_FOR` names (the dicts may
    be properties)."""
    found, attrs = [], _attrs(layer)
    for pdict, gdict in DICT_PLACES:
        P = getattr(layer, pdict, None)
        if isinstance(P, Mapping):
            found += [Param(k, P, k, (layer, gdict), k, f"{gdict}[{k!r}]")
                      for k, v in P.items() if _float_array(v)]
    for k, v in attrs.items():
        if not _float_array(v):
            continue
        for pattern in GRAD_NAMES:
            g = pattern.format(k)
            if g in attrs and g != k:
                found.append(Param(k, layer, k, layer, g, g))
                break
    return found


def unrecognised_arrays(layer, params: list[Param], n: int) -> list[tuple[str, tuple]]:
    """Float arrays the layer holds (attributes, and entries of its dict attributes) that are
    neither a found parameter or gradient nor a cache of a batch (first dimension ``n``)."""
    known = {id(p.value()) for p in params} | {id(p.grad()) for p in params}
    known_names = {p.key for p in params} | {p.grad_key for p in params if
                                             not isinstance(p.grad_owner, tuple)}
    out = []
    for label, arr in _held_arrays(layer):
        if id(arr) in known or label in known_names:
            continue
        if arr.shape[0] != n:
            out.append((label, arr.shape))
    return out


def _held_arrays(layer) -> list[tuple[str, np.ndarray]]:
    """``[(label, array)]``: the float arrays among the layer's attributes, the entries of its
    dict attributes, and the attributes of objects it holds (a wrapped layer), one level down."""
    items = []
    for k, v in _attrs(layer).items():
        if isinstance(v, Mapping):
            items += [(f"{k}[{kk!r}]", vv) for kk, vv in v.items()]
        elif not _float_array(v) and not inspect.ismodule(v) and not inspect.isclass(v):
            items += [(f"{k}.{kk}", vv) for kk, vv in _attrs(v).items()]
        else:
            items.append((k, v))
    return [(label, arr) for label, arr in items if _float_array(arr)]


def pick_batch(widths) -> int:
    """A batch size N different from every width, so a cache of the batch is told apart."""
    n = 5
    while n in set(widths):
        n += 1
    return n


def input_widths(layer, a: tuple) -> list[int]:
    """Candidate input widths D, most likely first: the layer's in_dim / n_in, the dimensions of
    its 2-D float arrays, then a width unlike the constructor's integers (for parameters made on
    the first forward: a square W would hide a transposed gradient), then those integers."""
    cands = [getattr(layer, k, None) for k in ("in_dim", "n_in", "in_features", "input_dim")]
    for v in (vars(layer) if hasattr(layer, "__dict__") else {}).values():
        for arr in (v.values() if isinstance(v, Mapping) else [v]):
            if _float_array(arr) and arr.ndim == 2:
                cands += list(arr.shape)
    ints = [v for v in a if isinstance(v, int) and not isinstance(v, bool)]
    fresh = IN
    while fresh in ints:
        fresh += 1
    out = []
    for c in cands + [fresh] + ints:
        if isinstance(c, (int, np.integer)) and 0 < c <= 1000 and int(c) not in out:
            out.append(int(c))
    return out


# ----------------------------------------------------------------------------- subjects
@dataclass
class Subject:
    """One thing to check, in one interface: ``forward(X) -> Y``, ``backward(dY) -> dX``,
    ``params`` (:class:`Param` list), ``zero()`` (gradients to 0) and what the report says."""

    how: str
    forward: object
    backward: object
    params: list = field(default_factory=list)
    zero: object = None
    accumulates: bool = False
    layer: object = None
    notes: list = field(default_factory=list)


def layer_subject(layer, how: str, accumulates: bool) -> Subject:
    """A built layer; ``backward(Z, dY)`` layers get the forward's input as Z."""
    form = backward_form(layer)
    seen = {}

    def forward(X):
        seen["X"] = X
        return layer.forward(X)

    def backward(dY):
        return layer.backward(dY) if form == "dY" else layer.backward(seen["X"], dY)

    s = Subject(how if form == "dY" else f"{how} with backward(Z, dY)", forward, backward,
                layer=layer, accumulates=accumulates)
    s.zero = lambda: _zero(layer, s.params)
    return s


def _zero(layer, params: list[Param]) -> None:
    if callable(getattr(layer, "zero_grad", None)):
        layer.zero_grad()
        return
    for p in params:
        g = p.grad()
        if isinstance(g, np.ndarray):
            g[...] = 0.0


def _pair_shape(arg: str, d: int, m: int) -> tuple:
    low = arg.lower()
    if low.startswith("w"):
        return (d, m)
    if low.startswith("b"):
        return (m,)
    raise ConfigError(f"cannot tell the shape of the argument {arg!r}: gradcheck knows w (D, M) "
                      "and b (M,); check this pair in a notebook with check_layer")


def pair_subject(target: Target, rng: np.random.Generator, d: int = IN, m: int = OUT) -> Subject:
    """A CS231n pair: parameters drawn for the forward's arguments after x; the backward's
    return tuple (dx, d<arg>, ...) in the order of those arguments."""
    fwd, bwd = target.objs
    args = _required(fwd)[1:]
    store = {a: rng.standard_normal(_pair_shape(a, d, m)) for a in args}
    grads, state = {}, {}

    def forward(X):
        out = fwd(X, *store.values())
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ConfigError(f"{signature_text(fwd)} returned {type(out).__name__}; gradcheck "
                              f"expects (out, cache), as {target.name}_backward(dout, cache) "
                              "takes it")
        state["cache"] = out[1]
        return out[0]

    def backward(dY):
        out = bwd(dY, state["cache"])
        parts = out if isinstance(out, tuple) else (out,)
        grads.clear()
        grads.update({a: g for a, g in zip(args, parts[1:])})
        if len(parts) != 1 + len(args):
            raise ValueError(f"{target.name}_backward returned {len(parts)} arrays; it must "
                             f"return {1 + len(args)}: (dx{''.join(', d' + a for a in args)})")
        return parts[0]

    params = [Param(a, store, a, grads, a, f"d{a}") for a in args]
    how = f"{target.name}_forward / {target.name}_backward"
    return Subject(how, forward, backward, params, zero=grads.clear)


def derivative_subject(target: Target) -> Subject:
    """A function f and its derivative f': forward f(X), backward dY * f'(X), elementwise."""
    f, fd = target.objs
    seen = {}

    def forward(X):
        seen["X"] = X
        return np.asarray(f(X), np.float64)

    def backward(dY):
        return dY * np.asarray(fd(seen["X"]), np.float64)

    return Subject(f"{f.__name__} with {fd.__name__}", forward, backward, zero=lambda: None)

