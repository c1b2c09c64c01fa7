"""The problems the rungs are compared on: a network (weights) and samples ``X`` (N, D) with
classes ``c`` (N,).

* :func:`read_weights` - a weights JSON file (stages 1 and 2 write them) or a stage-3
  ``model.npz`` (its own ``MLP.to_weights``, or the layers an older file records);
* :func:`build_problem` - the worked example, random weights of given sizes, or a weights file,
  on random inputs or the first samples of a data set, from the command line's flags.

What it leaves out: models that are not the ladder's family (dropout, branches) - refused with
the reason.
"""

from __future__ import annotations

import math
import random
import zipfile
from pathlib import Path

import numpy as np

from shared import weights as wf
from shared.errors import ConfigError, ModelFileError, one_line

WRITERS = """where weights files come from:
  python -m stage1_scalar train            runs/stage1_scalar/<config key>/weights.json (--out)
  python -m stage1_scalar example --save-weights FILE
  python -m stage2_perinstance             runs/stage2_perinstance/<dataset>-<config key>/
                                           weights.json (--out)
  python -m stage3_batched                 runs/stage3/<dataset>-<config key>/model.npz (--out)
"""


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
        if (isinstance(model, s3model.MLP) and not model.dropout
                and not model.output_activation and model.activation in wf.ACTIVATIONS):
            weights = model.to_weights()
            return {**weights, "activation": activation or weights["activation"]}
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
    :class:`~shared.errors.LadderError` whose message names ``--weights`` and the file, and says
    where weight files come from (``shared.weights.WEIGHT_FILES_HINT``)."""
    try:
        return _read_weights_file(path, activation)
    except (ConfigError, ModelFileError) as e:
        raise type(e)(f"{one_line(e)}; {wf.WEIGHT_FILES_HINT}") from None


def _read_weights_file(path, activation: str | None) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--weights {path}: no such file")
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
def check_problem_flags(parser, args) -> None:
    """The flags that describe a problem, checked before any work: --sizes or --weights (not
    both), at least two positive sizes, a finite positive --tol."""
    if args.sizes and args.weights:
        parser.error("give --sizes or --weights, not both")
    if args.sizes and (len(args.sizes) < 2 or min(args.sizes) < 1):
        parser.error(f"--sizes needs at least two positive sizes, got {args.sizes}")
    if not (math.isfinite(args.tol) and args.tol > 0):
        raise ConfigError(f"--tol must be a finite number > 0, got {args.tol}")


def _network(args, act):
    """``(weights or None, description)`` from --weights or --sizes (None: neither given)."""
    if args.weights:
        weights = read_weights(args.weights, act)
        return weights, f"weights from {args.weights} ({wf.activation_of(weights)})"
    if args.sizes:
        from shared.memory import check_fits, estimate_network_bytes

        check_fits(estimate_network_bytes(args.sizes, batch=args.samples, python_floats=True),
                   f"a {'-'.join(map(str, args.sizes))} network in pure Python (stage 1)",
                   "--sizes")
        return _random_network(args.sizes, args.seed, act)
    return None, ""


def _random_network(sizes, seed, act):
    weights = wf.init_weights(sizes, random.Random(seed), activation=act or wf.DEFAULT_ACTIVATION)
    return weights, f"random weights, sizes {sizes}, {weights['activation']}, seed {seed}"


def _dataset_samples(args, weights, where, act):
    """The first --samples training samples of --dataset (a random 3-unit network for it when
    no network was given), checked against the network's input and output widths."""
    from shared.data import load_dataset

    (xtr, ytr), _, num_classes = load_dataset(args.dataset)
    if weights is None:
        weights, where = _random_network([xtr.shape[1], 3, num_classes], args.seed, act)
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


def build_problem(args) -> tuple[dict, np.ndarray, np.ndarray, str]:
    """The weights, samples ``X`` (N, D), classes ``c`` (N,) and a one-line description."""
    act = getattr(args, "activation", None)
    weights, where = _network(args, act)
    if weights is None and args.dataset is None:
        weights, x, c = wf.worked_example()
        weights["activation"] = act or wf.DEFAULT_ACTIVATION
        return (weights, np.array([x]), np.array([c]),
                "the hand-out's 2-3-2 worked example (x = [1, -1], class 0)"
                + (f", {act} hidden layer" if act and act != "sigmoid" else ""))
    if args.dataset:
        return _dataset_samples(args, weights, where, act)
    rng = random.Random(args.seed + 1)
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    X = np.array([[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(args.samples)])
    c = np.array([rng.randrange(n_out) for _ in range(args.samples)])
    return weights, X, c, f"{where}; {args.samples} standard-normal samples (seed {args.seed + 1})"
