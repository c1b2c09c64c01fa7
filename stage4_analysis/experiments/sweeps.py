"""Experiment 6 — the CS3317 hyper-parameter sweeps on Fashion-MNIST: width, depth, learning
rate, activation, momentum, batch size, one at a time around the base configuration of
``cs3317.py``; per sweep a figure (test accuracy per epoch for every value, and final train/test
accuracy against the value) and a table (final train/test accuracy, best epoch).

Sweep definitions (one seed each; the value marked * is the base run, shared between sweeps):

* width: one hidden layer of 32, 64, 128, 256, 512 units;
* depth: 1, 2, 3, 4 hidden layers of 128 units;
* learning rate: 0.001, 0.005, 0.01, 0.05*, 0.1;
* activation: ReLU* vs sigmoid (same He-normal init; only the nonlinearity changes);
* momentum: 0, 0.5, 0.9*, 0.99;
* batch size: 16, 32, 64*, 128, 256 (same rate: larger batches make fewer updates per epoch).

The "best epoch" is the epoch with the highest test accuracy: a description of the curve, not a
model-selection step (choosing on the test set would make the test number optimistic; the VU
final run chooses on validation data instead). Train accuracy is the running mean over the last
epoch's batches, as the trainer logs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import epochs_axis, finish
from ..report import data_description, epoch_series, md_table, pct
from ..runs import Context
from . import cs3317

NAME = "sweeps"
TITLE = "6. CS3317 sweeps: width, depth, learning rate, activation, momentum, batch size"

#: Accuracy of guessing among the 10 classes; a run that ends within 2 points of it is flagged
#: (e.g. momentum 0.99 with the base rate: the loss stays near ln 10 without ever becoming NaN).
CHANCE = 0.1

SWEEPS = {
    "width": {"values": [32, 64, 128, 256, 512], "scale": "log2",
              "change": lambda v: {"hidden_dims": (v,)}, "axis": "hidden units (one layer)"},
    "depth": {"values": [1, 2, 3, 4], "scale": "linear",
              "change": lambda v: {"hidden_dims": (128,) * v}, "axis": "hidden layers of 128"},
    "learning rate": {"values": [0.001, 0.005, 0.01, 0.05, 0.1], "scale": "log",
                      "change": lambda v: {"lr": v}, "axis": "learning rate (log scale)"},
    "activation": {"values": ["relu", "sigmoid"], "scale": "category",
                   "change": lambda v: {"activation": v}, "axis": "hidden activation"},
    "momentum": {"values": [0.0, 0.5, 0.9, 0.99], "scale": "linear",
                 "change": lambda v: {"momentum": v}, "axis": "momentum μ"},
    "batch size": {"values": [16, 32, 64, 128, 256], "scale": "log2",
                   "change": lambda v: {"batch_size": v}, "axis": "batch size (log scale)"},
}


def _slug(sweep: str) -> str:
    return sweep.replace(" ", "_")


def plan(ctx: Context):
    specs = []
    for sweep, s in SWEEPS.items():
        for v in s["values"]:
            sp = cs3317.spec(ctx, NAME, f"{sweep}={v}", **s["change"](v))
            sp.meta = {"sweep": sweep, "value": v}
            specs.append(sp)
    return specs


def _by_sweep(records, ctx):
    """{sweep: [(value, record)]} — the records come in plan order, one per sweep point."""
    out, i = {}, 0
    for sweep, s in SWEEPS.items():
        out[sweep] = [(v, records[i + j]) for j, v in enumerate(s["values"])]
        i += len(s["values"])
    return out


def row_numbers(rec: dict) -> dict:
    """Final train/test accuracy, best epoch and its test accuracy of one run."""
    if rec.get("status") != "ok" or not rec["metrics"].get("epochs"):
        return {"train": None, "test": None, "best_epoch": None, "best": None}
    test = epoch_series(rec, "val_acc")
    train = epoch_series(rec, "train_acc")
    b = int(np.nanargmax(test))
    return {"train": train[-1], "test": test[-1], "best_epoch": b + 1, "best": test[b]}


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, pyplot, save_figure

    cm = pyplot().get_cmap("viridis")
    figs = []
    for sweep, pairs in _by_sweep(records, ctx).items():
        s = SWEEPS[sweep]
        fig, axes = new_figure(ncols=2, width=5.5, height=4.0, layout="constrained")
        ax_c, ax_v = axes[0]
        xs, tr, te, bad = [], [], [], []
        for i, (v, r) in enumerate(pairs):
            color = cm(0.9 * i / max(1, len(pairs) - 1))
            n = row_numbers(r)
            if n["test"] is None:
                bad.append(f"{v} ({r.get('status')})")
                continue
            acc = epoch_series(r, "val_acc")
            ax_c.plot(epochs_axis(acc.size), acc, marker="o", ms=3, color=color, label=f"{v}")
            xs.append(i if s["scale"] == "category" else v)
            tr.append(n["train"])
            te.append(n["test"])
        finish(ax_c, "epoch", "test accuracy (fraction)", f"test accuracy per epoch by {sweep}")
        ax_v.plot(xs, tr, marker="s", label="train (last epoch)")
        ax_v.plot(xs, te, marker="o", label="test (last epoch)")
        if s["scale"] == "log":
            ax_v.set_xscale("log")
        elif s["scale"] == "log2":
            ax_v.set_xscale("log", base=2)
        elif s["scale"] == "category":
            ax_v.set_xticks(range(len(s["values"])), [str(v) for v in s["values"]])
        if bad:
            ax_v.text(0.02, 0.02, "not shown: " + ", ".join(bad), transform=ax_v.transAxes,
                      fontsize=8, color="crimson")
        finish(ax_v, s["axis"], "accuracy (fraction)", f"final accuracy against {sweep}")
        d = records[0]["config"]["dataset"] if records else "?"
        fig.suptitle(f"Sweep over {sweep} — {d}, other settings at the base", fontsize=11)
        figs.append(save_figure(fig, fig_dir / f"sweep_{_slug(sweep)}.png"))
    return figs


def summarize(records, figures, ctx):
    r0 = next((r for r in records if r.get("status") == "ok"), None)
    m = r0["metrics"] if r0 else {}
    d = records[0]["config"]["dataset"] if records else "?"
    out = [f"Base configuration: {cs3317.base_text(ctx)}. Data: "
           + data_description(d, cs3317.FINAL, m.get("n_train"), m.get("n_val"))
           + ". One seed per point; differences below about half a percentage point are within "
           "seed noise (compare experiment 3)."]
    if ctx.quick:
        out.append("\n*Quick mode:* the MNIST sample stands in for Fashion-MNIST (offline), with "
                   f"{cs3317.QUICK_EPOCHS} epochs; the full mode (`--full`) runs Fashion-MNIST.")
    figs = {Path(f).stem: f for f in figures}
    best_overall = None
    for sweep, pairs in _by_sweep(records, ctx).items():
        rows = []
        for v, r in pairs:
            n = row_numbers(r)
            status = r.get("status")
            if n["test"] is not None and n["test"] <= CHANCE + 0.02:
                status = "ok, but at chance level: training collapsed"
            rows.append([v, pct(n["train"]), pct(n["test"]),
                         n["best_epoch"] if n["best_epoch"] else "–", pct(n["best"]),
                         f"{r.get('wall_time') or 0:.1f} s", status])
            if n["test"] is not None and (best_overall is None or n["test"] > best_overall[2]):
                best_overall = (sweep, v, n["test"])
        out.append(f"\n### {sweep}\n")
        fig = figs.get(f"sweep_{_slug(sweep)}")
        if fig is not None:
            out.append(f"![sweep over {sweep}]({ctx.rel(fig)})\n")
        out.append(md_table([sweep, "final train acc", "final test acc", "best epoch (test)",
                             "best test acc", "time", "status"], rows))
    if best_overall:
        out.append(f"\nHighest final test accuracy of all sweep points: {pct(best_overall[2])} "
                   f"({best_overall[0]} = {best_overall[1]}).")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
