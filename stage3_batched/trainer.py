"""The training loop: mini-batches, a reshuffle every epoch, a history, divergence handling.

What this adds over stage 2: batches (one forward/backward/step per group of ``batch_size``
samples instead of per sample), a per-epoch reshuffle from a passed-in generator, validation
after every epoch, a progress bar, and a run that never crashes on a too-large learning rate: a
NaN/inf loss stops training, and the history says ``status="diverged"`` and why.

The hot loop (per batch)::

    xb = X[perm[s:s + B]]                  gathered into one reused (B, D) buffer
    logits = model.forward(xb)             (B, K)
    loss = loss_fn.forward(logits, yb)     float, the mean over the batch
    model.backward(loss_fn.backward(), input_grad=False)   fills the gradients in place
    optimizer.step()                       updates the parameters in place

For plain SGD (no momentum) the learning rate is folded into the loss's small output gradient
(``dO *= lr``, B x K numbers) before the backward pass, so the gradients come out as ``lr * dW``
and the step is a single ``w -= grad`` (see ``SGD.fold_factor``); after such a step
``model.gradients()`` hold ``lr`` times the gradient.

The data set is cast to the model's dtype once, before the first epoch (float32 stays float32
end to end), and its labels and values are checked once. Leaves out: early stopping,
checkpointing during training, gradient accumulation, data loaders running in parallel.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from stage3_batched.losses import CrossEntropy, SoftmaxCrossEntropy, check_labels
from stage3_batched.model import Sequential, check_finite

METRICS = ("accuracy", None)


@dataclass
class History:
    """What a training run did.

    ``step_loss``: the training loss of every update (one float per mini-batch).
    ``epochs``: one dict per finished epoch with keys ``epoch`` (1-based), ``train_loss``,
    ``train_acc``, ``val_loss``, ``val_acc`` (None without validation data or metric), ``lr``
    (the rate used during the epoch) and ``seconds`` (wall time of the epoch incl. validation).
    ``status``: "ok" or "diverged"; ``message``: why it stopped early, else None.
    """

    step_loss: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    status: str = "ok"
    message: str | None = None

    def to_dict(self) -> dict:
        return {"step_loss": list(self.step_loss), "epochs": [dict(e) for e in self.epochs],
                "status": self.status, "message": self.message}


def count_correct(out: np.ndarray, c: np.ndarray) -> int:
    """Number of correct predictions: argmax of the outputs (N, K), or ``out > 0.5`` for one
    output (N, 1) / (N,)."""
    if out.ndim == 1 or out.shape[1] == 1:
        return int(np.count_nonzero((out.reshape(len(out)) > 0.5) == c.reshape(len(out))))
    return int(np.count_nonzero(out.argmax(axis=1) == c))


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _prepare(model: Sequential, loss_fn, X, y, what: str, metric) -> tuple[np.ndarray, np.ndarray]:
    """Cast X to the model's dtype (a copy only if it differs), check shapes, values and labels."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{what} inputs must be a 2-D array (N, D), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"{what}: {len(X)} inputs but {len(y)} targets")
    if model.input_dim is not None and X.shape[1] != model.input_dim:
        raise ValueError(f"{what} inputs have width {X.shape[1]} but the model's first layer "
                         f"expects {model.input_dim}")
    check_finite(X, f"{what} inputs")
    if isinstance(loss_fn, (SoftmaxCrossEntropy, CrossEntropy)) and y.ndim == 1:
        check_labels(y, len(y), model.output_dim)
    elif metric == "accuracy" and y.ndim == 1 and model.output_dim == 1:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{what} targets of a one-output classifier must be 0 or 1")
    if X.dtype != model.dtype:
        X = X.astype(model.dtype)
    return X, y


def evaluate(model: Sequential, loss_fn, X, y, batch_size: int = 1024,
             metric: str | None = "accuracy") -> tuple[float, float | None]:
    """``(mean loss, accuracy)`` over the whole of X (N, D), y (N,), in evaluation mode (dropout
    off; the previous mode is restored afterwards), in chunks of ``batch_size`` rows. The loss is
    the mean over samples (chunk means weighted by chunk size). accuracy is None if metric is
    None."""
    batch_size = _check_batch_size(batch_size)
    X = np.asarray(X)
    y = np.asarray(y)
    n = len(X)
    if n == 0:
        return float("nan"), None
    was = [layer.training for layer in model.layers]
    model.eval()
    total, correct = 0.0, 0
    try:
        with np.errstate(all="ignore"):
            for s in range(0, n, batch_size):
                xb, yb = X[s:s + batch_size], y[s:s + batch_size]
                out = model.forward(xb)               # checks width and NaN/inf
                total += loss_fn.forward(out, yb) * len(xb)
                if metric == "accuracy":
                    correct += count_correct(out, yb)
    finally:
        for layer, mode in zip(model.layers, was):
            layer.training = mode
    return total / n, (correct / n if metric == "accuracy" else None)


def fit(model: Sequential, loss_fn, optimizer, train, val=None, *, epochs: int,
        batch_size: int, rng: np.random.Generator, scheduler=None, progress: bool = True,
        metric: str | None = "accuracy", on_epoch=None) -> History:
    """Train ``model`` on ``train = (X (N, D), y (N,))`` and return a :class:`History`.

    Every epoch: a fresh permutation from ``rng`` (an ``np.random.Generator``), then
    ``ceil(N / batch_size)`` updates (the last batch may be smaller), then evaluation on ``val``
    (if given) in evaluation mode, then ``scheduler.step()`` (if given), then ``on_epoch(row)``
    (if given) with the epoch's history row.

    ``train_loss`` / ``train_acc`` of an epoch are the running figures of that epoch: the mean
    over its samples of the loss / correctness computed by the forward passes used for the
    updates (batch means weighted by batch size), i.e. while the weights were still changing.
    They cost nothing extra; :func:`evaluate` gives the end-of-epoch figure if needed.

    A NaN or inf training loss (or validation loss) stops the run: ``status = "diverged"`` and
    ``message`` names the epoch, step and learning rate; the epochs finished before are kept.
    ``metric=None`` (regression) leaves the accuracy fields None.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose 'accuracy' or None")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed))")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    batch_size = _check_batch_size(batch_size)
    X, y = _prepare(model, loss_fn, *train, "training", metric)
    if val is not None:
        Xv, yv = _prepare(model, loss_fn, *val, "validation", metric)
    n = len(X)
    if n == 0:
        raise ValueError("the training set is empty")
    steps = math.ceil(n / batch_size)
    history = History()
    xbuf = np.empty((min(batch_size, n), X.shape[1]), dtype=X.dtype)  # reused every batch
    ybuf = np.empty((min(batch_size, n),) + y.shape[1:], dtype=y.dtype)
    fold_factor = getattr(optimizer, "fold_factor", lambda: None)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * steps, disable=None, unit="batch", leave=False,
                   dynamic_ncols=True)
    try:
        with np.errstate(all="ignore"):   # divergence is detected from the loss, not warnings
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                lr = optimizer.lr
                model.train()
                perm = rng.permutation(n)
                loss_sum, correct = 0.0, 0
                if bar is not None:
                    bar.set_description(f"epoch {epoch}/{epochs}")
                for step, s in enumerate(range(0, n, batch_size), start=1):
                    idx = perm[s:s + batch_size]
                    m = len(idx)
                    # indices come from a permutation, so mode="clip" (no bounds checks,
                    # and unlike the default mode no hidden intermediate copy) is safe
                    xb = X.take(idx, axis=0, out=xbuf[:m], mode="clip")
                    yb = y.take(idx, axis=0, out=ybuf[:m], mode="clip")
                    out = model.forward(xb, check=False)
                    loss = loss_fn.forward(out, yb)
                    if not math.isfinite(loss):
                        history.status = "diverged"
                        history.message = (f"diverged: the training loss became {loss} at epoch "
                                           f"{epoch}, step {step} of {steps} (learning rate "
                                           f"{lr:g}); training stopped")
                        return history
                    dO = loss_fn.backward()           # (B, K), a fresh array
                    fold = fold_factor()
                    if fold is not None:              # plain SGD: fold lr into the small dO
                        dO *= fold
                    model.backward(dO, input_grad=False)
                    if fold is not None:
                        optimizer.step(prescaled=True)
                    else:
                        optimizer.step()
                    history.step_loss.append(loss)
                    loss_sum += loss * m
                    if metric == "accuracy":
                        correct += count_correct(out, yb)
                    if bar is not None:
                        bar.update(1)
                        if step % 50 == 0 or step == steps:
                            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                row = {"epoch": epoch, "train_loss": loss_sum / n,
                       "train_acc": correct / n if metric == "accuracy" else None,
                       "val_loss": None, "val_acc": None, "lr": lr, "seconds": None}
                if val is not None:
                    row["val_loss"], row["val_acc"] = evaluate(model, loss_fn, Xv, yv,
                                                               metric=metric)
                row["seconds"] = time.perf_counter() - t0
                history.epochs.append(row)
                if on_epoch is not None:
                    on_epoch(row)
                if val is not None and not math.isfinite(row["val_loss"]):
                    history.status = "diverged"
                    history.message = (f"diverged: the validation loss became {row['val_loss']}"
                                       f" after epoch {epoch} (learning rate {lr:g}); training "
                                       "stopped")
                    return history
                if scheduler is not None:
                    scheduler.step()
    finally:
        if bar is not None:
            bar.close()
    return history
