"""Command line of stage 2: train the hand-out's MNIST network one sample at a time.

    python -m stage2_perinstance                         # 784-300-10 on the shipped MNIST sample
    python -m stage2_perinstance --dataset mnist --epochs 5 --lr 0.03
    python -m stage2_perinstance --dataset synth --hidden 8 --limit 2000 --epochs 2
    python -m stage2_perinstance --accumulate 10 --dtype float32 --out runs/s2-acc10

Writes ``record.json`` (a run record, ``shared.records``), ``loss_curve.png`` (drawn from the
record) and ``weights.json`` (the trained weights, shared format) to ``--out``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from shared.cli import positive_float, positive_int

DESCRIPTION = """\
Stage 2 of mlp-ladder: the sigmoid/softmax/cross-entropy network with numpy vectors, trained by
SGD one sample at a time (optionally averaging the gradients of --accumulate samples per update).

Default: the hand-out's MNIST network 784-300 (sigmoid)-10 (softmax) on the shipped MNIST sample
(offline). After every epoch it prints the training and validation loss and accuracy; it writes a
run record (record.json), the loss curves (loss_curve.png: the loss of every sample against the
time step, and per-epoch training vs validation) and the trained weights (weights.json)."""

EPILOG = """\
The initial weights come from shared.weights.init_weights(random.Random(seed)) (the same numbers
every stage draws from that seed); the per-epoch shuffles from np.random.default_rng(seed).
The maths, loop by loop against stage 1: stage2_perinstance/README.md."""

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "synth")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stage2_perinstance", description=DESCRIPTION,
                                epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="mnist-sample",
                   help="data set (default mnist-sample: the shipped sample of real MNIST; "
                        "mnist: 55k/5k split; fashion-mnist; synth: the hand-out's 2-class data)")
    p.add_argument("--epochs", type=positive_int, default=5,
                   help="passes over the training data (default 5)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--accumulate", type=positive_int, default=1, metavar="K",
                   help="samples whose gradients are averaged per update (default 1: plain "
                        "per-sample SGD; K equals stage 3 with batch size K)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[300], metavar="H",
                   help="hidden layer sizes (default 300; e.g. --hidden 128 64 for two layers)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights, the shuffles and the synth data (default 0)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="use only the first N training and the first N validation samples")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating type of the computation (default float64)")
    p.add_argument("--log-every", type=positive_int, default=1, metavar="M",
                   help="store the learning curve as means of M samples (default 1: every sample)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/stage2_perinstance/<dataset>-<config key>)")
    p.add_argument("--no-plot", action="store_true", help="skip the loss-curve figure")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is shown only on a terminal anyway)")
    return p


def load(name: str, seed: int, limit: int | None):
    """``(X, y), (Xv, yv), num_classes`` of data set ``name``, cut to ``limit`` samples each."""
    from shared.data import load_dataset

    kw = {"seed": seed}
    if name == "synth" and limit is not None:  # do not draw 70,000 points to keep a few
        kw.update(num_train=limit, num_val=limit)
    (X, y), (Xv, yv), k = load_dataset(name, **kw)
    if limit is not None:
        X, y, Xv, yv = X[:limit], y[:limit], Xv[:limit], yv[:limit]
    return (X, y), (Xv, yv), k


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np
    from tqdm import tqdm

    from shared import records
    from shared.weights import save_json

    from .network import init_weights
    from .train import fit, plot_record

    t_start = time.perf_counter()
    try:
        (X, y), (Xv, yv), num_classes = load(args.dataset, args.seed, args.limit)
    except Exception as e:  # missing files, bad checksum...: the loader's message says which
        print(f"error: cannot load data set {args.dataset!r}: {e}", file=sys.stderr)
        return 2
    sizes = [int(X.shape[1]), *args.hidden, int(num_classes)]
    print(f"data {args.dataset}: {len(X)} training / {len(Xv)} validation samples, "
          f"{X.shape[1]} features in [{X.min():.3g}, {X.max():.3g}] (mean {X.mean():.3g}), "
          f"{num_classes} classes")
    config = {"stage": "stage2_perinstance", "dataset": args.dataset, "sizes": sizes,
              "epochs": args.epochs, "lr": args.lr, "accumulate": args.accumulate,
              "seed": args.seed, "limit": args.limit, "dtype": args.dtype,
              "log_every": args.log_every, "n_train": len(X), "n_val": len(Xv),
              "init": "shared.weights.init_weights(random.Random(seed)), std 1/sqrt(fan_in)",
              "shuffle": "np.random.default_rng(seed).permutation per epoch"}
    key = records.config_key(config)
    out = args.out or f"runs/stage2_perinstance/{args.dataset}-{key}"

    weights = init_weights(sizes, random.Random(args.seed), dtype=args.dtype)
    print(f"network {sizes} (sigmoid hidden, softmax output), {args.dtype}, SGD lr {args.lr}, "
          f"{args.accumulate} sample(s) per update, {args.epochs} epochs")
    try:
        weights, history = fit(weights, (X, y), (Xv, yv), epochs=args.epochs, lr=args.lr,
                               accumulate=args.accumulate, rng=np.random.default_rng(args.seed),
                               progress=not args.no_progress, log_every=args.log_every,
                               log=tqdm.write)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t_start
    config["skip_zero_inputs"] = history["skip_zero_inputs"]
    last = history["epochs"][-1] if history["epochs"] else {}
    metrics = {**history, "final_train_loss": last.get("train_loss"),
               "final_train_acc": last.get("train_acc"), "final_val_loss": last.get("val_loss"),
               "final_val_acc": last.get("val_acc"),
               "train_seconds": sum(r["seconds"] for r in history["epochs"])}
    record = records.make_record("stage2-train", config, metrics, status=history["status"],
                                 error=history["message"], wall_time=wall)
    written = [records.write_record(f"{out}/record.json", record)]
    if history["status"] == "ok":
        save_json(weights, f"{out}/weights.json")
        written.append(f"{out}/weights.json")
    if not args.no_plot:
        written.append(plot_record(record, f"{out}/loss_curve.png"))
    if last:
        print(f"done in {wall:.1f} s (training + evaluation {metrics['train_seconds']:.1f} s): "
              f"validation accuracy {last['val_acc']:.4f}, loss {last['val_loss']:.4f}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0 if history["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
