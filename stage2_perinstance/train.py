"""Training with stage 2: epochs of per-sample SGD, evaluation, a history for learning curves.

Adds over :mod:`stage2_perinstance.network`: epochs with a fresh shuffle each, the training and
validation loss and accuracy after every epoch, the loss of every sample as it is trained on (the
hand-out's learning curve), divergence detection, a progress bar, and a figure drawn from a run
record. The steps themselves are :class:`stage2_perinstance.fast.InPlaceSGD` (the same arithmetic
as ``network.sgd_train``, in place; the tests check they agree). What it leaves out: mini-batches
as one matrix computation (stage 3).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from .fast import InPlaceSGD, predict_one
from .network import as_arrays, check_inputs

#: :func:`fit` calls a run diverged when an epoch's training loss exceeds this many times
#: ``log K`` (the loss of a uniform guess over K classes).
DIVERGE_FACTOR = 100.0

#: Inputs with at least this fraction of exact zeros train with ``skip_zero_inputs`` when
#: :func:`fit` is left to choose (MNIST: about 81% zeros).
SPARSE_FRACTION = 0.5


def evaluate(weights: dict, X: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (argmax of the logits) over X (N, n_in), c (N,), one
    sample at a time. ``weights`` holds arrays. Returns ``(nan, nan)`` for N = 0."""
    if len(X) == 0:
        return math.nan, math.nan
    layers = weights["layers"]
    dtype = layers[0]["W"].dtype
    total, correct = 0.0, 0
    for n in range(len(X)):
        o = predict_one(layers, X[n].astype(dtype, copy=False))
        m = o.max()
        total += math.log(np.exp(o - m).sum()) + m - o[c[n]]  # -log_softmax(o)[c]
        correct += int(np.argmax(o) == c[n])
    return float(total) / len(X), correct / len(X)


def _split(data, weights, name) -> tuple[np.ndarray, np.ndarray]:
    if data is None:
        return None
    try:
        X, c = data
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (X, y) of arrays") from None
    X, c = check_inputs(weights, X, c)
    return X, c


def fit(weights: dict, train, val, *, epochs: int, lr: float, accumulate: int = 1,
        rng: np.random.Generator, progress: bool = True, log_every: int = 1,
        dtype: Any = None, skip_zero_inputs: bool | None = None,
        diverge_factor: float = DIVERGE_FACTOR, log=None) -> tuple[dict, dict]:
    """Train with per-sample SGD; returns ``(weights, history)``.

    ``weights``: lists or arrays in the shared format (copied, never changed). ``train`` and
    ``val``: pairs ``(X (N, n_in), y (N,) ints)``; ``val`` may be None. ``epochs``: passes over
    ``train``, each in the order of one ``rng.permutation(N)`` (nothing else is drawn from
    ``rng``). ``accumulate``: samples whose gradients are averaged per update (the last group of
    an epoch may be smaller; equal to stage 3 with that batch size). ``dtype``: of the computation
    (None: the weights' dtype, float64 for lists). ``skip_zero_inputs``: see
    :mod:`stage2_perinstance.fast`; None chooses it when at least half the training inputs are
    exact zeros.

    ``history``::

        {"step_loss": [...],   # the loss of each training sample, computed in its forward pass
                               # (before its update), in training order; with log_every = m > 1
                               # each entry is the mean over m consecutive samples
         "log_every": m, "step_unit": "sample",
         "epochs": [{"epoch": 1, "train_loss", "train_acc",    # whole training set, evaluated
                     "val_loss", "val_acc",                    # after the epoch (None: no val)
                     "train_loss_running",                     # mean step loss of the epoch
                     "lr", "seconds"}, ...],                   # seconds: train + evaluation
         "status": "ok" | "diverged", "message": None | str}

    Divergence stops training with status "diverged" and a message (the weights returned are those
    at that point): a sample loss that is inf or nan (checked after every sample), or, after an
    epoch, a training loss above ``diverge_factor * log(K)`` (``K`` classes; ``log K`` is the loss
    of a uniform guess) or non-finite weights. The second rule matters because the stable
    log-softmax keeps the loss finite while the weights run off to 1e300.
    ``progress``: a tqdm bar over samples (hidden when not a terminal) and one printed line per
    epoch (through ``log``, default ``tqdm.write``).
    """
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
    X, c = _split(train, w, "train")
    Xv, cv = _split(val, w, "val") if val is not None else (None, None)
    if len(X) == 0:
        raise ValueError("train holds no samples")
    X = X.astype(dt, copy=False)
    if skip_zero_inputs is None:
        skip_zero_inputs = bool(np.mean(X == 0) >= SPARSE_FRACTION)
    opt = InPlaceSGD(w, lr, accumulate=int(accumulate), skip_zero_inputs=skip_zero_inputs)

    from tqdm import tqdm

    if log is None:
        log = tqdm.write if progress else (lambda s: None)
    history: dict = {"step_loss": [], "log_every": int(log_every), "step_unit": "sample",
                     "epochs": [], "status": "ok", "message": None,
                     "skip_zero_inputs": skip_zero_inputs, "dtype": str(dt)}
    N = len(X)
    bar = tqdm(total=int(epochs) * N, unit="sample", desc="stage 2 training", leave=False,
               disable=None if progress else True, mininterval=0.5)
    block_sum, block_n = 0.0, 0
    try:
        # a diverging run makes inf/nan on purpose; it is detected below and reported
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, int(epochs) + 1):
                t0 = time.perf_counter()
                order = rng.permutation(N)
                epoch_sum, bad = 0.0, None
                for j, n in enumerate(order):
                    loss = opt.step(X[n], int(c[n]))
                    epoch_sum += loss
                    block_sum += loss
                    block_n += 1
                    if block_n == log_every:
                        history["step_loss"].append(block_sum / block_n)
                        block_sum, block_n = 0.0, 0
                    if not math.isfinite(loss):
                        bad = (j, loss)
                        break
                    if j % 1000 == 999:
                        bar.update(1000)
                        bar.set_postfix(loss=f"{epoch_sum / (j + 1):.4f}", refresh=False)
                bar.update((j + 1) % 1000 if bad is None else 0)
                if bad is not None:
                    opt.pending = 0  # never apply a half group of non-finite gradients
                    history["status"] = "diverged"
                    history["message"] = (f"loss became {bad[1]} at epoch {epoch}, sample "
                                          f"{bad[0]} of the epoch (lr {lr}): training stopped")
                    break
                opt.flush()  # the last, possibly smaller, group of the epoch
                train_loss, train_acc = evaluate(w, X, c)
                val_loss, val_acc = (evaluate(w, Xv, cv) if Xv is not None else (None, None))
                row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                       "val_loss": val_loss, "val_acc": val_acc,
                       "train_loss_running": epoch_sum / N, "lr": float(lr),
                       "seconds": time.perf_counter() - t0}
                history["epochs"].append(row)
                vtxt = ("" if val_loss is None else
                        f"  val loss {val_loss:.4f}  val acc {val_acc:.4f}")
                log(f"epoch {epoch}/{epochs}: train loss {train_loss:.4f}  train acc "
                    f"{train_acc:.4f}{vtxt}  ({row['seconds']:.1f} s)")
                limit = diverge_factor * math.log(max(w["sizes"][-1], 2))
                finite_w = all(np.isfinite(la[k]).all() for la in w["layers"] for k in "Wb")
                if not (math.isfinite(train_loss) and train_loss <= limit and finite_w):
                    history["status"] = "diverged"
                    history["message"] = (
                        f"after epoch {epoch} the training loss is {train_loss:.4g} (limit "
                        f"{diverge_factor:g} x log K = {limit:.4g})"
                        + ("" if finite_w else " and the weights hold inf/nan")
                        + f" (lr {lr}): training stopped")
                    break
    finally:
        bar.close()
    if block_n:  # the last, shorter block of the curve
        history["step_loss"].append(block_sum / block_n)
    if history["status"] == "diverged":
        log("diverged: " + history["message"])
    return w, history


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
    from shared.records import from_json_float

    m = record["metrics"]
    cfg = record["config"]
    every = int(m.get("log_every", 1))
    steps = [from_json_float(v) for v in m["step_loss"]]
    t = (np.arange(len(steps)) + 1) * every
    fig, axes = new_figure(ncols=3, width=5.0, height=3.8)
    ax, ax_ep, ax_acc = axes[0]
    unit = "sample" if every == 1 else f"mean of {every} samples"
    if steps:
        ax.plot(t, steps, color="tab:blue", alpha=0.25, lw=0.5, label=f"loss per {unit}")
        window = max(len(steps) // 100, 1)
        ax.plot(t, smooth(steps, window), color="tab:blue", lw=1.5,
                label=f"moving average ({window * every} samples)")
    n_train = cfg.get("n_train")
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

    ep = [r["epoch"] for r in m["epochs"]]
    for key, style, label in (("train", "o-", "training set"), ("val", "s-", "validation set")):
        loss = [from_json_float(r[f"{key}_loss"]) if r[f"{key}_loss"] is not None else np.nan
                for r in m["epochs"]]
        acc = [r[f"{key}_acc"] if r[f"{key}_acc"] is not None else np.nan for r in m["epochs"]]
        ax_ep.plot(ep, loss, style, label=label)
        ax_acc.plot(ep, acc, style, label=label)
    ax_ep.set_xlabel("epoch")
    ax_ep.set_ylabel("mean cross-entropy loss (after the epoch)")
    ax_ep.set_title("training vs validation loss")
    ax_ep.legend(fontsize=8)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("training vs validation accuracy")
    ax_acc.legend(fontsize=8)
    for a in (ax_ep, ax_acc):
        if ep:
            a.set_xticks(ep)
    status = record.get("status", "ok")
    fig.suptitle(f"stage 2 (per-sample numpy): {cfg.get('dataset')}, sizes {cfg.get('sizes')}, "
                 f"lr {cfg.get('lr')}, accumulate {cfg.get('accumulate')}"
                 + ("" if status == "ok" else f" [{status}]"))
    return save_figure(fig, path)
