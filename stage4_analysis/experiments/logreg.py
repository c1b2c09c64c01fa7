"""Experiment 7 — the chosen configuration on the test set, against logistic regression (CS3317
task 6: "compare your best MLP configuration with logistic regression").

The configuration experiment 6b chose on validation data is trained with SEEDS seeds, monitored
every epoch on the validation split held out of the training data (Fashion-MNIST: 55,000 train /
5,000 validation), and measured once on the official test set after training: the only place
where the CS3317 experiments touch the test set, after every choice was made.
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

from ..plots import (
    confused_text,
    confusion_figure,
    epochs_axis,
    finish,
    mark_test,
    seeds_text,
)
from ..report import (
    aggregate,
    doctor_text,
    epoch_series,
    group_by,
    md_table,
    pct,
    pm,
    pm_list,
    test_accs,
    test_description,
)
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


def _curves(ax, rs, model: str, color, kind: str, scale: float) -> None:
    """Validation (solid, with its band) and training (dashed) curves of one model."""
    va = aggregate(rs, lambda r, k=f"val_{kind}": epoch_series(r, k))
    tr = aggregate(rs, lambda r, k=f"train_{kind}": epoch_series(r, k))
    if va.n:
        x = epochs_axis(va.mean.size)
        ax.plot(x, scale * va.mean, color=color, lw=1.6, label=f"{model}, validation")
        if va.n > 1:
            ax.fill_between(x, scale * (va.mean - va.std), scale * (va.mean + va.std),
                            color=color, alpha=0.2, lw=0)
    if tr.n:
        ax.plot(epochs_axis(tr.mean.size), scale * tr.mean, color=color, lw=1.1, ls="--",
                label=f"{model}, training (mean over the epoch)")
    if kind == "acc" and test_accs(rs) and va.n:
        accs = test_accs(rs)
        mark_test(ax, va.mean.size, sum(accs) / len(accs), f"{model}, test once", color=color,
                  below=model != "MLP")


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=2, width=5.6, height=4.3, layout="constrained")
    ax_acc, ax_loss = axes[0]
    colors = {"MLP": "C0", "logistic regression": "C3"}
    d = records[0]["config"]["dataset"] if records else "?"
    for model, rs in group_by(records, _model).items():
        for ax, kind, scale in ((ax_acc, "acc", 100), (ax_loss, "loss", 1)):
            _curves(ax, rs, model, colors[model], kind, scale)
    if d == "fashion-mnist":
        ax_acc.axhline(100 * TARGET, color="k", lw=0.7, ls=":")
        ax_acc.annotate(f"{TARGET:.0%}: the hand-out's best MLPs", (1, 100 * TARGET),
                        xytext=(0, 3), textcoords="offset points", fontsize=7)
    n = seeds_text(len(cs3317.seeds(ctx)))
    finish(ax_acc, "epoch", "accuracy (%)", f"accuracy, {n}; stars: test, once after training",
           fontsize=7, loc="lower right")
    finish(ax_loss, "epoch", "cross-entropy loss (nats)", f"loss, {n}", fontsize=7,
           loc="upper right")
    c = records[0]["config"] if records else {}
    fig.suptitle(f"Chosen MLP {c.get('hidden_dims')} {c.get('activation')} vs logistic "
                 f"regression — {d}", fontsize=10)
    figs = [save_figure(fig, fig_dir / "mlp_vs_logreg.png")]
    mlp0 = _seed0(records, "MLP")
    path = confusion_figure(mlp0 and mlp0["metrics"].get("evaluation"),
                            f"chosen MLP, seed {mlp0['config']['seed'] if mlp0 else '?'}, {d}",
                            fig_dir / "mlp_vs_logreg_confusion.png")
    return figs + ([path] if path else [])


def _seed0(records, model: str):
    """The first finished run of ``model`` (the lowest seed)."""
    ok = sorted((r for r in records if r.get("status") == "ok" and _model(r) == model),
                key=lambda r: r["config"]["seed"])
    return ok[0] if ok else None


def _rows(records, ctx) -> tuple[list, dict]:
    """The summary table's rows and {model: test accuracies}."""
    rows, finals = [], {}
    for model, rs in group_by(records, _model).items():
        tr = aggregate(rs, lambda r: epoch_series(r, "train_acc"))
        sizes = [784, *rs[0]["config"]["hidden_dims"], 10]
        finals[model] = test_accs(rs)
        first = _seed0(records, model)
        rows.append([model, "-".join(map(str, sizes)), f"{count_parameters(sizes):,}",
                     pm(tr.final_mean, tr.final_std, as_pct=True),
                     f"**{pm_list(finals[model])}**",
                     ", ".join(pct(a) for a in finals[model]) or "–",
                     confused_text(first and first["metrics"].get("evaluation")) or "–",
                     EXPECTED[model] if not ctx.quick else "–"])
    return rows, finals


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
           + test_description(d, m.get("n_train"), m.get("n_val"), m.get("n_test"))
           + ". This is the only CS3317 experiment that reads the test set, once per run after "
           "training; nothing is chosen here."]
    if ctx.quick:
        out.append("\n*Quick mode:* the MNIST sample's digits (5,000 train / 1,000 validation / "
                   "1,000 test) instead of Fashion-MNIST, so the hand-out's expectations do not "
                   "apply (digits are easier for a linear model).")
    rows, finals = _rows(records, ctx)
    out.append("\n" + md_table(["model", "sizes", "parameters",
                                "train acc (last epoch, running)", "test acc (once, at the end)",
                                "test acc per seed", "test errors (first seed)",
                                "hand-out expects (Fashion-MNIST)"], rows))
    out += _verdicts(finals, d, ctx)
    out += [doctor_text(_seed0(records, model), f"{model}, first seed") for model in MODELS]
    return "\n".join(out)


def _verdicts(finals: dict, d: str, ctx) -> list[str]:
    """The target check and the MLP-vs-linear sentence, worded for the data set used."""
    out, mlp = [], finals.get("MLP")
    if mlp and not ctx.quick and d == "fashion-mnist":
        mean = sum(mlp) / len(mlp)
        verdict = "reaches" if mean >= TARGET else "does not reach"
        out.append(f"\nThe chosen MLP {verdict} the {TARGET:.0%} of the hand-out's best MLPs: "
                   f"{pm_list(mlp)} test accuracy over {len(mlp)} seed(s).")
    if len(finals) == 2 and all(finals.values()):
        diff = 100 * (sum(mlp) / len(mlp) - sum(finals["logistic regression"])
                      / len(finals["logistic regression"]))
        example = ("'sleeve present AND collar shape'" if d == "fashion-mnist" else
                   "'a closed loop on top AND a stroke below'")
        out.append(f"\nThe MLP is {diff:+.2f} percentage points "
                   f"{'above' if diff >= 0 else 'below'} logistic regression on the test set. "
                   "The hidden ReLU layers let the network combine pixels non-linearly (e.g. "
                   f"{example}), which a single linear map cannot; without the activations the "
                   "layers would multiply out into one linear map.")
    return out


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
