"""Experiment 7b — the same network in PyTorch (ECE421 part 2): does the library agree with ours?

The stage-3 network of the CS3317 base (``cs3317.BASE``: hidden layers [128, 64], ReLU, SGD with
momentum, batch 64, constant rate) is trained twice on the validation split, for EPOCHS epochs:

* by stage 3 (``stage3_batched.run.run``), and
* by PyTorch, written the way the ECE421 hand-out asks: ``torch.nn.Linear`` layers with
  ``torch.nn.ReLU`` between them, ``torch.nn.CrossEntropyLoss`` on the logits (no explicit
  softmax), ``torch.optim.SGD`` with the same momentum.

Both start from the SAME initial weights (stage 3's He-normal draw for the run's seed, copied into
the ``nn.Linear`` layers; PyTorch stores ``W`` transposed, (out, in)) and see the SAME mini-batches
in the same order (the permutations come from a generator built exactly as stage 3 builds its own,
``stage3_batched.run.build``). Both run in float64, so what is left of the difference is rounding:
the two libraries sum in different orders. The record keeps both runs' per-epoch training and
validation loss and accuracy and the largest absolute difference between their final weights.

The hand-out's deliverables: training and validation loss per epoch for at least 8 epochs, and
training and validation accuracy reaching at least 82% on validation (TARGET). Quick mode trains
on the shipped MNIST sample, full mode on Fashion-MNIST (55,000 train / 5,000 validation).

Skipped, with the reason, when PyTorch is not installed. Leaves out: GPUs, ``DataLoader`` (the
batches must be ours to be the same), dropout and weight decay (they would make the comparison
depend on two random-number streams or two decay conventions).
"""

from __future__ import annotations

import importlib.util
import time

from ..data import load_data
from ..plots import epochs_axis, finish
from ..report import as_floats, data_description, md_table, pct
from ..runs import Context, Run, SkipExperiment
from . import cs3317

NAME = "pytorch"
TITLE = "7b. The same network in PyTorch: same initial weights, same batches"

EPOCHS = 8          # the hand-out asks for at least 8
SEED = 0
DTYPE = "float64"   # both libraries in double precision: the difference left is rounding
TARGET = 0.82       # the hand-out's validation accuracy after training


def torch_missing() -> str | None:
    """Why PyTorch cannot be used here, or None."""
    if importlib.util.find_spec("torch") is None:
        return ("PyTorch is not installed, so there is nothing to compare with "
                "(`pip install torch`, CPU build, then rerun this experiment)")
    return None


def plan(ctx: Context):
    why = torch_missing()
    if why:
        raise SkipExperiment(why)
    b = cs3317.BASE
    dataset = cs3317.dataset(ctx, NAME)
    config = {"executor": "pytorch", "dataset": dataset, "final": False,
              "limit": ctx.option("limit"), "hidden_dims": list(b["hidden_dims"]),
              "activation": b["activation"], "init": b["init"], "lr": b["lr"],
              "momentum": b["momentum"], "batch_size": b["batch_size"],
              "epochs": int(ctx.option("epochs", EPOCHS)), "seed": SEED, "dtype": DTYPE}
    return [Run(config, execute, label=f"stage 3 vs PyTorch, {dataset}")]


def _stage3_config(config: dict):
    from stage3_batched.run import RunConfig

    return RunConfig(dataset=config["dataset"], hidden_dims=tuple(config["hidden_dims"]),
                     activation=config["activation"], optimizer="sgd", lr=config["lr"],
                     momentum=config["momentum"], batch_size=config["batch_size"],
                     epochs=config["epochs"], seed=config["seed"], dtype=config["dtype"],
                     init=config["init"], final=config["final"], lr_decay=None).validate()


def _torch_mlp(weights: list, activation: str):
    """A float64 ``nn.Sequential`` of Linear layers holding ``weights`` ``[(W (in, out), b
    (out,)), ...]``, with ``activation`` between them (none after the last)."""
    import numpy as np
    import torch
    from torch import nn

    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    layers = []
    for i, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[0], W.shape[1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))   # (out, in)
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(acts[activation]())
    return nn.Sequential(*layers)


def _torch_epoch(model, loss_fn, opt, Xt, ct, perm, batch_size: int) -> tuple[float, int]:
    """One epoch of SGD over the batches of ``perm`` (N,); returns (the sum over the samples of
    their batch's mean loss, the number classified correctly during the epoch)."""
    loss_sum, correct = 0.0, 0
    for s in range(0, len(perm), batch_size):
        idx = perm[s:s + batch_size]
        logits = model(Xt[idx])
        loss = loss_fn(logits, ct[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += int((logits.argmax(1) == ct[idx]).sum())
    return loss_sum, correct


def train_torch(weights: list, X, c, Xv, cv, *, lr: float, momentum: float, batch_size: int,
                epochs: int, shuffle_rng, activation: str = "relu") -> tuple[list, list]:
    """Train the MLP whose initial ``weights`` are ``[(W (in, out), b (out,)), ...]`` with
    PyTorch on X (N, D), c (N,), on the batches ``shuffle_rng.permutation(N)`` gives every epoch.
    Returns ``(history rows like stage 3's, final weights in the same layout)``."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(1)
    model = _torch_mlp(weights, activation)
    loss_fn = nn.CrossEntropyLoss()       # mean over the batch; softmax inside
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    Xt, ct = torch.from_numpy(np.asarray(X, dtype=np.float64)), torch.from_numpy(c)
    Xvt, cvt = torch.from_numpy(np.asarray(Xv, dtype=np.float64)), torch.from_numpy(cv)
    n, rows = len(X), []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.from_numpy(shuffle_rng.permutation(n))
        loss_sum, correct = _torch_epoch(model, loss_fn, opt, Xt, ct, perm, batch_size)
        model.eval()
        with torch.no_grad():
            out = model(Xvt)
            val_loss = loss_fn(out, cvt).item()
            val_acc = int((out.argmax(1) == cvt).sum()) / len(cvt)
        rows.append({"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / n,
                     "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                     "seconds": time.perf_counter() - t0})
    final = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
             for m in model if isinstance(m, nn.Linear)]
    return rows, final


def _linear_weights(model) -> list:
    """``[(W, b), ...]`` copies of a stage-3 model's Linear layers, in order."""
    p = model.parameters()
    names = [k[:-2] for k in p if k.endswith(".W")]
    return [(p[f"{n}.W"].copy(), p[f"{n}.b"].copy()) for n in names]


def execute(config: dict) -> dict:
    """Train the config's network with stage 3 and with PyTorch from the same start."""
    import numpy as np

    from stage3_batched.run import build, run

    (xtr, ctr), (xva, cva), k = load_data(config["dataset"], config["final"], config["dtype"],
                                          config.get("limit"))
    rc = _stage3_config(config)
    model0, _, _, _, shuffle_rng = build(rc, xtr.shape[1], int(k))   # the start both share
    start = _linear_weights(model0)
    ours = run(rc, progress=False, data=((xtr, ctr), (xva, cva), k), return_model=True)
    if ours["status"] != "ok":
        return {"metrics": {"stage3": ours["history"]["epochs"]}, "status": "diverged",
                "message": f"stage 3: {ours['message']}"}
    rows, theirs = train_torch(start, xtr, ctr, xva, cva, lr=rc.lr, momentum=rc.momentum,
                               batch_size=rc.batch_size, epochs=rc.epochs,
                               shuffle_rng=shuffle_rng, activation=rc.activation)
    mine = _linear_weights(ours["model"])
    diffs = [float(max(np.abs(Wa - Wb).max(), np.abs(ba - bb).max()))
             for (Wa, ba), (Wb, bb) in zip(mine, theirs)]
    scale = max(float(np.abs(W).max()) for W, _ in mine)
    metrics = {"stage3": ours["history"]["epochs"], "torch": rows,
               "epochs": ours["history"]["epochs"],
               "max_weight_diff": max(diffs), "layer_weight_diff": diffs,
               "max_abs_weight": scale, "n_train": int(len(xtr)), "n_val": int(len(xva)),
               "torch_version": __import__("torch").__version__}
    return {"metrics": metrics, "status": "ok", "message": None}


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    r = records[0] if records else None
    if r is None or r.get("status") != "ok":
        return []
    m = r["metrics"]
    fig, axes = new_figure(ncols=2, width=5.5, height=4.2, layout="constrained")
    ax_loss, ax_acc = axes[0]
    # stage 3 wide and pale, PyTorch thin and dashed on top: where they agree, both stay visible
    styles = {"stage3": {"ls": "-", "lw": 4.0, "alpha": 0.35, "name": "stage 3 (numpy)"},
              "torch": {"ls": "--", "lw": 1.2, "alpha": 1.0, "marker": "x", "ms": 5,
                        "name": "PyTorch"}}
    for ax, kind in ((ax_loss, "loss"), (ax_acc, "acc")):
        for who, st in styles.items():
            kw = {k: v for k, v in st.items() if k != "name"}
            for split, color, what in (("train", "C1", "training"), ("val", "C0", "validation")):
                y = as_floats(row.get(f"{split}_{kind}") for row in m[who])
                y = 100 * y if kind == "acc" else y
                ax.plot(epochs_axis(y.size), y, color=color, label=f"{what}, {st['name']}",
                        **kw)
    ax_acc.axhline(100 * TARGET, color="k", lw=0.7, ls=":")
    ax_acc.annotate(f"hand-out target {TARGET:.0%}", (1, 100 * TARGET), xytext=(0, 3),
                    textcoords="offset points", fontsize=7)
    finish(ax_loss, "epoch", "cross-entropy loss (nats)", "loss per epoch", fontsize=7)
    finish(ax_acc, "epoch", "accuracy (%)", "accuracy per epoch", fontsize=7,
           loc="center right")
    c = r["config"]
    fig.suptitle(f"Stage 3 vs PyTorch, same start and batches — {c['dataset']}, hidden "
                 f"{c['hidden_dims']} {c['activation']}, SGD lr {c['lr']:g} momentum "
                 f"{c['momentum']:g}\nlargest weight difference after training: "
                 f"{m['max_weight_diff']:.1e} (weights up to {m['max_abs_weight']:.2f})",
                 fontsize=9)
    return [save_figure(fig, fig_dir / "pytorch_vs_stage3.png")]


def summarize(records, figures, ctx):
    r = records[0] if records else None
    if r is None or r.get("status") != "ok":
        why = (r or {}).get("error") or (r or {}).get("message") or "no record"
        return f"No comparison: the run is {(r or {}).get('status', 'missing')} ({why})."
    c, m = r["config"], r["metrics"]
    out = [f"Network: {len(c['hidden_dims'])} hidden layers {c['hidden_dims']} "
           f"{c['activation']}, {c['init']}-normal initial weights (seed {c['seed']}), SGD lr "
           f"{c['lr']:g} momentum {c['momentum']:g}, batch {c['batch_size']}, constant rate, "
           f"{c['epochs']} epochs, {c['dtype']}; PyTorch {m.get('torch_version')} with "
           "`nn.Linear`, `nn.ReLU`, `nn.CrossEntropyLoss`, `torch.optim.SGD`. Same initial "
           "weights, same mini-batches in the same order. Data: "
           + data_description(c["dataset"], False, m.get("n_train"), m.get("n_val")) + "."]
    rows = []
    for who, name in (("stage3", "stage 3 (numpy)"), ("torch", "PyTorch")):
        last = m[who][-1]
        rows.append([name, f"{last['train_loss']:.6f}", f"{last['val_loss']:.6f}",
                     pct(last["train_acc"]), pct(last["val_acc"])])
    out.append("\n" + md_table(["library", "train loss (last epoch)", "val loss",
                                "train acc", "val acc"], rows))
    va = m["torch"][-1]["val_acc"]
    out.append(f"\nLargest absolute difference between the two libraries' final weights: "
               f"**{m['max_weight_diff']:.2e}** (per layer: "
               + ", ".join(f"{d:.1e}" for d in m["layer_weight_diff"])
               + f"; the largest weight is {m['max_abs_weight']:.3f}). PyTorch's validation "
               f"accuracy after {c['epochs']} epochs: {pct(va)} — the hand-out asks for at least "
               f"{TARGET:.0%}: {'met' if va >= TARGET else 'NOT met'}.")
    return "\n".join(out)


if __name__ == "__main__":
    from ..cli import main_of

    raise SystemExit(main_of(NAME))
