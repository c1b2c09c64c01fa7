"""``python -m stage3_batched``: train one batched MLP from the command line.

Prints a table with one row per epoch, then writes into the output folder (default
``runs/stage3/<dataset>-<config key>/``): ``record.json`` (the run record, shared/records.py),
``curves.png`` (loss and accuracy curves drawn from that record) and ``model.npz`` (the trained
parameters, loadable with ``Sequential.load``; not written when the run diverged). Ends with
the accuracy on the test split (or the validation split, for data sets without one / with
``--validation``), naming the split.

The default is the CS3317 hand-out's Fashion-MNIST set-up: hidden layers [128, 64], ReLU,
30 epochs (SGD, learning rate 0.05, momentum 0.9, batch size 64, rate x 0.9 after every epoch).
``--quick`` caps a run at 3 epochs and 10,000 training samples, for debugging. Exit status:
0 trained, 1 diverged, 2 bad arguments or data not found.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stage3_batched.layers import ACTIVATIONS, INITS
from stage3_batched.optim import OPTIMIZERS
from stage3_batched.run import DATASETS, DEFAULT_ADAM_LR, DTYPES, RunConfig, run, split_name
from stage3_batched.threads import ensure_threads

QUICK_EPOCHS, QUICK_LIMIT = 3, 10_000


def parser() -> argparse.ArgumentParser:
    d = RunConfig()
    p = argparse.ArgumentParser(
        prog="python -m stage3_batched",
        description="Train a batched numpy MLP (stage 3 of mlp-ladder) and save its run record, "
                    "learning curves and model. Defaults: the CS3317 Fashion-MNIST set-up.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="data set to train on")
    p.add_argument("--hidden-dims", type=int, nargs="*", default=list(d.hidden_dims),
                   metavar="H", help="hidden layer widths (none: softmax regression)")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default=d.activation,
                   help="hidden activation")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default=d.optimizer)
    p.add_argument("--lr", type=float, default=None,     # "%(default).0s": no "(default: None)"
                   help=f"learning rate (default: {d.lr} for sgd, {DEFAULT_ADAM_LR} for adam)"
                        "%(default).0s")
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum, in [0, 1)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="L2 weight decay added to the gradient (biases excluded)")
    p.add_argument("--lr-decay", type=float, default=d.lr_decay,
                   help="multiply the learning rate by this after every epoch (1 = constant)")
    p.add_argument("--dropout", type=float, default=d.dropout,
                   help="dropout probability after each hidden activation")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--init", choices=INITS, default=d.init, help="weight initialisation")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dtype", choices=DTYPES, default=d.dtype)
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first LIMIT training samples")
    p.add_argument("--validation", action="store_true",
                   help="evaluate on a validation split held out of the training data instead "
                        "of the test split")
    p.add_argument("--quick", action="store_true",
                   help=f"debug run: at most {QUICK_EPOCHS} epochs and {QUICK_LIMIT:,} training "
                        "samples")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default runs/stage3/<dataset>-<config key>)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for numpy (default: all cores); 1 avoids 10-100x "
                        "slowdowns when other jobs keep the cores busy")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    lr = args.lr if args.lr is not None else (
        DEFAULT_ADAM_LR if args.optimizer == "adam" else RunConfig.lr)
    cfg = RunConfig(dataset=args.dataset, hidden_dims=tuple(args.hidden_dims),
                    activation=args.activation, optimizer=args.optimizer, lr=lr,
                    momentum=args.momentum if args.optimizer == "sgd" else 0.0,
                    weight_decay=args.weight_decay, nesterov=args.nesterov,
                    dropout=args.dropout, batch_size=args.batch_size, epochs=args.epochs,
                    seed=args.seed, dtype=args.dtype, init=args.init,
                    final=not args.validation, limit=args.limit, lr_decay=args.lr_decay)
    if args.quick:
        cfg.epochs = min(cfg.epochs, QUICK_EPOCHS)
        cfg.limit = min(cfg.limit or QUICK_LIMIT, QUICK_LIMIT)
    return cfg.validate()


def plot_record(record: dict, path) -> Path:
    """Loss (per step and per epoch) and accuracy (per epoch) curves from a run record."""
    from shared.plotting import new_figure, save_figure

    hist = record["metrics"]["history"]
    split = record["metrics"].get("split", "validation")
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    ax_loss, ax_acc = axes[0]
    steps = hist["step_loss"]
    epochs = [e["epoch"] for e in hist["epochs"]]
    per_epoch = len(steps) / max(len(epochs), 1) if epochs else 1
    if steps:
        ax_loss.plot([(i + 1) / per_epoch for i in range(len(steps))], steps, lw=0.5, alpha=0.35,
                     color="tab:blue", label="train (per step)")
    if epochs:
        ax_loss.plot(epochs, [e["train_loss"] for e in hist["epochs"]], "o-", color="tab:blue",
                     label="train (epoch mean)")
        if hist["epochs"][0]["val_loss"] is not None:
            ax_loss.plot(epochs, [e["val_loss"] for e in hist["epochs"]], "s-",
                         color="tab:orange", label=split)
            ax_acc.plot(epochs, [e["val_acc"] for e in hist["epochs"]], "s-",
                        color="tab:orange", label=split)
        ax_acc.plot(epochs, [e["train_acc"] for e in hist["epochs"]], "o-", color="tab:blue",
                    label="train (epoch mean)")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    c = record["config"]
    decay = f" (x{c['lr_decay']:g}/epoch)" if c.get("lr_decay") not in (None, 1) else ""
    fig.suptitle(f"stage 3: {c['dataset']}, hidden {c['hidden_dims']}, {c['activation']}, "
                 f"{c['optimizer']} lr {c['lr']:g}{decay}, batch {c['batch_size']} "
                 f"({record['status']})")
    return save_figure(fig, path)


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        ensure_threads(args.threads, "stage3_batched", argv)   # may restart the process
    except ValueError as e:
        parser().error(str(e))
    from shared.data import describe
    from shared.records import config_key, make_record, write_record

    split = split_name(cfg)
    out = args.out or Path("runs") / "stage3" / f"{cfg.dataset}-{config_key(cfg.to_dict())}"
    print(f"data: {describe(cfg.dataset, final=cfg.final)}")
    if args.quick:
        print(f"quick mode: {cfg.epochs} epochs, at most {cfg.limit:,} training samples")
    print(f"model: hidden {list(cfg.hidden_dims)} ({cfg.activation}), {cfg.optimizer} "
          f"lr {cfg.lr:g}" + (f" momentum {cfg.momentum:g}" if cfg.optimizer == "sgd" else "")
          + (f", lr x {cfg.lr_decay:g} per epoch" if cfg.lr_decay not in (None, 1) else "")
          + f", batch {cfg.batch_size}, {cfg.epochs} epochs, {cfg.dtype}, seed {cfg.seed}")
    header = (f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {split + ' loss':>15} "
              f"{split + ' acc':>14} {'lr':>9} {'seconds':>7}")
    print(header)
    print("-" * len(header))

    def on_epoch(row):
        print(f"{row['epoch']:>5} {_fmt(row['train_loss'], '10.4f')} "
              f"{_fmt(row['train_acc'], '9.4f')} {_fmt(row['val_loss'], '15.4f')} "
              f"{_fmt(row['val_acc'], '14.4f')} {row['lr']:>9.3g} {row['seconds']:>7.2f}",
              flush=True)

    try:
        result = run(cfg, progress=not args.no_progress, return_model=True, on_epoch=on_epoch)
    except FileNotFoundError as e:                    # shared.data.DataNotFoundError
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = result.pop("model")
    metrics = {"history": result["history"], "final": result["final"], "split": split,
               "num_parameters": result["num_parameters"],
               "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    record = make_record("stage3", result["config"], metrics, status=result["status"],
                         error=result["message"], wall_time=result["wall_time"])
    rec_path = write_record(out / "record.json", record)
    fig_path = plot_record(record, out / "curves.png")
    if result["status"] != "ok":                      # NaN weights: no model file
        print(f"saved {rec_path}, {fig_path}")
        print(result["message"], file=sys.stderr)
        return 1
    model_path = model.save(out / "model.npz")
    print(f"saved {rec_path}, {fig_path}, {model_path}")
    f = result["final"]
    print(f"final {split} accuracy: {f['val_acc']:.4f} (loss {f['val_loss']:.4f}); train "
          f"accuracy {f['train_acc']:.4f}; {result['wall_time']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
