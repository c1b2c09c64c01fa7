"""Stage 1: the network one scalar at a time, with Python lists and the ``math`` module only.

The bottom rung of the ladder. Sizes ``[n_in, n_1, ..., n_out]``: every hidden layer is a linear
layer followed by a sigmoid, the output layer is a linear layer followed by a softmax, and the
loss of one sample with integer target class ``c`` is the cross-entropy ``l = -log y_c``.

For one sample (all plain lists of floats; shapes in brackets)::

    x  (n_in)                                  the input
    k  (n_i)     k_j = sum_i x_i W_ij + b_j      linear          (one k per hidden layer)
    h  (n_i)     h_j = sigmoid(k_j)              sigmoid         (one h per hidden layer)
    o  (n_out)   o_j = sum_i h_i W_ij + b_j      linear (the last layer; "h V + c" in the hand-out)
    y  (n_out)   y_i = exp(o_i) / sum_j exp(o_j) softmax
    l  ()        l = -log y_c                    cross_entropy

Every forward function sits next to its local derivative (``sigmoid`` / ``sigmoid_derivative``,
``softmax`` / ``softmax_jacobian``, ``cross_entropy`` / ``cross_entropy_derivative``, ``linear``
/ ``linear_backward``), and :func:`backward` strings them together with the multivariate chain
rule in explicit loops, exactly as ``stage1_scalar/README.md`` derives it. The fused shortcut
``dl/do = y - onehot(c)`` (:func:`softmax_cross_entropy_derivative`) is there too, as an option.

Weights follow ``shared/weights.py``: ``{"sizes": [...], "layers": [{"W": (in, out) list of
lists, "b": (out) list}, ...]}``; gradients use the same structure.

Numerical safety (no OverflowError or math domain error for any finite input):

* :func:`sigmoid` only ever calls ``exp`` of a non-positive number;
* :func:`softmax` subtracts the largest logit before ``exp`` and clamps every probability to at
  least ``TINY`` (the smallest positive normal float, about 2.2e-308). A probability that
  underflowed to 0 therefore stays a positive float, so ``-log y_c`` and ``dl/dy_c = -1/y_c`` are
  finite. The price: the loss of a hopeless prediction is capped at ``-log TINY ~= 708.4``; the
  gradient stays right (the Jacobian path still gives ``y - onehot(c)``).

What this stage leaves out: vectors and matrices as objects (stage 2), batches as one computation
(stage 3). It is slow, and slower the bigger the network: at 784-300-10 (MNIST) one training step
(forward, backward, update) takes about 0.03-0.06 s and a forward pass about 0.01-0.02 s
(Python 3.11, one core of a shared machine; ``python -m stage1_scalar.benchmark --mnist``
measures it), so an epoch of 60,000 images would take 30-60 minutes where numpy takes seconds.
Why: a step is some 700,000 multiply-adds (235,200 weights, each touched by the forward
``k = x W + b``, the gradient ``dW_ij = x_i dk_j`` and the update ``W - lr dW``), and each one
here is interpreted bytecode on a boxed Python float, where numpy runs the same arithmetic in
compiled loops over contiguous memory. On the 2-3-2
network a step takes about 20 microseconds (about 5-7x faster than micrograd, see
``stage1_scalar/benchmark.py``); :mod:`stage1_scalar.unrolled` writes the same equations out one
scalar per line for a fixed network and trains to bitwise the same weights several times faster.
"""

from __future__ import annotations

import math
import sys

from shared.weights import to_lists, validate

#: The smallest positive normal float; softmax probabilities are clamped to at least this.
TINY = sys.float_info.min


# --------------------------------------------------------------------------- sigmoid
def sigmoid(k: float) -> float:
    """``1 / (1 + exp(-k))`` without overflow: ``exp`` only ever sees ``-|k|``."""
    if k >= 0:
        return 1.0 / (1.0 + math.exp(-k))
    e = math.exp(k)  # k < 0: exp(k) is in (0, 1), no overflow; exp(-k) could overflow
    return e / (1.0 + e)


def sigmoid_derivative(h: float) -> float:
    """``dh/dk = sigmoid(k) (1 - sigmoid(k)) = h (1 - h)``, from the forward's output ``h``."""
    return h * (1.0 - h)


# --------------------------------------------------------------------------- linear layer
def linear(x: list[float], W: list[list[float]], b: list[float]) -> list[float]:
    """``k_j = sum_i x_i W_ij + b_j``. x (in), W (in, out), b (out) -> k (out)."""
    k = list(b)
    for x_i, W_i in zip(x, W):  # add x_i times row i of W
        k = [k_j + x_i * W_ij for k_j, W_ij in zip(k, W_i)]
    return k


def linear_backward(x: list[float], W: list[list[float]], dk: list[float],
                    input_grad: bool = True):
    """The local derivatives of :func:`linear` times the upstream gradient ``dk = dl/dk`` (out).

    ``dk_j/dW_ij = x_i``, ``dk_j/db_j = 1`` and ``dk_j/dx_i = W_ij``, so (chain rule)::

        dl/dW_ij = x_i dl/dk_j          dW (in, out)
        dl/db_j  = dl/dk_j              db (out)
        dl/dx_i  = sum_j W_ij dl/dk_j   dx (in)   (x_i reaches every k_j: a sum over j)

    Returns ``(dW, db, dx)``; ``dx`` is None when ``input_grad`` is False (the first layer during
    training needs no input gradient).
    """
    dW = [[x_i * dk_j for dk_j in dk] for x_i in x]
    db = list(dk)
    dx = None
    if input_grad:
        dx = [sum([W_ij * dk_j for W_ij, dk_j in zip(W_i, dk)]) for W_i in W]
    return dW, db, dx


# --------------------------------------------------------------------------- softmax
def softmax(o: list[float]) -> list[float]:
    """``y_i = exp(o_i) / sum_j exp(o_j)``, computed as ``exp(o_i - m) / sum_j exp(o_j - m)``
    with ``m = max(o)`` (equal in exact arithmetic; every ``exp`` is of a number <= 0, so none
    overflows). Each ``y_i`` is clamped to at least ``TINY`` so that a probability which
    underflowed to 0 keeps ``log y_i`` and ``1 / y_i`` finite. o (K) -> y (K)."""
    m = max(o)
    e = [math.exp(o_i - m) for o_i in o]
    s = sum(e)  # >= 1: the largest term is exp(0)
    return [max(e_i / s, TINY) for e_i in e]


def softmax_jacobian(y: list[float]) -> list[list[float]]:
    """``J[i][j] = dy_i/do_j = y_i (delta_ij - y_j)``: ``y_i (1 - y_i)`` on the diagonal,
    ``-y_i y_j`` off it. y (K) -> J (K, K)."""
    return [[y_i * ((1.0 if i == j else 0.0) - y_j) for j, y_j in enumerate(y)]
            for i, y_i in enumerate(y)]


# --------------------------------------------------------------------------- cross-entropy
def cross_entropy(y: list[float], c: int) -> float:
    """``l = -log y_c`` for the integer target class ``c``. Finite: :func:`softmax` keeps
    ``y_c >= TINY``, so ``l <= -log TINY ~= 708.4``."""
    return -math.log(y[c])


def cross_entropy_derivative(y: list[float], c: int) -> list[float]:
    """``dl/dy_i = -1 / y_c`` for ``i = c`` and ``0`` otherwise (only ``y_c`` is in the loss).
    y (K) -> dl/dy (K)."""
    return [-1.0 / y_c if i == c else 0.0 for i, y_c in enumerate(y)]


def softmax_cross_entropy_derivative(y: list[float], c: int) -> list[float]:
    """The fused shortcut ``dl/do_j = y_j - [j = c]`` (= ``y - onehot(c)``), the product of
    :func:`cross_entropy_derivative` and :func:`softmax_jacobian` worked out by hand.
    y (K) -> dl/do (K)."""
    return [y_j - (1.0 if j == c else 0.0) for j, y_j in enumerate(y)]


# --------------------------------------------------------------------------- the network
def forward(weights: dict, x: list[float]) -> dict:
    """One sample through the network, keeping every intermediate.

    Returns ``{"x": x (n_in), "k": [k (n_1), ..., k (n_L-1)], "h": [h (n_1), ...],
    "o": o (n_out), "y": y (n_out)}``: one ``k`` and one ``h`` per hidden layer.
    """
    layers = weights["layers"]
    ks, hs = [], []
    a = x  # the current layer's input: x, then each h in turn
    for layer in layers[:-1]:
        k = linear(a, layer["W"], layer["b"])
        h = [sigmoid(k_j) for k_j in k]
        ks.append(k)
        hs.append(h)
        a = h
    o = linear(a, layers[-1]["W"], layers[-1]["b"])
    y = softmax(o)
    return {"x": x, "k": ks, "h": hs, "o": o, "y": y}


def backward(weights: dict, cache: dict, c: int, fused: bool = False,
             input_grad: bool = True) -> tuple[dict, list[float] | None]:
    """The gradients of ``l = -log y_c`` for one sample, by the multivariate chain rule.

    ``cache`` is what :func:`forward` returned for this sample. With ``fused=False`` (the default)
    the output goes through the local derivatives one at a time::

        dl/dy_i = cross_entropy_derivative(y, c)_i
        dl/do_j = sum_i dl/dy_i dy_i/do_j         (every y_i depends on o_j: a sum over i)

    with ``dy_i/do_j = softmax_jacobian(y)[i][j]``; ``fused=True`` uses
    ``dl/do = y - onehot(c)`` instead (same numbers up to rounding). Then, layer by layer from the
    top: ``linear_backward`` gives ``dW, db`` and ``dl/dh`` of the layer below, and
    ``dl/dk_j = dl/dh_j * sigmoid_derivative(h_j)`` (``h_j`` depends on ``k_j`` only: no sum).

    Returns ``(grads, dx)``: ``grads`` in the weight format (``dW`` (in, out), ``db`` (out) per
    layer) and ``dx = dl/dx`` (n_in), or None when ``input_grad`` is False.
    """
    y = cache["y"]
    if fused:
        do = softmax_cross_entropy_derivative(y, c)
    else:
        dy = cross_entropy_derivative(y, c)
        J = softmax_jacobian(y)
        do = [sum([dy_i * J_i[j] for dy_i, J_i in zip(dy, J)]) for j in range(len(y))]

    layers = weights["layers"]
    inputs = [cache["x"]] + cache["h"]  # the input of layer i is inputs[i]
    grads = [None] * len(layers)
    dk = do  # the upstream gradient of the current layer's linear output
    dx = None
    for i in reversed(range(len(layers))):
        need_dx = i > 0 or input_grad
        dW, db, da = linear_backward(inputs[i], layers[i]["W"], dk, input_grad=need_dx)
        grads[i] = {"W": dW, "b": db}
        if i > 0:  # da = dl/dh of hidden layer i-1: through its sigmoid to dl/dk
            h = inputs[i]
            dk = [da_j * sigmoid_derivative(h_j) for da_j, h_j in zip(da, h)]
        else:
            dx = da
    return {"sizes": list(weights["sizes"]), "layers": grads}, dx


# --------------------------------------------------------------------------- checks
def check_inputs(weights: dict, X, c=None) -> None:
    """Check ``weights`` against the weight format (``shared.weights.validate``) and raise
    ValueError naming the first sample whose length or class does not fit them."""
    validate(weights)
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    if c is not None and len(X) != len(c):
        raise ValueError(f"X has {len(X)} samples but c has {len(c)} classes")
    for n, x in enumerate(X):
        if len(x) != n_in:
            raise ValueError(f"sample {n} has {len(x)} features, the network takes {n_in}")
    if c is not None:
        for n, c_n in enumerate(c):
            if c_n != int(c_n) or not 0 <= c_n < n_out:
                raise ValueError(f"class {c_n!r} of sample {n} is not an integer in "
                                 f"0..{n_out - 1}")


# --------------------------------------------------------------------------- the ladder interface
def _add_into(total: dict, grads: dict) -> None:
    """``total += grads``, layer by layer (both in the weight format)."""
    for t, g in zip(total["layers"], grads["layers"]):
        t["W"] = [[a + b for a, b in zip(tW_i, gW_i)] for tW_i, gW_i in zip(t["W"], g["W"])]
        t["b"] = [a + b for a, b in zip(t["b"], g["b"])]


def _scale(grads: dict, s: float) -> None:
    """``grads *= s`` in place."""
    for g in grads["layers"]:
        g["W"] = [[s * v for v in row] for row in g["W"]]
        g["b"] = [s * v for v in g["b"]]


def _mean_loss_and_grads(weights, X, c, fused=False, input_grad=True):
    """Mean loss over the N samples, the mean's gradients, and dX (row n = (1/N) dl_n/dx_n)."""
    N = len(X)
    total_loss, total, dX = 0.0, None, []
    for x, c_n in zip(X, c):
        cache = forward(weights, x)
        total_loss += cross_entropy(cache["y"], c_n)
        grads, dx = backward(weights, cache, c_n, fused=fused, input_grad=input_grad)
        if total is None:
            total = grads
        else:
            _add_into(total, grads)
        dX.append(dx)
    if N > 1:
        _scale(total, 1.0 / N)
        if input_grad:
            dX = [[v / N for v in dx] for dx in dX]
    return total_loss / N, total, dX


def loss_and_grads(weights: dict, X: list[list[float]], c: list[int],
                   fused: bool = False) -> tuple[float, dict, list[list[float]]]:
    """The ladder interface: mean cross-entropy over the N samples and its gradients.

    X (N, n_in) list of lists, c (N) ints. Returns ``(loss, grads, dX)``: the mean loss (float),
    its gradients in the weight format, and dX (N, n_in) with row n equal to
    ``(1/N) dl_n/dx_n``. ``fused=True`` uses ``dl/do = y - onehot(c)`` instead of the softmax
    Jacobian.
    """
    if len(X) == 0:
        raise ValueError("loss_and_grads needs at least one sample, X is empty")
    check_inputs(weights, X, c)
    return _mean_loss_and_grads(weights, X, [int(v) for v in c], fused=fused)


def sgd_train(weights: dict, X: list[list[float]], c: list[int], lr: float,
              batch_size: int = 1, fused: bool = False, losses: list | None = None) -> dict:
    """The ladder interface: plain SGD over the samples in the given order (no shuffling).

    One update per consecutive group of ``batch_size`` samples (the last group may be smaller):
    ``w <- w - lr * (mean gradient of the group)``. X (N, n_in), c (N). Returns new weights; the
    input ``weights`` is not mutated. When a list is passed as ``losses``, the mean loss of each
    group (before its update) is appended to it, for learning curves.
    """
    if batch_size < 1 or batch_size != int(batch_size):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    check_inputs(weights, X, c)
    c = [int(v) for v in c]
    w = to_lists(weights)  # a private copy, updated in place below
    for start in range(0, len(X), batch_size):
        loss, grads, _ = _mean_loss_and_grads(w, X[start:start + batch_size],
                                              c[start:start + batch_size],
                                              fused=fused, input_grad=False)
        if losses is not None:
            losses.append(loss)
        sgd_update(w, grads, lr)
    return w


def sgd_update(weights: dict, grads: dict, lr: float) -> None:
    """``w <- w - lr * dl/dw`` for every weight and bias, in place (both in the weight format)."""
    for layer, g in zip(weights["layers"], grads["layers"]):
        for W_i, dW_i in zip(layer["W"], g["W"]):
            for j, dW_ij in enumerate(dW_i):
                W_i[j] -= lr * dW_ij
        b = layer["b"]
        for j, db_j in enumerate(g["b"]):
            b[j] -= lr * db_j


def predict_proba(weights: dict, X: list[list[float]]) -> list[list[float]]:
    """The ladder interface: softmax probabilities y (N, n_out) for X (N, n_in)."""
    check_inputs(weights, X)
    return [forward(weights, x)["y"] for x in X]
