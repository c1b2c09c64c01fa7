"""Models: a named sequence of layers, and the MLP builder.

What this adds over stage 2: the network is a list of layer objects instead of a fixed formula,
so depth, width, activation, dropout and the output unit are choices, and any named stretch of the
network can run on its own (``forward(X, start="up128")`` runs the decoder of an autoencoder).
Parameters are reachable by name, ``"linear1.W"``, for optimizers, saving and inspection.

* :class:`Sequential` - layers in order, each with a unique name; forward / backward over all of
  them or over the part between two named layers; parameters(), gradients(), zero_grad(),
  train() / eval(), predict(), save() / load() (``.npz``, atomic, every shape checked).
* :class:`MLP` - ``MLP(input_dim, hidden_dims, output_dim, activation)``:
  Linear -> activation [-> Dropout] per hidden layer, then a final Linear with no activation
  (the loss applies the softmax) unless ``output_activation`` is "sigmoid" or "softmax".
  ``MLP.from_weights`` / ``to_weights`` convert to and from the ladder's shared weight format
  (sigmoid hidden layers), so the stage-1/2 network loads into an equivalent stage-3 model.

Leaves out: branching graphs, weight sharing, parameter groups.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

from shared import weights as wf
from shared.records import atomic_output
from stage3_batched.layers import (
    ACTIVATIONS,
    INITS,
    Dropout,
    Layer,
    Linear,
    Sigmoid,
    Softmax,
    _check_dtype,
    make_activation,
)

OUTPUT_ACTIVATIONS = (None, "sigmoid", "softmax")
FILE_FORMAT = "mlp-ladder/stage3-model"


def check_finite(X: np.ndarray, what: str = "inputs", chunk_rows: int = 8192) -> None:
    """Raise ValueError if X holds NaN or inf, naming the first bad row.

    Fast path: the sum of a chunk of rows is finite exactly when no entry is NaN/inf, unless
    the sum overflows - only then (or to name the row) is every entry tested. Chunks keep the
    temporaries small (no full-size boolean array for a 60,000 x 784 data set)."""
    X = np.asarray(X)
    if X.dtype.kind not in "fc":
        return
    flat = X.reshape(len(X), -1) if X.ndim > 1 else X.reshape(-1, 1)
    for s in range(0, len(flat), chunk_rows):
        chunk = flat[s:s + chunk_rows]
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(chunk.sum()):
                continue
        ok = np.isfinite(chunk).all(axis=1)
        if not ok.all():
            row = s + int(np.argmin(ok))
            raise ValueError(f"{what} contain NaN or inf (first in row {row}); clean or drop "
                             "those samples before training")


class Sequential:
    """Layers applied in order. X (N, D) -> Y (N, K).

    Every layer gets a unique name: explicit names are kept (``add(layer, name="latent")`` or
    ``Linear(..., name=...)``); others are numbered per type: ``linear1, relu1, linear2, ...``.
    """

    def __init__(self, layers: SequenceABC[Layer] | None = None):
        self.layers: list[Layer] = []
        self.names: list[str] = []
        self._range = None                            # (i, j) of the last forward
        for layer in layers or ():
            self.add(layer)

    # ----------------------------------------------------------------------------- structure
    def add(self, layer: Layer, name: str | None = None) -> Sequential:
        """Append ``layer`` (named ``name``, else its own name, else an automatic one)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"expected a Layer, got {type(layer).__name__}")
        name = name if name is not None else layer.name
        if name is None:
            base = type(layer).__name__.lower()
            i = 1 + sum(type(other) is type(layer) for other in self.layers)
            while f"{base}{i}" in self.names:
                i += 1
            name = f"{base}{i}"
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"layer names must be non-empty strings without '.', got {name!r}")
        if name in self.names:
            raise ValueError(f"a layer named {name!r} already exists; names: {self.names}")
        layer.name = name
        self.layers.append(layer)
        self.names.append(name)
        return self

    def __getitem__(self, key: int | str) -> Layer:
        if isinstance(key, str):
            return self.layers[self.index(key)]
        return self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def index(self, name: str) -> int:
        """Position of the layer called ``name``; ValueError listing the names if none is."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no layer named {name!r}; the layers are {self.names}") from None

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters (float64 for a model without any)."""
        for layer in self.layers:
            if layer.params:
                return next(iter(layer.params.values())).dtype
        return np.dtype(np.float64)

    @property
    def input_dim(self) -> int | None:
        for layer in self.layers:
            if isinstance(layer, Linear):
                return layer.in_dim
        return None

    @property
    def output_dim(self) -> int | None:
        for layer in reversed(self.layers):
            if isinstance(layer, Linear):
                return layer.out_dim
        return None

    # ----------------------------------------------------------------------------- passes
    def _slice(self, start: str | None, end: str | None) -> tuple[int, int]:
        if start is None and end is None:
            return 0, len(self.layers) - 1
        i = 0 if start is None else self.index(start)
        j = len(self.layers) - 1 if end is None else self.index(end)
        if i > j:
            raise ValueError(f"start layer {start!r} comes after end layer {end!r}")
        return i, j

    def forward(self, X, start: str | None = None, end: str | None = None, *,
                check: bool = True) -> np.ndarray:
        """Run the layers from the one named ``start`` to the one named ``end`` (both
        inclusive; None = the first / the last). X (N, D_start) -> Y (N, D_end).

        X is cast to the model's dtype. ``check=True`` rejects non-2-D input and NaN/inf values
        with a clear message (the trainer checks its data once and passes ``check=False``);
        the first Linear reached checks the input width either way.
        """
        i, j = self._slice(start, end)
        X = np.asarray(X)
        if check:
            if X.ndim != 2:
                raise ValueError(f"inputs must be a 2-D array (N samples, D features), got shape "
                                 f"{X.shape}" + ("; use X[None, :] for one sample"
                                                 if X.ndim == 1 else ""))
            check_finite(X)
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        for layer in self.layers[i:j + 1]:
            X = layer.forward(X)
        self._range = (i, j)
        return X

    __call__ = forward

    def backward(self, dY: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Back through the layers of the last forward, in reverse. dY (N, D_end) -> dX
        (N, D_start). Each layer overwrites its ``grads``. ``input_grad=False`` skips everything
        below the first parametrised layer (its ``dX`` is not needed to train) and returns None.
        """
        if self._range is None:
            raise RuntimeError("backward called before forward")
        i, j = self._range
        stop = i
        if not input_grad:
            stop = next((k for k in range(i, j + 1) if self.layers[k].params), j + 1)
        for k in range(j, stop - 1, -1):
            layer = self.layers[k]
            if k == stop and not input_grad:
                if isinstance(layer, Linear):
                    layer.backward(dY, input_grad=False)
                else:
                    layer.backward(dY)
                return None
            dY = layer.backward(dY)
        return dY if input_grad else None

    def predict(self, X, batch_size: int = 4096) -> np.ndarray:
        """Integer predictions (N,): argmax over the outputs; with one output, ``output > 0.5``.
        Runs in evaluation mode (dropout off), in chunks of ``batch_size`` rows."""
        out = self.predict_output(X, batch_size)
        if out.ndim == 1 or out.shape[1] == 1:
            return (out.reshape(len(out)) > 0.5).astype(np.int64)
        return out.argmax(axis=1).astype(np.int64)

    def predict_output(self, X, batch_size: int = 4096) -> np.ndarray:
        """The network's outputs (N, K) in evaluation mode, computed in chunks."""
        X = np.asarray(X)
        was = [layer.training for layer in self.layers]
        self.eval()
        try:
            parts = [self.forward(X[s:s + batch_size]) for s in range(0, len(X), batch_size)]
        finally:
            for layer, mode in zip(self.layers, was):
                layer.training = mode
        if not parts:
            return np.zeros((0, self.output_dim or 0), dtype=self.dtype)
        return np.concatenate(parts)

    # ----------------------------------------------------------------------------- parameters
    def parameters(self) -> dict[str, np.ndarray]:
        """``{"layername.W": W, ...}``: the live arrays (an optimizer updates them in place)."""
        return {f"{n}.{k}": v for n, layer in zip(self.names, self.layers)
                for k, v in layer.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """Same keys as :meth:`parameters`; the live gradient arrays backward overwrites."""
        return {f"{n}.{k}": v for n, layer in zip(self.names, self.layers)
                for k, v in layer.grads.items()}

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def zero_grad(self) -> None:
        for g in self.gradients().values():
            g.fill(0.0)

    def train(self, mode: bool = True) -> Sequential:
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    # ----------------------------------------------------------------------------- files
    def describe(self) -> list[dict]:
        """The architecture as plain data: one ``{"name", "type", ...}`` per layer."""
        out = []
        for n, layer in zip(self.names, self.layers):
            d = {"name": n, "type": type(layer).__name__}
            if isinstance(layer, Linear):
                d.update(in_dim=layer.in_dim, out_dim=layer.out_dim)
            for attr in ("slope", "p"):
                if hasattr(layer, attr):
                    d[attr] = getattr(layer, attr)
            out.append(d)
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write every parameter to ``path`` (``.npz``; keys ``"layername.W"``), plus the
        architecture as JSON under ``"__architecture__"``. Atomic: a temporary file in the same
        folder, then a rename, so a crash never leaves a half-written model."""
        arrays = dict(self.parameters())
        meta = {"format": FILE_FORMAT, "dtype": str(self.dtype), "layers": self.describe()}
        arrays["__architecture__"] = np.array(json.dumps(meta))
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return Path(path)

    def load(self, path: str | os.PathLike) -> Sequential:
        """Load parameters saved by :meth:`save` into this model (cast to its dtype).

        Every key and shape is checked before anything is copied; a file made for another
        network raises ValueError listing each missing, unexpected or differently shaped
        parameter (e.g. ``linear1.W: file (784, 256), model (784, 300)``).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {k: data[k] for k in data.files if k != "__architecture__"}
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a stage-3 model file ({e})") from None
        params = self.parameters()
        problems = []
        for k, v in params.items():
            if k not in stored:
                problems.append(f"{k}: missing from the file (model {v.shape})")
            elif stored[k].shape != v.shape:
                problems.append(f"{k}: file {stored[k].shape}, model {v.shape}")
        problems += [f"{k}: in the file {stored[k].shape} but not in the model"
                     for k in stored if k not in params]
        if problems:
            raise ValueError(f"{path} does not fit this model:\n  " + "\n  ".join(problems))
        for k, v in params.items():
            if not np.isfinite(stored[k]).all():
                raise ValueError(f"{path}: parameter {k} holds NaN or inf")
            v[...] = stored[k]
        return self

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"


class MLP(Sequential):
    """A multi-layer perceptron: ``input_dim -> hidden_dims... -> output_dim``.

    Per hidden width h: ``Linear(prev, h)``, the activation (relu, sigmoid, tanh, leaky_relu),
    and ``Dropout(dropout)`` if ``dropout > 0``; then ``Linear(prev, output_dim)`` with no
    activation (its outputs are logits for :class:`~stage3_batched.losses.SoftmaxCrossEntropy`),
    unless ``output_activation`` is ``"sigmoid"`` or ``"softmax"``. ``hidden_dims=()`` gives
    softmax (logistic) regression. Weights are initialised with ``init`` ("he", "xavier" or
    "normal" with ``std``) from ``rng`` (default ``default_rng(0)``), biases with 0; the dropout
    layers draw their masks from the same generator. Layer names: linear1, relu1, ..., linearL.
    """

    def __init__(self, input_dim: int, hidden_dims: SequenceABC[int], output_dim: int,
                 activation: str = "relu", *, output_activation: str | None = None,
                 dropout: float = 0.0, init: str = "he", std: float = 0.1,
                 rng: np.random.Generator | None = None, dtype=np.float64):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of "
                             f"{', '.join(ACTIVATIONS)}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"unknown output_activation {output_activation!r}; choose one of "
                             "None, sigmoid, softmax")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if isinstance(hidden_dims, (int, np.integer)):
            hidden_dims = (int(hidden_dims),)
        hidden_dims = tuple(hidden_dims)
        _check_dtype(dtype)
        self.input_dim_, self.hidden_dims = input_dim, hidden_dims
        self.output_dim_, self.activation = output_dim, activation
        self.output_activation, self.dropout = output_activation, float(dropout)
        rng = np.random.default_rng(0) if rng is None else rng
        sizes = [input_dim, *hidden_dims, output_dim]
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            self.add(Linear(n_in, n_out, init=init, std=std, rng=rng, dtype=dtype))
            self.add(make_activation(activation))
            if dropout > 0:
                self.add(Dropout(dropout, rng=rng))
        self.add(Linear(sizes[-2], sizes[-1], init=init, std=std, rng=rng, dtype=dtype))
        if output_activation == "sigmoid":
            self.add(Sigmoid())
        elif output_activation == "softmax":
            self.add(Softmax())

    @property
    def sizes(self) -> list[int]:
        return [self.input_dim_, *self.hidden_dims, self.output_dim_]

    @classmethod
    def from_weights(cls, weights: dict, dtype=np.float64) -> MLP:
        """The model equivalent to a network in the shared weight format (shared/weights.py):
        sigmoid hidden layers, a final Linear whose logits go to the softmax cross-entropy.
        The arrays are copied (cast to ``dtype``); ``weights`` may hold lists or arrays."""
        arr = wf.to_arrays(weights, dtype=_check_dtype(dtype))
        sizes = arr["sizes"]
        model = cls(sizes[0], sizes[1:-1], sizes[-1], activation="sigmoid", init="normal",
                    std=0.0, dtype=dtype)
        linears = [layer for layer in model.layers if isinstance(layer, Linear)]
        for layer, lw in zip(linears, arr["layers"]):
            layer.params["W"][...] = lw["W"]
            layer.params["b"][...] = lw["b"]
        return model

    def to_weights(self) -> dict:
        """The parameters in the shared weight format (float64 copies). Only for the ladder's
        family: sigmoid hidden layers, no dropout, no output activation."""
        if self.activation != "sigmoid" or self.dropout or self.output_activation:
            raise ValueError("to_weights needs the ladder's network family: sigmoid hidden "
                             "layers, no dropout and no output activation")
        linears = [layer for layer in self.layers if isinstance(layer, Linear)]
        return wf.validate({
            "sizes": [int(s) for s in self.sizes],
            "layers": [{"W": np.array(layer.params["W"], dtype=np.float64),
                        "b": np.array(layer.params["b"], dtype=np.float64)}
                       for layer in linears],
        })

