"""Experiment 7 — the chosen configuration on the test set, against logistic regression (CS3317
task 6: "compare your best MLP configuration with logistic regression").

The configuration experiment 6b chose on validation data is trained on the FULL training set
(Fashion-MNIST: all 60,000 images) with SEEDS seeds and measured on the official test set: the
only place where the CS3317 experiments touch the test set, once, after every choice was made.
Logistic (softmax) regression is the MLP with no hidden layer (``hidden_dims=()``): one Linear
layer 784 -> 10 and the softmax cross-entropy, a linear classifier; it gets the same data,
optimiser, rate, batch size, schedule and seeds (dropout has no hidden layer to act on). The
hand-out expects about 84% test accuracy for logistic regression and 88-90% for the MLP.

Why the MLP wins: a linear classifier can only separate the classes by hyperplanes in pixel
space; the hidden ReLU layers build non-linear features first (without the nonlinearity the stack
of Linear layers would collapse into one linear map and be no better than logistic regression).
"""

from __future__ import annotations

from shared.weights import count_parameters

from ..plots import epochs_axis, finish
from ..report import aggregate, data_description, epoch_series, group_by, md_table, pct, pm
from ..runs import Context, SkipExperiment
from . import best_config, cs3317, vu

NAME = "logreg"
TITLE = "7. The chosen configuration on the test set, against logistic regression"
DEPENDS = ("best-config",)
OPTIONS = [vu.SEEDS_OPTION]

#: The test-set accuracy the CS3317 hand-out's best MLPs reach on Fashion-MNIST (reported, not
#: enforced), and what it expects of logistic regression.
TARGET = 0.90
EXPECTED = {"logistic regression": "about 84%", "MLP": "88–90%"}
MODELS = ("MLP", "logistic regression")


def plan(ctx: Context):
    pick = best_config.chosen(ctx)
    if pick is None:
        raise SkipExperiment("experiment 6b chose no configuration (none of its candidates "
                             "finished all its seeds)")
    name, c, _ = pick
    runs = []
    for model in MODELS:
        settings = dict(c) if model == "MLP" else {**c, "hidden_dims": ()}
        for seed in cs3317.seeds(ctx):
            r = cs3317.spec(ctx, NAME, f"{model} ({name}), test", seed, final=True,
                            **settings, **best_config.recipe(ctx))
            r.meta = {"model": model}
            runs.append(r)
    return runs


def _model(rec) -> str:
    return "MLP" if rec["config"]["hidden_dims"] else "logistic regression"


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=2, width=5.6, height=4.3, layout="constrained")
    ax_acc, ax_loss = axes[0]
    colors = {"MLP": "C0", "logistic regression": "C3"}
    d = records[0]["config"]["dataset"] if records else "?"
    for model, rs in group_by(records, _model).items():
        color = colors[model]
        for ax, kind, scale in ((ax_acc, "acc", 100), (ax_loss, "loss", 1)):
            # the same two styles in both panels: test solid with its band, training dashed
            te = aggregate(rs, lambda r, k=f"val_{kind}": epoch_series(r, k))
            tr = aggregate(rs, lambda r, k=f"train_{kind}": epoch_series(r, k))
            if te.n:
                x = epochs_axis(te.mean.size)
                ax.plot(x, scale * te.mean, color=color, lw=1.6, label=f"{model}, test")
                if te.n > 1:
                    ax.fill_between(x, scale * (te.mean - te.std), scale * (te.mean + te.std),
                                    color=color, alpha=0.2, lw=0)
            if tr.n:
                ax.plot(epochs_axis(tr.mean.size), scale * tr.mean, color=color, lw=1.1,
                        ls="--", label=f"{model}, training (mean over the epoch)")
    if d == "fashion-mnist":
        ax_acc.axhline(100 * TARGET, color="k", lw=0.7, ls=":")
        ax_acc.annotate(f"{TARGET:.0%}: the hand-out's best MLPs", (1, 100 * TARGET),
                        xytext=(0, 3), textcoords="offset points", fontsize=7)
    n = len(cs3317.seeds(ctx))
    finish(ax_acc, "epoch", "accuracy (%)", f"accuracy, mean ± std over {n} seed(s)",
           fontsize=7, loc="lower right")
    finish(ax_loss, "epoch", "cross-entropy loss (nats)", f"loss, mean ± std over {n} seed(s)",
           fontsize=7, loc="upper right")
    c = records[0]["config"] if records else {}
    fig.suptitle(f"Chosen MLP {c.get('hidden_dims')} {c.get('activation')} vs logistic "
                 f"regression — {d}, full training set, test set", fontsize=10)
    return [save_figure(fig, fig_dir / "mlp_vs_logreg.png")]


def summarize(records, figures, ctx):
    r0 = next((r for r in records if r.get("status") == "ok"), None)
    m = r0["metrics"] if r0 else {}
    d = records[0]["config"]["dataset"] if records else "?"
    pick = best_config.chosen(ctx)
    out = ["MLP: the configuration experiment 6b chose on validation data"
           + (f" (**{pick[0]}**: {best_config.describe(pick[1])})" if pick else "")
           + f", trained with {best_config.recipe_text(ctx)}"
           + f"; seeds {', '.join(map(str, cs3317.seeds(ctx)))}. Logistic regression: the same "
           "without hidden layers. Data: "
           + data_description(d, True, m.get("n_train"), m.get("n_val"))
           + ". This is the only CS3317 experiment that reads the test set; nothing is chosen "
           "here."]
    if ctx.quick:
        out.append("\n*Quick mode:* the MNIST sample's 6,000 training and 1,000 test digits "
                   "instead of Fashion-MNIST, so the hand-out's expectations do not apply "
                   "(digits are easier for a linear model).")
    rows, finals = [], {}
    for model, rs in group_by(records, _model).items():
        te = aggregate(rs, lambda r: epoch_series(r, "val_acc"))
        tr = aggregate(rs, lambda r: epoch_series(r, "train_acc"))
        sizes = [784, *rs[0]["config"]["hidden_dims"], 10]
        finals[model] = (te.final_mean, te.final_std, te.n)
        seeds_txt = ", ".join(pct(r["metrics"]["epochs"][-1]["val_acc"]) for r in rs
                              if r.get("status") == "ok" and r["metrics"].get("epochs"))
        rows.append([model, "-".join(map(str, sizes)), f"{count_parameters(sizes):,}",
                     pm(tr.final_mean, tr.final_std, as_pct=True),
                     f"**{pm(te.final_mean, te.final_std, as_pct=True)}**", seeds_txt or "–",
                     EXPECTED[model] if not ctx.quick else "–"])
    out.append("\n" + md_table(["model", "sizes", "parameters",
                                "train acc (last epoch, running)", "test acc (end)",
                                "test acc per seed", "hand-out expects (Fashion-MNIST)"], rows))
    mlp = finals.get("MLP")
    if mlp and mlp[2] and not ctx.quick and d == "fashion-mnist":
        verdict = "reaches" if mlp[0] >= TARGET else "does not reach"
        out.append(f"\nThe chosen MLP {verdict} the {TARGET:.0%} of the hand-out's best MLPs: "
                   f"{pm(mlp[0], mlp[1], as_pct=True)} test accuracy over {mlp[2]} seeds.")
    if len(finals) == 2 and all(v[2] for v in finals.values()):
        diff = 100 * (finals["MLP"][0] - finals["logistic regression"][0])
        out.append(f"\nThe MLP is {diff:+.2f} percentage points "
                   f"{'above' if diff >= 0 else 'below'} logistic regression on the test set. "
                   "The hidden ReLU layers let the network combine pixels non-linearly (e.g. "
                   "'sleeve present AND collar shape'), which a single linear map cannot; "
                   "without the activations the layers would multiply out into one linear map.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
