"""Compare one network's loss and gradients across the rungs of the ladder.

    python -m stage4_analysis.compare                       # the hand-out's 2-3-2 worked example
    python -m stage4_analysis.compare --sizes 5 7 6 4 --samples 3 --seed 1
    python -m stage4_analysis.compare --dataset mnist-sample --sizes 784 300 10 --samples 2
    python -m stage4_analysis.compare --weights w.json --dataset synth --json

Builds one network in the shared weight format (``shared/weights.py``), feeds the same samples to
stage 1 (pure Python), stage 2 (per-sample numpy), stage 3 (batched numpy) and, when it is
installed, PyTorch (float64 autograd), and prints a table per parameter: its shape and, for every
pair of implementations, the largest absolute difference and the relative error. The exit status
is 1 when any pair disagrees by more than ``--tol`` (relative), 0 otherwise.

Relative error of a pair of arrays ``a, b``: ``max|a - b| / max(max|a|, max|b|)`` (0 when both are
all zeros) — one number per parameter tensor, so an exactly-zero gradient (``dW`` in the worked
example) does not divide by zero and a tiny element does not dominate.

What it leaves out: it compares one forward/backward on fixed weights; training trajectories are
compared by the cross-stage tests (``tests/test_cross_stage.py``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Callable

import numpy as np

from shared import weights as wf

DEFAULT_TOL = 1e-12


# --------------------------------------------------------------------------- the implementations
def _stage1(weights, X, c):
    import stage1_scalar

    return stage1_scalar.loss_and_grads(wf.to_lists(weights), np.asarray(X).tolist(),
                                        [int(v) for v in c])


def _stage2(weights, X, c):
    import stage2_perinstance

    return stage2_perinstance.loss_and_grads(wf.to_arrays(weights), np.asarray(X, np.float64),
                                             np.asarray(c))


def _stage3(weights, X, c):
    import stage3_batched

    return stage3_batched.loss_and_grads(wf.to_arrays(weights), np.asarray(X, np.float64),
                                         np.asarray(c))


def torch_loss_and_grads(weights, X, c):
    """The same network in PyTorch float64 autograd: an independent oracle.

    ``X`` (N, D), ``c`` (N,) ints -> ``(loss, grads, dX)`` in the shared weight format.
    Raises ImportError when torch is not installed.
    """
    import torch

    params = []
    for layer in wf.to_arrays(weights)["layers"]:
        params.append((torch.tensor(layer["W"], requires_grad=True),
                       torch.tensor(layer["b"], requires_grad=True)))
    x = torch.tensor(np.asarray(X, np.float64), requires_grad=True)
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = torch.sigmoid(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(np.asarray(c), dtype=torch.long))
    loss.backward()
    grads = {"sizes": list(weights["sizes"]),
             "layers": [{"W": W.grad.numpy(), "b": b.grad.numpy()} for W, b in params]}
    return float(loss.item()), grads, x.grad.numpy()


def implementations(include_torch: bool = True) -> dict[str, Callable]:
    """Name -> ``loss_and_grads(weights, X, c)`` for every rung (and torch when importable)."""
    impls = {"stage1": _stage1, "stage2": _stage2, "stage3": _stage3}
    if include_torch:
        try:
            import torch  # noqa: F401

            impls["torch"] = torch_loss_and_grads
        except ImportError:
            pass
    return impls


# --------------------------------------------------------------------------- differences
def difference(a, b) -> dict:
    """``{"max_abs", "rel", "where"}`` for two same-shaped arrays (or nested lists).

    ``where`` is the index of the largest absolute difference.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = np.abs(a - b)
    if d.size == 0:
        return {"max_abs": 0.0, "rel": 0.0, "where": ()}
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(d)), d.shape))
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    max_abs = float(d[where])
    rel = 0.0 if max_abs == 0.0 else (max_abs / scale if scale > 0 else float("inf"))
    return {"max_abs": max_abs, "rel": rel, "where": where}


def named_tensors(grads, dX) -> dict[str, np.ndarray]:
    """Flatten one implementation's gradients into ``{"layer0.W": ..., ..., "input": dX}``."""
    out = {}
    for i, layer in enumerate(grads["layers"]):
        out[f"layer{i}.W"] = np.asarray(layer["W"], np.float64)
        out[f"layer{i}.b"] = np.asarray(layer["b"], np.float64)
    out["input"] = np.asarray(dX, np.float64)
    return out


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


# --------------------------------------------------------------------------- inputs
def build_problem(args) -> tuple[dict, np.ndarray, np.ndarray, str]:
    """The weights, samples ``X`` (N, D), classes ``c`` (N,) and a one-line description."""
    if args.weights:
        weights = wf.load_json(args.weights)
        where = f"weights from {args.weights}"
    elif args.sizes:
        weights = wf.init_weights(args.sizes, random.Random(args.seed))
        where = f"random weights, sizes {args.sizes}, seed {args.seed}"
    elif args.dataset is None:
        weights, x, c = wf.worked_example()
        return (weights, np.array([x]), np.array([c]),
                "the hand-out's 2-3-2 worked example (x = [1, -1], class 0)")
    else:
        weights = None
        where = ""
    if args.dataset:
        from shared.data import load_dataset

        (xtr, ytr), _, num_classes = load_dataset(args.dataset)
        if weights is None:
            sizes = [xtr.shape[1], 3, num_classes]
            weights = wf.init_weights(sizes, random.Random(args.seed))
            where = f"random weights, sizes {sizes}, seed {args.seed}"
        n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
        if xtr.shape[1] != n_in:
            raise SystemExit(f"error: {args.dataset} has {xtr.shape[1]} input features, "
                             f"the network's first layer takes {n_in}")
        if num_classes > n_out:
            raise SystemExit(f"error: {args.dataset} has {num_classes} classes, "
                             f"the network has {n_out} outputs")
        X, c = xtr[: args.samples], ytr[: args.samples]
        return weights, X, c, f"{where}; the first {len(X)} training samples of {args.dataset}"
    rng = random.Random(args.seed + 1)
    n_in, n_out = weights["sizes"][0], weights["sizes"][-1]
    X = np.array([[rng.gauss(0, 1) for _ in range(n_in)] for _ in range(args.samples)])
    c = np.array([rng.randrange(n_out) for _ in range(args.samples)])
    return weights, X, c, f"{where}; {args.samples} standard-normal samples (seed {args.seed + 1})"


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.compare",
        description="Run stages 1, 2, 3 (and PyTorch when installed) on the same weights and "
                    "samples and compare loss and gradients. Exit status 1 when any pair "
                    "differs by more than --tol (relative).")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="layer sizes, e.g. 5 7 6 4 (random weights from --seed); default: the "
                        "worked example 2-3-2")
    p.add_argument("--weights", metavar="FILE", help="a JSON weight file (shared/weights.py)")
    p.add_argument("--dataset", choices=["synth", "mnist-sample", "mnist", "fashion-mnist",
                                         "iris", "disc"],
                   help="take the samples from this data set (default: random inputs)")
    p.add_argument("--samples", type=int, default=2, help="number of samples (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"relative tolerance (default {DEFAULT_TOL:g})")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error(f"--samples must be >= 1, got {args.samples}")
    if args.sizes and args.weights:
        p.error("give --sizes or --weights, not both")
    if args.sizes and (len(args.sizes) < 2 or min(args.sizes) < 1):
        p.error(f"--sizes needs at least two positive sizes, got {args.sizes}")
    weights, X, c, where = build_problem(args)
    if len(c) and (min(c) < 0 or max(c) >= weights["sizes"][-1]):
        p.error(f"class labels must lie in [0, {weights['sizes'][-1]}), got {sorted(set(c))}")
    impls = implementations(include_torch=not args.no_torch)
    report = compare(weights, X, c, impls, tol=args.tol)
    report["problem"] = where
    report["implementations"] = list(impls)
    if args.json:
        print(json.dumps(report, indent=1, default=list))
    else:
        missing = "" if "torch" in impls or args.no_torch else " (torch not installed)"
        print(f"{where}\nimplementations: {', '.join(impls)}{missing}\n")
        print(format_table(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
