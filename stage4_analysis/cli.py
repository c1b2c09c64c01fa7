"""``python -m stage4_analysis``: plan every experiment, run what is missing, plot, report.

What this adds over running the experiment modules by hand: one command for the whole set; the
experiments found in :data:`stage4_analysis.experiments.ORDER` (a listed module that is missing or
does not import stops the command with one line naming it); each experiment's own flags
(``OPTIONS``) added to the command line; the runs of every experiment executed by one pool of
workers (joblib, or Dask with ``--backend dask``); an experiment planned as soon as the ones in
its ``DEPENDS`` are finished, its runs joining the queue beside the runs still going, and its
section drawn as soon as its own runs are done; ``report.md`` rebuilt at the end. Exit status
1 when a run failed or a section could not be written (a diverged run is a result, not a
failure).

    python -m stage4_analysis                 # quick offline reproduction (MNIST sample)
    python -m stage4_analysis --full          # the real data sets
    python -m stage4_analysis --only lr-study final
    python -m stage4_analysis --list
    python -m stage4_analysis --speed         # also measure the speed ladder
    python -m stage4_analysis.experiments.lr_study --full   # one experiment (same flags)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import queue
import shlex
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType

from shared.cli import epoch_count
from shared.errors import ConfigError, LadderError, check_output_dir, run_main
from shared.threads import cpu_count

from .data import DOWNLOAD_ENV
from .report import section, write_report, write_section
from .runs import (
    Context,
    Run,
    SkipExperiment,
    dask_client,
    dedupe,
    execute,
    interrupt,
    name_of,
    normalise,
    positive_int,
    stop_workers,
    writer_lock,
)

PACKAGE = "stage4_analysis.experiments"
DEFAULT_OUT = Path("runs") / "analysis"
REQUIRED = ("TITLE", "plan", "plot", "summarize")
SPEED = "speed"


class ExperimentError(LadderError):
    """An experiment module that cannot be used (missing, failing to import, incomplete)."""

    exit_code = 1


# --------------------------------------------------------------------------- discovery
def _import(full: str) -> ModuleType:
    try:
        return importlib.import_module(full)
    except Exception as e:
        raise ExperimentError(f"experiment module {full} failed to import: "
                              f"{type(e).__name__}: {e}") from e


def discover(package: str = PACKAGE) -> list[ModuleType]:
    """The experiment modules of ``package`` in the order of its ``ORDER`` list."""
    pkg = importlib.import_module(package)
    order = getattr(pkg, "ORDER", None)
    if not isinstance(order, (list, tuple)):
        raise ExperimentError(f"{package} has no ORDER list naming its experiment modules")
    mods = []
    for name in order:
        full = f"{package}.{name}"
        if importlib.util.find_spec(full) is None:
            raise ExperimentError(f"{package}.ORDER lists {name!r}, but there is no module "
                                  f"{name}.py in {Path(pkg.__file__).parent}")
        m = _import(full)
        missing = [a for a in REQUIRED if not hasattr(m, a)]
        if missing:
            raise ExperimentError(f"experiment module {full} lacks {', '.join(missing)} (see "
                                  "stage4_analysis/README.md, 'Adding an experiment')")
        mods.append(m)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in order or info.name.startswith("_"):
            continue
        if hasattr(_import(f"{package}.{info.name}"), "plan"):
            raise ExperimentError(f"{package}.{info.name} defines plan() but is not listed in "
                                  f"{package}.ORDER; add its name there")
    return mods


def find(mods: list[ModuleType], name: str) -> ModuleType:
    for m in mods:
        if normalise(name_of(m)) == normalise(name):
            return m
    raise ConfigError(f"--only: unknown experiment {name!r}; choose from "
                      + ", ".join([name_of(m) for m in mods] + [SPEED]))


def depends(mod: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(mod, "DEPENDS", ()))


def select(mods: list[ModuleType], names: list[str] | None) -> tuple[list[ModuleType], list[str]]:
    """The modules named (all when ``names`` is None) plus what they depend on, in order.
    Returns ``(modules, added)``: ``added`` names the dependencies that were not asked for."""
    if names is None:
        return list(mods), []
    wanted = {name_of(find(mods, n)) for n in names}
    asked, frontier = set(wanted), list(wanted)
    while frontier:
        for d in depends(find(mods, frontier.pop())):
            dn = name_of(find(mods, d))
            if dn not in wanted:
                wanted.add(dn)
                frontier.append(dn)
    chosen = [m for m in mods if name_of(m) in wanted]
    return chosen, [name_of(m) for m in chosen if name_of(m) not in asked]


def waves(mods: list[ModuleType]) -> list[list[ModuleType]]:
    """Modules grouped so each comes in a later wave than what it depends on."""
    level: dict[str, int] = {}

    def depth(m, seen=()):
        n = name_of(m)
        if n in seen:
            raise ExperimentError(f"circular DEPENDS involving {n}")
        if n not in level:
            level[n] = max((depth(find(mods, d), seen + (n,)) + 1 for d in depends(m)),
                           default=0)
        return level[n]

    for m in mods:
        depth(m)
    out: list[list[ModuleType]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for m in mods:
        out[level[name_of(m)]].append(m)
    return out


# --------------------------------------------------------------------------- the reproduction
def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _plan(wave: list[ModuleType], ctx: Context, result: dict, log) -> dict[str, list[Run]]:
    """Each experiment's runs; a skipped or failing plan() gets its section now."""
    planned: dict[str, list[Run]] = {}
    for m in wave:
        name = name_of(m)
        try:
            runs = list(m.plan(ctx))
            bad = [r for r in runs if not isinstance(r, Run)]
            if bad:
                raise TypeError(f"{name}: plan() returned a {type(bad[0]).__name__}, "
                                "expected Run")
            planned[name] = runs
        except SkipExperiment as e:
            log(f"{name}: skipped — {e}")
            write_section(ctx, name, section(m, ctx, skipped=str(e)))
            result["sections"][name] = "skipped"
        except Exception:
            tb = traceback.format_exc()
            log(f"{name}: planning failed\n{tb}")
            write_section(ctx, name, section(m, ctx, error=tb))
            result["sections"][name] = "error"
    return planned


def _draw(wave: list[ModuleType], planned: dict, ctx: Context, result: dict, log) -> None:
    """Figures and section of each planned experiment of ``wave``, from its records."""
    for m in wave:
        name = name_of(m)
        if name not in planned:
            continue
        records = ctx.records(planned[name])
        try:
            figs = [Path(p) for p in (m.plot(records, ctx.fig_dir(name), ctx) or [])]
            body = m.summarize(records, figs, ctx) or ""
            text = section(m, ctx, records=records, figures=figs, body=body)
            result["sections"][name] = "ok"
        except SkipExperiment as e:
            text = section(m, ctx, records=records, skipped=str(e))
            result["sections"][name] = "skipped"
        except Exception:
            tb = traceback.format_exc()
            log(f"{name}: plotting/summary failed\n{tb}")
            text = section(m, ctx, records=records, error=tb)
            result["sections"][name] = "error"
        write_section(ctx, name, text)


def _execute_batch(events: queue.Queue, runs: list[Run], root: Path, **kw) -> None:
    """:func:`execute`, telling ``events`` about every record and, at the end, the result (or
    the exception)."""
    try:
        res = execute(runs, root, on_record=lambda rec: events.put(("record", rec)), **kw)
        events.put(("batch", res))
    except BaseException as e:  # handed to the main thread
        events.put(("error", e))


def _handle(kind: str, value, running: set, result: dict, log) -> int:
    """One event of :func:`_execute_batch`; returns 1 when a batch ended."""
    if kind == "record":
        running.discard((value["name"], value["key"]))
        return 0
    if kind == "error":
        raise value
    failed = [r for r in value["executed"] if r["status"] == "failed"]
    result["executed"] += len(value["executed"])
    result["reused"] += value["reused"]
    result["failed"] += failed
    log(f"{value['desc']}: {value['total']} runs, {value['reused']} reused, "
        f"{len(value['executed'])} executed" + (f", {len(failed)} failed" if failed else ""))
    return 1


def _run_as_ready(chosen: list[ModuleType], modules: list[ModuleType], ctx: Context,
                  result: dict, log, kw: dict) -> None:
    """Plan, execute and draw each experiment of ``chosen`` as soon as it can be."""
    # An experiment is planned as soon as the experiments it depends on are finished, and its
    # runs join the workers' queue at once (beside runs still going); it is drawn as soon as
    # its own runs are done, while other runs go on.
    events: queue.Queue = queue.Queue()
    unplanned, planned, finished = list(chosen), {}, set()
    running: set = set()  # (folder, key) of runs handed out and not yet recorded
    batches = 0  # batches handed out and not yet ended
    threads: list[threading.Thread] = []  # those executing batches
    try:
        while unplanned or planned:
            ready = [m for m in unplanned
                     if all(name_of(find(modules, d)) in finished for d in depends(m))]
            new = _plan(ready, ctx, result, log)
            unplanned = [m for m in unplanned if m not in ready]
            finished |= {name_of(m) for m in ready if name_of(m) not in new}  # skipped, error
            planned.update(new)
            batches += _hand_out(new, running, events, ctx.runs_root, kw, threads)
            done = _draw_finished(planned, running, modules, ctx, result, log)
            finished |= set(done)
            if done or ready:
                continue
            if not batches:
                raise _stuck(planned, unplanned)
            batches -= _handle(*events.get(), running, result, log)
        while batches:  # the last batches' summaries
            batches -= _handle(*events.get(), running, result, log)
    except BaseException:  # Ctrl-C, SIGTERM (or a bug): stop the workers and runs first
        interrupt(threads)
        raise


def _hand_out(new: dict[str, list[Run]], running: set, events: queue.Queue, root: Path,
              kw: dict, threads: list[threading.Thread]) -> int:
    """Hand the runs of ``new`` not yet running to the workers as one batch; 1 if there was one."""
    batch = [r for r in dedupe([r for rs in new.values() for r in rs])
             if (r.folder, r.key) not in running]
    if not batch:
        return 0
    running.update((r.folder, r.key) for r in batch)
    args = (events, batch, root)
    desc = ", ".join(new)
    if kw["jobs"] <= 1 and kw["client"] is None:  # one run at a time, in this process
        _execute_batch(*args, desc=desc, **kw)
    else:
        threads.append(threading.Thread(target=_execute_batch, args=args, name="runs",
                                        kwargs=dict(kw, desc=desc), daemon=True))
        threads[-1].start()
    return 1


def _draw_finished(planned: dict[str, list[Run]], running: set, modules: list[ModuleType],
                   ctx: Context, result: dict, log) -> list[str]:
    """Draw (and drop from ``planned``) each experiment whose runs are all recorded."""
    done = [n for n, runs in planned.items()
            if not any((r.folder, r.key) in running for r in runs)]
    for n in done:
        _draw([find(modules, n)], {n: planned.pop(n)}, ctx, result, log)
    return done


def _stuck(planned: dict, unplanned: list[ModuleType]) -> ExperimentError:
    """The error for experiments left waiting on each other with no batch to end."""
    return ExperimentError("nothing left to run, yet "
                           + ", ".join(list(planned) + [name_of(m) for m in unplanned])
                           + " wait: check their DEPENDS")


def reproduce(names: list[str] | None = None, *, quick: bool = True, out: str | Path | None = None,
              jobs: int | None = None, options: dict | None = None, progress: bool = True,
              modules: list[ModuleType] | None = None, command: str = "", log=_say,
              client=None, fresh: bool = False, speed: str | None = None) -> dict:
    """Run the chosen experiments (all when ``names`` is None) and write the report.

    ``modules`` replaces discovery (tests pass experiments of their own); ``client`` is a Dask
    client to run on; ``speed`` ("quick", "full" or "tiny") measures the speed ladder first.
    Returns ``{"report": Path, "executed": n, "reused": n, "failed": [record, ...],
    "sections": {NAME: "ok" | "skipped" | "error"}, "wall_time": s}``.
    """
    from .speed import ladder

    t0, t_start = time.perf_counter(), time.time()  # --fresh: only records made from now on
    modules = discover() if modules is None else modules
    chosen, added = select(modules, names)
    if added:
        log(f"also running {', '.join(added)} (needed by the experiments asked for)")
    ctx = Context(quick=quick, out=Path(out) if out else DEFAULT_OUT / ("quick" if quick else
                                                                         "full"),
                  options=dict(options or {}), modules=modules)
    jobs = cpu_count() if jobs is None else int(jobs)
    result = {"report": None, "executed": 0, "reused": 0, "failed": [], "sections": {}}
    if speed:
        log(f"speed: measuring the ladder ({speed} sizes) before the training runs start")
        ladder.measure_for_analysis(ctx.out, speed)
    waves(chosen)  # refuses circular DEPENDS before anything runs
    kw = dict(jobs=jobs, client=client, newer_than=t_start if fresh else None,
              progress=progress)
    _run_as_ready(chosen, modules, ctx, result, log, kw)
    wall = time.perf_counter() - t0
    result["report"] = write_report(ctx, modules, command=command, wall_time=wall,
                                    speed=ladder.analysis_section(ctx.out))
    result["wall_time"] = wall
    return result


# --------------------------------------------------------------------------- the command line
def _add_options(p: argparse.ArgumentParser, mods: list[ModuleType]) -> None:
    """Each experiment's ``OPTIONS`` (argparse specs, :func:`stage4_analysis.runs.option`); an
    option several experiments declare is added once (they must agree on its type)."""
    seen: dict[tuple, tuple[str, dict]] = {}
    for m in mods:
        specs = [s for s in getattr(m, "OPTIONS", ()) if tuple(s[0]) not in seen]
        for flags, kw in getattr(m, "OPTIONS", ()):
            if tuple(flags) in seen:
                first, fkw = seen[tuple(flags)]
                shape = ("type", "nargs", "action", "dest")
                if any(fkw.get(k) != kw.get(k) for k in shape):
                    raise ExperimentError(f"{name_of(m)} declares {'/'.join(flags)} unlike "
                                          f"{first} does (type, nargs, action must agree)")
        if not specs:
            continue
        group = p.add_argument_group(f"{name_of(m)} ({m.TITLE})")
        for flags, kw in specs:
            seen[tuple(flags)] = (name_of(m), kw)
            group.add_argument(*flags, **kw)


def build_parser(mods: list[ModuleType], single: str | None = None) -> argparse.ArgumentParser:
    module = single.replace("-", "_") if single else None
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis" + (f".experiments.{module}" if module else ""),
        description="Reproduce the hand-outs' experiments: runs are saved as records, figures "
        "are drawn from records, report.md embeds every figure with its numbers. An "
        "interrupted reproduction resumes; a repeated one only re-plots.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="small offline data and few epochs (the default)")
    mode.add_argument("--full", action="store_true",
                      help="the real data sets (MNIST, Fashion-MNIST) and settings")
    if single is None:
        p.add_argument("--only", nargs="+", metavar="NAME",
                       help=f"run only these experiments (plus what they depend on); "
                       f"'{SPEED}' measures the speed ladder")
        p.add_argument("--list", action="store_true", help="list the experiments and exit")
        p.add_argument("--speed", action="store_true",
                       help="also measure the speed ladder (python -m stage4_analysis.speed) "
                       "and put it in the report (off by default: it takes minutes)")
    _add_run_flags(p)
    _add_options(p, mods)
    return p


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """Where and how runs execute, where results go, and the smoke-run overrides."""
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help=f"worker processes (default: all cores, here {cpu_count()})")
    p.add_argument("--backend", choices=("joblib", "dask"), default="joblib",
                   help="where runs execute: joblib worker processes on this machine (default) "
                   "or a Dask cluster (needs pip install -e '.[cluster]')")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="with --backend dask: the scheduler to use (tcp://host:8786); default: "
                   "a local cluster of 2 worker processes on 127.0.0.1")
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default {DEFAULT_OUT}/quick or {DEFAULT_OUT}/full)")
    p.add_argument("--fresh", action="store_true",
                   help="run every run again, even those with a record (after a code change)")
    p.add_argument("--epochs", type=epoch_count, default=None, metavar="N",
                   help="override every experiment's number of epochs (smoke runs)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="use only the first N training samples in every run (smoke runs)")
    p.add_argument("--download", action="store_true",
                   help="allow downloading absent MNIST / Fashion-MNIST files (off by default: "
                   "the reproduction never touches the network unless asked)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


GENERIC = ("quick", "full", "only", "list", "speed", "jobs", "backend", "scheduler", "out",
           "fresh", "download", "no_progress")


def main(argv: list[str] | None = None, only: list[str] | None = None,
         modules: list[ModuleType] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    mods = discover() if modules is None else modules
    if only is not None:
        parser_mods, _ = select(mods, only)
        p = build_parser(parser_mods, single=only[0])
    else:
        p = build_parser(mods)
    args = p.parse_args(argv)
    if args.scheduler and args.backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    if only is None and args.list:
        _print_list(mods)
        return 0
    names, want_speed = _names_and_speed(args, only)
    if names:
        select(mods, names)  # unknown names: one line naming --only, before anything runs
    quick = not args.full
    out = args.out if args.out is not None else DEFAULT_OUT / ("quick" if quick else "full")
    check_output_dir(out, "--out")
    if args.download:
        os.environ[DOWNLOAD_ENV] = "1"  # read by data.allow_download, inherited by workers
    options = {k: v for k, v in vars(args).items() if k not in GENERIC}
    cmd = "python -m " + (f"{PACKAGE}.{only[0].replace('-', '_')}" if only else "stage4_analysis")
    cmd = " ".join([cmd] + [shlex.quote(a) for a in argv])
    kw = dict(quick=quick, out=out, jobs=args.jobs, options=options, modules=mods,
              progress=not args.no_progress, command=cmd, fresh=args.fresh,
              speed=("quick" if quick else "full") if want_speed else None)
    with writer_lock(out, "--out"):
        res = _reproduce_on_backend(names, args, kw)
    return _report_status(res)


def _print_list(mods: list[ModuleType]) -> None:
    """Print what ``--list`` shows: each experiment's name, title and the ones it uses."""
    for m in mods:
        deps = depends(m)
        print(f"{name_of(m):16s} {m.TITLE}" + (f"  (uses {', '.join(deps)})" if deps else ""))
    print(f"{SPEED:16s} the speed ladder (only with --speed or --only {SPEED})")


def _names_and_speed(args, only: list[str] | None) -> tuple[list[str] | None, bool]:
    """The experiments asked for, less the speed ladder, and whether it is asked for too."""
    names = only if only is not None else args.only
    want_speed = bool(getattr(args, "speed", False))
    if names and any(normalise(n) == SPEED for n in names):
        want_speed = True
        names = [n for n in names if normalise(n) != SPEED]  # may leave none: speed alone
    return names, want_speed


def _reproduce_on_backend(names, args, kw: dict) -> dict:
    """:func:`reproduce` on a Dask client (``--backend dask``) or on local worker processes."""
    if args.backend == "dask":
        with dask_client(args.scheduler) as client:
            return reproduce(names, client=client, **kw)
    try:
        return reproduce(names, **kw)
    finally:
        stop_workers()


def _report_status(res: dict) -> int:
    """Print the summary of ``res`` and its ``error:`` lines; 1 if anything failed, else 0."""
    print(f"report: {res['report']}  ({res['executed']} runs executed, {res['reused']} reused, "
          f"{len(res['failed'])} failed, {res['wall_time']:.1f} s)")
    status = 0
    bad = [n for n, s in res["sections"].items() if s == "error"]
    if bad:
        _say(f"error: sections that could not be produced: {', '.join(bad)} (see the report)")
        status = 1
    if res["failed"]:
        first = res["failed"][0]
        _say(f"error: {len(res['failed'])} run(s) failed, e.g. {first.get('label') or first['key']}"
             f": {first.get('error')}; the report lists them, and the next invocation retries "
             "them")
        status = 1
    return status


def main_of(name: str) -> int:
    """``python -m stage4_analysis.experiments.<module>``: the reproduction of one experiment."""
    return run_main(lambda argv: main(argv, only=[name]))


if __name__ == "__main__":  # pragma: no cover - see __main__.py
    raise SystemExit(run_main(main))
