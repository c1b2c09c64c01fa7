"""Command line of stage 2: train the hand-out's MNIST network one sample at a time.

    python -m stage2_perinstance                         # 784-300-10 on the shipped MNIST sample
    python -m stage2_perinstance --dataset mnist --epochs 5 --lr 0.03
    python -m stage2_perinstance --dataset synth --hidden 8 --limit 2000 --epochs 2
    python -m stage2_perinstance --activation tanh --accumulate 10 --out runs/s2-tanh
    python -m stage2_perinstance --fast                  # the same steps, in place (fast.py)

Every epoch is evaluated on the validation split held out of the training data; after training
the test split (the image data sets have one) is evaluated once. Writes ``record.json`` (a run
record, ``shared.records``, with the evaluation: confusion matrix, per-class accuracy),
``loss_curve.png`` (drawn from the record), ``confusion.png`` and, for images, ``mistakes.png``
(the most confidently wrong ones), and ``weights.json`` (the trained weights, shared format; not
for a diverged run) to ``--out``; it prints the training doctor's lines (``shared.doctor``).
Runs inside ``shared.errors.run_main``: bad input ends in one line naming the flag
(exit status 2), a diverged run in one line (exit status 1).
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from shared.cli import epoch_count, nonnegative_int, positive_float, positive_int
from shared.errors import ConfigError, DivergedError, check_output_dir, run_main
from shared.weights import ACTIVATIONS

DESCRIPTION = """\
Stage 2 of mlp-ladder: the sigmoid (or relu, tanh)/softmax/cross-entropy network with numpy
vectors, trained by SGD one sample at a time (optionally averaging the gradients of --accumulate
samples per update), through the readable forward / backward / update of network.py.

Default: the hand-out's MNIST network 784-300 (sigmoid)-10 (softmax) on the shipped MNIST sample
(offline). After every epoch it prints the training and validation loss and accuracy; it writes a
run record (record.json), the loss curves (loss_curve.png: the loss of every sample against the
time step, and per-epoch training vs validation) and the trained weights (weights.json)."""

EPILOG = """\
The initial weights come from shared.weights.init_weights(random.Random(seed)) (the same numbers
every stage draws from that seed); the per-epoch shuffles from np.random.default_rng(seed).
--fast takes the same steps through stage2_perinstance/fast.py (in-place updates, zero inputs
skipped on sparse data such as MNIST): the same weights to rounding, less time.
The maths, loop by loop against stage 1: stage2_perinstance/README.md."""

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "synth")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stage2_perinstance", description=DESCRIPTION,
                                epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="mnist-sample",
                   help="data set (default mnist-sample: the shipped sample of real MNIST; "
                        "mnist: 55k/5k split; fashion-mnist; synth: the hand-out's 2-class data)")
    p.add_argument("--epochs", type=epoch_count, default=5,
                   help="passes over the training data (default 5)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--accumulate", type=positive_int, default=1, metavar="K",
                   help="samples whose gradients are averaged per update (default 1: plain "
                        "per-sample SGD; K equals stage 3 with batch size K)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[300], metavar="H",
                   help="hidden layer sizes (default 300; e.g. --hidden 128 64 for two layers)")
    p.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid",
                   help="hidden activation (default sigmoid)")
    p.add_argument("--backward", choices=("fused", "jacobian"), default="fused",
                   help="output gradient as the fused y - onehot(c) (default) or through the "
                        "softmax Jacobian")
    p.add_argument("--fast", action="store_true",
                   help="train through the in-place steps of fast.py (same weights to rounding; "
                        "skips zero inputs on sparse data); fused backward only")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the initial weights, the shuffles and the synth data "
                        "(an integer >= 0, default 0)")
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
    """``(X, c), (Xv, cv), num_classes`` of data set ``name``, cut to ``limit`` samples each."""
    from shared.data import load_dataset

    kw = {"seed": seed}
    if name == "synth" and limit is not None:  # do not draw 70,000 points to keep a few
        kw.update(num_train=limit, num_val=limit)
    elif limit is not None:  # the image loaders convert only the training images kept
        kw["limit"] = limit
    (X, c), (Xv, cv), K = load_dataset(name, **kw)  # a failed download leaves no folder
    if limit is not None:
        X, c, Xv, cv = X[:limit], c[:limit], Xv[:limit], cv[:limit]
    return (X, c), (Xv, cv), K


def check_size(sizes: list[int], dtype: str) -> None:
    """Refuse, before the weights are allocated, a network this machine cannot hold."""
    from shared.memory import check_fits, estimate_network_bytes

    nbytes = estimate_network_bytes(sizes, dtype_bytes=4 if dtype == "float32" else 8)
    check_fits(nbytes, f"the network {sizes} in {dtype}", flag="--hidden")


def run_config(args, sizes: list[int], n_train: int, n_val: int) -> dict:
    """The run's configuration, as its record keeps it (and its key is computed from)."""
    return {"stage": "stage2_perinstance", "dataset": args.dataset, "sizes": sizes,
            "activation": args.activation, "epochs": args.epochs, "lr": args.lr,
            "accumulate": args.accumulate, "backward": args.backward, "seed": args.seed,
            "limit": args.limit, "dtype": args.dtype, "log_every": args.log_every,
            "n_train": n_train, "n_val": n_val,
            "init": "shared.weights.init_weights(random.Random(seed)), std 1/sqrt(fan_in)",
            "shuffle": "np.random.default_rng(seed).permutation per epoch",
            "path": "fast.py" if args.fast else "network.py"}   # --fast: a folder of its own


def load_test(name: str):
    """``(Xte, cte)``, the test split of an image data set (evaluated once, after training), or
    None for data sets without one (synth)."""
    from shared.data import load_dataset

    if name == "synth":
        return None
    _, test, _ = load_dataset(name, final=True)
    return test


def evaluate_once(weights: dict, args, test, val, out) -> tuple[dict, list]:
    """The confusion-matrix evaluation (``shared.evaluation``) of the trained weights on the
    test split (else the validation split), with ``confusion.png`` and, for images,
    ``mistakes.png`` in ``out`` unless ``--no-plot``; returns ``(evaluation dict, paths)``."""
    from shared.evaluation import class_names, evaluate_predictions, plot_confusion, plot_mistakes
    from shared.plotting import save_figure

    from . import predict_proba

    split, (X, c) = ("test", test) if test is not None else ("validation", val)
    Y = predict_proba(weights, X)
    ev = evaluate_predictions(Y, c, class_names(args.dataset, Y.shape[1]), split)
    paths = []
    if not args.no_plot:
        title = f"stage 2, {args.dataset}"
        paths.append(save_figure(plot_confusion(ev, title), out / "confusion.png"))
        if X.shape[1] == 784:
            paths.append(save_figure(plot_mistakes(ev, X, Y, c, title), out / "mistakes.png"))
    return {**ev.to_dict(), "loss": float(np.mean(-np.log(np.maximum(Y[np.arange(len(c)), c],
                                                                   1e-300))))}, paths


def write_outputs(args, config, history, weights, wall, out) -> tuple[dict, list]:
    """``record.json``, ``weights.json`` (not for a diverged run) and ``loss_curve.png``;
    returns ``(record, paths written)``."""
    from shared import records
    from shared.threads import blas_threads
    from shared.weights import save_json

    from .train import plot_record

    last = history["epochs"][-1] if history["epochs"] else {}
    metrics = {**history, "final_train_loss": last.get("train_loss"),
               "final_train_acc": last.get("train_acc"), "final_val_loss": last.get("val_loss"),
               "final_val_acc": last.get("val_acc"),
               "train_seconds": sum(r["seconds"] for r in history["epochs"])}
    record = records.make_record("stage2-train", config, metrics, status=history["status"],
                                 error=history["message"], wall_time=wall)
    record["threads"] = blas_threads()
    written = [records.write_record(out / "record.json", record)]
    if history["status"] == "ok":
        save_json(weights, out / "weights.json")
        written.append(out / "weights.json")
    if not args.no_plot:
        written.append(plot_record(record, out / "loss_curve.png"))
    return record, written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.fast and args.backward != "fused":
        raise ConfigError("--fast computes the fused output gradient only; leave out "
                          "--backward jacobian or --fast")
    from shared import records
    from shared.doctor import report

    t_start = time.perf_counter()
    (X, c), (Xv, cv), num_classes = load(args.dataset, args.seed, args.limit)
    test = load_test(args.dataset)
    sizes = [int(X.shape[1]), *args.hidden, int(num_classes)]
    check_size(sizes, args.dtype)
    config = run_config(args, sizes, len(X), len(Xv))
    out = check_output_dir(args.out or f"runs/stage2_perinstance/{args.dataset}-"
                           f"{records.config_key(config)}", flag="--out")
    print(f"data {args.dataset}: {len(X)} training / {len(Xv)} validation samples (every epoch "
          f"is evaluated on these)" + (f", then {len(test[0])} test samples once, after "
                                       "training" if test is not None else "")
          + f"; {X.shape[1]} features in [{X.min():.3g}, {X.max():.3g}] (mean {X.mean():.3g}), "
          f"{num_classes} classes")
    weights, history = train(args, sizes, (X, c), (Xv, cv))
    config.update(path=history["path"], skip_zero_inputs=history["skip_zero_inputs"])
    history["num_classes"] = int(num_classes)
    evaluation, pictures = ((None, []) if history["status"] != "ok" else
                            evaluate_once(weights, args, test, (Xv, cv), out))
    history["evaluation"] = evaluation
    record, written = write_outputs(args, config, history, weights,
                                    time.perf_counter() - t_start, out)
    print("wrote " + ", ".join(str(p) for p in written + pictures))
    print(report(history))
    if history["status"] != "ok":
        raise DivergedError(history["message"])
    finish(record, evaluation)
    return 0


def train(args, sizes: list[int], train_set, val_set):
    """Initial weights from the seed, then :func:`stage2_perinstance.train.fit`."""
    import numpy as np
    from tqdm import tqdm

    from .network import init_weights
    from .train import fit

    weights = init_weights(sizes, random.Random(args.seed), dtype=args.dtype,
                           activation=args.activation)
    print(f"network {sizes} ({args.activation} hidden, softmax output), {args.dtype}, SGD lr "
          f"{args.lr}, {args.accumulate} sample(s) per update, {args.epochs} epochs, "
          f"{'fast.py (in place)' if args.fast else 'network.py'}")
    return fit(weights, train_set, val_set, epochs=args.epochs, lr=args.lr,
               accumulate=args.accumulate, rng=np.random.default_rng(args.seed),
               fused=args.backward == "fused", epoch=epoch_function(args.fast),
               progress=not args.no_progress, log_every=args.log_every, log=tqdm.write)


def epoch_function(fast: bool):
    """``train.sgd_epoch`` (network.py's steps), or with ``--fast`` the in-place epoch."""
    if not fast:
        from .train import sgd_epoch
        return sgd_epoch
    from .fast import InPlaceEpoch
    return InPlaceEpoch()


def finish(record: dict, evaluation: dict) -> None:
    """The closing lines: time, the last validation figures, the test split's (once)."""
    from shared.evaluation import from_dict

    m = record["metrics"]
    print(f"done in {record['wall_time']:.1f} s (training + evaluation "
          f"{m['train_seconds']:.1f} s): validation accuracy {100 * m['final_val_acc']:.2f} %, "
          f"loss {m['final_val_loss']:.4f}")
    ev = from_dict(evaluation)
    if ev.split == "test":
        print(f"test accuracy (the test split, evaluated once after training): "
              f"{100 * ev.accuracy:.2f} %, loss {evaluation['loss']:.4f}")
    print(ev.summary())


if __name__ == "__main__":
    raise SystemExit(run_main(main))
