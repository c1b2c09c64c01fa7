"""``python -m stage4_analysis``: plan every experiment, run what is missing, plot, report.

What this adds over running the experiment modules by hand: one command for the whole set, runs
of all experiments of a wave sharing one process pool and one progress bar, dependencies
(``DEPENDS``) planned after the runs they read, and ``report.md`` rebuilt at the end.

    python -m stage4_analysis                 # quick offline reproduction (MNIST sample)
    python -m stage4_analysis --full          # the real data sets
    python -m stage4_analysis --only lr-study final
    python -m stage4_analysis --list
    python -m stage4_analysis.lr_study --full # one experiment (same flags)
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from . import registry
from .api import Context, SkipExperiment
from .common import DOWNLOAD_ENV
from .experiments.lr_study import EXTRA_RATES
from .report import section, write_report, write_section
from .runner import RunSpec, default_jobs, run_specs

DEFAULT_OUT = Path("runs") / "analysis"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def reproduce(
    names: list[str] | None = None,
    *,
    quick: bool = True,
    out: str | Path | None = None,
    jobs: int | None = None,
    options: dict | None = None,
    progress: bool = True,
    modules: list | None = None,
    command: str = "",
    log=_say,
) -> dict:
    """Run the chosen experiments (all when ``names`` is None) and write the report.

    ``modules`` replaces the registry (tests pass tiny fake experiments). Returns
    ``{"report": Path, "executed": n, "skipped_runs": n, "failed_runs": n,
    "sections": {NAME: "ok" | "skipped" | "error"}}``.
    """
    t0 = time.perf_counter()
    broken = []
    if modules is None:
        modules, broken = registry.load_all()
        for b in broken:
            log(f"warning: experiment module {b.module} not loaded: {b.error}")
    chosen, added = registry.select(modules, names)
    if added:
        log(f"also running {', '.join(added)} (needed by the experiments asked for)")
    mode = "quick" if quick else "full"
    ctx = Context(quick=quick, out=Path(out) if out else DEFAULT_OUT / mode,
                  jobs=default_jobs() if jobs is None else int(jobs),
                  options=dict(options or {}), modules=modules)
    result = {"report": None, "executed": 0, "skipped_runs": 0, "failed_runs": 0, "sections": {}}
    wave_list = registry.waves(chosen)
    for i, wave in enumerate(wave_list):
        planned: dict[str, list[RunSpec]] = {}
        for m in wave:
            try:
                specs = list(m.plan(ctx))
                bad = [s for s in specs if not isinstance(s, RunSpec)]
                if bad:
                    raise TypeError(f"{m.NAME}.plan returned {type(bad[0]).__name__}, "
                                    "expected RunSpec")
                planned[m.NAME] = specs
            except SkipExperiment as e:
                log(f"{m.NAME}: skipped — {e}")
                write_section(ctx, m.NAME, section(m, ctx, skipped=str(e)))
                result["sections"][m.NAME] = "skipped"
            except Exception:
                tb = traceback.format_exc()
                log(f"{m.NAME}: planning failed\n{tb}")
                write_section(ctx, m.NAME, section(m, ctx, error=tb))
                result["sections"][m.NAME] = "error"
        specs = [s for name in planned for s in planned[name]]
        names_here = ", ".join(planned) or "-"
        res = run_specs(specs, ctx.runs_root, jobs=ctx.jobs, progress=progress,
                        desc=f"[{i + 1}/{len(wave_list)}] {names_here}")
        result["executed"] += len(res["executed"])
        result["skipped_runs"] += res["skipped"]
        nfail = sum(1 for s in res["executed"] if s["status"] == "failed")
        result["failed_runs"] += nfail
        log(f"{names_here}: {res['total']} runs, {res['skipped']} already done, "
            f"{len(res['executed'])} executed" + (f", {nfail} FAILED" if nfail else ""))
        for m in wave:
            if m.NAME not in planned:
                continue
            records = ctx.records(planned[m.NAME])
            try:
                figs = [Path(p) for p in (m.plot(records, ctx.fig_dir(m.NAME), ctx) or [])]
                body = m.summarize(records, figs, ctx) or ""
                text = section(m, ctx, records=records, figures=figs, body=body)
                result["sections"][m.NAME] = "ok"
            except SkipExperiment as e:
                text = section(m, ctx, records=records, skipped=str(e))
                result["sections"][m.NAME] = "skipped"
            except Exception:
                tb = traceback.format_exc()
                log(f"{m.NAME}: plotting/summary failed\n{tb}")
                text = section(m, ctx, records=records, error=tb)
                result["sections"][m.NAME] = "error"
            write_section(ctx, m.NAME, text)
    wall = time.perf_counter() - t0
    result["report"] = write_report(ctx, modules, broken, command=command, wall_time=wall)
    result["wall_time"] = wall
    return result


def build_parser(only_default: list[str] | None = None) -> argparse.ArgumentParser:
    prog = "python -m stage4_analysis" + (f".experiments.{only_default[0].replace('-', '_')}"
                                          if only_default else "")
    p = argparse.ArgumentParser(
        prog=prog,
        description="Reproduce the hand-outs' experiments: runs are saved as records, figures "
        "are drawn from records, report.md embeds every figure with its numbers. An "
        "interrupted reproduction resumes; a repeated one only re-plots.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="small offline data and few epochs (the default)")
    mode.add_argument("--full", action="store_true",
                      help="the real data sets (MNIST, Fashion-MNIST) and settings")
    if only_default is None:
        p.add_argument("--only", nargs="+", metavar="NAME",
                       help="run only these experiments (plus what they depend on)")
        p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"worker processes (default: all cores, here {default_jobs()})")
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default {DEFAULT_OUT}/quick or {DEFAULT_OUT}/full)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds of the VU studies (train-val, seeds, lr-study; default 5)")
    p.add_argument("--lrs", type=float, nargs="*", default=None, metavar="LR",
                   help="learning rates added to the hand-out's 0.001 0.003 0.01 0.03 in the "
                   "lr study, replacing its default extra rates ("
                   + " ".join(f"{r:g}" for r in EXTRA_RATES) + "); with no value: only the four")
    p.add_argument("--epochs", type=int, default=None,
                   help="override every experiment's number of epochs (for smoke runs)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first LIMIT training samples in every run (smoke runs)")
    p.add_argument("--download", action="store_true",
                   help="allow downloading absent MNIST / Fashion-MNIST files (off by default: "
                   "the reproduction never touches the network unless asked)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None, only: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(only).parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        _say(f"error: --jobs must be >= 1, got {args.jobs}")
        return 2
    if args.seeds is not None and args.seeds < 1:
        _say(f"error: --seeds must be >= 1, got {args.seeds}")
        return 2
    for flag in ("epochs", "limit"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            _say(f"error: --{flag} must be >= 1, got {v}")
            return 2
    if args.lrs and any(not (lr > 0) for lr in args.lrs):
        _say(f"error: learning rates must be > 0, got {args.lrs}")
        return 2
    modules, broken = registry.load_all()
    if only is None and args.list:
        for m in modules:
            deps = registry.depends(m)
            print(f"{m.NAME:16s} {m.TITLE}" + (f"  (uses {', '.join(deps)})" if deps else ""))
        for b in broken:
            print(f"{b.module:16s} NOT LOADED: {b.error}")
        return 0
    names = only if only is not None else args.only
    try:
        if names:
            registry.select(modules, names)
    except KeyError as e:
        _say(f"error: {e.args[0]}")
        return 2
    for b in broken:
        _say(f"warning: experiment module {b.module} not loaded: {b.error}")
    if args.download:
        os.environ[DOWNLOAD_ENV] = "1"  # read by common.allow_download, inherited by workers
    options = {"seeds": args.seeds, "lrs": args.lrs, "epochs": args.epochs, "limit": args.limit}
    cmd = "python -m " + (f"stage4_analysis.experiments.{only[0].replace('-', '_')}" if only
                          else "stage4_analysis")
    cmd = " ".join([cmd] + [shlex.quote(a) for a in argv])
    try:
        res = reproduce(names, quick=not args.full, out=args.out, jobs=args.jobs,
                        options=options, progress=not args.no_progress, modules=modules,
                        command=cmd)
    except KeyboardInterrupt:
        _say("interrupted: finished runs are saved; rerun the same command to resume")
        return 130
    print(f"report: {res['report']}  ({res['executed']} runs executed, "
          f"{res['skipped_runs']} reused, {res['failed_runs']} failed, "
          f"{res['wall_time']:.1f} s)")
    bad = [n for n, s in res["sections"].items() if s == "error"]
    if bad:
        _say(f"error: sections that could not be produced: {', '.join(bad)} (see the report)")
        return 1
    if res["failed_runs"]:
        _say(f"warning: {res['failed_runs']} run(s) failed; the report lists their errors, "
             "and the next invocation retries them")
    return 0
