"""Training the scalar network: per-instance SGD on the hand-out's synthetic data.

Adds over :mod:`stage1_scalar.network`: a data set, feature normalisation, epochs with shuffling,
a validation loss and accuracy after every epoch, a run record (``shared.records``) and a
loss-curve figure drawn from that record (``shared.plotting``). It is what
``python -m stage1_scalar train`` runs.

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
from shared.weights import WeightFormatError, init_weights, save_json

from .network import forward, sgd_train
from .unrolled import sgd_train_unrolled

#: Learning-curve points stored in the record: the mean step loss of each block of this many steps.
CURVE_BLOCK = 200


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


def train(epochs: int = 5, lr: float = 0.05, hidden: list[int] | None = None,
          samples: int = 60_000, val_samples: int = 10_000, seed: int = 0,
          out: str | Path | None = None, fused: bool = False, init: dict | None = None,
          progress: bool | None = None, plot: bool = True, log=None,
          unrolled: bool = False) -> dict:
    """Train ``[2, *hidden, 2]`` with per-instance SGD on ``load_synth``; returns the run record.

    Randomness: the data come from ``load_synth(seed=seed)``; the initial weights (unless
    ``init`` is given) and the per-epoch shuffles from one ``random.Random(seed)``. Features are
    normalised with the training set's per-feature mean and standard deviation (applied to the
    validation set too). When ``out`` is given, writes ``record.json``, ``weights.json`` (the
    trained weights, shared format) and ``loss_curve.png`` there. ``progress=None`` shows the
    tqdm bar only on a terminal. ``log`` receives every line of text (default: ``tqdm.write``,
    which prints without breaking the bar). ``unrolled=True`` runs the same SGD through
    :func:`stage1_scalar.unrolled.sgd_train_unrolled` (bitwise the same weights, faster).
    """
    from tqdm import tqdm

    log = tqdm.write if log is None else log
    hidden = [3] if hidden is None else [int(n) for n in hidden]
    t0 = time.perf_counter()
    (X, c), (Xv, cv), num_classes = load_data(samples, val_samples, seed)
    sizes = [len(X[0]), *hidden, num_classes]
    config = {"stage": "stage1_scalar", "data": "synth", "sizes": sizes, "epochs": epochs,
              "lr": lr, "batch_size": 1, "samples": samples, "val_samples": val_samples,
              "seed": seed, "backward": "fused" if fused else "jacobian",
              "program": "unrolled" if unrolled else "loops",
              "init": "given" if init is not None else "init_weights(1/sqrt(fan_in))"}

    log(f"synthetic data: {samples} training / {val_samples} validation samples, "
        f"{num_classes} classes; raw training features:")
    log(describe(X))
    mean, std = feature_stats(X)
    X, Xv = normalise(X, mean, std), normalise(Xv, mean, std)
    log("normalising the features with the training mean and std (validation uses the same): "
        "every feature now has mean 0 and std 1")

    rng = random.Random(seed)
    if init is not None:
        if list(init["sizes"]) != sizes:
            raise ValueError(f"initial weights have sizes {list(init['sizes'])}, "
                             f"the data and --hidden need {sizes}")
        weights = init
    else:
        weights = init_weights(sizes, rng)

    val_loss, val_acc = evaluate(weights, Xv, cv)
    metrics = {"epoch": [0], "train_loss": [None], "val_loss": [val_loss], "val_acc": [val_acc],
               "epoch_seconds": [None], "curve_step": [], "curve_loss": [],
               "curve_block": CURVE_BLOCK, "feature_mean": mean, "feature_std": std}
    log(f"network {sizes}, per-instance SGD, lr {lr}, {epochs} epochs, "
        f"{'fused y - onehot(c)' if fused else 'softmax-Jacobian'} backward, "
        f"{'the unrolled program' if unrolled else 'the loops of network.py'}")
    step_fn = sgd_train_unrolled if unrolled else sgd_train
    log(f"epoch 0: val loss {val_loss:.4f}  val acc {val_acc:.4f}  (initial weights)")

    status, error, step = "ok", None, 0
    bar = tqdm(total=epochs * len(X), unit="sample", disable=None if progress is None
               else not progress, leave=False, desc="training")
    chunk = 2000  # samples per sgd_train call (only so the bar can move)
    order = list(range(len(X)))
    block: list[float] = []
    try:
        for epoch in range(1, epochs + 1):
            te = time.perf_counter()
            rng.shuffle(order)
            Xs, cs = [X[i] for i in order], [c[i] for i in order]
            step_losses: list[float] = []
            for start in range(0, len(Xs), chunk):
                weights = step_fn(weights, Xs[start:start + chunk], cs[start:start + chunk],
                                  lr, fused=fused, losses=step_losses)
                bar.update(min(chunk, len(Xs) - start))
            for loss in step_losses:
                block.append(loss)
                step += 1
                if len(block) == CURVE_BLOCK:
                    metrics["curve_step"].append(step)
                    metrics["curve_loss"].append(sum(block) / len(block))
                    block = []
            train_loss = sum(step_losses) / len(step_losses)
            val_loss, val_acc = evaluate(weights, Xv, cv)
            for key, v in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                           ("val_acc", val_acc), ("epoch_seconds", time.perf_counter() - te)):
                metrics[key].append(v)
            log(f"epoch {epoch}: train loss {train_loss:.4f} (mean over the epoch's "
                      f"steps)  val loss {val_loss:.4f}  val acc {val_acc:.4f}")
    except WeightFormatError as e:  # sgd_train refuses non-finite weights: the run blew up
        status, error = "diverged", str(e)
        log(f"diverged: {e}")
    finally:
        bar.close()

    metrics["final_val_acc"] = metrics["val_acc"][-1]
    metrics["final_val_loss"] = metrics["val_loss"][-1]
    wall = time.perf_counter() - t0
    record = records.make_record("stage1-train", config, metrics, status=status, error=error,
                                 wall_time=wall)
    log(f"done in {wall:.1f} s: validation accuracy {metrics['final_val_acc']:.4f}")
    if out is not None:
        out = Path(out)
        records.write_record(out / "record.json", record)
        written = [out / "record.json"]
        if status == "ok":
            save_json(weights, out / "weights.json")
            written.append(out / "weights.json")
        if plot:
            written.append(plot_record(record, out / "loss_curve.png"))
        log("wrote " + ", ".join(str(p) for p in written))
    record["weights"] = weights  # for callers; not part of the written record
    return record


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
