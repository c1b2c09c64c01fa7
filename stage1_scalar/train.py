"""Training the scalar network: per-instance SGD on the hand-out's synthetic data.

Adds over :mod:`stage1_scalar.network`: a data set, feature normalisation, epochs with shuffling,
a validation loss and accuracy after every epoch, a divergence check (``shared.divergence``), a
run record (``shared.records``) and a loss-curve figure drawn from that record
(``shared.plotting``). It is what ``python -m stage1_scalar train`` runs.

Two parts, kept apart on purpose:

* :func:`sgd_epochs` - the learning loop itself, the part to read next to the maths: every epoch
  a fresh order of the samples, then per sample forward, backward and ``w <- w - lr dl/dw``
  (``network.sgd_train`` with batch size 1, or the same steps through the unrolled program);
* :class:`Watch` and :func:`train` - everything around it: the progress bar, the learning curve,
  the validation numbers, divergence, the record, the weights file and the figure.

The network code stays numpy-free: numpy enters only through the data loader
(``shared.data.load_synth``, imported inside :func:`load_data`), whose arrays are turned into
Python lists (``shared.data.as_lists``) before stage 1 sees them; matplotlib is imported only to
draw the figure. What it leaves out: mini-batches as one computation (stage 3), other data sets.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from shared import records
from shared.divergence import epoch_diverged, step_diverged, weights_diverged
from shared.weights import activation_of, init_weights, save_json

from .network import forward, sgd_train
from .unrolled import sgd_train_unrolled

#: Learning-curve points stored in the record: the mean step loss of each block of this many steps.
CURVE_BLOCK = 200

#: Samples per call of the SGD function inside an epoch (only so that progress can be shown).
CHUNK = 2000


def load_data(num_train: int, num_val: int, seed: int):
    """The synthetic data as lists: ``(X (N, 2), c (N)), (Xv (Nv, 2), cv (Nv)), num_classes``."""
    from shared.data import as_lists, load_synth  # numpy lives behind this import

    train, val, num_classes = load_synth(num_train=num_train, num_val=num_val, seed=seed)
    return as_lists(train), as_lists(val), num_classes


def feature_stats(X: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per-feature mean and standard deviation of X (N, D): two lists (D). A constant feature gets
    standard deviation 1 (it is only shifted)."""
    N, D = len(X), len(X[0])
    mean = [sum(x[d] for x in X) / N for d in range(D)]
    var = [sum((x[d] - mean[d]) ** 2 for x in X) / N for d in range(D)]
    std = [math.sqrt(v) if v > 0 else 1.0 for v in var]
    return mean, std


def normalise(X: list[list[float]], mean: list[float], std: list[float]) -> list[list[float]]:
    """``(x_d - mean_d) / std_d`` for every sample: X (N, D) -> (N, D)."""
    return [[(x_d - m) / s for x_d, m, s in zip(x, mean, std)] for x in X]


def evaluate(weights: dict, X: list[list[float]], c: list[int]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (argmax of y) on X (N, D), c (N)."""
    total, correct = 0.0, 0
    for x, c_n in zip(X, c):
        y = forward(weights, x)["y"]
        total -= math.log(y[c_n])  # y_c >= TINY: finite
        correct += max(range(len(y)), key=y.__getitem__) == c_n
    return total / len(X), correct / len(X)


def describe(X: list[list[float]]) -> str:
    """One line per feature: min, max, mean, std."""
    mean, std = feature_stats(X)
    lines = []
    for d in range(len(X[0])):
        col = [x[d] for x in X]
        lines.append(f"    feature {d}: min {min(col):+.3f}  max {max(col):+.3f}  "
                     f"mean {mean[d]:+.3f}  std {std[d]:.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the learning loop
def sgd_epochs(weights: dict, X: list[list[float]], c: list[int], *, epochs: int, lr: float,
               rng: random.Random, fused: bool = True, unrolled: bool = False,
               watch: Watch | None = None) -> dict:
    """``epochs`` passes of per-sample SGD over X (N, D), c (N); returns the trained weights.

    Each epoch visits the samples in a fresh order (``rng.shuffle``); for each sample, forward,
    backward and ``w <- w - lr dl/dw`` (:func:`stage1_scalar.network.sgd_train` with batch size
    1, or :func:`stage1_scalar.unrolled.sgd_train_unrolled`: bitwise the same). ``watch`` sees
    each sample's loss (before its update) and the weights after every epoch, and may stop the
    run (divergence).
    """
    step = sgd_train_unrolled if unrolled else sgd_train
    order = list(range(len(X)))
    for epoch in range(1, epochs + 1):
        rng.shuffle(order)  # a fresh order every epoch
        Xs, cs = [X[n] for n in order], [c[n] for n in order]
        for start in range(0, len(Xs), CHUNK):  # CHUNK samples per call, then report progress
            losses: list[float] = []  # each sample's loss, computed before its update
            weights = step(weights, Xs[start:start + CHUNK], cs[start:start + CHUNK], lr,
                           fused=fused, losses=losses)
            if watch is not None and not watch.steps(losses, weights):
                return weights
        if watch is not None and not watch.end_epoch(epoch, weights):
            return weights
    return weights


# --------------------------------------------------------------------------- around the loop
class Watch:
    """What happens around :func:`sgd_epochs`: a progress bar, the learning curve (block means of
    ``CURVE_BLOCK`` step losses), the validation loss and accuracy after every epoch, one log line
    per epoch, and the divergence rule of ``shared.divergence``. ``metrics`` is what the run
    record stores; ``status`` / ``error`` say whether the run diverged."""

    def __init__(self, weights, X, Xv, cv, *, epochs, lr, num_classes, log, progress):
        from tqdm import tqdm

        self.Xv, self.cv, self.lr, self.num_classes, self.log = Xv, cv, lr, num_classes, log
        self.status, self.error, self.step, self.epoch = "ok", None, 0, 1
        self.block: list[float] = []
        self.epoch_losses: list[float] = []
        self.epoch_start = time.perf_counter()
        val_loss, val_acc = evaluate(weights, Xv, cv)
        self.metrics = {"epoch": [0], "train_loss": [None], "val_loss": [val_loss],
                        "val_acc": [val_acc], "epoch_seconds": [None], "curve_step": [],
                        "curve_loss": [], "curve_block": CURVE_BLOCK}
        log(f"epoch 0: val loss {val_loss:.4f}  val acc {val_acc:.4f}  (initial weights)")
        self.bar = tqdm(total=epochs * len(X), unit="sample", leave=False, desc="training",
                        disable=None if progress is None else not progress)

    def _stop(self, message: str) -> bool:
        self.status, self.error = "diverged", message
        return False

    def steps(self, losses: list[float], weights: dict) -> bool:
        """Record a chunk of step losses; False when the run diverged."""
        self.bar.update(len(losses))
        for loss in losses:
            self.step += 1
            message = step_diverged(loss, epoch=self.epoch, step=self.step, lr=self.lr)
            if message:
                return self._stop(message)
            self.epoch_losses.append(loss)
            self.block.append(loss)
            if len(self.block) == CURVE_BLOCK:
                self.metrics["curve_step"].append(self.step)
                self.metrics["curve_loss"].append(sum(self.block) / CURVE_BLOCK)
                self.block = []
        values = (v for layer in weights["layers"] for row in (*layer["W"], layer["b"])
                  for v in row)
        message = weights_diverged(all(math.isfinite(v) for v in values), epoch=self.epoch,
                                   step=self.step, lr=self.lr)
        return self._stop(message) if message else True

    def end_epoch(self, epoch: int, weights: dict) -> bool:
        """Evaluate after an epoch, log one line; False when the run diverged."""
        train_loss = sum(self.epoch_losses) / len(self.epoch_losses)
        val_loss, val_acc = evaluate(weights, self.Xv, self.cv)
        seconds = time.perf_counter() - self.epoch_start
        for key, v in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                       ("val_acc", val_acc), ("epoch_seconds", seconds)):
            self.metrics[key].append(v)
        self.log(f"epoch {epoch}: train loss {train_loss:.4f} (mean over the epoch's steps)  "
                 f"val loss {val_loss:.4f}  val acc {val_acc:.4f}")
        self.epoch, self.epoch_losses, self.epoch_start = epoch + 1, [], time.perf_counter()
        message = epoch_diverged(train_loss, self.num_classes, epoch=epoch, lr=self.lr)
        return self._stop(message) if message else True

    def close(self) -> dict:
        self.bar.close()
        self.metrics["final_val_acc"] = self.metrics["val_acc"][-1]
        self.metrics["final_val_loss"] = self.metrics["val_loss"][-1]
        return self.metrics


def train(epochs: int = 5, lr: float = 0.05, hidden: list[int] | None = None,
          samples: int = 60_000, val_samples: int = 10_000, seed: int = 0,
          out: str | Path | None = None, fused: bool = True, init: dict | None = None,
          progress: bool | None = None, plot: bool = True, log=None,
          unrolled: bool = False, activation: str = "sigmoid") -> dict:
    """Train ``[2, *hidden, 2]`` with per-instance SGD on ``load_synth``; returns the run record.

    Randomness: the data come from ``load_synth(seed=seed)``; the initial weights (unless
    ``init`` is given) and the per-epoch shuffles from one ``random.Random(seed)``. Features are
    normalised with the training set's per-feature mean and standard deviation (applied to the
    validation set too). ``activation`` names the hidden activation of new weights (``init``
    brings its own). When ``out`` is given, writes ``record.json``, ``weights.json`` (the
    trained weights, shared format; not for a diverged run) and ``loss_curve.png`` there.
    ``progress=None`` shows the tqdm bar only on a terminal. ``log`` receives every line of text
    (default: ``tqdm.write``, which prints without breaking the bar). ``unrolled=True`` runs the
    same SGD through :func:`stage1_scalar.unrolled.sgd_train_unrolled` (bitwise the same
    weights, faster; sigmoid only). The record's ``status`` is ``"diverged"`` (and ``error`` the
    message) when the run diverged (``shared.divergence``).
    """
    from tqdm import tqdm


    log = tqdm.write if log is None else log
    hidden = [3] if hidden is None else [int(n) for n in hidden]
    t0 = time.perf_counter()
    (X, c), (Xv, cv), num_classes = load_data(samples, val_samples, seed)
    sizes, rng = [len(X[0]), *hidden, num_classes], random.Random(seed)
    weights = _initial_weights(init, sizes, rng, activation)
    activation = activation_of(weights)
    config = {"stage": "stage1_scalar", "data": "synth", "sizes": sizes, "epochs": epochs,
              "lr": lr, "batch_size": 1, "samples": samples, "val_samples": val_samples,
              "seed": seed, "backward": "fused" if fused else "jacobian",
              "activation": activation, "program": "unrolled" if unrolled else "loops",
              "init": "given" if init is not None else "init_weights(1/sqrt(fan_in))"}
    (X, Xv), (mean, std) = _normalised(X, Xv, log, num_classes)
    log(f"network {sizes} ({activation} hidden), per-instance SGD, lr {lr}, {epochs} epochs, "
        f"{'fused y - onehot(c)' if fused else 'softmax-Jacobian'} backward, "
        f"{'the unrolled program' if unrolled else 'the loops of network.py'}")
    return _train_and_record(config, weights, (X, c), (Xv, cv), rng, t0, out, plot, log,
                             progress, (mean, std))


def _train_and_record(config, weights, train_set, val, rng, t0, out, plot, log, progress,
                      stats) -> dict:
    """The epochs of :func:`train` (with their Watch), then the run record and its files."""
    from shared.threads import blas_threads

    (X, c), (Xv, cv) = train_set, val
    epochs, lr = config["epochs"], config["lr"]
    watch = Watch(weights, X, Xv, cv, epochs=epochs, lr=lr, num_classes=config["sizes"][-1],
                  log=log, progress=progress)
    try:
        weights = sgd_epochs(weights, X, c, epochs=epochs, lr=lr, rng=rng,
                             fused=config["backward"] == "fused",
                             unrolled=config["program"] == "unrolled", watch=watch)
    finally:
        metrics = watch.close()
    metrics["feature_mean"], metrics["feature_std"] = stats
    wall = time.perf_counter() - t0
    record = records.make_record("stage1-train", config, metrics, status=watch.status,
                                 error=watch.error, wall_time=wall)
    record["threads"] = blas_threads()
    if watch.status == "ok":
        log(f"done in {wall:.1f} s: validation accuracy {metrics['final_val_acc']:.4f}")
    if out is not None:
        _write_run(record, weights, Path(out), plot, log)
    record["weights"] = weights  # for callers; not part of the written record
    return record


def _initial_weights(init, sizes: list[int], rng: random.Random, activation: str) -> dict:
    """``init`` (checked against ``sizes``), else new weights drawn from ``rng``."""
    if init is None:
        return init_weights(sizes, rng, activation=activation)
    if list(init["sizes"]) != sizes:
        raise ValueError(f"initial weights have sizes {list(init['sizes'])}, "
                         f"the data and --hidden need {sizes}")
    return init


def _normalised(X, Xv, log, num_classes: int):
    """Both splits normalised with the training features' mean and std, saying so."""
    log(f"synthetic data: {len(X)} training / {len(Xv)} validation samples, "
        f"{num_classes} classes; raw training features:")
    log(describe(X))
    mean, std = feature_stats(X)
    log("normalising the features with the training mean and std (validation uses the same): "
        "every feature now has mean 0 and std 1")
    return (normalise(X, mean, std), normalise(Xv, mean, std)), (mean, std)


def _write_run(record: dict, weights: dict, out: Path, plot: bool, log) -> None:
    """``record.json``, ``weights.json`` (not for a diverged run) and ``loss_curve.png``."""
    written = [records.write_record(out / "record.json", record)]
    if record["status"] == "ok":
        save_json(weights, out / "weights.json")
        written.append(out / "weights.json")
    if plot:
        written.append(plot_record(record, out / "loss_curve.png"))
    log("wrote " + ", ".join(str(p) for p in written))


def plot_record(record: dict, path: str | Path) -> Path:
    """The loss curve of a training record: step losses (block means) and per-epoch train and
    validation loss (left), validation accuracy per epoch (right)."""
    from shared.plotting import new_figure, save_figure

    m = record["metrics"]
    n = record["config"]["samples"]
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    ax_loss, ax_acc = axes[0]
    ax_loss.plot(m["curve_step"], m["curve_loss"], color="tab:blue", alpha=0.5, lw=1,
                 label=f"training loss (mean of {m['curve_block']} steps)")
    epochs = m["epoch"]
    ax_loss.plot([e * n for e in epochs[1:]], m["train_loss"][1:], "o-", color="tab:blue",
                 label="training loss (epoch mean)")
    ax_loss.plot([e * n for e in epochs], m["val_loss"], "s-", color="tab:orange",
                 label="validation loss")
    ax_loss.set_xlabel("training step (samples seen)")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title(f"stage 1, sizes {record['config']['sizes']}, lr {record['config']['lr']}")
    ax_loss.legend()
    ax_acc.plot(epochs, m["val_acc"], "s-", color="tab:orange", label="validation accuracy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("validation accuracy")
    ax_acc.legend()
    return save_figure(fig, path)
