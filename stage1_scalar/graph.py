"""The computation graph of one sample, drawn: every scalar a node, every local derivative an edge.

Stage 1 computes the network one scalar at a time; this module draws exactly those scalars for
one sample ``x`` with target class ``c``. Nodes (boxes are inputs and parameters, ellipses are
computed values)::

    x_i                the inputs
    W_ij, b_j          each layer's weights and biases (the hand-out's W, b, V, c for 2-3-2)
    k_j, h_j           each hidden layer's pre-activation and activation
    o_j, y_j           the logits and the softmax probabilities
    l                  the loss -log y_c

Each node is labelled with its forward value and its gradient ``dl/d(node)``; each edge
``u -> v`` with the local derivative ``dv/du``. So the chain rule can be checked by eye: a
node's gradient is the sum, over its outgoing edges, of (edge label) x (gradient of the node the
edge points to). The edges and their labels::

    x_i  -> k_j   W_ij            W_ij -> k_j   x_i (the layer's input)      b_j -> k_j   1
    k_j  -> h_j   f'(k_j, h_j)  (h(1-h) for sigmoid, 1-h^2 for tanh, [h > 0] for relu)
    o_j  -> y_i   J_ij = y_i (delta_ij - y_j)                                y_c -> l     -1/y_c

(``l`` depends on ``y_c`` only, so the other probabilities have no edge to it and gradient 0.)
The gradients are those of the chain rule through the softmax Jacobian, as
``network.backward(..., fused=False)`` computes them.

:func:`build` returns a ``graphviz.Digraph`` (the ``graphviz`` Python package: it only writes
DOT text); :func:`write` renders it with Graphviz's ``dot`` program when that is installed and
otherwise writes the ``.dot`` file and says how to render it. Networks with more than
:data:`MAX_NODES` scalar nodes are refused: such a drawing is no longer readable.

Pure Python apart from the optional ``graphviz`` import (made when :func:`build` is called): no
numpy.
What it leaves out: batches (one sample only) and the weight update.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shared.errors import ConfigError
from shared.records import atomic_output
from shared.weights import activation_of

from .example import layer_names
from .network import (
    ACTIVATIONS,
    cross_entropy,
    cross_entropy_derivative,
    forward,
    linear_backward,
    output_gradient,
    softmax_jacobian,
)

#: The largest number of scalar nodes drawn (the worked example 2-3-2 has 30).
MAX_NODES = 60

#: Output formats: rendered by ``dot`` (svg, png) or the DOT text itself.
FORMATS = ("svg", "png", "dot")


def count_nodes(sizes: list[int]) -> int:
    """Scalar nodes of the graph of a network ``sizes``: inputs, every weight and bias, ``k`` and
    ``h`` per hidden unit, ``o`` and ``y`` per class, and the loss."""
    params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return sizes[0] + params + 2 * sum(sizes[1:-1]) + 2 * sizes[-1] + 1


def check_size(sizes: list[int]) -> None:
    """Raise ConfigError when the graph of ``sizes`` would have more than :data:`MAX_NODES`
    scalar nodes."""
    n = count_nodes(sizes)
    if n > MAX_NODES:
        raise ConfigError(f"the network {list(sizes)} has {n} scalar nodes; the graph is drawn "
                          f"only up to {MAX_NODES} (the worked example 2-3-2 has "
                          f"{count_nodes([2, 3, 2])}); use a smaller network")


def num(v: float) -> str:
    """A value as the graph shows it: 4 significant digits (the hand-out's 0.8808)."""
    return f"{v + 0.0:.4g}"  # + 0.0 turns -0.0 into 0.0


def gradients(weights: dict, x: list[float], c: int) -> dict:
    """Every value and gradient the graph shows, from ``network``'s own functions.

    Returns ``{"cache": forward(weights, x), "loss": l, "dy": dy (K), "do": do (K),
    "dk": [dk per hidden layer], "dh": [dh per hidden layer], "dx": dx (n_in),
    "layers": [{"W": dW, "b": db} per layer]}`` (``do`` through the softmax Jacobian).
    """
    _, derivative = ACTIVATIONS[activation_of(weights)]
    cache = forward(weights, x)
    layers = weights["layers"]
    inputs = [x] + cache["h"]
    out = {"cache": cache, "loss": cross_entropy(cache["y"], c),
           "dy": cross_entropy_derivative(cache["y"], c),
           "do": output_gradient(cache["y"], c, fused=False),
           "dk": [None] * (len(layers) - 1), "dh": [None] * (len(layers) - 1),
           "layers": [None] * len(layers)}
    dk = out["do"]
    for i in reversed(range(len(layers))):
        dW, db, dh = linear_backward(inputs[i], layers[i]["W"], dk)
        out["layers"][i] = {"W": dW, "b": db}
        if i > 0:
            out["dh"][i - 1] = dh
            dk = [dh_j * derivative(k_j, h_j)
                  for dh_j, k_j, h_j in zip(dh, cache["k"][i - 1], inputs[i])]
            out["dk"][i - 1] = dk
        else:
            out["dx"] = dh
    return out


#: Node kinds: (shape, fill colour) - inputs and parameters are boxes, computed values ellipses.
KINDS = {"input": ("box", "#e8f0fe"), "param": ("box", "#fff4e0"),
         "value": ("ellipse", "#eef7ee"), "loss": ("doubleoctagon", "#fde8e8")}


def _graphviz():
    """The ``graphviz`` Python package, or a ConfigError saying how to install it."""
    try:
        import graphviz
    except ImportError:
        raise ConfigError("drawing the graph needs the graphviz Python package: "
                          "pip install graphviz") from None
    return graphviz


def _digraph(graphviz, sizes: list[int], act: str, x: list[float], c: int):
    """An empty ``graphviz.Digraph`` in the graph's style, titled with the network, ``x``, ``c``."""
    dot = graphviz.Digraph("computation_graph", graph_attr={
        "rankdir": "LR", "ranksep": "1.1", "nodesep": "0.12", "fontname": "Helvetica",
        "label": f"network {sizes}, {act} hidden layers, x = [{', '.join(num(v) for v in x)}], "
                 f"class c = {c}: nodes show value and grad = dl/d(node), edges the local "
                 "derivative", "labelloc": "t", "fontsize": "12"})
    dot.attr("node", fontname="Helvetica", fontsize="10", margin="0.04,0.02")
    dot.attr("edge", fontname="Helvetica", fontsize="8", color="#777777", arrowsize="0.5")
    return dot


def _node(target, name: str, text: str, value: float, grad: float, kind: str) -> None:
    """Node ``name`` labelled ``<text> = <value>`` over ``grad <dl/d name>``, drawn as ``kind``."""
    shape, fill = KINDS[kind]
    target.node(name, f"{text} = {num(value)}\ngrad {num(grad)}", shape=shape, style="filled",
                fillcolor=fill)


def _edge(dot, u: str, v: str, local: float) -> None:
    """Edge ``u -> v`` labelled with the local derivative ``dv/du``."""
    dot.edge(u, v, label=num(local))


def _outputs(dot, g: dict, l_: int, sizes: list[int], hidden: list[str]) -> list[str]:
    """Layer ``l_``'s outputs (``k``, or ``o`` for the last layer) in one rank; their names."""
    last = l_ == len(sizes) - 2
    names = [f"o{j}" for j in range(sizes[-1])] if last else \
        [f"k{l_}_{j}" for j in range(sizes[l_ + 1])]
    values = g["cache"]["o"] if last else g["cache"]["k"][l_]
    grads = g["do"] if last else g["dk"][l_]
    with dot.subgraph() as s:
        s.attr(rank="same")
        for j, name in enumerate(names):
            text = f"o[{j}]" if last else f"k{hidden[l_]}[{j}]"
            _node(s, name, text, values[j], grads[j], "value")
    return names


def _parameters(dot, g: dict, l_: int, layer: dict, names, a, below, out: list[str]) -> None:
    """Layer ``l_``'s weights and biases, with edges from them and from its input to ``out``."""
    wn, bn = names[l_]
    for i, W_i in enumerate(layer["W"]):
        for j, W_ij in enumerate(W_i):
            pname = f"W{l_}_{i}_{j}"
            _node(dot, pname, f"{wn}[{i},{j}]", W_ij, g["layers"][l_]["W"][i][j], "param")
            _edge(dot, pname, out[j], a[i])  # dk_j/dW_ij = x_i
            _edge(dot, below[i], out[j], W_ij)  # dk_j/dx_i = W_ij
    for j, b_j in enumerate(layer["b"]):
        pname = f"b{l_}_{j}"
        _node(dot, pname, f"{bn}[{j}]", b_j, g["layers"][l_]["b"][j], "param")
        _edge(dot, pname, out[j], 1.0)


def _activations(dot, g: dict, l_: int, hidden: list[str], derivative, k_names: list[str]):
    """Hidden layer ``l_``'s activations ``h`` with their edges from ``k``; their names."""
    k, h = g["cache"]["k"][l_], g["cache"]["h"][l_]
    names = [f"h{l_}_{j}" for j in range(len(h))]
    for j, (k_j, h_j) in enumerate(zip(k, h)):
        _node(dot, names[j], f"h{hidden[l_]}[{j}]", h_j, g["dh"][l_][j], "value")
        _edge(dot, k_names[j], names[j], derivative(k_j, h_j))
    return names


def _softmax_and_loss(dot, g: dict, c: int) -> None:
    """The probabilities ``y`` with their edges from ``o``; the loss with its edge from ``y_c``."""
    y, J = g["cache"]["y"], softmax_jacobian(g["cache"]["y"])
    for i, y_i in enumerate(y):
        _node(dot, f"y{i}", f"y[{i}]", y_i, g["dy"][i], "value")
        for j in range(len(y)):
            _edge(dot, f"o{j}", f"y{i}", J[i][j])  # dy_i/do_j
    _node(dot, "loss", f"l = -log y[{c}]", g["loss"], 1.0, "loss")
    _edge(dot, f"y{c}", "loss", g["dy"][c])  # dl/dy_c = -1/y_c


def build(weights: dict, x: list[float], c: int):
    """The computation graph of sample ``x`` with class ``c`` as a ``graphviz.Digraph``.

    Node names: ``x{i}``, ``W{l}_{i}_{j}``, ``b{l}_{j}``, ``k{l}_{j}``, ``h{l}_{j}``, ``o{j}``,
    ``y{j}``, ``loss``; each label reads ``<name> = <value>`` over ``grad <dl/d name>``.
    """
    graphviz = _graphviz()
    sizes = [int(n) for n in weights["sizes"]]
    check_size(sizes)
    act = activation_of(weights)
    _, derivative = ACTIVATIONS[act]
    g = gradients(weights, x, c)
    L = len(weights["layers"])
    names = layer_names(sizes)
    hidden = [""] if L == 2 else [str(i) for i in range(1, L)]
    dot = _digraph(graphviz, sizes, act, x, c)
    for i, x_i in enumerate(x):
        _node(dot, f"x{i}", f"x[{i}]", x_i, g["dx"][i], "input")
    below = [f"x{i}" for i in range(sizes[0])]  # node names of the current layer's input
    a = x
    for l_, layer in enumerate(weights["layers"]):
        out = _outputs(dot, g, l_, sizes, hidden)
        _parameters(dot, g, l_, layer, names, a, below, out)
        if l_ < L - 1:
            below = _activations(dot, g, l_, hidden, derivative, out)
            a = g["cache"]["h"][l_]
    _softmax_and_loss(dot, g, c)
    return dot


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_output(path) as tmp:  # a temporary file, renamed into place once complete
        tmp.write_bytes(data)


def write(dot, out: str | os.PathLike, fmt: str = "svg", log=print) -> Path:
    """Write the graph to ``out`` in format ``fmt`` (svg, png or dot) and return the path.

    svg and png are rendered by Graphviz's ``dot`` program. Without it (``shutil.which("dot")``
    finds nothing) the DOT text goes to ``out`` with the suffix ``.dot`` instead, and one line
    says how to render it.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        _atomic_write(out, dot.source.encode())
        return out
    if shutil.which("dot") is None:
        dot_path = out.with_suffix(".dot")
        _atomic_write(dot_path, dot.source.encode())
        log(f"Graphviz's dot program was not found, so wrote the DOT text to {dot_path}; "
            f"render it with: dot -T{fmt} {dot_path} -o {out}")
        return dot_path
    _atomic_write(out, dot.pipe(format=fmt))
    return out
