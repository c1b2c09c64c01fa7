"""Experiment 4 — the learning-rate study (VU hand-out, question 7.3).

Plain SGD at the hand-out's rates 0.001, 0.003, 0.01, 0.03 plus larger ones (EXTRA_RATES, or the
rates given with ``--lrs``), each with several seeds, 5 epochs on the final=False split; per rate
the mean ± std (over seeds, ddof=1) of validation accuracy and loss per epoch, and the final
validation accuracy against the rate on a log axis. A rate whose runs diverge is drawn and
tabled as diverged; it does not stop the study. Experiment 5 (``final``) picks its rate from here.

Adds over experiment 3: the rate as the variable. Leaves out: other optimisers and schedules
(fixed rate, plain SGD, as in the hand-out).
"""

from __future__ import annotations

import numpy as np

from shared.cli import learning_rate

from ..plots import band, epochs_axis, finish, legend_below, mark_failed, percent, seeds_text
from ..report import aggregate, data_description, epoch_series, group_by, md_table, pm
from ..runs import Context, option
from . import vu

NAME = "lr-study"
TITLE = "4. Learning-rate study: SGD at 0.001 - 0.03 and beyond, mean ± std over seeds"

RATES = vu.HANDOUT_RATES
#: Added to the hand-out's four: where learning gets fast enough for 5 epochs, and one rate large
#: enough to break (shown as diverged). ``--lrs`` replaces them.
EXTRA_RATES = (0.1, 0.3, 1.0, 3.0, 100.0)
OPTIONS = [vu.SEEDS_OPTION,
           option("--lrs", type=learning_rate, nargs="*", metavar="LR",
                  help="learning rates added to the hand-out's 0.001 0.003 0.01 0.03, replacing "
                  "the default extra rates (" + " ".join(f"{r:g}" for r in EXTRA_RATES)
                  + "); with no value: only the four")]


def rates(ctx: Context) -> list[float]:
    extra = ctx.options.get("lrs")
    extra = EXTRA_RATES if extra is None else tuple(extra)
    return sorted(set(RATES) | set(float(r) for r in extra))


def plan(ctx: Context):
    return [vu.spec(ctx, d, lr, s) for d in vu.datasets(ctx, NAME)
            for lr in rates(ctx) for s in vu.seeds(ctx)]


def by_dataset_and_rate(records: list[dict]) -> dict:
    """{dataset: {lr: [records]}} in plan order."""
    return {d: group_by(rs, lambda r: r["config"]["lr"])
            for d, rs in group_by(records, lambda r: r["config"]["dataset"]).items()}


def rate_table(groups: dict) -> list[dict]:
    """Per rate: the aggregates of the final-epoch numbers and the run counts."""
    rows = []
    for lr, rs in groups.items():
        acc = aggregate(rs, lambda r: epoch_series(r, "val_acc"))
        vloss = aggregate(rs, lambda r: epoch_series(r, "val_loss"))
        tloss = aggregate(rs, lambda r: epoch_series(r, "train_loss"))
        rows.append({"lr": lr, "acc": acc, "val_loss": vloss, "train_loss": tloss,
                     "n": len(rs), "diverged": len(acc.diverged), "failed": len(acc.failed)})
    return rows


def best_rate(groups: dict) -> dict | None:
    """The selection rule of experiment 5: the rate with the highest mean final validation
    accuracy among rates whose runs all finished without diverging; ties go to the smaller rate.
    Returns the rate_table row, or None when no rate qualifies."""
    rows = [r for r in rate_table(groups)
            if r["acc"].n > 0 and r["diverged"] == 0 and r["failed"] == 0]
    if not rows:
        return None
    return max(rows, key=lambda r: (round(r["acc"].final_mean, 12), -r["lr"]))


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    figs = []
    for dataset, groups in by_dataset_and_rate(records).items():
        rows = rate_table(groups)
        colors = _colors(len(rows))
        fig, axes = new_figure(ncols=3, width=5.0, height=4.4, layout="constrained")
        ax_acc, ax_loss, ax_lr = axes[0]
        for color, row in zip(colors, rows):
            lab = f"{row['lr']:g}"
            if row["acc"].n == 0:   # every seed diverged: a legend entry says so, no curve
                ax_acc.plot([], [], color="crimson", marker="x", ls="none",
                            label=f"{lab}: diverged ({row['diverged']} of {row['n']} seeds)")
                continue
            if row["diverged"]:
                lab += f" ({row['diverged']} of {row['n']} seeds diverged)"
            band(ax_acc, epochs_axis(row["acc"].mean.size), percent(row["acc"]), lab, color)
            band(ax_loss, epochs_axis(row["train_loss"].mean.size), row["train_loss"], lab,
                 color)
        n = max((r["n"] for r in rows), default=0)
        finish(ax_acc, "epoch", "validation accuracy (%)",
               f"validation accuracy, {seeds_text(n)}", legend=False)
        ax_loss.set_yscale("log")
        finish(ax_loss, "epoch", "training loss (nats, log scale)",
               f"training loss (mean over each epoch), {seeds_text(n)}", legend=False)
        _rate_panel(ax_lr, rows, colors, n)
        legend_below(fig, [ax_acc], title="learning rate (colour = the same rate in every panel)",
                     ncol=5)
        fig.suptitle(f"Learning-rate study — {vu.HIDDEN}-unit sigmoid MLP, {dataset} "
                     f"(validation split)", fontsize=11)
        figs.append(save_figure(fig, fig_dir / f"lr_study_{dataset}.png"))
    return figs


def _rate_panel(ax_lr, rows: list, colors, n: int) -> None:
    """Final validation accuracy (%) against the rate, mean ± std where two or more seeds
    finished; a rate that diverged or failed is a ✗ below the data, never a made-up value."""
    ok = [r for r in rows if r["acc"].n > 0 and not r["diverged"] and not r["failed"]]
    ok_ids = {id(r) for r in ok}
    for color, r in zip(colors, rows):
        if id(r) in ok_ids:
            ax_lr.errorbar([r["lr"]], [100 * r["acc"].final_mean],
                           yerr=[100 * np.nan_to_num(r["acc"].final_std)], marker="o",
                           color=color, capsize=3)
    ax_lr.plot([r["lr"] for r in ok], [100 * r["acc"].final_mean for r in ok],
               color="grey", lw=0.8, zorder=0)
    _write_best(ax_lr, ok)
    bad = [r for r in rows if id(r) not in ok_ids]
    ax_lr.set_xscale("log")
    lrs = [r["lr"] for r in rows]
    ax_lr.set_xlim(min(lrs) / 2, max(lrs) * 2)
    if ok:   # the axis covers the rates that learned; a diverged rate is a ✗ at the bottom
        lo = min(r["acc"].final_mean - np.nan_to_num(r["acc"].final_std) for r in ok)
        ax_lr.set_ylim(100 * max(0.0, lo - 0.15), 100.0)
    mark_failed(ax_lr, [r["lr"] for r in bad],
                ["diverged" if r["diverged"] else "failed" for r in bad])
    finish(ax_lr, "learning rate (log scale)", "validation accuracy after the last epoch (%)",
           f"final accuracy against the rate ({seeds_text(n)})", legend=False)


def _write_best(ax, ok: list) -> None:
    """Write the best rate's final validation accuracy on the summary panel."""
    if not ok:
        return
    b = max(ok, key=lambda r: r["acc"].final_mean)
    ax.annotate(f"{100 * b['acc'].final_mean:.2f} %", (b["lr"], 100 * b["acc"].final_mean),
                xytext=(0, 8), textcoords="offset points", ha="center", fontsize=8,
                fontweight="bold")


def _colors(n):
    """``n`` clearly different colours (tab10, then tab20's light shades)."""
    from shared.plotting import pyplot

    base = list(pyplot().get_cmap("tab10").colors)
    extra = list(pyplot().get_cmap("tab20").colors)[1::2]
    return (base + extra)[:n] if n <= 20 else [pyplot().get_cmap("turbo")(i / (n - 1))
                                                 for i in range(n)]


def dataset_section(dataset, groups, ctx):
    """The section of one dataset: its data, the rate table and what the table shows."""
    out = []
    rows = rate_table(groups)
    first = next((r for rs in groups.values() for r in rs if r.get("metrics")), None)
    m = first["metrics"] if first else {}
    out.append(f"\n### {dataset}\n\nData: "
               + data_description(dataset, False, m.get("n_train"), m.get("n_val"))
               + ". All numbers below are on the validation part.\n")
    table = []
    for r in rows:
        status = "ok" if not (r["diverged"] or r["failed"]) else (
            f"{r['diverged']} of {r['n']} diverged" if r["diverged"] else
            f"{r['failed']} of {r['n']} failed")
        table.append([f"{r['lr']:g}", pm(r["train_loss"].final_mean, r["train_loss"].final_std),
                      pm(r["val_loss"].final_mean, r["val_loss"].final_std),
                      pm(r["acc"].final_mean, r["acc"].final_std, as_pct=True),
                      r["acc"].n, status])
    out.append(md_table(["lr", "train loss (last epoch)", "val loss", "val accuracy",
                         "seeds averaged", "status"], table))
    out += rate_reading(rows, groups, ctx)
    return out


def rate_reading(rows, groups, ctx):
    """The lines under one dataset's table: best rate, the hand-out's rates, diverged rates."""
    out = []
    best = best_rate(groups)
    hand = [r for r in rows if r["lr"] in vu.HANDOUT_RATES and r["acc"].n]
    if best:
        out.append(f"\nBest rate by mean final validation accuracy: **lr = {best['lr']:g}** "
                   f"({pm(best['acc'].final_mean, best['acc'].final_std, as_pct=True)}).")
    if hand:
        hb = max(hand, key=lambda r: r["acc"].final_mean)
        lo = min(hand, key=lambda r: r["lr"])
        out.append(f"Among the hand-out's four rates the best is lr = {hb['lr']:g} "
                   f"({pm(hb['acc'].final_mean, hb['acc'].final_std, as_pct=True)}); at "
                   f"lr = {lo['lr']:g} the network is still at "
                   f"{pm(lo['acc'].final_mean, lo['acc'].final_std, as_pct=True)} after "
                   f"{ctx.option('epochs', vu.EPOCHS)} epochs. With plain SGD on batches of "
                   f"{vu.BATCH_SIZE}, these small rates take too small steps to converge in "
                   "so few epochs: accuracy rises "
                   "with the rate until the rate gets so large that training becomes "
                   "unstable.")
    div = [f"{r['lr']:g}" for r in rows if r["diverged"]]
    if div:
        out.append(f"Diverged: lr = {', '.join(div)} (shown as ✗ in the figure, left out "
                   "of the means).")
    return out


def summarize(records, figures, ctx):
    out = [f"Network: {vu.network_text(ctx)}. Each rate is trained from {len(vu.seeds(ctx))} "
           "random initialisations (seeds 0, 1, …; the seed sets the initial weights and the "
           "shuffling); the table gives mean ± std over the seeds (sample std, ddof=1) after the "
           "last epoch. A run counts as diverged when its loss becomes NaN/inf or an epoch's mean "
           f"training loss exceeds {vu.DIVERGE_ABOVE:.2f} (3 ln 10); diverged runs are left out "
           "of the means and listed."]
    for dataset, groups in by_dataset_and_rate(records).items():
        out += dataset_section(dataset, groups, ctx)
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
