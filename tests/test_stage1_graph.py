"""Stage 1's computation graph: every label in the DOT text against what network.py computes.

Oracles: ``network.forward`` for the values, ``network.backward(..., fused=False)`` for the
gradients of weights, biases and inputs, the identities ``dl/dk = dl/db`` (a bias reaches its k
with derivative 1) and ``dl/dh = W dl/dk`` (``linear_backward``) for the hidden values, and the
local derivatives written out here for the edges. Labels carry 4 significant digits, so values
are compared to a relative 5e-4.
"""

import html
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scalar_problems import problem

from shared import weights as wf
from shared.errors import ConfigError
from stage1_scalar import graph, network

ROOT = Path(__file__).resolve().parents[1]
RTOL, ATOL = 5e-4, 1e-12

NODE = re.compile(r'^\s*(\w+) \[label="([^"]*)"', re.M)
EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label="?([^"\]]+)"?\]', re.M)
LABEL = re.compile(r"^(.*) = (\S+)\ngrad (\S+)$")


def parse(source: str):
    """``({node: (value, grad)}, {(u, v): local derivative})`` from DOT text."""
    nodes = {}
    for name, label in NODE.findall(source):
        m = LABEL.match(label)
        assert m, f"label of {name} is not '<name> = <value>\\ngrad <grad>': {label!r}"
        nodes[name] = (float(m.group(2)), float(m.group(3)))
    edges = {(u, v): float(d) for u, v, d in EDGE.findall(source)}
    return nodes, edges


def expected(weights, x, c):
    """Every node's (value, grad) and every edge's local derivative, from network.py."""
    _, derivative = network.ACTIVATIONS[wf.activation_of(weights)]
    cache = network.forward(weights, x)
    grads, dx = network.backward(weights, cache, c, fused=False)
    layers, L = weights["layers"], len(weights["layers"])
    y = cache["y"]
    nodes = {f"x{i}": (v, dx[i]) for i, v in enumerate(x)}
    edges = {}
    a_names, a = [f"x{i}" for i in range(len(x))], x
    for l_, layer in enumerate(layers):
        db = grads["layers"][l_]["b"]
        last = l_ == L - 1
        outs = [f"o{j}" if last else f"k{l_}_{j}" for j in range(len(db))]
        vals = cache["o"] if last else cache["k"][l_]
        for j, name in enumerate(outs):
            nodes[name] = (vals[j], db[j])  # dl/dk_j = dl/db_j
            nodes[f"b{l_}_{j}"] = (layer["b"][j], db[j])
            edges[(f"b{l_}_{j}", name)] = 1.0
            for i in range(len(a)):
                nodes[f"W{l_}_{i}_{j}"] = (layer["W"][i][j], grads["layers"][l_]["W"][i][j])
                edges[(f"W{l_}_{i}_{j}", name)] = a[i]
                edges[(a_names[i], name)] = layer["W"][i][j]
        if not last:
            h = cache["h"][l_]
            _, _, dh = network.linear_backward(h, layers[l_ + 1]["W"],
                                               grads["layers"][l_ + 1]["b"])
            for j, (k_j, h_j) in enumerate(zip(cache["k"][l_], h)):
                nodes[f"h{l_}_{j}"] = (h_j, dh[j])
                edges[(outs[j], f"h{l_}_{j}")] = derivative(k_j, h_j)
            a_names, a = [f"h{l_}_{j}" for j in range(len(h))], h
    dy = network.cross_entropy_derivative(y, c)
    for i, y_i in enumerate(y):
        nodes[f"y{i}"] = (y_i, dy[i])
        for j, y_j in enumerate(y):
            edges[(f"o{j}", f"y{i}")] = y_i * ((i == j) - y_j)
    nodes["loss"] = (network.cross_entropy(y, c), 1.0)
    edges[(f"y{c}", "loss")] = -1.0 / y[c]
    return nodes, edges


def cases():
    w, x, c = wf.worked_example()
    yield "worked-example", w, x, c
    for act, sizes, seed in (("tanh", [3, 4, 3], 1), ("relu", [2, 3, 2, 3], 2),
                             ("sigmoid", [2, 2, 2, 2], 3)):
        w, X, cc = problem(sizes, n=1, seed=seed, activation=act)
        yield f"{act}-{sizes}", w, X[0], cc[0]


@pytest.mark.parametrize("name, weights, x, c", list(cases()), ids=[n for n, *_ in cases()])
def test_every_value_gradient_and_local_derivative_in_the_dot_text(name, weights, x, c):
    nodes, edges = parse(graph.build(weights, x, c).source)
    want_nodes, want_edges = expected(weights, x, c)
    assert set(nodes) == set(want_nodes)
    assert len(nodes) == graph.count_nodes(weights["sizes"])
    assert set(edges) == set(want_edges)
    for key in want_nodes:
        np.testing.assert_allclose(nodes[key], want_nodes[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: node {key} (value, grad)")
    for key in want_edges:
        np.testing.assert_allclose(edges[key], want_edges[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: edge {key}")


def test_worked_example_shows_the_handouts_numbers():
    nodes, edges = parse(graph.build(*wf.worked_example()).source)
    assert len(nodes) == 30 and len(edges) == 6 + 6 + 3 + 3 + 6 + 6 + 2 + 4 + 1
    assert nodes["h0_1"] == (0.8808, 0.0) and nodes["loss"] == (0.6931, 1.0)
    assert nodes["W1_2_1"] == (-1.0, 0.4404) and nodes["b1_0"] == (0.0, -0.5)
    assert nodes["y0"] == (0.5, -2.0) and edges[("y0", "loss")] == -2.0
    assert edges[("k0_0", "h0_0")] == 0.105  # sigmoid'(2) = h (1 - h)


def test_networks_above_the_limit_are_refused_with_the_count(tmp_path):
    assert graph.count_nodes([2, 3, 2]) == 30
    with pytest.raises(ConfigError, match=r"\[4, 8, 3\] has 94 scalar nodes.*up to 60"):
        graph.check_size([4, 8, 3])
    big = tmp_path / "big.json"
    wf.save_json(problem([4, 8, 3], n=1, seed=0)[0], big)
    r = subprocess.run([sys.executable, "-m", "stage1_scalar", "graph", "--weights", str(big),
                        "--x", "1", "2", "3", "4", "--out", str(tmp_path / "g.svg")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "has 94 scalar nodes" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "g.svg").exists()


def test_without_dot_the_dot_file_is_written_with_one_line_on_rendering(tmp_path, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    lines = []
    dot = graph.build(*wf.worked_example())
    path = graph.write(dot, tmp_path / "graph.svg", "svg", log=lines.append)
    assert path == tmp_path / "graph.dot" and not (tmp_path / "graph.svg").exists()
    assert path.read_text() == dot.source
    assert len(lines) == 1 and f"dot -Tsvg {path} -o {tmp_path / 'graph.svg'}" in lines[0]


@pytest.mark.skipif(graph.shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cli_renders_svg_and_writes_dot(tmp_path):
    out = tmp_path / "wx.svg"
    r = subprocess.run([sys.executable, "-m", "stage1_scalar", "graph", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "<svg" in out.read_text() and "(30 scalar nodes)" in r.stdout
    r = subprocess.run([sys.executable, "-m", "stage1_scalar", "graph", "--activation", "tanh",
                        "--x", "0.5", "-1", "--target", "1", "--format", "dot", "--out",
                        str(tmp_path / "t.dot")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    nodes, _ = parse((tmp_path / "t.dot").read_text())
    w = {**wf.worked_example()[0], "activation": "tanh"}
    np.testing.assert_allclose(nodes["h0_0"][0], np.tanh(0.5 * 1 + -1 * -1), rtol=RTOL)
    assert nodes["loss"][0] == pytest.approx(
        network.cross_entropy(network.forward(w, [0.5, -1.0])["y"], 1), rel=RTOL)


def test_the_committed_figure_shows_the_worked_example():
    """stage1_scalar/worked_example.svg is the current graph: every node label is in it."""
    svg = html.unescape((ROOT / "stage1_scalar" / "worked_example.svg").read_text())
    labels = NODE.findall(graph.build(*wf.worked_example()).source)
    assert len(labels) == 30
    for _, label in labels:
        for part in label.split("\n"):
            assert f">{part}</text>" in svg, part
