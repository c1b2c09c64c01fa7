"""Command line of stage 1: the worked example (default) and training on the synthetic data.

    python -m stage1_scalar                        # the hand-out's 2-3-2 worked example
    python -m stage1_scalar example --weights w.json --x 0.5 -1 --c 1
    python -m stage1_scalar train                  # per-instance SGD on load_synth, < 1 minute
    python -m stage1_scalar train --hidden 8 4 --epochs 3 --lr 0.1 --out runs/s1-deep
    python -m stage1_scalar train --unrolled       # the same SGD through the unrolled program
    python -m stage1_scalar unrolled               # print that program for the 2-3-2 network

The bare command is fast and offline (pure Python, no numpy); ``train`` loads the data with numpy
and draws a figure with matplotlib.
"""

from __future__ import annotations

import argparse
import sys

from shared.cli import positive_float, positive_int
from shared.weights import WeightFormatError, load_json

DESCRIPTION = """\
Stage 1 of mlp-ladder: a sigmoid/softmax/cross-entropy network in pure Python, one scalar at a
time, with backpropagation written out as local derivatives and the multivariate chain rule.

Without a subcommand: print the hand-out's worked example (2-3-2 network, x = [1, -1], class 0):
every forward value (k, h, o, y, loss) and every derivative (dl/dy, the softmax Jacobian, dl/do,
dl/dV, dl/dc, dl/dh, dl/dk, dl/dW, dl/db, dl/dx)."""

EPILOG = """\
subcommands:
  example   the worked example, or one sample through weights of your own (--weights)
  train     per-instance SGD on the synthetic data (see: python -m stage1_scalar train --help)
  unrolled  print the training step written out one scalar equation per line
            (stage1_scalar/unrolled.py: same numbers as the loops, many times faster)

The maths behind every printed number: stage1_scalar/README.md."""


DEFAULT_OUT = "runs/stage1_scalar/<config key>"


def read_weights(path: str, what: str) -> dict | None:
    """A JSON weight file, or None after printing why it cannot be read."""
    try:
        return load_json(path)
    except (OSError, WeightFormatError) as e:
        print(f"error: cannot read {what}: {e}", file=sys.stderr)
        return None


def add_network_flags(parser: argparse.ArgumentParser) -> None:
    """``--hidden`` and ``--backward``, shared by ``train`` and ``unrolled``."""
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[3], metavar="H",
                        help="hidden layer sizes, e.g. --hidden 8 4 for a [2, 8, 4, 2] network")
    parser.add_argument("--backward", choices=("jacobian", "fused"), default="jacobian",
                        help="output gradient through the softmax Jacobian and dl/dy, or the "
                             "fused dl/do = y - onehot(c)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stage1_scalar", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{example,train,unrolled}")

    ex = sub.add_parser(
        "example", help="the worked example (the default)",
        description="One forward and one backward pass, every value printed. Defaults to the "
                    "hand-out's 2-3-2 network, input x = [1, -1] and target class 0.")
    ex.add_argument("--weights", metavar="FILE",
                    help="weight file in the shared JSON format (shared/weights.py) instead of "
                         "the worked example's weights")
    ex.add_argument("--x", type=float, nargs="+", metavar="X",
                    help="the input, one number per input unit (default: 1 -1)")
    ex.add_argument("--c", type=int, metavar="CLASS", help="the target class (default: 0)")
    ex.add_argument("--decimals", type=int, default=4, help="digits after the point (default 4)")
    ex.add_argument("--save-weights", metavar="FILE",
                    help="also write the weights used to FILE (shared JSON format)")

    tr = sub.add_parser(
        "train", help="per-instance SGD on the synthetic data",
        description="Per-instance SGD on the hand-out's synthetic 2-class data (load_synth: 2 "
                    "features, an elliptic class boundary). The features are normalised with "
                    "the training set's mean and standard deviation first. Prints the raw data "
                    "range, the loss after every epoch and the validation accuracy; writes "
                    "record.json (run record), weights.json (trained weights, shared format) and "
                    "loss_curve.png to --out. The defaults take a few seconds on one core.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--epochs", type=positive_int, default=5, help="passes over the data")
    tr.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate")
    add_network_flags(tr)
    tr.add_argument("--samples", type=positive_int, default=60_000,
                    help="number of training samples")
    tr.add_argument("--val-samples", type=positive_int, default=10_000,
                    help="number of validation samples")
    tr.add_argument("--seed", type=int, default=0,
                    help="seed of the data, the initial weights and the shuffles")
    tr.add_argument("--unrolled", action="store_true",
                    help="train through the unrolled program (stage1_scalar/unrolled.py): "
                         "bitwise the same weights as the loops of network.py, several times "
                         "faster")
    tr.add_argument("--init-weights", metavar="FILE",
                    help="start from these weights (shared JSON format) instead of random ones")
    tr.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                    help="output folder; <config key> is replaced by a hash of the flags")
    tr.add_argument("--no-plot", action="store_true", help="skip the loss-curve figure")
    tr.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                    help="tqdm progress bar (auto: only on a terminal)")

    un = sub.add_parser(
        "unrolled", help="print the unrolled training program",
        description="Print the Python program that stage1_scalar/unrolled.py writes out and "
                    "compiles for a network: one per-sample SGD step (forward, backward, update) "
                    "with every scalar equation on its own line, in the same order of operations "
                    "as the loops of network.py. Names: x_i inputs, W{l}_{i}_{j} and b{l}_j the "
                    "weights of layer l, k/h the hidden pre-activations and sigmoids, o the "
                    "logits, y the probabilities, d... their gradients.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    un.add_argument("--inputs", type=positive_int, default=2, help="input units")
    un.add_argument("--classes", type=positive_int, default=2, help="output units (classes)")
    add_network_flags(un)
    un.add_argument("--losses", action="store_true",
                    help="include the line that records each sample's loss")
    return parser


def run_unrolled(args) -> int:
    from .unrolled import program

    sizes = [args.inputs, *args.hidden, args.classes]
    try:
        print(program(sizes, fused=args.backward == "fused", record_loss=args.losses), end="")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def run_example(args) -> int:
    from shared.weights import save_json, worked_example

    from .example import explain

    weights, x, c = worked_example()
    if args.weights:
        weights = read_weights(args.weights, "weights")
        if weights is None:
            return 2
        if args.x is None and weights["sizes"][0] != 2:
            print(f"error: the weights take {weights['sizes'][0]} inputs; give them with --x",
                  file=sys.stderr)
            return 2
    if args.x is not None:
        x = list(args.x)
    if args.c is not None:
        c = args.c
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    if len(x) != n_in:
        print(f"error: --x has {len(x)} numbers, the network takes {n_in} inputs",
              file=sys.stderr)
        return 2
    if not 0 <= c < n_out:
        print(f"error: --c {c} is not a class of this network (0..{n_out - 1})", file=sys.stderr)
        return 2
    print(explain(weights, x, c, decimals=args.decimals))
    if args.save_weights:
        save_json(weights, args.save_weights)
        print(f"\nwrote the weights to {args.save_weights}")
    return 0


def run_train(args) -> int:
    from shared.records import config_key

    from .train import train

    init = None
    if args.init_weights:
        init = read_weights(args.init_weights, "--init-weights")
        if init is None:
            return 2
    key = config_key({k: v for k, v in vars(args).items() if k not in ("out", "progress")})
    out = args.out.replace("<config key>", key)
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    try:
        record = train(epochs=args.epochs, lr=args.lr, hidden=args.hidden, samples=args.samples,
                       val_samples=args.val_samples, seed=args.seed, out=out,
                       fused=args.backward == "fused", init=init, progress=progress,
                       plot=not args.no_plot, unrolled=args.unrolled)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if record["status"] == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return run_train(args)
    if args.command == "unrolled":
        return run_unrolled(args)
    if args.command is None:  # the bare command: the worked example with its defaults
        args = build_parser().parse_args(["example"])
    return run_example(args)


if __name__ == "__main__":
    sys.exit(main())
