"""Compare one network's loss and gradients across the rungs of the ladder.

    python -m stage4_analysis.compare                       # the hand-out's 2-3-2 worked example
    python -m stage4_analysis.compare --sizes 5 7 6 4 --samples 3 --seed 1 --activation tanh
    python -m stage4_analysis.compare --dataset mnist-sample --sizes 784 300 10 --samples 2
    python -m stage4_analysis.compare --weights runs/stage3/<run>/model.npz --dataset mnist-sample
    python -m stage4_analysis.compare --rung my_rung.py     # your own rung: see rungcheck.py

Builds one network in the shared weight format (``shared/weights.py``; ``problems.py`` makes it
from the flags), feeds the same samples to stage 1 (pure Python), stage 2 (per-sample numpy),
stage 3 (batched numpy) and, when it is installed, PyTorch (float64 autograd) (``rungs.py``),
and prints a table per parameter: its shape and, for every pair of implementations, the largest
absolute difference and the relative error. The exit status is 1 when any pair disagrees by more
than ``--tol`` (relative), 0 otherwise. The hidden activation (sigmoid, relu, tanh or leaky_relu)
is the weights' ``"activation"`` (``--activation`` sets it) and reaches every rung inside the
weights. ``--rung`` hands the command to :mod:`stage4_analysis.rungcheck`.

What it leaves out: it compares one forward/backward on fixed weights; training trajectories of
the rungs are compared by ``tests/test_cross_stage.py``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable

from shared import weights as wf
from shared.cli import nonnegative_int, positive_int
from shared.data import DATASETS
from shared.errors import ConfigError, run_main
from stage4_analysis.problems import WRITERS, build_problem, check_problem_flags
from stage4_analysis.rungs import difference, implementations, named_tensors

DEFAULT_TOL = 1e-12


def compare(weights, X, c, impls: dict[str, Callable], tol: float = DEFAULT_TOL) -> dict:
    """Run every implementation on the same weights and samples and compare every pair.

    Returns ``{"losses": {impl: loss}, "tensors": {name: {"shape", "pairs": {"a~b": diff}}},
    "loss_pairs": {"a~b": diff}, "worst": {...}, "ok": bool, "tol": tol}``.
    """
    results = {name: fn(weights, X, c) for name, fn in impls.items()}
    losses = {name: float(r[0]) for name, r in results.items()}
    tensors = {name: named_tensors(r[1], r[2]) for name, r in results.items()}
    report = {"losses": losses, "tensors": {}, "loss_pairs": {}, "tol": tol}
    worst = {"rel": 0.0, "pair": None, "tensor": None, "where": ()}
    pairs = list(itertools.combinations(impls, 2))
    for a, b in pairs:
        report["loss_pairs"][f"{a}~{b}"] = difference(losses[a], losses[b])
    first = next(iter(tensors.values()))
    for tname, arr in first.items():
        entry = {"shape": list(arr.shape), "pairs": {}}
        for a, b in pairs:
            d = difference(tensors[a][tname], tensors[b][tname])
            entry["pairs"][f"{a}~{b}"] = d
            if d["rel"] > worst["rel"]:
                worst = {"rel": d["rel"], "pair": f"{a}~{b}", "tensor": tname,
                         "where": d["where"]}
        report["tensors"][tname] = entry
    for pair, d in report["loss_pairs"].items():
        if d["rel"] > worst["rel"]:
            worst = {"rel": d["rel"], "pair": pair, "tensor": "loss", "where": ()}
    report["worst"] = worst
    report["ok"] = worst["rel"] <= tol
    return report


def format_table(report: dict) -> str:
    """One small table per parameter (and the input): a row per pair of implementations."""
    lines = ["loss  " + "  ".join(f"{k}: {v:.12g}" for k, v in report["losses"].items())]
    if report["loss_pairs"]:
        worst = max(report["loss_pairs"].items(), key=lambda kv: kv[1]["rel"])
        lines.append(f"      largest loss difference {worst[1]['max_abs']:.3e} ({worst[0]})")
    for tname, entry in report["tensors"].items():
        shape = "x".join(map(str, entry["shape"])) or "scalar"
        lines += ["", f"{tname} ({shape})", f"  {'pair':<18} {'max|Δ|':>10} {'rel':>10}  where"]
        for pair, d in entry["pairs"].items():
            a, b = pair.split("~")
            lines.append(f"  {a + ' ~ ' + b:<18} {d['max_abs']:>10.2e} {d['rel']:>10.2e}  "
                         f"{d['where']}")
    w = report["worst"]
    verdict = "agree" if report["ok"] else "DISAGREE"
    lines += ["", f"largest relative error {w['rel']:.2e} ({w['pair']}, {w['tensor']} at "
                  f"{w['where']}); tolerance {report['tol']:.0e}: the implementations {verdict}"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.compare",
        description="Run stages 1, 2, 3 (and PyTorch when installed) on the same weights and "
                    "samples and compare loss and gradients. Exit status 1 when anything differs "
                    "by more than --tol (relative), 2 for bad input. To check your own rung "
                    "(a loss_and_grads file, or your course's files): --rung PATH [--course "
                    "NAME], see python -m stage4_analysis.rungcheck --help.",
        epilog=WRITERS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="layer sizes, e.g. 5 7 6 4 (random weights from --seed); default: the "
                        "worked example 2-3-2")
    p.add_argument("--weights", metavar="FILE",
                   help="a weights JSON file or a stage-3 model.npz (see below for the commands "
                        "that write them)")
    p.add_argument("--activation", choices=wf.ACTIVATIONS,
                   help="hidden activation of the network (default: the weights file's, else "
                        "sigmoid)")
    p.add_argument("--dataset", choices=DATASETS,
                   help="take the samples from this data set (default: random inputs)")
    p.add_argument("--samples", type=positive_int, default=2,
                   help="number of samples (default 2)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed for weights and inputs (default 0)")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"relative tolerance (default {DEFAULT_TOL:g})")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--rung" or a.startswith("--rung=") for a in argv):
        from stage4_analysis import rungcheck

        return rungcheck.main(argv)
    for flag in ("--lists", "--course"):
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            raise ConfigError(f"{flag} applies only with --rung")
    p = parser()
    args = p.parse_args(argv)
    check_problem_flags(p, args)
    weights, X, c, where = build_problem(args)
    if len(c) and (min(c) < 0 or max(c) >= weights["sizes"][-1]):
        p.error(f"class labels must lie in [0, {weights['sizes'][-1]}), got {sorted(set(c))}")
    impls = implementations(include_torch=not args.no_torch)
    report = compare(weights, X, c, impls, tol=args.tol)
    report.update(problem=where, activation=wf.activation_of(weights), implementations=list(impls))
    if args.json:
        print(json.dumps(report, indent=1, default=list))
    else:
        missing = "" if "torch" in impls or args.no_torch else " (torch not installed)"
        print(f"{where}\nimplementations: {', '.join(impls)}{missing}\n")
        print(format_table(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(run_main(main))
