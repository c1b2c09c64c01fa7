"""Stage 2's training: ``fit`` (shuffles, accumulation, history, divergence), the command line
(record, figure, weights) and a smoke run of the benchmark. Small sizes only; the real MNIST run
and the timing are commands (``python -m stage2_perinstance``, ``...benchmark``), not tests."""

import json
import random
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import stage2_perinstance as s2
from shared import records
from shared.data import load_synth
from shared.weights import load_json
from stage2_perinstance import benchmark
from stage2_perinstance.__main__ import main
from stage2_perinstance.train import evaluate, smooth

EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


@pytest.fixture(scope="module")
def synth():
    train, val, _ = load_synth(num_train=400, num_val=200, seed=0)
    return train, val


def test_fit_lowers_the_loss_and_keeps_its_promises(synth):
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    W_before = w0["layers"][0]["W"].copy()
    before, _ = evaluate(w0, *train)
    w, h = s2.fit(w0, train, val, epochs=3, lr=0.3, rng=np.random.default_rng(0),
                  progress=False)
    assert h["status"] == "ok" and h["message"] is None
    assert len(h["step_loss"]) == 3 * 400 and h["log_every"] == 1
    assert [e["epoch"] for e in h["epochs"]] == [1, 2, 3]
    for e in h["epochs"]:
        assert EPOCH_KEYS <= set(e)
        assert 0 <= e["train_acc"] <= 1 and 0 <= e["val_acc"] <= 1 and e["lr"] == 0.3
    assert h["epochs"][-1]["train_loss"] < 0.8 * before
    assert h["epochs"][-1]["val_acc"] > 0.75  # chance is ~0.56 on synth
    assert_allclose(h["epochs"][-1]["train_loss"], evaluate(w, *train)[0], rtol=1e-12)
    json.dumps(h)  # a history is plain JSON: it goes into run records as it is
    assert np.array_equal(w0["layers"][0]["W"], W_before)  # the input weights are untouched


@pytest.mark.parametrize("accumulate", [1, 3])
def test_fit_is_sgd_train_on_each_epochs_permutation(synth, accumulate):
    """fit draws one rng.permutation(N) per epoch and nothing else; each epoch then equals the
    readable sgd_train on the permuted samples with batch_size = accumulate."""
    (X, c), _ = synth
    X, c = X[:50], c[:50]
    w0 = s2.init_weights([2, 5, 2], np.random.default_rng(1))
    w, h = s2.fit(w0, (X, c), None, epochs=2, lr=0.2, accumulate=accumulate,
                  rng=np.random.default_rng(7), progress=False, skip_zero_inputs=False)
    rng = np.random.default_rng(7)
    expect, losses = w0, []
    for _ in range(2):
        perm = rng.permutation(len(X))
        expect = s2.sgd_train(expect, X[perm], c[perm], 0.2, batch_size=accumulate,
                              losses=losses)
    for a, b in zip(w["layers"], expect["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-12, atol=1e-14)
        assert_allclose(a["b"], b["b"], rtol=1e-12, atol=1e-14)
    if accumulate == 1:  # step_loss is the loss of each sample before its update
        assert_allclose(h["step_loss"], losses, rtol=1e-12)
    assert h["epochs"][0]["val_loss"] is None


def test_log_every_stores_block_means(synth):
    (X, c), _ = synth
    w0 = s2.init_weights([2, 4, 2], random.Random(2))
    _, full = s2.fit(w0, (X[:10], c[:10]), None, epochs=1, lr=0.1,
                     rng=np.random.default_rng(3), progress=False)
    _, thin = s2.fit(w0, (X[:10], c[:10]), None, epochs=1, lr=0.1,
                     rng=np.random.default_rng(3), progress=False, log_every=4)
    s = full["step_loss"]
    assert thin["log_every"] == 4
    assert_allclose(thin["step_loss"], [np.mean(s[0:4]), np.mean(s[4:8]), np.mean(s[8:10])],
                    rtol=1e-14)


@pytest.mark.parametrize("lr, where", [(1e3, "after epoch 1"), (1e308, "loss became nan")])
def test_fit_reports_divergence(synth, lr, where):
    """lr 1e3: the loss grows past 100 log K while staying finite (the stable log-softmax never
    makes nan); lr 1e308: the weights overflow and a sample's loss is nan. Both stop training,
    quietly (no numpy warnings), with status "diverged"."""
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = s2.fit(w0, train, val, epochs=3, lr=lr, rng=np.random.default_rng(0),
                      progress=False)
    assert h["status"] == "diverged"
    assert where in h["message"] and str(lr) in h["message"]
    assert len(h["epochs"]) < 3


def test_fit_rejects_bad_arguments(synth):
    train, val = synth
    w0 = s2.init_weights([2, 3, 2], random.Random(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="lr must be"):
        s2.fit(w0, train, val, epochs=1, lr=-0.1, rng=rng)
    with pytest.raises(ValueError, match="accumulate must be"):
        s2.fit(w0, train, val, epochs=1, lr=0.1, accumulate=0, rng=rng)
    with pytest.raises(TypeError, match="numpy Generator"):
        s2.fit(w0, train, val, epochs=1, lr=0.1, rng=random.Random(0))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        s2.fit(w0, (np.zeros((4, 3)), np.zeros(4, int)), None, epochs=1, lr=0.1, rng=rng)


def test_fit_in_float32(synth):
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    w, h = s2.fit(w0, train, val, epochs=2, lr=0.3, rng=np.random.default_rng(0),
                  progress=False, dtype="float32")
    assert w["layers"][0]["W"].dtype == np.float32 and h["dtype"] == "float32"
    _, h64 = s2.fit(w0, train, val, epochs=2, lr=0.3, rng=np.random.default_rng(0),
                    progress=False)
    assert_allclose(h["epochs"][-1]["train_loss"], h64["epochs"][-1]["train_loss"], rtol=1e-3)


def test_smooth_by_hand():
    assert_allclose(smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    assert_allclose(smooth([2, np.nan, 4], 3), [2, 2, 3])


# --------------------------------------------------------------------------- the command line
def test_cli_on_synth_writes_record_figure_and_weights(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--dataset", "synth", "--limit", "300", "--epochs", "2", "--hidden", "6",
                 "--lr", "0.3", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "epoch 2/2: train loss" in text and "val acc" in text
    rec = records.read_record(out / "record.json")
    assert rec["status"] == "ok" and rec["config"]["sizes"] == [2, 6, 2]
    assert rec["config"]["n_train"] == 300 and len(rec["metrics"]["step_loss"]) == 600
    assert len(rec["metrics"]["epochs"]) == 2
    assert (out / "loss_curve.png").stat().st_size > 10_000
    assert load_json(out / "weights.json")["sizes"] == [2, 6, 2]


def test_cli_on_the_mnist_sample(tmp_path, capsys):
    out = tmp_path / "mnist"
    code = main(["--limit", "120", "--epochs", "1", "--hidden", "16", "--accumulate", "4",
                 "--dtype", "float32", "--out", str(out), "--no-progress", "--log-every", "10"])
    assert code == 0, capsys.readouterr().err
    rec = records.read_record(out / "record.json")
    assert rec["config"]["sizes"] == [784, 16, 10] and rec["config"]["dtype"] == "float32"
    assert rec["config"]["skip_zero_inputs"] is True  # MNIST is mostly zeros
    assert len(rec["metrics"]["step_loss"]) == 12
    assert (out / "loss_curve.png").exists()


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--lr", "-1"])
    assert e.value.code == 2
    assert "expected a finite positive number, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err


# --------------------------------------------------------------------------- the benchmark
def test_benchmark_runs_on_tiny_sizes_and_every_variant_computes_the_same():
    res = benchmark.bench_vs_torch("float64", samples=30, repeats=2, sizes=(784, 12, 10),
                                   warmup=5)
    assert res["samples"] == 30 and res["dtype"] == "float64"
    rows = {r["name"]: r for r in res["rows"]}
    assert set(rows) == set(benchmark.VARIANTS)
    for name, r in rows.items():
        if not r["available"]:
            assert name == "torch" and "not installed" in r["note"]
            continue
        assert len(r["samples_per_s"]) == 2 and r["min"] <= r["median"] <= r["max"]
        # the same training, whichever code runs it
        assert r["max_weight_diff_vs_readable"] < 1e-12, name
    threads = res["threads"]["numpy_blas"]
    assert threads is None or threads >= 1
    assert "x torch" in benchmark.format_result(res)


def test_benchmark_without_torch_says_so(monkeypatch):
    monkeypatch.setattr(benchmark, "_torch_setup", lambda: None)
    res = benchmark.bench_vs_torch("float32", samples=10, repeats=1, sizes=(5, 4, 3), warmup=2)
    rows = {r["name"]: r for r in res["rows"]}
    assert not rows["torch"]["available"] and "not installed" in rows["torch"]["note"]
    assert rows["stage2 in-place"]["median"] > 0
    assert rows["stage2 in-place"]["ratio_vs_torch"] is None
    assert res["threads"]["torch"] is None
    assert "torch is not installed" in benchmark.format_result(res)
