"""Stage 3 layers and losses: gradient checks against central differences (float64, random
upstream gradient, non-symmetric weights), property-based checks over random shapes, and
regression tests for known traps (ReLU at 0, gradients accumulating over two backward calls,
huge logits, sigmoid at +-1000, swapped loss arguments, empty batches)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gradcheck import numeric_grad, rel_error
from hypothesis import given, settings
from hypothesis import strategies as st

from stage3_batched.layers import (
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    init_weight,
    make_activation,
    softmax,
)
from stage3_batched.losses import (
    CrossEntropy,
    LogisticLoss,
    SoftmaxCrossEntropy,
    SquaredError,
)

TOL = 1e-7        # relative error bound of the issue


def check_layer(layer, X, rng, tol=TOL):
    """Gradient check of a layer: the scalar is sum(G * layer(X)) for a random upstream G."""
    Y = layer.forward(X)
    G = rng.standard_normal(Y.shape)
    dX = layer.backward(G)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    f = lambda: float(np.sum(G * layer.forward(X)))
    assert dX.shape == X.shape
    assert rel_error(dX, numeric_grad(f, X)) < tol
    for k, p in layer.params.items():
        assert grads[k].shape == p.shape
        assert rel_error(grads[k], numeric_grad(f, p)) < tol, k


def away_from_zero(rng, shape, margin=1e-2):
    X = rng.standard_normal(shape)
    return np.where(np.abs(X) < margin, np.sign(X + 1e-12) * margin * 3, X)


# --------------------------------------------------------------------------- gradient checks
def test_linear_gradients_with_non_symmetric_weights():
    rng = np.random.default_rng(1)
    layer = Linear(5, 4, init="normal", std=1.0, rng=rng)
    layer.params["b"][...] = rng.standard_normal(4)
    W = layer.params["W"]
    assert not np.allclose(W[:4], W[:4].T)             # a transposition bug would show
    check_layer(layer, rng.standard_normal((6, 5)), rng)


@pytest.mark.parametrize("make", [Sigmoid, Tanh, Softmax, ReLU, lambda: LeakyReLU(0.1)],
                         ids=["sigmoid", "tanh", "softmax", "relu", "leaky_relu"])
def test_activation_gradients(make):
    rng = np.random.default_rng(2)
    X = away_from_zero(rng, (5, 4)) * 2                # ReLU/LeakyReLU: away from the kink
    check_layer(make(), X, rng)


def test_dropout_gradient_with_a_fixed_mask():
    rng = np.random.default_rng(3)
    layer = Dropout(0.4)
    X = rng.standard_normal((6, 5))

    class Reseeding:   # every forward draws the same mask, so the layer is a fixed function
        def random(self, *a, **k):
            return np.random.default_rng(7).random(*a, **k)
    layer.rng = Reseeding()
    check_layer(layer, X, rng)
    assert (layer.mask == 0).any() and (layer.mask > 0).any()


def test_softmax_backward_equals_explicit_jacobians():
    rng = np.random.default_rng(4)
    X, G = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    layer = Softmax()
    Y = layer.forward(X)
    dX = layer.backward(G)
    for n in range(3):
        J = np.diag(Y[n]) - np.outer(Y[n], Y[n])      # the hand-out's Jacobian of one row
        np.testing.assert_allclose(dX[n], J.T @ G[n], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss_name", ["softmax_ce", "ce_labels", "ce_onehot", "squared",
                                       "logistic"])
def test_loss_gradients(loss_name):
    rng = np.random.default_rng(5)
    n, k = 6, 4
    c = rng.integers(0, k, n)
    if loss_name == "softmax_ce":
        loss, P, T = SoftmaxCrossEntropy(), rng.standard_normal((n, k)) * 3, c
    elif loss_name == "ce_labels":
        loss, P, T = CrossEntropy(), softmax(rng.standard_normal((n, k))), c
    elif loss_name == "ce_onehot":
        loss, P, T = CrossEntropy(), softmax(rng.standard_normal((n, k))), np.eye(k)[c]
    elif loss_name == "squared":
        loss, P, T = SquaredError(), rng.standard_normal((n, k)), rng.standard_normal((n, k))
    else:
        loss, P, T = LogisticLoss(), rng.uniform(0.1, 0.9, (n, 1)), rng.integers(0, 2, n)
    loss.forward(P, T)
    d = loss.backward()
    assert d.shape == P.shape
    assert rel_error(d, numeric_grad(lambda: loss.forward(P, T), P)) < TOL


def test_loss_values_by_hand():
    # 2 samples, logits [0, ln 3] -> softmax [1/4, 3/4]; labels 1 and 0.
    o = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    expected = (-np.log(0.75) - np.log(0.25)) / 2
    assert SoftmaxCrossEntropy().forward(o, np.array([1, 0])) == pytest.approx(expected, 1e-14)
    assert CrossEntropy().forward(softmax(o), np.array([1, 0])) == pytest.approx(expected, 1e-14)
    # squared error: 0.5 * sum over outputs, mean over the batch
    assert SquaredError().forward(np.array([[1.0, 2.0], [0.0, 0.0]]),
                                  np.array([[0.0, 0.0], [0.0, 1.0]])) == pytest.approx(1.5)
    # logistic: -(log 0.8 + log(1 - 0.3)) / 2
    assert LogisticLoss().forward(np.array([0.8, 0.3]), np.array([1, 0])) == pytest.approx(
        -(np.log(0.8) + np.log(0.7)) / 2, rel=1e-14)


# --------------------------------------------------------------------------- property-based
shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(2, 5))


@settings(max_examples=12, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1),
       act=st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu"]))
def test_linear_then_activation_gradients_any_shape(shape, seed, act):
    n, d, k = shape
    rng = np.random.default_rng(seed)
    lin = Linear(d, k, init="normal", std=1.0, rng=rng)
    lin.params["b"][...] = rng.standard_normal(k)
    a = make_activation(act)
    X = rng.standard_normal((n, d))
    Z = lin.forward(X)
    if act in ("relu", "leaky_relu") and np.abs(Z).min() < 1e-3:
        return                                         # too close to the kink to difference
    G = rng.standard_normal((n, k))
    a.forward(Z)
    dX = lin.backward(a.backward(G))
    f = lambda: float(np.sum(G * a.forward(lin.forward(X))))
    assert rel_error(dX, numeric_grad(f, X)) < TOL
    dW = lin.grads["W"].copy()
    assert rel_error(dW, numeric_grad(f, lin.params["W"])) < TOL


@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_fused_loss_equals_softmax_then_cross_entropy(shape, seed, scale):
    n, _, k = shape
    rng = np.random.default_rng(seed)
    O = rng.standard_normal((n, k)) * scale
    c = rng.integers(0, k, n)
    fused = SoftmaxCrossEntropy()
    l1 = fused.forward(O, c)
    d1 = fused.backward()
    np.testing.assert_allclose(softmax(O).sum(axis=1), 1.0, rtol=1e-12)
    assert np.isfinite(l1) and np.isfinite(d1).all()
    np.testing.assert_allclose(d1.sum(axis=1), 0.0, atol=1e-15)   # rows of (y - onehot)/N
    if scale == 1.0:                                   # the unfused chain is accurate here
        sm, ce = Softmax(), CrossEntropy()
        l2 = ce.forward(sm.forward(O), c)
        d2 = sm.backward(ce.backward())
        assert l1 == pytest.approx(l2, rel=1e-12)
        np.testing.assert_allclose(d1, d2, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- regressions
def test_relu_at_exactly_zero_has_zero_gradient_and_leaky_has_slope():
    X = np.array([[0.0, -1.0, 2.0]])
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(X), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])
    leaky = LeakyReLU(0.1)
    np.testing.assert_allclose(leaky.forward(X), [[0.0, -0.1, 2.0]])
    np.testing.assert_allclose(leaky.backward(np.ones((1, 3))), [[0.1, 0.1, 1.0]])


def test_backward_twice_without_zero_grad_doubles_the_gradients():
    rng = np.random.default_rng(6)
    lin = Linear(4, 3, rng=rng)
    X, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    lin.forward(X)
    dX1 = lin.backward(G)
    gW, gb = lin.grads["W"].copy(), lin.grads["b"].copy()
    np.testing.assert_allclose(gW, X.T @ G, rtol=1e-14)         # dW = X^T dY from zero
    dX2 = lin.backward(G)
    np.testing.assert_allclose(lin.grads["W"], 2 * gW, rtol=1e-14)   # accumulated
    np.testing.assert_allclose(lin.grads["b"], 2 * gb, rtol=1e-14)
    np.testing.assert_array_equal(dX1, dX2)                    # dX is not accumulated
    held = lin.grads["W"]
    lin.zero_grad()
    assert lin.grads["W"] is held and not held.any()           # zeroed in place
    lin.backward(G)
    np.testing.assert_allclose(lin.grads["W"], gW, rtol=1e-14)
    loss = SoftmaxCrossEntropy()
    loss.forward(X, np.array([0, 1, 2, 3, 0]))
    np.testing.assert_array_equal(loss.backward(), loss.backward())


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(2, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxCrossEntropy().backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_with_huge_logits(dtype):
    O = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    c = np.array([0, 1, 2])
    loss = SoftmaxCrossEntropy()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value = loss.forward(O, c)
        d = loss.backward()
        p = Softmax().forward(O)
    # per sample: 0 (right, sure), 2e4 (wrong, sure), log 3 (three equal logits)
    assert value == pytest.approx((0.0 + 2e4 + np.log(3.0)) / 3, rel=1e-6)
    expected = np.array([[0, 0, 0], [1, -1, 0], [1 / 3, 1 / 3, -2 / 3]]) / 3
    np.testing.assert_allclose(d, expected, atol=1e-7)
    assert d.dtype == dtype and np.isfinite(p).all()


def test_cross_entropy_on_a_zero_probability_is_finite():
    P = np.array([[1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = CrossEntropy().forward(P, np.array([1]))
    assert np.isfinite(value) and value > 700


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_at_plus_minus_1000_without_warnings(dtype):
    X = np.array([[-1000.0, 1000.0, 0.0]], dtype=dtype)
    s = Sigmoid()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        Y = s.forward(X)
        dX = s.backward(np.ones_like(X))
    np.testing.assert_array_equal(Y, [[0.0, 1.0, 0.5]])
    np.testing.assert_array_equal(dX, [[0.0, 0.0, 0.25]])
    assert Y.dtype == dtype and dX.dtype == dtype


def test_sigmoid_matches_the_textbook_formula():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(Sigmoid().forward(z[None]), 1 / (1 + np.exp(-z[None])),
                               rtol=1e-12, atol=1e-16)


def test_dropout_inverted_seeded_and_off_in_eval():
    X = np.ones((2000, 50))
    a, b = Dropout(0.3, np.random.default_rng(9)), Dropout(0.3, np.random.default_rng(9))
    Ya, Yb = a.forward(X), b.forward(X)
    np.testing.assert_array_equal(Ya, Yb)                           # seeded
    assert set(np.unique(Ya)) == {0.0, 1 / 0.7}                     # inverted scaling
    assert abs((Ya == 0).mean() - 0.3) < 0.01 and abs(Ya.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(a.backward(np.ones_like(X)), Ya)  # same mask backwards
    a.training = False
    assert a.forward(X) is X and a.backward(X) is X                 # identity in eval mode
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


@pytest.mark.parametrize("init,expected_std", [("he", np.sqrt(2 / 400)),
                                               ("xavier", np.sqrt(2 / 500)),
                                               ("normal", 0.1)])
def test_initialisers_scale_and_seed(init, expected_std):
    W = init_weight(400, 100, init, std=0.1, rng=np.random.default_rng(0))
    assert W.shape == (400, 100)
    assert abs(W.std() / expected_std - 1) < 0.02 and abs(W.mean()) < 0.01 * expected_std * 10
    np.testing.assert_array_equal(W, init_weight(400, 100, init, 0.1, np.random.default_rng(0)))
    assert not np.array_equal(W, init_weight(400, 100, init, 0.1, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="he, xavier, normal"):
        init_weight(3, 3, "glorot_uniform")


def test_float32_layers_stay_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 3)).astype(np.float32)
    for layer in (Linear(3, 3, dtype=np.float32), Sigmoid(), Tanh(), ReLU(), LeakyReLU(),
                  Softmax(), Dropout(0.5)):
        Y = layer.forward(X)
        dX = layer.backward(np.ones_like(Y))
        assert Y.dtype == np.float32 and dX.dtype == np.float32, layer
        assert all(g.dtype == np.float32 for g in layer.grads.values())
    loss = SoftmaxCrossEntropy()
    assert isinstance(loss.forward(X, np.array([0, 1, 2, 0])), float)
    assert loss.backward().dtype == np.float32


# --------------------------------------------------------------------------- bad input
def test_linear_rejects_a_wrong_input_width_naming_both_numbers():
    with pytest.raises(ValueError, match=r"width 784, got width 780"):
        Linear(784, 10, name="linear1").forward(np.zeros((2, 780)))


@pytest.mark.parametrize("labels,match", [
    (np.array([0, 3]), r"0\.\.2"),
    (np.array([-1, 0]), r"0\.\.2"),
    (np.array([0.0, 1.0]), "integers"),
    (np.array([0, 1, 2]), "1-D array of 2"),
])
def test_bad_labels_are_rejected(labels, match):
    O = np.zeros((2, 3))
    for loss in (SoftmaxCrossEntropy(), CrossEntropy()):
        with pytest.raises(ValueError, match=match):
            loss.forward(O + 1 / 3, labels)


def test_other_bad_loss_inputs():
    with pytest.raises(ValueError, match="0 or 1"):
        LogisticLoss().forward(np.array([0.5, 0.5]), np.array([0, 2]))
    with pytest.raises(ValueError, match="shape"):
        SquaredError().forward(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one-hot"):
        CrossEntropy().forward(np.full((2, 3), 1 / 3), np.zeros((2, 2)))


def test_swapped_loss_arguments_are_named():
    """Some hand-outs write loss(labels, probabilities); forward(pred, target) must say so."""
    rng = np.random.default_rng(20)
    P = softmax(rng.standard_normal((4, 3)))
    c = np.array([0, 2, 1, 1])
    with pytest.raises(ValueError, match="look swapped"):
        CrossEntropy().forward(c, P)
    with pytest.raises(ValueError, match="look swapped"):
        CrossEntropy().forward(c.astype(float), P)             # whole numbers stored as floats
    with pytest.raises(ValueError, match="look swapped"):
        SoftmaxCrossEntropy().forward(c, rng.standard_normal((4, 3)))
    # a 1-D non-integer pred is the usual shape error, not "swapped"
    with pytest.raises(ValueError, match="2 dimensions"):
        CrossEntropy().forward(np.array([0.2, 0.5, 0.1, 0.2]), P)


@pytest.mark.parametrize("loss,pred,target", [
    (SoftmaxCrossEntropy(), np.zeros((0, 3)), np.zeros(0, dtype=int)),
    (CrossEntropy(), np.zeros((0, 3)), np.zeros(0, dtype=int)),
    (SquaredError(), np.zeros((0, 3)), np.zeros((0, 3))),
    (LogisticLoss(), np.zeros((0, 1)), np.zeros(0)),
])
def test_an_empty_batch_is_a_clear_error(loss, pred, target):
    with pytest.raises(ValueError, match=r"batch is empty.*N = 0"):
        loss.forward(pred, target)


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match="relu, sigmoid, tanh, leaky_relu"):
        make_activation("swish")
