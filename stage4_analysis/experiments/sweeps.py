"""Experiment 6 — the CS3317 hyper-parameter sweeps on Fashion-MNIST: width, depth, learning
rate, activation, momentum, batch size, one at a time around the base configuration of
``cs3317.py``, every point trained with several seeds and measured on VALIDATION data.

Sweep definitions: ``stage3_batched.run.SWEEPS``, the table ``python -m stage3_batched --sweep``
reads too (the value marked * is the base run, shared between sweeps):

* width: hidden layers [w, w/2] for w = 32, 64, 128*, 256, 512;
* depth: 1, 2*, 3, 4 hidden layers: 128 units, then 64 in every further layer;
* learning rate: 0.001, 0.005, 0.01, 0.05*, 0.1;
* activation: ReLU* vs sigmoid (same He-normal init; only the nonlinearity changes);
* momentum: 0, 0.5, 0.9*, 0.99;
* batch size: 16, 32, 64*, 128, 256 (same rate: larger batches make fewer updates per epoch).

Per sweep a figure (validation accuracy per epoch, mean ± std over the seeds for every value;
final training and validation accuracy against the value with error bars) and a table. The
winner of a sweep is chosen by :data:`RULE`: a value replaces the base value only when it beats
it by more than the seed-to-seed spread, so a difference the seeds alone could produce never
changes the configuration. A run that diverged, or finished at chance level ("collapsed", e.g.
momentum 0.99 at the base rate), cannot win and is drawn as ✗, not as a point at 10%.

Adds over one run per point: the spread, and a choice that respects it. Leaves out: the test
set (experiment 7 measures the chosen configuration on it, once) and joint search (experiment 6b
combines the winners and checks the combination on validation data).
"""

from __future__ import annotations

import math

import numpy as np

from stage3_batched.run import SWEEPS as TABLE

from ..plots import epochs_axis, finish, mark_failed
from ..report import aggregate, data_description, epoch_series, md_table, pm
from ..runs import Context
from . import cs3317, vu

NAME = "sweeps"
TITLE = "6. CS3317 sweeps: width, depth, learning rate, activation, momentum, batch size"
OPTIONS = [vu.SEEDS_OPTION]

#: With one seed per point there is no spread to compare with: a challenger must then win by more
#: than this (half a percentage point, the seed-to-seed spread the full sweeps measure).
MIN_MARGIN = 0.005
RULE = ("a value replaces the base value only when its mean final validation accuracy exceeds "
        "the base's by more than the larger of the two standard deviations over the seeds "
        f"(with a single seed: by more than {100 * MIN_MARGIN:g} points); among such values the "
        "one with the highest mean wins; a value with a diverged, collapsed or failed seed "
        "cannot win")
#: The right-hand panels' accuracy axes span at least this many percentage points, so that
#: differences within the seed noise do not fill the whole height.
MIN_SPAN = 5.0


#: How each sweep is drawn: the x axis's scale and label, by the sweep's title.
AXES = {"width": ("log2", "width v: hidden layers (v, v/2)"),
        "depth": ("linear", "depth: hidden layers (128 units, then 64)"),
        "learning rate": ("log", "learning rate (log scale)"),
        "activation": ("category", "hidden activation"),
        "momentum": ("linear", "momentum μ"),
        "batch size": ("log2", "batch size (log scale)")}


def _change(sweep: dict):
    return lambda v: {sweep["field"]: sweep["set"](v)}


#: The sweeps of :data:`stage3_batched.run.SWEEPS` (the one table, shared with ``python -m
#: stage3_batched --sweep``), by title, with the axes to draw them on.
SWEEPS = {s["title"]: {"values": s["values"], "default": s["default"], "what": s["what"],
                       "scale": AXES[s["title"]][0], "axis": AXES[s["title"]][1],
                       "change": _change(s)}
          for s in TABLE.values()}


def _slug(sweep: str) -> str:
    return sweep.replace(" ", "_")


def plan(ctx: Context):
    runs = []
    for sweep, s in SWEEPS.items():
        for v in s["values"]:
            for seed in cs3317.seeds(ctx):
                r = cs3317.spec(ctx, NAME, f"{sweep}={v}", seed, **s["change"](v))
                r.meta = {"sweep": sweep, "value": v}
                runs.append(r)
    return runs


def by_sweep(records: list[dict]) -> dict:
    """{sweep: {value: [records over the seeds]}}; the records come in plan order (sweep, value,
    seed), so the number of seeds is the number of records per point."""
    n_points = sum(len(s["values"]) for s in SWEEPS.values())
    n_seeds = max(1, len(records) // n_points)
    out, i = {}, 0
    for sweep, s in SWEEPS.items():
        out[sweep] = {}
        for v in s["values"]:
            out[sweep][v] = records[i:i + n_seeds]
            i += n_seeds
    return out


def _final_train_acc(r: dict) -> np.ndarray:
    """Per epoch training accuracy, the last value replaced by the whole training set's accuracy
    with the final weights (evaluation mode) when the record has it."""
    a = epoch_series(r, "train_acc")
    fin = (r["metrics"].get("final") or {}).get("train_acc")
    if a.size and fin is not None:
        a[-1] = fin
    return a


def point(recs: list[dict]) -> dict:
    """The numbers of one sweep point over its seeds: ``val`` / ``train`` aggregates of the
    usable runs, their final mean and std, the state counts, and whether it may win."""
    states = [cs3317.state(r) for r in recs]
    ok = [r for r, s in zip(recs, states) if s == "ok"]
    val = aggregate(ok, lambda r: epoch_series(r, "val_acc"))
    train = aggregate(ok, _final_train_acc)
    bad = {s: states.count(s) for s in ("collapsed", "diverged", "failed", "missing")
           if states.count(s)}
    times = [r.get("wall_time") for r in recs if r.get("wall_time")]
    best_epoch = int(np.nanargmax(val.mean)) + 1 if val.n else None
    return {"n": len(recs), "ok": len(ok), "val": val, "train": train, "bad": bad,
            "mean": val.final_mean if val.n else math.nan,
            "std": val.final_std if val.n else math.nan,
            "usable": bool(recs) and len(ok) == len(recs), "best_epoch": best_epoch,
            "seconds": float(np.mean(times)) if times else None}


def margin(a: dict, b: dict) -> float:
    """The spread a difference between points ``a`` and ``b`` must exceed (see :data:`RULE`)."""
    stds = [x for x in (a["std"], b["std"]) if math.isfinite(x)]
    return max(stds) if stds else MIN_MARGIN


def choose(points: dict, default) -> tuple:
    """``(winning value, reason)`` of one sweep by :data:`RULE`."""
    d = points.get(default)
    if d is None or not d["usable"]:
        return default, "the base value has no usable runs: kept"
    best = None
    for v, p in points.items():
        if v == default or not p["usable"]:
            continue
        if p["mean"] - d["mean"] > margin(p, d) and (best is None or p["mean"] > best[1]["mean"]):
            best = (v, p)
    if best is None:
        return default, "no value beats the base by more than the spread"
    v, p = best
    return v, (f"+{100 * (p['mean'] - d['mean']):.2f} points over the base, more than the "
               f"spread {100 * margin(p, d):.2f}")


def winners(records: list[dict]) -> dict:
    """{sweep: winning value} by :data:`RULE`."""
    return {sweep: choose({v: point(rs) for v, rs in pts.items()}, SWEEPS[sweep]["default"])[0]
            for sweep, pts in by_sweep(records).items()}


def combined(w: dict) -> dict:
    """The stage-3 settings of the per-sweep winners combined (width and depth as
    [width, width/2, width/2, ...] with ``depth`` layers)."""
    width = w.get("width", SWEEPS["width"]["default"])
    depth = w.get("depth", SWEEPS["depth"]["default"])
    return {"hidden_dims": (width,) + (width // 2,) * (depth - 1),
            "activation": w.get("activation", cs3317.BASE["activation"]),
            "lr": float(w.get("learning rate", cs3317.BASE["lr"])),
            "momentum": float(w.get("momentum", cs3317.BASE["momentum"])),
            "batch_size": int(w.get("batch size", cs3317.BASE["batch_size"]))}


def _state_text(p: dict) -> str:
    if not p["bad"]:
        return "ok"
    names = {"collapsed": "collapsed (accuracy at chance, or below half its best)",
             "diverged": "diverged",
             "failed": "failed", "missing": "not run yet"}
    return ", ".join(f"{names[s]}: {k} of {p['n']}" for s, k in p["bad"].items())


def _x(s: dict, i: int, v):
    return i if s["scale"] == "category" else v


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    figs = []
    d = records[0]["config"]["dataset"] if records else "?"
    for sweep, pts in by_sweep(records).items():
        s = SWEEPS[sweep]
        points = {v: point(rs) for v, rs in pts.items()}
        win, _ = choose(points, s["default"])
        fig, axes = new_figure(ncols=2, width=5.6, height=4.3, layout="constrained")
        ax_c, ax_v = axes[0]
        n_seeds = max((p["n"] for p in points.values()), default=0)
        _draw_curves(ax_c, sweep, s, points, n_seeds)
        _draw_finals(ax_v, s, points, win, n_seeds)
        fig.suptitle(f"Sweep over {sweep}: {d}, validation split, other settings at the base",
                     fontsize=10)
        figs.append(save_figure(fig, fig_dir / f"sweep_{_slug(sweep)}.png"))
    return figs


def _drawable(p: dict) -> bool:
    """Whether a point has a curve to draw: some seed finished, none collapsed or diverged."""
    return bool(p["ok"]) and not (p["bad"].get("collapsed") or p["bad"].get("diverged"))


def _draw_curves(ax_c, sweep: str, s: dict, points: dict, n_seeds: int) -> None:
    """Left panel: validation accuracy per epoch, mean ± std over the seeds, for every value."""
    from shared.plotting import pyplot

    colors = pyplot().get_cmap("tab10").colors
    for i, (v, p) in enumerate(points.items()):
        color = colors[i % len(colors)]
        tag = " (base)" if v == s["default"] else ""
        if not _drawable(p):
            short = ", ".join(f"{st} {k} of {p['n']}" for st, k in p["bad"].items())
            ax_c.plot([], [], color="crimson", marker="x", ls="none",
                      label=f"{v}{tag}: {short or 'no run'}")
            continue
        a = p["val"]
        x = epochs_axis(a.mean.size)
        ax_c.plot(x, 100 * a.mean, color=color, marker="o", ms=3, lw=1.5,
                  label=f"{v}{tag}")
        if a.n > 1:
            ax_c.fill_between(x, 100 * (a.mean - a.std), 100 * (a.mean + a.std),
                              color=color, alpha=0.2, lw=0)
    finish(ax_c, "epoch", "validation accuracy (%)",
           f"validation accuracy per epoch, mean ± std over {n_seeds} seeds" if n_seeds > 1
           else "validation accuracy per epoch (1 seed)",
           legend_title=sweep, fontsize=7, loc="lower right")


def _draw_finals(ax_v, s: dict, points: dict, win, n_seeds: int) -> None:
    """Right panel: final accuracy against the value, error bars = std over the seeds; a value
    that collapsed, diverged or has no run is a ✗."""
    good = [(i, v, p) for i, (v, p) in enumerate(points.items()) if _drawable(p)]
    xs = [_x(s, i, v) for i, v, _ in good]
    for key, mk, ls, lab in (("val", "o", "-", "validation"),
                             ("train", "s", "--", "training set (final weights)")):
        ys = [100 * p[key].final_mean for _, _, p in good]
        es = [100 * np.nan_to_num(p[key].final_std) for _, _, p in good]
        ax_v.errorbar(xs, ys, yerr=es, marker=mk, ls=ls, capsize=4, lw=1.3, label=lab,
                      color="C0" if key == "val" else "C1")
    _mark_base_and_winner(ax_v, s, points, win)
    good_values = [v for _, v, _ in good]
    bad = [(i, v, p) for i, (v, p) in enumerate(points.items()) if v not in good_values]
    mark_failed(ax_v, [_x(s, i, v) for i, v, _ in bad],
                ["collapsed" if p["bad"].get("collapsed") else
                 "diverged" if p["bad"].get("diverged") else "no run" for _, _, p in bad])
    _scale(ax_v, s)
    _final_ylim(ax_v, [p for _, _, p in good], bool(bad))
    finish(ax_v, s["axis"], "accuracy (%)",
           "final accuracy, mean ± std over the seeds" if n_seeds > 1
           else "final accuracy (1 seed: no error bars)",
           legend_title="after the last epoch", fontsize=7, loc="best")


def _mark_base_and_winner(ax_v, s: dict, points: dict, win) -> None:
    """Circle the base value's point and write the winner's mean validation accuracy."""
    base = points.get(s["default"])
    if base is not None and base["ok"]:
        i0 = list(points).index(s["default"])
        ax_v.scatter([_x(s, i0, s["default"])], [100 * base["mean"]], s=160,
                     facecolors="none", edgecolors="k", zorder=5, label="base value")
    if win in points and points[win]["ok"]:
        iw = list(points).index(win)
        ax_v.annotate(f"{'chosen: ' if win != s['default'] else ''}"
                      f"{100 * points[win]['mean']:.2f} %",
                      (_x(s, iw, win), 100 * points[win]["mean"]),
                      xytext=(0, 12), textcoords="offset points", ha="center",
                      fontsize=8, arrowprops={"arrowstyle": "->", "lw": 0.8})


def _final_ylim(ax_v, good: list[dict], any_bad: bool) -> None:
    """y limits spanning at least MIN_SPAN points around the drawn means ± std, with room
    below for the ✗ marks when some value failed."""
    ys_all = [100 * p[k].final_mean + sgn * 100 * np.nan_to_num(p[k].final_std)
              for p in good for k in ("val", "train") for sgn in (-1, 1)]
    if ys_all:
        lo, hi = min(ys_all), max(ys_all)
        pad = max(0.0, MIN_SPAN - (hi - lo)) / 2
        ax_v.set_ylim(lo - pad - 0.3 - (0.12 * MIN_SPAN if any_bad else 0), hi + pad + 0.3)


def _scale(ax, s):
    """x scale, ticks at the swept values, and limits covering every value (also the ones marked
    ✗, which have no point to autoscale on)."""
    vals = s["values"]
    if s["scale"] == "category":
        ax.set_xticks(range(len(vals)), [str(v) for v in vals])
        ax.set_xlim(-0.5, len(vals) - 0.5)
        return
    if s["scale"] in ("log", "log2"):
        ax.set_xscale("log", base=2 if s["scale"] == "log2" else 10)
        ax.set_xlim(min(vals) / 1.5, max(vals) * 1.5)
    else:
        pad = 0.08 * (max(vals) - min(vals))
        ax.set_xlim(min(vals) - pad, max(vals) + pad)
    ax.set_xticks(vals, [f"{v:g}" for v in vals])
    ax.minorticks_off()


def _verdict(v, p: dict, base: dict | None, default, win) -> str:
    """How value ``v`` (point ``p``) fares against the base value under the rule."""
    if v == default:
        return "base"
    if not p["usable"]:
        return "cannot win"
    if base is None or not base["usable"]:
        return "–"
    diff, mg = p["mean"] - base["mean"], margin(p, base)
    return (f"{100 * diff:+.2f} vs spread {100 * mg:.2f}: "
            + ("**wins**" if v == win else
               "beats the base, but another value more" if diff > mg else
               "within the noise" if abs(diff) <= mg else "worse"))


def sweep_rows(points: dict, default, win) -> list[list]:
    """One table row per swept value (the base marked *): accuracies, seeds, verdict."""
    base = points.get(default)
    rows = []
    for v, p in points.items():
        rows.append([f"{v}" + (" *" if v == default else ""),
                     pm(p["train"].final_mean, p["train"].final_std, as_pct=True)
                     if p["ok"] else "–",
                     pm(p["mean"], p["std"], as_pct=True) if p["ok"] else "–",
                     p["best_epoch"] or "–", f"{p['ok']} of {p['n']}",
                     _state_text(p), _verdict(v, p, base, default, win)])
    return rows


def summarize(records, figures, ctx):
    r0 = next((r for r in records if r.get("status") == "ok"), None)
    m = r0["metrics"] if r0 else {}
    d = records[0]["config"]["dataset"] if records else "?"
    n_seeds = len(cs3317.seeds(ctx))
    out = [f"Base configuration: {cs3317.base_text(ctx)}; seeds "
           f"{', '.join(map(str, cs3317.seeds(ctx)))} per point (the seed sets the initial "
           "weights and the order of the mini-batches). Data: "
           + data_description(d, cs3317.FINAL, m.get("n_train"), m.get("n_val"))
           + ". Every number below is on the validation part; the test set is not used here. "
           "Accuracies are mean ± sample std (ddof=1) over the seeds after the last epoch; the "
           "training accuracy is measured on the whole training set with the final weights.",
           f"\n**Rule for a winner:** {RULE}. The right-hand panels' y-axes span at least "
           f"{MIN_SPAN:g} percentage points, so differences within the noise do not fill the "
           "figure."]
    if ctx.quick:
        out.append(f"\n*Quick mode:* the MNIST sample stands in for Fashion-MNIST (offline), "
                   f"{cs3317.epochs(ctx)} epochs and {n_seeds} seed(s) per point"
                   + (", so no spread is measured" if n_seeds == 1 else "")
                   + f"; the full mode (`--full`) runs Fashion-MNIST with {len(cs3317.SEEDS)} "
                   "seeds.")
    chosen = []
    for sweep, pts in by_sweep(records).items():
        s = SWEEPS[sweep]
        points = {v: point(rs) for v, rs in pts.items()}
        win, why = choose(points, s["default"])
        out.append(f"\n### {sweep}\n")
        out.append(md_table([sweep, "train acc (end)", "val acc (end)",
                             "best epoch (mean curve)", "usable seeds", "status",
                             "against the base"], sweep_rows(points, s["default"], win)))
        out.append(f"\nChosen: **{sweep} = {win}** ({why}).")
        chosen.append(f"{sweep} = {win}")
    out.append("\nWinners by the rule: " + ", ".join(chosen) + ". Experiment 6b combines them "
               "and checks the combination against the base on validation data.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
