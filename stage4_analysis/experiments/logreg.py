"""Experiment 7 — MLP against logistic regression (CS3317 task 6) on Fashion-MNIST.

Logistic (softmax) regression is the MLP with no hidden layer (``hidden_dims=()``): one Linear
layer 784 -> 10 and the softmax cross-entropy, a linear classifier. Both models get the same data,
optimiser, rate, batch size and epochs (the CS3317 base of ``cs3317.py``), SEEDS seeds each; the
MLP's seed-0 run is the sweeps' base run. The hand-out expects about 84% test accuracy for
logistic regression and 88-90% for the MLP.

Why the MLP wins: a linear classifier can only separate the classes by hyperplanes in pixel
space; the hidden ReLU layers build non-linear features first (without the nonlinearity the stack
of Linear layers would collapse into one linear map and be no better than logistic regression).
"""

from __future__ import annotations

from shared.weights import count_parameters

from ..plots import band, epochs_axis, finish
from ..report import aggregate, data_description, epoch_series, group_by, md_table, pm
from ..runs import Context
from . import cs3317

NAME = "logreg"
TITLE = "7. MLP vs logistic regression"

SEEDS = (0, 1, 2)
MODELS = {"logistic regression": (), "MLP": cs3317.BASE["hidden_dims"]}
EXPECTED = {"logistic regression": "about 84%", "MLP": "88–90%"}


def plan(ctx: Context):
    specs = []
    for model, hidden in MODELS.items():
        for s in SEEDS:
            sp = cs3317.spec(ctx, NAME, f"{model} seed={s}", seed=s, hidden_dims=hidden)
            specs.append(sp)
    return specs


def _model(rec) -> str:
    hidden = tuple(rec["config"]["hidden_dims"])
    return next(m for m, h in MODELS.items() if tuple(h) == hidden)


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=2, width=5.5, height=4.0, layout="constrained")
    ax_acc, ax_loss = axes[0]
    for (model, rs), color in zip(group_by(records, _model).items(), ("C0", "C3")):
        a = aggregate(rs, lambda r: epoch_series(r, "val_acc"))
        band(ax_acc, epochs_axis(a.mean.size), a, f"{model}, test", color)
        t = aggregate(rs, lambda r: epoch_series(r, "train_acc"))
        if t.n:
            ax_acc.plot(epochs_axis(t.mean.size), t.mean, ls="--", color=color, lw=1,
                        label=f"{model}, train (mean over the epoch)")
        lo = aggregate(rs, lambda r: epoch_series(r, "train_loss"))
        band(ax_loss, epochs_axis(lo.mean.size), lo, f"{model}, train", color)
        vl = aggregate(rs, lambda r: epoch_series(r, "val_loss"))
        if vl.n:
            ax_loss.plot(epochs_axis(vl.mean.size), vl.mean, ls="--", color=color, lw=1,
                         label=f"{model}, test")
    finish(ax_acc, "epoch", "accuracy (fraction)", "accuracy, mean ± std over seeds")
    finish(ax_loss, "epoch", "cross-entropy loss (nats)", "loss, mean ± std over seeds")
    d = records[0]["config"]["dataset"] if records else "?"
    fig.suptitle(f"MLP {list(cs3317.BASE['hidden_dims'])} vs logistic regression — {d}",
                 fontsize=11)
    return [save_figure(fig, fig_dir / "mlp_vs_logreg.png")]


def summarize(records, figures, ctx):
    r0 = next((r for r in records if r.get("status") == "ok"), None)
    m = r0["metrics"] if r0 else {}
    d = records[0]["config"]["dataset"] if records else "?"
    out = [f"Both models: {cs3317.base_text(ctx).replace(', seed 0', '')}; seeds {list(SEEDS)}. "
           "Data: " + data_description(d, cs3317.FINAL, m.get("n_train"), m.get("n_val")) + "."]
    if ctx.quick:
        out.append("\n*Quick mode:* MNIST sample instead of Fashion-MNIST, so the hand-out's "
                   "expectations do not apply (digits are easier for a linear model).")
    rows, finals = [], {}
    for model, rs in group_by(records, _model).items():
        test = aggregate(rs, lambda r: epoch_series(r, "val_acc"))
        train = aggregate(rs, lambda r: epoch_series(r, "train_acc"))
        best = f"{int(test.mean.argmax()) + 1}" if test.n else "–"
        sizes = [784, *MODELS[model], 10]
        finals[model] = test.final_mean
        rows.append([model, "-".join(map(str, sizes)), f"{count_parameters(sizes):,}",
                     pm(train.final_mean, train.final_std, as_pct=True),
                     pm(test.final_mean, test.final_std, as_pct=True), best,
                     EXPECTED[model] if not ctx.quick else "–"])
    out.append("\n" + md_table(["model", "sizes", "parameters", "final train acc",
                                "final test acc", "best epoch (mean test curve)",
                                "hand-out expects (Fashion-MNIST)"], rows))
    if len(finals) == 2 and all(v == v for v in finals.values()):
        diff = 100 * (finals["MLP"] - finals["logistic regression"])
        out.append(f"\nThe MLP is {diff:+.2f} percentage points "
                   f"{'above' if diff >= 0 else 'below'} logistic regression on the test set. "
                   "The hidden ReLU layers let the network combine pixels non-linearly (e.g. "
                   "'sleeve present AND collar shape'), which a single linear map cannot; "
                   "without the activations the layers would multiply out into one linear map.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
