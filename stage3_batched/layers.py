"""Layers over a whole mini-batch: each owns its forward pass and, right next to it, its backward.

What this adds over stage 2: the batch dimension. Every array carries N samples as rows, so one
matrix product does the work of N vector products, and every layer is an object with the same
two methods (the CS231n / PyTorch-module contract):

* ``forward(X)`` -> ``Y``: computes the output for the batch and caches what backward needs;
* ``backward(dY)`` -> ``dX``: given ``dY = dl/dY`` (same shape as ``Y``) returns ``dX = dl/dX``
  (same shape as ``X``) and **adds** the parameter gradients to ``self.grads`` (same keys and
  shapes as ``self.params``): ``grads["W"] += X^T dY``.

Gradients accumulate (the PyTorch convention): two backward calls without ``zero_grad()`` in
between leave the *sum* of both gradients in ``grads``. The trainer calls ``model.zero_grad()``
before every backward; accumulating on purpose lets a big batch be processed in pieces (the
gradient of a mean over B samples is the sum of B per-sample gradients, each scaled by 1/B).

Conventions: X is (N, D), weights are (in, out), ``Y = X W + b``. Gradients are of the *mean*
loss over the batch (the loss's backward divides by N once; no layer divides again). Parameters
are float64 unless a layer is built with ``dtype=np.float32``; inputs are cast to that dtype.

Leaves out: convolutions, batch normalisation, automatic differentiation (stage 4 compares with
PyTorch, which has it).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

INITS = ("he", "xavier", "normal")


def _check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def init_weight(fan_in: int, fan_out: int, init: str = "he", std: float = 0.1,
                rng: np.random.Generator | None = None, dtype=np.float64) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix drawn from a passed-in generator.

    * ``"normal"``: N(0, std^2) (the Ursinus hand-out's ``0.1 * randn``);
    * ``"xavier"`` (Glorot normal): N(0, 2 / (fan_in + fan_out)), keeps the variance of
      activations and gradients about constant through tanh/sigmoid layers;
    * ``"he"`` (Kaiming normal): N(0, 2 / fan_in), the same for ReLU, which zeroes half its input.

    The draw is made in float64 and then cast, so a float32 and a float64 model built from the same
    seed start from the same numbers (up to rounding). ``rng=None`` uses ``default_rng(0)``.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if init == "normal":
        if not (math.isfinite(std) and std >= 0):
            raise ValueError(f"std must be a finite number >= 0, got {std}")
        s = float(std)
    elif init == "xavier":
        s = math.sqrt(2.0 / (fan_in + fan_out))
    else:
        s = math.sqrt(2.0 / fan_in)
    rng = np.random.default_rng(0) if rng is None else rng
    return (rng.standard_normal((fan_in, fan_out)) * s).astype(_check_dtype(dtype))


class Layer:
    """Base class: a named step of the network with parameters, gradients and a train/eval mode.

    ``params`` and ``grads`` map a parameter name (``"W"``, ``"b"``) to an array; they hold the
    same keys and shapes. Layers without parameters have empty dicts.
    """

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dY: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient to 0 (backward adds to them). In place, so code holding a gradient
        array sees the zeros; a gradient is (re)made only for a new or replaced parameter."""
        for name, p in self.params.items():
            g = self.grads.get(name)
            if g is None or g.shape != p.shape or g.dtype != p.dtype:
                self.grads[name] = np.zeros_like(p)
            else:
                g.fill(0.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    def _cached(self, attr: str):
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Linear(Layer):
    """Affine layer ``Y = X W + b``: X (N, in) -> Y (N, out); W (in, out), b (out,).

    Backward, for ``dY = dl/dY`` (N, out) (derivation in README.md):
    ``dW = X^T dY`` (in, out), ``db = sum over rows of dY`` (out,), ``dX = dY W^T`` (N, in);
    dW and db are *added* to ``grads``. ``backward(dY, input_grad=False)`` skips ``dX`` (returns
    None): the first layer of a network never needs it during training, and for a 784-300 layer
    it is a third of the backward work.
    """

    def __init__(self, in_dim: int, out_dim: int, *, init: str = "he", std: float = 0.1,
                 rng: np.random.Generator | None = None, dtype=np.float64,
                 name: str | None = None):
        super().__init__(name)
        for what, v in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Linear {what} must be a positive integer, got {v!r}")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.dtype = _check_dtype(dtype)
        self.params["W"] = init_weight(self.in_dim, self.out_dim, init, std, rng, self.dtype)
        self.params["b"] = np.zeros(self.out_dim, dtype=self.dtype)
        self.zero_grad()
        self.X = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.in_dim:
            raise ValueError(
                f"layer {self.name!r} (Linear {self.in_dim} -> {self.out_dim}) expects inputs of "
                f"width {self.in_dim}, got width {X.shape[-1] if X.ndim else 0} "
                f"(input shape {X.shape})")
        self.X = X.astype(self.dtype, copy=False)     # (N, in), kept for backward
        return self.X @ self.params["W"] + self.params["b"]   # (N, out); b added to every row

    def backward(self, dY: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        X = self._cached("X")
        self.grads["W"] += X.T @ dY                   # dW = X^T dY       (in, out)
        self.grads["b"] += dY.sum(axis=0)             # db = sum_n dY[n]  (out,)
        if not input_grad:
            return None
        return dY @ self.params["W"].T                # dX = dY W^T       (N, in)

    def __repr__(self) -> str:
        return f"Linear({self.in_dim}, {self.out_dim}, name={self.name!r})"


class Sigmoid(Layer):
    """Logistic unit ``y = 1 / (1 + exp(-x))``, elementwise; backward ``dx = dy * y * (1 - y)``.

    Stable as written: for very negative x (below about -709 in float64, -88 in float32)
    ``exp(-x)`` overflows to inf and ``1 / (1 + inf)`` is exactly 0, the right limit, so the
    overflow is expected and its warning is switched off; for large positive x ``exp(-x)`` is 0
    and y is exactly 1. So ``x = -1000`` gives 0 and ``x = 1000`` gives 1, without a warning.
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):             # exp(-x) = inf  ->  y = 0, as it should
            self.Y = 1.0 / (1.0 + np.exp(-X))        # (N, D)
        return self.Y

    def backward(self, dY: np.ndarray) -> np.ndarray:
        Y = self._cached("Y")
        return dY * Y * (1.0 - Y)                     # dy y (1 - y)


class Tanh(Layer):
    """``y = tanh(x)`` elementwise; backward ``dx = dy * (1 - y^2)``."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.Y = np.tanh(X)
        return self.Y

    def backward(self, dY: np.ndarray) -> np.ndarray:
        Y = self._cached("Y")
        return dY * (1.0 - Y * Y)


class ReLU(Layer):
    """``y = max(0, x)`` elementwise; backward ``dx = dy * [x > 0]``.

    At exactly ``x = 0`` the function has no derivative; this layer uses 0 there (the subgradient
    PyTorch also uses), so a unit whose input is exactly 0 passes no gradient back.
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        return np.maximum(X, 0.0)

    def backward(self, dY: np.ndarray) -> np.ndarray:
        X = self._cached("X")
        return dY * (X > 0)                           # bool mask: keeps dY's dtype


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0`` else ``slope * x``; backward ``dx = dy`` or ``slope * dy``.

    At exactly ``x = 0`` the gradient is ``slope`` (the ``x > 0`` test fails there, as in ReLU).
    ``slope`` is any finite number (0 gives ReLU; the usual choice is 0.01).
    """

    def __init__(self, slope: float = 0.01, name: str | None = None):
        super().__init__(name)
        if not math.isfinite(slope):
            raise ValueError(f"LeakyReLU slope must be a finite number, got {slope}")
        self.slope = float(slope)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.pos = X > 0
        return np.where(self.pos, X, X * self.slope)

    def backward(self, dY: np.ndarray) -> np.ndarray:
        pos = self._cached("pos")
        return np.where(pos, dY, dY * self.slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope}, name={self.name!r})"


def softmax(X: np.ndarray) -> np.ndarray:
    """Row-wise softmax of X (N, K) -> (N, K), each row a probability vector.

    Stable: the row maximum is subtracted first (the softmax does not change, but every ``exp``
    argument is <= 0, so nothing overflows; logits of +-1e4 are fine).
    """
    E = np.exp(X - X.max(axis=1, keepdims=True))    # (N, K), every exp argument <= 0
    return E / E.sum(axis=1, keepdims=True)


class Softmax(Layer):
    """Softmax over each row as a standalone layer: X (N, K) -> Y (N, K).

    The Jacobian of one row is ``J = diag(y) - y y^T`` (K, K), symmetric, so
    ``dx = J dy = y * dy - y (y . dy)``. For the batch that is, row by row and without forming the
    N Jacobians::

        dX = Y * (dY - sum(dY * Y, axis=1, keepdims=True))

    Use it with :class:`~stage3_batched.losses.CrossEntropy` (on probabilities); for training
    prefer the fused, cheaper and more stable
    :class:`~stage3_batched.losses.SoftmaxCrossEntropy` on logits.
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.Y = softmax(X)
        return self.Y

    def backward(self, dY: np.ndarray) -> np.ndarray:
        Y = self._cached("Y")
        s = np.sum(dY * Y, axis=1, keepdims=True)     # (N, 1): y . dy for each row
        return Y * (dY - s)


class Dropout(Layer):
    """Inverted dropout: in training mode each input is zeroed with probability ``p`` and the
    survivors are scaled by ``1 / (1 - p)``, so the expected output equals the input and nothing
    needs rescaling at test time. In evaluation mode (``training = False``) it is the identity.

    The mask comes from the passed-in generator (seeded: same seed, same masks); backward
    multiplies by the same mask. ``0 <= p < 1``.
    """

    def __init__(self, p: float, rng: np.random.Generator | None = None,
                 name: str | None = None):
        super().__init__(name)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(0) if rng is None else rng
        self.mask = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self.mask = None
            return X
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        keep = self.rng.random(X.shape, dtype=dtype) >= self.p
        self.mask = keep.astype(dtype) / (1.0 - self.p)      # (N, D): 0 or 1/(1-p)
        return X * self.mask

    def backward(self, dY: np.ndarray) -> np.ndarray:
        if self.mask is None:                         # eval mode or p == 0: identity
            return dY
        return dY * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p}, name={self.name!r})"


#: The one table of hidden activations: name -> layer class (each class holds the function in
#: ``forward`` and its derivative in ``backward``). The first three are the names of the shared
#: weight format (``shared.weights.ACTIVATIONS``).
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU}


def make_activation(name: str) -> Layer:
    """A fresh activation layer by name; unknown names raise ValueError listing the choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
