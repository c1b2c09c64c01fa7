"""Experiment 8 — the disc test (Ursinus BYOMLP hand-out): can a network separate the points
inside a disc from those outside, which no line in the input plane can?

1,000 points uniform in [-1, 1]^2 (``shared.data.load_disc``, seed 0: the first 800 train, the
last 200 are held out), label 1 inside the disc of radius sqrt(2/pi) (half the square). The
hand-out's network: 2 -> 100 (leaky ReLU) -> 2 (leaky ReLU, the layer named ``"layer2"``) -> 1
(logistic), logistic loss, per-sample SGD (batch size 1, reshuffled every epoch), initial weights
0.1 * N(0, 1) as in the hand-out, biases 0.

What it shows: the output unit is a logistic regression on the 2-D output of ``layer2``
(``model.forward(X, end="layer2")``), so the network can only classify well once the first two
layers have *moved* the points so that a line separates the classes. The run records that 2-D
representation of all 1,000 points at several epochs (and the output unit's line at each), the
loss curve, and the final model's probability on a grid of the input square; the figures show the
representation becoming linearly separable beside the loss, and the curved decision boundary in
the input plane. An animated GIF of the training is drawn too when Pillow is installed.

Adds over the VU experiments: a custom model (named layers, leaky ReLU, a logistic output and
loss) trained per sample, and a look inside the network. Three initial-weight seeds are shown (the
hand-out shows one run): the picture depends on the seed. Leaves out: a study of the rate.
"""

from __future__ import annotations

import time

import numpy as np

from ..plots import finish, legend_below
from ..report import data_description, md_table, pct
from ..runs import Context, Run, pack_array, unpack_array

NAME = "disc"
TITLE = "8. Disc test: the hidden 2-D representation becomes linearly separable"


N_POINTS = 1000
DATA_SEED = 0
#: Initial weights and shuffling. Several seeds, because one run can mislead: with seed 0 one of
#: the two layer2 units stays negative (in its leaky part) for most points, so the representation
#: is close to 1-D - still separable by a line; the summary table's last column shows it.
SEEDS = (0, 1, 2)
HIDDEN = 100
BOTTLENECK = 2
SLOPE = 0.01          # leaky ReLU slope
INIT_STD = 0.1        # the hand-out's 0.1 * randn
LR = 0.02             # per-sample SGD
QUICK_EPOCHS = 20
FULL_EPOCHS = 60
#: Epochs whose hidden representation is stored: every epoch up to FIRST_EVERY, then every
#: SNAPSHOT_EVERY, and the last (0 = before training).
FIRST_EVERY = 10
SNAPSHOT_EVERY = 5
#: Per-sample losses are stored as means over blocks of this many updates (20 per epoch).
LOSS_BLOCK = 40
GRID = 101            # the decision-boundary grid is GRID x GRID points ...
GRID_EXTENT = 1.1     # ... over [-GRID_EXTENT, GRID_EXTENT]^2
#: The epochs drawn in the static figure (the nearest stored snapshots are used).
SHOW_EPOCHS = (0, 2, 5)


def snapshot_epochs(epochs: int) -> list[int]:
    return sorted(set(range(min(epochs, FIRST_EVERY) + 1))
                  | set(range(0, epochs + 1, SNAPSHOT_EVERY)) | {epochs})


def config(ctx: Context, seed: int) -> dict:
    epochs = int(ctx.option("epochs", QUICK_EPOCHS if ctx.quick else FULL_EPOCHS))
    return {"experiment": NAME, "n": N_POINTS, "data_seed": DATA_SEED,
            "seed": int(seed), "hidden": HIDDEN, "bottleneck": BOTTLENECK, "slope": SLOPE,
            "init_std": INIT_STD, "lr": LR, "batch_size": 1, "epochs": epochs,
            "snapshots": snapshot_epochs(epochs), "loss_block": LOSS_BLOCK, "grid": GRID,
            "grid_extent": GRID_EXTENT}


def plan(ctx: Context):
    return [Run(config(ctx, s), execute, label=f"disc lr={LR:g} seed={s}")
            for s in SEEDS]


# ----------------------------------------------------------------------------- the run
def build_model(config: dict, rng: np.random.Generator):
    """2 -> hidden (leaky ReLU) -> 2 (leaky ReLU, "layer2") -> 1 (sigmoid, "output")."""
    from stage3_batched import LeakyReLU, Linear, Sequential, Sigmoid

    def lin(a, b, name):
        return Linear(a, b, init="normal", std=config["init_std"], rng=rng, name=name)

    h, k, s = config["hidden"], config["bottleneck"], config["slope"]
    return Sequential([lin(2, h, "layer1_linear"), LeakyReLU(s, name="layer1"),
                       lin(h, k, "layer2_linear"), LeakyReLU(s, name="layer2"),
                       lin(k, 1, "output_linear"), Sigmoid(name="output")])


def _snapshotter(model, x_all: np.ndarray, wanted: set, snaps: list):
    """A function of the epoch that appends layer2's output for ``x_all`` (N, 2) and the output
    unit's line to ``snaps`` when the epoch is in ``wanted``."""
    def snapshot(epoch: int) -> None:
        if epoch not in wanted:
            return
        model.eval()
        h = model.forward(x_all, end="layer2")               # (1000, 2)
        model.train()
        w = model["output_linear"].params
        snaps.append({"epoch": epoch, "h": pack_array(h),
                      "line": [float(w["W"][0, 0]), float(w["W"][1, 0]), float(w["b"][0])]})

    return snapshot


def _block_means(step_loss, b: int) -> np.ndarray:
    """The per-step training losses as means over consecutive blocks of ``b`` steps."""
    steps = np.asarray(step_loss, dtype=np.float64)
    nb = len(steps) // b
    return steps[: nb * b].reshape(nb, b).mean(axis=1) if nb else np.zeros(0)


def _grid_output(model, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """The grid axis (G,) and the network's p(inside) on the (G, G) grid (row = y, column = x)."""
    g = np.linspace(-config["grid_extent"], config["grid_extent"], config["grid"])
    gx, gy = np.meshgrid(g, g)                                # (G, G): row = y, column = x
    p = model.predict_output(np.column_stack([gx.ravel(), gy.ravel()]))[:, 0]
    return g, p.reshape(gx.shape)


def execute(config: dict) -> dict:
    """Train the disc network per sample; return the representations, losses and the grid."""
    from shared.data import load_disc
    from stage3_batched import SGD, LogisticLoss, evaluate, fit

    (xtr, ytr), (xval, yval), _ = load_disc(n=config["n"], seed=config["data_seed"])
    x_all = np.concatenate([xtr, xval])                       # (1000, 2)
    rng = np.random.default_rng(config["seed"])
    model = build_model(config, rng)
    loss_fn = LogisticLoss()
    opt = SGD(model.parameters(), model.gradients(), lr=config["lr"])
    snaps = []
    snapshot = _snapshotter(model, x_all, set(config["snapshots"]), snaps)
    snapshot(0)
    t0 = time.perf_counter()
    hist = fit(model, loss_fn, opt, (xtr, ytr), (xval, yval), epochs=config["epochs"],
               batch_size=config["batch_size"], rng=rng, progress=False,
               on_epoch=lambda row: snapshot(row["epoch"]))
    train_time = time.perf_counter() - t0
    blocks = _block_means(hist.step_loss, config["loss_block"])
    g, p = _grid_output(model, config)
    train_loss, train_acc = evaluate(model, loss_fn, xtr, ytr)
    val_loss, val_acc = evaluate(model, loss_fn, xval, yval)
    metrics = {
        "n_train": int(len(xtr)), "n_val": int(len(xval)),
        "x": pack_array(x_all), "y": pack_array(np.concatenate([ytr, yval]), "u1"),
        "snapshots": snaps, "loss_blocks": blocks.tolist(),
        "epochs": [{k: e[k] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")}
                   for e in hist.epochs],
        "grid_axis": g.tolist(), "grid_p": pack_array(p),
        "final": {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                  "val_acc": val_acc},
        "train_wall_time": train_time,
    }
    return {"metrics": metrics, "status": hist.status, "message": hist.message}


# ----------------------------------------------------------------------------- figures
def separated(snap: dict, y: np.ndarray) -> float:
    """Fraction of the points that the output unit's line classifies correctly from their
    layer2 representation in ``snap`` (= the network's accuracy at that epoch)."""
    w1, w2, b = snap["line"]
    return float(np.mean(((unpack_array(snap["h"]) @ np.array([w1, w2]) + b) > 0) == y))


def _nearest(snaps, epoch):
    return min(snaps, key=lambda s: abs(s["epoch"] - epoch))


def _draw_hidden(ax, snap, y, seed):
    h = unpack_array(snap["h"])
    for cls, color, lab in ((0, "C0", "outside (0)"), (1, "C1", "inside (1)")):
        m = y == cls
        ax.scatter(h[m, 0], h[m, 1], s=6, color=color, alpha=0.6, label=lab, lw=0)
    w1, w2, b = snap["line"]
    lo, hi = h.min(axis=0), h.max(axis=0)
    pad = 0.05 * np.maximum(hi - lo, 1e-3)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 50)
    if abs(w2) > 1e-12:       # the output unit's boundary: w1 h1 + w2 h2 + b = 0
        ax.plot(xs, -(w1 * xs + b) / w2, "k--", lw=1, label="output unit: p = 0.5")
    elif abs(w1) > 1e-12:
        ax.axvline(-b / w1, color="k", ls="--", lw=1, label="output unit: p = 0.5")
    finish(ax, "layer2 unit 1", "layer2 unit 2",
           f"seed {seed}, epoch {snap['epoch']}: "
           f"{100 * separated(snap, y):.1f}% on the right side", legend=False)
    _few_ticks(ax)


def _few_ticks(ax, n: int = 4) -> None:
    """At most ``n`` ticks per axis, in plain notation (the hidden values span 1e-3 to 10)."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(n))
        fmt = ScalarFormatter(useOffset=False)
        fmt.set_powerlimits((-2, 3))
        axis.set_major_formatter(fmt)


def _draw_loss(ax, m, block, seed, upto=None, legend=True):
    """Training loss (block means, x in epochs) and the held-out loss per epoch, up to epoch
    ``upto`` (None = all)."""
    blocks = np.asarray(m["loss_blocks"], dtype=float)
    x = (np.arange(len(blocks)) + 1) * block / m["n_train"]    # end of each block, in epochs
    ep = m["epochs"]
    ex = [e["epoch"] for e in ep]
    keep = [i for i, e in enumerate(ex) if upto is None or e <= upto]
    if upto is not None:
        sel = x <= upto + 1e-9
        x, blocks = x[sel], blocks[sel]
    ax.plot(x, blocks, color="C2", lw=0.8,
            label=f"training loss (mean over {block} updates)")
    ax.plot([ex[i] for i in keep], [ep[i]["val_loss"] for i in keep], "o-", color="C3",
            ms=3, lw=1.2, label="held-out loss (after each epoch)")
    ax.set_xlim(0, max(ex) if ex else 1)
    ax.set_ylim(bottom=0)
    finish(ax, "epoch", "logistic loss (nats)", f"seed {seed}: loss, per-sample SGD",
           legend=legend, fontsize=7, loc="upper right")


def _ok(records):
    return [r for r in records if r.get("status") == "ok"]


def plot(records, fig_dir, ctx):
    ok = _ok(records)
    if not ok:
        return []
    figs = [_plot_hidden(ok, fig_dir), _plot_boundary(ok, fig_dir)]
    best = gif_record(ok)
    gif = _gif(best, fig_dir / "disc_training.gif")
    if gif is not None:
        figs.append(gif)
    return figs


def _plot_hidden(ok: list[dict], fig_dir):
    """Figure disc_hidden.png: layer2's 2-D output at several epochs and the loss, per seed."""
    from shared.plotting import new_figure, save_figure

    cols = len(SHOW_EPOCHS) + 2
    fig, axes = new_figure(ncols=cols, nrows=len(ok), width=3.8, height=3.4,
                           layout="constrained")
    for row, r in zip(axes, ok):
        m, cfg = r["metrics"], r["config"]
        y = unpack_array(m["y"])
        shown = []
        for e in (*SHOW_EPOCHS, cfg["epochs"]):
            s = _nearest(m["snapshots"], e)
            if s not in shown:
                shown.append(s)
        for ax, s in zip(row, shown):
            _draw_hidden(ax, s, y, cfg["seed"])
        for ax in row[len(shown):-1]:
            ax.axis("off")
        _draw_loss(row[-1], m, cfg["loss_block"], cfg["seed"], legend=False)
    fig.suptitle("Disc test: the 2-D output of layer2 (all 1,000 points) at several epochs, "
                 "with the output unit's line, and the loss; one row per seed", fontsize=12)
    legend_below(fig, list(axes[0]), ncol=5, fontsize=9, markerscale=3)
    return save_figure(fig, fig_dir / "disc_hidden.png")


def _plot_boundary(ok: list[dict], fig_dir):
    """Figure disc_boundary.png: each seed's decision boundary in the input plane."""
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=len(ok), width=4.4, height=5.4, layout="constrained")
    for ax, r in zip(axes[0], ok):
        cs = _draw_boundary(ax, r)
        finish(ax, "x1", "x2" if ax is axes[0][0] else "", f"seed {r['config']['seed']}, after "
               f"{r['config']['epochs']} epochs\nheld-out accuracy "
               f"{pct(r['metrics']['final']['val_acc'])}", legend=False)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
    fig.suptitle("Disc test: the network's decision boundary in the input plane", fontsize=12)
    fig.colorbar(cs, ax=list(axes[0]), label="network output p(inside)", shrink=0.8)
    legend_below(fig, [axes[0][0]], ncol=4, fontsize=9, markerscale=3)
    return save_figure(fig, fig_dir / "disc_boundary.png")


def _draw_boundary(ax, r: dict):
    """One run's p(inside) over the input plane, its p = 0.5 curve, the points and the disc."""
    from shared.data import DISC_RADIUS

    m = r["metrics"]
    t = np.linspace(0, 2 * np.pi, 200)
    y, x = unpack_array(m["y"]), unpack_array(m["x"])
    g, p = np.asarray(m["grid_axis"]), unpack_array(m["grid_p"])
    cs = ax.contourf(g, g, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
    ax.contour(g, g, p, levels=[0.5], colors="k", linewidths=1.5)
    for cls, color, lab in ((0, "C0", "outside (0)"), (1, "C1", "inside (1)")):
        sel = y == cls
        ax.scatter(x[sel, 0], x[sel, 1], s=4, color=color, lw=0, label=lab)
    ax.plot(DISC_RADIUS * np.cos(t), DISC_RADIUS * np.sin(t), color="gray", ls=":", lw=1.5,
            label="true disc boundary")
    ax.plot([], [], "k-", label="network: p = 0.5")
    ax.set_aspect("equal")
    return cs


def gif_record(ok: list[dict]) -> dict:
    """The run animated in the GIF: the highest final training accuracy (first on ties)."""
    return max(ok, key=lambda r: r["metrics"]["final"]["train_acc"])


def _gif(r, path):
    """Bonus: an animation of one run's training (one frame per stored snapshot), if Pillow is
    installed; None otherwise."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return None
    from matplotlib.animation import FuncAnimation

    from shared.plotting import new_figure, save_animation

    m, cfg = r["metrics"], r["config"]
    y, snaps = unpack_array(m["y"]), m["snapshots"]
    fig, axes = new_figure(ncols=2, width=4.5, height=4.0)

    def frame(i):
        for ax in axes[0]:
            ax.clear()
        _draw_hidden(axes[0, 0], snaps[i], y, cfg["seed"])
        axes[0, 0].legend(fontsize=7, loc="best")
        _draw_loss(axes[0, 1], m, cfg["loss_block"], cfg["seed"], upto=snaps[i]["epoch"])
        return []

    anim = FuncAnimation(fig, frame, frames=len(snaps), blit=False)
    return save_animation(fig, anim, path, fps=3)


def seed_rows(ok: list[dict]) -> list[list]:
    """One table row per finished seed: accuracies, losses, when it learned, layer2's use."""
    rows = []
    for r in ok:
        m, c = r["metrics"], r["config"]
        y = unpack_array(m["y"])
        f = m["final"]
        first_90 = next((e["epoch"] for e in m["epochs"] if e["val_acc"] >= 0.9), None)
        h = unpack_array(m["snapshots"][-1]["h"])
        used = ", ".join(f"{100 * v:.0f}%" for v in (h > 0).mean(axis=0))
        rows.append([c["seed"], pct(f["train_acc"]), pct(f["val_acc"]), f"{f['train_loss']:.4f}",
                     f"{f['val_loss']:.4f}", first_90 if first_90 is not None else "never",
                     f"{100 * separated(m['snapshots'][0], y):.1f}%", used])
    return rows


def summarize(records, figures, ctx):
    ok = _ok(records)
    cfg = records[0]["config"] if records else config(ctx, SEEDS[0])
    out = [f"Network: 2 → {cfg['hidden']} (leaky ReLU, slope {cfg['slope']:g}) → "
           f"{cfg['bottleneck']} (leaky ReLU, named `layer2`) → 1 (logistic), logistic loss, "
           f"per-sample SGD (batch size 1, reshuffled every epoch) at lr = {cfg['lr']:g} for "
           f"{cfg['epochs']} epochs; initial weights {cfg['init_std']:g} · N(0, 1) (the "
           f"hand-out's), biases 0; seeds {', '.join(str(r['config']['seed']) for r in records)}"
           " (initial weights and shuffling)."]
    if not ok:
        out.append("\nNo finished run to show.")
        return "\n".join(out)
    m0 = ok[0]["metrics"]
    out.append("Data: " + data_description("disc", False, m0["n_train"], m0["n_val"])
               + f" ({cfg['n']:,} points, data seed {cfg['data_seed']}; the 200 held-out "
               "points are never trained on). The figures show all 1,000 points.")
    out.append("\n" + md_table(["seed", "final train acc", "final held-out acc", "train loss",
                                "held-out loss", "first epoch with held-out acc ≥ 90%",
                                "separable by the output line before training",
                                "points with layer2 unit 1, 2 > 0 (end)"], seed_rows(ok)))
    out.append("\nThe output unit is a line in the plane of `layer2`'s two outputs, so the "
               "final accuracy *is* how well a line separates the classes there: before "
               "training the representation is a scrambled blob (about half right), after "
               "training the points inside the disc sit on one side of the line. In the input "
               "plane (second figure) that line becomes a closed curve around the disc - what "
               "no linear classifier of the inputs can do. The last column shows whether both "
               "layer2 units are used: a unit that is negative for almost every point works in "
               "its leaky part only (slope 0.01), and the representation is nearly 1-D (it can "
               "still be separable along the other unit).")
    if any(r is not None for r in ok):
        out.append(f"\nThe GIF animates seed {gif_record(ok)['config']['seed']} (the highest "
                   "final training accuracy), one frame per stored epoch; it is drawn only when "
                   "Pillow is installed.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
