"""Stage 3 trainer: train_epoch (the loop as written in the docstring), fit's divergence rule
(shared.divergence: a NaN step stops at once, an epoch above 3 ln K ends the run), verbose
output, and the notebook-friendly History (summary, table, HTML, columns, plot)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_stage3_train import blobs

from shared.divergence import limit
from stage3_batched import MLP, SGD, History, SoftmaxCrossEntropy, SquaredError, fit, train_epoch


def trained(epochs=3, **kw):
    X, c = blobs(120)
    model = MLP(2, [8], 3, "tanh", rng=np.random.default_rng(0))
    return fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.2, momentum=0.5), (X[:90], c[:90]),
               (X[90:], c[90:]), epochs=epochs, batch_size=16, rng=np.random.default_rng(1),
               progress=False, **kw)


def test_train_epoch_is_the_loop_written_out():
    X, c = blobs(50)
    a = MLP(2, [5], 3, "sigmoid", rng=np.random.default_rng(2))
    b = MLP(2, [5], 3, "sigmoid", rng=np.random.default_rng(2))
    result = train_epoch(a, SoftmaxCrossEntropy(), SGD(a, lr=0.5), X, c, 16,
                         np.random.default_rng(3))
    loss_fn, opt, order = SoftmaxCrossEntropy(), SGD(b, lr=0.5), np.random.default_rng(3)
    order = order.permutation(50)
    losses, correct = [], 0
    for s in range(0, 50, 16):
        idx = order[s:s + 16]
        out = b.forward(X[idx])
        losses.append(loss_fn.forward(out, c[idx]))
        correct += int((out.argmax(axis=1) == c[idx]).sum())
        b.zero_grad()
        b.backward(loss_fn.backward())
        opt.step()
    assert result.step_loss == losses and result.correct == correct and result.seen == 50
    sizes = [16, 16, 16, 2]
    assert result.loss_sum == pytest.approx(sum(l * m for l, m in zip(losses, sizes)), rel=1e-14)
    for k, w in b.parameters().items():
        np.testing.assert_array_equal(a.parameters()[k], w)


def test_a_saturated_run_with_finite_losses_is_diverged_by_the_epoch_rule():
    X, c = blobs(120)
    model = MLP(2, [16], 3, "sigmoid", rng=np.random.default_rng(0))
    hist = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1e4), (X, c), epochs=4,
               batch_size=10, rng=np.random.default_rng(0), progress=False)
    assert all(math.isfinite(loss) for loss in hist.step_loss)     # no NaN: the step rule
    assert hist.status == "diverged" and len(hist.epochs) == 1      # is silent; the epoch one
    assert hist.epochs[0]["train_loss"] > limit(3)                  # stops after epoch 1
    assert "above 3 ln 3" in hist.message and "learning rate 10000" in hist.message


def test_a_nan_step_stops_at_once():
    X, c = blobs(120)
    model = MLP(2, [16], 3, "relu", rng=np.random.default_rng(0))
    hist = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=1e30), (X, c), epochs=3,
               batch_size=10, rng=np.random.default_rng(0), progress=False)
    assert hist.status == "diverged" and hist.epochs == []
    assert f"epoch 1, step {len(hist.step_loss) + 1}" in hist.message
    json.dumps(hist.to_dict(), allow_nan=False)                     # only finite step losses


def test_regression_is_not_judged_by_the_classification_rule():
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (40, 30))
    model = MLP(30, [4], 30, "tanh", output_activation="sigmoid", rng=rng)
    hist = fit(model, SquaredError(), SGD(model, lr=0.01), (X * 40, X * 40), epochs=2,
               batch_size=10, rng=rng, progress=False, metric=None)
    assert hist.epochs[0]["train_loss"] > limit(30)                 # a large but finite loss
    assert hist.status == "ok" and hist.epochs[0]["train_acc"] is None


def test_verbose_prints_one_line_per_epoch(capsys):
    hist = trained(epochs=2, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    row = hist.epochs[1]
    for text in (f"train loss {row['train_loss']:.4f}", f"val acc {row['val_acc']:.4f}",
                 f"lr {row['lr']:.4g}", "seconds"):
        assert text in lines[1]


def test_history_summary_table_columns_and_html():
    hist = trained()
    assert repr(hist) == (f"History(epochs=3, status='ok', "
                          f"final val_acc={hist.epochs[-1]['val_acc']:.4g})")
    np.testing.assert_array_equal(hist.epoch_values("epoch"), [1, 2, 3])
    np.testing.assert_array_equal(hist.epoch_values("val_loss"),
                                  [e["val_loss"] for e in hist.epochs])
    lines = hist.table().splitlines()
    assert lines[0].split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val",
                                "acc", "lr", "seconds"]
    assert len(lines) == 4 and lines[3].split()[0] == "3"
    assert f"{hist.epochs[2]['train_loss']:.4f}" in lines[3]
    assert hist._repr_html_().count("<tr>") == 4
    assert hist.to_rows() == hist.epochs and hist.to_rows()[0] is not hist.epochs[0]
    assert History.from_dict(json.loads(json.dumps(hist.to_dict()))) == hist
    with pytest.raises(KeyError, match="val_acc"):
        hist.epoch_values("accuracy")
    empty = History()
    assert repr(empty) == "History(epochs=0, status='ok')" and empty.epoch_values("lr").size == 0


def test_history_plot_draws_loss_and_accuracy_train_against_validation():
    hist = trained()
    fig = hist.plot()
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train loss", "validation loss"]
    assert [line.get_label() for line in acc_ax.lines] == ["train acc", "validation acc"]
    assert acc_ax.get_ylabel() == "accuracy (%)"
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), 100 * hist.epoch_values("val_acc"),
                               rtol=1e-15, atol=0)
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])
    from shared.plotting import pyplot
    pyplot().close(fig)
    fig2, axes = pyplot().subplots(1, 2)
    assert hist.plot(ax=axes) is fig2 and len(axes[0].lines) == 2
    pyplot().close(fig2)
