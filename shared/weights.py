"""The one weight format every stage reads and writes.

The ladder's network family is ``sizes = [n_in, n_hidden..., n_out]``: sigmoid hidden layers,
a softmax output and the cross-entropy loss. Its parameters are stored as one plain structure::

    {"sizes": [n_in, n_1, ..., n_out],
     "layers": [{"W": W_1, "b": b_1}, ..., {"W": W_L, "b": b_L}],
     "activation": "sigmoid"}          # optional: "sigmoid" (default), "relu" or "tanh"

* layer ``i`` (0-based) maps ``sizes[i]`` inputs to ``sizes[i + 1]`` outputs;
* ``W`` has shape ``(in, out)`` = ``(sizes[i], sizes[i + 1])``, so a pre-activation is
  ``k_j = sum_i x_i W[i][j] + b[j]`` (stage 1) or ``k = x @ W + b`` (stages 2 and 3);
* ``b`` has shape ``(out,)``.

In stage 1 ``W`` is a list of lists and ``b`` a list of floats; in stages 2 and 3 they are float64
numpy arrays. :func:`to_lists` and :func:`to_arrays` convert losslessly (float64 round-trips
exactly through Python floats and through JSON's ``repr`` of them). Gradients use the same
structure (``{"sizes": ..., "layers": [{"W": dW, "b": db}, ...]}``), so a stage's gradients can be
compared with another stage's key by key.

``"activation"`` names the function of every hidden layer; a structure without the key is a
sigmoid network (:func:`activation_of`). Each rung keeps one table of (function, derivative)
pairs keyed by these names.

The file form is JSON (:func:`save_json` / :func:`load_json`) with a small header::

    {"format": "mlp-ladder/weights", "version": 1, "sizes": [...], "activation": "sigmoid",
     "layers": [...]}

This module is pure Python (``json``, ``math``, ``random``): stage 1 imports it without numpy.
:func:`to_arrays` imports numpy only when it is called.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Sequence
from typing import Any

from .errors import LadderError

FORMAT = "mlp-ladder/weights"
VERSION = 1

#: The hidden-layer activations of the weight format; the first is the default.
ACTIVATIONS = ("sigmoid", "relu", "tanh")
DEFAULT_ACTIVATION = "sigmoid"


class WeightFormatError(LadderError, ValueError):
    """A weight structure or file that does not follow the format; the message says where."""


def _shape2(W: Any) -> tuple[int, int]:
    if hasattr(W, "shape"):
        if len(W.shape) != 2:
            raise WeightFormatError(f"W must be 2-D (in, out), got shape {tuple(W.shape)}")
        return int(W.shape[0]), int(W.shape[1])
    rows = len(W)
    cols = {len(row) for row in W}
    if len(cols) > 1:
        raise WeightFormatError(f"W is ragged: its rows have lengths {sorted(cols)}")
    return rows, (cols.pop() if cols else 0)


def _len1(b: Any) -> int:
    if hasattr(b, "shape"):
        if len(b.shape) != 1:
            raise WeightFormatError(f"b must be 1-D (out,), got shape {tuple(b.shape)}")
        return int(b.shape[0])
    return len(b)


def activation_of(weights: dict) -> str:
    """The hidden-layer activation of ``weights``: its ``"activation"`` key, else "sigmoid"."""
    name = weights.get("activation", DEFAULT_ACTIVATION) if isinstance(weights, dict) else None
    if name not in ACTIVATIONS:
        raise WeightFormatError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                                f"got {name!r}")
    return name


def validate(weights: dict) -> dict:
    """Check ``weights`` against the format and return it unchanged.

    Raises :class:`WeightFormatError` naming the first layer whose ``W`` or ``b`` does not match
    ``sizes``, a non-finite value, an unknown activation, or a missing key.
    """
    if not isinstance(weights, dict) or "sizes" not in weights or "layers" not in weights:
        raise WeightFormatError("weights must be a dict with keys 'sizes' and 'layers'")
    activation_of(weights)
    sizes = list(weights["sizes"])
    if len(sizes) < 2 or any(int(n) != n or n < 1 for n in sizes):
        raise WeightFormatError(f"sizes must be >= 2 positive integers, got {sizes}")
    layers = weights["layers"]
    if len(layers) != len(sizes) - 1:
        raise WeightFormatError(
            f"sizes {sizes} need {len(sizes) - 1} layers, the structure has {len(layers)}"
        )
    for i, layer in enumerate(layers):
        if "W" not in layer or "b" not in layer:
            raise WeightFormatError(f"layer {i} needs keys 'W' and 'b', has {sorted(layer)}")
        want = (sizes[i], sizes[i + 1])
        got = _shape2(layer["W"])
        if got != want:
            raise WeightFormatError(f"layer {i}: W has shape {got}, sizes {sizes} say {want}")
        if _len1(layer["b"]) != sizes[i + 1]:
            raise WeightFormatError(
                f"layer {i}: b has length {_len1(layer['b'])}, sizes {sizes} say {sizes[i + 1]}"
            )
        for name, values in (("W", [v for row in layer["W"] for v in row]), ("b", layer["b"])):
            for v in values:
                if not math.isfinite(float(v)):
                    raise WeightFormatError(f"layer {i}: {name} holds a non-finite value {v}")
    return weights


def count_parameters(sizes: Sequence[int]) -> int:
    """Weights plus biases of a network ``[n_in, n_1, ..., n_out]``: ``sum (n_in + 1) n_out``."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def to_lists(weights: dict) -> dict:
    """The same weights as nested Python lists of floats (stage 1's form). Copies."""
    validate(weights)
    return {
        "sizes": [int(n) for n in weights["sizes"]],
        "activation": activation_of(weights),
        "layers": [
            {
                "W": [[float(v) for v in row] for row in layer["W"]],
                "b": [float(v) for v in layer["b"]],
            }
            for layer in weights["layers"]
        ],
    }


def to_arrays(weights: dict, dtype: Any = "float64") -> dict:
    """The same weights as numpy arrays (stages 2 and 3). Copies; imports numpy lazily."""
    import numpy as np

    validate(weights)
    return {
        "sizes": [int(n) for n in weights["sizes"]],
        "activation": activation_of(weights),
        "layers": [
            {
                "W": np.array(layer["W"], dtype=dtype).reshape(n_in, n_out),
                "b": np.array(layer["b"], dtype=dtype).reshape(n_out),
            }
            for layer, n_in, n_out in zip(
                weights["layers"], weights["sizes"][:-1], weights["sizes"][1:]
            )
        ],
    }


def init_weights(
    sizes: Sequence[int], rng: random.Random, std: float | None = None,
    activation: str = DEFAULT_ACTIVATION,
) -> dict:
    """Random weights for ``sizes``, drawn from a passed-in ``random.Random``.

    Weights are normal with mean 0 and standard deviation ``std``; ``std=None`` uses
    ``1 / sqrt(fan_in)`` for each layer (keeps sigmoid pre-activations near the linear region for
    any input width). Biases are zero. Draw order: layer by layer, ``W`` row by row — every stage
    that initialises from the same seed gets the same numbers.
    """
    if not isinstance(rng, random.Random):
        raise TypeError("rng must be a random.Random (pass random.Random(seed))")
    sizes = [int(n) for n in sizes]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        s = (1.0 / math.sqrt(n_in)) if std is None else float(std)
        W = [[rng.gauss(0.0, s) for _ in range(n_out)] for _ in range(n_in)]
        layers.append({"W": W, "b": [0.0] * n_out})
    return validate({"sizes": sizes, "activation": activation, "layers": layers})


def worked_example() -> tuple[dict, list[float], int]:
    """The hand-out's 2-3-2 worked example: ``(weights, x, c)``.

    x = [1, -1], target class c = 0; W = [[1, 1, 1], [-1, -1, -1]], b = [0, 0, 0],
    V = [[1, 1], [-1, -1], [-1, -1]], c = [0, 0] (here ``layers[1]`` holds V and its bias c).
    """
    weights = {
        "sizes": [2, 3, 2],
        "layers": [
            {"W": [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]], "b": [0.0, 0.0, 0.0]},
            {"W": [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]], "b": [0.0, 0.0]},
        ],
    }
    return validate(weights), [1.0, -1.0], 0


def save_json(weights: dict, path: str | os.PathLike) -> None:
    """Write ``weights`` (lists or arrays) as JSON, atomically (temporary file, then rename)."""
    data = {"format": FORMAT, "version": VERSION, **to_lists(weights)}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".weights-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_json(path: str | os.PathLike) -> dict:
    """Read a weight file written by :func:`save_json`; returns nested lists (stage 1's form)."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise WeightFormatError(f"{path}: not a JSON weight file ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightFormatError(f"{path}: not an mlp-ladder weight file (no format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise WeightFormatError(f"{path}: weight-format version {data.get('version')}, "
                                f"this code reads version {VERSION}")
    try:
        return to_lists({"sizes": data["sizes"], "layers": data["layers"],
                         "activation": data.get("activation", DEFAULT_ACTIVATION)})
    except WeightFormatError as e:
        raise WeightFormatError(f"{path}: {e}") from None
