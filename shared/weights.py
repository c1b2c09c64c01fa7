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
import numbers
import os
import random
from collections.abc import Sequence
from typing import Any

from .errors import LadderError
from .records import atomic_write_text, read_json

FORMAT = "mlp-ladder/weights"
VERSION = 1

#: The hidden-layer activations of the weight format; the first is the default. "leaky_relu"
#: has the slope :data:`LEAKY_SLOPE` for negative inputs.
ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu")
LEAKY_SLOPE = 0.01
DEFAULT_ACTIVATION = "sigmoid"


#: Where weight files come from: the commands that write them (added to the error messages of
#: every command that reads one).
WEIGHT_FILES_HINT = ("weight files are written by python -m stage1_scalar train (weights.json), "
                     "python -m stage1_scalar example --save-weights FILE, python -m "
                     "stage2_perinstance (weights.json) and python -m stage3_batched (model.npz)")


class WeightFormatError(LadderError, ValueError):
    """A weight structure or file that does not follow the format; the message says where."""


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about arbitrary input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(v: Any) -> bool:
    """A real number: int or float (numpy's too), not a bool and not a string."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_array(i: int, name: str, a: Any, want: tuple[int, ...], sizes: Any) -> None:
    """A numpy array's shape, dtype and finiteness (vectorised)."""
    import numpy as np

    a = np.asarray(a)
    if tuple(a.shape) != want:
        raise WeightFormatError(f"layer {i}: {name} has shape {tuple(a.shape)}, sizes "
                                f"{_short(sizes)} say {want if name == 'W' else want[0]}")
    if a.dtype.kind not in "iuf":
        raise WeightFormatError(f"layer {i}: {name} must hold real numbers, has dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise WeightFormatError(f"layer {i}: {name} holds a non-finite value")


def _check_numbers(i: int, name: str, row: Any) -> None:
    """Each value of a list is a finite real number (bool and str are refused, though Python
    would convert them)."""
    for v in row:
        if not _is_number(v):
            raise WeightFormatError(f"layer {i}: {name} holds {type(v).__name__} {_short(v)}, "
                                    "not a number")
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise WeightFormatError(f"layer {i}: {name} holds a non-finite value {_short(v)}")


def _check_layer(i: int, layer: Any, sizes: Any) -> None:
    n_in, n_out = int(sizes[i]), int(sizes[i + 1])
    if not isinstance(layer, dict) or "W" not in layer or "b" not in layer:
        has = sorted(map(str, layer)) if isinstance(layer, dict) else type(layer).__name__
        raise WeightFormatError(f"layer {i} needs keys 'W' and 'b', has {_short(has)}")
    W, b = layer["W"], layer["b"]
    if hasattr(W, "shape") and hasattr(W, "dtype"):
        _check_array(i, "W", W, (n_in, n_out), sizes)
    else:
        if not isinstance(W, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in W):
            raise WeightFormatError(f"layer {i}: W must be a list of rows (lists of numbers), "
                                    f"got {_short(W)}")
        cols = {len(row) for row in W}
        if len(cols) > 1:
            raise WeightFormatError(f"layer {i}: W is ragged: its rows have lengths "
                                    f"{_short(sorted(cols))}")
        got = (len(W), cols.pop() if cols else 0)
        if got != (n_in, n_out):
            raise WeightFormatError(f"layer {i}: W has shape {got}, sizes {_short(sizes)} say "
                                    f"{(n_in, n_out)}")
        for r, row in enumerate(W):
            _check_numbers(i, f"W row {r}", row)
    if hasattr(b, "shape") and hasattr(b, "dtype"):
        _check_array(i, "b", b, (n_out,), sizes)
    else:
        if not isinstance(b, (list, tuple)):
            raise WeightFormatError(f"layer {i}: b must be a list of numbers, got {_short(b)}")
        if len(b) != n_out:
            raise WeightFormatError(f"layer {i}: b has length {len(b)}, sizes {_short(sizes)} "
                                    f"say {n_out}")
        _check_numbers(i, "b", b)


def activation_of(weights: dict) -> str:
    """The hidden-layer activation of ``weights``: its ``"activation"`` key, else "sigmoid"."""
    name = weights.get("activation", DEFAULT_ACTIVATION) if isinstance(weights, dict) else None
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise WeightFormatError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                                f"got {_short(name)}")
    return name


def validate(weights: dict) -> dict:
    """Check ``weights`` against the format and return it unchanged.

    Raises :class:`WeightFormatError` (and nothing else, whatever the structure holds) naming the
    first problem: a missing key, ``sizes`` that are not >= 2 positive integers, a layer whose
    ``W`` or ``b`` does not match ``sizes``, a value that is not a finite real number (``true``
    and ``"1.5"`` are refused too), or an unknown activation.
    """
    if not isinstance(weights, dict) or "sizes" not in weights or "layers" not in weights:
        got = sorted(map(str, weights)) if isinstance(weights, dict) else type(weights).__name__
        raise WeightFormatError(f"weights must be an object with keys 'sizes' and 'layers', "
                                f"got {_short(got)}")
    activation_of(weights)
    sizes = given = weights["sizes"]
    if hasattr(sizes, "shape") and hasattr(sizes, "tolist"):  # a numpy vector of sizes
        sizes = sizes.tolist() if len(sizes.shape) == 1 else None
    if (not isinstance(sizes, (list, tuple)) or len(sizes) < 2
            or not all(_is_count(n) and n >= 1 for n in sizes)):
        raise WeightFormatError(f"sizes must be a list of >= 2 positive integers, got "
                                f"{_short(given)}")
    layers = weights["layers"]
    if not isinstance(layers, (list, tuple)):
        raise WeightFormatError(f"layers must be a list, got {type(layers).__name__}")
    if len(layers) != len(sizes) - 1:
        raise WeightFormatError(
            f"sizes {_short(list(sizes))} need {len(sizes) - 1} layers, the structure has "
            f"{len(layers)}"
        )
    for i, layer in enumerate(layers):
        _check_layer(i, layer, sizes)
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
    """Write ``weights`` (lists or arrays) as JSON, atomically (temporary file, then rename:
    :func:`shared.records.atomic_write_text`). A ``path`` that cannot be written raises an
    ``OSError`` naming it (a folder: ``EISDIR``)."""
    data = {"format": FORMAT, "version": VERSION, **to_lists(weights)}
    atomic_write_text(path, json.dumps(data))


def load_json(path: str | os.PathLike) -> dict:
    """Read a weight file written by :func:`save_json`; returns nested lists (stage 1's form).

    Whatever the file holds - not JSON, binary or not UTF-8, nested too deeply, another JSON
    value, a missing key, a wrong type, a ``true`` or ``"1.5"`` where a number belongs - the
    error is a :class:`WeightFormatError` whose message starts with the file name. A file that
    cannot be opened raises the ``OSError`` (naming it), as ``open`` does.
    """
    data = read_json(path, WeightFormatError, "weight file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightFormatError(f"{path}: not an mlp-ladder weight file (no format {FORMAT!r})")
    version = data.get("version")
    if not _is_count(version) or version != VERSION:
        raise WeightFormatError(f"{path}: weight-format version {_short(version)}, "
                                f"this code reads version {VERSION}")
    if "sizes" not in data or "layers" not in data:
        missing = [k for k in ("sizes", "layers") if k not in data]
        raise WeightFormatError(f"{path}: weight file without {' and '.join(map(repr, missing))}")
    try:
        return to_lists({"sizes": data["sizes"], "layers": data["layers"],
                         "activation": data.get("activation", DEFAULT_ACTIVATION)})
    except WeightFormatError as e:
        raise WeightFormatError(f"{path}: {e}") from None
