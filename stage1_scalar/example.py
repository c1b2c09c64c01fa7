"""The worked example, printed: one forward pass and one backward pass, every value on show.

:func:`explain` runs :func:`stage1_scalar.network.forward` and the step-by-step backward for one
sample and formats every intermediate: the forward values ``k, h`` (per hidden layer), ``o, y``
and the loss, then each local derivative and each chain-rule product down to ``dl/dW, dl/db`` of
every layer and ``dl/dx``. For the hand-out's 2-3-2 network (:func:`shared.weights.worked_example`)
the layers are named as in the hand-out (``W, b`` then ``V, c``); deeper networks number them.

It recomputes the backward pass in the open (the same calls :func:`~stage1_scalar.network.backward`
makes with ``fused=False``) so that it can print the pieces; the tests check the pieces against
``backward`` itself. The hidden activation is the weights' own (``"activation"``: sigmoid, relu or
tanh). What it leaves out: batches and training (``python -m stage1_scalar train``).
"""

from __future__ import annotations

from shared.weights import activation_of

from .network import (
    ACTIVATIONS,
    cross_entropy,
    cross_entropy_derivative,
    forward,
    linear_backward,
    softmax_cross_entropy_derivative,
    softmax_jacobian,
)

#: How the printout writes each activation's derivative, in terms of its output h.
DERIVATIVE_TEXT = {"sigmoid": "{h}(1 - {h})", "tanh": "1 - {h}^2", "relu": "[{h} > 0]",
                   "leaky_relu": "(1 if {h} > 0 else 0.01)"}


def _num(v: float, decimals: int) -> str:
    return f"{v + 0.0:.{decimals}f}"  # + 0.0 turns -0.0 into 0.0


def fmt(value, decimals: int = 4, indent: int = 0) -> str:
    """A float, a list (one line) or a list of lists (one row per line, aligned) as text."""
    if isinstance(value, (int, float)):
        return _num(float(value), decimals)
    if value and isinstance(value[0], (list, tuple)):
        rows = [[_num(v, decimals) for v in row] for row in value]
        width = max(len(s) for row in rows for s in row)
        lines = ["[" + ", ".join(s.rjust(width) for s in row) + "]" for row in rows]
        pad = " " * (indent + 1)
        return "[" + (",\n" + pad).join(lines) + "]"
    return "[" + ", ".join(_num(v, decimals) for v in value) + "]"


def layer_names(sizes: list[int]) -> list[tuple[str, str]]:
    """``(weight name, bias name)`` per layer: the hand-out's ``W, b, V, c`` for one hidden
    layer, else ``W1, b1, W2, b2, ...``."""
    if len(sizes) == 3:
        return [("W", "b"), ("V", "c")]
    return [(f"W{i}", f"b{i}") for i in range(1, len(sizes))]


def explain(weights: dict, x: list[float], c: int, decimals: int = 4) -> str:
    """The forward and backward pass of one sample, as printable text (see the module doc)."""
    return explain_with_grads(weights, x, c, decimals)[0]


def explain_with_grads(weights: dict, x: list[float], c: int, decimals: int = 4):
    """``(text, grads, dx)``: :func:`explain`'s text, and the gradients it printed (the weight
    format) and ``dx``, so that tests can hold them against ``network.backward``."""
    act = activation_of(weights)
    sizes, layers = list(weights["sizes"]), weights["layers"]
    names = layer_names(sizes)
    L = len(layers)
    hidden = [""] if L == 2 else [str(i) for i in range(1, L)]  # k, h or k1, h1, k2, ...
    out = []

    def line(label: str, value, note: str = "") -> None:
        head = f"  {label:<30} = "
        text = fmt(value, decimals, indent=len(head))
        out.append(head + text + (f"    ({note})" if note else ""))

    out.append(f"Network sizes {sizes}: {act} hidden layers, softmax output, "
               "cross-entropy loss l = -log y_c")
    out.append(f"Input x = {fmt(x, decimals)}, target class {c}")
    out.append("Weights (in, out):")
    for (wn, bn), layer in zip(names, layers):
        line(wn, layer["W"])
        line(bn, layer["b"])
    cache = forward(weights, x)
    out += ["", "Forward"]
    _forward_lines(line, cache, names, hidden, act, c)
    out += ["", "Backward: local derivatives, then the multivariate chain rule"]
    do = _output_gradient_lines(line, cache["y"], c)
    grads, dx = _backward_lines(line, weights, cache, names, hidden, [x] + cache["h"], do)
    out += ["", "Gradients of the loss (what SGD subtracts, times the learning rate):"]
    for (wn, bn), (dW, db) in zip(names, grads):
        line(f"dl/d{wn}", dW)
        line(f"dl/d{bn}", db)
    layers_out = [{"W": dW, "b": db} for dW, db in grads]
    return "\n".join(out), {"sizes": sizes, "layers": layers_out}, dx


def _forward_lines(line, cache: dict, names, hidden, act: str, c: int) -> None:
    """k, h of every hidden layer, then o, y and the loss."""
    a_name = "x"
    for i in range(len(names) - 1):
        wn, bn = names[i]
        line(f"k{hidden[i]} = {a_name} {wn} + {bn}", cache["k"][i], "linear")
        line(f"h{hidden[i]} = {act}(k{hidden[i]})", cache["h"][i], act)
        a_name = f"h{hidden[i]}"
    wn, bn = names[-1]
    line(f"o = {a_name} {wn} + {bn}", cache["o"], "linear")
    line("y = softmax(o)", cache["y"], "softmax")
    line(f"l = -log y_{c}", cross_entropy(cache["y"], c), "cross_entropy")


def _output_gradient_lines(line, y: list[float], c: int) -> list[float]:
    """dl/dy, the softmax Jacobian, dl/do through it and fused; returns dl/do."""
    dy = cross_entropy_derivative(y, c)
    J = softmax_jacobian(y)
    do = [sum(dy[i] * J[i][j] for i in range(len(y))) for j in range(len(y))]
    line("dl/dy", dy, "cross_entropy_derivative: -1/y_c at c, else 0")
    line("dy/do  (J[i][j] = dy_i/do_j)", J, "softmax_jacobian: y_i (delta_ij - y_j)")
    line("dl/do_j = sum_i dl/dy_i J[i][j]", do, "chain rule")
    line("dl/do = y - onehot(c)", softmax_cross_entropy_derivative(y, c), "fused shortcut")
    return do


def _backward_lines(line, weights: dict, cache: dict, names, hidden, inputs, do):
    """Layer by layer from the top: dW, db, dh, then through the activation's derivative;
    returns ``([(dW, db) per layer], dx)``."""
    act = activation_of(weights)
    _, derivative = ACTIVATIONS[act]
    layers, L = weights["layers"], len(weights["layers"])
    dk, dx, grads = do, None, [None] * L
    for i in reversed(range(L)):
        wn, bn = names[i]
        k_name = "o" if i == L - 1 else f"k{hidden[i]}"
        a_name = "x" if i == 0 else f"h{hidden[i - 1]}"
        dW, db, dh = linear_backward(inputs[i], layers[i]["W"], dk)
        grads[i] = (dW, db)
        line(f"dl/d{wn}_ij = {a_name}_i dl/d{k_name}_j", dW, "linear_backward")
        line(f"dl/d{bn} = dl/d{k_name}", db, "linear_backward")
        line(f"dl/d{a_name}_i = sum_j {wn}_ij dl/d{k_name}_j", dh, "linear_backward")
        if i == 0:
            dx = dh
            continue
        dh_dk = [derivative(k_j, h_j) for k_j, h_j in zip(cache["k"][i - 1], inputs[i])]
        dk = [dh_j * d_j for dh_j, d_j in zip(dh, dh_dk)]
        k_below = f"k{hidden[i - 1]}"
        line(f"d{a_name}/d{k_below} = " + DERIVATIVE_TEXT[act].format(h=a_name), dh_dk,
             f"{act}_derivative")
        line(f"dl/d{k_below} = dl/d{a_name} * d{a_name}/d{k_below}", dk, "chain rule")
    return grads, dx
