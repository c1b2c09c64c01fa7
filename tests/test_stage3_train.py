"""Stage 3 training: the trainer (reshuffles, history, divergence), run configs and their
errors, the command line, and short real-data runs (Fashion-MNIST when installed, the shipped
MNIST sample)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from stage3_batched import MLP, SGD, Adam, SoftmaxCrossEntropy, StepDecay, evaluate, fit


def blobs(n=600, seed=0):
    """Three well separated Gaussian blobs in 2-D: an easy 3-class problem."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return centres[c] + rng.standard_normal((n, 2)), c


def make(seed=0, lr=0.1, dtype=np.float64, **kw):
    model = MLP(2, [16], 3, "tanh", rng=np.random.default_rng(seed), dtype=dtype)
    opt = SGD(model.parameters(), model.gradients(), lr=lr, **kw)
    return model, SoftmaxCrossEntropy(), opt


def test_fit_learns_and_records_a_history():
    X, c = blobs()
    model, loss, opt = make(momentum=0.9)
    hist = fit(model, loss, opt, (X[:500], c[:500]), (X[500:], c[500:]), epochs=3,
               batch_size=32, rng=np.random.default_rng(1), progress=False)
    assert hist.status == "ok" and hist.message is None
    assert len(hist.step_loss) == 3 * 16                          # ceil(500 / 32) per epoch
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3]
    assert hist.epochs[-1]["val_acc"] > 0.95 and hist.epochs[-1]["train_acc"] > 0.9
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    assert set(hist.epochs[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                   "lr", "seconds", "layers"}
    assert evaluate(model, loss, X[500:], c[500:]) == pytest.approx(
        (hist.epochs[-1]["val_loss"], hist.epochs[-1]["val_acc"]))
    json.dumps(hist.to_dict())                                    # plain data


def test_fit_is_seeded_and_reshuffles_every_epoch():
    X, c = blobs(200)
    runs = []
    for _ in range(2):
        model, loss, opt = make()
        runs.append(fit(model, loss, opt, (X, c), epochs=2, batch_size=200,
                        rng=np.random.default_rng(5), progress=False).step_loss)
    assert runs[0] == runs[1]                                     # same seed, same numbers
    # full-batch: a reshuffle must not change the gradient of the mean, so the same loss curve
    # results whatever the order; mini-batches of 50 then differ between shuffle seeds
    curves = []
    for seed in (5, 6):
        model, loss, opt = make()
        curves.append(fit(model, loss, opt, (X, c), epochs=1, batch_size=50,
                          rng=np.random.default_rng(seed), progress=False).step_loss)
    assert curves[0] != curves[1]


def test_divergence_is_recorded_not_raised():
    X, c = blobs(300)
    model = MLP(2, [32], 3, "relu", rng=np.random.default_rng(0))
    opt = SGD(model.parameters(), model.gradients(), lr=1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # no warning escapes either
        hist = fit(model, SoftmaxCrossEntropy(), opt, (X, c), (X, c), epochs=5, batch_size=10,
                   rng=np.random.default_rng(0), progress=False)
    assert hist.status == "diverged"
    assert "epoch 1, step" in hist.message and "learning rate 1e+06" in hist.message
    assert hist.to_dict()["status"] == "diverged"


def test_float32_training_stays_float32():
    X, c = blobs(100)
    model, loss, opt = make(dtype=np.float32, momentum=0.9)
    fit(model, loss, opt, (X, c), epochs=1, batch_size=16, rng=np.random.default_rng(0),
        progress=False)
    assert all(p.dtype == np.float32 for p in model.parameters().values())
    assert all(g.dtype == np.float32 for g in model.gradients().values())
    assert model.forward(X).dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.v.values())


def test_scheduler_and_adam_in_fit():
    X, c = blobs(200)
    model = MLP(2, [8], 3, rng=np.random.default_rng(0))
    opt = Adam(model.parameters(), model.gradients(), lr=0.01)
    hist = fit(model, SoftmaxCrossEntropy(), opt, (X, c), epochs=3, batch_size=20,
               rng=np.random.default_rng(0), scheduler=StepDecay(opt, 0.5), progress=False)
    assert [e["lr"] for e in hist.epochs] == pytest.approx([0.01, 0.005, 0.0025])
    assert hist.epochs[-1]["train_acc"] > 0.9


@pytest.mark.parametrize("change,match", [
    ({"batch_size": 0}, "batch size must be a positive integer, got 0"),
    ({"X": np.zeros((10, 3))}, "width 3 but the model's first layer expects 2"),
    ({"c": np.full(10, 3)}, r"0\.\.2"),
    ({"c": np.zeros(10)}, "integers"),
    ({"X": np.full((10, 2), np.inf)}, "NaN or inf"),
])
def test_fit_bad_input(change, match):
    model, loss, opt = make()
    X, c = change.get("X", np.zeros((10, 2))), change.get("c", np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=match):
        fit(model, loss, opt, (X, c), epochs=1, batch_size=change.get("batch_size", 4),
            rng=np.random.default_rng(0), progress=False)


# --------------------------------------------------------------------------- real data
def test_dropout_model_is_deterministic_in_eval_and_evaluate_restores_the_mode():
    X, c = blobs(100)
    model = MLP(2, [16], 3, dropout=0.5, rng=np.random.default_rng(0))
    assert "dropout1" in model.names
    assert not np.array_equal(model.forward(X), model.forward(X))    # training: new masks
    np.testing.assert_array_equal(model.predict(X), model.predict(X))
    assert all(layer.training for layer in model.layers)             # predict restored it
    evaluate(model, SoftmaxCrossEntropy(), X, c)
    assert all(layer.training for layer in model.layers)
    model.eval()
    np.testing.assert_array_equal(model.forward(X), model.forward(X))

