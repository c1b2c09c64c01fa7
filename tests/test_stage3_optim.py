"""Stage 3 optimizers: the update rules against values computed by hand and against
torch.optim (float64), gradient accumulation (per-sample backward passes == one batch), and
parameters found by name at every step (a replaced array is trained; a changed shape is refused).
"""

from __future__ import annotations

import numpy as np
import pytest

from shared.errors import ConfigError
from stage3_batched import MLP, SGD, Adam, SoftmaxCrossEntropy, StepDecay, fit
from stage3_batched.optim import make_optimizer


def batch_gradients(model, X, c):
    """zero_grad, forward, loss, backward: the gradients of the mean loss over (X, c)."""
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(X), c)
    model.zero_grad()
    model.backward(loss.backward())


# --------------------------------------------------------------------------- rules by hand
def params1(w, g, name="lin.W"):
    return {name: np.array(w, dtype=float)}, {name: np.array(g, dtype=float)}


def test_sgd_plain_and_momentum_by_hand():
    p, g = params1([1.0, 2.0], [0.5, -1.0])
    opt = SGD(p, g, lr=0.1, momentum=0.9)
    opt.step()                      # v = g = [.5, -1]; w = [1 - .05, 2 + .1]
    np.testing.assert_allclose(p["lin.W"], [0.95, 2.1], rtol=1e-15)
    g["lin.W"][...] = [1.0, 0.0]
    opt.step()                      # v = .9 [.5, -1] + [1, 0] = [1.45, -.9]; w -= .1 v
    np.testing.assert_allclose(p["lin.W"], [0.95 - 0.145, 2.1 + 0.09], rtol=1e-15)
    np.testing.assert_allclose(opt.v["lin.W"], [1.45, -0.9], rtol=1e-15)
    np.testing.assert_array_equal(g["lin.W"], [1.0, 0.0])   # the gradient is not modified


def test_sgd_nesterov_by_hand():
    p, g = params1([1.0], [2.0])
    opt = SGD(p, g, lr=0.1, momentum=0.5, nesterov=True)
    opt.step()                      # v = 2; w = 1 - .1 (2 + .5 * 2) = 0.7
    np.testing.assert_allclose(p["lin.W"], [0.7], rtol=1e-15)
    opt.step()                      # v = .5 * 2 + 2 = 3; w = .7 - .1 (2 + 1.5) = 0.35
    np.testing.assert_allclose(p["lin.W"], [0.35], rtol=1e-14)


def test_sgd_weight_decay_excludes_biases_by_default():
    p = {"l.W": np.array([2.0]), "l.b": np.array([2.0])}
    g = {"l.W": np.array([1.0]), "l.b": np.array([1.0])}
    SGD(p, g, lr=0.1, weight_decay=0.5).step()
    # W: d = 1 + .5 * 2 = 2 -> 2 - .2 = 1.8;  b: d = 1 -> 1.9 (not decayed)
    np.testing.assert_allclose([p["l.W"][0], p["l.b"][0]], [1.8, 1.9], rtol=1e-15)
    p = {"l.W": np.array([2.0]), "l.b": np.array([2.0])}
    SGD(p, g, lr=0.1, weight_decay=0.5, decay_bias=True).step()
    np.testing.assert_allclose([p["l.W"][0], p["l.b"][0]], [1.8, 1.8], rtol=1e-15)
    p = {"l.W": np.array([2.0])}
    opt = SGD(p, {"l.W": np.array([1.0])}, lr=0.1, momentum=0.9, weight_decay=0.5)
    opt.step()
    opt.step()                      # v1 = 2, w1 = 1.8; d2 = 1 + .9 = 1.9, v2 = 1.8 + 1.9 = 3.7
    np.testing.assert_allclose(p["l.W"], [1.8 - 0.37], rtol=1e-14)


def test_adam_first_two_steps_by_hand():
    p, g = params1([1.0], [0.2])
    opt = Adam(p, g, lr=0.1)        # betas .9, .999, eps 1e-8
    opt.step()
    # m = .02, v = 4e-5; m^ = .2, v^ = .04; w = 1 - .1 * .2 / (.2 + 1e-8)
    np.testing.assert_allclose(p["lin.W"], [1 - 0.1 * 0.2 / (0.2 + 1e-8)], rtol=1e-15)
    np.testing.assert_allclose(p["lin.W"], [0.900000005], rtol=1e-9)
    g["lin.W"][...] = -0.4
    opt.step()
    # m = .018 - .04 = -.022; v = .999 * 4e-5 + .001 * .16 = 1.9996e-4
    # m^ = -.022 / .19; v^ = 1.9996e-4 / .001999
    m_hat, v_hat = -0.022 / 0.19, 1.9996e-4 / 0.001999
    expected = 1 - 0.1 * 0.2 / (0.2 + 1e-8) - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p["lin.W"], [expected], rtol=1e-12)
    np.testing.assert_allclose(p["lin.W"], [0.936610], rtol=1e-6)


def test_step_decay_halves_every_epoch():
    p, g = params1([1.0], [1.0])
    opt = SGD(p, g, lr=1e-4)
    sched = StepDecay(opt, gamma=0.5, every=1)
    assert [sched.step() for _ in range(3)] == pytest.approx([5e-5, 2.5e-5, 1.25e-5])
    opt2 = SGD(*params1([1.0], [1.0]), lr=1.0)
    sched2 = StepDecay(opt2, gamma=0.1, every=2)
    assert [sched2.step() for _ in range(4)] == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_float32_optimizer_state_stays_float32():
    model = MLP(3, [4], 2, dtype=np.float32)
    for opt in (SGD(model.parameters(), model.gradients(), lr=0.1, momentum=0.9,
                    weight_decay=1e-3, nesterov=True),
                Adam(model.parameters(), model.gradients(), weight_decay=1e-3)):
        loss = SoftmaxCrossEntropy()
        loss.forward(model.forward(np.ones((2, 3), np.float32)), np.array([0, 1]))
        model.zero_grad()
        model.backward(loss.backward())
        opt.step()
        assert all(p.dtype == np.float32 for p in model.parameters().values())
        assert opt.v and all(v.dtype == np.float32 for v in opt.v.values())


@pytest.mark.parametrize("kw,match", [
    ({"lr": 0.0}, "learning rate must be a finite number > 0, got 0.0"),
    ({"lr": -0.1}, "learning rate must be a finite number > 0"),
    ({"lr": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ({"lr": 0.1, "momentum": -0.5}, r"momentum must be in \[0, 1\)"),
    ({"lr": 0.1, "nesterov": True}, "nesterov"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
])
def test_bad_optimizer_arguments(kw, match):
    p, g = params1([1.0], [1.0])
    with pytest.raises(ValueError, match=match):
        SGD(p, g, **kw)


def test_bad_optimizer_name_and_adam_lr():
    p, g = params1([1.0], [1.0])
    with pytest.raises(ValueError, match="sgd, adam"):
        make_optimizer("rmsprop", p, g, lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(p, g, lr=0.0)
    opt = SGD(p, g, lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = float("nan")


# --------------------------------------------------------------------------- accumulation
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_per_sample_backward_passes_then_one_step_equal_one_batch(momentum):
    """The gradient of a mean over B samples is the sum of B per-sample gradients, each scaled
    by 1/B: backward accumulates, so B backward passes then one step == one batch of B."""
    rng = np.random.default_rng(30)
    X, c = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    a = MLP(4, [5], 3, "sigmoid", rng=np.random.default_rng(1))
    b = MLP(4, [5], 3, "sigmoid", rng=np.random.default_rng(1))
    opt_a, opt_b = SGD(a, lr=0.3, momentum=momentum), SGD(b, lr=0.3, momentum=momentum)
    for _ in range(2):
        batch_gradients(a, X, c)
        opt_a.step()
        b.zero_grad()
        loss = SoftmaxCrossEntropy()
        for n in range(len(X)):                        # one sample at a time, no zero_grad
            loss.forward(b.forward(X[n:n + 1]), c[n:n + 1])
            b.backward(loss.backward() / len(X))       # each loss scaled by 1/B
        opt_b.step()
    for k, w in a.parameters().items():
        np.testing.assert_allclose(b.parameters()[k], w, rtol=1e-12, atol=1e-15, err_msg=k)


def test_step_leaves_the_gradients_unchanged():
    rng = np.random.default_rng(31)
    model = MLP(3, [4], 2, rng=rng)
    batch_gradients(model, rng.standard_normal((5, 3)), rng.integers(0, 2, 5))
    before = {k: g.copy() for k, g in model.gradients().items()}
    for opt in (SGD(model, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
                Adam(model, lr=0.1, weight_decay=0.1)):
        opt.step()
        for k, g in model.gradients().items():
            np.testing.assert_array_equal(g, before[k], err_msg=k)


# --------------------------------------------------------------------------- found by name
@pytest.mark.parametrize("form", ["model", "callables", "dicts"])
def test_the_three_ways_to_hand_over_the_parameters_agree(form):
    rng = np.random.default_rng(32)
    X, c = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    ref, model = (MLP(3, [4], 2, rng=np.random.default_rng(2)) for _ in range(2))
    args = {"model": (model,), "callables": (model.parameters, model.gradients),
            "dicts": (model.parameters(), model.gradients())}[form]
    for m, opt in ((ref, SGD(ref, lr=0.2, momentum=0.5)), (model, SGD(*args, lr=0.2,
                                                                       momentum=0.5))):
        for _ in range(3):
            batch_gradients(m, X, c)
            opt.step()
    for k, w in ref.parameters().items():
        np.testing.assert_array_equal(model.parameters()[k], w)


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.5, momentum=0.9),
                                  lambda m: SGD(m.parameters, m.gradients, lr=0.5),
                                  lambda m: SGD(m.parameters(), m.gradients(), lr=0.5),
                                  lambda m: Adam(m, lr=0.1)],
                         ids=["sgd", "callables", "dicts", "adam"])
def test_a_parameter_replaced_after_building_the_optimizer_is_trained(make):
    rng = np.random.default_rng(33)
    model = MLP(3, [4], 2, rng=rng)
    opt = make(model)
    W0 = rng.standard_normal((3, 4))
    start = W0.copy()
    model["linear1"].params["W"] = W0                  # replace the array, not its values
    batch_gradients(model, rng.standard_normal((6, 3)), rng.integers(0, 2, 6))
    opt.step()
    assert model.parameters()["linear1.W"] is W0
    assert not np.array_equal(W0, start)               # the new array moved
    assert np.abs(W0 - start).max() > 1e-6


def test_a_replaced_parameter_of_another_shape_is_refused():
    model = MLP(3, [4], 2)
    opt = SGD(model, lr=0.1, momentum=0.9)
    batch_gradients(model, np.ones((2, 3)), np.array([0, 1]))
    opt.step()                                         # the velocity now exists, shape (3, 4)
    model["linear1"].params["W"] = np.zeros((3, 5))
    model.zero_grad()                                  # makes a (3, 5) gradient for it
    with pytest.raises(ConfigError, match=r"linear1\.W.*\(3, 5\).*\(3, 4\).*new optimizer"):
        opt.step()


def test_the_learning_rate_positionally_or_by_keyword():
    model = MLP(2, [2], 2)
    assert SGD(model, 0.1).lr == 0.1 and Adam(model, 0.01).lr == 0.01
    with pytest.raises(TypeError, match="learning rate twice"):
        Adam(model, 0.1, lr=0.2)
    with pytest.raises(ValueError, match="learning rate"):
        SGD(model)
    with pytest.raises(TypeError, match="parameters"):
        SGD(object(), lr=0.1)


# --------------------------------------------------------------------------- torch twin
@pytest.mark.parametrize("kind,kw", [
    ("sgd", {"momentum": 0.0}),
    ("sgd", {"momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {"weight_decay": 0.01}),
])
def test_updates_match_torch_optim_in_float64(kind, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(34)
    model = MLP(4, [5], 3, "tanh", rng=rng)
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in model.parameters().items()}
    wd = kw.get("weight_decay", 0.0)
    ours = (SGD(model, lr=0.1, decay_bias=True, **kw) if kind == "sgd"
            else Adam(model, lr=0.01, decay_bias=True, **kw))
    groups = [{"params": list(tp.values()), "weight_decay": wd}]
    theirs = (torch.optim.SGD(groups, lr=0.1, momentum=kw["momentum"],
                              nesterov=kw.get("nesterov", False)) if kind == "sgd"
              else torch.optim.Adam(groups, lr=0.01))
    for _ in range(4):
        X, c = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
        batch_gradients(model, X, c)
        ours.step()
        theirs.zero_grad()
        h = torch.tanh(torch.tensor(X) @ tp["linear1.W"] + tp["linear1.b"])
        o = h @ tp["linear2.W"] + tp["linear2.b"]
        torch.nn.functional.cross_entropy(o, torch.tensor(c)).backward()
        theirs.step()
    for k, w in model.parameters().items():
        np.testing.assert_allclose(w, tp[k].detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=k)


# --------------------------------------------------------------------------- in fit
def test_fit_equals_the_loop_written_out():
    """fit (momentum, weight decay) ends at the weights of the six-line loop written by hand."""
    rng = np.random.default_rng(35)
    X, c = rng.standard_normal((96, 3)), rng.integers(0, 3, 96)
    a = MLP(3, [6], 3, "sigmoid", rng=np.random.default_rng(3))
    b = MLP(3, [6], 3, "sigmoid", rng=np.random.default_rng(3))
    fit(a, SoftmaxCrossEntropy(), SGD(a, lr=0.2, momentum=0.9, weight_decay=0.01), (X, c),
        epochs=2, batch_size=32, rng=np.random.default_rng(4), progress=False)
    opt, loss, shuffle = SGD(b, lr=0.2, momentum=0.9, weight_decay=0.01), \
        SoftmaxCrossEntropy(), np.random.default_rng(4)
    for _ in range(2):
        order = shuffle.permutation(len(X))
        for s in range(0, len(X), 32):
            idx = order[s:s + 32]
            loss.forward(b.forward(X[idx]), c[idx])
            b.zero_grad()
            b.backward(loss.backward())
            opt.step()
    for k, w in b.parameters().items():
        np.testing.assert_allclose(a.parameters()[k], w, rtol=1e-12, atol=1e-15, err_msg=k)
