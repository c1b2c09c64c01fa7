"""Figure helpers shared by the experiments: mean lines with ± std bands, diverged markers.

What this adds over raw matplotlib: the same look for every band plot, and a visible mark for runs
that diverged instead of a line that silently stops. Figures are made with
``shared.plotting.new_figure`` and written with ``shared.plotting.save_figure`` (headless, atomic).
"""

from __future__ import annotations

import numpy as np

from .report import Aggregate


def band(ax, x, agg: Aggregate, label: str, color=None, alpha: float = 0.25):
    """Draw ``agg.mean`` against ``x`` with a shaded ``mean ± std`` band (no band for one run).
    ``x`` may be longer than the mean (it is cut). Returns the line (None if nothing to draw)."""
    if agg.n == 0:
        return None
    x = np.asarray(x)[: agg.mean.size]
    n = f" (n={agg.n})" if agg.n > 1 else " (1 run)"
    (line,) = ax.plot(x, agg.mean, color=color, label=f"{label}{n}", lw=1.6)
    if agg.n > 1 and np.all(np.isfinite(agg.std)):
        ax.fill_between(x, agg.mean - agg.std, agg.mean + agg.std, color=line.get_color(),
                        alpha=alpha, lw=0)
    return line


def diverged_note(ax, labels: list[str], where: str = "upper right") -> None:
    """Write "diverged: ..." in a corner of the axes."""
    if not labels:
        return
    loc = {"upper right": (0.98, 0.98, "right", "top"),
           "lower right": (0.98, 0.02, "right", "bottom"),
           "upper left": (0.02, 0.98, "left", "top")}[where]
    ax.text(loc[0], loc[1], "diverged: " + ", ".join(labels), transform=ax.transAxes,
            ha=loc[2], va=loc[3], fontsize=8, color="crimson",
            bbox={"boxstyle": "round", "fc": "white", "ec": "crimson", "alpha": 0.8})


def epochs_axis(n: int) -> np.ndarray:
    """1, 2, ..., n: epochs are counted from 1 (the value after the epoch's training)."""
    return np.arange(1, n + 1)


def finish(ax, xlabel: str, ylabel: str, title: str | None = None, legend: bool = True,
           legend_title: str | None = None, **legend_kw) -> None:
    """Axis labels, title, grid, integer ticks on an epoch axis, and the legend (``legend_kw``
    go to ``ax.legend``; ``legend_title`` names what the entries are, e.g. "learning rate")."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xlabel.startswith("epoch"):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        leg = ax.legend(**{"fontsize": 8, **legend_kw})
        if legend_title:
            leg.set_title(legend_title, prop={"size": legend_kw.get("fontsize", 8)})


def legend_below(fig, axes, title: str | None = None, ncol: int = 5, fontsize: int = 8,
                 markerscale: float = 1.0) -> None:
    """One legend for the whole figure, below the axes, so it covers no curve: the entries of
    ``axes`` (duplicates by label dropped). Use with a figure made with
    ``layout="constrained"``."""
    seen, handles, labels = set(), [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen:
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)),
                   fontsize=fontsize, title=title, title_fontsize=fontsize,
                   markerscale=markerscale)


def mark_failed(ax, xs, texts, color: str = "crimson") -> None:
    """A ✗ at the bottom of ``ax`` for each x in ``xs`` (data coordinates in x, axes fraction in
    y), with its text ("diverged", "collapsed") above it: a setting that did not learn is marked
    where it belongs on the x axis without being drawn as an accuracy of 0 (which would stretch
    the y axis and hide the differences between the settings that did learn)."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for x, text in zip(xs, texts):
        ax.scatter([x], [0.04], marker="x", s=70, color=color, transform=trans, zorder=6,
                   clip_on=False)
        ax.text(x, 0.08, text, transform=trans, ha="center", va="bottom", fontsize=7,
                color=color)


def mark_test(ax, x, acc: float | None, label: str, color=None, scale: float = 100,
              below: bool = False) -> None:
    """The test accuracy, measured once after training, as a star at epoch ``x`` with its value
    written beside it, above (or ``below``) the star (``scale`` 100: the axis is in %). Nothing
    for a missing value."""
    if acc is None or not np.isfinite(acc):
        return
    ax.plot([x], [scale * acc], "*", ms=13, color=color, mec="k", mew=0.6, zorder=7,
            label=f"{label}: {scale * acc:.2f}{' %' if scale == 100 else ''}")
    ax.annotate(f"{scale * acc:.2f}{' %' if scale == 100 else ''}", (x, scale * acc),
                xytext=(-8, -14 if below else 6), textcoords="offset points", ha="right",
                fontsize=8,
                color=color, fontweight="bold")


def seeds_text(n: int) -> str:
    """"mean ± std over n seeds" only with two or more seeds, else "one seed"."""
    return f"mean ± std over {n} seeds" if n >= 2 else "one seed"


def confusion_figure(evaluation: dict | None, title: str, path):
    """``confusion.png``-style figure (counts and row-normalised) of a record's evaluation
    (``shared.evaluation``); returns the path, or None without an evaluation."""
    if not evaluation:
        return None
    from shared.evaluation import from_dict, plot_confusion
    from shared.plotting import save_figure

    return save_figure(plot_confusion(from_dict(evaluation), title), path)


def confused_text(evaluation: dict | None) -> str:
    """"most confused: A taken for B N times (of M)" for a report, or "" without one."""
    if not evaluation:
        return ""
    from shared.evaluation import from_dict

    ev = from_dict(evaluation)
    true, pred, n = ev.most_confused()
    total = int(ev.counts[ev.names.index(true)].sum())
    return f"most confused pair: {true} taken for {pred}, {n} of the {total} {true} images"


def percent(agg: Aggregate) -> Aggregate:
    """``agg`` of fractions in % (mean, std and values times 100), for accuracy axes."""
    from dataclasses import replace

    return replace(agg, mean=100 * agg.mean, std=100 * agg.std, values=100 * agg.values)
