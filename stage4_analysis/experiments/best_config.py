"""Experiment 6b — the best configuration: a joint choice among a few candidates, on validation.

The sweeps (experiment 6) vary one setting at a time around the base, and each winner is only
known to be better *with the other settings at the base*; combined, the winners can interact
(a larger batch wants a larger rate, a sigmoid wants more epochs). So the combination is not
trusted blindly: a few joint candidates are each trained with SEEDS seeds on the same validation
split, all with the same longer recipe, and the one with the highest mean validation accuracy is
chosen. Experiment 7 then trains the chosen one (validation monitored every epoch) and measures
it on the test set, once, after training.

Candidates (duplicates merged):

* "hand-out default": the CS3317 base (hidden [128, 64] ReLU, SGD lr 0.05, momentum 0.9,
  batch 64);
* "sweep winners": the winner of every sweep by the sweeps' rule, combined (width and depth as
  [width, width/2, ...]);
* "wide": the widest network the sweeps try, 512 units, in two layers of 512, with batch 256 (the
  largest batch the sweeps try; it keeps an epoch of the 2 x 512 network affordable), the base's
  rate and momentum.

The longer recipe, fixed before any run: LONG_EPOCHS epochs (the hand-out's 30), the rate
multiplied by LR_DECAY after every epoch, dropout DROPOUT after every hidden layer and L2 weight
decay WEIGHT_DECAY (the sweeps' wide networks fit the training set better than the
validation set; these are the two standard remedies). The choice: the candidate with the highest
mean final validation accuracy among those whose seeds all finished; ties go to the one listed
first.

Leaves out: a search over the recipe itself (epochs, decay, dropout, weight decay are fixed).
"""

from __future__ import annotations

from shared.weights import count_parameters

from ..plots import epochs_axis, finish, seeds_text
from ..report import aggregate, data_description, epoch_series, md_table, pct, pm
from ..runs import Context, SkipExperiment
from . import cs3317, sweeps, vu

NAME = "best-config"
TITLE = "6b. The best configuration: joint candidates compared on validation data"
DEPENDS = ("sweeps",)
OPTIONS = [vu.SEEDS_OPTION]

LONG_EPOCHS = 30        # the hand-out's run length
QUICK_LONG_EPOCHS = 8
LR_DECAY = 0.95         # the rate during epoch e (from 1) is lr * LR_DECAY**(e - 1)
DROPOUT = 0.2
WEIGHT_DECAY = 1e-4
WIDE = {"hidden_dims": (512, 512), "activation": "relu", "lr": 0.05, "momentum": 0.9,
        "batch_size": 256}
RULE = ("the candidate with the highest mean final validation accuracy over the seeds, among "
        "candidates whose seeds all finished (ties: the one listed first)")


def recipe_text(ctx: Context) -> str:
    r = recipe(ctx)
    return (f"{r['epochs']} epochs, the rate × {LR_DECAY} after every epoch, dropout {DROPOUT} "
            f"after every hidden layer, weight decay {WEIGHT_DECAY:g}")


def recipe(ctx: Context) -> dict:
    return {"epochs": QUICK_LONG_EPOCHS if ctx.quick else LONG_EPOCHS, "lr_decay": LR_DECAY,
            "dropout": DROPOUT, "weight_decay": WEIGHT_DECAY}


def _settings(d: dict) -> dict:
    return {"hidden_dims": tuple(int(h) for h in d["hidden_dims"]),
            "activation": d["activation"], "lr": float(d["lr"]),
            "momentum": float(d["momentum"]), "batch_size": int(d["batch_size"])}


def candidates(ctx: Context) -> dict:
    """{name: stage-3 settings} of the joint candidates (duplicates merged, names joined)."""
    w = sweeps.winners(ctx.records_of(sweeps.NAME))
    raw = {"hand-out default": _settings(cs3317.BASE),
           "sweep winners": _settings(sweeps.combined(w)),
           "wide": _settings(WIDE)}
    out: dict = {}
    for name, c in raw.items():
        same = next((n for n, o in out.items() if o == c), None)
        if same is None:
            out[name] = c
        else:
            out[f"{same} = {name}"] = out.pop(same)
    return out


def plan(ctx: Context):
    cands = candidates(ctx)
    if not cands:
        raise SkipExperiment("no candidate configuration (see experiment 6)")
    runs = []
    for name, c in cands.items():
        for seed in cs3317.seeds(ctx):
            r = cs3317.spec(ctx, NAME, name, seed, **c, **recipe(ctx))
            r.meta = {"candidate": name}
            runs.append(r)
    return runs


def by_candidate(records: list[dict], ctx: Context) -> dict:
    """{candidate name: [records over the seeds]} in plan order."""
    names = list(candidates(ctx))
    n = max(1, len(records) // max(1, len(names)))
    return {name: records[i * n:(i + 1) * n] for i, name in enumerate(names)}


def chosen(ctx: Context) -> tuple[str, dict, dict] | None:
    """``(name, settings, sweeps.point numbers)`` of the chosen candidate by :data:`RULE`, or
    None when no candidate has all its seeds finished."""
    recs = ctx.records_of(NAME)
    cands = candidates(ctx)
    best = None
    for name, rs in by_candidate(recs, ctx).items():
        p = sweeps.point(rs)
        if p["usable"] and (best is None or p["mean"] > best[2]["mean"]):
            best = (name, cands[name], p)
    return best


def describe(c: dict) -> str:
    return (f"hidden {list(c['hidden_dims'])} {c['activation']}, SGD lr {c['lr']:g} momentum "
            f"{c['momentum']:g}, batch {c['batch_size']}")


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    groups = by_candidate(records, ctx)
    pick = chosen(ctx)
    fig, axes = new_figure(ncols=2, width=5.6, height=4.3, layout="constrained")
    ax_acc, ax_loss = axes[0]
    for (name, rs), color in zip(groups.items(), ("C0", "C2", "C3", "C4")):
        p = sweeps.point(rs)
        if not p["ok"]:
            continue
        lab = name + (" (chosen)" if pick and pick[0] == name else "")
        for ax, key, scale in ((ax_acc, "val_acc", 100), (ax_loss, "val_loss", 1)):
            ok = [r for r in rs if cs3317.state(r) == "ok"]
            a = aggregate(ok, lambda r, k=key: epoch_series(r, k))
            x = epochs_axis(a.mean.size)
            ax.plot(x, scale * a.mean, color=color, lw=1.6, label=f"{lab} (n={a.n})")
            if key == "val_acc" and a.n:
                ax.annotate(f"{scale * a.final_mean:.2f} %", (x[-1], scale * a.final_mean),
                            xytext=(3, 0), textcoords="offset points", fontsize=7,
                            color=color, va="center", fontweight="bold")
            if a.n > 1:
                ax.fill_between(x, scale * (a.mean - a.std), scale * (a.mean + a.std),
                                color=color, alpha=0.2, lw=0)
    lo = [ax_acc.get_ylim()[0]]
    top = ax_acc.get_ylim()[1]
    ax_acc.set_ylim(max(lo[0], top - 15), top)   # the last epochs, not the first one's climb
    n = len(cs3317.seeds(ctx))
    finish(ax_acc, "epoch", "validation accuracy (%)", f"validation accuracy, {seeds_text(n)}; "
           "the last epoch's value written", legend_title="candidate", fontsize=7,
           loc="lower right")
    finish(ax_loss, "epoch", "validation loss (nats)", f"validation loss, {seeds_text(n)}",
           legend=False)
    d = records[0]["config"]["dataset"] if records else "?"
    fig.suptitle(f"Joint candidates on {d} (validation split), {n} seed(s) each; recipe: "
                 f"lr × {LR_DECAY}/epoch, dropout {DROPOUT}, weight decay {WEIGHT_DECAY:g}",
                 fontsize=9)
    return [save_figure(fig, fig_dir / "best_config.png")]


def candidate_rows(records, ctx, pick):
    """One table row per candidate (the chosen one in bold): settings, size, accuracies."""
    rows = []
    cands = candidates(ctx)
    for name, rs in by_candidate(records, ctx).items():
        p = sweeps.point(rs)
        c = cands[name]
        sizes = [784, *c["hidden_dims"], 10]
        rows.append([("**" + name + "**") if pick and pick[0] == name else name, describe(c),
                     f"{count_parameters(sizes):,}",
                     pm(p["train"].final_mean, p["train"].final_std, as_pct=True)
                     if p["ok"] else "–",
                     pm(p["mean"], p["std"], as_pct=True) if p["ok"] else "–",
                     p["best_epoch"] or "–", sweeps._state_text(p)])
    return rows


def summarize(records, figures, ctx):
    r0 = next((r for r in records if r.get("status") == "ok"), None)
    m = r0["metrics"] if r0 else {}
    d = records[0]["config"]["dataset"] if records else "?"
    w = sweeps.winners(ctx.records_of(sweeps.NAME))
    same = all(v == sweeps.SWEEPS[k]["default"] for k, v in w.items())
    out = ["Per-sweep winners (experiment 6's rule): "
           + ", ".join(f"{k} = {v}" for k, v in w.items())
           + (" — all base values: no sweep found a value that beats the base by more than "
              "the seed spread, so this candidate is the hand-out default" if same else "")
           + f". Every candidate is trained with the same recipe — {recipe_text(ctx)} — and "
           "seeds "
           f"{', '.join(map(str, cs3317.seeds(ctx)))}. Data: "
           + data_description(d, cs3317.FINAL, m.get("n_train"), m.get("n_val"))
           + f". **Choice:** {RULE}. The test set is not used here."]
    pick = chosen(ctx)
    out.append("\n" + md_table(["candidate", "settings", "parameters", "train acc (end)",
                                "val acc (end)", "best epoch (mean curve)", "status"],
                               candidate_rows(records, ctx, pick)))
    if pick:
        out.append(f"\nChosen: **{pick[0]}** — {describe(pick[1])}, {pct(pick[2]['mean'])} mean "
                   "validation accuracy. Experiment 7 trains it and measures it once on the "
                   "test set, after training.")
    else:
        out.append("\nNo candidate has all its seeds finished, so nothing is chosen yet.")
    if ctx.quick:
        n = len(cs3317.seeds(ctx))
        out.append(f"\n*Quick mode:* the MNIST sample, {QUICK_LONG_EPOCHS} epochs and {n} "
                   f"seed{'s' if n > 1 else ''}: the method, not Fashion-MNIST numbers (`--full`).")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
