"""Speed of stage 2 against PyTorch at batch size 1: training samples per second.

Adds over the training code: nothing but a stopwatch. Every variant trains the same network
(784-300 (sigmoid)-10 (softmax) by default) from the same initial weights on the same samples in
the same order, in the same dtype, one SGD step per sample:

* ``torch``: ``nn.Sequential(Linear, Sigmoid, Linear)``, ``F.cross_entropy``, ``optim.SGD``, one
  sample per step, ``torch.set_num_threads(1)`` (its fastest setting at batch size 1);
* ``stage2 readable``: ``stage2_perinstance.sgd_train`` (``forward``, ``backward`` with
  ``np.outer`` gradients, ``W -= lr * dW``), the code the README explains;
* ``stage2 in-place``: :class:`stage2_perinstance.fast.InPlaceSGD`, what ``fit`` uses on dense
  inputs (same arithmetic, fewer passes over memory);
* ``stage2 in-place, skip zero inputs``: the same with the first layer restricted to the rows of
  nonzero inputs, what ``fit`` uses on MNIST (about 81% of its pixels are exactly 0).

Repeats are interleaved (A B C D A B C D ...), each on a fresh copy of the weights, after one
untimed warm-up pass per variant; the report gives the median and min/max samples/s and the ratio
of medians against torch. numpy runs at its BLAS library's own thread setting (stated in the
output; ``numpy_threads`` changes it for the run when the library allows). As a check that the
variants compute the same thing, each reports the largest difference of its final weights from
the readable variant's.

    python -m stage4_analysis.speed.stage2                   # float64 and float32, ~1 minute
    python -m stage4_analysis.speed.stage2 --quick --json out.json

What it leaves out: stage 3's batched training (``stage4_analysis`` compares the whole ladder).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.threads import blas_threads
from stage2_perinstance.fast import InPlaceSGD
from stage2_perinstance.network import as_arrays, init_weights, sgd_train

VARIANTS = ("torch", "stage2 readable", "stage2 in-place", "stage2 in-place, skip zero inputs")


# --------------------------------------------------------------------------- BLAS threads
@contextlib.contextmanager
def numpy_threads(n: int | None):
    """Run the block with numpy's BLAS at ``n`` threads (None: leave it); restores the old value
    (``shared.threads.limited``)."""
    if n is None:
        yield
        return
    from shared.threads import limited

    with limited(int(n)):
        yield


# --------------------------------------------------------------------------- data
def bench_data(n: int, n_in: int = 784, n_out: int = 10, seed: int = 0):
    """``(X (n, n_in) float64, c (n,) int64, source)``: the first n training images of the shipped
    MNIST sample when ``n_in`` is 784 and it loads (cycled when n is larger), otherwise uniform
    random inputs in [0, 1) with random classes (``source`` says which)."""
    if n_in == 784 and n_out == 10:
        try:
            from shared.data import load_dataset

            (X, c), _, _ = load_dataset("mnist-sample")
            idx = np.arange(n) % len(X)
            return X[idx], c[idx], "mnist-sample (real MNIST digits)"
        except Exception as e:  # noqa: BLE001 - any failure: say so and use random data
            note = f"mnist-sample unavailable ({type(e).__name__}: {e}); "
    else:
        note = ""
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_in)), rng.integers(0, n_out, n),
            note + "random uniform inputs (dense: skipping zero inputs gains nothing)")


# --------------------------------------------------------------------------- the runners
# Each runner: setup(w0, X, c, lr) -> (train, result). ``train()`` is the timed part (one SGD
# step per sample over X); ``result()`` returns the final weights (untimed). Set-up (copying
# weights, building the torch modules) is not timed.

def _setup_readable(w0, X, c, lr):
    out = {}

    def train():
        out["w"] = sgd_train(w0, X, c, lr, batch_size=1)
    return train, lambda: out["w"]


def _setup_inplace(skip: bool):
    def setup(w0, X, c, lr):
        w = as_arrays(w0)
        opt = InPlaceSGD(w, lr, skip_zero_inputs=skip)

        def train():
            for n in range(len(X)):
                opt.step(X[n], int(c[n]))
        return train, lambda: w
    return setup


def _torch_modules(torch, w0: dict) -> list:
    """torch Linear and Sigmoid modules holding the weights ``w0`` (copied, transposed)."""
    tdt = {np.dtype("float64"): torch.float64,
           np.dtype("float32"): torch.float32}[w0["layers"][0]["W"].dtype]
    mods = []
    for i, layer in enumerate(w0["layers"]):
        lin = torch.nn.Linear(*layer["W"].shape, dtype=tdt)
        with torch.no_grad():  # torch stores (out, in): the transpose of ours
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer["W"].T)))
            lin.bias.copy_(torch.from_numpy(layer["b"]))
        mods.append(lin)
        if i < len(w0["layers"]) - 1:
            mods.append(torch.nn.Sigmoid())
    return mods


def _torch_setup():
    """The set-up function of the torch variant, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None

    def setup(w0, X, c, lr):
        mods = _torch_modules(torch, w0)
        net = torch.nn.Sequential(*mods)
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        Xt = torch.from_numpy(X)
        ct = torch.from_numpy(np.asarray(c, dtype=np.int64))
        loss_fn = torch.nn.functional.cross_entropy

        def train():
            old = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for n in range(len(X)):
                    opt.zero_grad()
                    loss = loss_fn(net(Xt[n:n + 1]), ct[n:n + 1])
                    loss.backward()
                    opt.step()
            finally:
                torch.set_num_threads(old)

        def result():
            lins = [m for m in mods if isinstance(m, torch.nn.Linear)]
            return {"sizes": list(w0["sizes"]),
                    "layers": [{"W": m.weight.detach().numpy().T.copy(),
                                "b": m.bias.detach().numpy().copy()} for m in lins]}
        return train, result
    return setup


def _max_diff(wa: dict, wb: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(la[k], dtype=np.float64)
                                   - np.asarray(lb[k], dtype=np.float64))))
               for la, lb in zip(wa["layers"], wb["layers"]) for k in ("W", "b"))


# --------------------------------------------------------------------------- the benchmark
def bench_vs_torch(dtype: str = "float64", samples: int = 2000, repeats: int = 5,
                   sizes=(784, 300, 10), lr: float = 0.01, seed: int = 0,
                   variants=VARIANTS, numpy_threads_n: int | None = None,
                   warmup: int = 200) -> dict:
    """Training samples/s of each variant, interleaved; returns a JSON-ready dict::

        {"dtype", "sizes", "samples", "repeats", "data", "lr",
         "threads": {"numpy_blas": n or None, "torch": 1 or None, "cpu_count": ...},
         "rows": [{"name", "available", "note", "samples_per_s": [per repeat],
                   "median", "min", "max", "ratio_vs_torch", "max_weight_diff_vs_readable"}]}

    ``samples``: samples per timed pass (each repeat trains on the same ones from the same
    weights); ``numpy_threads_n``: numpy's BLAS threads during the run (None: its own setting).
    """
    dtype = np.dtype(dtype)
    sizes = [int(n) for n in sizes]
    X, c, source = bench_data(samples, sizes[0], sizes[-1], seed)
    X = X.astype(dtype)
    w0 = init_weights(sizes, np.random.default_rng(seed), dtype=dtype)
    runners = _runners()
    unknown = [v for v in variants if v not in runners]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(runners)}")
    rows = {v: {"name": v, "available": runners[v] is not None, "note": None,
                "samples_per_s": []} for v in variants}
    if runners.get("torch") is None and "torch" in rows:
        rows["torch"]["note"] = "torch is not installed (pip install torch): no comparison"
    with numpy_threads(numpy_threads_n):
        threads = {"numpy_blas": blas_threads(),
                   "torch": 1 if runners["torch"] is not None else None,
                   "cpu_count": os.cpu_count(),
                   "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                   "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
        finals = _timed_passes(runners, variants, rows, (w0, X, c, lr), repeats, warmup)
    _summarise(rows, finals)
    return {"dtype": str(dtype), "sizes": sizes, "samples": len(X), "repeats": repeats,
            "lr": lr, "data": source, "threads": threads, "numpy_threads_set": numpy_threads_n,
            "rows": list(rows.values())}


def _runners() -> dict[str, Callable | None]:
    """Each variant's set-up function (None: torch is not installed)."""
    return {"torch": _torch_setup(), "stage2 readable": _setup_readable,
            "stage2 in-place": _setup_inplace(False),
            "stage2 in-place, skip zero inputs": _setup_inplace(True)}


def _timed_passes(runners, variants, rows, problem, repeats: int, warmup: int) -> dict:
    """A warm-up pass each, then ``repeats`` interleaved timed passes; appends samples/s to
    ``rows`` and returns each variant's final weights."""
    w0, X, c, lr = problem
    finals: dict[str, dict] = {}
    for v in variants:  # warm-up: caches, lazy imports, torch's first-call costs
        if runners[v] is not None:
            runners[v](w0, X[:warmup], c[:warmup], lr)[0]()
    for _ in range(repeats):
        for v in variants:
            if runners[v] is None:
                continue
            train, result = runners[v](w0, X, c, lr)
            t0 = time.perf_counter()
            train()
            dt = time.perf_counter() - t0
            rows[v]["samples_per_s"].append(len(X) / dt)
            finals[v] = result()
    return finals


def _summarise(rows: dict, finals: dict) -> None:
    """Median, min, max, the ratio to torch and the weights' distance from the readable path."""
    for row in rows.values():
        s = row["samples_per_s"]
        row["median"] = statistics.median(s) if s else None
        row["min"] = min(s) if s else None
        row["max"] = max(s) if s else None
    t_med = rows.get("torch", {}).get("median")
    for v, row in rows.items():
        row["ratio_vs_torch"] = (row["median"] / t_med) if (t_med and row["median"]) else None
        ref = finals.get("stage2 readable")
        row["max_weight_diff_vs_readable"] = (
            _max_diff(finals[v], ref) if (ref is not None and v in finals) else None)


def format_result(res: dict) -> str:
    """A text table of one :func:`bench_vs_torch` result."""
    th = res["threads"]
    how = "numpy's own setting" if res.get("numpy_threads_set") is None else "set for this run"
    lines = [f"{res['dtype']}, sizes {res['sizes']}, {res['samples']} samples x "
             f"{res['repeats']} interleaved repeats, data: {res['data']}",
             f"threads: numpy BLAS {th['numpy_blas'] if th['numpy_blas'] is not None else '?'}"
             f" ({how}), "
             f"torch {th['torch'] if th['torch'] else '-'}, {th['cpu_count']} CPUs",
             f"  {'variant':36s} {'median/s':>9s} {'min/s':>9s} {'max/s':>9s} "
             f"{'x torch':>8s} {'max|dW| vs readable':>20s}"]
    for r in res["rows"]:
        if not r["samples_per_s"]:
            lines.append(f"  {r['name']:36s} {'-':>9s}  {r['note'] or 'not run'}")
            continue
        ratio = f"{r['ratio_vs_torch']:.2f}" if r["ratio_vs_torch"] is not None else "-"
        diff = (f"{r['max_weight_diff_vs_readable']:.1e}"
                if r["max_weight_diff_vs_readable"] is not None else "-")
        lines.append(f"  {r['name']:36s} {r['median']:9.0f} {r['min']:9.0f} {r['max']:9.0f} "
                     f"{ratio:>8s} {diff:>20s}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.speed.stage2",
        description="Training samples/s of stage 2 (one SGD step per sample) side by side with "
                    "PyTorch at batch size 1 (one thread), same network, samples, weights and "
                    "dtype; interleaved repeats, median and min/max, ratio of medians.")
    p.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    p.add_argument("--samples", type=int, default=2000, help="samples per timed pass (2000)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (5)")
    p.add_argument("--hidden", type=int, default=300, help="hidden layer size (300)")
    p.add_argument("--numpy-threads", type=int, default=None, metavar="N",
                   help="numpy BLAS threads during the run (default: numpy's own setting)")
    p.add_argument("--quick", action="store_true", help="300 samples x 2 repeats")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    from shared.errors import check_output_dir
    from shared.threads import blas_library, kernel_lines

    p = _parser()
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = 300, 2
    if args.samples < 1 or args.repeats < 1 or args.hidden < 1:
        p.error(f"--samples, --repeats and --hidden must be >= 1, got {args.samples}, "
                f"{args.repeats}, {args.hidden}")
    if args.json:
        check_output_dir(Path(args.json).parent, flag="--json")   # before any timing
    print("\n".join(kernel_lines(blas_library())))
    results = []
    for dt in ("float64", "float32") if args.dtype == "both" else (args.dtype,):
        try:
            res = bench_vs_torch(dt, samples=args.samples, repeats=args.repeats,
                                 sizes=(784, args.hidden, 10), seed=0,
                                 numpy_threads_n=args.numpy_threads,
                                 warmup=min(200, args.samples))
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        results.append(res)
        print(format_result(res) + "\n", flush=True)
    if args.json:
        from shared.records import atomic_write_json, library_versions

        atomic_write_json(args.json, {"benchmark": "stage2_vs_torch_batch1",
                                      "versions": library_versions(), "results": results})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
