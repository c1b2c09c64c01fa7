"""Stage 3 speaks the hand-outs: ``CrossEntropyLoss`` on logits and integer labels,
``SGD(model.parameters(), lr, momentum)`` positionally and by keyword, ``zero_grad()`` on every
optimizer, so the CS3317 hand-out's five-step loop runs unchanged; ``CrossEntropy`` (on
probabilities) refuses logits and names the class that takes them."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from stage3_batched import (
    MLP,
    SGD,
    Adam,
    CrossEntropy,
    CrossEntropyLoss,
    SoftmaxCrossEntropy,
    softmax,
)


def blobs(rng, n=60, d=4, k=3):
    """Three separable clusters: X (n, d), integer labels (n,)."""
    c = rng.integers(0, k, n)
    centres = 3.0 * rng.standard_normal((k, d))
    return centres[c] + rng.standard_normal((n, d)), c


def five_steps(model, loss_fn, optimizer, X, y, epochs):
    """The hand-out's loop, word for word; the loss of every batch."""
    losses = []
    for _ in range(epochs):
        for s in range(0, len(X), 10):
            logits = model.forward(X[s:s + 10])
            loss = loss_fn.forward(logits, y[s:s + 10])
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
            losses.append(loss)
    return losses


def test_the_handout_loop_runs_and_the_loss_falls():
    rng = np.random.default_rng(0)
    X, y = blobs(rng)
    model = MLP(4, [8], 3, "relu", rng=rng)
    loss_fn = CrossEntropyLoss()
    before = loss_fn.forward(model.forward(X), y)
    five_steps(model, loss_fn, SGD(model.parameters(), 0.05, 0.9), X, y, epochs=20)
    after = loss_fn.forward(model.forward(X), y)
    assert after < 0.2 * before, (before, after)


def test_zero_grad_makes_each_step_use_its_own_batch():
    """Without the optimizer's zero_grad the gradients would pile up; with it, a loop of
    five steps equals stage 3's own training step by step."""
    rng = np.random.default_rng(1)
    X, y = blobs(rng, n=30)
    a = MLP(4, [5], 3, "sigmoid", rng=np.random.default_rng(2))
    b = MLP(4, [5], 3, "sigmoid", rng=np.random.default_rng(2))
    five_steps(a, CrossEntropyLoss(), SGD(a.parameters(), lr=0.1), X, y, epochs=2)
    opt, loss_fn = SGD(b, lr=0.1), SoftmaxCrossEntropy()
    for _ in range(2):
        for s in range(0, len(X), 10):
            loss_fn.forward(b.forward(X[s:s + 10]), y[s:s + 10])
            b.zero_grad()
            b.backward(loss_fn.backward())
            opt.step()
    for name, w in a.parameters().items():
        assert_allclose(w, b.parameters()[name], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda m: SGD(m.parameters(), 0.1, 0.9),
    lambda m: SGD(m.parameters(), 0.1, momentum=0.9),
    lambda m: SGD(m.parameters(), lr=0.1, momentum=0.9),
    lambda m: SGD(m, lr=0.1, momentum=0.9),
    lambda m: SGD(m.parameters, m.gradients, lr=0.1, momentum=0.9),
])
def test_sgd_accepts_the_handout_forms(make):
    rng = np.random.default_rng(3)
    X, y = blobs(rng, n=8)
    model = MLP(4, [5], 3, rng=np.random.default_rng(4))
    ref = MLP(4, [5], 3, rng=np.random.default_rng(4))
    opt, ref_opt = make(model), SGD(ref, lr=0.1, momentum=0.9)
    assert opt.lr == 0.1 and opt.momentum == 0.9
    for m, o in ((model, opt), (ref, ref_opt)):
        for _ in range(2):
            loss = CrossEntropyLoss()
            loss.forward(m.forward(X), y)
            o.zero_grad()
            m.backward(loss.backward())
            o.step()
    for name, w in model.parameters().items():
        assert_allclose(w, ref.parameters()[name], rtol=1e-14)


def test_sgd_with_the_momentum_twice_is_refused():
    model = MLP(4, [5], 3)
    with pytest.raises(TypeError, match="momentum twice"):
        SGD(model.parameters(), 0.1, 0.9, momentum=0.5)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_every_optimizer_zeroes_the_gradients_it_steps(cls):
    model = MLP(4, [5], 3)
    opt = cls(model.parameters(), lr=0.1)
    for g in model.gradients().values():
        g += 1.0
    opt.zero_grad()
    assert all(not g.any() for g in model.gradients().values())
    assert len(model.gradients()) == 4


def test_cross_entropy_loss_is_the_fused_loss_on_logits():
    rng = np.random.default_rng(5)
    O, c = 2.0 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    a, b = CrossEntropyLoss(), SoftmaxCrossEntropy()
    assert a.forward(O, c) == b.forward(O, c)
    assert_allclose(a.backward(), b.backward(), rtol=0)
    assert a.forward(O, c) == pytest.approx(CrossEntropy().forward(softmax(O), c), rel=1e-12)


def test_cross_entropy_refuses_logits_and_names_the_class_that_takes_them():
    rng = np.random.default_rng(6)
    O, c = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    with pytest.raises(ValueError, match=r"row \d+ (sums to|has a negative)") as e:
        CrossEntropy().forward(O, c)
    assert "CrossEntropyLoss" in str(e.value) and "\n" not in str(e.value)
    positive = np.abs(O)                              # no negative entry, rows not summing to 1
    with pytest.raises(ValueError, match=r"sums to .*use CrossEntropyLoss"):
        CrossEntropy().forward(positive, c)
    P = softmax(O)
    assert CrossEntropy().forward(P, c) == pytest.approx(CrossEntropyLoss().forward(O, c))
    P32 = softmax(O.astype(np.float32))               # float32 rows are within 1e-6 of 1
    assert np.isfinite(CrossEntropy().forward(P32, c))
