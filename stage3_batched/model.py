"""Models: a named sequence of layers, and the MLP builder.

What this adds over stage 2: the network is a list of layer objects instead of a fixed formula,
so depth, width, activation, dropout and the output unit are choices, and any named stretch of the
network can run on its own (``forward(X, start="up128")`` runs the decoder of an autoencoder).
Parameters are reachable by name, ``"linear1.W"``, for optimizers, saving and inspection.

* :class:`Sequential` - layers in order, each with a unique name; forward / backward over all of
  them or over the part between two named layers; parameters(), gradients(), zero_grad(),
  train() / eval(), predict(), save() / load() (``.npz`` with the architecture recorded inside,
  atomic, every layer and shape checked); :func:`load_model` builds the model a file describes.
* :class:`MLP` - ``MLP(input_dim, hidden_dims, output_dim, activation)``:
  Linear -> activation [-> Dropout] per hidden layer, then a final Linear with no activation
  (the loss applies the softmax) unless ``output_activation`` is "sigmoid" or "softmax".
  ``MLP.from_weights`` / ``to_weights`` convert to and from the ladder's shared weight format
  (its hidden activation included), so the stage-1/2 network loads into an equivalent model.
* Gradients accumulate: every backward *adds* to the gradients, ``zero_grad()`` clears them
  (the trainer calls it before every backward).

Parameters are float64 unless a model is built with ``dtype=np.float32``.
Leaves out: branching graphs, weight sharing, parameter groups.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import zipfile
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

from shared import weights as wf
from shared.errors import ModelFileError
from shared.records import atomic_output
from stage3_batched.layers import (
    ACTIVATIONS,
    INITS,
    Dropout,
    Layer,
    LeakyReLU,
    Linear,
    Sigmoid,
    Softmax,
    _check_dtype,
    make_activation,
)

OUTPUT_ACTIVATIONS = (None, "sigmoid", "softmax")
FILE_FORMAT = "mlp-ladder/stage3-model"
ARCH_KEY = "__architecture__"


def check_finite(X: np.ndarray, what: str = "inputs") -> None:
    """Raise ValueError if X holds NaN or inf, naming the first bad row."""
    X = np.asarray(X)
    if X.dtype.kind not in "fc" or X.ndim == 0:
        return
    finite = np.isfinite(X)                                    # same shape, True where finite
    if not finite.all():
        row = int(np.argmin(finite.reshape(len(X), -1).all(axis=1)))   # first row with a False
        raise ValueError(f"{what} contain NaN or inf (first in row {row}); clean or drop those "
                         "samples before training")


def predicted_labels(out: np.ndarray) -> np.ndarray:
    """Integer predictions (N,) from outputs (N, K): the argmax of each row; with one output,
    (N, 1) or (N,), ``out > 0.5``."""
    if out.ndim == 1 or out.shape[1] == 1:
        return (out.reshape(len(out)) > 0.5).astype(np.int64)
    return out.argmax(axis=1).astype(np.int64)


class Named(Mapping):
    """A read-only ``{"layername.W": array}`` view of a model's parameters (``what="params"``)
    or gradients (``what="grads"``). Each read looks the array up in its layer, so an optimizer
    built from ``model.parameters()`` keeps training an array assigned to a layer afterwards."""

    def __init__(self, model: Sequential, what: str):
        self.model, self.what = model, what

    def __getitem__(self, key: str) -> np.ndarray:
        name, _, k = key.rpartition(".")
        if name not in self.model.names:
            raise KeyError(key)
        return getattr(self.model[name], self.what)[k]

    def __iter__(self):
        for name, layer in zip(self.model.names, self.model.layers):
            for k in getattr(layer, self.what):
                yield f"{name}.{k}"

    def __len__(self) -> int:
        return sum(len(getattr(layer, self.what)) for layer in self.model.layers)


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
        (N, D_start). Each layer *adds* its parameter gradients to ``grads`` (call
        :meth:`zero_grad` first for the gradient of this batch alone). ``input_grad=False``
        skips everything below the first parametrised layer (its ``dX`` is not needed to train)
        and returns None.
        """
        if self._range is None:
            raise RuntimeError("backward called before forward")
        i, j = self._range
        if not input_grad:              # start at the first layer that learns: below it, no dX
            i = next((k for k in range(i, j + 1) if self.layers[k].params), j)
        for k in range(j, i, -1):
            dY = self.layers[k].backward(dY)
        first = self.layers[i]
        if not input_grad and isinstance(first, Linear):
            first.backward(dY, input_grad=False)
            return None
        dX = first.backward(dY)
        return dX if input_grad else None

    def predict(self, X, batch_size: int = 4096) -> np.ndarray:
        """Integer predictions (N,): argmax over the outputs; with one output, ``output > 0.5``.
        Runs in evaluation mode (dropout off), in chunks of ``batch_size`` rows."""
        return predicted_labels(self.predict_output(X, batch_size))

    def predict_output(self, X, batch_size: int = 4096) -> np.ndarray:
        """The network's outputs (N, K) in evaluation mode, computed in chunks."""
        X = np.asarray(X)
        with self.evaluating():
            parts = [self.forward(X[s:s + batch_size]) for s in range(0, len(X), batch_size)]
        if not parts:
            return np.zeros((0, self.output_dim or 0), dtype=self.dtype)
        return np.concatenate(parts)

    # ----------------------------------------------------------------------------- parameters
    def parameters(self) -> Named:
        """``{"layername.W": W, ...}``: a view that looks every array up in its layer when it is
        read, so an array assigned later (``layer.params["W"] = W0``) is the one returned."""
        return Named(self, "params")

    def gradients(self) -> Named:
        """Same keys as :meth:`parameters`; the gradient arrays backward adds to."""
        return Named(self, "grads")

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def zero_grad(self) -> None:
        """Set every gradient to 0; backward then adds the gradients of one batch."""
        for layer in self.layers:
            layer.zero_grad()

    def train(self, mode: bool = True) -> Sequential:
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self):
        """``with model.evaluating():`` runs the block in evaluation mode (dropout off), then
        gives every layer back the mode it had."""
        was = [layer.training for layer in self.layers]
        self.eval()
        try:
            yield self
        finally:
            for layer, mode in zip(self.layers, was):
                layer.training = mode

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

    def architecture(self) -> dict:
        """What :meth:`save` records besides the numbers: format, dtype and the layers."""
        return {"format": FILE_FORMAT, "dtype": str(self.dtype), "layers": self.describe()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write every parameter to ``path`` (``.npz``; keys ``"layername.W"``), plus the
        architecture (:meth:`architecture`) as JSON under ``"__architecture__"``, so
        :func:`load_model` can rebuild the model from the file alone. Atomic: a temporary file in
        the same folder, then a rename, so a crash never leaves a half-written model."""
        arrays = dict(self.parameters())
        arrays[ARCH_KEY] = np.array(json.dumps(self.architecture()))
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return Path(path)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Sequential:
        """The model saved at ``path``, rebuilt from the file alone (see :func:`load_model`)."""
        return load_model(path)

    def load(self, path: str | os.PathLike) -> Sequential:
        """Load parameters saved by :meth:`save` into this model (cast to its dtype).

        A file that records its architecture must describe the same layers (names, types,
        widths, dropout, slopes): a sigmoid network does not load into a ReLU model. Every key
        and shape is checked before anything is copied; a file of older versions without an
        architecture is loaded by its shapes alone. Anything wrong raises
        :class:`~shared.errors.ModelFileError` naming the file and each difference (e.g.
        ``linear1.W: file (784, 256), model (784, 300)``).
        """
        return self._fill(path, *read_model_file(path))

    def _fill(self, path, arch: dict | None, stored: dict[str, np.ndarray]) -> Sequential:
        """:meth:`load` on the contents of the file ``path``, already read."""
        problems = [] if arch is None else _layer_differences(arch["layers"], self.describe())
        problems += _shape_differences(stored, self.parameters())
        if problems:
            raise ModelFileError(f"{path} does not fit this model: " + "; ".join(problems))
        for k, v in self.parameters().items():
            if not np.isfinite(stored[k]).all():
                raise ModelFileError(f"{path}: parameter {k} holds NaN or inf")
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
    Parameters are float64 unless ``dtype=np.float32``.
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

    def architecture(self) -> dict:
        """:meth:`Sequential.architecture` plus the builder's arguments (sizes, activation,
        output activation, dropout), from which :func:`load_model` rebuilds the MLP."""
        arch = super().architecture()
        arch["mlp"] = {"sizes": [int(s) for s in self.sizes], "activation": self.activation,
                       "output_activation": self.output_activation, "dropout": self.dropout}
        return arch

    @classmethod
    def from_weights(cls, weights: dict, dtype=np.float64) -> MLP:
        """The model equivalent to a network in the shared weight format (shared/weights.py):
        hidden layers with the format's activation (``"activation"``, default sigmoid), a final
        Linear whose logits go to the softmax cross-entropy. The arrays are copied (cast to
        ``dtype``, float64 by default); ``weights`` may hold lists or arrays."""
        arr = wf.to_arrays(weights, dtype=_check_dtype(dtype))
        sizes = arr["sizes"]
        model = cls(sizes[0], sizes[1:-1], sizes[-1], activation=arr["activation"],
                    init="normal", std=0.0, dtype=dtype)
        linears = [layer for layer in model.layers if isinstance(layer, Linear)]
        for layer, lw in zip(linears, arr["layers"]):
            layer.params["W"][...] = lw["W"]
            layer.params["b"][...] = lw["b"]
        return model

    def to_weights(self) -> dict:
        """The parameters in the shared weight format (float64 copies) with the hidden
        activation. Only for the ladder's family: sigmoid, relu or tanh hidden layers, no
        dropout, no output activation."""
        if self.activation not in wf.ACTIVATIONS or self.dropout or self.output_activation:
            raise ValueError(f"to_weights needs the ladder's network family: "
                             f"{', '.join(wf.ACTIVATIONS)} hidden layers, no dropout and no "
                             f"output activation (this model: {self.activation}, dropout "
                             f"{self.dropout}, output {self.output_activation})")
        linears = [layer for layer in self.layers if isinstance(layer, Linear)]
        return wf.validate({
            "sizes": [int(s) for s in self.sizes],
            "activation": self.activation,
            "layers": [{"W": np.array(layer.params["W"], dtype=np.float64),
                        "b": np.array(layer.params["b"], dtype=np.float64)}
                       for layer in linears],
        })


# --------------------------------------------------------------------------------- model files
#: Layers without settings, by class name (as :meth:`Sequential.describe` records them).
PLAIN_LAYERS = {cls.__name__: cls for cls in (*ACTIVATIONS.values(), Softmax)
                if cls is not LeakyReLU}


def read_model_file(path: str | os.PathLike) -> tuple[dict | None, dict[str, np.ndarray]]:
    """``(architecture or None, {name: array})`` from a file written by :meth:`Sequential.save`.
    A missing, unreadable, truncated or foreign file raises :class:`ModelFileError` naming it."""
    try:
        data = np.load(path, allow_pickle=False)
        stored = None                                  # a .npy file holds one bare array
        if hasattr(data, "files"):
            with data:
                stored = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file; check the path") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror or e}); check the path") \
            from None
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, NotImplementedError):
        raise ModelFileError(f"{path}: not a stage-3 model file (.npz), or a truncated one; "
                             "save the model again") from None
    if stored is None:
        raise ModelFileError(f"{path}: holds a single array, not a stage-3 model (.npz)")
    if ARCH_KEY not in stored:
        return None, stored
    try:
        arch = json.loads(str(stored.pop(ARCH_KEY)))
        if not isinstance(arch.get("layers"), list):
            raise ValueError("no list of layers")
    except (ValueError, AttributeError) as e:
        raise ModelFileError(f"{path}: its architecture record is unreadable ({e})") from None
    return arch, stored


def _layer_text(d: dict) -> str:
    extra = {"Linear": lambda: f" {d.get('in_dim')} -> {d.get('out_dim')}",
             "Dropout": lambda: f" p={d.get('p')}", "LeakyReLU": lambda: f" slope={d.get('slope')}"}
    return f"{d.get('name')} ({d.get('type')}{extra.get(d.get('type'), str)()})"


def _layer_differences(in_file: list, in_model: list) -> list[str]:
    """One line per layer that differs between a file's architecture and a model's."""
    problems = [f"layer {i}: {_layer_text(f)} in the file, {_layer_text(m)} in the model"
                for i, (f, m) in enumerate(zip(in_file, in_model), start=1) if f != m]
    if len(in_file) != len(in_model):
        problems.append(f"the file has {len(in_file)} layers, the model {len(in_model)}")
    return problems


def _shape_differences(stored: dict, params: dict) -> list[str]:
    """One line per parameter missing from the file, extra in it, or of another shape/kind."""
    problems = []
    for k, v in params.items():
        if k not in stored:
            problems.append(f"{k}: missing from the file (model {v.shape})")
        elif stored[k].shape != v.shape:
            problems.append(f"{k}: file {stored[k].shape}, model {v.shape}")
        elif stored[k].dtype.kind not in "fiu":
            problems.append(f"{k}: the file holds {stored[k].dtype} values, not numbers")
    problems += [f"{k}: in the file {stored[k].shape} but not in the model"
                 for k in stored if k not in params]
    return problems


def _layer_from(d: dict, dtype) -> Layer:
    """A fresh layer from one entry of :meth:`Sequential.describe` (parameters zero)."""
    if d["type"] == "Linear":
        return Linear(d["in_dim"], d["out_dim"], init="normal", std=0.0, dtype=dtype)
    if d["type"] == "LeakyReLU":
        return LeakyReLU(d["slope"])
    if d["type"] == "Dropout":
        return Dropout(d["p"])
    return PLAIN_LAYERS[d["type"]]()


def build_from_architecture(arch: dict) -> Sequential:
    """The (untrained) model an architecture record describes: an :class:`MLP` when the record
    holds the builder's arguments, else a :class:`Sequential` of the recorded layers."""
    dtype = _check_dtype(arch.get("dtype", "float64"))
    if "mlp" in arch:
        m = arch["mlp"]
        sizes = m["sizes"]
        return MLP(sizes[0], sizes[1:-1], sizes[-1], m["activation"],
                   output_activation=m["output_activation"], dropout=m["dropout"],
                   init="normal", std=0.0, dtype=dtype)
    model = Sequential()
    for d in arch["layers"]:
        model.add(_layer_from(d, dtype), name=d["name"])
    return model


def load_model(path: str | os.PathLike) -> Sequential:
    """The model saved at ``path`` by :meth:`Sequential.save`, rebuilt from the architecture the
    file records (an MLP, or a Sequential of named layers) and filled with its parameters.
    :class:`ModelFileError` for files without an architecture (build the model yourself and
    call ``model.load(path)``) or with a record that cannot be rebuilt."""
    arch, stored = read_model_file(path)
    if arch is None:
        raise ModelFileError(f"{path}: the file does not record its architecture (an older "
                             "format); build the model and call model.load(path)")
    try:
        model = build_from_architecture(arch)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise ModelFileError(f"{path}: its architecture record cannot be rebuilt ({e})") from None
    return model._fill(path, arch, stored)
