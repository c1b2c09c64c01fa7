"""The speed ladder: what each rung buys, side by side with micrograd and PyTorch.

    python -m stage4_analysis.speed                  # the full benchmark (~2-3 minutes)
    python -m stage4_analysis.speed --quick          # a short run (under a minute)
    python -m stage4_analysis.speed --parts stage2   # one part again (stage1 stage2 stage3
                                                     #   ladder memory)
    python -m stage4_analysis.speed --json           # the results as JSON on stdout
    python -m stage4_analysis.speed --threads 1      # numpy BLAS + torch on 1 thread (steadier
                                                     #   on a busy machine)
    python -m stage4_analysis.speed --replot --out runs/speed/full   # redraw from the record

What this adds over the stage benchmarks: one run that measures them all and judges the
speed targets. The measuring is theirs - :func:`stage4_analysis.speed.stage1.bench_vs_micrograd`,
:func:`stage4_analysis.speed.stage2.bench_vs_torch`, :func:`stage4_analysis.speed.stage3.benchmark`
and ``peak_memory`` - each with the same network, data, initial weights and dtype on both sides
and interleaved repeats (A B A B ...), reporting median, min and max. This module adds:

1. stage 1 vs micrograd on the 2-3-2 network: training steps/s;
2. stage 2 vs PyTorch at batch size 1 (``torch.set_num_threads(1)``): samples/s, float64/32;
3. stage 3 vs PyTorch (default threads) at batch 32 and 128: seconds per epoch over 60,000
   MNIST-shaped samples of 784-300 (sigmoid)-10 (softmax), float32 and float64, with the
   GEMM-bound limit (the epoch's matmul FLOPs / the peak numpy matmul rate measured in the run)
   and the fraction of it reached;
4. the ladder: training samples/s of stages 1, 2, 3 and torch at 784-300-10 in float64, as a bar
   chart on a log axis (stage 1 at that size takes tens of ms per sample: a few samples are
   timed and the rate extrapolated; the table says how many);
5. peak memory (RSS, ``VmHWM``) of one stage-3 epoch in a fresh process, against the float data
   set's size;

then the PASS/MISS table of the targets (:mod:`stage4_analysis.speed.targets`). Thread counts are
stated: numpy's BLAS threads (``shared.threads``, threadpoolctl) and ``torch.get_num_threads()``.
micrograd and torch are optional: without one, its rows say so and the rest runs. A part that
crashes is reported (and the exit code is 1); the others still run. No timing is asserted
anywhere: these are measurements, not tests.

Output (``--out DIR``, default ``runs/speed/{full,quick}``): ``speed.json`` (a run record,
``shared.records``), ``ladder.png`` and ``speed.md`` (the summary table, for the analysis report).

The analysis report (``python -m stage4_analysis``) shows the newest record
(:func:`analysis_section`), or says the speed was not measured; ``--speed`` there measures first.

What it leaves out: GPUs, other network sizes, and micrograd at 784-300-10 (a graph of ~0.5
million ``Value`` nodes per sample).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

from shared.records import (
    library_versions,
    make_record,
    read_record,
    to_jsonable,
    write_record,
)

from . import targets as rep

PARTS = ("stage1", "stage2", "stage3", "ladder", "memory")
DEFAULT_OUT = Path("runs") / "speed"
RECORD, FIGURE, SUMMARY = "speed.json", "ladder.png", "speed.md"


@dataclasses.dataclass
class Knobs:
    """The sizes of one run (``full``, ``quick``, and ``tiny`` for the smoke test)."""

    mode: str = "full"
    s1_seconds: float = 1.0       # stage 1 / micrograd: minimum seconds per measurement
    s1_repeats: int = 5           # interleaved rounds
    s1_samples: int = 200         # synthetic samples cycled over
    s2_samples: int = 2000        # stage 2 / torch batch 1: samples per timed pass
    s2_repeats: int = 5
    s3_n: int = 60_000            # stage 3 / torch: samples per epoch
    s3_repeats: int = 5           # epochs per side and setting, interleaved
    s3_batch_sizes: tuple = (128, 32)
    ladder_samples: int = 10      # stage 1 at 784-300-10: samples per timed pass
    ladder_passes: int = 3
    threads: int | None = None    # numpy BLAS + torch threads for parts 2-3 (None: defaults)

    @classmethod
    def full(cls) -> Knobs:
        return cls()

    @classmethod
    def quick(cls) -> Knobs:
        return cls(mode="quick", s1_seconds=0.25, s1_repeats=3, s2_samples=400, s2_repeats=3,
                   s3_n=30_000, s3_repeats=2, ladder_samples=4, ladder_passes=1)

    @classmethod
    def tiny(cls) -> Knobs:
        """Seconds, not minutes: for the smoke test; the numbers mean nothing."""
        return cls(mode="tiny", s1_seconds=0.01, s1_repeats=1, s1_samples=10, s2_samples=12,
                   s2_repeats=1, s3_n=300, s3_repeats=1, ladder_samples=1, ladder_passes=1)


# --------------------------------------------------------------------------- environment
def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def numpy_threads() -> str:
    """numpy's BLAS thread count as a sentence fragment."""
    from shared.threads import blas_threads

    return f"{blas_threads()} (threadpoolctl)"


def threads_line(env: dict, threads: int | None) -> str:
    """Which thread counts the measurements use (torch only when it is installed)."""
    torch = (f"torch {env['torch_threads_default']} by default (batch 32/128), 1 at batch 1; "
             if env["torch"] is not None else "")
    text = (f"threads: numpy BLAS {env['numpy_threads']}; {torch}{env['cpus']} CPUs; "
            f"load average {env['loadavg_start'][0]:.2f}")
    if threads:
        who = ("numpy BLAS and torch (batch 32/128) use" if env["torch"] is not None
               else "numpy BLAS uses")
        text += f"; --threads {threads}: {who} {threads}"
    return text


def environment() -> dict:
    import numpy as np

    from shared.threads import blas_library, cpu_count

    env = {"cpus": cpu_count(),
           "numpy_threads": numpy_threads(), "numpy": np.__version__,
           "micrograd": have("micrograd"), "torch": None, "torch_threads_default": None,
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    if have("torch"):
        import torch

        env["torch"] = torch.__version__
        env["torch_threads_default"] = torch.get_num_threads()
    env["versions"] = library_versions()
    env["blas"] = blas_library()
    if env["micrograd"]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            env["versions"]["micrograd"] = version("micrograd")
        except PackageNotFoundError:
            env["versions"]["micrograd"] = "?"
    return env


# --------------------------------------------------------------------------- the parts
def part_stage1(k: Knobs, log) -> dict:
    from .stage1 import bench_vs_micrograd, format_result

    res = bench_vs_micrograd(seconds=k.s1_seconds, repeats=k.s1_repeats, samples=k.s1_samples)
    log(format_result(res))
    return res


def stage2_fit_variant(samples: int) -> tuple[str, float]:
    """The stage-2 variant ``fit(..., fast=True)`` (``--fast``) would use on the benchmark's data,
    and the zero fraction. The default ``fit`` is the readable ``network.py`` path."""
    import numpy as np

    from stage2_perinstance.fast import SPARSE_FRACTION

    from .stage2 import bench_data

    X = bench_data(samples)[0]
    zeros = float(np.mean(X == 0))
    return (rep.STAGE2_SPARSE if zeros >= SPARSE_FRACTION else rep.STAGE2_DENSE), zeros


def part_stage2(k: Knobs, log) -> dict:
    from .stage2 import bench_vs_torch, format_result

    variant, zeros = stage2_fit_variant(k.s2_samples)
    out = {"fit_variant": variant, "zero_fraction": zeros}
    for dt in ("float64", "float32"):
        out[dt] = bench_vs_torch(dt, samples=k.s2_samples, repeats=k.s2_repeats,
                                 warmup=min(200, k.s2_samples), numpy_threads_n=k.threads)
        log(format_result(out[dt]))
    return out


def part_stage3(k: Knobs, log, memory: bool) -> dict:
    from .stage2 import numpy_threads as blas_threads_set
    from .stage3 import benchmark

    with blas_threads_set(k.threads), torch_threads(k.threads):
        return _stage3(k, log, memory, benchmark)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` for the block (None, or no torch: unchanged)."""
    if n is None or not have("torch"):
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _stage3(k: Knobs, log, memory: bool, benchmark) -> dict:
    log(f"one epoch of {k.s3_n:,} samples, 784-300-10, batch sizes {list(k.s3_batch_sizes)}, "
        f"{k.s3_repeats} interleaved repeats each (median [min-max] s):")
    res = benchmark(batch_sizes=tuple(k.s3_batch_sizes), dtypes=("float32", "float64"),
                    repeats=k.s3_repeats, n=k.s3_n, with_torch=have("torch"), memory=memory,
                    log=log)
    for r in res.get("memory", {}).values():
        r["n"] = k.s3_n
    return res


def part_memory(k: Knobs, log) -> dict:
    """Peak RSS alone (when the stage-3 timing part is not run)."""
    from .stage3 import peak_memory

    out = {}
    for dt in ("float32", "float64"):
        out[dt] = dict(peak_memory(dt, k.s3_batch_sizes[0], k.s3_n), n=k.s3_n)
        log(f"{dt}: peak RSS {out[dt]['peak_mb']:.0f} MB for {out[dt]['float_data_mb']:.0f} MB "
            f"of float data (limit {out[dt]['limit_mb']:.0f} MB)")
    return out


def part_ladder_stage1(k: Knobs, log) -> dict:
    """Stage 1 at 784-300-10: seconds per training step over a few samples, extrapolated."""
    from .stage1 import bench_mnist_size

    runs = [bench_mnist_size(samples=k.ladder_samples) for _ in range(k.ladder_passes)]
    sec = statistics.median(r["seconds_per_sample"] for r in runs)
    res = {"samples": k.ladder_samples, "passes": k.ladder_passes,
           "samples_timed": k.ladder_samples * k.ladder_passes, "data": runs[0]["data"],
           "seconds_per_sample": sec, "all": [r["seconds_per_sample"] for r in runs],
           "samples_per_s": 1.0 / sec}
    log(f"stage 1 at 784-300-10 ({res['data']}): {sec:.4f} s per training step, median of "
        f"{k.ladder_passes} pass(es) over {k.ladder_samples} samples "
        f"({res['samples_timed']} timed in all) -> {1 / sec:.1f} samples/s extrapolated")
    return res


# --------------------------------------------------------------------------- the run
def measure(k: Knobs, parts=PARTS, log=print) -> dict:
    """Run the chosen parts; returns the JSON-ready results (config, environment, each part,
    ``errors``: part -> message for parts that crashed, ``targets``: the PASS/MISS rows)."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; choose from {list(PARTS)}")
    results = {"config": dataclasses.asdict(k) | {"parts": list(parts)},
               "environment": environment(), "errors": {}}
    results["environment"]["loadavg_start"] = list(os.getloadavg())
    _log_environment(results["environment"], k, log)
    run = _part_runner(results, log)
    if "stage1" in parts:
        run("stage1", "1. stage 1 vs micrograd, 2-3-2, training steps/s",
            lambda: part_stage1(k, log))
    if "stage2" in parts:
        run("stage2", "2. stage 2 vs torch at batch 1 (torch: 1 thread), 784-300-10, samples/s",
            lambda: part_stage2(k, log))
    _run_stage3_and_memory(run, results, k, parts, log)
    if "ladder" in parts:
        run("ladder_stage1", "4. the ladder: stage 1 at 784-300-10",
            lambda: part_ladder_stage1(k, log))
        results["ladder"] = {"stage1": results.pop("ladder_stage1")}
    results["environment"]["loadavg_end"] = list(os.getloadavg())
    results = json.loads(json.dumps(to_jsonable(results)))  # the JSON form, as in the record
    results["targets"] = rep.target_rows(*rep.measured_from(results))
    return results


def _log_environment(env: dict, k: Knobs, log) -> None:
    """The BLAS library and kernel, the threads, the load and what is not installed."""
    from shared.threads import kernel_lines

    for line in kernel_lines(env["blas"]):
        log(line)
    log(threads_line(env, k.threads))
    if env["loadavg_start"][0] > 0.75 * env["cpus"]:
        log(f"note: load average {env['loadavg_start'][0]:.1f} on {env['cpus']} CPUs: other work "
            "is running, so absolute times will be noisier than usual")
    if not env["micrograd"]:
        log("micrograd is not installed (pip install micrograd): its rows are skipped")
    if env["torch"] is None:
        log("torch is not installed (pip install torch): its rows are skipped")


def _part_runner(results: dict, log):
    """``run(name, title, fn)``: one part, timed; a part that crashes is recorded as an error
    and does not hide the others."""
    def run(name, title, fn):
        log(f"\n== {title}")
        t0 = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # noqa: BLE001 - one broken part must not hide the others
            tb = traceback.format_exc()
            log(f"{name} FAILED:\n{tb}")
            results[name] = {"error": f"{type(e).__name__}: {e}"}
            results["errors"][name] = f"{type(e).__name__}: {e}"
        log(f"({time.perf_counter() - t0:.1f} s)")
    return run


def _run_stage3_and_memory(run, results: dict, k: Knobs, parts, log) -> None:
    if "stage3" in parts:
        run("stage3", "3. stage 3 vs torch at batch 32/128 ("
            + (f"numpy BLAS and torch: {k.threads} thread(s))" if k.threads
               else "numpy and torch: default threads)")
            + (" + 5. peak memory" if "memory" in parts else ""),
            lambda: part_stage3(k, log, memory="memory" in parts))
        if "memory" in parts and "error" not in results["stage3"]:
            results["memory"] = results["stage3"].pop("memory", {})
    elif "memory" in parts:
        run("memory", "5. peak memory of a stage-3 epoch", lambda: part_memory(k, log))


def write_outputs(results: dict, out: Path, wall_time: float | None = None) -> dict:
    """``speed.json`` (run record), ``ladder.png`` and ``speed.md`` in ``out``; returns paths."""
    out = Path(out)
    status = "failed" if results.get("errors") else "ok"
    error = "; ".join(f"{k}: {v}" for k, v in results["errors"].items()) or None
    rec = make_record("speed", results["config"], results, status=status, error=error,
                      wall_time=wall_time)
    paths = {"record": write_record(out / RECORD, rec)}
    png = rep.plot_ladder(results, out / FIGURE)
    if png is not None:
        paths["figure"] = png
    from shared.records import atomic_write_text

    paths["summary"] = atomic_write_text(
        out / SUMMARY, rep.markdown(results, FIGURE if png is not None else None))
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.speed",
        description="The speed ladder: stage 1 vs micrograd (2-3-2), stage 2 vs PyTorch at "
                    "batch 1, stage 3 vs PyTorch at batch 32/128 with the GEMM-bound limit, the "
                    "samples/s ladder at 784-300-10 and the peak memory of a stage-3 epoch; "
                    "interleaved repeats, medians, ratios and PASS/MISS against the targets.",
        epilog="Writes speed.json (run record), ladder.png and speed.md into --out.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="a short run (under a minute): fewer repeats, 30,000-sample epochs")
    size.add_argument("--tiny", action="store_true",
                      help="smoke-test sizes (seconds; the numbers mean nothing)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), metavar="PART",
                   help=f"which parts to run, from {', '.join(PARTS)} (default: all)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: runs/speed/full, or runs/speed/quick with "
                        "--quick, runs/speed/tiny with --tiny)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="run numpy's BLAS (parts 2-3) and torch (part 3) with N threads instead "
                        "of each library's default; on a busy machine 1 gives steadier ratios "
                        "(torch at batch 1 always uses 1)")
    p.add_argument("--replot", action="store_true",
                   help="measure nothing: redraw ladder.png and speed.md from the speed.json "
                        "already in --out (after a change to the tables or the chart)")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON on stdout (the tables go to stderr)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    k = Knobs.tiny() if args.tiny else Knobs.quick() if args.quick else Knobs.full()
    if args.threads is not None:
        if args.threads < 1:
            build_parser().error(f"--threads must be >= 1, got {args.threads}")
        k.threads = args.threads
    out = args.out if args.out is not None else DEFAULT_OUT / k.mode
    stream = sys.stderr if args.json else sys.stdout
    log = lambda msg: print(msg, file=stream, flush=True)
    if args.replot:
        return replot(out, log, args.json)
    from shared.errors import check_output_dir

    check_output_dir(out, "--out")
    t0 = time.perf_counter()
    results = measure(k, tuple(args.parts), log=log)
    wall = time.perf_counter() - t0
    paths = write_outputs(results, out, wall)
    log("\n" + rep.format_text(results))
    log(f"\nwrote {', '.join(str(p) for p in paths.values())} ({wall:.0f} s)")
    if args.json:
        print(json.dumps(read_record(paths["record"]), indent=1))
    return 1 if results["errors"] else 0


def replot(out: Path, log, as_json: bool = False) -> int:
    """Redraw ``ladder.png`` and ``speed.md`` from ``out/speed.json`` (no measuring)."""
    path = Path(out) / RECORD
    if not path.exists():
        from shared.errors import ConfigError

        raise ConfigError(f"--replot needs a benchmark record, and {path} does not exist; run "
                          "the benchmark first (without --replot) or point --out at its folder")
    rec = read_record(path)
    results = rec["metrics"]
    png = rep.plot_ladder(results, Path(out) / FIGURE)
    from shared.records import atomic_write_text

    md = atomic_write_text(Path(out) / SUMMARY,
                           rep.markdown(results, FIGURE if png is not None else None))
    log(rep.format_text(results))
    log(f"\nredrew {', '.join(str(p) for p in (png, md) if p is not None)} from {path} "
        f"(measured {rec['created']})")
    if as_json:
        print(json.dumps(rec, indent=1))
    return 0


# --------------------------------------------------------------------------- analysis report
def find_record(analysis_out: Path | None = None) -> Path | None:
    """The newest usable ``speed.json``: ``<analysis out>/speed/``, then ``runs/speed/full``,
    then ``runs/speed/quick`` (relative to the working folder)."""
    places = [] if analysis_out is None else [Path(analysis_out) / "speed"]
    places += [DEFAULT_OUT / "full", DEFAULT_OUT / "quick"]
    for d in places:
        if (d / RECORD).exists():
            return d / RECORD
    return None


def measure_for_analysis(analysis_out: Path, mode: str) -> Path:
    """Measure the ladder (``mode``: "tiny", "quick" or "full" sizes) into
    ``<analysis out>/speed/``; returns the record's path."""
    if mode not in ("tiny", "quick", "full"):
        raise ValueError(f"mode must be tiny, quick or full, got {mode!r}")
    t0 = time.perf_counter()
    results = measure(getattr(Knobs, mode)(), log=lambda msg: None)
    return write_outputs(results, Path(analysis_out) / "speed", time.perf_counter() - t0)["record"]


def analysis_section(analysis_out: Path) -> str:
    """The speed section of the analysis report (markdown): the newest benchmark record's tables
    and chart, or a line saying it was not measured."""
    path = find_record(analysis_out)
    if path is None:
        return ("## Speed\n\nNot measured (run `python -m stage4_analysis.speed`, or add "
                "`--speed` to this command).")
    rec = read_record(path)
    fig = Path(analysis_out) / "figures" / "speed" / FIGURE
    png = rep.plot_ladder(rec["metrics"], fig)
    link = Path(os.path.relpath(png, analysis_out)).as_posix() if png is not None else None
    return (f"## {TITLE}\n\nFrom the benchmark record `{path}` ({rec['config'].get('mode')} "
            f"sizes, {rec['created']}, {rec['wall_time'] or 0:.0f} s).\n\n"
            + rep.markdown(rec["metrics"], link, heading=False))


TITLE = "Speed: the ladder against micrograd and PyTorch"


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
