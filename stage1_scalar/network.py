"""Stage 1: the network one scalar at a time, with Python lists and the ``math`` module only.

The bottom rung of the ladder. Sizes ``[n_in, n_1, ..., n_out]``: every hidden layer is a linear
layer followed by an activation (sigmoid by default; relu and tanh as well), the output layer is
a linear layer followed by a softmax, and the loss of one sample with integer target class ``c``
is the cross-entropy ``l = -log y_c``.

For one sample (all plain lists of floats; lengths in brackets)::

    x  (n_in)                                    the input (X (N, n_in): a list of samples)
    k  (n_i)     k_j = sum_i x_i W_ij + b_j        linear          (one k per hidden layer)
    h  (n_i)     h_j = f(k_j)                      the activation  (one h per hidden layer)
    o  (n_out)   o_j = sum_i h_i W_ij + b_j        linear (the last layer; "h V + c" in hand-outs)
    y  (n_out)   y_i = exp(o_i) / sum_j exp(o_j)   softmax
    l  ()        l = -log y_c                      cross_entropy

Gradients are named ``d<name>`` = ``dl/d<name>``: ``dk, dh, do, dy, dW, db, dx``. Every forward
function sits next to its local derivative (``sigmoid`` / ``sigmoid_derivative``, ``softmax`` /
``softmax_jacobian``, ``cross_entropy`` / ``cross_entropy_derivative``, ``linear`` /
``linear_backward``), and :func:`backward` strings them together with the multivariate chain
rule in explicit loops, exactly as ``stage1_scalar/README.md`` derives it. The output gradient
is the fused ``do = y - onehot(c)`` by default (``fused=True``, as in every rung);
``fused=False`` goes through ``dy`` and the softmax Jacobian, one local derivative at a time.

The activation is data: :data:`ACTIVATIONS` maps each name of the weight format
(``shared.weights.ACTIVATIONS``) to a (function, derivative) pair, and the weights say which one
they use (``shared.weights.activation_of``). Each derivative takes what the backward pass has
at hand, the forward's output ``h``: ``h (1 - h)`` for sigmoid, ``1 - h^2`` for tanh, and for
relu ``[h > 0]``, which equals ``[k > 0]`` (0 at ``k = 0``, the subgradient PyTorch uses).

Weights follow ``shared/weights.py``: ``{"sizes": [...], "layers": [{"W": (in, out) list of
lists, "b": (out) list}, ...], "activation": name}``; gradients use the same structure.

Numerical safety (no OverflowError or math domain error for any finite input):

* :func:`sigmoid` only ever calls ``exp`` of a non-positive number (``tanh`` and relu cannot
  overflow);
* :func:`softmax` subtracts the largest logit before ``exp`` and clamps every probability to at
  least ``TINY`` (the smallest positive normal float, about 2.2e-308). A probability that
  underflowed to 0 therefore stays a positive float, so ``-log y_c`` and ``dl/dy_c = -1/y_c`` are
  finite. The price: the loss of a hopeless prediction is capped at ``-log TINY ~= 708.4``; the
  gradient stays right (the Jacobian path still gives ``y - onehot(c)``).

What this stage leaves out: vectors and matrices as objects (stage 2), batches as one computation
(stage 3). Every multiply-add here is interpreted Python on a boxed float, so the cost grows with
the number of weights far faster than in the numpy rungs: fine for the hand-out's 2-3-2 network
and the synthetic data, hours per epoch at MNIST size. :mod:`stage1_scalar.unrolled` writes the
same equations out one scalar per line for a fixed network and trains to bitwise the same weights.
"""

from __future__ import annotations

import math
import sys

from shared.weights import LEAKY_SLOPE, activation_of, to_lists, validate

#: The smallest positive normal float; softmax probabilities are clamped to at least this.
TINY = sys.float_info.min


# --------------------------------------------------------------------------- activations
def sigmoid(k: float) -> float:
    """``1 / (1 + exp(-k))`` without overflow: ``exp`` only ever sees ``-|k|``."""
    if k >= 0:
        return 1.0 / (1.0 + math.exp(-k))
    e = math.exp(k)  # k < 0: exp(k) is in (0, 1), no overflow; exp(-k) could overflow
    return e / (1.0 + e)


def sigmoid_derivative(h: float) -> float:
    """``dh/dk = sigmoid(k) (1 - sigmoid(k)) = h (1 - h)``, from the forward's output ``h``."""
    return h * (1.0 - h)


def relu(k: float) -> float:
    """``max(0, k)``."""
    return k if k > 0.0 else 0.0


def relu_derivative(h: float) -> float:
    """``dh/dk = [k > 0]``, read off the output: ``h > 0`` exactly when ``k > 0``."""
    return 1.0 if h > 0.0 else 0.0


def tanh(k: float) -> float:
    """``(e^k - e^-k) / (e^k + e^-k)`` (``math.tanh``: saturates at +-1, never overflows)."""
    return math.tanh(k)


def tanh_derivative(h: float) -> float:
    """``dh/dk = 1 - tanh(k)^2 = 1 - h^2``, from the forward's output ``h``."""
    return 1.0 - h * h


def leaky_relu(k: float) -> float:
    """``k`` for ``k > 0``, else ``0.01 k`` (the weight format's ``LEAKY_SLOPE``)."""
    return k if k > 0.0 else LEAKY_SLOPE * k


def leaky_relu_derivative(k: float) -> float:
    """``dh/dk = 1`` for ``k > 0``, else the slope 0.01 (read off ``k``: ``h`` has k's sign)."""
    return 1.0 if k > 0.0 else LEAKY_SLOPE


#: name -> (``h = f(k)``, ``dh/dk = f'(k, h)``), one entry per name of
#: ``shared.weights.ACTIVATIONS``. The derivative is given both the pre-activation ``k`` and the
#: output ``h``; each formula uses the one it is simplest in.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda k, h: sigmoid_derivative(h)),
    "relu": (relu, lambda k, h: relu_derivative(h)),
    "tanh": (tanh, lambda k, h: tanh_derivative(h)),
    "leaky_relu": (leaky_relu, lambda k, h: leaky_relu_derivative(k)),
}


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
    y (K) -> dy (K)."""
    return [-1.0 / y_c if i == c else 0.0 for i, y_c in enumerate(y)]


def softmax_cross_entropy_derivative(y: list[float], c: int) -> list[float]:
    """The fused shortcut ``dl/do_j = y_j - [j = c]`` (= ``y - onehot(c)``), the product of
    :func:`cross_entropy_derivative` and :func:`softmax_jacobian` worked out by hand.
    y (K) -> do (K)."""
    return [y_j - (1.0 if j == c else 0.0) for j, y_j in enumerate(y)]


# --------------------------------------------------------------------------- the network
def forward(weights: dict, x: list[float]) -> dict:
    """One sample through the network, keeping every intermediate.

    Returns ``{"x": x (n_in), "k": [k (n_1), ..., k (n_L-1)], "h": [h (n_1), ...],
    "o": o (n_out), "y": y (n_out)}``: one ``k`` and one ``h`` per hidden layer.
    """
    f, _ = ACTIVATIONS[activation_of(weights)]
    layers = weights["layers"]
    ks, hs = [], []
    a = x  # the current layer's input: x, then each h in turn
    for layer in layers[:-1]:
        k = linear(a, layer["W"], layer["b"])
        h = [f(k_j) for k_j in k]
        ks.append(k)
        hs.append(h)
        a = h
    o = linear(a, layers[-1]["W"], layers[-1]["b"])
    y = softmax(o)
    return {"x": x, "k": ks, "h": hs, "o": o, "y": y}


def output_gradient(y: list[float], c: int, fused: bool = True) -> list[float]:
    """``do = dl/do`` (K). ``fused=True``: ``y - onehot(c)``. ``fused=False``: through the local
    derivatives, ``do_j = sum_i dy_i dy_i/do_j`` (every ``y_i`` depends on ``o_j``: a sum over
    ``i``) with ``dy = cross_entropy_derivative(y, c)`` and ``dy_i/do_j = J[i][j]``."""
    if fused:
        return softmax_cross_entropy_derivative(y, c)
    dy = cross_entropy_derivative(y, c)
    J = softmax_jacobian(y)
    return [sum([dy_i * J_i[j] for dy_i, J_i in zip(dy, J)]) for j in range(len(y))]


def backward(weights: dict, cache: dict, c: int, fused: bool = True,
             input_grad: bool = True) -> tuple[dict, list[float] | None]:
    """The gradients of ``l = -log y_c`` for one sample, by the multivariate chain rule.

    ``cache`` is what :func:`forward` returned for this sample. First ``do`` (see
    :func:`output_gradient`), then layer by layer from the top: :func:`linear_backward` gives
    ``dW, db`` and ``dh`` of the layer below, and ``dk_j = dh_j * f'(k_j, h_j)`` (``h_j`` depends on
    ``k_j`` only: no sum), ``f'`` the activation's derivative from :data:`ACTIVATIONS` (each
    formula uses whichever of ``k_j`` and ``h_j`` it needs).

    Returns ``(grads, dx)``: ``grads`` in the weight format (``dW`` (in, out), ``db`` (out) per
    layer) and ``dx = dl/dx`` (n_in), or None when ``input_grad`` is False.
    """
    _, derivative = ACTIVATIONS[activation_of(weights)]
    layers = weights["layers"]
    inputs = [cache["x"]] + cache["h"]  # the input of layer i is inputs[i]
    grads = [None] * len(layers)
    dk = output_gradient(cache["y"], c, fused)  # dl/d(the current layer's linear output)
    for i in reversed(range(len(layers))):
        dW, db, dh = linear_backward(inputs[i], layers[i]["W"], dk,
                                     input_grad=i > 0 or input_grad)
        grads[i] = {"W": dW, "b": db}
        if i > 0:  # dh = dl/dh of hidden layer i-1: through its activation to dl/dk
            k, h = cache["k"][i - 1], inputs[i]
            dk = [dh_j * derivative(k_j, h_j) for dh_j, k_j, h_j in zip(dh, k, h)]
    return {"sizes": list(weights["sizes"]), "layers": grads}, dh  # dh of layer 0 is dx


# --------------------------------------------------------------------------- checks
def check_inputs(weights: dict, X, c=None) -> None:
    """Check ``weights`` against the weight format (``shared.weights.validate``) and raise
    ValueError naming the first sample whose length, value or class does not fit them."""
    validate(weights)
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    if c is not None and len(X) != len(c):
        raise ValueError(f"X has {len(X)} samples but c has {len(c)} classes")
    for n, x in enumerate(X):
        if len(x) != n_in:
            raise ValueError(f"sample {n} has {len(x)} features, the network takes {n_in}")
        if not all(math.isfinite(x_i) for x_i in x):
            raise ValueError(f"sample {n} holds a non-finite value: {list(x)}")
    for n, c_n in enumerate(c or []):
        if c_n != int(c_n) or not 0 <= c_n < n_out:
            raise ValueError(f"class {c_n!r} of sample {n} is not an integer in 0..{n_out - 1}")


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


def _mean_loss_and_grads(weights, X, c, fused=True, input_grad=True):
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
                   fused: bool = True) -> tuple[float, dict, list[list[float]]]:
    """The ladder interface: mean cross-entropy over the N samples and its gradients.

    X (N, n_in) list of lists, c (N) ints. Returns ``(loss, grads, dX)``: the mean loss (float),
    its gradients in the weight format, and dX (N, n_in) with row n equal to
    ``(1/N) dl_n/dx_n``. ``fused=False`` goes through the softmax Jacobian instead of
    ``do = y - onehot(c)``.
    """
    if len(X) == 0:
        raise ValueError("loss_and_grads needs at least one sample, X is empty")
    check_inputs(weights, X, c)
    return _mean_loss_and_grads(weights, X, [int(v) for v in c], fused=fused)


def sgd_update(weights: dict, grads: dict, lr: float) -> None:
    """``w <- w - lr * dl/dw`` for every weight and bias, in place (both in the weight format)."""
    for layer, g in zip(weights["layers"], grads["layers"]):
        for W_i, dW_i in zip(layer["W"], g["W"]):
            for j, dW_ij in enumerate(dW_i):
                W_i[j] -= lr * dW_ij
        b = layer["b"]
        for j, db_j in enumerate(g["b"]):
            b[j] -= lr * db_j


def sgd_train(weights: dict, X: list[list[float]], c: list[int], lr: float,
              batch_size: int = 1, fused: bool = True, losses: list | None = None) -> dict:
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


def predict_proba(weights: dict, X: list[list[float]]) -> list[list[float]]:
    """The ladder interface: softmax probabilities y (N, n_out) for X (N, n_in)."""
    check_inputs(weights, X)
    return [forward(weights, x)["y"] for x in X]
