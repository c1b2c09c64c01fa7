"""Experiment 1 — the learning curve (VU hand-out, question 7): the loss of every mini-batch
(stage 3) and of every single sample (stage 2, per-sample SGD) against the time step, for the
hand-out's MNIST network 784-300 (sigmoid)-10 (softmax), on the final=False split.

The stage-3 curve is seed 0 of experiment 3 (same run). The stage-2 curve is one per-sample run:
one update per training sample, STAGE2_EPOCHS epoch(s), rate STAGE2_LR (the hand-out's per-
instance SGD). Raw losses are drawn faintly, with a moving average on top: the loss of one sample
jumps between ~0 and several nats, and only the trend is readable.

Leaves out: gradient accumulation in stage 2 (accumulate=1 here; stage 2 with k accumulated
samples is the same update as stage 3 with a batch of k, which the cross-stage tests check).
"""

from __future__ import annotations

import numpy as np

from ..plots import finish
from ..report import data_description, md_table, num, pct, smooth, step_series
from ..runs import Context
from . import vu

NAME = "learning-curve"
TITLE = "1. Learning curve: loss per mini-batch (stage 3) and per sample (stage 2)"

LR = vu.LR
SEED = 0
STAGE2_LR = 0.01
STAGE2_EPOCHS = 1
#: Moving-average windows (in time steps) drawn over the raw curves.
SMOOTH_BATCHES = 50
SMOOTH_SAMPLES = 500


def plan(ctx: Context):
    specs = []
    for d in vu.datasets(ctx, NAME):
        specs.append(vu.spec(ctx, d, LR, SEED))
        specs.append(vu.stage2_spec(ctx, d, STAGE2_LR, SEED, STAGE2_EPOCHS))
    return specs


def _pairs(records):
    """{dataset: {"stage3": record, "stage2": record}}."""
    out: dict = {}
    for r in records:
        out.setdefault(r["config"]["dataset"], {})[r["config"]["executor"]] = r
    return out


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    figs = []
    for dataset, pair in _pairs(records).items():
        fig, axes = new_figure(ncols=2, width=6.0, height=4.2, layout="constrained")
        for ax, which, window, unit, title in (
                (axes[0, 0], "stage3", SMOOTH_BATCHES, "time step (mini-batch updates)",
                 f"stage 3: loss of each mini-batch of {vu.BATCH_SIZE}, lr={LR:g}"),
                (axes[0, 1], "stage2", SMOOTH_SAMPLES, "time step (samples = updates)",
                 f"stage 2: loss of each sample, lr={STAGE2_LR:g}")):
            r = pair.get(which)
            if r is None or r.get("status") != "ok":
                err = (r or {}).get("error") or "no record"
                ax.text(0.5, 0.5, f"{which}: {r.get('status') if r else 'missing'}\n{err}"[:200],
                        ha="center", va="center", transform=ax.transAxes, wrap=True)
                finish(ax, unit, "loss (nats)", title, legend=False)
                continue
            loss = step_series(r)
            t = np.arange(1, loss.size + 1)
            pos = np.maximum(loss, 1e-6)  # per-sample losses can be ~0: keep them on a log axis
            if which == "stage2":
                ax.scatter(t, pos, s=1, alpha=0.08, color="grey", rasterized=True,
                           label="each sample")
            else:
                ax.plot(t, pos, lw=0.4, alpha=0.5, color="grey", label="each mini-batch")
            ax.plot(t, smooth(loss, window), color="C3", lw=1.6,
                    label=f"moving average over {window} steps")
            per_epoch = loss.size // max(1, len(r["metrics"]["epochs"]))
            for e in range(1, len(r["metrics"]["epochs"])):
                ax.axvline(e * per_epoch, color="k", lw=0.5, ls=":")
            ax.set_yscale("log")
            finish(ax, unit, "cross-entropy loss (nats, log scale)", title)
        fig.suptitle(f"Learning curves of 784-{vu.HIDDEN}-10 on {dataset} (seed {SEED}; dotted: "
                     "epoch ends)", fontsize=11)
        figs.append(save_figure(fig, fig_dir / f"learning_curve_{dataset}.png"))
    return figs


def _window_means(loss: np.ndarray, k: int) -> tuple[float, float]:
    k = max(1, min(k, loss.size))
    return float(np.mean(loss[:k])), float(np.mean(loss[-k:]))


def summarize(records, figures, ctx):
    out = [f"Stage 3: {vu.network_text(ctx)}, lr = {LR:g}, seed {SEED}. Stage 2: the same network "
           f"trained one sample at a time (per-sample SGD, lr = {STAGE2_LR:g}, "
           f"{STAGE2_EPOCHS} epoch(s), float64, initial weights N(0, 1/fan_in) from "
           "`shared.weights.init_weights`)."]
    for dataset, pair in _pairs(records).items():
        first = next((r for r in pair.values() if r.get("metrics")), None)
        m = first["metrics"] if first else {}
        out.append(f"\n### {dataset}\n\nData: "
                   + data_description(dataset, False, m.get("n_train"), m.get("n_val"))
                   + ". Losses are on the training samples as they are trained on; accuracies "
                   "on the validation part.\n")
        rows = []
        for which, window, what in (("stage3", SMOOTH_BATCHES, "mini-batch"),
                                    ("stage2", SMOOTH_SAMPLES, "sample")):
            r = pair.get(which)
            if r is None or r.get("status") != "ok":
                rows.append([which, what, "–", "–", "–", "–",
                             (r or {}).get("error") or "no record"])
                continue
            loss = step_series(r)
            a, b = _window_means(loss, window)
            ep = r["metrics"]["epochs"][-1] if r["metrics"]["epochs"] else {}
            rows.append([which, f"{what} ({loss.size:,} steps)", num(a), num(b),
                         pct(ep.get("val_acc")), f"{r.get('wall_time') or 0:.1f} s", "ok"])
        out.append(md_table(["stage", "loss of each …", "mean loss, first window",
                             "mean loss, last window", "val acc at the end", "time", "status"],
                            rows))
        out.append(f"\n(Windows: the first/last {SMOOTH_BATCHES} mini-batches for stage 3, "
                   f"the first/last {SMOOTH_SAMPLES} samples for stage 2.) Per-sample losses "
                   "scatter over orders of magnitude — most samples are already classified "
                   "confidently (loss near 0) while a few are badly wrong — which is why the "
                   "hand-out suggests averaging the gradients of a few instances; the mini-batch "
                   "curve is that average, and is visibly smoother.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
