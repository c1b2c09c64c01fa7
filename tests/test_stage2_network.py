"""Stage 2's per-sample maths: gradients against finite differences and the hand-out's numbers,
the softmax Jacobian against the fused ``y - onehot``, accumulation, ``sgd_train``'s batch
semantics, the in-place fast path against the readable one, and numerical safety.

All float64 unless a test says otherwise. Oracles: central finite differences (of the loss for
the whole network, of ``u . f(z)`` with a random upstream vector ``u`` for the pieces), the
hand-out's printed derivatives, and PyTorch autograd when torch is installed.
"""

import random
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import stage2_perinstance as s2
from shared import weights as wf
from stage2_perinstance.fast import InPlaceSGD


def problem(sizes, n, seed, std=1.0, zeros=0.0):
    """Random arrays weights (std ``std``, random biases), X (n, D) and classes c (n,); a
    fraction ``zeros`` of X's entries is set to exactly 0."""
    rng = np.random.default_rng(seed)
    w = s2.init_weights(sizes, rng, std=std)
    for la in w["layers"]:
        la["b"] = 0.5 * rng.standard_normal(la["b"].shape)
    X = rng.standard_normal((n, sizes[0]))
    X[rng.random(X.shape) < zeros] = 0.0
    c = rng.integers(0, sizes[-1], n)
    return w, X, c


def mean_loss(w, X, c):
    return s2.loss_and_grads(w, X, c)[0]


# --------------------------------------------------------------------------- gradients
def test_worked_example_matches_the_handout():
    weights, x, c = wf.worked_example()
    loss, grads, dX = s2.loss_and_grads(weights, [x], [c])
    assert_allclose(grads["layers"][0]["W"], np.zeros((2, 3)), atol=1e-15)
    assert_allclose(grads["layers"][0]["b"], np.zeros(3), atol=1e-15)
    assert_allclose(grads["layers"][1]["W"], [[-0.4404, 0.4404]] * 3, atol=5e-5)
    assert_allclose(grads["layers"][1]["b"], [-0.5, 0.5], atol=1e-15)
    assert_allclose(loss, np.log(2.0), rtol=1e-15)  # both logits equal: y = [1/2, 1/2]
    assert dX.shape == (1, 2)


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
@pytest.mark.parametrize("fused", [True, False])
def test_gradients_match_finite_differences(fused, activation):
    """Every weight, bias and input of a [5, 7, 6, 4] network, mean loss over 3 samples."""
    w, X, c = problem([5, 7, 6, 4], 3, seed=1)
    w["activation"] = activation
    loss, grads, dX = s2.loss_and_grads(w, X, c, fused=fused)
    eps = 1e-6
    for i, la in enumerate(w["layers"]):
        for key in ("W", "b"):
            num = np.zeros_like(la[key])
            for idx in np.ndindex(la[key].shape):
                old = la[key][idx]
                la[key][idx] = old + eps
                lp = mean_loss(w, X, c)
                la[key][idx] = old - eps
                lm = mean_loss(w, X, c)
                la[key][idx] = old
                num[idx] = (lp - lm) / (2 * eps)
            assert_allclose(grads["layers"][i][key], num, rtol=1e-6, atol=1e-9,
                            err_msg=f"layer {i} {key}")
    num = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += eps
        Xm[idx] -= eps
        num[idx] = (mean_loss(w, Xp, c) - mean_loss(w, Xm, c)) / (2 * eps)
    assert_allclose(dX, num, rtol=1e-6, atol=1e-9, err_msg="dX")
    assert np.isfinite(loss)


def _fd_vjp(f, z, u, eps=1e-6):
    """Finite-difference gradient of ``u . f(z)`` with respect to z."""
    g = np.zeros_like(z)
    for i in range(len(z)):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        g[i] = (u @ f(zp) - u @ f(zm)) / (2 * eps)
    return g


def test_local_derivatives_with_a_random_upstream_gradient():
    rng = np.random.default_rng(2)
    z, u = rng.standard_normal(6), rng.standard_normal(6)
    # sigmoid: dh/dk = h (1 - h), elementwise
    h = s2.sigmoid(z)
    assert_allclose(u * s2.sigmoid_derivative(h), _fd_vjp(s2.sigmoid, z, u), rtol=1e-7)
    # softmax: u @ J, J = diag(y) - y y^T
    J = s2.softmax_jacobian(s2.softmax(z))
    assert_allclose(u @ J, _fd_vjp(s2.softmax, z, u), rtol=1e-6, atol=1e-10)
    # linear: dW = outer(x, dk), db = dk, dx = W @ dk
    x, W, b = rng.standard_normal(4), rng.standard_normal((4, 6)), rng.standard_normal(6)
    dW, db, dx = s2.linear_backward(x, W, u)
    assert_allclose(dx, _fd_vjp(lambda x_: s2.linear(x_, W, b), x, u), rtol=1e-7)
    assert_allclose(db, _fd_vjp(lambda b_: s2.linear(x, W, b_), b, u), rtol=1e-7)
    fW = lambda Wf: s2.linear(x, Wf.reshape(4, 6), b)
    assert_allclose(dW.ravel(), _fd_vjp(fW, W.ravel(), u), rtol=1e-7)


def test_the_activation_table_has_every_name_and_each_derivative_is_its_slope():
    """The derivative takes k and h = f(k); with a random upstream u, u * f'(k, h) =
    d(u . f(k))/dk."""
    assert set(s2.ACTIVATIONS) == set(wf.ACTIVATIONS)
    rng = np.random.default_rng(12)
    z, u = rng.standard_normal(8), rng.standard_normal(8)
    z[np.abs(z) < 1e-3] = 0.5  # away from relu's kink
    for name, (f, derivative) in s2.ACTIVATIONS.items():
        assert_allclose(u * derivative(z, f(z)), _fd_vjp(f, z, u), rtol=1e-7, atol=1e-10,
                        err_msg=name)
    assert_allclose(s2.relu(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])
    assert_allclose(s2.relu_derivative(np.array([0.0, 0.0, 2.0])), [0.0, 0.0, 1.0])
    assert s2.relu_derivative(np.zeros(2, np.float32)).dtype == np.float32


def test_sigmoid_is_the_logistic_function():
    """Equal to 1 / (1 + exp(-k)) to 1 ulp of 1.0 in absolute terms (the tanh form's price: in
    the far negative tail, where h < 1e-9, the relative error grows)."""
    k = np.linspace(-40, 40, 10001)
    ref = 1.0 / (1.0 + np.exp(-k))
    assert_allclose(s2.sigmoid(k), ref, rtol=0, atol=2.3e-16)
    mid = k > -10
    assert_allclose(s2.sigmoid(k[mid]), ref[mid], rtol=1e-12)


def test_jacobian_path_and_fused_shortcut_agree():
    rng = np.random.default_rng(3)
    for _ in range(20):
        o = 3 * rng.standard_normal(5)
        c = int(rng.integers(5))
        y = s2.softmax(o)
        via_jacobian = s2.cross_entropy_derivative(y, c) @ s2.softmax_jacobian(y)
        assert_allclose(via_jacobian, s2.softmax_cross_entropy_derivative(y, c),
                        rtol=1e-12, atol=1e-15)
    w, X, c = problem([5, 7, 6, 4], 4, seed=4)
    _, g_fused, dx_fused = s2.loss_and_grads(w, X, c, fused=True)
    _, g_jac, dx_jac = s2.loss_and_grads(w, X, c, fused=False)
    for a, b in zip(g_fused["layers"], g_jac["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-12, atol=1e-15)
        assert_allclose(a["b"], b["b"], rtol=1e-12, atol=1e-15)
    assert_allclose(dx_fused, dx_jac, rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_by_hand():
    y = np.array([0.2, 0.3, 0.5])
    expect = [[0.2 * 0.8, -0.06, -0.1], [-0.06, 0.3 * 0.7, -0.15], [-0.1, -0.15, 0.25]]
    assert_allclose(s2.softmax_jacobian(y), expect, rtol=1e-14)


def test_cross_entropy_is_minus_log_softmax():
    o = np.array([1.0, -2.0, 0.5])
    assert_allclose(s2.cross_entropy(o, 2), -np.log(s2.softmax(o)[2]), rtol=1e-14)
    assert_allclose(np.exp(s2.log_softmax(o)), s2.softmax(o), rtol=1e-15)


# --------------------------------------------------------------------------- accumulation
def test_mean_over_samples_is_the_mean_of_per_sample_gradients():
    w, X, c = problem([5, 7, 6, 4], 5, seed=5)
    loss, grads, dX = s2.loss_and_grads(w, X, c)
    singles = [s2.sample_loss_and_grads(w, X[n], int(c[n])) for n in range(5)]
    assert_allclose(loss, np.mean([s[0] for s in singles]), rtol=1e-14)
    for i in range(3):
        for key in ("W", "b"):
            mean = np.mean([s[1]["layers"][i][key] for s in singles], axis=0)
            assert_allclose(grads["layers"][i][key], mean, rtol=1e-13, atol=1e-16)
    assert_allclose(dX, np.array([s[2] for s in singles]) / 5, rtol=1e-14)


def test_sgd_train_batches_by_hand():
    """7 samples, batch 3: groups [0:3], [3:6], [6:7], each w <- w - lr * group mean."""
    w, X, c = problem([5, 7, 6, 4], 7, seed=6)
    lr = 0.3
    frozen = {k: [la[k].copy() for la in w["layers"]] for k in ("W", "b")}
    expect = s2.as_arrays(w)
    for start in (0, 3, 6):
        _, g, _ = s2.loss_and_grads(expect, X[start:start + 3], c[start:start + 3])
        for la, gl in zip(expect["layers"], g["layers"]):
            la["W"] = la["W"] - lr * gl["W"]
            la["b"] = la["b"] - lr * gl["b"]
    losses = []
    got = s2.sgd_train(w, X, c, lr, batch_size=3, losses=losses)
    for a, b in zip(got["layers"], expect["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-14, atol=1e-16)
        assert_allclose(a["b"], b["b"], rtol=1e-14, atol=1e-16)
    assert len(losses) == 3
    for k in ("W", "b"):  # the input weights are untouched
        for la, old in zip(w["layers"], frozen[k]):
            assert np.array_equal(la[k], old)
    # batch_size = N is one full-batch step; batch_size 1 differs from it
    full = s2.sgd_train(w, X, c, lr, batch_size=7)
    _, g, _ = s2.loss_and_grads(w, X, c)
    assert_allclose(full["layers"][0]["W"], w["layers"][0]["W"] - lr * g["layers"][0]["W"],
                    rtol=1e-14)
    one = s2.sgd_train(w, X, c, lr, batch_size=1)
    assert not np.allclose(one["layers"][0]["W"], full["layers"][0]["W"], rtol=1e-6)


def test_sgd_train_accepts_lists_and_rejects_bad_input():
    weights, x, c = wf.worked_example()
    out = s2.sgd_train(weights, [x, x], [c, 1 - c], 0.5)
    assert isinstance(out["layers"][0]["W"], np.ndarray)
    assert out["layers"][0]["W"].dtype == np.float64
    with pytest.raises(ValueError, match="batch_size"):
        s2.sgd_train(weights, [x], [c], 0.5, batch_size=0)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        s2.loss_and_grads(weights, [[1.0, 2.0, 3.0]], [0])
    with pytest.raises(ValueError, match="class 2 of sample 0"):
        s2.loss_and_grads(weights, [x], [2])
    with pytest.raises(ValueError, match="non-finite"):
        s2.predict_proba(weights, [[np.nan, 0.0]])


# --------------------------------------------------------------------------- the fast path
@pytest.mark.parametrize("sizes", [[6, 7, 5, 4], [6, 4]])
@pytest.mark.parametrize("accumulate", [1, 3])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
def test_in_place_path_equals_readable_path(sizes, accumulate, skip, activation):
    w, X, c = problem(sizes, 11, seed=7, zeros=0.6)
    w["activation"] = activation
    lr = 0.2
    expect = s2.sgd_train(w, X, c, lr, batch_size=accumulate)
    got = s2.as_arrays(w)
    opt = InPlaceSGD(got, lr, accumulate=accumulate, skip_zero_inputs=skip)
    losses = [opt.step(X[n], int(c[n])) for n in range(len(X))]
    opt.flush()  # 11 = 3 + 3 + 3 + 2: the last group is smaller
    for a, b in zip(got["layers"], expect["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-12, atol=1e-14)
        assert_allclose(a["b"], b["b"], rtol=1e-12, atol=1e-14)
    if accumulate == 1:  # each loss is computed with the weights before its own update
        ref = []
        s2.sgd_train(w, X, c, lr, batch_size=1, losses=ref)
        assert_allclose(losses, ref, rtol=1e-12)


def test_skipping_zero_inputs_leaves_their_rows_exactly_alone():
    w, X, c = problem([6, 5, 3], 1, seed=8)
    X[0, [1, 4]] = 0.0
    got = s2.as_arrays(w)
    InPlaceSGD(got, 0.5, skip_zero_inputs=True).step(X[0], int(c[0]))
    W0, W1 = w["layers"][0]["W"], got["layers"][0]["W"]
    assert np.array_equal(W1[[1, 4]], W0[[1, 4]])
    assert not np.allclose(W1[[0, 2, 3, 5]], W0[[0, 2, 3, 5]])


# --------------------------------------------------------------------------- numerical safety
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [[6, 5, 4, 3], [6, 3]])
def test_no_overflow_for_huge_inputs(dtype, sizes):
    """Inputs of +-1e6 saturate every sigmoid (deep network) or push the logits 1e6 apart (no
    hidden layer): no warning, no inf/nan, with warnings (and numpy's overflow, invalid and
    divide-by-zero) turned into errors."""
    w, _, _ = problem(sizes, 1, seed=9)
    rng = np.random.default_rng(9)
    X = 1e6 * np.sign(rng.standard_normal((4, 6)))
    c = np.array([0, 1, 2, 0])
    # the trap is real: the textbook sigmoid overflows on these pre-activations
    k = X @ s2.as_arrays(w, dtype)["layers"][0]["W"]
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        1.0 / (1.0 + np.exp(-k))
    # overflow, invalid and divide raise; underflow stays numpy's default (ignored): exp(-2e6)
    # rounding to 0 is the right answer, not a failure
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss, grads, dX = s2.loss_and_grads(w, X, c, dtype=dtype)
        _, _, dX_jac = s2.loss_and_grads(w, X, c, fused=False, dtype=dtype)
        P = s2.predict_proba(w, X, dtype=dtype)
        fast = s2.as_arrays(w, dtype)
        opt = InPlaceSGD(fast, 0.1, skip_zero_inputs=True)
        step_losses = [opt.step(x, int(cn)) for x, cn in zip(X, c)]
        s2.sgd_train(w, X, c, 0.1, dtype=dtype)
    assert np.isfinite(loss)
    if len(sizes) == 2:  # logits ~1e6 apart, confidently wrong somewhere: a big, finite loss
        assert loss > 1e4
    for g in grads["layers"]:
        assert np.isfinite(g["W"]).all() and np.isfinite(g["b"]).all()
        assert g["W"].dtype == np.dtype(dtype)
    assert np.isfinite(dX).all() and np.isfinite(dX_jac).all()
    assert np.isfinite(step_losses).all()
    assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)


def test_float32_is_close_to_float64():
    w, X, c = problem([5, 7, 6, 4], 3, seed=10)
    l64, g64, _ = s2.loss_and_grads(w, X, c)
    l32, g32, dX32 = s2.loss_and_grads(w, X, c, dtype="float32")
    assert dX32.dtype == np.float32 and g32["layers"][0]["W"].dtype == np.float32
    assert_allclose(l32, l64, rtol=1e-5)
    for a, b in zip(g32["layers"], g64["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-4, atol=1e-5)


def test_predict_proba_is_forward_row_by_row():
    w, X, _ = problem([5, 7, 4], 6, seed=11)
    P = s2.predict_proba(w, X)
    assert P.shape == (6, 4)
    assert_allclose(P.sum(axis=1), 1.0, rtol=1e-14)
    assert_allclose(P[3], s2.forward(w, X[3])["y"], rtol=1e-15)


# --------------------------------------------------------------------------- weights
def test_init_weights_from_random_random_matches_the_shared_draw():
    a = s2.init_weights([4, 3, 2], random.Random(5))
    b = wf.to_arrays(wf.init_weights([4, 3, 2], random.Random(5)))
    for la, lb in zip(a["layers"], b["layers"]):
        assert np.array_equal(la["W"], lb["W"]) and np.array_equal(la["b"], lb["b"])


def test_init_weights_from_a_generator():
    w = s2.init_weights([400, 300, 10], np.random.default_rng(0), dtype="float32")
    W = w["layers"][0]["W"]
    assert W.shape == (400, 300) and W.dtype == np.float32
    assert abs(W.std() - 1 / 20) < 0.002 and abs(W.mean()) < 0.001
    assert not w["layers"][0]["b"].any()
    again = s2.init_weights([400, 300, 10], np.random.default_rng(0), dtype="float32")
    assert np.array_equal(again["layers"][1]["W"], w["layers"][1]["W"])
    with pytest.raises(TypeError, match="random.Random or a numpy Generator"):
        s2.init_weights([2, 2], 0)


def test_as_arrays_copies_and_checks():
    w, _, _ = problem([3, 2], 1, seed=12)
    copy = s2.as_arrays(w)
    copy["layers"][0]["W"][0, 0] += 1.0
    assert copy["layers"][0]["W"][0, 0] != w["layers"][0]["W"][0, 0]
    w["layers"][0]["W"][1, 1] = np.inf
    with pytest.raises(wf.WeightFormatError, match="non-finite"):
        s2.as_arrays(w)
    with pytest.raises(wf.WeightFormatError, match=r"layer 0: W has shape \(2, 3\), sizes"):
        s2.as_arrays({"sizes": [3, 2], "layers": [{"W": np.zeros((2, 3)), "b": np.zeros(2)}]})


# --------------------------------------------------------------------------- PyTorch oracle
def test_torch_autograd_agrees():
    torch = pytest.importorskip("torch")
    w, X, c = problem([5, 7, 6, 4], 4, seed=13)
    loss, grads, dX = s2.loss_and_grads(w, X, c)
    params = [(torch.tensor(la["W"], requires_grad=True), torch.tensor(la["b"], requires_grad=True))
              for la in w["layers"]]
    Xt = torch.tensor(X, requires_grad=True)
    a = Xt
    for i, (W, b) in enumerate(params):
        a = a @ W + b
        if i < len(params) - 1:
            a = torch.sigmoid(a)
    lt = torch.nn.functional.cross_entropy(a, torch.tensor(c))
    lt.backward()
    assert_allclose(loss, lt.item(), rtol=1e-13)
    for (W, b), g in zip(params, grads["layers"]):
        assert_allclose(g["W"], W.grad.numpy(), rtol=1e-11, atol=1e-15)
        assert_allclose(g["b"], b.grad.numpy(), rtol=1e-11, atol=1e-15)
    assert_allclose(dX, Xt.grad.numpy(), rtol=1e-11, atol=1e-15)
