"""Experiment 9 — two digit classifiers and over-fitting (Ursinus BYOMLP hand-out).

The hand-out's two networks, trained with SGD on the digits, with the accuracy on *all* training
images and on all validation images (held out of the training data) after every epoch, and on
the test images once, after training (with the confusion matrix):

* A: 784 -> 20 (ReLU) -> 10 (softmax);
* B: 784 -> 40 (ReLU) -> 20 (ReLU) -> 10 (softmax) - an extra 40-unit layer in front.

Softmax + cross-entropy is stage 3's fused ``SoftmaxCrossEntropy`` on the logits (the same
function and gradient as a softmax output layer with cross-entropy). The training-set numbers are
measured after each epoch on the whole training set in evaluation mode (not the running mean
during the epoch), so the gap between the training and the validation curves is over-fitting,
not lag. (The hand-out plots the test set every epoch; here the test set is read once.)

Documented deviations from the hand-out (per-sample SGD for 100 epochs on the 60,000 MNIST
images): mini-batches of BATCH_SIZE at rate LR (6 million per-sample updates per network would
take 10 minutes or more each here; 1,875 batch updates per epoch take ~0.3 s), He-normal initial
weights, float32. Quick mode: the shipped MNIST sample (5,000 train / 1,000 validation / 1,000
test), QUICK_EPOCHS epochs. Full mode: MNIST (55,000 / 5,000 / the official 10,000 test),
FULL_EPOCHS epochs; when the MNIST
files are absent the experiment is skipped with the loader's message (nothing is substituted;
``--download`` fetches them).

Leaves out: several seeds (one run per network, as in the hand-out), regularisation.
"""

from __future__ import annotations

import time

import numpy as np

from ..data import DATA_SEED, QUICK_IMAGES, data_problem
from ..plots import confused_text, confusion_figure, epochs_axis, finish, mark_test
from ..report import doctor_text, epoch_series, md_table, pct, test_description
from ..runs import Context, Run, SkipExperiment

NAME = "digits"
TITLE = "9. Digits: 20 hidden units vs 40-20, train and validation accuracy per epoch, test once"


NETWORKS = {"A: 784-20-10": (20,), "B: 784-40-20-10": (40, 20)}
ACTIVATION = "relu"
INIT = "he"
LR = 0.05
BATCH_SIZE = 32
DTYPE = "float32"
SEED = 0
FINAL = True                 # after training, measure the official test set once
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
        cfg = {"experiment": NAME, "dataset": dataset, "final": FINAL, "monitor": "validation",
               "data_seed": DATA_SEED, "limit": ctx.option("limit"),
               "hidden_dims": list(hidden), "activation": ACTIVATION, "init": INIT, "lr": LR,
               "batch_size": BATCH_SIZE, "epochs": epochs, "seed": SEED, "dtype": DTYPE}
        specs.append(Run(cfg, execute, label=label))
    return specs


def execute(config: dict) -> dict:
    """Train one network; per epoch: loss and accuracy on the whole training set and on the
    validation set (after the epoch), plus the running training figures of the epoch; after
    training: the test set, once, with its confusion matrix."""
    from stage3_batched import MLP, SGD, SoftmaxCrossEntropy, evaluate, fit

    from ..data import load_data

    (xtr, ytr), (xva, yva), k = load_data(config["dataset"], False, config["dtype"],
                                          config.get("limit"))
    xte, yte = load_data(config["dataset"], True, config["dtype"])[1]
    rng = np.random.default_rng(config["seed"])
    model = MLP(xtr.shape[1], config["hidden_dims"], k, config["activation"],
                init=config["init"], rng=rng, dtype=np.dtype(config["dtype"]))
    loss_fn = SoftmaxCrossEntropy()
    opt = SGD(model.parameters(), model.gradients(), lr=config["lr"])

    def on_epoch(row):
        row["train_loss_end"], row["train_acc_end"] = evaluate(model, loss_fn, xtr, ytr)

    t0 = time.perf_counter()
    hist = fit(model, loss_fn, opt, (xtr, ytr), (xva, yva), epochs=config["epochs"],
               batch_size=config["batch_size"], rng=rng, progress=False, on_epoch=on_epoch)
    epochs = [{"epoch": e["epoch"], "train_loss": e["train_loss_end"],
               "train_acc": e["train_acc_end"], "val_loss": e["val_loss"],
               "val_acc": e["val_acc"], "running_train_loss": e["train_loss"],
               "running_train_acc": e["train_acc"], "seconds": e["seconds"],
               "layers": e.get("layers")}
              for e in hist.epochs]
    metrics = {"epochs": epochs, "n_train": int(len(xtr)), "n_val": int(len(xva)),
               "n_test": int(len(xte)), "n_parameters": int(model.num_parameters()),
               "train_wall_time": time.perf_counter() - t0, "final": {}, "evaluation": None}
    if hist.status == "ok":
        metrics.update(test_once(model, loss_fn, (xte, yte), config["dataset"]))
    return {"metrics": metrics, "status": hist.status, "message": hist.message}


def test_once(model, loss_fn, test, dataset: str) -> dict:
    """``{"final": {"test_loss", "test_acc"}, "evaluation": ...}`` of a trained model on the
    test split (read here, once, after training)."""
    from shared.evaluation import class_names
    from stage3_batched import evaluate
    from stage3_batched.trainer import evaluate_classes

    loss, acc = evaluate(model, loss_fn, *test)
    ev, _ = evaluate_classes(model, *test, class_names(dataset, model.output_dim), "test")
    return {"final": {"test_loss": loss, "test_acc": acc}, "evaluation": ev.to_dict()}


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    ok = [r for r in records if r.get("status") in ("ok", "diverged") and r["metrics"]]
    if not ok:
        return []
    fig, axes = new_figure(ncols=2, width=5.8, height=4.3)
    tests = [(r["metrics"].get("final") or {}).get("test_acc") or 0 for r in ok]
    for r, color, acc in zip(ok, ("C0", "C3"), tests):
        lab = r.get("label") or str(r["config"]["hidden_dims"])
        x = epochs_axis(len(r["metrics"]["epochs"]))
        for ax, kind, scale in ((axes[0, 0], "acc", 100), (axes[0, 1], "loss", 1)):
            ax.plot(x, scale * epoch_series(r, f"train_{kind}"), color=color, lw=1.5,
                    label=f"{lab}, train")
            ax.plot(x, scale * epoch_series(r, f"val_{kind}"), color=color, lw=1.5, ls="--",
                    label=f"{lab}, validation")
        mark_test(axes[0, 0], len(x), acc or None, f"{lab}, test once", color=color,
                  below=acc < max(tests))
    axes[0, 0].set_ylim(top=100.5)
    finish(axes[0, 0], "epoch", "accuracy (%, after the epoch)",
           "all training / validation images; stars: test, once", loc="lower right", fontsize=7)
    axes[0, 1].set_yscale("log")
    finish(axes[0, 1], "epoch", "cross-entropy loss (nats, log scale)",
           "loss: the validation loss turning up is over-fitting", loc="lower left")
    d = ok[0]["config"]["dataset"]
    fig.suptitle(f"Digits: 20 hidden units vs 40-20, SGD lr {LR:g} batch {BATCH_SIZE} — {d}, "
                 f"one seed", fontsize=11)
    figs = [save_figure(fig, fig_dir / "digits_train_test.png")]
    last = ok[-1]
    path = confusion_figure(last["metrics"].get("evaluation"), f"digits, {last.get('label')}",
                            fig_dir / "digits_confusion.png")
    return figs + ([path] if path else [])


def _info(r) -> tuple[dict, list]:
    """Over-fitting figures of one run and its table row."""
    tr_acc, va_acc = epoch_series(r, "train_acc"), epoch_series(r, "val_acc")
    tr_loss, va_loss = epoch_series(r, "train_loss"), epoch_series(r, "val_loss")
    best, low = int(np.nanargmax(va_acc)), int(np.nanargmin(va_loss))
    test = (r["metrics"].get("final") or {}).get("test_acc")
    info = {"test": test, "val": va_acc[-1], "gap": tr_acc[-1] - va_acc[-1], "low": low + 1,
            "rise": va_loss[-1] - va_loss[low], "epochs": len(va_acc)}
    row = [r["label"], f"{r['metrics']['n_parameters']:,}", pct(tr_acc[-1]), pct(va_acc[-1]),
           f"{pct(va_acc[best])} (epoch {best + 1})", f"{tr_loss[-1]:.4f}", f"{va_loss[-1]:.4f}",
           f"{va_loss[low]:.4f} (epoch {low + 1})", f"**{pct(test)}**",
           confused_text(r["metrics"].get("evaluation")) or "–"]
    return info, row


def summarize(records, figures, ctx):
    ok = [r for r in records if r.get("status") == "ok"]
    c = records[0]["config"] if records else {}
    out = [f"Networks: {', '.join(NETWORKS)} (ReLU hidden layers, softmax output with "
           f"cross-entropy); SGD lr {LR:g}, mini-batches of {BATCH_SIZE} (the hand-out uses "
           f"single samples; see the module docstring), {c.get('epochs', '?')} epochs, "
           f"He-normal initial weights, {DTYPE}, one seed ({SEED})."]
    if not ok:
        out.append("\nNo finished run to show.")
        return "\n".join(out)
    m = ok[0]["metrics"]
    out.append("Data: " + test_description(c["dataset"], m["n_train"], m.get("n_val"),
                                           m["n_test"])
               + ". Training numbers: the whole training set after each epoch (evaluation "
               "mode); validation numbers: the whole validation set; the test set once.")
    infos = {r["label"]: _info(r) for r in ok}
    out.append("\n" + md_table(["network", "parameters", "final train acc", "final val acc",
                                "best val acc", "final train loss", "final val loss",
                                "lowest val loss", "test acc (once)", "test errors"],
                               [row for _, row in infos.values()]))
    out += _verdicts({k: v for k, (v, _) in infos.items()})
    out += [doctor_text({**r, "metrics": {**r["metrics"], "epochs": [
        {**e, "train_loss": e["running_train_loss"]} for e in r["metrics"]["epochs"]]}},
        r["label"]) for r in ok]
    return "\n".join(out)


def _verdicts(info: dict) -> list[str]:
    out = []
    if len(info) == 2 and all(v["test"] is not None for v in info.values()):
        (la, a), (lb, b) = info.items()
        win = lb if b["test"] > a["test"] else la
        out.append(f"\n**Better on the test set: {win}** ({pct(max(a['test'], b['test']))} vs "
                   f"{pct(min(a['test'], b['test']))}, measured once after the last epoch). "
                   "Network B is wider where it meets the pixels (40 features instead of 20, so "
                   "twice the parameters) and deeper (a second layer combines those features), "
                   "so it can fit more complex class boundaries.")
    for lab, v in info.items():
        if v["rise"] > 0.02 and v["low"] < v["epochs"]:
            verdict = (f"over-fits: its validation loss is lowest after epoch {v['low']} and "
                       f"rises by {v['rise']:.3f} nats afterwards while the training loss "
                       f"keeps falling; the train-validation accuracy gap ends at "
                       f"{100 * v['gap']:.1f} points")
        else:
            verdict = (f"shows no clear over-fitting within {v['epochs']} epochs (validation "
                       f"loss still at or near its lowest; train-validation accuracy gap "
                       f"{100 * v['gap']:.1f} points)")
        out.append(f"- {lab} {verdict}.")
    out.append("\nOver-fitting shows first in the loss: the validation accuracy can stay flat "
               "while the validation loss rises, because the network becomes over-confident on "
               "the digits it gets wrong.")
    return out


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
