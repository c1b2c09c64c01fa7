"""Command line of stage 1: the worked example (default), training, the unrolled program, the graph.

    python -m stage1_scalar                        # the hand-out's 2-3-2 worked example
    python -m stage1_scalar example --weights w.json --x 0.5 -1 --c 1
    python -m stage1_scalar train                  # per-instance SGD on load_synth
    python -m stage1_scalar train --hidden 8 4 --epochs 3 --lr 0.1 --out runs/s1-deep
    python -m stage1_scalar train --activation tanh
    python -m stage1_scalar train --unrolled       # the same SGD through the unrolled program
    python -m stage1_scalar unrolled               # print that program for the 2-3-2 network
    python -m stage1_scalar graph                  # draw the worked example's computation graph

The bare command is fast and offline (pure Python, no numpy); ``train`` loads the data with numpy
and draws a figure with matplotlib; ``graph`` needs the graphviz package (and Graphviz's ``dot``
to render; without it the DOT text is written). Every command runs inside
``shared.errors.run_main``: bad input ends in one line naming the flag, exit status 2.
"""

from __future__ import annotations

import argparse
import os

from shared.cli import (
    epoch_count,
    finite_float,
    nonnegative_int,
    parse_number,
    positive_float,
    positive_int,
)
from shared.errors import ConfigError, DivergedError, SizeError, check_output_dir, run_main
from shared.weights import (
    ACTIVATIONS,
    WEIGHT_FILES_HINT,
    activation_of,
    count_parameters,
    load_json,
)

DESCRIPTION = """\
Stage 1 of mlp-ladder: a sigmoid (or relu, tanh)/softmax/cross-entropy network in pure Python,
one scalar at a time, with backpropagation written out as local derivatives and the multivariate
chain rule.

Without a subcommand: print the hand-out's worked example (2-3-2 network, x = [1, -1], class 0):
every forward value (k, h, o, y, loss) and every derivative (dl/dy, the softmax Jacobian, dl/do,
dl/dV, dl/dc, dl/dh, dl/dk, dl/dW, dl/db, dl/dx)."""

EPILOG = """\
subcommands:
  example   the worked example, or one sample through weights of your own (--weights)
  train     per-instance SGD on the synthetic data (see: python -m stage1_scalar train --help)
  unrolled  print the training step written out one scalar equation per line
            (stage1_scalar/unrolled.py: same numbers as the loops, many times faster)
  graph     draw the computation graph of one sample: every scalar a node (value and
            gradient), every local derivative an edge (stage1_scalar/graph.py)

The maths behind every printed number: stage1_scalar/README.md."""

DEFAULT_OUT = "runs/stage1_scalar/<config key>"

#: The longest run ``train`` starts without ``--allow-long``: its time is estimated from the
#: scalar multiply-adds it needs (about three per parameter per training step, one per
#: parameter per evaluated sample) and the rate this machine runs stage 1's own step at.
MAX_SECONDS = 15 * 60
DEFAULT_GRAPH = "runs/stage1_scalar/computation_graph.<format>"


# --------------------------------------------------------------------------- argument types


def decimals_int(text: str) -> int:
    """``argparse`` type: digits after the point, 0 to 17."""
    v = parse_number(text, int, "an integer 0..17")
    if not 0 <= v <= 17:
        raise argparse.ArgumentTypeError(f"expected an integer 0..17, got {v}")
    return v


def read_weights(path: str, flag: str) -> dict:
    """A JSON weight file; a file that cannot be read raises ConfigError naming ``flag``."""
    try:
        return load_json(path)
    except OSError as e:
        raise ConfigError(f"{flag} {path}: cannot read it ({e.strerror or e}); "
                          f"{WEIGHT_FILES_HINT}") from None
    except ValueError as e:  # WeightFormatError: the message already names the file
        raise ConfigError(f"{flag}: {e}; {WEIGHT_FILES_HINT}") from None


def add_network_flags(parser: argparse.ArgumentParser) -> None:
    """``--hidden`` and ``--backward``, shared by ``train`` and ``unrolled``."""
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[3], metavar="H",
                        help="hidden layer sizes, e.g. --hidden 8 4 for a [2, 8, 4, 2] network")
    parser.add_argument("--backward", choices=("fused", "jacobian"), default="fused",
                        help="output gradient as the fused dl/do = y - onehot(c), or through the "
                             "softmax Jacobian and dl/dy")


def add_sample_flags(parser: argparse.ArgumentParser) -> None:
    """``--weights``, ``--x``, ``--c``/``--target`` and ``--activation`` of example and graph."""
    parser.add_argument("--weights", metavar="FILE",
                        help="weight file in the shared JSON format (shared/weights.py) instead "
                             "of the worked example's weights")
    parser.add_argument("--x", type=finite_float, nargs="+", metavar="X",
                        help="the input, one number per input unit (default: 1 -1)")
    parser.add_argument("--c", "--target", dest="c", type=int, metavar="CLASS",
                        help="the target class (default: 0)")
    parser.add_argument("--activation", choices=ACTIVATIONS, default=None,
                        help="hidden activation (default: the weights' own; sigmoid for the "
                             "worked example)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stage1_scalar", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{example,train,unrolled,graph}")
    _add_example(sub)
    _add_train(sub)
    _add_unrolled(sub)
    _add_graph(sub)
    return parser


def _add_example(sub) -> None:
    """The ``example`` command and the worked example's flags."""
    ex = sub.add_parser(
        "example", help="the worked example (the default)",
        description="One forward and one backward pass, every value printed. Defaults to the "
                    "hand-out's 2-3-2 network, input x = [1, -1] and target class 0.")
    add_sample_flags(ex)
    ex.add_argument("--decimals", type=decimals_int, default=4,
                    help="digits after the point, 0..17 (default 4)")
    ex.add_argument("--save-weights", metavar="FILE",
                    help="also write the weights used to FILE (shared JSON format)")


def _add_train(sub) -> None:
    """The ``train`` command and per-instance SGD's flags."""
    tr = sub.add_parser(
        "train", help="per-instance SGD on the synthetic data",
        description="Per-instance SGD on the hand-out's synthetic 2-class data (load_synth: 2 "
                    "features, an elliptic class boundary). The features are normalised with "
                    "the training set's mean and standard deviation first. Prints the raw data "
                    "range, the loss after every epoch and the validation accuracy; writes "
                    "record.json (run record), weights.json (trained weights, shared format) and "
                    "loss_curve.png to --out. A diverged run is recorded as such, its weights "
                    "are not saved, and the command exits with status 1.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--epochs", type=epoch_count, default=5, help="passes over the data")
    tr.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate")
    add_network_flags(tr)
    tr.add_argument("--activation", choices=ACTIVATIONS, default=None,
                    help="hidden activation (default: sigmoid, or that of --init-weights)")
    tr.add_argument("--samples", type=positive_int, default=60_000,
                    help="number of training samples")
    tr.add_argument("--val-samples", type=positive_int, default=10_000,
                    help="number of validation samples")
    tr.add_argument("--seed", type=nonnegative_int, default=0,
                    help="seed of the data, the initial weights and the shuffles (>= 0)")
    tr.add_argument("--unrolled", action="store_true",
                    help="train through the unrolled program (stage1_scalar/unrolled.py): "
                         "bitwise the same weights as the loops of network.py, several times "
                         "faster; sigmoid only")
    tr.add_argument("--init-weights", metavar="FILE",
                    help="start from these weights (shared JSON format) instead of random ones")
    tr.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                    help="output folder; <config key> is replaced by a hash of the flags")
    tr.add_argument("--allow-long", action="store_true",
                    help=f"start even when the estimated run time is over "
                         f"{MAX_SECONDS // 60} minutes")
    tr.add_argument("--no-plot", action="store_true", help="skip the loss-curve figure")
    tr.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                    help="tqdm progress bar (auto: only on a terminal)")


def _add_unrolled(sub) -> None:
    """The ``unrolled`` command and the unrolled program's flags."""
    un = sub.add_parser(
        "unrolled", help="print the unrolled training program",
        description="Print the Python program that stage1_scalar/unrolled.py writes out and "
                    "compiles for a network: one per-sample SGD step (forward, backward, update) "
                    "with every scalar equation on its own line, in the same order of operations "
                    "as the loops of network.py. Names: x_i inputs, W{l}_{i}_{j} and b{l}_j the "
                    "weights of layer l, k/h the hidden pre-activations and sigmoids, o the "
                    "logits, y the probabilities, d... their gradients. Sigmoid hidden layers "
                    "only.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    un.add_argument("--inputs", type=positive_int, default=2, help="input units")
    un.add_argument("--classes", type=positive_int, default=2, help="output units (classes)")
    add_network_flags(un)
    un.add_argument("--losses", action="store_true",
                    help="include the line that records each sample's loss")


def _add_graph(sub) -> None:
    """The ``graph`` command and the computation graph's flags."""
    gr = sub.add_parser(
        "graph", help="draw the computation graph of one sample",
        description="Draw one sample's computation graph: inputs, weights, biases, k, h, o, y "
                    "and the loss as scalar nodes, each labelled with its value and its "
                    "gradient dl/d(node), each edge with its local derivative. Defaults to the "
                    "hand-out's worked example; networks with more than 60 scalar nodes are "
                    "refused. svg and png are rendered with Graphviz's dot program; without it "
                    "the .dot file is written and the command says how to render it.")
    add_sample_flags(gr)
    gr.add_argument("--format", choices=("svg", "png", "dot"), default=None,
                    help="output format (default: from the --out suffix, else svg)")
    gr.add_argument("--out", default=None, metavar="FILE",
                    help=f"output file (default: {DEFAULT_GRAPH})")


# --------------------------------------------------------------------------- the commands
def sample_from_args(args) -> tuple[dict, list[float], int]:
    """The weights, input and class that ``example`` and ``graph`` show, checked against each
    other; bad values raise ConfigError naming the flag."""
    from shared.weights import worked_example

    weights, x, c = worked_example()
    if args.weights:
        weights = read_weights(args.weights, "--weights")
        if args.x is None and weights["sizes"][0] != 2:
            raise ConfigError(f"--weights {args.weights}: the weights take "
                              f"{weights['sizes'][0]} inputs; give them with --x")
    if args.activation is not None:
        weights = {**weights, "activation": args.activation}
    x = list(args.x) if args.x is not None else x
    c = args.c if args.c is not None else c
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    if len(x) != n_in:
        raise ConfigError(f"--x has {len(x)} numbers, the network takes {n_in} inputs")
    if not 0 <= c < n_out:
        raise ConfigError(f"--c {c} is not a class of this network (0..{n_out - 1})")
    return weights, x, c


def run_example(args) -> int:
    from shared.weights import save_json

    from .example import explain

    weights, x, c = sample_from_args(args)
    print(explain(weights, x, c, decimals=args.decimals))
    if args.save_weights:
        save_json(weights, args.save_weights)
        print(f"\nwrote the weights to {args.save_weights}")
    return 0


def run_graph(args) -> int:
    from . import graph

    fmt = args.format
    suffix = os.path.splitext(args.out)[1].lstrip(".").lower() if args.out else ""
    if fmt is None:
        fmt = suffix if suffix in graph.FORMATS else "svg"
    elif suffix in graph.FORMATS and suffix != fmt:
        raise ConfigError(f"--out {args.out} ends in .{suffix} but --format is {fmt}")
    out = args.out or DEFAULT_GRAPH.replace("<format>", fmt)
    if os.path.isdir(out):
        raise ConfigError(f"--out {out}: is a folder; give a file name, e.g. "
                          f"{os.path.join(out, 'graph.' + fmt)}")
    weights, x, c = sample_from_args(args)
    try:
        graph.check_size(weights["sizes"])
    except ConfigError as e:
        raise ConfigError(f"--weights {args.weights}: {e}" if args.weights else str(e)) from None
    dot = graph.build(weights, x, c)
    check_output_dir(os.path.dirname(os.path.abspath(out)), flag="--out")
    path = graph.write(dot, out, fmt)
    print(f"wrote {path} ({graph.count_nodes(weights['sizes'])} scalar nodes)")
    return 0


def run_unrolled(args) -> int:
    from .unrolled import MAX_PARAMETERS, program

    if args.classes < 2:
        raise ConfigError(f"--classes {args.classes}: a softmax needs at least 2 classes")
    sizes = [args.inputs, *args.hidden, args.classes]
    n = count_parameters(sizes)
    if n > MAX_PARAMETERS:
        raise ConfigError(f"--inputs {args.inputs} --hidden {' '.join(map(str, args.hidden))} "
                          f"--classes {args.classes}: the network {sizes} has {n:,} parameters; "
                          f"the unrolled program is written out only up to {MAX_PARAMETERS:,} "
                          "(about three lines per parameter); choose smaller sizes")
    print(program(sizes, fused=args.backward == "fused", record_loss=args.losses), end="")
    return 0


def check_train_size(sizes: list[int], samples: int, val_samples: int) -> None:
    """Refuse, before anything is allocated, a network or data set this machine cannot hold:
    the network as Python floats (``shared.memory.estimate_network_bytes``) and the data both as
    numpy arrays (the loader) and as lists of Python floats (what stage 1 trains on)."""
    from shared.memory import (
        PYTHON_FLOAT_BYTES,
        check_fits,
        estimate_data_bytes,
        estimate_network_bytes,
    )

    check_fits(estimate_network_bytes(sizes, python_floats=True),
               f"the stage-1 network {sizes} (Python floats)", flag="--hidden")
    n = samples + val_samples
    data = estimate_data_bytes(n, sizes[0]) + estimate_data_bytes(n, sizes[0] + 1,
                                                                  PYTHON_FLOAT_BYTES)
    check_fits(data, f"{samples} training and {val_samples} validation samples as numpy arrays "
                     "and Python lists", flag="--samples / --val-samples")


def multiply_add_rate(seconds: float = 0.05) -> float:
    """Scalar multiply-adds per second of stage 1's own training step on this machine, now:
    steps of a 2-100-2 network (903 parameters) for about ``seconds``."""
    import random
    import time

    from shared.weights import init_weights

    from .network import backward, forward, sgd_update

    w = init_weights([2, 100, 2], random.Random(0))
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        grads, _ = backward(w, forward(w, [0.5, -0.5]), 0)
        sgd_update(w, grads, 0.01)
        steps += 1
    return 3 * count_parameters([2, 100, 2]) * steps / (time.perf_counter() - t0)


def check_train_work(sizes: list[int], epochs: int, samples: int, val_samples: int,
                     allow_long: bool = False, rate: float | None = None) -> float:
    """Estimate the run's time - per epoch ``3 P`` multiply-adds per training sample (forward,
    ``dW``, update) and ``P`` per validation sample, ``P`` the parameters, at
    :func:`multiply_add_rate` (or ``rate``) - and refuse a run over :data:`MAX_SECONDS` unless
    ``allow_long``. Returns the estimate in seconds."""
    P = count_parameters(sizes)
    work = epochs * (3 * P * samples + P * val_samples) + P * val_samples
    seconds = work / (rate or multiply_add_rate())
    if seconds > MAX_SECONDS and not allow_long:
        raise SizeError(f"the stage-1 network {sizes} ({P:,} parameters) would take about "
                        f"{_duration(seconds)} here ({work:.1e} scalar multiply-adds for "
                        f"{epochs} epoch(s) of {samples} samples); use a smaller --hidden (or "
                        "fewer --samples / --epochs), stage 2 / stage 3 for big networks, or "
                        "--allow-long to start it anyway")
    return seconds


def _duration(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours" if seconds < 2 * 86400 else f"{seconds / 86400:.0f} days"


def run_train(args) -> int:
    from shared.records import config_key

    from .train import train

    init = read_weights(args.init_weights, "--init-weights") if args.init_weights else None
    activation = args.activation or "sigmoid"
    if init is not None:
        held = activation_of(init)
        if args.activation is not None and args.activation != held:
            raise ConfigError(f"--activation {args.activation}, but --init-weights "
                              f"{args.init_weights} holds a {held} network")
        activation = held
    sizes = [2, *args.hidden, 2]
    if init is not None and list(init["sizes"]) != sizes:
        raise ConfigError(f"--init-weights {args.init_weights} has sizes {list(init['sizes'])}, "
                          f"the data and --hidden need {sizes}")
    if args.unrolled and activation != "sigmoid":
        raise ConfigError(f"--unrolled is written for sigmoid hidden layers only, not "
                          f"{activation}; leave out --unrolled to train through network.py")
    check_train_size(sizes, args.samples, args.val_samples)
    check_train_work(sizes, args.epochs, args.samples, args.val_samples, args.allow_long)
    key = config_key({k: v for k, v in vars(args).items()
                      if k not in ("out", "progress", "allow_long")})
    out = check_output_dir(args.out.replace("<config key>", key), flag="--out")
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    record = train(epochs=args.epochs, lr=args.lr, hidden=args.hidden, samples=args.samples,
                   val_samples=args.val_samples, seed=args.seed, out=out,
                   fused=args.backward == "fused", init=init, progress=progress,
                   plot=not args.no_plot, unrolled=args.unrolled, activation=activation)
    if record["status"] != "ok":
        raise DivergedError(record["error"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return run_train(args)
    if args.command == "unrolled":
        return run_unrolled(args)
    if args.command == "graph":
        return run_graph(args)
    if args.command is None:  # the bare command: the worked example with its defaults
        args = build_parser().parse_args(["example"])
    return run_example(args)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
