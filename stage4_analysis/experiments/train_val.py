"""Experiment 2 — training loss against validation loss (and accuracy) per epoch (VU hand-out,
question 7.1): 5 epochs on the final=False split (MNIST: 55,000 train / 5,000 validation).

The runs are the seed runs of experiment 3 at the same rate (computed once), so the curves carry
mean ± std bands over the seeds. Training numbers are the mean over each epoch's mini-batches
while the weights still change; validation numbers are measured after the epoch, so early in
training the validation loss can sit *below* the training loss. A validation loss clearly above
the training loss at the end would be over-fitting; the summary says which case the numbers show.

Leaves out: re-evaluating the whole training set after each epoch (the per-epoch training loss is
the running mean the trainer logs).
"""

from __future__ import annotations

from ..plots import band, epochs_axis, finish, percent, seeds_text
from ..report import aggregate, epoch_series, group_by
from ..runs import Context
from . import vu

NAME = "train-val"
TITLE = "2. Training vs validation loss and accuracy per epoch"
OPTIONS = [vu.SEEDS_OPTION]

LR = vu.LR
EPOCHS = vu.EPOCHS


def plan(ctx: Context):
    return [vu.spec(ctx, d, LR, s, epochs=EPOCHS) for d in vu.datasets(ctx, NAME)
            for s in vu.seeds(ctx)]


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    figs = []
    for dataset, rs in group_by(records, lambda r: r["config"]["dataset"]).items():
        fig, axes = new_figure(ncols=2, width=5.5, height=4.0, layout="constrained")
        for ax, kind, unit in ((axes[0, 0], "loss", "cross-entropy loss (nats)"),
                               (axes[0, 1], "acc", "accuracy (%)")):
            n = 0
            for split, color, lab in (("train", "C1", "training (mean over the epoch)"),
                                      ("val", "C0", "validation (after the epoch)")):
                a = aggregate(rs, lambda r, f=f"{split}_{kind}": epoch_series(r, f))
                band(ax, epochs_axis(a.mean.size), percent(a) if kind == "acc" else a, lab,
                     color)
                n = a.n
            finish(ax, "epoch", unit, f"{'loss' if kind == 'loss' else 'accuracy'} per epoch"
                   + f", {seeds_text(n)}")
        fig.suptitle(f"Training vs validation — 784-{vu.HIDDEN}-10, lr={LR:g}, {dataset}",
                     fontsize=11)
        figs.append(save_figure(fig, fig_dir / f"train_val_{dataset}.png"))
    return figs


def summarize(records, figures, ctx):
    out = [f"Network: {vu.network_text(ctx)}, lr = {LR:g}; mean ± std over "
           f"{len(vu.seeds(ctx))} seeds (the runs of experiment 3)."]
    for _, heading, a in vu.by_dataset(records):
        out.append(heading)
        if a["val_loss"].n == 0:
            out.append("No finished run to show.")
            continue
        out.append(vu.epoch_table(a, a["val_loss"].mean.size))
        tl, vl = a["train_loss"].final_mean, a["val_loss"].final_mean
        gap = vl - tl
        if gap <= 0:
            verdict = ("the validation loss is at or below the training loss: no sign of "
                       "over-fitting after this many epochs; the network is still "
                       "under-fitting, and part of the gap is that the training loss is "
                       "averaged over an epoch during which the network kept improving")
        elif gap < 0.1 * tl:
            verdict = ("validation and training loss are close: the network generalises about "
                       "as well as it fits, so more training (or a larger rate) should still help")
        else:
            verdict = ("the validation loss is clearly above the training loss: the network "
                       "starts to fit the training set better than unseen data (over-fitting)")
        out.append(f"\nAfter the last epoch: training loss {tl:.4f}, validation loss {vl:.4f} "
                   f"(difference {gap:+.4f}); {verdict}.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
