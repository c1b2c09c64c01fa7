"""The training doctor (shared/doctor.py) on tiny runs made to show each symptom, and on a
healthy run that gets no warning; the per-layer statistics the stage-3 trainer records."""

import numpy as np
import pytest

from shared import doctor
from stage3_batched import MLP, SGD, SoftmaxCrossEntropy, fit


def blobs(n, seed, k=3):
    """Three well-separated 2-D Gaussian blobs: X (n, 2), c (n,)."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, k, n)
    centres = 3 * np.array([[np.cos(2 * np.pi * i / k), np.sin(2 * np.pi * i / k)]
                            for i in range(k)])
    return centres[c] + 0.5 * rng.standard_normal((n, 2)), c


def noise(n, d, seed):
    """Random features with random labels: nothing to learn, everything to memorise."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, 2, n)


def xor(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def train(hidden, activation, lr, *, epochs=6, data=None, setup=None, init="he"):
    """The doctor's lines for one small run (well under a second)."""
    train_set, val_set = data or (blobs(300, 0), blobs(200, 1))
    K = int(max(train_set[1].max(), val_set[1].max()) + 1)
    model = MLP(train_set[0].shape[1], hidden, K, activation, init=init,
                rng=np.random.default_rng(0))
    if setup is not None:
        setup(model)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=lr), train_set, val_set,
                  epochs=epochs, batch_size=32, rng=np.random.default_rng(0), progress=False)
    return history.doctor(), history


def scale_weights(factor, layers=None):
    def setup(model):
        for layer in model.layers if layers is None else [model.layers[i] for i in layers]:
            if "W" in layer.params:
                layer.params["W"] *= factor
    return setup


def kill_relus(model):
    model.layers[0].params["b"][:] = -100.0        # every first-layer pre-activation < 0


def has(lines, start):
    return [line for line in lines if line.startswith(start)]


def test_healthy_run_gets_no_warning():
    lines, history = train([16], "relu", 0.1)
    assert lines == []
    assert history.epochs[-1]["val_acc"] > 0.95
    assert doctor.report(history.to_dict()).startswith("doctor: no symptom")


@pytest.mark.parametrize("symptom, kw", [
    ("learning rate too high", dict(hidden=[16], activation="relu", lr=20.0)),
    ("learning rate too low", dict(hidden=[16], activation="relu", lr=1e-6)),
    ("vanishing gradients", dict(hidden=[32] * 6, activation="sigmoid", lr=0.1, init="normal")),
    ("exploding gradients", dict(hidden=[32] * 4, activation="relu", lr=1e-6, epochs=3,
                                 setup=scale_weights(4.0))),
    ("saturated units", dict(hidden=[16], activation="sigmoid", lr=0.1,
                             setup=scale_weights(30.0, layers=[0]))),
    ("dead units", dict(hidden=[16], activation="relu", lr=0.1, setup=kill_relus)),
    ("over-fitting", dict(hidden=[64], activation="relu", lr=0.3, epochs=30,
                          data=(noise(30, 50, 3), noise(200, 50, 4)))),
    ("under-fitting", dict(hidden=[], activation="relu", lr=0.1,
                           data=(xor(300, 5), xor(200, 6)))),
])
def test_each_symptom_is_named_with_its_number(symptom, kw):
    lines, _ = train(**kw)
    found = has(lines, symptom)
    assert len(found) == 1, lines
    assert any(ch.isdigit() for ch in found[0].split(":", 1)[1]), found


def test_layer_statistics_are_recorded_once_per_epoch():
    _, history = train([8], "sigmoid", 0.1, epochs=2)
    assert len(history.epochs) == 2
    layers = history.epochs[-1]["layers"]
    assert set(layers) == {"linear1", "sigmoid1", "linear2"}
    assert 0.0 <= layers["sigmoid1"]["saturated"] <= 1.0
    assert layers["linear1"]["grad"] > 0 and layers["linear2"]["update_ratio"] > 0


def test_rules_on_plain_histories():
    """Stage 2 records no layer statistics: the loss rules work from the epoch table alone."""
    rows = [{"epoch": i + 1, "train_loss": t, "val_loss": v, "train_acc": None, "val_acc": None}
            for i, (t, v) in enumerate([(0.9, 0.8), (0.5, 0.6), (0.3, 0.65), (0.2, 0.7),
                                        (0.1, 0.75)])]
    lines = doctor.diagnose({"epochs": rows, "status": "ok", "num_classes": 10})
    assert [line.split(":")[0] for line in lines] == ["over-fitting"]
    rows = [dict(r, train_loss=t) for r, t in zip(rows, [2.0, 2.6, 2.1, 2.7, 2.2])]
    lines = doctor.diagnose({"epochs": rows, "status": "ok", "num_classes": 10})
    assert has(lines, "learning rate too high: the training loss rose in 2 of 4 epochs")
