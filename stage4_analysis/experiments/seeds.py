"""Experiment 3 — several random initialisations: mean ± std per iteration and per epoch (VU
hand-out, question 7.2).

The hand-out network trained SEEDS times (default 5, ``--seeds N``) at LR; each seed draws other
initial weights and another shuffling of the training data. Figures: the training loss per
mini-batch (each seed's curve smoothed over SMOOTH_FRACTION of an epoch, then mean ± std over
seeds; the individual seeds as thin lines), and the validation accuracy and loss per epoch,
mean ± std (sample std, ddof=1).

Adds over experiment 2: the spread between runs, so a difference between two settings can be
compared with the noise of a single setting. Leaves out: the learning rate as a variable
(experiment 4; these runs are its row for LR, computed once).
"""

from __future__ import annotations

from ..plots import band, epochs_axis, finish
from ..report import aggregate, epoch_series, group_by, pm, smooth, step_series
from ..runs import Context
from . import vu

NAME = "seeds"
TITLE = "3. Several random initialisations: mean ± std of loss and accuracy"
OPTIONS = [vu.SEEDS_OPTION]

LR = vu.LR
SEEDS = vu.SEEDS  # overridden by --seeds
#: Each seed's per-batch losses are smoothed over this fraction of an epoch before averaging.
SMOOTH_FRACTION = 0.1


def plan(ctx: Context):
    return [vu.spec(ctx, d, LR, s) for d in vu.datasets(ctx, NAME) for s in vu.seeds(ctx)]


def steps_per_epoch(records) -> int:
    r = next((r for r in records if r.get("status") == "ok"), None)
    if r is None:
        return 1
    return max(1, len(r["metrics"]["step_loss"]) // max(1, len(r["metrics"]["epochs"])))


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    figs = []
    for dataset, rs in group_by(records, lambda r: r["config"]["dataset"]).items():
        spe = steps_per_epoch(rs)
        w = max(1, int(spe * SMOOTH_FRACTION))
        steps = aggregate(rs, lambda r, w=w: smooth(step_series(r), w))
        fig, axes = new_figure(ncols=3, width=5.2, height=4.0, layout="constrained")
        ax, ax_acc, ax_loss = axes[0]
        for v in steps.values:
            ax.plot(range(1, v.size + 1), v, lw=0.5, alpha=0.5, color="grey")
        band(ax, range(1, steps.mean.size + 1), steps, "mean ± std over seeds", "C0")
        ax.set_yscale("log")
        finish(ax, "time step (mini-batch updates)",
               f"loss per batch (nats; {w}-batch moving average)",
               "per-iteration loss: seeds (grey), mean ± std (blue)")
        for field, color, lab in (("train_acc", "C1", "train (mean over the epoch)"),
                                  ("val_acc", "C0", "validation (end of epoch)")):
            a = aggregate(rs, lambda r, f=field: epoch_series(r, f))
            band(ax_acc, epochs_axis(a.mean.size), a, lab, color)
        finish(ax_acc, "epoch", "accuracy (fraction)", "accuracy per epoch, mean ± std")
        for field, color, lab in (("train_loss", "C1", "train (mean over the epoch)"),
                                  ("val_loss", "C0", "validation (end of epoch)")):
            a = aggregate(rs, lambda r, f=field: epoch_series(r, f))
            band(ax_loss, epochs_axis(a.mean.size), a, lab, color)
        finish(ax_loss, "epoch", "cross-entropy loss (nats)", "loss per epoch, mean ± std")
        fig.suptitle(f"{steps.n} random initialisations, lr={LR:g} — {dataset}", fontsize=11)
        figs.append(save_figure(fig, fig_dir / f"seeds_{dataset}.png"))
    return figs


def summarize(records, figures, ctx):
    out = [f"Network: {vu.network_text(ctx)}, lr = {LR:g}. Seeds 0 … {len(vu.seeds(ctx)) - 1}: "
           "each seed sets the initial weights and the order of the mini-batches. Bands: mean ± "
           "sample std (ddof=1) over the seeds. Training loss/accuracy per epoch are the means "
           "over the epoch's batches, validation ones are measured after the epoch."]
    for _, heading, aggs in vu.by_dataset(records):
        out.append(heading)
        n_ep = aggs["val_acc"].mean.size
        out.append(vu.epoch_table(aggs, n_ep))
        va = aggs["val_acc"]
        if va.n:
            finals = va.values[:, -1]
            out.append(f"\nAfter {n_ep} epochs the validation accuracy is "
                       f"{pm(va.final_mean, va.final_std, as_pct=True)} over {va.n} seeds "
                       f"(range {100 * finals.min():.2f}% – {100 * finals.max():.2f}%). "
                       "Differences between settings smaller than about two of these standard "
                       "deviations are within the noise of the initialisation.")
            if va.note:
                out.append(f"\nNote: {va.note}.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
