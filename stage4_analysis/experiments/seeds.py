"""Experiment 3 — several random initialisations: mean ± std per iteration and per epoch (VU
hand-out, question 7.2).

The hand-out network trained SEEDS times (5; 2 in quick mode; ``--seeds N``) at LR; each seed
draws other initial weights and another shuffling of the training data. Figure: the training
loss per mini-batch (each seed's curve smoothed over SMOOTH_FRACTION of an epoch, then mean ± std
over seeds (sample std, ddof=1); the individual seeds as thin lines), and every seed's
validation accuracy per epoch with the last epoch's mean ± std; table: every seed's end result.
The per-epoch means of the same runs are experiment 2's figure and table (not repeated here).

Adds over experiment 2: the spread between runs, so a difference between two settings can be
compared with the noise of a single setting. Leaves out: the learning rate as a variable
(experiment 4; these runs are its row for LR, computed once).
"""

from __future__ import annotations

from ..plots import band, epochs_axis, finish
from ..report import aggregate, epoch_series, group_by, md_table, pm, smooth, step_series
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
    from shared.plotting import new_figure, pyplot, save_figure

    colors = pyplot().get_cmap("tab10").colors
    figs = []
    for dataset, rs in group_by(records, lambda r: r["config"]["dataset"]).items():
        spe = steps_per_epoch(rs)
        w = max(1, int(spe * SMOOTH_FRACTION))
        steps = aggregate(rs, lambda r, w=w: smooth(step_series(r), w))
        fig, axes = new_figure(ncols=2, width=5.6, height=4.2, layout="constrained")
        ax, ax_acc = axes[0]
        for v in steps.values:
            ax.plot(range(1, v.size + 1), v, lw=0.5, alpha=0.5, color="grey")
        ax.plot([], [], lw=0.5, color="grey", label="one seed")
        band(ax, range(1, steps.mean.size + 1), steps, "mean ± std over seeds", "C0")
        ax.set_yscale("log")
        finish(ax, "time step (mini-batch updates)",
               f"loss per batch (nats; {w}-batch moving average, log scale)",
               "per-iteration training loss")
        # the spread itself: every seed's validation curve, and the last epoch's mean ± std
        ok = [r for r in rs if r.get("status") == "ok"]
        for i, r in enumerate(ok):
            a = epoch_series(r, "val_acc")
            ax_acc.plot(epochs_axis(a.size), 100 * a, marker="o", ms=3, lw=1,
                        color=colors[i % len(colors)], label=f"seed {r['config']['seed']}")
        va = aggregate(ok, lambda r: epoch_series(r, "val_acc"))
        if va.n > 1:
            last = va.mean.size
            ax_acc.errorbar([last + 0.25], [100 * va.final_mean], yerr=[100 * va.final_std],
                            color="k", marker="s", capsize=4,
                            label=f"mean ± std: {pm(va.final_mean, va.final_std, True)}")
        finish(ax_acc, "epoch", "validation accuracy (%)",
               "each seed's validation accuracy per epoch", fontsize=7, loc="lower right",
               legend_title="initialisation")
        fig.suptitle(f"{steps.n} random initialisations, lr={LR:g} — {dataset} (validation "
                     "split); the mean curves per epoch are in the train-vs-validation figure",
                     fontsize=10)
        figs.append(save_figure(fig, fig_dir / f"seeds_{dataset}.png"))
    return figs


def summarize(records, figures, ctx):
    out = [f"Network: {vu.network_text(ctx)}, lr = {LR:g}. Seeds 0 … {len(vu.seeds(ctx)) - 1}: "
           "each seed sets the initial weights and the order of the mini-batches. Band: mean ± "
           "sample std (ddof=1) over the seeds. The per-epoch means of these runs are tabled in "
           "experiment 2 (train vs validation); here every seed's end result."]
    for dataset, heading, aggs in vu.by_dataset(records):
        out.append(heading)
        rows = []
        for r in records:
            if r["config"]["dataset"] != dataset:
                continue
            eps = r["metrics"].get("epochs") or []
            e = eps[-1] if eps and r.get("status") == "ok" else {}
            rows.append([r["config"]["seed"], f"{e['train_loss']:.4f}" if e else "–",
                         f"{e['val_loss']:.4f}" if e else "–",
                         f"{100 * e['val_acc']:.2f}%" if e else "–", r.get("status")])
        va = aggs["val_acc"]
        vl, tl = aggs["val_loss"], aggs["train_loss"]
        if va.n:
            rows.append(["**mean ± std**", pm(tl.final_mean, tl.final_std),
                         pm(vl.final_mean, vl.final_std),
                         pm(va.final_mean, va.final_std, as_pct=True), f"{va.n} seeds"])
        out.append(md_table(["seed", "train loss (last epoch)", "val loss", "val accuracy",
                             "status"], rows))
        if va.n:
            finals = va.values[:, -1]
            out.append(f"\nAfter {va.mean.size} epochs the validation accuracy is "
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
