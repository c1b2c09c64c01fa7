"""The opt-in fast training epoch (stage3_batched.fast) against the plain loop: the same weights
(float64, rtol 1e-12) after several steps, for plain SGD (learning rate folded into the output
gradient), momentum, Nesterov and weight decay; the same history; the import direction (the
teaching code never imports the fast path); and a small run of the side-by-side measurement in
stage4_analysis.speed.stage3 (its structure only: no timing is asserted)."""

from __future__ import annotations

import numpy as np
import pytest

from stage3_batched import MLP, SGD, Adam, Linear, Sequential, Sigmoid, SoftmaxCrossEntropy, fit
from stage3_batched.fast import train_epoch_fast
from stage3_batched.trainer import train_epoch

EPOCH = {False: train_epoch, True: train_epoch_fast}


def data(n=70, seed=40):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.05},
                                {"momentum": 0.9},
                                {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01,
                                 "decay_bias": True}],
                         ids=["plain", "plain-decay", "momentum", "nesterov-decay"])
def test_fast_epochs_reach_the_plain_weights(kw):
    X, c = data()
    runs = []
    for fast in (False, True):
        model = MLP(5, [7, 4], 3, "sigmoid", init="xavier", rng=np.random.default_rng(5))
        opt = SGD(model, lr=0.3, **kw)
        hist = fit(model, SoftmaxCrossEntropy(), opt, (X, c), (X, c), epochs=3, batch_size=16,
                   rng=np.random.default_rng(6), progress=False, epoch=EPOCH[fast])
        runs.append((model, hist))
    (plain, h_plain), (quick, h_fast) = runs
    start = MLP(5, [7, 4], 3, "sigmoid", init="xavier", rng=np.random.default_rng(5))
    assert len(h_plain.step_loss) == 3 * 5
    np.testing.assert_allclose(h_fast.step_loss, h_plain.step_loss, rtol=1e-12)
    for k, w in plain.parameters().items():
        np.testing.assert_allclose(quick.parameters()[k], w, rtol=1e-12, atol=1e-14, err_msg=k)
        assert np.abs(w - start.parameters()[k]).max() > 1e-3, k     # the weights did move


def test_fast_epoch_on_a_sequential_with_a_leading_activation_and_its_result():
    """A network whose first layer has no parameters, called directly; the EpochResult counts
    what the plain one counts."""
    X, c = data(40)
    results = []
    for epoch_fn in (train_epoch, train_epoch_fast):
        rng = np.random.default_rng(7)
        net = Sequential([Sigmoid(), Linear(5, 6, rng=rng), Sigmoid(), Linear(6, 3, rng=rng)])
        results.append((net, epoch_fn(net, SoftmaxCrossEntropy(), SGD(net, lr=0.5, momentum=0.5),
                                      X, c, 8, np.random.default_rng(8))))
    (a, ra), (b, rb) = results
    assert (ra.seen, ra.correct) == (rb.seen, rb.correct) and ra.seen == 40
    np.testing.assert_allclose(rb.loss_sum, ra.loss_sum, rtol=1e-12)
    for k, w in a.parameters().items():
        np.testing.assert_allclose(b.parameters()[k], w, rtol=1e-12, atol=1e-14, err_msg=k)


def test_fast_with_adam_runs_the_plain_loop():
    X, c = data(30)
    weights = []
    for fast in (False, True):
        model = MLP(5, [4], 3, rng=np.random.default_rng(9))
        fit(model, SoftmaxCrossEntropy(), Adam(model, lr=0.01), (X, c), epochs=2, batch_size=8,
            rng=np.random.default_rng(1), progress=False, epoch=EPOCH[fast])
        weights.append(model.parameters())
    for k, w in weights[0].items():
        np.testing.assert_array_equal(weights[1][k], w)


def test_fast_path_stops_on_divergence_like_the_plain_one():
    X, c = data(60)
    msgs = []
    for fast in (False, True):
        model = MLP(5, [8], 3, "relu", rng=np.random.default_rng(0))
        hist = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1e6), (X, c), epochs=3,
                   batch_size=5, rng=np.random.default_rng(0), progress=False, epoch=EPOCH[fast])
        msgs.append((hist.status, hist.message))
    assert msgs[0] == msgs[1] and msgs[0][0] == "diverged"


def test_fit_refuses_an_epoch_that_is_not_a_function():
    X, c = data(10)
    model = MLP(5, [4], 3, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="epoch must be a function"):
        fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), (X, c), epochs=1, batch_size=4,
            rng=np.random.default_rng(0), progress=False, epoch=True)


def test_the_benchmark_times_plain_fast_and_torch_side_by_side(monkeypatch):
    """stage4_analysis.speed.stage3 interleaves the plain epoch, the fast one and (when
    installed) PyTorch; the plain / fast ratio comes with its range over the repeats."""
    from stage4_analysis.speed import stage3 as bench

    monkeypatch.setattr(bench, "peak_matmul_gflops", lambda dtype: 1.0)     # skip the 2048^2
    monkeypatch.setattr(bench, "shaped_matmul_gflops", lambda dtype, bs: 1.0)
    res = bench.benchmark(batch_sizes=(16,), dtypes=("float64",), repeats=2, n=64, memory=False,
                          log=lambda line: None)
    row = res["results"]["float64"][16]
    assert len(row["stage3"]["all"]) == 2 and len(row["fast"]["all"]) == 2
    assert row["fast_speedup"] == pytest.approx(row["stage3"]["median"] / row["fast"]["median"])
    lo, hi = row["fast_speedup_range"]
    assert lo <= hi and lo > 0
    assert ("torch" in row) == (res["torch"] is not None)
    assert "--fast" in bench.format_row("float64", 16, row)
