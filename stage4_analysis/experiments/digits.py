"""Experiment 9 — two digit classifiers and over-fitting (Ursinus BYOMLP hand-out).

The hand-out's two networks, trained with SGD on the digits, with the accuracy on *all* training
images and on all test images after every epoch:

* A: 784 -> 20 (ReLU) -> 10 (softmax);
* B: 784 -> 40 (ReLU) -> 20 (ReLU) -> 10 (softmax) - an extra 40-unit layer in front.

Softmax + cross-entropy is stage 3's fused ``SoftmaxCrossEntropy`` on the logits (the same
function and gradient as a softmax output layer with cross-entropy). The training-set numbers are
measured after each epoch on the whole training set in evaluation mode (not the running mean
during the epoch), so the gap between the training and the test curves is over-fitting, not lag.

Documented deviations from the hand-out (per-sample SGD for 100 epochs on the 60,000 MNIST
images): mini-batches of BATCH_SIZE at rate LR (6 million per-sample updates per network would
take 10 minutes or more each here; 1,875 batch updates per epoch take ~0.3 s), He-normal initial
weights, float32. Quick mode: the shipped MNIST sample (6,000 train / 1,000 test), QUICK_EPOCHS
epochs. Full mode: MNIST's official 60,000 / 10,000 split, FULL_EPOCHS epochs; when the MNIST
files are absent the experiment is skipped with the loader's message (nothing is substituted;
``--download`` fetches them).

Leaves out: several seeds (one run per network, as in the hand-out), regularisation.
"""

from __future__ import annotations

import time

import numpy as np

from ..data import DATA_SEED, QUICK_IMAGES, data_problem
from ..plots import epochs_axis, finish
from ..report import data_description, epoch_series, md_table, pct
from ..runs import Context, Run, SkipExperiment

NAME = "digits"
TITLE = "9. Digits: 20 hidden units vs 40-20, train and test accuracy per epoch"


NETWORKS = {"A: 784-20-10": (20,), "B: 784-40-20-10": (40, 20)}
ACTIVATION = "relu"
INIT = "he"
LR = 0.05
BATCH_SIZE = 32
DTYPE = "float32"
SEED = 0
FINAL = True                 # train on the training set, measure on the official test set
QUICK_DATASET = QUICK_IMAGES
FULL_DATASET = "mnist"
QUICK_EPOCHS = 40
FULL_EPOCHS = 100


def plan(ctx: Context):
    dataset = QUICK_DATASET if ctx.quick else FULL_DATASET
    problem = data_problem(dataset, FINAL)
    if problem:
        raise SkipExperiment(f"{dataset} is not available here (nothing was substituted): "
                             f"{problem}")
    epochs = int(ctx.option("epochs", QUICK_EPOCHS if ctx.quick else FULL_EPOCHS))
    specs = []
    for label, hidden in NETWORKS.items():
        cfg = {"experiment": NAME, "dataset": dataset, "final": FINAL,
               "data_seed": DATA_SEED, "limit": ctx.option("limit"),
               "hidden_dims": list(hidden), "activation": ACTIVATION, "init": INIT, "lr": LR,
               "batch_size": BATCH_SIZE, "epochs": epochs, "seed": SEED, "dtype": DTYPE}
        specs.append(Run(cfg, execute, label=label))
    return specs


def execute(config: dict) -> dict:
    """Train one network; per epoch: loss and accuracy on the whole training set and on the
    test set (after the epoch), plus the running training figures of the epoch."""
    from stage3_batched import MLP, SGD, SoftmaxCrossEntropy, evaluate, fit

    from ..data import load_data

    (xtr, ytr), (xte, yte), k = load_data(config["dataset"], config["final"], config["dtype"],
                                          config.get("limit"))
    rng = np.random.default_rng(config["seed"])
    model = MLP(xtr.shape[1], config["hidden_dims"], k, config["activation"],
                init=config["init"], rng=rng, dtype=np.dtype(config["dtype"]))
    loss_fn = SoftmaxCrossEntropy()
    opt = SGD(model.parameters(), model.gradients(), lr=config["lr"])

    def on_epoch(row):
        row["train_loss_end"], row["train_acc_end"] = evaluate(model, loss_fn, xtr, ytr)

    t0 = time.perf_counter()
    hist = fit(model, loss_fn, opt, (xtr, ytr), (xte, yte), epochs=config["epochs"],
               batch_size=config["batch_size"], rng=rng, progress=False, on_epoch=on_epoch)
    epochs = [{"epoch": e["epoch"], "train_loss": e["train_loss_end"],
               "train_acc": e["train_acc_end"], "test_loss": e["val_loss"],
               "test_acc": e["val_acc"], "running_train_loss": e["train_loss"],
               "running_train_acc": e["train_acc"], "seconds": e["seconds"]}
              for e in hist.epochs]
    metrics = {"epochs": epochs, "n_train": int(len(xtr)), "n_test": int(len(xte)),
               "n_parameters": int(model.num_parameters()),
               "train_wall_time": time.perf_counter() - t0}
    return {"metrics": metrics, "status": hist.status, "message": hist.message}


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    ok = [r for r in records if r.get("status") in ("ok", "diverged") and r["metrics"]]
    if not ok:
        return []
    fig, axes = new_figure(ncols=2, width=5.8, height=4.3)
    for r, color in zip(ok, ("C0", "C3")):
        lab = r.get("label") or str(r["config"]["hidden_dims"])
        x = epochs_axis(len(r["metrics"]["epochs"]))
        for ax, kind in ((axes[0, 0], "acc"), (axes[0, 1], "loss")):
            ax.plot(x, epoch_series(r, f"train_{kind}"), color=color, lw=1.5, label=f"{lab}, train")
            ax.plot(x, epoch_series(r, f"test_{kind}"), color=color, lw=1.5, ls="--",
                    label=f"{lab}, test")
    axes[0, 0].set_ylim(top=1.0)
    finish(axes[0, 0], "epoch", "accuracy (fraction, after the epoch)",
           "accuracy on all training / all test images", loc="lower right")
    axes[0, 1].set_yscale("log")
    finish(axes[0, 1], "epoch", "cross-entropy loss (nats, log scale)",
           "loss: the test loss turning up is over-fitting", loc="lower left")
    d = ok[0]["config"]["dataset"]
    fig.suptitle(f"Digits: 20 hidden units vs 40-20, SGD lr {LR:g} batch {BATCH_SIZE} — {d}",
                 fontsize=11)
    return [save_figure(fig, fig_dir / "digits_train_test.png")]


def summarize(records, figures, ctx):
    ok = [r for r in records if r.get("status") == "ok"]
    c = records[0]["config"] if records else {}
    out = [f"Networks: {', '.join(NETWORKS)} (ReLU hidden layers, softmax output with "
           f"cross-entropy); SGD lr {LR:g}, mini-batches of {BATCH_SIZE} (the hand-out uses "
           f"single samples; see the module docstring), {c.get('epochs', '?')} epochs, "
           f"He-normal initial weights, {DTYPE}, seed {SEED}."]
    if not ok:
        out.append("\nNo finished run to show.")
        return "\n".join(out)
    m = ok[0]["metrics"]
    out.append("Data: " + data_description(c["dataset"], FINAL, m["n_train"], m["n_test"])
               + ". Training numbers: the whole training set after each epoch (evaluation "
               "mode); test numbers: the whole test set.")
    rows, info = [], {}
    for r in ok:
        tr_acc, te_acc = epoch_series(r, "train_acc"), epoch_series(r, "test_acc")
        tr_loss, te_loss = epoch_series(r, "train_loss"), epoch_series(r, "test_loss")
        best, low = int(np.nanargmax(te_acc)), int(np.nanargmin(te_loss))
        info[r["label"]] = {"test": te_acc[-1], "gap": tr_acc[-1] - te_acc[-1],
                            "low": low + 1, "rise": te_loss[-1] - te_loss[low],
                            "epochs": len(te_acc)}
        rows.append([r["label"], f"{r['metrics']['n_parameters']:,}", pct(tr_acc[-1]),
                     pct(te_acc[-1]), f"{pct(te_acc[best])} (epoch {best + 1})",
                     f"{tr_loss[-1]:.4f}", f"{te_loss[-1]:.4f}",
                     f"{te_loss[low]:.4f} (epoch {low + 1})"])
    out.append("\n" + md_table(["network", "parameters", "final train acc", "final test acc",
                                "best test acc", "final train loss", "final test loss",
                                "lowest test loss"], rows))
    if len(info) == 2:
        (la, a), (lb, b) = info.items()
        win = lb if b["test"] > a["test"] else la
        out.append(f"\n**Better on the test set: {win}** ({pct(max(a['test'], b['test']))} vs "
                   f"{pct(min(a['test'], b['test']))} after the last epoch). Network B is "
                   "wider where it meets the pixels (40 features instead of 20, so twice the "
                   "parameters) and deeper (a second layer combines those features), so it "
                   "can fit more complex class boundaries; here that extra capacity helps the "
                   "test accuracy more than the extra over-fitting hurts it.")
    for lab, v in info.items():
        if v["rise"] > 0.02 and v["low"] < v["epochs"]:
            verdict = (f"over-fits: its test loss is lowest after epoch {v['low']} and rises "
                       f"by {v['rise']:.3f} nats afterwards while the training loss keeps "
                       f"falling; the train-test accuracy gap ends at "
                       f"{100 * v['gap']:.1f} points")
        else:
            verdict = (f"shows no clear over-fitting within {v['epochs']} epochs (test loss "
                       f"still at or near its lowest; train-test accuracy gap "
                       f"{100 * v['gap']:.1f} points)")
        out.append(f"- {lab} {verdict}.")
    out.append("\nOver-fitting shows first in the loss: the test accuracy can stay flat while "
               "the test loss rises, because the network becomes over-confident on the test "
               "digits it gets wrong.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
