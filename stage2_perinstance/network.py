"""Stage 2: the network with numpy vectors, one sample at a time.

The same network as stage 1 (sizes ``[n_in, n_1, ..., n_out]``, an activation after every
hidden layer, softmax + cross-entropy at the output), and the same functions under the same
names. What changes: a layer's values are one numpy vector instead of a Python list, and every
loop of stage 1 over the units of a layer becomes one numpy call. For one sample (shapes in
brackets; ``X`` (N, n_in) holds N samples, ``c`` (N,) their integer classes)::

    x  (n_in,)                                     the input
    k  (n_i,)     k = x @ W + b                      vector-matrix product (was: sum over i)
    h  (n_i,)     h = f(k)                           elementwise          (was: loop over j)
    o  (n_out,)   o = h @ W + b                      the last layer ("h V + c" in hand-outs)
    y  (n_out,)   y = softmax(o)                     elementwise + one sum
    l  ()         l = -log y_c = logsumexp(o) - o_c  cross_entropy (via log_softmax)

and backwards, layer by layer (``dk = dl/dk`` of the current layer, ``a`` its input)::

    dW (in, out)  dW = np.outer(a, dk)               outer product   (was: double loop over i, j)
    db (out,)     db = dk
    dh (in,)      dh = W @ dk                        matrix-vector   (was: sum over j)
    dk (in,)      dk = dh * f'(k, h)                 elementwise     (the activation's derivative)

``stage2_perinstance/README.md`` puts each line next to the stage-1 loop it replaces.

The activation is data, as in stage 1: :data:`ACTIVATIONS` maps "sigmoid", "relu" and "tanh" to
(function, derivative) pairs; each derivative is given ``k`` and ``h`` and uses the one it is
simplest in (``h (1 - h)``, ``[h > 0]`` (the same as ``[k > 0]``), ``1 - h^2``); the weights
name theirs (``shared.weights.activation_of``).

The output layer's gradient. The local derivatives are ``dy_i = dl/dy_i = -[i = c] / y_c`` and
the softmax Jacobian ``J_ij = dy_i/do_j = y_i ([i = j] - y_j)``, i.e. ``J = diag(y) - outer(y, y)``
(:func:`softmax_jacobian`), and the chain rule gives ``do = dy @ J`` (a vector-matrix product:
every ``y_i`` depends on every ``o_j``). Worked out by hand this is ``y - onehot(c)``
(:func:`softmax_cross_entropy_derivative`), which :func:`backward` uses by default (``fused``, as
in every rung); ``fused=False`` goes through the Jacobian, and the tests check both agree.

Numerical safety: no overflow for any finite input (tested with inputs of +-1e6 and warnings
turned into errors): :func:`sigmoid` is ``0.5 (1 + tanh(k / 2))`` (``tanh`` never overflows),
:func:`softmax` and :func:`log_softmax` subtract the largest logit before ``exp``, and the loss
is computed from ``log_softmax`` (``-log y_c`` of an underflowed ``y_c = 0`` would be inf; the
log-softmax stays finite). Unlike stage 1, the loss is therefore not capped at ``-log TINY``.

Arrays are float64 unless a ``dtype`` is asked for (the weights' dtype decides: ``x`` is cast to
it). What this stage leaves out: batches as one matrix computation (stage 3) - here ``N`` samples
cost ``N`` passes through Python, and a mini-batch is a sum of per-sample gradients.
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any

import numpy as np

from shared.weights import DEFAULT_ACTIVATION, LEAKY_SLOPE, activation_of, to_arrays, validate
from shared.weights import init_weights as _init_weights_lists

#: The smallest positive normal float64. The Jacobian path clamps ``y`` to it (as stage 1 does),
#: so ``-1 / y_c`` stays finite when ``y_c`` underflowed.
TINY = sys.float_info.min


# --------------------------------------------------------------------------- weights
def as_arrays(weights: dict, dtype: Any = None) -> dict:
    """The weights (lists or arrays, shared format) as a new structure of numpy arrays, checked
    by ``shared.weights.to_arrays`` (shapes against ``sizes``, finite values, the activation).

    ``dtype=None`` keeps the dtype of float arrays that are passed in and makes float64 from
    lists. Always copies, so the caller's weights are never changed by training.
    """
    if dtype is None:
        W0 = weights["layers"][0]["W"] if weights.get("layers") else None
        is_float = isinstance(W0, np.ndarray) and np.issubdtype(W0.dtype, np.floating)
        dtype = W0.dtype if is_float else np.float64
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type such as float64 or float32, got {dtype}")
    return to_arrays(weights, dtype=dtype)


def init_weights(sizes, rng: random.Random | np.random.Generator, dtype: Any = "float64",
                 std: float | None = None, activation: str = DEFAULT_ACTIVATION) -> dict:
    """Random initial weights for ``sizes`` as arrays: normal, standard deviation ``std``
    (``None``: ``1 / sqrt(fan_in)`` per layer), biases zero, hidden ``activation``.

    ``rng`` a ``random.Random``: the shared draw of ``shared.weights.init_weights`` - the same
    numbers as every other stage from the same seed (pure Python, slow for big layers).
    ``rng`` an ``np.random.Generator``: a fast numpy draw (``rng.standard_normal((in, out))``
    per layer, in layer order); same distribution, different numbers.
    """
    if isinstance(rng, random.Random):
        return as_arrays(_init_weights_lists(sizes, rng, std=std, activation=activation),
                         dtype=dtype)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a random.Random or a numpy Generator "
                        "(np.random.default_rng(seed)), got " + type(rng).__name__)
    sizes = [int(n) for n in sizes]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        s = 1.0 / math.sqrt(n_in) if std is None else float(std)
        layers.append({"W": (s * rng.standard_normal((n_in, n_out))).astype(dtype),
                       "b": np.zeros(n_out, dtype=dtype)})
    return validate({"sizes": sizes, "activation": activation, "layers": layers})


# --------------------------------------------------------------------------- activations
def sigmoid(k: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-k))`` elementwise, written ``0.5 (1 + tanh(k / 2))`` (the same function;
    ``tanh`` saturates at +-1 instead of overflowing, and it is one numpy call). Accurate to
    ~2e-16 absolute; far in the negative tail (``h < 1e-9``) the relative error grows, which no
    gradient here notices. k (n,) -> h (n,)."""
    return 0.5 * (1.0 + np.tanh(0.5 * k))


def sigmoid_derivative(h: np.ndarray) -> np.ndarray:
    """``dh/dk = h (1 - h)`` elementwise, from the forward's output ``h`` (n,) -> (n,)."""
    return h * (1.0 - h)


def relu(k: np.ndarray) -> np.ndarray:
    """``max(0, k)`` elementwise. k (n,) -> h (n,)."""
    return np.maximum(k, 0.0)


def relu_derivative(h: np.ndarray) -> np.ndarray:
    """``dh/dk = [k > 0]``, read off the output: ``h > 0`` exactly when ``k > 0`` (0 at
    ``k = 0``). h (n,) -> (n,) in h's dtype."""
    return (h > 0).astype(h.dtype)


def tanh(k: np.ndarray) -> np.ndarray:
    """``tanh(k)`` elementwise (saturates at +-1, never overflows). k (n,) -> h (n,)."""
    return np.tanh(k)


def tanh_derivative(h: np.ndarray) -> np.ndarray:
    """``dh/dk = 1 - tanh(k)^2 = 1 - h^2``, from the forward's output ``h`` (n,) -> (n,)."""
    return 1.0 - h * h


def leaky_relu(k: np.ndarray) -> np.ndarray:
    """``k`` where ``k > 0``, else ``0.01 k`` (the weight format's ``LEAKY_SLOPE``). k (n,) ->
    h (n,)."""
    return np.where(k > 0, k, LEAKY_SLOPE * k)


def leaky_relu_derivative(k: np.ndarray) -> np.ndarray:
    """``dh/dk = 1`` where ``k > 0``, else the slope 0.01. k (n,) -> (n,)."""
    return np.where(k > 0, 1.0, LEAKY_SLOPE).astype(k.dtype)


#: name -> (``h = f(k)``, ``dh/dk = f'(k, h)``), one entry per name of
#: ``shared.weights.ACTIVATIONS``. The derivative is given both the pre-activation ``k`` and the
#: output ``h`` (n,); each formula uses the one it is simplest in.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda k, h: sigmoid_derivative(h)),
    "relu": (relu, lambda k, h: relu_derivative(h)),
    "tanh": (tanh, lambda k, h: tanh_derivative(h)),
    "leaky_relu": (leaky_relu, lambda k, h: leaky_relu_derivative(k)),
}


# --------------------------------------------------------------------------- linear layer
def linear(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``k_j = sum_i x_i W_ij + b_j`` for all j at once: the vector-matrix product ``x @ W``.
    x (in,), W (in, out), b (out,) -> k (out,)."""
    return x @ W + b


def linear_backward(x: np.ndarray, W: np.ndarray, dk: np.ndarray, input_grad: bool = True):
    """The local derivatives of :func:`linear` times the upstream gradient ``dk = dl/dk`` (out,)::

        dl/dW_ij = x_i dl/dk_j          dW = np.outer(x, dk)   (in, out)  outer product
        dl/db_j  = dl/dk_j              db = dk                (out,)
        dl/dx_i  = sum_j W_ij dl/dk_j   dx = W @ dk            (in,)      matrix-vector product

    Returns ``(dW, db, dx)``; ``dx`` is None when ``input_grad`` is False.
    """
    dW = np.outer(x, dk)
    db = dk.copy()
    dx = W @ dk if input_grad else None
    return dW, db, dx


# --------------------------------------------------------------------------- softmax
def softmax(o: np.ndarray) -> np.ndarray:
    """``y_i = exp(o_i) / sum_j exp(o_j)``, computed with ``o - max(o)`` (every ``exp`` of a
    number <= 0: no overflow). o (K,) -> y (K,)."""
    e = np.exp(o - o.max())
    return e / e.sum()


def log_softmax(o: np.ndarray) -> np.ndarray:
    """``log y_i = o_i - log sum_j exp(o_j)``, computed as ``(o_i - m) - log sum_j exp(o_j - m)``
    with ``m = max(o)``: finite for every finite ``o`` (the sum is >= 1). o (K,) -> (K,)."""
    z = o - o.max()
    return z - np.log(np.exp(z).sum())


def softmax_jacobian(y: np.ndarray) -> np.ndarray:
    """``J[i, j] = dy_i/do_j = y_i ([i = j] - y_j)``, i.e. ``diag(y) - outer(y, y)``.
    y (K,) -> J (K, K), symmetric."""
    return np.diag(y) - np.outer(y, y)


# --------------------------------------------------------------------------- cross-entropy
def cross_entropy(o: np.ndarray, c: int) -> float:
    """``l = -log y_c`` for the logits ``o`` (K,) and the integer class ``c``, as
    ``-log_softmax(o)[c]`` (finite even when ``y_c`` underflows to 0)."""
    return float(-log_softmax(o)[c])


def cross_entropy_derivative(y: np.ndarray, c: int) -> np.ndarray:
    """``dl/dy_i = -1 / y_c`` for ``i = c``, 0 otherwise. y (K,) -> (K,). ``y_c`` is clamped to
    at least the smallest normal number of y's dtype (``TINY`` in float64) so the value stays
    finite."""
    dy = np.zeros_like(y)
    dy[c] = -1.0 / max(y[c], np.finfo(y.dtype).tiny)
    return dy


def softmax_cross_entropy_derivative(y: np.ndarray, c: int) -> np.ndarray:
    """The fused shortcut ``dl/do = y - onehot(c)`` (= ``cross_entropy_derivative(y, c) @
    softmax_jacobian(y)``, worked out by hand: ``-(1/y_c) y_c ([c = j] - y_j)``). y (K,) -> (K,)."""
    do = y.copy()
    do[c] -= 1.0
    return do


# --------------------------------------------------------------------------- the network
def forward(weights: dict, x: np.ndarray) -> dict:
    """One sample through the network, keeping every intermediate: the one forward pass of this
    stage (training, evaluation, :func:`predict_proba` and the in-place path of ``fast.py`` all
    call it).

    ``weights`` holds arrays (see :func:`as_arrays`); ``x`` (n_in,) is cast to their dtype.
    Returns ``{"x": x (n_in,), "k": [k (n_1,), ...], "h": [h (n_1,), ...], "o": o (n_out,),
    "y": y (n_out,)}``: one ``k`` and one ``h`` per hidden layer.
    """
    f, _ = ACTIVATIONS[activation_of(weights)]
    layers = weights["layers"]
    x = np.asarray(x, dtype=layers[0]["W"].dtype)
    ks, hs = [], []
    a = x  # the current layer's input: x, then each h in turn
    for layer in layers[:-1]:
        k = linear(a, layer["W"], layer["b"])
        h = f(k)
        ks.append(k)
        hs.append(h)
        a = h
    o = linear(a, layers[-1]["W"], layers[-1]["b"])
    y = softmax(o)
    return {"x": x, "k": ks, "h": hs, "o": o, "y": y}


def output_gradient(y: np.ndarray, c: int, fused: bool = True) -> np.ndarray:
    """``do = dl/do`` (K,): ``y - onehot(c)`` (``fused=True``) or, through the local derivatives,
    ``dy @ J`` with ``dy = cross_entropy_derivative(y, c)`` and ``J = softmax_jacobian(y)``
    (K, K), ``y`` clamped to the dtype's smallest normal number (``TINY`` in float64)."""
    if fused:
        return softmax_cross_entropy_derivative(y, c)
    y = np.maximum(y, np.finfo(y.dtype).tiny)
    return cross_entropy_derivative(y, c) @ softmax_jacobian(y)


def backward(weights: dict, cache: dict, c: int, fused: bool = True,
             input_grad: bool = True) -> tuple[dict, np.ndarray | None]:
    """The gradients of ``l = -log y_c`` for one sample, from :func:`forward`'s ``cache``.

    First ``do`` (:func:`output_gradient`); then, from the top layer down,
    :func:`linear_backward` gives ``dW = outer(a, dk)``, ``db = dk`` and ``dh = W @ dk`` for the
    layer's input ``a``, and ``dk = dh * f'(k, h)`` for the layer below (``f'`` the activation's
    derivative from :data:`ACTIVATIONS`).

    Returns ``(grads, dx)``: ``grads`` in the weight format (``W`` (in, out), ``b`` (out,) per
    layer) and ``dx = dl/dx`` (n_in,), or None when ``input_grad`` is False.
    """
    _, derivative = ACTIVATIONS[activation_of(weights)]
    layers = weights["layers"]
    inputs = [cache["x"]] + cache["h"]  # the input of layer i is inputs[i]
    grads: list = [None] * len(layers)
    dk = output_gradient(cache["y"], c, fused)  # dl/d(the current layer's linear output)
    for i in reversed(range(len(layers))):
        dW, db, dh = linear_backward(inputs[i], layers[i]["W"], dk,
                                     input_grad=i > 0 or input_grad)
        grads[i] = {"W": dW, "b": db}
        if i > 0:  # dh = dl/dh of hidden layer i-1: through its activation
            dk = dh * derivative(cache["k"][i - 1], inputs[i])
    return {"sizes": list(weights["sizes"]), "layers": grads}, dh  # dh of layer 0 is dx


def sample_loss_and_grads(weights: dict, x: np.ndarray, c: int, fused: bool = True,
                          input_grad: bool = True) -> tuple[float, dict, np.ndarray | None]:
    """Forward and backward for one sample: ``(l, grads, dx)``; x (n_in,), dx (n_in,)."""
    cache = forward(weights, x)
    grads, dx = backward(weights, cache, c, fused=fused, input_grad=input_grad)
    return cross_entropy(cache["o"], c), grads, dx


# --------------------------------------------------------------------------- checks
def check_inputs(weights: dict, X, c=None) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` as a 2-D array (N, n_in) and ``c`` as int64 (N,); raises ValueError saying what does
    not fit the network (wrong width, wrong count, a class out of range, a non-finite input)."""
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"X must have shape (N, {n_in}) for sizes {weights['sizes']}, "
                         f"got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        n = int(np.argwhere(~np.isfinite(X))[0, 0])
        raise ValueError(f"X holds a non-finite value (first in sample {n})")
    if c is None:
        return X, None
    c_arr = np.asarray(c)
    if c_arr.shape != (len(X),):
        raise ValueError(f"c must have shape ({len(X)},) (one class per sample), "
                         f"got shape {c_arr.shape}")
    if len(c_arr) and not np.issubdtype(c_arr.dtype, np.integer):
        if not np.all(c_arr == np.round(c_arr)):
            raise ValueError(f"classes must be integers, got {c_arr[c_arr != np.round(c_arr)][0]}")
    c_arr = c_arr.astype(np.int64)
    bad = (c_arr < 0) | (c_arr >= n_out)
    if bad.any():
        n = int(np.argmax(bad))
        raise ValueError(f"class {c_arr[n]} of sample {n} is not in 0..{n_out - 1}")
    return X, c_arr


def add_into(total: dict, grads: dict) -> dict:
    """``total += grads`` in place, layer by layer; returns ``total``."""
    for t, g in zip(total["layers"], grads["layers"]):
        t["W"] += g["W"]
        t["b"] += g["b"]
    return total


def divide(total: dict, m: int) -> dict:
    """``total /= m`` in place, layer by layer (a sum of ``m`` gradients -> their mean);
    returns ``total``."""
    if m > 1:
        for t in total["layers"]:
            t["W"] /= m
            t["b"] /= m
    return total


def mean_loss_and_grads(weights: dict, X: np.ndarray, c: np.ndarray, fused: bool = True,
                        input_grad: bool = True):
    """The mean loss over the N samples, the mean's gradients and dX, one sample at a time:
    ``sum_n`` of :func:`sample_loss_and_grads`, then divided by N. X (N, n_in), c (N,).
    dX (N, n_in) has row n equal to ``(1/N) dl_n/dx_n`` (None when ``input_grad`` is False)."""
    N = len(X)
    total_loss, total = 0.0, None
    dX = np.zeros_like(X, dtype=weights["layers"][0]["W"].dtype) if input_grad else None
    for n in range(N):
        loss, grads, dx = sample_loss_and_grads(weights, X[n], int(c[n]), fused=fused,
                                                input_grad=input_grad)
        total_loss += loss
        # the first sample's gradients are fresh arrays: sum into them
        total = grads if total is None else add_into(total, grads)
        if input_grad:
            dX[n] = dx
    divide(total, N)
    if input_grad and N > 1:
        dX /= N
    return total_loss / N, total, dX


# --------------------------------------------------------------------------- the ladder interface
def loss_and_grads(weights: dict, X, c, fused: bool = True, dtype: Any = None):
    """The ladder interface: mean cross-entropy over the N samples and its gradients.

    ``weights`` lists or arrays (shared format); X (N, n_in), c (N,) ints. Each sample goes
    through :func:`forward` / :func:`backward` on its own; the results are averaged. Returns
    ``(loss, grads, dX)``: the mean loss (float), its gradients in the weight format (arrays),
    dX (N, n_in) with row n equal to ``(1/N) dl_n/dx_n``.
    """
    w = as_arrays(weights, dtype)
    X, c = check_inputs(w, X, c)
    if len(X) == 0:
        raise ValueError("loss_and_grads needs at least one sample, X is empty")
    return mean_loss_and_grads(w, X, c, fused=fused)


def sgd_update(weights: dict, grads: dict, lr: float) -> None:
    """``W <- W - lr dW`` and ``b <- b - lr db`` for every layer, in place."""
    for layer, g in zip(weights["layers"], grads["layers"]):
        layer["W"] -= lr * g["W"]
        layer["b"] -= lr * g["b"]


def sgd_train(weights: dict, X, c, lr: float, batch_size: int = 1, fused: bool = True,
              dtype: Any = None, losses: list | None = None) -> dict:
    """The ladder interface: plain SGD over the samples in the given order (no shuffling).

    One update per consecutive group of ``batch_size`` samples (the last group may be smaller):
    the per-sample gradients of the group are added up and divided by the group's size, then
    ``w <- w - lr * mean``: the same update as stage 3 with a mini-batch of ``batch_size``.
    X (N, n_in), c (N,). Returns new weights (arrays); the input is not mutated. When a list is
    passed as ``losses``, the mean loss of each group (before its update) is appended to it.
    """
    if batch_size != int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    w = as_arrays(weights, dtype)  # a copy: updated in place below
    X, c = check_inputs(w, X, c)
    batch_size = int(batch_size)
    for start in range(0, len(X), batch_size):
        loss, grads, _ = mean_loss_and_grads(w, X[start:start + batch_size],
                                             c[start:start + batch_size], fused=fused,
                                             input_grad=False)
        if losses is not None:
            losses.append(loss)
        sgd_update(w, grads, lr)
    return w


def predict_proba(weights: dict, X, dtype: Any = None) -> np.ndarray:
    """The ladder interface: softmax probabilities y (N, n_out) for X (N, n_in), one row per
    :func:`forward`."""
    w = as_arrays(weights, dtype)
    X, _ = check_inputs(w, X)
    Y = np.empty((len(X), w["sizes"][-1]), dtype=w["layers"][0]["W"].dtype)
    for n in range(len(X)):
        Y[n] = forward(w, X[n])["y"]
    return Y
