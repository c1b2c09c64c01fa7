"""Compare one network's loss and gradients across the rungs of the ladder - or check your own rung.

    python -m stage4_analysis.compare                       # the hand-out's 2-3-2 worked example
    python -m stage4_analysis.compare --sizes 5 7 6 4 --samples 3 --seed 1 --activation tanh
    python -m stage4_analysis.compare --dataset mnist-sample --sizes 784 300 10 --samples 2
    python -m stage4_analysis.compare --weights runs/stage3/<run>/model.npz --dataset mnist-sample
    python -m stage4_analysis.compare --rung my_rung.py     # bring your own rung

**Across the rungs.** Builds one network in the shared weight format (``shared/weights.py``),
feeds the same samples to stage 1 (pure Python), stage 2 (per-sample numpy), stage 3 (batched
numpy) and, when it is installed, PyTorch (float64 autograd), and prints a table per parameter:
its shape and, for every pair of implementations, the largest absolute difference and the
relative error. The exit status is 1 when any pair disagrees by more than ``--tol`` (relative),
0 otherwise. The hidden activation (sigmoid, relu or tanh) is the weights' ``"activation"``
(``--activation`` sets it) and reaches every rung inside the weights.

``--weights`` reads a weights JSON file (written by ``python -m stage1_scalar train``,
``python -m stage1_scalar example --save-weights``, ``python -m stage2_perinstance``) or a
stage-3 ``model.npz`` (written by ``python -m stage3_batched``) of a plain MLP: Linear layers with
one sigmoid, ReLU or tanh between them, no dropout.

**Bring your own rung** (``--rung FILE``). Imports a Python file that defines
``loss_and_grads(weights, X, c) -> (loss, grads, dX)`` (and, optionally, ``sgd_train`` and
``predict_proba``) with the ladder's contract (``shared/README.md``) and runs it on a set of
problems: the worked example, small random networks (sigmoid, relu, tanh) and three real digits
of ``mnist-sample``. What the function receives: ``weights`` with float64 numpy arrays
(``{"sizes", "activation", "layers": [{"W": (in, out), "b": (out,)}, ...]}``), ``X`` a float64
(N, D) array and ``c`` an int array (N,) - stage 2's and 3's form. ``--lists`` passes nested
Python lists instead (stage 1's form). It may return lists or arrays, the gradients as
``{"layers": [{"W": dW, "b": db}, ...]}`` or as a list of such dicts or of ``(dW, db)`` pairs.

For every parameter (and ``dX``) it prints the largest difference against stage 3 and against
central differences of *your own* loss (on at most :data:`FD_ENTRIES` entries per tensor), names
the first layer, counting from the loss, that disagrees, and where a simple diagnosis fits it
says which: a missing 1/N, a constant factor (a learning rate folded in), a sign flip, a
transposed dW, the softmax's Jacobian left out (dl/dy used as dl/do) or only its diagonal used,
the sigmoid's (or tanh's) derivative taken at k instead of h or applied to h. A relu or tanh
problem counts only when your function computes that activation: if its loss equals the sigmoid
network's (it ignores ``weights["activation"]``) or it raises, the case is skipped and says so.
Exit status 0 when everything agrees, 1 on any disagreement, 2 (one line) for a file that does
not exist, does not import, or has no ``loss_and_grads``.

Relative error of a pair of arrays ``a, b``: ``max|a - b| / max(max|a|, max|b|)`` (0 when both are
all zeros) - one number per parameter tensor, so an exactly-zero gradient (``dW`` in the worked
example) does not divide by zero and a tiny element does not dominate.

What it leaves out: it compares one forward/backward on fixed weights (and, for a rung, a few SGD
steps); training trajectories of the rungs are compared by ``tests/test_cross_stage.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import itertools
import json
import math
import random
import sys
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared import weights as wf
from shared.cli import nonnegative_int, positive_int
from shared.data import DATASETS
from shared.errors import ConfigError, ModelFileError, one_line, run_main

DEFAULT_TOL = 1e-12
RUNG_TOL = 1e-8       # a student's rung against stage 3: its sums may run in another order
FD_TOL = 1e-6         # a rung's gradients against central differences of its own loss
FD_STEP = 1e-6        # central-difference step
FD_ENTRIES = 40       # central differences on at most this many entries per tensor
MATCH_TOL = 1e-6      # a diagnosis fits when the rung matches the planted bug to this

WRITERS = """where weights files come from:
  python -m stage1_scalar train            runs/stage1_scalar/<config key>/weights.json (--out)
  python -m stage1_scalar example --save-weights FILE
  python -m stage2_perinstance             runs/stage2_perinstance/<dataset>-<config key>/
                                           weights.json (--out)
  python -m stage3_batched                 runs/stage3/<dataset>-<config key>/model.npz (--out)
"""


# --------------------------------------------------------------------------- the implementations
def _stage1(weights, X, c):
    import stage1_scalar

    return stage1_scalar.loss_and_grads(*_arguments(weights, X, c, lists=True))


def _stage2(weights, X, c):
    import stage2_perinstance

    return stage2_perinstance.loss_and_grads(*_arguments(weights, X, c, lists=False))


def _stage3(weights, X, c):
    import stage3_batched

    return stage3_batched.loss_and_grads(*_arguments(weights, X, c, lists=False))


def torch_loss_and_grads(weights, X, c):
    """The same network in PyTorch float64 autograd: an independent oracle.

    ``X`` (N, D), ``c`` (N,) ints -> ``(loss, grads, dX)`` in the shared weight format; the hidden
    activation is ``weights["activation"]``. Raises ImportError when torch is not installed.
    """
    import torch

    act = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[
        wf.activation_of(weights)]
    params = []
    for layer in wf.to_arrays(weights)["layers"]:
        params.append((torch.tensor(layer["W"], requires_grad=True),
                       torch.tensor(layer["b"], requires_grad=True)))
    x = torch.tensor(np.asarray(X, np.float64), requires_grad=True)
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = act(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(np.asarray(c), dtype=torch.long))
    loss.backward()
    grads = {"sizes": list(weights["sizes"]),
             "layers": [{"W": W.grad.numpy(), "b": b.grad.numpy()} for W, b in params]}
    return float(loss.item()), grads, x.grad.numpy()


def implementations(include_torch: bool = True) -> dict[str, Callable]:
    """Name -> ``loss_and_grads(weights, X, c)`` for every rung (and torch when importable)."""
    impls = {"stage1": _stage1, "stage2": _stage2, "stage3": _stage3}
    if include_torch:
        try:
            import torch  # noqa: F401

            impls["torch"] = torch_loss_and_grads
        except ImportError:
            pass
    return impls


# --------------------------------------------------------------------------- differences
def difference(a, b) -> dict:
    """``{"max_abs", "rel", "where"}`` for two same-shaped arrays (or nested lists).

    ``where`` is the index of the largest absolute difference.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = np.abs(a - b)
    if d.size == 0:
        return {"max_abs": 0.0, "rel": 0.0, "where": ()}
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(d)), d.shape))
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    max_abs = float(d[where])
    rel = 0.0 if max_abs == 0.0 else (max_abs / scale if scale > 0 else float("inf"))
    if not math.isfinite(max_abs):                    # NaN or inf in one of them
        max_abs, rel = float("inf"), float("inf")
    return {"max_abs": max_abs, "rel": rel, "where": where}


def named_tensors(grads, dX) -> dict[str, np.ndarray]:
    """Flatten one implementation's gradients into ``{"layer0.W": ..., ..., "input": dX}``."""
    out = {}
    for i, layer in enumerate(grads["layers"]):
        out[f"layer{i}.W"] = np.asarray(layer["W"], np.float64)
        out[f"layer{i}.b"] = np.asarray(layer["b"], np.float64)
    out["input"] = np.asarray(dX, np.float64)
    return out


def compare(weights, X, c, impls: dict[str, Callable], tol: float = DEFAULT_TOL) -> dict:
    """Run every implementation on the same weights and samples and compare every pair.

    Returns ``{"losses": {impl: loss}, "tensors": {name: {"shape", "pairs": {"a~b": diff}}},
    "loss_pairs": {"a~b": diff}, "worst": {...}, "ok": bool, "tol": tol}``.
    """
    results = {name: fn(weights, X, c) for name, fn in impls.items()}
    losses = {name: float(r[0]) for name, r in results.items()}
    tensors = {name: named_tensors(r[1], r[2]) for name, r in results.items()}
    report = {"losses": losses, "tensors": {}, "loss_pairs": {}, "tol": tol}
    worst = {"rel": 0.0, "pair": None, "tensor": None, "where": ()}
    pairs = list(itertools.combinations(impls, 2))
    for a, b in pairs:
        report["loss_pairs"][f"{a}~{b}"] = difference(losses[a], losses[b])
    first = next(iter(tensors.values()))
    for tname, arr in first.items():
        entry = {"shape": list(arr.shape), "pairs": {}}
        for a, b in pairs:
            d = difference(tensors[a][tname], tensors[b][tname])
            entry["pairs"][f"{a}~{b}"] = d
            if d["rel"] > worst["rel"]:
                worst = {"rel": d["rel"], "pair": f"{a}~{b}", "tensor": tname,
                         "where": d["where"]}
        report["tensors"][tname] = entry
    for pair, d in report["loss_pairs"].items():
        if d["rel"] > worst["rel"]:
            worst = {"rel": d["rel"], "pair": pair, "tensor": "loss", "where": ()}
    report["worst"] = worst
    report["ok"] = worst["rel"] <= tol
    return report


# --------------------------------------------------------------------------- weights files
def _weights_from_layout(layout: list[dict], arrays: dict, path, activation: str | None) -> dict:
    """Weights (arrays) from a stage-3 layer list ``[{"name", "type"}, ...]`` and its parameters
    ``{"linear1.W": ..., ...}``: Linear (activation Linear)* with one activation, no dropout."""
    from stage3_batched.layers import ACTIVATIONS

    kinds = {cls.__name__: name for name, cls in ACTIVATIONS.items() if name in wf.ACTIVATIONS}
    types = [d["type"] for d in layout]
    if types and types[-1] == "Softmax":              # probabilities out: the same network
        types, layout = types[:-1], layout[:-1]
    if "Dropout" in types:
        raise ModelFileError(f"--weights {path}: the model has dropout layers; compare takes a "
                             "plain MLP (Linear layers with sigmoid, ReLU or tanh between them)")
    acts = {t for t in types[1::2]}
    if (not types or any(t != "Linear" for t in types[::2]) or len(types) % 2 == 0
            or not acts <= set(kinds) or len(acts) > 1):
        raise ModelFileError(f"--weights {path}: layers {' -> '.join(types) or '(none)'} are not "
                             "the ladder's MLP (Linear layers with one of sigmoid, ReLU, tanh "
                             "between them)")
    stored = kinds[acts.pop()] if acts else None
    linears = [d["name"] for d in layout if d["type"] == "Linear"]
    try:
        layers = [{"W": np.asarray(arrays[f"{n}.W"], np.float64),
                   "b": np.asarray(arrays[f"{n}.b"], np.float64)} for n in linears]
    except KeyError as e:
        raise ModelFileError(f"--weights {path}: parameter {e} is missing") from None
    sizes = [int(layers[0]["W"].shape[0])] + [int(layer["W"].shape[1]) for layer in layers]
    weights = {"sizes": sizes, "layers": layers,
               "activation": activation or stored or wf.DEFAULT_ACTIVATION}
    try:
        return wf.to_arrays(weights)
    except wf.WeightFormatError as e:
        raise ModelFileError(f"--weights {path}: {e}") from None


def read_npz(path, activation: str | None = None) -> dict:
    """Weights (arrays) of a stage-3 ``model.npz``: rebuilt by ``stage3_batched.load_model``
    from the architecture the file records; a file without one (an older format) is read as its
    ``<name>.W`` / ``<name>.b`` arrays in order, with the activation ``--activation`` names."""
    from stage3_batched import model as s3model

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"--weights {path}: not a stage-3 model file "
                             f"({type(e).__name__}: {one_line(e)})") from None
    meta = arrays.pop("__architecture__", None)
    if meta is not None:
        try:
            model = s3model.load_model(path)
        except ModelFileError as e:
            raise ModelFileError(f"--weights {e}") from None
        return _weights_from_layout(model.describe(), model.parameters(), path, activation)
    if activation is None:
        raise ModelFileError(f"--weights {path}: the file does not record its architecture, so "
                             "not its activation either; give --activation")
    names = [k[:-2] for k in arrays if k.endswith(".W")]
    layout = [d for n in names for d in ({"name": n, "type": "Linear"},
                                          {"name": "act", "type": "Sigmoid"})][:-1]
    return _weights_from_layout(layout, arrays, path, activation)


def read_weights(path, activation: str | None = None) -> dict:
    """Weights (arrays) from a weights JSON file or a stage-3 ``.npz`` model.

    ``activation`` (the ``--activation`` flag) overrides the file's own. Bad files raise a
    :class:`~shared.errors.LadderError` whose message names ``--weights`` and the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--weights {path}: no such file (weights come from "
                          "python -m stage1_scalar train, python -m stage2_perinstance or "
                          "python -m stage3_batched; see --help)")
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):                       # a zip archive: numpy's .npz
        return read_npz(p, activation)
    try:
        weights = wf.load_json(p)
    except UnicodeDecodeError:
        raise ConfigError(f"--weights {path}: neither a weights JSON file nor a stage-3 .npz "
                          "model") from None
    except wf.WeightFormatError as e:
        raise ConfigError(f"--weights {e}") from None
    if activation:
        weights["activation"] = activation
    return wf.to_arrays(weights)


# --------------------------------------------------------------------------- inputs
def build_problem(args) -> tuple[dict, np.ndarray, np.ndarray, str]:
    """The weights, samples ``X`` (N, D), classes ``c`` (N,) and a one-line description."""
    act = getattr(args, "activation", None)
    if args.weights:
        weights = read_weights(args.weights, act)
        where = f"weights from {args.weights} ({wf.activation_of(weights)})"
    elif args.sizes:
        from shared.memory import check_fits, estimate_network_bytes

        check_fits(estimate_network_bytes(args.sizes, batch=args.samples, python_floats=True),
                   f"a {'-'.join(map(str, args.sizes))} network in pure Python (stage 1)",
                   "--sizes")
        weights = wf.init_weights(args.sizes, random.Random(args.seed),
                                  activation=act or wf.DEFAULT_ACTIVATION)
        where = f"random weights, sizes {args.sizes}, {weights['activation']}, seed {args.seed}"
    elif args.dataset is None:
        weights, x, c = wf.worked_example()
        weights["activation"] = act or wf.DEFAULT_ACTIVATION
        return (weights, np.array([x]), np.array([c]),
                "the hand-out's 2-3-2 worked example (x = [1, -1], class 0)"
                + (f", {act} hidden layer" if act and act != "sigmoid" else ""))
    else:
        weights = None
        where = ""
    if args.dataset:
        from shared.data import load_dataset

        (xtr, ytr), _, num_classes = load_dataset(args.dataset)
        if weights is None:
            sizes = [xtr.shape[1], 3, num_classes]
            weights = wf.init_weights(sizes, random.Random(args.seed),
                                      activation=act or wf.DEFAULT_ACTIVATION)
            where = f"random weights, sizes {sizes}, {weights['activation']}, seed {args.seed}"
        n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
        flag = "--sizes" if args.sizes else "--weights"
        if xtr.shape[1] != n_in:
            raise ConfigError(f"{flag}: the network's first layer takes {n_in} inputs, "
                              f"--dataset {args.dataset} has {xtr.shape[1]} features")
        if num_classes > n_out:
            raise ConfigError(f"{flag}: the network has {n_out} outputs, --dataset "
                              f"{args.dataset} has {num_classes} classes")
        X, c = xtr[: args.samples], ytr[: args.samples]
        return weights, X, c, f"{where}; the first {len(X)} training samples of {args.dataset}"
    rng = random.Random(args.seed + 1)
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    X = np.array([[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(args.samples)])
    c = np.array([rng.randrange(n_out) for _ in range(args.samples)])
    return weights, X, c, f"{where}; {args.samples} standard-normal samples (seed {args.seed + 1})"


# --------------------------------------------------------------------------- bring your own rung
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


def rung_cases(activations=wf.ACTIVATIONS, digits: bool = True) -> list[Case]:
    """The problems ``--rung`` checks by default: the worked example (sigmoid, one sample),
    small random networks (2 to 4 samples, one with a square hidden layer) in each of
    ``activations``, and three real digits of mnist-sample through a 784-12-10 network."""
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
        act = activations[0] if len(activations) == 1 else "sigmoid"
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


def _arguments(weights, X, c, lists: bool):
    """``(weights, X, c)`` as a rung takes them: nested lists and ints (``lists``, stage 1's form)
    or float64 arrays."""
    if lists:
        return wf.to_lists(weights), np.asarray(X).tolist(), [int(v) for v in c]
    return wf.to_arrays(weights), np.array(X, np.float64), np.array(c)


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


def order_from_loss(n_layers: int) -> list[str]:
    """Tensor names in the order backprop reaches them: output layer b, W, ..., input."""
    return [f"layer{i}.{p}" for i in reversed(range(n_layers)) for p in ("b", "W")] + ["input"]


# ------------------------------------------------ a numpy reference with the usual bugs planted
def _activation(name: str):
    """``(f, f')`` of the hidden activation ``name``: stage 2's table (one table per rung)."""
    from stage2_perinstance.network import ACTIVATIONS

    return ACTIVATIONS[name]


def _forward(weights, X):
    """The forward pass: ``A`` = [X, h of each hidden layer], ``K`` = [k of each hidden layer],
    and the softmax probabilities ``Y`` (N, classes) of the output layer."""
    f, _ = _activation(wf.activation_of(weights))
    layers = weights["layers"]
    A, K = [np.asarray(X, np.float64)], []
    for layer in layers[:-1]:
        K.append(A[-1] @ layer["W"] + layer["b"])
        A.append(f(K[-1]))
    O = A[-1] @ layers[-1]["W"] + layers[-1]["b"]
    Y = np.exp(O - O.max(axis=1, keepdims=True))
    return A, K, Y / Y.sum(axis=1, keepdims=True)


def reference(weights, X, c, softmax_grad: str = "full", act_grad: str = "right"):
    """Loss and tensors of the ladder's network, optionally with one known bug planted.

    ``softmax_grad``: "full" (``dO = (y - onehot(c)) / N``), "dy" (``dl/dy`` used as ``dl/do``)
    or "diagonal" (only ``diag(y (1 - y))`` of the softmax Jacobian). ``act_grad``: "right"
    (``f'(k)`` from ``k`` and ``h``), "at-k" (the derivative's formula in ``h`` fed ``k``:
    ``k (1 - k)`` for the sigmoid) or "of-h" (``f'`` taken at ``h``: ``s(h) (1 - s(h))``).
    """
    f, df = _activation(wf.activation_of(weights))
    layers = weights["layers"]
    A, K, Y = _forward(weights, X)
    N, rows = len(c), np.arange(len(c))
    loss = float(-np.mean(np.log(Y[rows, c])))
    dY = np.zeros_like(Y)
    dY[rows, c] = -1.0 / Y[rows, c] / N
    onehot = np.zeros_like(Y)
    onehot[rows, c] = 1.0
    dK = {"full": (Y - onehot) / N, "dy": dY, "diagonal": dY * Y * (1.0 - Y)}[softmax_grad]
    tensors = {}
    for i in reversed(range(len(layers))):
        tensors[f"layer{i}.W"] = A[i].T @ dK
        tensors[f"layer{i}.b"] = dK.sum(axis=0)
        dA = dK @ layers[i]["W"].T
        if i > 0:
            k, h = K[i - 1], A[i]
            if act_grad == "at-k":
                dK = dA * df(k, k)
            elif act_grad == "of-h":
                dK = dA * df(h, f(h))
            else:
                dK = dA * df(k, h)
    tensors["input"] = dA
    return loss, tensors


#: The planted bugs the diagnosis tries: (name, reference() arguments, the activation it
#: concerns or None for all, what it means).
BUGS = [
    ("the softmax's Jacobian left out", {"softmax_grad": "dy"}, None,
     "dO equals dl/dy (-1/(N y_c) at the target class, 0 elsewhere): dl/dy was used as dl/do. "
     "The chain rule through the softmax needs its Jacobian J = diag(y) - y y^T: "
     "dO = J^T dl/dy = (y - onehot(c)) / N"),
    ("only the diagonal of the softmax's Jacobian", {"softmax_grad": "diagonal"}, None,
     "dO equals dl/dy * y (1 - y) ((y_c - 1)/N at the target class, 0 elsewhere): only "
     "dy_i/do_i = y_i (1 - y_i) was used; the off-diagonal terms dy_i/do_j = -y_i y_j add "
     "y_j / N at every other class: dO = (y - onehot(c)) / N"),
    ("the sigmoid's derivative taken at k", {"act_grad": "at-k"}, "sigmoid",
     "the hidden layers multiply by k (1 - k); the sigmoid's derivative is s(k) (1 - s(k)) = "
     "h (1 - h), with h = s(k) the layer's output"),
    ("the sigmoid's derivative applied to h", {"act_grad": "of-h"}, "sigmoid",
     "the hidden layers multiply by s(h) (1 - s(h)); h is already s(k), so the factor is "
     "h (1 - h)"),
    ("the tanh's derivative taken at k", {"act_grad": "at-k"}, "tanh",
     "the hidden layers multiply by 1 - k^2; the derivative of tanh is 1 - tanh(k)^2 = 1 - h^2"),
    ("the tanh's derivative applied to h", {"act_grad": "of-h"}, "tanh",
     "the hidden layers multiply by 1 - tanh(h)^2; h is already tanh(k), so the factor is "
     "1 - h^2"),
]


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


def _factor(pairs) -> float | None:
    """The constant ``k`` with ``s = k r`` in every entry of every pair ``(s, r)``, else None."""
    s = np.concatenate([np.ravel(a) for a, _ in pairs])
    r = np.concatenate([np.ravel(b) for _, b in pairs])
    rr = float(r @ r)
    if rr == 0.0 or not np.all(np.isfinite(s)):
        return None
    k = float(s @ r) / rr
    if abs(k - 1.0) <= MATCH_TOL:                     # right up to rounding: no factor at all
        return None
    return k if difference(s, k * r)["rel"] <= MATCH_TOL else None


def _name_factor(k: float, N: int, where: str) -> tuple[str, str]:
    if k == 0.0:
        return "zero gradients", f"{where} all zero"
    if abs(k + 1.0) <= MATCH_TOL:
        return "a sign flip", (f"{where} the right value with the opposite sign (factor -1): "
                               "dO = onehot(c) - y instead of y - onehot(c)? (the minus of the "
                               "update w - lr dw belongs in the update, not in the gradient)")
    if N > 1 and abs(k - N) <= MATCH_TOL * N:
        return "a missing 1/N", (f"{where} {N} times the right value and {N} is the number of "
                                 "samples: the gradient of the sum of the losses, not of their "
                                 "mean. The loss is the mean over the batch, so divide by N once: "
                                 "dO = (y - onehot(c)) / N")
    if N > 1 and abs(k - 1.0 / N) <= MATCH_TOL / N:
        return "1/N applied twice", (f"{where} 1/{N} of the right value, {N} being the number "
                                     "of samples: the mean's 1/N is applied twice")
    return "a constant factor", (f"{where} {k:.6g} times the right value, the same factor in "
                                 "every entry: a learning rate folded into the gradients? "
                                 "loss_and_grads returns dl/dw; the step w - lr dw belongs in "
                                 "sgd_train")


def diagnose(case: Case, loss: float, mine: dict, loss3: float, ref: dict,
             first: str, tol: float) -> tuple[str | None, str | None]:
    """``(name, explanation)`` of a simple bug that explains the rung's numbers, or Nones."""
    N = len(case.c)
    names = [n for n in order_from_loss(len(case.weights["layers"])) if mine[n] is not None]
    for n in names:                                   # a transposed dW
        s, r = mine[n], ref[n]
        if (n.endswith(".W") and s.shape == r.T.shape and difference(s, r.T)["rel"] <= MATCH_TOL
                and (s.shape != r.shape or difference(s, r)["rel"] > tol)):
            return "a transposed dW", (
                f"{n} has shape {s.shape} and holds the transpose of the right dW "
                f"{r.shape}: weights are (in, out), so dW = A^T dK (the layer's input "
                "transposed times dK), not dK^T A")
    if any(mine[n].shape != ref[n].shape for n in names):
        bad = next(n for n in names if mine[n].shape != ref[n].shape)
        return "a wrong shape", f"{bad} has shape {mine[bad].shape}, it must be {ref[bad].shape}"
    act = wf.activation_of(case.weights)
    for name, kwargs, only, meaning in BUGS:
        if only not in (None, act):
            continue
        _, planted = reference(case.weights, case.X, case.c, **kwargs)
        if (all(difference(mine[n], planted[n])["rel"] <= MATCH_TOL for n in names)
                and any(difference(planted[n], ref[n])["rel"] > MATCH_TOL for n in names)):
            return name, meaning
    k = _factor([(mine[n], ref[n]) for n in names])
    if k is not None:
        name, meaning = _name_factor(k, N, "every gradient is")
        if name == "a missing 1/N" and abs(loss - N * loss3) <= MATCH_TOL * abs(N * loss3):
            meaning += " (the loss is the sum too)"
        return name, meaning
    if first in mine and mine[first] is not None:
        k = _factor([(mine[first], ref[first])])
        if k is not None:
            return _name_factor(k, N, f"{first} is")
    if difference(loss, loss3)["rel"] > tol:
        return "a different forward pass", (
            f"the loss is {loss:.10g}, stage 3's {loss3:.10g}: check the forward pass (and that "
            "the loss is the mean cross-entropy -log y_c) before the gradients")
    return None, None


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


def check_case(fn, case: Case, *, lists: bool = False, tol: float = RUNG_TOL,
               seed: int = 0) -> CaseResult:
    """Check the rung ``fn`` (its ``loss_and_grads``) on one problem against stage 3 and against
    central differences of its own loss."""
    act = wf.activation_of(case.weights)
    n_layers = len(case.weights["layers"])
    loss3, grads3, dX3 = _stage3(case.weights, case.X, case.c)
    ref = named_tensors(grads3, dX3)
    try:
        out = fn(*_arguments(case.weights, case.X, case.c, lists))
        loss, mine = rung_tensors(out, n_layers)
    except RungOutputError as e:
        return CaseResult(case.name, "failed", note=str(e))
    except Exception as e:  # noqa: BLE001 - the rung's own code failed
        why = f"loss_and_grads raised {type(e).__name__}: {one_line(e)}{_where(e)}"
        if act != "sigmoid":
            return CaseResult(case.name, "skipped", note=f"{why}; {act} problems skipped")
        return CaseResult(case.name, "failed", note=why)
    if act != "sigmoid":
        loss_sig, _ = reference({**case.weights, "activation": "sigmoid"}, case.X, case.c)
        if (difference(loss, loss_sig)["rel"] <= 1e-9 and difference(loss, loss3)["rel"] > 1e-9):
            return CaseResult(case.name, "skipped",
                              note="its loss is the sigmoid network's: the function ignores "
                                   f"weights['activation']; {act} problems skipped")
    rng = np.random.default_rng(seed)
    result = CaseResult(case.name, "agree")
    d = difference(loss, loss3)
    result.rows.append(("loss", "scalar", d, None, ""))
    failing = ["loss"] if d["rel"] > tol else []
    for name in order_from_loss(n_layers):
        s, r = mine[name], ref[name]
        shape = "x".join(map(str, r.shape))
        if s is None:
            result.rows.append((name, shape, None, None, "dX not returned: not checked"))
            continue
        if s.shape != r.shape:
            result.rows.append((name, shape, None, None,
                                f"shape {s.shape}, it must be {r.shape}"))
            failing.append(name)
            continue
        d3 = difference(s, r)
        entries = _entries(r.shape, rng)
        try:
            num = own_central_differences(fn, case, name, entries, lists)
        except Exception as e:  # noqa: BLE001 - the rung's own code failed
            return CaseResult(case.name, "failed",
                              note=f"loss_and_grads raised {type(e).__name__}: "
                                   f"{one_line(e)}{_where(e)} while its loss was "
                                   "differentiated numerically")
        dfd = difference(np.array([s[j] for j in entries]), num)
        checked = "" if len(entries) == r.size else f"{len(entries)} of {r.size} entries"
        result.rows.append((name, shape, d3, dfd, checked))
        if d3["rel"] > tol or dfd["rel"] > FD_TOL:
            failing.append(name)
    if failing:
        result.status = "DISAGREE"
        first = failing[0]
        result.first = layer_label(first, n_layers)
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
    return result


def check_sgd_train(module, *, lists: bool = False, tol: float = RUNG_TOL) -> tuple[bool, str]:
    """The rung's ``sgd_train`` against stage 3's: 6 samples, lr 0.5, batches of 2 (of 1 when
    the function takes no ``batch_size``). Also checks that the input weights are not changed."""
    import stage3_batched

    case = _random_case("4-5-3", [4, 5, 3], 6, 99, "sigmoid")
    params = inspect.signature(module.sgd_train).parameters
    batch = 2 if "batch_size" in params else 1
    args = _arguments(case.weights, case.X, case.c, lists)
    before = wf.to_arrays(args[0])
    kwargs = {"batch_size": batch} if batch > 1 else {}
    try:
        out = module.sgd_train(*args, 0.5, **kwargs)
        _, mine = rung_tensors((0.0, out, None), 2)
    except RungOutputError as e:
        return False, f"sgd_train: {e} (it must return the new weights in the weight format)"
    except Exception as e:  # noqa: BLE001 - the rung's own code failed
        return False, f"sgd_train raised {type(e).__name__}: {one_line(e)}{_where(e)}"
    want = named_tensors(stage3_batched.sgd_train(case.weights, case.X, case.c, 0.5, batch),
                         case.X)
    worst = max((difference(mine[n], want[n]) | {"name": n} for n in want if n != "input"
                 and mine[n].shape == want[n].shape), key=lambda d: d["rel"])
    shapes = [n for n in want if n != "input" and mine[n].shape != want[n].shape]
    changed = any(difference(np.asarray(a[p], np.float64), b[p])["max_abs"] > 0
                  for a, b in zip(wf.to_arrays(args[0])["layers"], before["layers"])
                  for p in ("W", "b"))
    ok = not shapes and worst["rel"] <= tol and not changed
    what = (f"sgd_train (6 samples, lr 0.5, batch_size {batch}) against stage 3: largest "
            f"relative error {worst['rel']:.2e} ({worst['name']})")
    if shapes:
        what += f"; wrong shapes: {', '.join(shapes)}"
    if changed:
        what += "; it changed the weights it was given (the contract: return new weights)"
    return ok, what + (": agree" if ok else ": DISAGREE")


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


def predict_reference(weights, X) -> np.ndarray:
    """Softmax probabilities (N, K) of the network ``weights`` (any activation) on X (N, D)."""
    return _forward(weights, X)[2]


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


def check_rung(path, cases: list[Case], *, lists: bool = False, tol: float = RUNG_TOL,
               out=None, module=None) -> tuple[bool, list[CaseResult]]:
    """Import the rung at ``path`` (unless its ``module`` is given), check it on ``cases`` (and
    its ``sgd_train`` / ``predict_proba`` when it has them), print the tables to ``out`` (default
    stdout) and return ``(all agree, results)``. A skipped problem counts neither way, but at
    least one problem must be checked."""
    out = out or sys.stdout
    module = module or load_rung(path)
    results = []
    for number, case in enumerate(cases, 1):
        result = check_case(module.loss_and_grads, case, lists=lists, tol=tol, seed=number)
        results.append(result)
        print(format_case(number, result) + "\n", file=out)
    ok = all(r.status in ("agree", "skipped") for r in results)
    checked = [r for r in results if r.status != "skipped"]
    if not checked:
        ok = False
    extras = []
    if callable(getattr(module, "sgd_train", None)):
        extras.append(check_sgd_train(module, lists=lists, tol=tol))
    if callable(getattr(module, "predict_proba", None)):
        agreeing = [c for c, r in zip(cases, results) if r.status != "skipped"]
        if agreeing:
            extras.append(check_predict_proba(module, agreeing, lists=lists, tol=tol))
    for good, line in extras:
        print(line, file=out)
        ok = ok and good
    if extras:
        print(file=out)
    counts = {s: sum(r.status == s for r in results)
              for s in ("agree", "DISAGREE", "failed", "skipped")}
    summary = ", ".join(f"{v} {k.lower() if k != 'DISAGREE' else 'disagree'}"
                        for k, v in counts.items() if v)
    print(f"{path}: {_count(len(results), 'problem')}: {summary}", file=out)
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
    elif not checked:
        print("no problem could be checked (every one was skipped)", file=out)
    print(f"verdict: {'your rung agrees with the ladder' if ok else 'DISAGREE'}", file=out)
    return ok, results


def format_table(report: dict) -> str:
    """One small table per parameter (and the input): a row per pair of implementations."""
    lines = ["loss  " + "  ".join(f"{k}: {v:.12g}" for k, v in report["losses"].items())]
    if report["loss_pairs"]:
        worst = max(report["loss_pairs"].items(), key=lambda kv: kv[1]["rel"])
        lines.append(f"      largest loss difference {worst[1]['max_abs']:.3e} ({worst[0]})")
    for tname, entry in report["tensors"].items():
        shape = "x".join(map(str, entry["shape"])) or "scalar"
        lines += ["", f"{tname} ({shape})", f"  {'pair':<18} {'max|Δ|':>10} {'rel':>10}  where"]
        for pair, d in entry["pairs"].items():
            a, b = pair.split("~")
            lines.append(f"  {a + ' ~ ' + b:<18} {d['max_abs']:>10.2e} {d['rel']:>10.2e}  "
                         f"{d['where']}")
    w = report["worst"]
    verdict = "agree" if report["ok"] else "DISAGREE"
    lines += ["", f"largest relative error {w['rel']:.2e} ({w['pair']}, {w['tensor']} at "
                  f"{w['where']}); tolerance {report['tol']:.0e}: the implementations {verdict}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.compare",
        description="Run stages 1, 2, 3 (and PyTorch when installed) on the same weights and "
                    "samples and compare loss and gradients; or, with --rung, check your own "
                    "loss_and_grads against stage 3 and against central differences of its own "
                    "loss. Exit status 1 when anything differs by more than --tol (relative), "
                    "2 for bad input.",
        epilog=WRITERS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rung", metavar="FILE.py",
                   help="check your own rung: a Python file defining loss_and_grads(weights, X, "
                        "c) (optionally sgd_train, predict_proba); without --sizes / --weights / "
                        "--dataset it runs the worked example, random sigmoid, relu and tanh "
                        "networks and three mnist-sample digits")
    p.add_argument("--lists", action="store_true",
                   help="with --rung: pass nested Python lists (stage 1's form) instead of numpy "
                        "arrays")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="layer sizes, e.g. 5 7 6 4 (random weights from --seed); default: the "
                        "worked example 2-3-2")
    p.add_argument("--weights", metavar="FILE",
                   help="a weights JSON file or a stage-3 model.npz (see below for the commands "
                        "that write them)")
    p.add_argument("--activation", choices=wf.ACTIVATIONS,
                   help="hidden activation of the network (default: the weights file's, else "
                        "sigmoid); with --rung and no problem flags: the random problems' only "
                        "activation")
    p.add_argument("--dataset", choices=DATASETS,
                   help="take the samples from this data set (default: random inputs)")
    p.add_argument("--samples", type=positive_int, default=2,
                   help="number of samples (default 2)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed for weights and inputs (default 0)")
    p.add_argument("--tol", type=float, default=None,
                   help=f"relative tolerance (default {DEFAULT_TOL:g} between the rungs, "
                        f"{RUNG_TOL:g} for --rung against stage 3)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = p.parse_args(argv)
    if args.sizes and args.weights:
        p.error("give --sizes or --weights, not both")
    if args.sizes and (len(args.sizes) < 2 or min(args.sizes) < 1):
        p.error(f"--sizes needs at least two positive sizes, got {args.sizes}")
    if args.tol is not None and not (math.isfinite(args.tol) and args.tol > 0):
        raise ConfigError(f"--tol must be a finite number > 0, got {args.tol}")
    if args.rung:
        if args.json:
            raise ConfigError("--json does not apply with --rung (its report is a table)")
        module = load_rung(args.rung)                 # bad file: one line before any work
        tol = RUNG_TOL if args.tol is None else args.tol
        if args.sizes or args.weights or args.dataset:
            weights, X, c, where = build_problem(args)
            cases = [Case(where, wf.to_arrays(weights), np.asarray(X, np.float64),
                          np.asarray(c))]
        else:
            acts = (args.activation,) if args.activation else wf.ACTIVATIONS
            cases = rung_cases(acts)
        ok, _ = check_rung(args.rung, cases, lists=args.lists, tol=tol, module=module)
        return 0 if ok else 1
    if args.lists:
        raise ConfigError("--lists applies only with --rung")
    tol = DEFAULT_TOL if args.tol is None else args.tol
    weights, X, c, where = build_problem(args)
    if len(c) and (min(c) < 0 or max(c) >= weights["sizes"][-1]):
        p.error(f"class labels must lie in [0, {weights['sizes'][-1]}), got {sorted(set(c))}")
    impls = implementations(include_torch=not args.no_torch)
    report = compare(weights, X, c, impls, tol=tol)
    report["problem"] = where
    report["activation"] = wf.activation_of(weights)
    report["implementations"] = list(impls)
    if args.json:
        print(json.dumps(report, indent=1, default=list))
    else:
        missing = "" if "torch" in impls or args.no_torch else " (torch not installed)"
        print(f"{where}\nimplementations: {', '.join(impls)}{missing}\n")
        print(format_table(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(run_main(main))
