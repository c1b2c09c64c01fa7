"""The training loop: mini-batches, a reshuffle every epoch, a history, divergence handling.

What this adds over stage 2: batches (one forward/backward/step per group of ``batch_size``
samples instead of per sample), a per-epoch reshuffle from a passed-in generator, validation
after every epoch, and a run that never crashes on a too-large learning rate.

:func:`train_epoch` is the whole algorithm, one epoch of it::

    order = rng.permutation(N)                       a fresh random order every epoch
    for each slice idx of batch_size positions of order:
        out  = model.forward(X[idx])                 (B, K)
        loss = loss_fn.forward(out, c[idx])          float, the mean over the batch
        model.zero_grad()                            backward adds, so clear first
        model.backward(loss_fn.backward())           fills every layer's grads
        optimizer.step()                             w <- w - lr * (its update rule)

:func:`fit` wraps it for people: it checks the data once (shapes, labels, NaN/inf; cast to the
model's dtype, float64 by default), runs the epochs, evaluates on validation data, steps a
learning-rate schedule, shows a progress bar (tqdm) or prints one line per epoch
(``verbose=True``, also in notebooks), and applies the project's one divergence rule
(``shared.divergence``): a NaN/inf step loss stops at once, and an epoch whose mean training loss
is above ``3 ln K`` (K = the model's output width; classification only) ends the run; the
:class:`History` then says ``status="diverged"`` and why. It returns a :class:`History`: the
per-epoch table, a plot of loss and accuracy, plain data for run records.

Leaves out: early stopping, checkpointing during training, data loaders running in parallel.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field

import numpy as np

from shared.divergence import epoch_diverged, step_diverged
from stage3_batched.losses import CrossEntropy, SoftmaxCrossEntropy, check_labels
from stage3_batched.model import Sequential, check_finite, predicted_labels

METRICS = ("accuracy", None)
PROBE_SIZE = 256          # training samples on which layer_stats measures each epoch
COLUMNS = (("epoch", "epoch", "{:d}"), ("train_loss", "train loss", "{:.4f}"),
           ("train_acc", "train acc", "{:.4f}"), ("val_loss", "val loss", "{:.4f}"),
           ("val_acc", "val acc", "{:.4f}"), ("lr", "lr", "{:.4g}"),
           ("seconds", "seconds", "{:.2f}"))


def _cell(key: str, value) -> str:
    fmt = next(f for k, _, f in COLUMNS if k == key)
    return "-" if value is None else fmt.format(value)


@dataclass
class History:
    """What a training run did.

    ``step_loss``: the training loss of every update (one float per mini-batch).
    ``epochs``: one dict per finished epoch with keys ``epoch`` (1-based), ``train_loss``,
    ``train_acc``, ``val_loss``, ``val_acc`` (None without validation data or metric), ``lr``
    (the rate used during the epoch) and ``seconds`` (wall time of the epoch incl. validation).
    ``status``: "ok" or "diverged"; ``message``: why it stopped early, else None.

    In a notebook: ``history`` shows a one-line summary, ``history.table()`` the epochs as text
    (an HTML table when it is the cell's value), ``history.plot()`` loss and accuracy per epoch,
    ``history.epoch_values("val_acc")`` one column as an array, ``history.doctor()`` what went
    wrong; :func:`evaluate_classes` the confusion matrix and worst mistakes of a trained model.
    """

    step_loss: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    status: str = "ok"
    message: str | None = None
    num_classes: int | None = None

    def to_dict(self) -> dict:
        return {"step_loss": list(self.step_loss), "epochs": [dict(e) for e in self.epochs],
                "status": self.status, "message": self.message, "num_classes": self.num_classes}

    def doctor(self) -> list[str]:
        """What went wrong in training, one line per symptom with its number
        (:func:`shared.doctor.diagnose`); an empty list for a healthy run."""
        from shared.doctor import diagnose

        return diagnose(self.to_dict())

    def stop(self, message: str) -> History:
        """Mark the run diverged, saying why; returns self."""
        self.status, self.message = "diverged", message
        return self

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The history :meth:`to_dict` wrote (e.g. from a run record)."""
        return cls(list(d["step_loss"]), [dict(e) for e in d["epochs"]], d["status"],
                   d.get("message"), d.get("num_classes"))

    def epoch_values(self, key: str) -> np.ndarray:
        """One column of the epoch table as a float array (N_epochs,); None becomes NaN."""
        if key not in dict((k, n) for k, n, _ in COLUMNS):
            raise KeyError(f"no column {key!r}; the columns are "
                           f"{', '.join(k for k, _, _ in COLUMNS)}")
        return np.array([np.nan if e[key] is None else e[key] for e in self.epochs], float)

    def to_rows(self) -> list[dict]:
        """The epochs as a list of dicts (copies), one per epoch."""
        return [dict(e) for e in self.epochs]

    def table(self) -> str:
        """The epochs as a text table, one line per epoch."""
        head = [name for _, name, _ in COLUMNS]
        rows = [[_cell(k, e[k]) for k, _, _ in COLUMNS] for e in self.epochs]
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        lines = ["  ".join(x.rjust(w) for x, w in zip(r, widths)) for r in [head, *rows]]
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for _, name, _ in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{_cell(k, e[k])}</td>" for k, _, _ in COLUMNS)
                       + "</tr>" for e in self.epochs)
        note = f"<p>{html.escape(self.message)}</p>" if self.message else ""
        return f"<p>{html.escape(repr(self))}</p><table><tr>{head}</tr>{body}</table>{note}"

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        key = next((k for k in ("val_acc", "train_acc", "val_loss", "train_loss")
                    if last.get(k) is not None), None)
        final = f", final {key}={last[key]:.4g}" if key else ""
        return f"History(epochs={len(self.epochs)}, status={self.status!r}{final})"

    def plot(self, ax=None):
        """Loss and accuracy per epoch, training against validation, in two panels; returns the
        matplotlib figure. ``ax``: a pair of axes to draw into (else a new figure)."""
        if ax is None:
            from shared.plotting import new_figure
            fig, axes = new_figure(ncols=2, width=5.0, height=3.5)
            ax = axes[0]
        epochs = self.epoch_values("epoch")
        for panel, what in zip(ax, ("loss", "acc")):
            for split, style in (("train", "-o"), ("val", "--s")):
                values = self.epoch_values(f"{split}_{what}") * (100 if what == "acc" else 1)
                if not np.isnan(values).all():
                    panel.plot(epochs, values, style,
                               label=f"{'validation' if split == 'val' else split} {what}")
            panel.set_xlabel("epoch")
            panel.xaxis.get_major_locator().set_params(integer=True)
            panel.set_ylabel("accuracy (%)" if what == "acc" else "loss")
            panel.legend()
        if self.message:
            ax[0].set_title(self.status)
        ax[0].figure.tight_layout()
        return ax[0].figure


@dataclass
class EpochResult:
    """What :func:`train_epoch` saw: the loss of every update, the sum over samples of the
    loss and of correct predictions, the number of samples, and the NaN/inf loss that stopped
    the epoch early (None if it ran to the end)."""

    step_loss: list = field(default_factory=list)
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    bad_loss: float | None = None

    def add(self, loss: float, out: np.ndarray, c: np.ndarray, metric) -> None:
        self.step_loss.append(loss)
        self.loss_sum += loss * len(out)
        self.seen += len(out)
        if metric == "accuracy":
            self.correct += count_correct(out, c)


def count_correct(out: np.ndarray, c: np.ndarray) -> int:
    """Number of correct predictions (:func:`~stage3_batched.model.predicted_labels` of the
    outputs (N, K) against the labels c (N,))."""
    return int(np.count_nonzero(predicted_labels(out) == c.reshape(len(out))))


def train_epoch(model: Sequential, loss_fn, optimizer, X: np.ndarray, c: np.ndarray,
                batch_size: int, rng: np.random.Generator, *, metric: str | None = "accuracy",
                on_step=None) -> EpochResult:
    """One pass over X (N, D) with targets c (N,) (integer labels, or any targets the loss
    takes) in a fresh random order, one update per mini-batch. X must already be in the model's
    dtype and checked (:func:`fit` does both). Stops at the first NaN/inf loss, before updating
    with it. ``on_step(loss)`` is called after every update."""
    model.train()
    order = rng.permutation(len(X))
    result = EpochResult()
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        X_batch, c_batch = X[idx], c[idx]                  # (B, D), (B,)
        out = model.forward(X_batch, check=False)          # (B, K)
        loss = loss_fn.forward(out, c_batch)               # the mean over the batch
        if not math.isfinite(loss):
            result.bad_loss = loss
            break
        result.add(loss, out, c_batch, metric)
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()
        if on_step is not None:
            on_step(loss)
    return result


def check_batch_size(batch_size) -> int:
    """``batch_size`` as an int; ValueError unless it is an integer >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _prepare(model: Sequential, loss_fn, X, c, what: str, metric) -> tuple[np.ndarray, np.ndarray]:
    """Cast X to the model's dtype (a copy only if it differs), check shapes, values and labels."""
    X, c = np.asarray(X), np.asarray(c)
    if X.ndim != 2:
        raise ValueError(f"{what} inputs must be a 2-D array (N, D), got shape {X.shape}")
    if len(c) != len(X):
        raise ValueError(f"{what}: {len(X)} inputs but {len(c)} targets")
    if model.input_dim is not None and X.shape[1] != model.input_dim:
        raise ValueError(f"{what} inputs have width {X.shape[1]} but the model's first layer "
                         f"expects {model.input_dim}")
    check_finite(X, f"{what} inputs")
    if isinstance(loss_fn, (SoftmaxCrossEntropy, CrossEntropy)) and c.ndim == 1:
        check_labels(c, len(c), model.output_dim)
    elif metric == "accuracy" and c.ndim == 1 and model.output_dim == 1:
        if not np.isin(c, (0, 1)).all():
            raise ValueError(f"{what} targets of a one-output classifier must be 0 or 1")
    return X.astype(model.dtype, copy=False), c


def evaluate(model: Sequential, loss_fn, X, c, batch_size: int = 1024,
             metric: str | None = "accuracy") -> tuple[float, float | None]:
    """``(mean loss, accuracy)`` over the whole of X (N, D), c (N,), in evaluation mode (dropout
    off; the previous mode is restored afterwards), in chunks of ``batch_size`` rows. The loss is
    the mean over samples (chunk means weighted by chunk size). accuracy is None if metric is
    None; an empty X gives ``(nan, None)``."""
    batch_size = check_batch_size(batch_size)
    X, c = np.asarray(X), np.asarray(c)
    if len(X) == 0:
        return float("nan"), None
    total, correct = 0.0, 0
    with model.evaluating(), np.errstate(all="ignore"):
        for s in range(0, len(X), batch_size):
            X_batch, c_batch = X[s:s + batch_size], c[s:s + batch_size]
            out = model.forward(X_batch)                  # checks width and NaN/inf
            total += loss_fn.forward(out, c_batch) * len(X_batch)
            if metric == "accuracy":
                correct += count_correct(out, c_batch)
    return total / len(X), (correct / len(X) if metric == "accuracy" else None)


def evaluate_classes(model: Sequential, X, c, names=None, split: str = "test",
                     batch_size: int = 1024):
    """The :class:`shared.evaluation.Evaluation` of a classifier on X (N, D), c (N,): confusion
    matrix, per-class accuracy, most confused pair and most confidently wrong samples (its
    ``plot()``-like helpers are :func:`shared.evaluation.plot_confusion` / ``plot_mistakes``).
    Returns ``(evaluation, Y)`` with Y (N, K) the predicted probabilities."""
    from shared.evaluation import evaluate_predictions

    with model.evaluating(), np.errstate(all="ignore"):
        out = np.concatenate([model.forward(np.asarray(X[s:s + batch_size]))
                              for s in range(0, len(X), batch_size)])
    Y = np.exp(out - out.max(axis=1, keepdims=True))
    Y /= Y.sum(axis=1, keepdims=True)
    return evaluate_predictions(Y, c, names, split), Y


#: What :func:`layer_stats` calls saturated: a sigmoid output within this of 0 or 1 (its slope
#: h (1 - h) is then below 0.01), a tanh output within it of -1 or 1 (slope below 0.02).
SATURATION_MARGIN = 0.01


def _unit_stats(layer, H: np.ndarray, K: np.ndarray) -> dict | None:
    """Saturated fraction (sigmoid, tanh) or dead fraction (ReLU, leaky ReLU: units whose input
    is negative for every sample) of one activation layer, from its input K and output H (B, U)."""
    kind = type(layer).__name__
    if kind == "Sigmoid":
        return {"saturated": float(np.mean((H < SATURATION_MARGIN) | (H > 1 - SATURATION_MARGIN)))}
    if kind == "Tanh":
        return {"saturated": float(np.mean(np.abs(H) > 1 - SATURATION_MARGIN))}
    if kind in ("ReLU", "LeakyReLU"):
        return {"dead": float(np.mean((K <= 0).all(axis=0)))}
    return None


def _step_scale(optimizer) -> float:
    """The factor from a gradient to an SGD step: lr, or lr / (1 - momentum) with momentum
    (the step's steady-state size); Adam's step is about lr per entry (handled by the caller)."""
    return optimizer.lr / (1 - getattr(optimizer, "momentum", 0.0))


def layer_stats(model: Sequential, loss_fn, optimizer, X: np.ndarray, c: np.ndarray) -> dict:
    """Per-layer statistics of the model on one batch X (B, D), c (B,), in evaluation mode:
    for each weight layer ``grad`` = mean |dW| and ``update_ratio`` = size of one step over the
    size of the weights (SGD: scale ||dW|| / ||W||, scale = lr / (1 - momentum); Adam: lr sqrt(n)
    / ||W||); for each activation layer the fraction of saturated or dead units
    (:func:`_unit_stats`). Leaves the gradients filled (the next update clears them)."""
    stats, A = {}, X
    with model.evaluating(), np.errstate(all="ignore"):
        for name, layer in zip(model.names, model.layers):
            out = layer.forward(A)
            units = _unit_stats(layer, out, A)
            if units is not None:
                stats[name] = units
            A = out
        loss_fn.forward(A, c)
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
    adam = type(optimizer).__name__ == "Adam"
    for name, layer in zip(model.names, model.layers):
        if "W" in getattr(layer, "params", {}):
            W, dW = layer.params["W"], layer.grads["W"]
            norm_w = float(np.linalg.norm(W)) or 1.0
            step = optimizer.lr * np.sqrt(W.size) if adam else \
                _step_scale(optimizer) * float(np.linalg.norm(dW))
            stats[name] = {"grad": float(np.mean(np.abs(dW))), "update_ratio": step / norm_w}
    return stats


def _check_fit(metric, rng, epochs) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose 'accuracy' or None")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed))")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=None, unit="batch", leave=False, dynamic_ncols=True)


def _epoch_row(epoch, result: EpochResult, lr, metric, model, loss_fn, val) -> dict:
    row = {"epoch": epoch, "train_loss": result.loss_sum / result.seen,
           "train_acc": result.correct / result.seen if metric == "accuracy" else None,
           "val_loss": None, "val_acc": None, "lr": lr, "seconds": None}
    if val is not None:
        row["val_loss"], row["val_acc"] = evaluate(model, loss_fn, *val, metric=metric)
    return row


def _epoch_message(row: dict, num_classes: int, metric) -> str | None:
    """The divergence message of a finished epoch, if any (shared.divergence's epoch rule on the
    mean training loss - for classification, where ln K is the loss of a uniform guess - and a
    non-finite validation loss)."""
    epoch, lr = row["epoch"], row["lr"]
    if metric == "accuracy":
        message = epoch_diverged(row["train_loss"], num_classes, epoch=epoch, lr=lr)
        if message:
            return message
    if row["val_loss"] is not None and not math.isfinite(row["val_loss"]):
        return (f"diverged: the validation loss became {row['val_loss']} after epoch {epoch} "
                f"(learning rate {lr:g}); try a smaller learning rate")
    return None


def fit(model: Sequential, loss_fn, optimizer, train, val=None, *, epochs: int,
        batch_size: int, rng: np.random.Generator, scheduler=None, progress: bool = True,
        metric: str | None = "accuracy", on_epoch=None, verbose: bool = False,
        epoch=train_epoch) -> History:
    """Train ``model`` on ``train = (X (N, D), c (N,))`` and return a :class:`History`.

    Every epoch: :func:`train_epoch` (a fresh permutation from ``rng``, an
    ``np.random.Generator``, then ``ceil(N / batch_size)`` updates, the last batch maybe
    smaller), evaluation on ``val`` (if given) in evaluation mode, ``on_epoch(row)`` with the
    epoch's history row, a one-line print if ``verbose``, then ``scheduler.step()``.
    ``train_loss`` / ``train_acc`` are the running figures of the epoch (batch means weighted by
    batch size, while the weights were still changing); :func:`evaluate` gives end-of-epoch ones.

    Divergence (module docstring) stops the run with ``status="diverged"`` and a message; the
    epochs finished before are kept. ``metric=None`` (regression) leaves the accuracy fields None.
    ``progress`` shows a tqdm bar (not with ``verbose``: the epoch lines are the progress).
    ``epoch`` is the function that trains one epoch, :func:`train_epoch` by default; any function
    with its arguments and result will do, e.g. the opt-in
    ``stage3_batched.fast.train_epoch_fast`` (same weights; it pays at small batch sizes,
    README.md "Speed of the plain and the fast epoch").
    """
    _check_fit(metric, rng, epochs)
    if not callable(epoch):
        raise TypeError(f"epoch must be a function like train_epoch, got {epoch!r}")
    batch_size = check_batch_size(batch_size)
    X, c = _prepare(model, loss_fn, *train, "training", metric)
    if len(X) == 0:
        raise ValueError("the training set is empty")
    val = None if val is None else _prepare(model, loss_fn, *val, "validation", metric)
    bar = _progress_bar(progress and not verbose, epochs * math.ceil(len(X) / batch_size))
    try:
        with np.errstate(all="ignore"):   # divergence is detected from the loss, not warnings
            return _fit_epochs(model, loss_fn, optimizer, (X, c), val, epochs, batch_size, rng,
                               scheduler, metric, on_epoch, verbose, epoch, bar)
    finally:
        if bar is not None:
            bar.close()


def _fit_epochs(model, loss_fn, optimizer, train, val, epochs, batch_size, rng, scheduler,
                metric, on_epoch, verbose, run_epoch, bar) -> History:
    """The epochs of :func:`fit`, on checked data."""
    history = History(num_classes=model.output_dim if metric == "accuracy" else None)
    on_step = None if bar is None else (lambda loss: bar.update(1))
    probe = train[0][:PROBE_SIZE], train[1][:PROBE_SIZE]        # the batch layer_stats reads
    for epoch in range(1, epochs + 1):
        t0, lr = time.perf_counter(), optimizer.lr
        result = run_epoch(model, loss_fn, optimizer, *train, batch_size, rng, metric=metric,
                           on_step=on_step)
        history.step_loss += result.step_loss
        if result.bad_loss is not None:                   # NaN/inf step loss: stop at once
            return history.stop(step_diverged(result.bad_loss, epoch=epoch,
                                              step=len(result.step_loss) + 1, lr=lr))
        row = _epoch_row(epoch, result, lr, metric, model, loss_fn, val)
        row["seconds"] = time.perf_counter() - t0
        row["layers"] = layer_stats(model, loss_fn, optimizer, *probe)
        history.epochs.append(row)
        _report(row, epochs, bar, verbose, on_epoch)
        message = _epoch_message(row, model.output_dim or 1, metric)
        if message:
            return history.stop(message)
        if scheduler is not None:
            scheduler.step()
    return history


def _report(row: dict, epochs: int, bar, verbose: bool, on_epoch) -> None:
    """Tell the user and the caller about a finished epoch."""
    if bar is not None:
        bar.set_description(f"epoch {row['epoch']}/{epochs}")
        bar.set_postfix(loss=f"{row['train_loss']:.4f}")
    if verbose:
        cells = "  ".join(f"{name} {_cell(k, row[k])}" for k, name, _ in COLUMNS[1:])
        print(f"epoch {row['epoch']}/{epochs}  {cells}", flush=True)
    if on_epoch is not None:
        on_epoch(row)
