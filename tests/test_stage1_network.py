"""Stage 1's maths: the worked example, every local derivative, the chain rule, numerical traps.

Oracles: the hand-out's numbers and their closed forms, central finite differences (of the loss,
and of each module with a random upstream gradient), the fused shortcut, and micrograd's autograd
when installed. numpy is used here only to compare; the code under test never imports it.
"""

import math
import random

import numpy as np
import pytest
from gradcheck import central_difference
from scalar_problems import problem

import stage1_scalar as s1
from shared import weights as wf
from stage1_scalar import network

HANDOUT = {
    "k": [2.0, 2.0, 2.0],
    "h": [0.8808] * 3,
    "o": [-0.8808, -0.8808],
    "y": [0.5, 0.5],
    "loss": 0.6931,
    "dc": [-0.5, 0.5],
    "dV": [[-0.4404, 0.4404]] * 3,
    "dW": [[0.0] * 3] * 2,
    "db": [0.0] * 3,
}


def mean_loss(weights, X, c):
    return sum(s1.cross_entropy(s1.forward(weights, x)["y"], c_n) for x, c_n in zip(X, c)) / len(X)


# --------------------------------------------------------------------------- the worked example
def test_worked_example_matches_the_handout_to_1e4():
    weights, x, c = wf.worked_example()
    cache = s1.forward(weights, x)
    loss, grads, dX = s1.loss_and_grads(weights, [x], [c])
    np.testing.assert_allclose(cache["k"][0], HANDOUT["k"], atol=1e-4)
    np.testing.assert_allclose(cache["h"][0], HANDOUT["h"], atol=1e-4)
    np.testing.assert_allclose(cache["o"], HANDOUT["o"], atol=1e-4)
    np.testing.assert_allclose(cache["y"], HANDOUT["y"], atol=1e-4)
    np.testing.assert_allclose(loss, HANDOUT["loss"], atol=1e-4)
    np.testing.assert_allclose(grads["layers"][1]["b"], HANDOUT["dc"], atol=1e-4)
    np.testing.assert_allclose(grads["layers"][1]["W"], HANDOUT["dV"], atol=1e-4)
    np.testing.assert_allclose(grads["layers"][0]["W"], HANDOUT["dW"], atol=1e-4)
    np.testing.assert_allclose(grads["layers"][0]["b"], HANDOUT["db"], atol=1e-4)
    np.testing.assert_allclose(dX, [[0.0, 0.0]], atol=1e-4)
    assert grads["sizes"] == [2, 3, 2]


def test_worked_example_closed_forms_to_1e12():
    weights, x, c = wf.worked_example()
    h = 1.0 / (1.0 + math.exp(-2.0))
    cache = s1.forward(weights, x)
    loss, grads, _ = s1.loss_and_grads(weights, [x], [c])
    np.testing.assert_allclose(cache["h"][0], [h] * 3, rtol=1e-12)
    np.testing.assert_allclose(cache["o"], [-h, -h], rtol=1e-12)
    np.testing.assert_allclose(loss, math.log(2.0), rtol=1e-12)
    dc = grads["layers"][1]["b"]
    np.testing.assert_allclose(dc, [-0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(grads["layers"][1]["W"], [[h * d for d in dc]] * 3, rtol=1e-12)
    assert grads["layers"][0]["W"] == [[0.0] * 3] * 2  # -0.0 == 0.0: exact zeros
    assert grads["layers"][0]["b"] == [0.0] * 3


# --------------------------------------------------------------------------- local derivatives
def central(f, v, eps=1e-6):
    return (f(v + eps) - f(v - eps)) / (2 * eps)


@pytest.mark.parametrize("k", [-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0])
def test_sigmoid_derivative_is_the_slope_of_sigmoid(k):
    h = s1.sigmoid(k)
    np.testing.assert_allclose(s1.sigmoid_derivative(h), central(s1.sigmoid, k),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(h, 1 / (1 + np.exp(-k)), rtol=1e-15)


def test_softmax_jacobian_by_finite_differences():
    rng = random.Random(3)
    o = [rng.gauss(0, 2) for _ in range(5)]
    y = s1.softmax(o)
    J = s1.softmax_jacobian(y)
    for j in range(5):
        def shifted(v, j=j):
            return s1.softmax(o[:j] + [v] + o[j + 1:])
        eps = 1e-6
        col = [(a - b) / (2 * eps) for a, b in zip(shifted(o[j] + eps), shifted(o[j] - eps))]
        np.testing.assert_allclose([J[i][j] for i in range(5)], col, rtol=1e-6, atol=1e-10)
    # the two cases of the derivation: y_i (1 - y_i) on the diagonal, -y_i y_j off it
    np.testing.assert_allclose([J[i][i] for i in range(5)], [v * (1 - v) for v in y],
                               rtol=1e-15)
    np.testing.assert_allclose(J[1][3], -y[1] * y[3], rtol=1e-15)
    np.testing.assert_allclose(np.sum(J, axis=1), 0.0, atol=1e-15)  # sum_j dy_i/do_j = 0


def test_cross_entropy_derivative_by_finite_differences():
    y = [0.1, 0.6, 0.3]
    for c in range(3):
        d = s1.cross_entropy_derivative(y, c)
        for i in range(3):
            def f(v, i=i, c=c):
                return s1.cross_entropy(y[:i] + [v] + y[i + 1:], c)
            np.testing.assert_allclose(d[i], central(f, y[i]), rtol=1e-6, atol=1e-12)
        assert d[c] == -1 / y[c] and sum(v != 0 for v in d) == 1


def test_linear_backward_by_finite_differences_with_random_upstream():
    rng = random.Random(4)
    x = [rng.gauss(0, 1) for _ in range(4)]
    W = [[rng.gauss(0, 1) for _ in range(3)] for _ in range(4)]
    b = [rng.gauss(0, 1) for _ in range(3)]
    g = [rng.gauss(0, 1) for _ in range(3)]  # upstream dl/dk: l = sum_j g_j k_j

    def loss(x, W, b):
        return sum(g_j * k_j for g_j, k_j in zip(g, s1.linear(x, W, b)))

    dW, db, dx = s1.linear_backward(x, W, g)
    eps = 1e-6
    for i in range(4):
        xp, xm = list(x), list(x)
        xp[i] += eps
        xm[i] -= eps
        np.testing.assert_allclose(dx[i], (loss(xp, W, b) - loss(xm, W, b)) / (2 * eps), rtol=1e-6)
        for j in range(3):
            Wp, Wm = [list(r) for r in W], [list(r) for r in W]
            Wp[i][j] += eps
            Wm[i][j] -= eps
            np.testing.assert_allclose(dW[i][j], (loss(x, Wp, b) - loss(x, Wm, b)) / (2 * eps),
                                       rtol=1e-6)
    np.testing.assert_allclose(db, g, rtol=1e-15)
    np.testing.assert_allclose(s1.linear(x, W, b), np.array(x) @ np.array(W) + b, rtol=1e-13)


def test_the_activation_table_has_every_name_of_the_weight_format():
    assert set(network.ACTIVATIONS) == set(wf.ACTIVATIONS)


@pytest.mark.parametrize("name", wf.ACTIVATIONS)
@pytest.mark.parametrize("k", [-30.0, -3.0, -0.5, 0.3, 0.7, 4.0, 30.0])
def test_each_activation_derivative_is_its_slope_from_the_output(name, k):
    """The table's derivative takes k and h = f(k) and must equal df/dk (central differences)."""
    f, derivative = network.ACTIVATIONS[name]
    np.testing.assert_allclose(derivative(k, f(k)), central(f, k), rtol=1e-6, atol=1e-10)


def test_activations_by_hand():
    assert s1.relu(-2.0) == 0.0 and s1.relu(3.5) == 3.5 and s1.relu(0.0) == 0.0
    assert s1.relu_derivative(0.0) == 0.0 and s1.relu_derivative(2.0) == 1.0
    np.testing.assert_allclose(s1.tanh(0.5), np.tanh(0.5), rtol=1e-15)
    np.testing.assert_allclose(s1.tanh_derivative(np.tanh(0.5)), 1 / np.cosh(0.5) ** 2,
                               rtol=1e-14)


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
@pytest.mark.parametrize("sizes", [[2, 3, 2], [3, 4, 5, 3]])
def test_the_printed_example_is_what_backward_computes(activation, sizes):
    from stage1_scalar.example import explain_with_grads

    weights, X, c = problem(sizes, n=1, seed=4, activation=activation)
    text, grads, dx = explain_with_grads(weights, X[0], c[0])
    ref, ref_dx = s1.backward(weights, s1.forward(weights, X[0]), c[0], fused=False)
    assert grads["layers"] == ref["layers"] and dx == ref_dx  # the same floats, exactly
    assert f"h{'' if len(sizes) == 3 else '1'} = {activation}(k" in text


# --------------------------------------------------------------------------- the chain rule
@pytest.mark.parametrize("sizes", [[2, 3, 2], [5, 7, 6, 4], [3, 4], [4, 9, 3]])
def test_jacobian_path_equals_fused_path(sizes):
    weights, X, c = problem(sizes, n=4, seed=len(sizes))
    la, ga, dXa = s1.loss_and_grads(weights, X, c, fused=False)
    lb, gb, dXb = s1.loss_and_grads(weights, X, c, fused=True)
    assert la == lb
    for A, B in zip(ga["layers"], gb["layers"]):
        np.testing.assert_allclose(A["W"], B["W"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(A["b"], B["b"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dXa, dXb, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
def test_finite_differences_of_every_weight_bias_and_input_on_a_deep_net(activation):
    weights, X, c = problem([5, 7, 6, 4], n=3, seed=21, activation=activation)
    loss, grads, dX = s1.loss_and_grads(weights, X, c)
    np.testing.assert_allclose(loss, mean_loss(weights, X, c), rtol=1e-15)
    eps = 1e-6
    checked = 0
    for li, layer in enumerate(weights["layers"]):
        for key in ("W", "b"):
            rows = layer[key] if key == "W" else [layer[key]]
            grows = grads["layers"][li][key] if key == "W" else [grads["layers"][li][key]]
            for row, grow in zip(rows, grows):
                for j in range(len(row)):
                    numeric = central_difference(lambda: mean_loss(weights, X, c), row, j, eps)
                    np.testing.assert_allclose(grow[j], numeric, rtol=1e-5,
                                               atol=1e-9, err_msg=f"layer {li} {key}")
                    checked += 1
    for n in range(len(X)):
        for i in range(5):
            numeric = central_difference(lambda: mean_loss(weights, X, c), X[n], i, eps)
            np.testing.assert_allclose(dX[n][i], numeric, rtol=1e-5, atol=1e-9,
                                       err_msg=f"dX[{n}][{i}]")
            checked += 1
    assert checked == 5 * 7 + 7 + 7 * 6 + 6 + 6 * 4 + 4 + 3 * 5


def test_micrograd_autograd_agrees():
    pytest.importorskip("micrograd")
    from stage4_analysis.speed.stage1 import MicrogradMLP

    weights, X, c = problem([5, 7, 6, 4], n=1, seed=8)
    _, grads, _ = s1.loss_and_grads(weights, X, c)
    for composed in (False, True):
        net = MicrogradMLP(weights, composed=composed)
        loss = net.loss(X[0], c[0])
        loss.backward()
        np.testing.assert_allclose(loss.data, s1.loss_and_grads(weights, X, c)[0], rtol=1e-13)
        for mg, g in zip(net.layers, grads["layers"]):
            np.testing.assert_allclose([[v.grad for v in row] for row in mg["W"]], g["W"],
                                       rtol=1e-10, atol=1e-15)
            np.testing.assert_allclose([v.grad for v in mg["b"]], g["b"], rtol=1e-10,
                                       atol=1e-15)


def test_runs_at_mnist_size():
    """784-300-10 works (slowly): spot-check some gradient entries by finite differences."""
    rng = random.Random(5)
    weights = wf.init_weights([784, 300, 10], rng)
    X = [[rng.random() for _ in range(784)]]
    c = [3]
    loss, grads, dX = s1.loss_and_grads(weights, X, c)
    assert len(grads["layers"][0]["W"]) == 784 and len(grads["layers"][0]["W"][0]) == 300
    eps = 1e-6
    for li, i, j in [(0, 100, 7), (1, 5, 3), (1, 299, 9)]:
        row = weights["layers"][li]["W"][i]
        numeric = central_difference(lambda: mean_loss(weights, X, c), row, j, eps)
        np.testing.assert_allclose(grads["layers"][li]["W"][i][j], numeric,
                                   rtol=1e-4, atol=1e-9)


# --------------------------------------------------------------------------- numerical traps
@pytest.mark.parametrize("k", [1e6, -1e6, 1e308, -1e308, 710.0, -710.0])
def test_sigmoid_never_overflows(k):
    h = s1.sigmoid(k)
    if abs(k) >= 1e6:
        assert h == (1.0 if k > 0 else 0.0)
        assert s1.sigmoid_derivative(h) == 0.0
    else:  # exp(-710) is a subnormal float, not 0: sigmoid(-710) = exp(-710) / (1 + ...)
        np.testing.assert_allclose(h, 1.0 if k > 0 else math.exp(k), rtol=1e-15)


def test_softmax_of_huge_logits():
    y = s1.softmax([1e308, -1e308, 0.0])
    assert y[0] == 1.0 and y[1] == s1.TINY and y[2] == s1.TINY
    assert math.isfinite(s1.cross_entropy(y, 1))


@pytest.mark.parametrize("sizes", [[2, 3, 2], [2, 2], [5, 7, 6, 4]])
@pytest.mark.parametrize("big", [1e6, -1e6])
def test_huge_inputs_give_finite_loss_and_gradients(sizes, big):
    weights, _, _ = problem(sizes, n=0, seed=2)
    rng = random.Random(9)
    X = [[big * rng.choice([1, -1]) for _ in range(sizes[0])] for _ in range(3)]
    for c_n in range(sizes[-1]):
        c = [c_n] * 3
        loss, grads, dX = s1.loss_and_grads(weights, X, c)
        lf, gf, dXf = s1.loss_and_grads(weights, X, c, fused=True)
        values = [loss] + [v for la in grads["layers"] for r in la["W"] for v in r]
        values += [v for la in grads["layers"] for v in la["b"]] + [v for r in dX for v in r]
        assert all(math.isfinite(v) for v in values)
        assert loss <= -math.log(s1.TINY) + 1e-9
        # the clamp keeps the Jacobian path right even where y_c underflowed
        for A, B in zip(grads["layers"], gf["layers"]):
            np.testing.assert_allclose(A["W"], B["W"], rtol=1e-9, atol=1e-300)
            np.testing.assert_allclose(A["b"], B["b"], rtol=1e-9, atol=1e-300)


def test_underflowed_probability_caps_the_loss():
    """No hidden layer: the logits differ by ~1e6, y_c underflows; the loss is the documented
    cap -log(TINY) and the gradient is still y - onehot(c)."""
    weights = {"sizes": [1, 2], "layers": [{"W": [[1.0, -1.0]], "b": [0.0, 0.0]}]}
    loss, grads, dX = s1.loss_and_grads(weights, [[1e6]], [1])
    assert loss == -math.log(s1.TINY)
    np.testing.assert_allclose(grads["layers"][0]["b"], [1.0, -1.0], rtol=1e-12)
    np.testing.assert_allclose(dX, [[2.0]], rtol=1e-12)


# --------------------------------------------------------------------------- the ladder interface
@pytest.mark.parametrize("batch_size", [1, 3, 10])
def test_sgd_train_is_mean_gradient_steps_and_does_not_mutate(batch_size):
    weights, X, c = problem([4, 5, 3], n=7, seed=6)
    before = wf.to_lists(weights)
    got = s1.sgd_train(weights, X, c, lr=0.3, batch_size=batch_size)
    assert weights == before, "sgd_train mutated its input"
    w = wf.to_lists(weights)  # the same steps by hand, from loss_and_grads
    for start in range(0, len(X), batch_size):
        _, g, _ = s1.loss_and_grads(w, X[start:start + batch_size], c[start:start + batch_size])
        for layer, gl in zip(w["layers"], g["layers"]):
            layer["W"] = (np.array(layer["W"]) - 0.3 * np.array(gl["W"])).tolist()
            layer["b"] = (np.array(layer["b"]) - 0.3 * np.array(gl["b"])).tolist()
    for A, B, W0 in zip(got["layers"], w["layers"], before["layers"]):
        np.testing.assert_allclose(A["W"], B["W"], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(A["b"], B["b"], rtol=1e-13, atol=1e-15)
        assert np.max(np.abs(np.array(A["W"]) - np.array(W0["W"]))) > 1e-3  # it moved


def test_sgd_train_returns_a_copy_for_no_samples():
    weights, _, _ = problem([2, 3, 2], n=0, seed=1)
    out = s1.sgd_train(weights, [], [], lr=0.1)
    assert out == weights and out["layers"][0]["W"] is not weights["layers"][0]["W"]


def test_losses_are_recorded_per_update():
    weights, X, c = problem([3, 4, 2], n=5, seed=2)
    losses = []
    s1.sgd_train(weights, X, c, lr=0.1, batch_size=2, losses=losses)
    assert len(losses) == 3
    np.testing.assert_allclose(losses[0], s1.loss_and_grads(weights, X[:2], c[:2])[0],
                               rtol=1e-15)


def test_predict_proba_rows_are_distributions():
    weights, X, c = problem([5, 7, 6, 4], n=6, seed=3)
    P = np.array(s1.predict_proba(weights, X))
    assert P.shape == (6, 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(P[2], s1.forward(weights, X[2])["y"], rtol=0)


@pytest.mark.parametrize("bad, match", [
    (lambda X, c: (X, [0, 5]), "class 5 of sample 1"),
    (lambda X, c: (X, [0, 1.5]), "class 1.5"),
    (lambda X, c: ([X[0], X[1][:1]], c), "sample 1 has 1 features, the network takes 2"),
    (lambda X, c: (X, c[:1]), "X has 2 samples but c has 1"),
    (lambda X, c: ([X[0], [1.0, float("nan")]], c), "sample 1 holds a non-finite value"),
])
def test_bad_inputs_are_named(bad, match):
    weights, X, c = problem([2, 3, 2], n=2, seed=0)
    X, c = bad(X, c)
    with pytest.raises(ValueError, match=match):
        s1.loss_and_grads(weights, X, c)


def test_bad_weights_and_arguments_are_refused():
    weights, X, c = problem([2, 3, 2], n=2, seed=0)
    broken = wf.to_lists(weights)
    broken["layers"][1]["W"][0][0] = float("nan")
    with pytest.raises(wf.WeightFormatError, match="non-finite"):
        s1.sgd_train(broken, X, c, lr=0.1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        s1.sgd_train(weights, X, c, lr=0.1, batch_size=0)
    with pytest.raises(ValueError, match="X is empty"):
        s1.loss_and_grads(weights, [], [])
    assert network.check_inputs(weights, X, c) is None
