"""Stage 1, unrolled: the same scalar maths as straight-line code, one equation per line.

:mod:`stage1_scalar.network` runs the derivation as loops over lists. That is general (any
sizes), but every scalar multiply-add also pays for the loop around it, the list it lands in and
the function call that holds the loop. For one fixed network those loops always unroll to the same
list of scalar equations: the program you would write out by hand for the hand-out's 2-3-2
network, ``k0_0 = b0_0 + x_0 * W0_0_0 + x_1 * W0_1_0`` and so on. This module writes that
program out for the given sizes (:func:`program`; ``python -m stage1_scalar unrolled`` prints
it), compiles it with Python's own ``compile`` and runs it (:func:`sgd_train_unrolled`).

Nothing new in the maths. Every generated line is one of ``network.py``'s equations for one
index, with the floating-point operations in the same order, so the weights after training are
*bitwise* equal to ``network.sgd_train`` with ``batch_size=1`` (the tests compare with ``==``).
The sigmoid is :func:`stage1_scalar.network.sigmoid` itself (called, not copied); the softmax is
written out as in :func:`~stage1_scalar.network.softmax` (largest logit subtracted, each
probability clamped to at least ``TINY``), so it is as overflow-safe as the loops.

Names in the generated program (``l`` is the layer, ``i`` its input, ``j`` its output index)::

    x_i                   the input (n_in)
    W{l}_{i}_{j}, b{l}_j  the weights and biases of layer l (W1, b1 of 2-3-2: the hand-out's V, c)
    k{l}_j, h{l}_j        pre-activation and sigmoid of hidden layer l
    o_j, e_j, s, y_j      logits, exp(o_j - max o), their sum, probabilities
    dy_j, J_{i}_{j}       dl/dy and the softmax Jacobian dy_i/do_j (Jacobian backward only)
    do_j, dh{l}_i, dk{l}_i   dl/do, dl/dh and dl/dk

What it adds: speed. The parameters live in local variables for the whole pass over the samples,
and each equation is a handful of bytecodes on floats, with no list, loop or call around it
(``python -m stage4_analysis.speed`` measures it against the loops and micrograd). What it leaves
out: mini-batches (per-sample SGD only), the input gradient ``dX``, activations other than the
sigmoid (weights with ``"activation": "relu"`` or ``"tanh"`` are refused; ``network.sgd_train``
trains them), and big networks: the program has about three lines per weight, so sizes above
:data:`MAX_PARAMETERS` parameters are refused (784-300-10 would be some 700,000 lines; use
``network.sgd_train`` there).
"""

from __future__ import annotations

import functools
import math

from shared.errors import ConfigError
from shared.weights import activation_of, count_parameters

from .network import TINY, check_inputs, sigmoid

#: Largest network (weights plus biases) :func:`program` writes out (784-25-10 has 19,885).
MAX_PARAMETERS = 20_000


# --------------------------------------------------------------------------- names
def _inputs(sizes: list[int], layer: int) -> list[str]:
    """The names of layer ``layer``'s inputs: ``x_i`` for the first, ``h{layer-1}_i`` after."""
    return [f"x_{i}" if layer == 0 else f"h{layer - 1}_{i}" for i in range(sizes[layer])]


def _outputs(sizes: list[int], layer: int) -> list[str]:
    """The names of layer ``layer``'s linear outputs: ``k{layer}_j``, or ``o_j`` for the last."""
    last = layer == len(sizes) - 2
    return [f"o_{j}" if last else f"k{layer}_{j}" for j in range(sizes[layer + 1])]


def _deltas(sizes: list[int], layer: int) -> list[str]:
    """dl/d(linear output) of layer ``layer``: ``do_j`` for the last, ``dk{layer}_j`` before."""
    return ["d" + name for name in _outputs(sizes, layer)]


def parameter_names(sizes: list[int]) -> list[str]:
    """Every parameter's name, in the order of :func:`flatten`: per layer ``W`` row by row
    (input i, then output j), then ``b``."""
    names = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        names += [f"W{layer}_{i}_{j}" for i in range(n_in) for j in range(n_out)]
        names += [f"b{layer}_{j}" for j in range(n_out)]
    return names


def flatten(weights: dict) -> list[float]:
    """The weight format as one flat list, in the order of :func:`parameter_names`."""
    flat = []
    for layer in weights["layers"]:
        for W_i in layer["W"]:
            flat.extend(W_i)
        flat.extend(layer["b"])
    return [float(v) for v in flat]


def unflatten(sizes: list[int], flat: list[float]) -> dict:
    """The inverse of :func:`flatten`: a flat list back into the weight format (a sigmoid
    network, the only kind the unrolled program trains)."""
    layers, pos = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = [list(flat[pos + i * n_out: pos + (i + 1) * n_out]) for i in range(n_in)]
        pos += n_in * n_out
        layers.append({"W": W, "b": list(flat[pos:pos + n_out])})
        pos += n_out
    return {"sizes": list(sizes), "activation": "sigmoid", "layers": layers}


# --------------------------------------------------------------------------- the equations
def forward_lines(sizes: list[int]) -> list[str]:
    """The forward pass, one equation per scalar (same order of operations as ``network``)::

        k_j = b_j + x_0 W_0j + x_1 W_1j + ...      linear            (then h_j = sigmoid(k_j))
        m = max(o);  e_j = exp(o_j - m);  s = e_0 + e_1 + ...;  y_j = max(e_j / s, TINY)
    """
    lines = []
    for layer in range(len(sizes) - 1):
        a, k = _inputs(sizes, layer), _outputs(sizes, layer)
        for j, k_j in enumerate(k):
            terms = "".join(f" + {a_i} * W{layer}_{i}_{j}" for i, a_i in enumerate(a))
            lines.append(f"{k_j} = b{layer}_{j}{terms}")
        if layer < len(sizes) - 2:
            lines += [f"h{layer}_{j} = sigmoid({k_j})" for j, k_j in enumerate(k)]
    K = range(sizes[-1])
    lines.append(f"m = max({', '.join(f'o_{j}' for j in K)})" if len(K) > 1 else "m = o_0")
    lines += [f"e_{j} = exp(o_{j} - m)" for j in K]
    lines.append("s = " + " + ".join(f"e_{j}" for j in K))
    lines += [f"y_{j} = max(e_{j} / s, TINY)" for j in K]
    return lines


def output_gradient_lines(sizes: list[int], fused: bool) -> list[str]:
    """``dl/do``. Through the chain rule (``fused=False``)::

        dy_i = -1 / y_c if i = c else 0                   cross_entropy_derivative
        J_i_j = y_i (delta_ij - y_j)                      softmax_jacobian
        do_j = dy_0 J_0_j + dy_1 J_1_j + ...              (every y_i depends on o_j)

    or with the fused shortcut ``do_j = y_j - [j = c]`` (``fused=True``).
    """
    K = range(sizes[-1])
    if fused:
        return [f"do_{j} = y_{j} - (1.0 if c == {j} else 0.0)" for j in K]
    lines = [f"dy_{i} = -1.0 / y_{i} if c == {i} else 0.0" for i in K]
    lines += [f"J_{i}_{j} = y_{i} * ({1.0 if i == j else 0.0} - y_{j})" for i in K for j in K]
    lines += [f"do_{j} = " + " + ".join(f"dy_{i} * J_{i}_{j}" for i in K) for j in K]
    return lines


def backward_lines(sizes: list[int]) -> list[str]:
    """From ``dl/do`` down through the hidden layers (``linear_backward`` then the sigmoid)::

        dh_i = W_i0 dk_0 + W_i1 dk_1 + ...      (h_i reaches every k_j of the layer above)
        dk_i = dh_i (h_i (1 - h_i))             sigmoid_derivative
    """
    lines = []
    for layer in reversed(range(1, len(sizes) - 1)):  # the layers that have a hidden input
        d = _deltas(sizes, layer)
        for i in range(sizes[layer]):
            lines.append(f"dh{layer - 1}_{i} = "
                         + " + ".join(f"W{layer}_{i}_{j} * {d_j}" for j, d_j in enumerate(d)))
        lines += [f"dk{layer - 1}_{i} = dh{layer - 1}_{i} * (h{layer - 1}_{i} * "
                  f"(1.0 - h{layer - 1}_{i}))" for i in range(sizes[layer])]
    return lines


def update_lines(sizes: list[int]) -> list[str]:
    """The SGD step with each gradient written in place: ``dl/dW_ij = a_i dk_j`` and
    ``dl/db_j = dk_j``, so ``W_ij -= lr * (a_i * dk_j)`` and ``b_j -= lr * dk_j``."""
    lines = []
    for layer in range(len(sizes) - 1):
        a, d = _inputs(sizes, layer), _deltas(sizes, layer)
        lines += [f"W{layer}_{i}_{j} -= lr * ({a_i} * {d_j})"
                  for i, a_i in enumerate(a) for j, d_j in enumerate(d)]
        lines += [f"b{layer}_{j} -= lr * {d_j}" for j, d_j in enumerate(d)]
    return lines


# --------------------------------------------------------------------------- the program
def _check_sizes(sizes) -> list[int]:
    sizes = [int(n) for n in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must be at least [n_in, n_out], all positive, got {sizes}")
    n = count_parameters(sizes)
    if n > MAX_PARAMETERS:
        raise ValueError(f"network {sizes} has {n:,} parameters; the unrolled program is written "
                         f"out only up to {MAX_PARAMETERS:,} (about three lines per parameter). "
                         f"Use stage1_scalar.network.sgd_train for a network this big")
    return sizes


def program(sizes, fused: bool = True, record_loss: bool = False) -> str:
    """The Python source of per-sample SGD for a network of these sizes.

    It defines ``train(params, X, C, lr, losses)``: ``params`` is :func:`flatten` of the weights,
    ``X`` (N, n_in) and ``C`` (N) the samples in order; it returns the trained parameters as a
    tuple in the same order. With ``record_loss`` it appends each sample's loss ``-log y_c``
    (before that sample's update) to the list ``losses``.
    """
    sizes = _check_sizes(sizes)
    names = parameter_names(sizes)
    inputs = ", ".join(_inputs(sizes, 0)) + ("," if sizes[0] == 1 else "")
    body = ["# forward", *forward_lines(sizes)]
    if record_loss:
        ys = ", ".join(f"y_{j}" for j in range(sizes[-1])) + ("," if sizes[-1] == 1 else "")
        body.append(f"losses.append(-log(({ys})[c]))")
    body += ["# backward", *output_gradient_lines(sizes, fused), *backward_lines(sizes),
             "# update", *update_lines(sizes)]
    backward = "fused y - onehot(c)" if fused else "softmax Jacobian"
    return "\n".join([
        "def train(params, X, C, lr, losses):",
        f'    """Per-sample SGD for network {sizes}, {backward} backward (generated by '
        f'stage1_scalar.unrolled)."""',
        f"    {', '.join(names)}, = params",
        f"    for ({inputs}), c in zip(X, C):",
        *(f"        {line}" for line in body),
        f"    return {', '.join(names)},",
        ""])


@functools.lru_cache(maxsize=32)
def _compiled(sizes: tuple[int, ...], fused: bool, record_loss: bool):
    """:func:`program`, compiled once per (sizes, fused, record_loss)."""
    source = program(list(sizes), fused=fused, record_loss=record_loss)
    namespace = {"exp": math.exp, "log": math.log, "sigmoid": sigmoid, "TINY": TINY}
    code = compile(source, f"<stage1_scalar.unrolled {list(sizes)}>", "exec")
    exec(code, namespace)  # defines train() from the source written above, nothing else
    return namespace["train"]


def sgd_train_unrolled(weights: dict, X: list[list[float]], c: list[int], lr: float,
                       fused: bool = True, losses: list | None = None) -> dict:
    """Per-sample SGD through the unrolled program: what ``network.sgd_train(weights, X, c, lr,
    batch_size=1, fused=fused, losses=losses)`` computes, bitwise, only faster.

    X (N, n_in), c (N) ints, in the order given (no shuffling). Returns new weights in the weight
    format; ``weights`` is not mutated. When a list is passed as ``losses``, each sample's loss
    (before its update) is appended to it. Raises ValueError for networks above
    :data:`MAX_PARAMETERS` and for inputs that do not fit the weights, ConfigError for an
    activation other than the sigmoid.
    """
    if activation_of(weights) != "sigmoid":
        raise ConfigError(f"the unrolled program is written for sigmoid hidden layers only, these "
                          f"weights use {activation_of(weights)}; train them with the loops of "
                          "network.py (without --unrolled)")
    if not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    check_inputs(weights, X, c)
    sizes = tuple(int(n) for n in weights["sizes"])
    train = _compiled(sizes, bool(fused), losses is not None)
    params = train(flatten(weights), X, [int(v) for v in c], lr, losses)
    return unflatten(list(sizes), list(params))
