"""Speed and memory of one stage-3 training epoch, side by side with PyTorch (a benchmark, not a
test): ``python -m stage4_analysis.speed.stage3`` or :func:`benchmark` from Python.

The network is the VU hand-out's MNIST network, 784 -> 300 (sigmoid) -> 10 (softmax
cross-entropy), trained with plain SGD for one epoch over 60,000 MNIST-shaped samples (random
data of that shape: the speed does not depend on the values) at batch sizes 128 and 32, in
float32 and float64. For every setting it reports:

* seconds per epoch of the stage-3 trainer (:func:`stage3_batched.fit`: reshuffle, gather,
  forward, loss, backward, SGD step, per-step loss log, running accuracy) and of PyTorch on the
  CPU (default threads) doing the same network on the same batches (same permutation, gathered
  the same way, ``cross_entropy``, ``torch.optim.SGD``) - repeats interleaved (stage 3, torch,
  torch, stage 3, ...) so both see the same machine load; median, min and max;
* seconds per epoch of the opt-in fast epoch (``fit(..., epoch=train_epoch_fast)``,
  :mod:`stage3_batched.fast`) on the same batches, interleaved with the other two, and the
  plain / fast ratio of the medians with its range over the repeats (each repeat's plain epoch
  divided by the fast epoch of the same repeat);
* the ratio stage 3 / torch of the medians (targets: <= 0.8 in float32, <= 1.0 in float64), and
  of the minima (each library's best epoch, the least disturbed by other jobs);
* the GEMM-bound limit: the epoch's matrix-product FLOPs divided by the peak numpy matmul rate
  (the best of 2048 x 2048 products measured before and after the timings), and the fraction of
  it the median (and the best) epoch reaches (target >= 55%); also the rate numpy reaches on the
  epoch's own matrix shapes, for context;
* the peak resident memory of a fresh process running one stage-3 epoch against the data set's
  size in floats (target <= 1.5 x data + 100 MB).

Timings on a shared machine are noisy: the median of interleaved repeats is the figure to quote,
min/max show the spread. Leaves out: GPUs, other network sizes (stage 4 sweeps those).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from shared.threads import blas_library, blas_threads, set_threads

SIZES = (784, 300, 10)
N_SAMPLES = 60_000
LR = 0.1


def make_data(n: int = N_SAMPLES, dtype="float32", seed: int = 0):
    """MNIST-shaped random data: X (n, 784) in [0, 1) made directly in ``dtype`` (no float64
    temporary), labels (n,) in 0..9."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, SIZES[0]), dtype=np.dtype(dtype))
    y = rng.integers(0, SIZES[-1], n)
    return X, y


def epoch_flops(n: int = N_SAMPLES, batch_size: int = 128, sizes=SIZES) -> int:
    """Matrix-product FLOPs of one training epoch (2 per multiply-add): per batch of b rows,
    forward ``X W1``, ``h W2``; backward ``X^T dZ1``, ``h^T dO``, and ``dO W2^T`` (the input
    gradient of the first layer is not computed, by stage 3 or by torch)."""
    d, h, k = sizes
    per_row = 2 * (d * h + h * k) + 2 * (d * h + h * k) + 2 * (k * h)
    return per_row * n                                  # linear in the rows, whatever batching


def build_stage3(dtype, seed: int = 0):
    from stage3_batched import MLP, SGD, SoftmaxCrossEntropy

    model = MLP(SIZES[0], [SIZES[1]], SIZES[2], "sigmoid", init="xavier",
                rng=np.random.default_rng(seed), dtype=np.dtype(dtype))
    opt = SGD(model.parameters(), model.gradients(), lr=LR)
    return model, SoftmaxCrossEntropy(), opt


def stage3_epoch(setup, X, y, batch_size: int, seed: int, epoch=None) -> float:
    """Seconds for one epoch of :func:`stage3_batched.fit` (no validation, no progress bar),
    trained by ``epoch`` (default: the plain ``train_epoch``)."""
    from stage3_batched import fit
    from stage3_batched.trainer import train_epoch

    model, loss, opt = setup
    t = time.perf_counter()
    hist = fit(model, loss, opt, (X, y), epochs=1, batch_size=batch_size,
               rng=np.random.default_rng(seed), progress=False, epoch=epoch or train_epoch)
    elapsed = time.perf_counter() - t
    if hist.status != "ok":
        raise RuntimeError(hist.message)
    return elapsed


def fast_epoch(setup, X, y, batch_size: int, seed: int) -> float:
    """Seconds for the same epoch through the opt-in ``stage3_batched.fast.train_epoch_fast``."""
    from stage3_batched.fast import train_epoch_fast

    return stage3_epoch(setup, X, y, batch_size, seed, epoch=train_epoch_fast)


def build_torch(dtype, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    net = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(),
                              torch.nn.Linear(SIZES[1], SIZES[2])).to(tdtype)
    return net, torch.optim.SGD(net.parameters(), lr=LR)


def torch_epoch(setup, X, y, batch_size: int, seed: int) -> float:
    """Seconds for the same epoch in PyTorch: the same permutation (the same generator seed),
    each batch gathered from the whole data set, forward, cross_entropy, backward, SGD step, and
    the loss read back as a Python float every step (as the stage-3 trainer logs it)."""
    import torch
    import torch.nn.functional as F

    net, opt = setup
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    n = len(X)
    t = time.perf_counter()
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    for s in range(0, n, batch_size):
        idx = perm[s:s + batch_size]
        xb, yb = tX.index_select(0, idx), ty.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        loss.item()
    return time.perf_counter() - t


def peak_matmul_gflops(dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best observed numpy matmul rate (GFLOP/s) on an n x n product."""
    rng = np.random.default_rng(0)
    A = rng.random((n, n), dtype=np.dtype(dtype))
    B = rng.random((n, n), dtype=np.dtype(dtype))
    C = A @ B                                           # warm-up (threads, caches)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(A, B, out=C)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def shaped_matmul_gflops(dtype, batch_size: int = 128, repeats: int = 3,
                         batches: int = 100) -> float:
    """The numpy matmul rate on the epoch's own shapes (the five products of a training step
    with ``batch_size`` rows), best of ``repeats`` runs of ``batches`` steps."""
    rng = np.random.default_rng(0)
    d, h, k = SIZES
    dt = np.dtype(dtype)
    X, W1, W2 = (rng.random(s, dtype=dt) for s in ((batch_size, d), (d, h), (h, k)))
    Z, O = X @ W1, (X @ W1) @ W2
    dW1, dW2 = np.empty_like(W1), np.empty_like(W2)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(batches):
            np.matmul(X, W1, out=Z)
            np.matmul(Z, W2, out=O)
            np.matmul(Z.T, O, out=dW2)
            dh = O @ W2.T
            np.matmul(X.T, dh, out=dW1)
        best = min(best, time.perf_counter() - t)
    return epoch_flops(batch_size * batches, batch_size) / best / 1e9


def _vm_hwm_mb() -> float:
    """Peak resident set size of this process image in MB (Linux ``VmHWM``). Not
    ``getrusage``: Linux carries ``ru_maxrss`` over from the parent across fork + exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


def _memory_child(dtype: str, batch_size: int, n: int) -> dict:
    """Run in a fresh process: make the data, train one epoch, report peak RSS (MB)."""
    base = _vm_hwm_mb()
    X, y = make_data(n, dtype)
    setup = build_stage3(dtype)
    stage3_epoch(setup, X, y, batch_size, seed=0)
    return {"baseline_mb": base, "peak_mb": _vm_hwm_mb(),
            "data_mb": (X.nbytes + y.nbytes) / 2**20, "float_data_mb": X.nbytes / 2**20}


def peak_memory(dtype: str = "float32", batch_size: int = 128, n: int = N_SAMPLES) -> dict:
    """Peak RSS of a fresh Python process that makes the data set and trains one stage-3 epoch
    on it, with the float data size and the target ``1.5 x float data + 100 MB`` (Linux only:
    it reads ``/proc/self/status``)."""
    code = ("import json, sys; from stage4_analysis.speed.stage3 import _memory_child; "
            f"print(json.dumps(_memory_child({dtype!r}, {batch_size}, {n})))")
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=root)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["limit_mb"] = 1.5 * res["float_data_mb"] + 100
    res["ok"] = res["peak_mb"] <= res["limit_mb"]
    return res


def _stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": list(xs)}


def benchmark(batch_sizes=(128, 32), dtypes=("float32", "float64"), repeats: int = 5,
              n: int = N_SAMPLES, with_torch: bool = True, memory: bool = True,
              log=print, with_fast: bool = True) -> dict:
    """Run the whole benchmark and return its numbers as plain data (see the module docstring).

    ``results[dtype][batch_size]`` holds ``stage3``, ``fast`` and ``torch`` ({median, min, max,
    all} seconds per epoch), ``ratio`` (stage-3 median / torch median), ``fast_speedup`` (stage-3
    median / fast median) with ``fast_speedup_range`` (its [min, max] over the repeats),
    ``gemm_bound_s``, ``gemm_fraction`` (GEMM-bound time / stage-3 median) and ``shaped_gflops``.
    ``torch`` is None in the result when PyTorch is not installed (nothing of it is measured).
    """
    out = _environment(n, repeats)
    with_torch = with_torch and out["torch"] is not None
    for dtype in dtypes:
        X, y = make_data(n, dtype)
        peak = peak_matmul_gflops(dtype)
        out["results"][dtype] = {}
        for bs in batch_sizes:
            times = _interleaved(_contenders(dtype, with_torch, with_fast), X, y, bs, repeats)
            # the peak again, after the timings: a busy machine only ever lowers it, so the best
            # of all measurements is the honest (least flattering) GEMM bound
            peak = max(peak, peak_matmul_gflops(dtype))
            out["results"][dtype][bs] = _row(times, epoch_flops(n, bs), dtype, bs)
        out["results"][dtype]["peak_gflops"] = peak
        for bs in batch_sizes:
            row = out["results"][dtype][bs]
            row["gemm_bound_s"] = row["flops"] / (peak * 1e9)
            row["gemm_fraction"] = row["gemm_bound_s"] / row["stage3"]["median"]
            row["gemm_fraction_best"] = row["gemm_bound_s"] / row["stage3"]["min"]
            log(format_row(dtype, bs, row))
        if memory:
            out["memory"][dtype] = peak_memory(dtype, batch_sizes[0], n)
            log(format_memory(dtype, out["memory"][dtype]))
        del X, y
    return out


def _environment(n: int, repeats: int) -> dict:
    """The result's header: sizes, libraries (torch None when not installed), threads, load."""
    try:
        import torch
        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:
        torch_version, threads = None, None
    return {"n": n, "sizes": list(SIZES), "repeats": repeats, "torch": torch_version,
            "torch_threads": threads, "numpy": np.__version__, "cpus": os.cpu_count(),
            "blas_threads": blas_threads(), "blas": blas_library(),
            "load_average": os.getloadavg(), "results": {}, "memory": {}}


def _contenders(dtype, with_torch: bool, with_fast: bool) -> dict:
    """``{name: (setup, epoch function)}``: the plain trainer first, then the fast epoch and
    PyTorch, each with its own freshly built network."""
    out = {"stage3": (build_stage3(dtype), stage3_epoch)}
    if with_fast:
        out["fast"] = (build_stage3(dtype), fast_epoch)
    if with_torch:
        out["torch"] = (build_torch(dtype), torch_epoch)
    return out


def _interleaved(contenders: dict, X, y, batch_size: int, repeats: int) -> dict:
    """``{name: [seconds per repeat]}``: a warm-up epoch each on 4,096 rows, then ``repeats``
    rounds in which every contender trains one epoch, in a rotating order (so all see the same
    machine load)."""
    for setup, epoch in contenders.values():
        epoch(setup, X[:4096], y[:4096], batch_size, seed=99)
    names = list(contenders)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            setup, epoch = contenders[name]
            times[name].append(epoch(setup, X, y, batch_size, seed=r))
    return times


def _row(times: dict, flops: int, dtype, batch_size: int) -> dict:
    row = {"stage3": _stats(times["stage3"]), "flops": flops,
           "shaped_gflops": shaped_matmul_gflops(dtype, batch_size)}
    if "fast" in times:
        row["fast"] = _stats(times["fast"])
        row["fast_speedup"] = row["stage3"]["median"] / row["fast"]["median"]
        per_round = [p / f for p, f in zip(times["stage3"], times["fast"])]
        row["fast_speedup_range"] = [min(per_round), max(per_round)]
    if "torch" in times:
        row["torch"] = _stats(times["torch"])
        row["ratio"] = row["stage3"]["median"] / row["torch"]["median"]
        row["ratio_of_minima"] = row["stage3"]["min"] / row["torch"]["min"]
    return row


def format_memory(dtype, m: dict) -> str:
    return (f"{dtype}: peak RSS {m['peak_mb']:.0f} MB (interpreter + numpy "
            f"{m['baseline_mb']:.0f} MB) for {m['float_data_mb']:.0f} MB of float data; "
            f"limit 1.5 x data + 100 = {m['limit_mb']:.0f} MB: {'ok' if m['ok'] else 'OVER'}")


def format_row(dtype, bs, row) -> str:
    s = row["stage3"]
    text = (f"{dtype} batch {bs:>3}: stage 3 {s['median']:.3f} s/epoch "
            f"[{s['min']:.3f}-{s['max']:.3f}]")
    if "fast" in row:
        lo, hi = row["fast_speedup_range"]
        text += (f" | --fast {row['fast']['median']:.3f}: {row['fast_speedup']:.2f}x faster "
                 f"({lo:.2f}-{hi:.2f}x)")
    if "torch" in row:
        t = row["torch"]
        text += (f" | torch {t['median']:.3f} [{t['min']:.3f}-{t['max']:.3f}]"
                 f" | ratio {row['ratio']:.2f} (of minima {row['ratio_of_minima']:.2f})")
    text += (f" | GEMM-bound {row['gemm_bound_s']:.3f} s, reached "
             f"{100 * row['gemm_fraction']:.0f}% (best epoch "
             f"{100 * row['gemm_fraction_best']:.0f}%; numpy on these shapes "
             f"{row['shaped_gflops']:.0f} GFLOP/s)")
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stage4_analysis.speed.stage3",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    p.add_argument("--dtypes", nargs="+", choices=["float32", "float64"],
                   default=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats per setting")
    p.add_argument("--n", type=int, default=N_SAMPLES, help="samples per epoch")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--no-fast", action="store_true", help="skip the opt-in fast epoch")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--threads", type=int, default=None,
                   help="run numpy's BLAS and torch with this many threads (default: each "
                        "library's own default, all cores); 1 gives a comparison that a busy "
                        "machine disturbs much less")
    p.add_argument("--out", type=Path, default=Path("runs/stage3/benchmark.json"),
                   help="where to write the results as a run record")
    return p


def _checked_args(p: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """The arguments, every count and the output path checked before any timing."""
    from shared.errors import check_output_dir

    args = p.parse_args(argv)
    if args.repeats < 1 or args.n < 1 or min(args.batch_sizes) < 1:
        p.error("--repeats, --n and every batch size must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    check_output_dir(args.out.parent, flag="--out")    # before any timing, not after
    if args.out.is_dir():
        p.error(f"--out {args.out}: is a folder; give the record's file name (.json)")
    return args


def _use_threads(threads: int | None) -> None:
    if threads is None:
        return
    set_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:                                # PyTorch is optional
        pass


def main(argv=None) -> int:
    from shared.records import make_record, write_record
    from shared.threads import kernel_lines

    args = _checked_args(_parser(), argv)
    _use_threads(args.threads)
    print("\n".join(kernel_lines(blas_library())))
    print(f"one epoch of {args.n:,} samples through {'-'.join(map(str, SIZES))} "
          f"(sigmoid hidden), plain SGD; {args.repeats} interleaved repeats; "
          f"median [min-max] seconds; threads: {args.threads or 'library defaults'}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    res = benchmark(tuple(args.batch_sizes), tuple(args.dtypes), args.repeats, args.n,
                    with_torch=not args.no_torch, memory=not args.no_memory,
                    with_fast=not args.no_fast)
    config = {k: v for k, v in vars(args).items() if k != "out"}
    rec = make_record("stage3-benchmark", config, res, wall_time=time.perf_counter() - t0)
    print(f"wrote {write_record(args.out, rec)}")
    return 0


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
