"""Training with stage 2: epochs of per-sample SGD, evaluation, a history for learning curves.

Adds over :mod:`stage2_perinstance.network`: epochs with a fresh shuffle each, the training and
validation loss and accuracy after every epoch, the loss of every sample as it is trained on (the
hand-out's learning curve), divergence detection (``shared.divergence``), a progress bar, and a
figure drawn from a run record. Two parts, kept apart on purpose:

* :func:`sgd_epoch` and the loop in :func:`fit` - the learning itself, the part to read next to
  the maths: every epoch a fresh order of the samples, then per sample ``network.forward``,
  ``network.backward`` and, every ``accumulate`` samples, ``w <- w - lr * mean gradient``;
* :class:`Watch` - everything around it: the progress bar, the learning curve, the evaluation
  after every epoch, divergence, the history.

``fit(..., epoch=...)`` takes any other epoch function with :func:`sgd_epoch`'s arguments and
losses: ``stage2_perinstance.fast.InPlaceEpoch()`` takes the same steps in place, skipping zero
inputs on sparse data (the tests check it gives the same weights). This file never imports it.
What it leaves out: mini-batches as one matrix computation (stage 3).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from shared.divergence import epoch_diverged, step_diverged, weights_diverged

from .network import (
    add_into,
    as_arrays,
    backward,
    check_inputs,
    cross_entropy,
    divide,
    forward,
    sgd_update,
)

__all__ = ["Watch", "evaluate", "fit", "plot_record", "sgd_epoch", "smooth"]


def evaluate(weights: dict, X: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (argmax of the logits) over X (N, n_in), c (N,), one
    :func:`~stage2_perinstance.network.forward` per sample. Returns ``(nan, nan)`` for N = 0."""
    if len(X) == 0:
        return math.nan, math.nan
    total, correct = 0.0, 0
    for n in range(len(X)):
        o = forward(weights, X[n])["o"]
        total += cross_entropy(o, int(c[n]))
        correct += int(np.argmax(o) == c[n])
    return float(total) / len(X), correct / len(X)


# --------------------------------------------------------------------------- the learning loop
def sgd_epoch(weights: dict, X: np.ndarray, c: np.ndarray, order: np.ndarray, lr: float,
              accumulate: int = 1, fused: bool = True):
    """One epoch of per-sample SGD over X (N, n_in), c (N,) in ``order``; yields each sample's
    loss (computed before its update). ``weights`` (arrays) are updated in place: the gradients
    of ``accumulate`` consecutive samples are added up, divided by their number and subtracted
    times ``lr`` (the last group of the epoch may be smaller)."""
    total, m = None, 0
    for j, n in enumerate(order):
        cache = forward(weights, X[n])  # x -> k, h, ..., o, y
        grads, _ = backward(weights, cache, int(c[n]), fused=fused, input_grad=False)
        total = grads if total is None else add_into(total, grads)
        m += 1
        if m == accumulate or j == len(order) - 1:
            sgd_update(weights, divide(total, m), lr)  # w <- w - lr * mean of the m gradients
            total, m = None, 0
        yield cross_entropy(cache["o"], int(c[n]))


sgd_epoch.path = "network.py"   # how a history names it: the file whose steps it takes


def fit(weights: dict, train, val, *, epochs: int, lr: float, rng: np.random.Generator,
        accumulate: int = 1, fused: bool = True, epoch=sgd_epoch,
        progress: bool = True, log_every: int = 1,
        dtype: Any = None, log=None) -> tuple[dict, dict]:
    """Train with per-sample SGD; returns ``(weights, history)``.

    ``weights``: lists or arrays in the shared format (copied, never changed). ``train`` and
    ``val``: pairs ``(X (N, n_in), c (N,) ints)``; ``val`` may be None. ``epochs``: passes over
    ``train``, each in the order of one ``rng.permutation(N)`` (nothing else is drawn from
    ``rng``). ``accumulate``: samples whose gradients are averaged per update (equal to stage 3
    with that batch size). ``fused``: the output gradient ``y - onehot(c)`` (else through the
    softmax Jacobian). ``epoch``: the function that trains one epoch, :func:`sgd_epoch` by default
    (``stage2_perinstance.fast.InPlaceEpoch()``: the in-place steps, fused only, skipping zero
    inputs when at least half the training inputs are exact zeros). ``dtype``: of the
    computation (None: the weights' dtype, float64 for lists).

    ``history``: plain JSON (its fields in :class:`Watch`) - the loss of every training sample
    (``step_loss``, means of ``log_every`` samples when that is > 1) and, after every epoch, the
    training and validation loss and accuracy. Divergence (``shared.divergence``, the rule in
    :class:`Watch`) stops training with status "diverged" and a message; the weights returned
    are those at that point. ``progress``: a tqdm bar over samples (hidden when not a terminal)
    and one line per epoch (through ``log``, default ``tqdm.write``).
    """
    w, (X, c), val = _check_fit_arguments(weights, train, val, epochs, lr, accumulate,
                                          log_every, rng, dtype)
    watch = _watch(epoch, w, (X, c), val, fused=fused, epochs=epochs, lr=lr,
                   log_every=log_every, progress=progress, log=log)
    # a diverging run makes inf/nan on purpose; the watch detects and reports it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for n_epoch in range(1, int(epochs) + 1):
            order = rng.permutation(len(X))  # a fresh order every epoch
            for loss in epoch(w, X, c, order, lr, accumulate=accumulate, fused=fused):
                if not watch.step(loss):  # progress, learning curve, a nan / inf loss
                    break
            if watch.diverged or not watch.end_epoch(n_epoch):  # evaluation, the epoch's loss
                break
    return w, watch.close()


def _check_fit_arguments(weights, train, val, epochs, lr, accumulate, log_every, rng, dtype):
    """``fit``'s arguments checked: ``(weights as arrays, (X, c), (Xv, cv) or None)``."""
    if epochs != int(epochs) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite positive number, got {lr!r}")
    if accumulate != int(accumulate) or accumulate < 1:
        raise ValueError(f"accumulate must be a positive integer, got {accumulate!r}")
    if log_every != int(log_every) or log_every < 1:
        raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed)), got "
                        + type(rng).__name__)
    w = as_arrays(weights, dtype)
    dt = w["layers"][0]["W"].dtype
    pairs = []
    for name, data in (("train", train), ("val", val)):
        if data is None:
            pairs.append(None)
            continue
        try:
            X, c = data
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a pair (X, c) of arrays") from None
        X, c = check_inputs(w, X, c)
        pairs.append((X.astype(dt, copy=False), c))
    if pairs[0] is None or len(pairs[0][0]) == 0:
        raise ValueError("train holds no samples")
    return w, pairs[0], pairs[1]


# --------------------------------------------------------------------------- around the loop
def _watch(epoch, w: dict, train, val, *, fused: bool, **options) -> Watch:
    """The :class:`Watch` of a run with the epoch function ``epoch`` (prepared for ``train``)."""
    if not callable(epoch):
        raise TypeError(f"epoch must be a function like sgd_epoch, got {epoch!r}")
    skip = epoch.prepare(train[0], fused) if hasattr(epoch, "prepare") else False
    path = getattr(epoch, "path", None) or getattr(epoch, "__name__", type(epoch).__name__)
    return Watch(w, train, val, path=path, skip_zero_inputs=skip, **options)


class Watch:
    """What happens around the learning loop of :func:`fit`: the progress bar, the learning
    curve (each sample's loss, or block means of ``log_every``), the evaluation after every
    epoch, one log line per epoch, and the divergence rule of ``shared.divergence``.

    The history :meth:`close` returns (plain JSON)::

        {"step_loss": [...],   # the loss of each training sample, computed in its forward pass
                               # (before its update), in training order; with log_every = m > 1
                               # each entry is the mean over m consecutive samples
         "log_every": m, "step_unit": "sample",
         "epochs": [{"epoch": 1, "train_loss", "train_acc",    # whole training set, evaluated
                     "val_loss", "val_acc",                    # after the epoch (None: no val)
                     "train_loss_running",                     # mean step loss of the epoch
                     "lr", "seconds"}, ...],                   # seconds: train + evaluation
         "status": "ok" | "diverged", "message": None | str,
         "path": "network.py" | "fast.py" (the epoch's ``path``, else its name),
         "skip_zero_inputs": bool, "dtype": str}

    The run diverged (status "diverged", the message says why) on a sample loss that is inf or
    nan, or an epoch whose mean training loss - after the epoch on the whole training set, or the
    mean step loss during it; the epoch line shows both - is above ``3 ln K``, or whose weights
    are no longer finite. ``progress``: a tqdm bar over samples (hidden when not a terminal) and
    one line per epoch (through ``log``, default ``tqdm.write``).
    """

    def __init__(self, weights, train, val, *, epochs, lr, log_every, progress, log, path,
                 skip_zero_inputs):
        from tqdm import tqdm

        self.w, self.train, self.val = weights, train, val
        self.epochs, self.lr, self.log_every = int(epochs), float(lr), int(log_every)
        self.log = log or (tqdm.write if progress else (lambda s: None))
        self.K = int(weights["sizes"][-1])
        self.history = {"step_loss": [], "log_every": self.log_every, "step_unit": "sample",
                        "epochs": [], "status": "ok", "message": None, "path": path,
                        "skip_zero_inputs": bool(skip_zero_inputs),
                        "dtype": str(weights["layers"][0]["W"].dtype)}
        self.bar = tqdm(total=self.epochs * len(train[0]), unit="sample", leave=False,
                        desc="stage 2 training", disable=None if progress else True,
                        mininterval=0.5)
        self.block_sum, self.block_n = 0.0, 0
        self.epoch_sum, self.epoch_n, self.step_n = 0.0, 0, 0
        self.t0 = time.perf_counter()

    @property
    def diverged(self) -> bool:
        return self.history["status"] == "diverged"

    def _stop(self, message: str) -> bool:
        self.history["status"], self.history["message"] = "diverged", message
        return False

    def step(self, loss: float) -> bool:
        """One sample's loss; False when it is nan or inf (the run diverged)."""
        self.step_n += 1
        self.epoch_n += 1
        self.epoch_sum += loss
        self.block_sum += loss
        self.block_n += 1
        if self.block_n == self.log_every:
            self.history["step_loss"].append(self.block_sum / self.block_n)
            self.block_sum, self.block_n = 0.0, 0
        if self.epoch_n % 1000 == 0:
            self.bar.update(1000)
            self.bar.set_postfix(loss=f"{self.epoch_sum / self.epoch_n:.4f}", refresh=False)
        epoch = len(self.history["epochs"]) + 1
        message = step_diverged(loss, epoch=epoch, step=self.epoch_n, lr=self.lr)
        return self._stop(message) if message else True

    def end_epoch(self, epoch: int) -> bool:
        """Evaluate after an epoch and log one line; False when the run diverged."""
        self.bar.update(self.epoch_n % 1000)
        running = self.epoch_sum / self.epoch_n
        train_loss, train_acc = evaluate(self.w, *self.train)
        val_loss, val_acc = evaluate(self.w, *self.val) if self.val else (None, None)
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val_loss, "val_acc": val_acc, "train_loss_running": running,
               "lr": self.lr, "seconds": time.perf_counter() - self.t0}
        self.history["epochs"].append(row)
        vtxt = ("" if val_loss is None else
                f"  val loss {val_loss:.4f}  val acc {100 * val_acc:.2f} %")
        self.log(f"epoch {epoch}/{self.epochs}: train loss {train_loss:.4f} (during the epoch "
                 f"{running:.4f})  train acc {100 * train_acc:.2f} %{vtxt}  "
                 f"({row['seconds']:.1f} s)")
        self.epoch_sum, self.epoch_n, self.t0 = 0.0, 0, time.perf_counter()
        message = self._epoch_divergence(epoch, train_loss, running)
        return self._stop(message) if message else True

    def _epoch_divergence(self, epoch: int, train_loss: float, running: float) -> str | None:
        """shared.divergence's epoch rule on both training losses the epoch line shows (after
        the epoch, whole training set; and the mean over the samples while training), then
        the weights' finiteness; the message quotes the number that broke the rule."""
        message = epoch_diverged(train_loss, self.K, epoch=epoch, lr=self.lr)
        if message is None and epoch_diverged(running, self.K, epoch=epoch, lr=self.lr):
            message = epoch_diverged(running, self.K, epoch=epoch, lr=self.lr).replace(
                f"the mean training loss of epoch {epoch}",
                f"the mean loss of the samples trained on during epoch {epoch}")
        return message or weights_diverged(
            all(np.isfinite(la[k]).all() for la in self.w["layers"] for k in ("W", "b")),
            epoch=epoch, lr=self.lr)

    def close(self) -> dict:
        self.bar.close()
        if self.block_n:  # the last, shorter block of the curve
            self.history["step_loss"].append(self.block_sum / self.block_n)
        return self.history


# --------------------------------------------------------------------------- the figure
def smooth(values, window: int) -> np.ndarray:
    """Moving average over ``window`` points (shorter at the start: the mean of what there is).
    values (T,) -> (T,). Non-finite values are left out of the averages."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    cs = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    cn = np.concatenate([[0], np.cumsum(ok)])
    hi = np.arange(1, len(v) + 1)
    lo = np.maximum(hi - max(int(window), 1), 0)
    count = cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (cs[hi] - cs[lo]) / np.maximum(count, 1), np.nan)


def plot_record(record: dict, path: str | Path) -> Path:
    """The loss curves of a stage-2 run record: the loss of each sample (or block of
    ``log_every`` samples) against the time step, raw and smoothed (left); the per-epoch training
    and validation loss (middle) and accuracy (right)."""
    from shared.plotting import new_figure, save_figure

    cfg = record["config"]
    fig, axes = new_figure(ncols=3, width=5.0, height=3.8)
    ax, ax_ep, ax_acc = axes[0]
    _plot_learning_curve(ax, record["metrics"], cfg.get("n_train"))
    _plot_epochs(ax_ep, ax_acc, record["metrics"]["epochs"])
    status = record.get("status", "ok")
    fig.suptitle(f"stage 2 (per-sample numpy): {cfg.get('dataset')}, sizes {cfg.get('sizes')}, "
                 f"lr {cfg.get('lr')}, accumulate {cfg.get('accumulate')}"
                 + ("" if status == "ok" else f" [{status}]"))
    return save_figure(fig, path)


def _plot_learning_curve(ax, m: dict, n_train: int | None) -> None:
    """The learning curve of the metrics ``m``: each step loss, raw and smoothed; epochs dotted."""
    from shared.records import from_json_float

    every = int(m.get("log_every", 1))
    steps = [from_json_float(v) for v in m["step_loss"]]
    t = (np.arange(len(steps)) + 1) * every
    unit = "sample" if every == 1 else f"mean of {every} samples"
    if steps:
        ax.plot(t, steps, color="tab:blue", alpha=0.25, lw=0.5, label=f"loss per {unit}")
        window = max(len(steps) // 100, 1)
        ax.plot(t, smooth(steps, window), color="tab:blue", lw=1.5,
                label=f"moving average ({window * every} samples)")
    if n_train:
        for e in range(1, len(m["epochs"])):
            ax.axvline(e * n_train, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("time step (training samples seen)")
    ax.set_ylabel("cross-entropy loss")
    finite = np.asarray(steps, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size:  # single samples spike to large losses: show the body of the curve
        ax.set_ylim(0.0, 1.05 * max(float(np.percentile(finite, 99)), 1e-12))
    ax.set_title("learning curve (dotted: epoch ends; y cut at the 99th percentile)", fontsize=9)
    ax.legend(fontsize=8)


def _plot_epochs(ax_ep, ax_acc, epochs: list[dict]) -> None:
    """The training and validation loss (``ax_ep``) and accuracy (``ax_acc``) after each epoch."""
    from shared.records import from_json_float

    ep = [r["epoch"] for r in epochs]
    for key, style, label in (("train", "o-", "training set"), ("val", "s-", "validation set")):
        loss = [from_json_float(r[f"{key}_loss"]) if r[f"{key}_loss"] is not None else np.nan
                for r in epochs]
        acc = [100 * r[f"{key}_acc"] if r[f"{key}_acc"] is not None else np.nan for r in epochs]
        ax_ep.plot(ep, loss, style, label=label)
        ax_acc.plot(ep, acc, style, label=label)
    ax_ep.set_xlabel("epoch")
    ax_ep.set_ylabel("mean cross-entropy loss (after the epoch)")
    ax_ep.set_title("training vs validation loss")
    ax_ep.legend(fontsize=8)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("training vs validation accuracy")
    ax_acc.legend(fontsize=8)
    for a in (ax_ep, ax_acc):
        if ep:
            a.set_xticks(ep)
