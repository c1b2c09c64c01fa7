"""Experiment 10 — a 2-D autoencoder of digits against PCA (Ursinus BYOMLP hand-out).

The hand-out's network squeezes each 784-pixel digit through two numbers and back:

    784 -> 512 -> 256 -> 128 -> 2 ("latent", logistic) -> 128 ("up128") -> 256 -> 512 -> 784
    (logistic output); leaky ReLU (slope 0.01) after every other layer; squared loss.

Stage-3 names: each Linear is its own layer, so ``"latent"`` is the logistic layer whose output is
the code z in [0, 1]^2 (``model.forward(X, end="latent")`` encodes) and ``"up128"`` is the Linear
2 -> 128 right after it (``model.forward(z, start="up128")`` decodes a code to 784 values in
[0, 1]). The loss is stage 3's SquaredError: 0.5 * sum over the 784 pixels, mean over the batch.

PCA is the linear baseline: the top two principal directions of the centred training images
(numpy's SVD), its explained-variance ratio (the hand-out quotes 16.8% for two components on
MNIST), codes = projections, decodings = mean + code @ directions.

Each run is a record that holds everything the figures need (codes of every test digit,
example reconstructions, a decoded 10 x 10 grid of the latent square, a traversal of a circle in
it, losses), so the figures are drawn from records only. The autoencoder's trained weights are
also saved next to its record (``runs/autoencoder/<key>.npz``, ``Sequential.save`` format) for
further exploration. A 5-nearest-neighbour classifier in the 2-D code space (reference: up to
10,000 training codes) puts a number on "separates the digits" for both methods.

Documented deviations from the hand-out (allowed by it if the figure is at least as good):
* Optimiser: Adam instead of plain SGD at 1e-4. The hand-out's 1e-4 multiplies gradients
  *summed* over the 16 samples of a batch, i.e. 16 x 1e-4 = 1.6e-3 on stage 3's batch-mean loss.
  A third run, HANDOUT, trains with exactly that (SGD 1.6e-3 halved every epoch, 0.1 * N(0, 1)
  weights, 3 epochs) so the report shows what it gives: on the 6,000-digit sample it stays near
  the mean image (every digit decodes to the same blur, 5-NN accuracy of its codes ~15%). The
  main run uses Adam at QUICK/FULL "lr", halved every "decay_every" epochs (``StepDecay``).
* Initial weights: He-normal (std sqrt(2 / fan_in)) instead of 0.1 * N(0, 1), which keeps the
  signal alive through eight layers of leaky ReLUs.
* Quick mode: the shipped MNIST sample (6,000 train / 1,000 test) for 8 epochs with the rate
  halved every 2 epochs (one epoch of 6,000 digits is only 375 updates). Full mode: MNIST
  (60,000 / 10,000), 5 epochs, rate halved every epoch, as in the hand-out's schedule.
* float32 (the images are 8-bit; float64 would double the time for nothing visible).
Leaves out: other latent sizes, variational autoencoders, more than one seed (one run is ~20 s
quick, ~2 min full).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data import QUICK_IMAGES, data_problem
from ..plots import finish
from ..report import data_description, md_table, num, pct
from ..runs import Context, Run, SkipExperiment, pack_array, unpack_array

NAME = "autoencoder"
TITLE = "10. 2-D autoencoder of digits vs PCA"


ENCODER = (512, 256, 128)      # hidden widths of the encoder; the decoder mirrors them
LATENT = 2
SLOPE = 0.01
INIT = "he"
OPTIMIZER = "adam"
BATCH_SIZE = 16
GAMMA = 0.5                    # StepDecay factor
DTYPE = "float32"
SEED = 0
FINAL = True                   # monitor on validation digits, show the test digits once
QUICK = {"dataset": QUICK_IMAGES, "epochs": 8, "lr": 2e-3, "decay_every": 2}
FULL = {"dataset": "mnist", "epochs": 5, "lr": 1e-3, "decay_every": 1}
#: The hand-out's own training settings, run for comparison (1e-4 on batch-summed gradients =
#: 1.6e-3 on the batch-mean loss; 0.1 * N(0, 1) initial weights; 3 epochs, halved every epoch).
HANDOUT = {"optimizer": "sgd", "lr": 16 * 1e-4, "init": "normal", "epochs": 3, "decay_every": 1}
GRID = 10                      # the decoded grid is GRID x GRID codes
TRAVERSAL = 24                 # frames of the circle traversal (GIF)
TRAVERSAL_CIRCLE = (0.5, 0.5, 0.35)   # centre z1, z2 and radius in the latent square
EXAMPLES_PER_CLASS = 1         # test digits shown reconstructed, per class
KNN_K = 5
KNN_REFERENCE = 10_000         # training codes used as the k-NN reference (the first ones)
PCA_COMPONENTS_KEPT = 10       # explained-variance ratios stored
PCA_BOX = (1.0, 99.0)          # PCA grid spans these percentiles of the training codes


def settings(ctx: Context) -> dict:
    s = dict(QUICK if ctx.quick else FULL)
    s["epochs"] = int(ctx.option("epochs", s["epochs"]))
    s["limit"] = ctx.option("limit")
    return s


def plan(ctx: Context):
    s = settings(ctx)
    problem = data_problem(s["dataset"], FINAL)
    if problem:
        raise SkipExperiment(f"{s['dataset']} is not available here (nothing was substituted): "
                             f"{problem}")
    data = {"dataset": s["dataset"], "final": FINAL, "monitor": "validation",
            "limit": s["limit"], "dtype": DTYPE,
            "examples_per_class": EXAMPLES_PER_CLASS, "grid": GRID, "knn_k": KNN_K,
            "knn_reference": KNN_REFERENCE}
    pca = dict(data, experiment="pca", components_kept=PCA_COMPONENTS_KEPT, box=list(PCA_BOX))
    ae = dict(data, experiment="autoencoder", variant="main", encoder=list(ENCODER),
              latent=LATENT, slope=SLOPE, init=INIT, optimizer=OPTIMIZER, lr=s["lr"],
              gamma=GAMMA, decay_every=s["decay_every"], batch_size=BATCH_SIZE,
              epochs=s["epochs"], seed=SEED, traversal=TRAVERSAL, circle=list(TRAVERSAL_CIRCLE))
    hand = dict(ae, variant="handout", **HANDOUT)
    hand["epochs"] = int(ctx.option("epochs", HANDOUT["epochs"]))
    return [Run(pca, execute_pca, label=f"PCA {s['dataset']}"),
            Run(ae, execute, label=f"autoencoder {s['dataset']} "
                    f"{OPTIMIZER} lr={s['lr']:g} epochs={s['epochs']}"),
            Run(hand, execute, label=f"autoencoder {s['dataset']} hand-out "
                    f"settings: sgd lr={hand['lr']:g} epochs={hand['epochs']}")]


# ----------------------------------------------------------------------------- the model
def build_model(rng: np.random.Generator, encoder=ENCODER, latent: int = LATENT,
                slope: float = SLOPE, init: str = INIT, dtype=np.float32, n_in: int = 784):
    """The autoencoder as a stage-3 Sequential. X (N, 784) -> reconstruction (N, 784) in [0, 1].

    Layer names: linear1, leakyrelu1, ... (automatic), ``"latent"`` (the logistic layer giving
    the code z (N, 2)), ``"up128"`` (the first decoder Linear, 2 -> 128), ``"output"`` (the
    final logistic layer).
    """
    from stage3_batched import LeakyReLU, Linear, Sequential, Sigmoid

    m = Sequential()
    widths = [n_in, *encoder]
    for a, b in zip(widths[:-1], widths[1:]):
        m.add(Linear(a, b, init=init, rng=rng, dtype=dtype)).add(LeakyReLU(slope))
    m.add(Linear(widths[-1], latent, init=init, rng=rng, dtype=dtype))
    m.add(Sigmoid(), name="latent")
    back = [latent, *reversed(encoder)]
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        m.add(Linear(a, b, init=init, rng=rng, dtype=dtype),
              name=f"up{b}" if i == 0 else None)
        m.add(LeakyReLU(slope))
    m.add(Linear(back[-1], n_in, init=init, rng=rng, dtype=dtype)).add(Sigmoid(), name="output")
    return m


def encode(model, X, batch_size: int = 4096) -> np.ndarray:
    """Codes z (N, 2) in [0, 1]^2 of images X (N, 784)."""
    model.eval()
    return np.concatenate([model.forward(X[s:s + batch_size], end="latent")
                           for s in range(0, len(X), batch_size)])


def decode(model, Z) -> np.ndarray:
    """Images (N, 784) in [0, 1] decoded from codes Z (N, 2): ``forward(Z, start="up128")``."""
    model.eval()
    return model.forward(np.asarray(Z), start=model.names[model.index("latent") + 1])


def grid_codes(lo, hi, n: int) -> np.ndarray:
    """(n*n, 2) codes on an n x n grid of cell centres of the box [lo, hi] (per axis), in image
    order: rows from the top (largest z2) down, columns left (smallest z1) to right."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    t = (np.arange(n) + 0.5) / n
    z1 = lo[0] + t * (hi[0] - lo[0])
    z2 = lo[1] + t[::-1] * (hi[1] - lo[1])
    a, b = np.meshgrid(z1, z2)
    return np.column_stack([a.ravel(), b.ravel()])


def circle_codes(cx: float, cy: float, r: float, n: int) -> np.ndarray:
    t = 2 * np.pi * np.arange(n) / n
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


# ----------------------------------------------------------------------------- PCA
def pca_fit(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of X (N, D) by numpy's SVD of the centred data, in float64.

    Returns ``mean`` (D,), ``components`` (D, D') whose columns are the principal directions in
    order of decreasing variance (D' = min(N, D)), and ``ratio`` (D',), the fraction of the total
    variance along each (S_i^2 / sum S^2 for the singular values S).
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    _, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    var = S**2
    return mean, Vt.T, var / var.sum()


def pca_encode(X, mean, components, k: int = 2) -> np.ndarray:
    return (np.asarray(X, dtype=np.float64) - mean) @ components[:, :k]


def pca_decode(Z, mean, components) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    return mean + Z @ components[:, :Z.shape[1]].T


# ----------------------------------------------------------------------------- shared steps
def knn_accuracy(ref: np.ndarray, ref_labels: np.ndarray, Z: np.ndarray, labels: np.ndarray,
                 k: int = KNN_K, chunk: int = 500) -> float:
    """Accuracy of the k-nearest-neighbour vote (ties: the smallest label) that classifies each
    code in Z (N, 2) from the codes ``ref`` (M, 2) with labels ``ref_labels``."""
    ref = np.asarray(ref, dtype=np.float64)
    n_cls = int(max(ref_labels.max(), labels.max())) + 1
    correct = 0
    rr = (ref**2).sum(axis=1)
    for s in range(0, len(Z), chunk):
        z = np.asarray(Z[s:s + chunk], dtype=np.float64)
        d = (z**2).sum(axis=1)[:, None] - 2 * z @ ref.T + rr[None, :]     # (n, M)
        idx = np.argpartition(d, k - 1, axis=1)[:, :k]
        votes = ref_labels[idx]                                           # (n, k)
        counts = (votes[:, :, None] == np.arange(n_cls)).sum(axis=1)      # (n, classes)
        correct += int(np.count_nonzero(counts.argmax(axis=1) == labels[s:s + chunk]))
    return correct / len(Z)


def example_indices(labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first ``per_class`` test digits of each class, ordered by class."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class]
                           for c in np.unique(labels)])


def _img(a) -> dict:
    """Images (..., 784) in [0, 1] as packed uint8 (0..255)."""
    return pack_array(np.clip(np.round(np.asarray(a, dtype=np.float64) * 255), 0, 255), "u1")


def images(d: dict) -> np.ndarray:
    """Inverse of :func:`_img`: float images in [0, 1]."""
    return unpack_array(d).astype(np.float64) / 255.0


def squared_loss(A, B) -> float:
    """0.5 * sum over pixels, mean over images (stage 3's SquaredError)."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return float(0.5 * np.sum((A - B) ** 2) / len(A))


def _load(config):
    """``(xtr, ytr), (xte, yte), k``: the training part (validation digits held out of it, as
    the autoencoder trains on) and the test digits."""
    from ..data import load_data

    train, _, k = load_data(config["dataset"], False, config["dtype"], config.get("limit"))
    return train, load_data(config["dataset"], config["final"], config["dtype"])[1], k


# ----------------------------------------------------------------------------- executors
def execute_pca(config: dict) -> dict:
    """The PCA baseline: fit on the training images, code / reconstruct the test images."""
    (xtr, ytr), (xte, yte), _ = _load(config)
    t0 = time.perf_counter()
    mean, comps, ratio = pca_fit(xtr)
    ztr, zte = pca_encode(xtr, mean, comps), pca_encode(xte, mean, comps)
    rec = pca_decode(zte, mean, comps)
    lo, hi = np.percentile(ztr, config["box"], axis=0)
    ex = example_indices(yte, config["examples_per_class"])
    nref = config["knn_reference"]
    metrics = {
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "explained_variance_ratio": ratio[: config["components_kept"]].tolist(),
        "explained_2": float(ratio[:2].sum()),
        "test_loss": squared_loss(rec, xte),
        "knn_acc": knn_accuracy(ztr[:nref], ytr[:nref], zte, yte, config["knn_k"]),
        "codes": pack_array(zte), "labels": pack_array(yte, "u1"),
        "examples": ex.tolist(), "originals": _img(xte[ex]), "reconstructions": _img(rec[ex]),
        "grid_box": [lo.tolist(), hi.tolist()],
        "grid": _img(pca_decode(grid_codes(lo, hi, config["grid"]), mean, comps)),
        "seconds": time.perf_counter() - t0,
    }
    return {"metrics": metrics}


def _train(config: dict, train, val):
    """``(model, history)``: the autoencoder trained on ``train`` images, monitored every
    epoch on the ``val`` images (reconstruction loss and the codes' k-NN accuracy)."""
    from stage3_batched import SGD, Adam, SquaredError, StepDecay, fit

    (xtr, ytr), (xva, yva) = train, val
    rng = np.random.default_rng(config["seed"])
    model = build_model(rng, config["encoder"], config["latent"], config["slope"],
                        config["init"], np.dtype(config["dtype"]), xtr.shape[1])
    opt_cls = {"adam": Adam, "sgd": SGD}[config["optimizer"]]
    opt = opt_cls(model.parameters(), model.gradients(), lr=config["lr"])
    sched = StepDecay(opt, gamma=config["gamma"], every=config["decay_every"])
    nref = config["knn_reference"]

    def on_epoch(row):     # the 2-D codes' k-NN accuracy on the validation digits, each epoch
        row["knn_acc"] = knn_accuracy(encode(model, xtr[:nref]), ytr[:nref], encode(model, xva),
                                      yva, config["knn_k"])
        model.train()

    hist = fit(model, SquaredError(), opt, (xtr, xtr), (xva, xva), epochs=config["epochs"],
               batch_size=config["batch_size"], rng=rng, scheduler=sched, progress=False,
               metric=None, on_epoch=on_epoch)
    return model, hist


def execute(config: dict, artifact_dir=None) -> dict:
    """Train the autoencoder; return losses, codes, reconstructions, the decoded grid and the
    traversal; save the weights next to the record (``artifact_dir``, passed by the runner)."""
    from shared.records import config_key

    from ..data import load_data

    (xtr, ytr), (xva, yva), _ = load_data(config["dataset"], False, config["dtype"],
                                          config.get("limit"))
    xte, yte = _load(config)[1]                   # used once, after training
    t0 = time.perf_counter()
    model, hist = _train(config, (xtr, ytr), (xva, yva))
    train_time = time.perf_counter() - t0
    steps = np.asarray(hist.step_loss, dtype=np.float64)
    block = max(1, len(xtr) // config["batch_size"] // 25)     # about 25 points per epoch
    nb = len(steps) // block
    zte = encode(model, xte)
    ex = example_indices(yte, config["examples_per_class"])
    model.eval()
    rec = model.forward(xte[ex])
    metrics = {
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "n_parameters": int(model.num_parameters()), "layers": model.names,
        "epochs": [{k: e.get(k) for k in ("epoch", "train_loss", "val_loss", "lr", "seconds",
                                          "knn_acc")} for e in hist.epochs],
        "loss_block": block,
        "step_loss_blocks": steps[: nb * block].reshape(nb, block).mean(axis=1).tolist(),
        "codes": pack_array(zte), "labels": pack_array(yte, "u1"),
        "examples": ex.tolist(), "originals": _img(xte[ex]), "reconstructions": _img(rec),
        "grid": _img(decode(model, grid_codes((0, 0), (1, 1), config["grid"]))),
        "traversal_codes": circle_codes(*config["circle"], config["traversal"]).tolist(),
        "traversal": _img(decode(model, circle_codes(*config["circle"], config["traversal"]))),
        "train_wall_time": train_time,
    }
    if hist.epochs:                               # the test digits, once, after training
        metrics.update(_test_once(config, model, (xtr, ytr), (xte, yte), zte))
    if artifact_dir and hist.status == "ok" and config.get("variant") == "main":
        path = model.save(Path(artifact_dir) / f"{config_key(config)}.npz")
        metrics["model_file"] = path.name
    return {"metrics": metrics, "status": hist.status, "message": hist.message}


def _test_once(config: dict, model, train, test, zte) -> dict:
    """Reconstruction loss of the test images and the k-NN accuracy of their codes ``zte``
    against the codes of the first training images."""
    (xtr, ytr), (xte, yte) = train, test
    nref = config["knn_reference"]
    model.eval()
    return {"test_loss": squared_loss(model.forward(xte), xte),
            "knn_acc": knn_accuracy(encode(model, xtr[:nref]), ytr[:nref], zte, yte,
                                    config["knn_k"])}


# ----------------------------------------------------------------------------- figures
def _pair(records):
    """(PCA record, main autoencoder record), each None unless ok."""
    return _find(records, "pca"), _find(records, "autoencoder", "main")


def _find(records, experiment, variant=None):
    return next((r for r in records if r.get("status") == "ok"
                 and r.get("config", {}).get("experiment") == experiment
                 and r["config"].get("variant") == variant), None)


def _scatter(ax, Z, y, title, xlabel, ylabel):
    cmap = _cmap()
    for c in range(10):
        m = y == c
        if m.any():
            ax.scatter(Z[m, 0], Z[m, 1], s=3, color=cmap(c), alpha=0.5, lw=0, label=str(c))
            mx, my = np.median(Z[m], axis=0)
            ax.text(mx, my, str(c), fontsize=13, weight="bold", ha="center", va="center",
                    color=cmap(c), bbox={"boxstyle": "circle,pad=0.15", "fc": "white",
                                         "ec": cmap(c), "alpha": 0.8})
    finish(ax, xlabel, ylabel, title, legend=False)   # the class labels sit at the medians


def _cmap():
    from shared.plotting import pyplot

    return pyplot().get_cmap("tab10")


def _mosaic(imgs: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """(rows*cols, 784) images -> one (rows*29-1, cols*29-1) picture with 1-pixel gaps."""
    s = int(round(np.sqrt(imgs.shape[1])))
    out = np.ones((rows * (s + pad) - pad, cols * (s + pad) - pad))
    for i, im in enumerate(imgs[: rows * cols]):
        r, c = divmod(i, cols)
        out[r * (s + pad): r * (s + pad) + s, c * (s + pad): c * (s + pad) + s] = im.reshape(s, s)
    return out


def plot(records, fig_dir, ctx):
    pca, ae = _pair(records)
    if pca is None and ae is None:
        return []
    panels = [r for r in (ae, pca) if r is not None]
    figs = [_plot_codes(panels, ae, fig_dir), _plot_reconstructions(ae, pca, fig_dir),
            _plot_grids(panels, ae, fig_dir)]
    if ae is not None:
        figs.append(_plot_training(records, ae, pca, fig_dir))
        gif = _traversal_gif(ae, fig_dir / "autoencoder_traversal.gif")
        if gif is not None:
            figs.append(gif)
    return figs


def _plot_codes(panels, ae, fig_dir):
    """Figure 1: the 2-D codes of the test digits, autoencoder beside PCA."""
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=len(panels), width=6.2, height=5.4)
    for ax, r in zip(axes[0], panels):
        m = r["metrics"]
        Z, y = unpack_array(m["codes"]), unpack_array(m["labels"])
        if r is ae:
            _scatter(ax, Z, y, f"autoencoder: latent codes of {len(y):,} test digits\n"
                     f"5-NN accuracy in 2-D {pct(m['knn_acc'], 1)}", "z1 (latent unit 1)",
                     "z2 (latent unit 2)")
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
        else:
            _scatter(ax, Z, y, f"PCA: projections of {len(y):,} test digits\nexplained variance "
                     f"{pct(m['explained_2'], 1)}, 5-NN accuracy in 2-D {pct(m['knn_acc'], 1)}",
                     "principal component 1", "principal component 2")
    fig.suptitle(f"2-D codes of digits, coloured by class — {panels[0]['config']['dataset']}",
                 fontsize=12)
    return save_figure(fig, fig_dir / "autoencoder_latent_vs_pca.png")


def _plot_reconstructions(ae, pca, fig_dir):
    """Figure 2: test digits and their reconstructions from two numbers."""
    from shared.plotting import new_figure, save_figure

    orig = images((ae or pca)["metrics"]["originals"])
    rows = [("original", orig)] + [(lab, images(r["metrics"]["reconstructions"]))
                                   for lab, r in (("autoencoder", ae), ("PCA (2 components)", pca))
                                   if r is not None]
    fig, axes = new_figure(nrows=len(rows), width=10, height=1.25)
    for ax, (lab, ims) in zip(axes[:, 0], rows):
        ax.imshow(_mosaic(ims, 1, len(ims)), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        err = "" if lab == "original" else \
            f"  (squared loss on these: {squared_loss(ims, orig):.2f})"
        ax.set_title(lab + err, fontsize=9, loc="left")
    fig.suptitle("Test digits reconstructed from their two numbers", fontsize=11)
    return save_figure(fig, fig_dir / "autoencoder_reconstructions.png")


def _plot_grids(panels, ae, fig_dir):
    """Figure 3: a grid of codes decoded, autoencoder beside PCA."""
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=len(panels), width=5.2, height=5.2)
    for ax, r in zip(axes[0], panels):
        m, g = r["metrics"], r["config"]["grid"]
        if r is ae:
            lo, hi = (0.0, 0.0), (1.0, 1.0)
            title = 'autoencoder: forward(z, start="up128")\nover the latent square [0, 1]²'
            labels = ("z1", "z2")
        else:
            lo, hi = m["grid_box"]
            title = (f"PCA: mean + z · top-2 directions\nover the {PCA_BOX[0]:g}-"
                     f"{PCA_BOX[1]:g} percentile box of the training codes")
            labels = ("principal component 1", "principal component 2")
        ax.imshow(_mosaic(images(m["grid"]), g, g), cmap="gray_r", vmin=0, vmax=1,
                  extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto")
        finish(ax, labels[0], labels[1], title, legend=False)
        ax.grid(False)
    fig.suptitle(f"Decoding a {GRID} x {GRID} grid of codes", fontsize=12)
    return save_figure(fig, fig_dir / "autoencoder_grid.png")


def _plot_training(records, ae, pca, fig_dir):
    """Figure 4: the reconstruction loss and the codes' 5-NN accuracy per epoch."""
    from shared.plotting import new_figure, save_figure

    m, c = ae["metrics"], ae["config"]
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    hand = _find(records, "autoencoder", "handout")
    _plot_loss_curves(axes[0, 0], m, c, hand, pca)
    _plot_knn_curves(axes[0, 1], m["epochs"], hand, pca)
    fig.suptitle(f"Autoencoder training — {c['optimizer']} lr {c['lr']:g}, halved every "
                 f"{c['decay_every']} epoch(s), batch {c['batch_size']}", fontsize=11)
    return save_figure(fig, fig_dir / "autoencoder_training.png")


def _plot_loss_curves(ax, m, c, hand, pca) -> None:
    blocks = np.asarray(m["step_loss_blocks"])
    per_epoch = m["n_train"] / c["batch_size"]
    x = (np.arange(len(blocks)) + 1) * m["loss_block"] / per_epoch
    ax.plot(x, blocks, lw=1, color="C0", label=f"training (mean over {m['loss_block']} updates)")
    ep = m["epochs"]
    ax.plot([e["epoch"] for e in ep], [e["val_loss"] for e in ep], "o-", color="C3",
            label="validation digits (after each epoch)")
    if hand is not None:
        he = hand["metrics"]["epochs"]
        ax.plot([e["epoch"] for e in he], [e["val_loss"] for e in he], "s:", color="k",
                label="hand-out settings (SGD), validation digits")
    if pca is not None:
        ax.axhline(pca["metrics"]["test_loss"], color="gray", ls="--",
                   label="PCA, 2 components (test)")
    finish(ax, "epoch", "squared loss per image (0.5 · sum over pixels)", "reconstruction loss")


def _plot_knn_curves(ax, ep, hand, pca) -> None:
    ax.plot([e["epoch"] for e in ep], [100 * e["knn_acc"] for e in ep], "o-", color="C0",
            label="autoencoder codes")
    if hand is not None:
        he = hand["metrics"]["epochs"]
        ax.plot([e["epoch"] for e in he], [100 * e["knn_acc"] for e in he], "s:",
                color="k", label="hand-out settings (SGD)")
    if pca is not None:
        ax.axhline(100 * pca["metrics"]["knn_acc"], color="gray", ls="--", label="PCA codes")
    ax.set_ylim(0, 100)
    finish(ax, "epoch", "5-NN accuracy on the validation digits (%)",
           "how well the 2-D codes separate the digits")


def _traversal_gif(ae, path):
    """Bonus: the codes around a circle in the latent square, decoded (needs Pillow)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return None
    from matplotlib.animation import FuncAnimation

    from shared.plotting import new_figure, save_animation

    m = ae["metrics"]
    Z, y = unpack_array(m["codes"]), unpack_array(m["labels"])
    path_z, ims = np.asarray(m["traversal_codes"]), images(m["traversal"])
    fig, axes = new_figure(ncols=2, width=3.4, height=3.3)
    cmap = _cmap()
    axes[0, 0].scatter(Z[:, 0], Z[:, 1], s=2, c=[cmap(int(c)) for c in y], alpha=0.4, lw=0)
    axes[0, 0].plot(path_z[:, 0], path_z[:, 1], "k:", lw=1)
    (dot,) = axes[0, 0].plot([], [], "ko", ms=8)
    finish(axes[0, 0], "z1", "z2", "latent square: test codes and the path", legend=False)
    axes[0, 0].set_xlim(0, 1)
    axes[0, 0].set_ylim(0, 1)
    im = axes[0, 1].imshow(ims[0].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
    axes[0, 1].set_xticks([])
    axes[0, 1].set_yticks([])
    axes[0, 1].set_title('forward(z, start="up128")', fontsize=10)

    def frame(i):
        dot.set_data([path_z[i, 0]], [path_z[i, 1]])
        im.set_data(ims[i].reshape(28, 28))
        return [dot, im]

    anim = FuncAnimation(fig, frame, frames=len(ims), blit=False)
    return save_animation(fig, anim, path, fps=8)


def summarize(records, figures, ctx):
    pca, ae = _pair(records)
    base = ae or pca
    if base is None:
        return "No finished run to show."
    c, m = base["config"], base["metrics"]
    out = ["Architecture: 784 → " + " → ".join(map(str, ENCODER)) + " → 2 (`latent`, logistic) "
           "→ 128 (`up128`) → " + " → ".join(map(str, reversed(ENCODER[:-1]))) + " → 784 "
           f"(logistic output); leaky ReLU (slope {SLOPE:g}) elsewhere; squared loss "
           "(0.5 · sum over pixels, mean over images).",
           "Data: " + data_description(c["dataset"], FINAL, m["n_train"], m["n_test"])
           + "; both methods are fitted on the training part (the autoencoder monitored every "
           "epoch on validation digits held out of it: the training curves); every other "
           "figure and number below is on the test digits, read once after training."]
    if ae is not None:
        out += _training_text(ae, ctx)
    out.append("\n" + md_table(["method", "test reconstruction loss",
                                f"{KNN_K}-NN accuracy from the 2-D codes",
                                "explained variance (training images)"],
                               method_rows(records, ae, pca)))
    if pca is not None:
        out.append(_pca_text(pca))
    if ae is not None and pca is not None:
        out.append(_comparison_text(ae["metrics"], pca["metrics"]))
    return "\n".join(out)


def _training_text(ae: dict, ctx) -> list[str]:
    """How the autoencoder was trained (and how that departs from the hand-out), its weights."""
    ac, am = ae["config"], ae["metrics"]
    out = [f"\nAutoencoder training: {ac['optimizer'].capitalize()} at lr "
           f"{ac['lr']:g}, halved every {ac['decay_every']} epoch(s) (StepDecay), batch "
           f"{ac['batch_size']}, {ac['epochs']} epochs, "
           f"{ac['init'].capitalize()}-normal initial weights, "
           f"{ac['dtype']}, seed {ac['seed']}; {am['n_parameters']:,} parameters; "
           f"training took {ae['wall_time']:.0f} s. **Deviation from the hand-out** "
           "(SGD at 1e-4 on gradients summed over the batch of 16 = 1.6e-3 on the "
           "batch-mean loss, halved each epoch, 0.1 · N(0, 1) weights, 3 epochs): the "
           "hand-out allows another optimiser and rate if the figure is at least as "
           "good; the run with the hand-out's own settings is in the table and the "
           "training figure for comparison."]
    if am.get("model_file"):
        weights = ctx.runs_root / Run({}, execute).folder / am["model_file"]
        out.append(f"Trained weights: `{ctx.rel(weights)}` "
                   "(load with `autoencoder.build_model(np.random.default_rng(0))."
                   "load(path)`).")
    return out


def method_rows(records, ae, pca) -> list[list]:
    """One table row per method: test reconstruction loss, k-NN accuracy, explained variance."""
    rows = []
    if ae is not None:
        am = ae["metrics"]
        rows.append([f"autoencoder ({ae['config']['optimizer']}, {ae['config']['epochs']} "
                     "epochs)", num(am.get("test_loss")), pct(am.get("knn_acc"), 1), "–"])
    hand = _find(records, "autoencoder", "handout")
    if hand is not None:
        hm, hc = hand["metrics"], hand["config"]
        rows.append([f"autoencoder, hand-out settings (SGD lr {hc['lr']:g}, "
                     f"{'0.1 · N(0, 1)' if hc['init'] == 'normal' else hc['init']} init, "
                     f"{hc['epochs']} epochs)", num(hm.get("test_loss")),
                     pct(hm.get("knn_acc"), 1), "–"])
    if pca is not None:
        pm_ = pca["metrics"]
        rows.append(["PCA, 2 components", num(pm_["test_loss"]), pct(pm_["knn_acc"], 1),
                     pct(pm_["explained_2"], 1)])
    return rows


def _pca_text(pca: dict) -> str:
    """PCA's explained-variance ratios, against the hand-out's figure."""
    r = pca["metrics"]["explained_variance_ratio"]
    return ("\nPCA's explained-variance ratios (SVD of the centred training images): "
            + ", ".join(f"{100 * v:.2f}%" for v in r[:5]) + ", …; the first two "
            f"together {pct(pca['metrics']['explained_2'], 1)} (the hand-out quotes 16.8% "
            "on the 60,000 MNIST training images"
            + ("; the shipped sample's digits give a similar figure)." if
               pca["config"]["dataset"] != "mnist" else ")."))


def _comparison_text(a: dict, p: dict) -> str:
    """The autoencoder's metrics ``a`` against PCA's ``p``: codes and reconstructions."""
    better = a.get("knn_acc", 0) > p["knn_acc"]
    sharper = a.get("test_loss", np.inf) < p["test_loss"]
    return ("\nThe autoencoder's codes separate the digits "
            + ("better than PCA's" if better else "no better than PCA's (here)")
            + f": a classifier that only sees the two numbers is right "
            f"{pct(a.get('knn_acc'), 1)} vs {pct(p['knn_acc'], 1)} of the time. "
            + ("Its reconstructions are closer to the originals (lower test loss): the "
               "non-linear decoder is not limited to a plane through the mean image, "
               "while PCA's decodings are all blends of the mean and two fixed images. "
               if sharper else "Its reconstructions are not closer to the originals "
               "than PCA's here (higher test loss). ")
            + "Digits that look alike (4/7/9, 3/5/8) still overlap in two dimensions.")


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
