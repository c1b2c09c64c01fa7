"""Stage 4's machinery: run records, resume, joblib / Dask execution, a killed parent, discovery of
experiment modules, the command line, aggregation over seeds. Fake runs only (no training)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shared.records import config_key, read_record
from stage4_analysis import cli
from stage4_analysis.cli import ExperimentError, discover, main, reproduce, select, waves
from stage4_analysis.report import aggregate, epoch_series, mean_std, smooth, step_series
from stage4_analysis.runs import Context, Run, SkipExperiment, execute, read

ROOT = Path(__file__).resolve().parents[1]


def fake_train(config: dict) -> dict:
    """A deterministic stand-in for a training run. Appends one line to config["log"] per call
    (so tests count executions), raises when asked, reports divergence for lr > 1."""
    if config.get("log"):
        with open(config["log"], "a") as f:
            f.write(f"{config['seed']} {config['lr']}\n")
    if config.get("fail"):
        raise RuntimeError(f"boom for seed {config['seed']}")
    if config.get("die"):
        os._exit(3)  # a worker killed mid-run (out of memory, segfault)
    time.sleep(config.get("sleep", 0))
    lr, seed = config["lr"], config["seed"]
    steps = [lr * (seed + 1) * t for t in range(4)]
    epochs = [{"epoch": e + 1, "train_loss": 1.0 / (e + 1) + seed, "val_loss": 2.0 + seed,
               "train_acc": 0.5, "val_acc": 0.1 * (e + 1) + 0.01 * seed} for e in range(3)]
    metrics = {"step_loss": steps, "epochs": epochs, "pid": os.getpid()}
    if lr > 1:
        return {"metrics": metrics, "status": "diverged",
                "message": f"loss became inf at step 3 (lr={lr})"}
    return {"metrics": metrics}


def runs_for(seeds, lr=0.1, **extra):
    return [Run({"lr": lr, "seed": s, **extra}, fake_train, label=f"lr={lr} seed={s}")
            for s in seeds]


def executions(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def comparable(rec: dict) -> dict:
    """What must be equal between two executions of a run (not when, where or how long)."""
    m = {k: v for k, v in rec["metrics"].items() if k != "pid"}
    return {"config": rec["config"], "metrics": m, "status": rec["status"],
            "error": rec["error"], "label": rec["label"], "threads": rec["threads"]}


# --------------------------------------------------------------------------- records and resume
def test_record_path_is_the_function_and_config_key(tmp_path):
    run = runs_for([0])[0]
    res = execute([run], tmp_path, progress=False)
    path = tmp_path / "test_stage4_infra.fake_train" / f"{config_key(run.config)}.json"
    assert run.path(tmp_path) == path and path.exists()
    rec = read_record(path)
    assert rec["status"] == "ok" and rec["config"] == run.config
    assert rec["label"] == "lr=0.1 seed=0" and rec["run"].endswith("test_stage4_infra:fake_train")
    assert isinstance(rec["threads"], int) and rec["threads"] >= 1
    assert res["executed"][0]["metrics"] == rec["metrics"]


def test_damaged_record_counts_as_unfinished(tmp_path):
    run = runs_for([0])[0]
    run.path(tmp_path).parent.mkdir(parents=True)
    run.path(tmp_path).write_text("{ not json")
    assert read(tmp_path, run) is None
    assert len(execute([run], tmp_path, progress=False)["executed"]) == 1
    assert read(tmp_path, run)["status"] == "ok"


def test_only_unfinished_runs_execute_again_and_fresh_reruns_all(tmp_path):
    log = tmp_path / "log.txt"
    runs = runs_for(range(5), log=str(log))
    execute(runs[:2], tmp_path / "r", progress=False)  # an interrupted study: 2 of 5 done
    res = execute(runs, tmp_path / "r", progress=False)
    assert (res["total"], res["reused"], len(res["executed"])) == (5, 2, 3)
    assert len(executions(log)) == 5
    assert execute(runs, tmp_path / "r", progress=False)["executed"] == []
    since = time.time() + 1  # (records have whole seconds)
    assert len(execute(runs, tmp_path / "r", progress=False, newer_than=since)["executed"]) == 5


def test_duplicate_runs_execute_once(tmp_path):
    log = tmp_path / "log.txt"
    res = execute(runs_for([0, 1], log=str(log)) * 2, tmp_path, progress=False)
    assert res["total"] == 2 and len(executions(log)) == 2


def test_diverged_and_failed_runs_are_records_and_failed_ones_are_retried(tmp_path):
    runs = runs_for([0]) + runs_for([1], lr=5.0) + runs_for([2], fail=True)
    res = execute(runs, tmp_path, progress=False)
    assert [r["status"] for r in res["executed"]] == ["ok", "diverged", "failed"]
    div, bad = read(tmp_path, runs[1]), read(tmp_path, runs[2])
    assert "loss became inf" in div["error"]
    assert bad["error"] == "RuntimeError: boom for seed 2" and "Traceback" in bad["traceback"]
    again = execute(runs, tmp_path, progress=False)
    assert [r["label"] for r in again["executed"]] == ["lr=0.1 seed=2"]  # only the failed one


def returns_nonsense(config):
    return [1, 2, 3]


def returns_bad_status(config):
    return {"metrics": {}, "status": "great"}


def returns_unstorable(config):
    return {"metrics": {"x": object()}}


def test_bad_run_results_become_failed_records(tmp_path):
    runs = [Run({"i": 0}, returns_nonsense), Run({"i": 1}, returns_bad_status),
            Run({"i": 2}, returns_unstorable)]
    errs = [r["error"] for r in execute(runs, tmp_path, progress=False)["executed"]]
    assert "must return a dict with 'metrics'" in errs[0]
    assert "status 'great'" in errs[1]
    assert "could not store the result" in errs[2]
    with pytest.raises(TypeError, match="needs a function"):
        Run({}, "stage4_analysis.train:execute_stage3")


def test_context_records_marks_missing_runs(tmp_path):
    recs = Context(out=tmp_path).records(runs_for([0]))
    assert recs[0]["status"] == "missing" and "not finished" in recs[0]["error"]


# --------------------------------------------------------------------------- parallel execution
def test_joblib_workers_use_one_blas_thread_and_give_the_same_records(tmp_path):
    runs = runs_for(range(4)) + runs_for([9], fail=True) + runs_for([8], lr=3.0)
    res = execute(runs, tmp_path / "par", jobs=2, progress=False)
    assert sorted(r["status"] for r in res["executed"]) == ["diverged", "failed"] + ["ok"] * 4
    for r in runs[:4]:
        rec = read(tmp_path / "par", r)
        assert rec["threads"] == 1
        assert rec["metrics"]["pid"] != os.getpid()  # ran in a worker process
    execute(runs, tmp_path / "one", jobs=1, progress=False)
    for r in runs:
        a, b = comparable(read(tmp_path / "par", r)), comparable(read(tmp_path / "one", r))
        a.pop("threads"), b.pop("threads")  # in-process runs keep numpy's own thread count
        assert a == b


def test_a_dying_worker_leaves_failed_records_and_the_study_returns(tmp_path):
    runs = runs_for([0], die=True) + runs_for([1, 2, 3])
    res = execute(runs, tmp_path, jobs=2, progress=False)
    assert len(res["executed"]) == 4
    died = read(tmp_path, runs[0])
    assert died["status"] == "failed" and "worker process failed" in died["error"]
    again = execute(runs[1:], tmp_path, jobs=1, progress=False)  # the unfinished ones again
    ok = sum(r["status"] == "ok" for r in res["executed"])
    assert len(again["executed"]) == 3 - ok


@pytest.mark.slow
def test_dask_local_cluster_gives_the_records_of_joblib(tmp_path):
    pytest.importorskip("distributed")
    from stage4_analysis.runs import dask_client

    runs = runs_for(range(4)) + runs_for([7], lr=3.0) + runs_for([9], fail=True)
    execute(runs, tmp_path / "joblib", jobs=2, progress=False)
    with dask_client() as client:
        assert len(client.scheduler_info()["workers"]) == 2
        res = execute(runs, tmp_path / "dask", client=client, progress=False)
    assert len(res["executed"]) == 6
    for r in runs:
        a, b = read(tmp_path / "joblib", r), read(tmp_path / "dask", r)
        assert comparable(a) == comparable(b)
        assert b["threads"] == 1
        assert b["status"] == "failed" or b["metrics"]["pid"] != os.getpid()


# ---------------------------------------------------------------------- one file per experiment
TOY = '''\
"""Toy: a made-up validation curve per seed (no training), to show an experiment's shape."""

from stage4_analysis.plots import band, epochs_axis, finish
from stage4_analysis.report import aggregate, epoch_series, pm
from stage4_analysis.runs import Run, option, positive_int

TITLE = "Toy: a made-up curve per seed"
OPTIONS = [option("--toy-seeds", type=positive_int, metavar="N", help="seeds (default 3)"),
           option("--toy-sleep", type=float, metavar="S", help="seconds per run (default 0)")]


def train(config):
    import time

    time.sleep(config.get("sleep", 0))
    curve = [1 - 0.5 ** (e + 1) - 0.01 * config["seed"] for e in range(3)]
    return {"metrics": {"epochs": [{"epoch": e + 1, "val_acc": v} for e, v in enumerate(curve)]}}


def plan(ctx):
    sleep = float(ctx.option("toy_sleep", 0))
    return [Run({"seed": s, "sleep": sleep}, train, label=f"seed={s}")
            for s in range(ctx.option("toy_seeds", 3))]


def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure()
    agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
    band(axes[0, 0], epochs_axis(3), agg, "validation accuracy")
    finish(axes[0, 0], "epoch", "accuracy")
    return [save_figure(fig, fig_dir / "toy.png")]


def summarize(records, figures, ctx):
    agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
    return f"Final validation accuracy {pm(agg.final_mean, agg.final_std)} over {agg.n} seeds."
'''


def make_package(root: Path, name: str, modules: dict[str, str], order=None) -> str:
    pkg = root / name
    pkg.mkdir(parents=True)
    order = list(modules) if order is None else order
    (pkg / "__init__.py").write_text(f"ORDER = {order!r}\n")
    for mod, text in modules.items():
        (pkg / f"{mod}.py").write_text(text)
    return name


def readme_example() -> str:
    """The example module of stage4_analysis/README.md ("Adding an experiment")."""
    text = (ROOT / "stage4_analysis" / "README.md").read_text()
    part = text[text.index("## Adding an experiment"):]
    return part[part.index("```python\n") + len("```python\n"):part.index("\n```\n")] + "\n"


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A throw-away experiments package holding the README's example module, on sys.path."""
    name = make_package(tmp_path / "pkgs", "toy_experiments", {"toy": readme_example()})
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    yield name
    for m in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[m]


def test_a_new_experiment_is_one_file_planned_run_and_reported(toy_package, tmp_path, capsys,
                                                             monkeypatch):
    monkeypatch.setattr(cli, "PACKAGE", toy_package)
    mods = discover(toy_package)
    assert [m.__name__ for m in mods] == [f"{toy_package}.toy"]
    out = tmp_path / "out"
    # (--jobs 1: worker processes started by earlier tests do not see the new package; the
    # kill -9 test below runs this module in fresh worker processes)
    assert main(["--out", str(out), "--no-progress", "--toy-seeds", "2", "--jobs", "1"],
                modules=mods) == 0
    assert "2 runs executed" in capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert "## Toy: a made-up curve per seed" in report
    assert "](figures/toy/toy.png)" in report and (out / "figures/toy/toy.png").stat().st_size
    # seeds 0 and 1: final values 0.875 and 0.865
    assert "Final validation accuracy 0.8700 ± 0.0071 over 2 seeds." in report
    assert "Not measured (run `python -m stage4_analysis.speed`" in report
    with pytest.raises(SystemExit):
        main(["--help"], modules=mods)
    assert "--toy-seeds N" in capsys.readouterr().out


BROKEN = "import numpy\nraise RuntimeError('half-written')\n"


@pytest.mark.parametrize("modules, order, message", [
    ({"toy": TOY}, ["toy", "tyo"], "ORDER lists 'tyo', but there is no module tyo.py"),
    ({"toy": TOY, "bad": BROKEN}, ["toy", "bad"],
     "experiment module {pkg}.bad failed to import: RuntimeError: half-written"),
    ({"toy": TOY, "extra": TOY}, ["toy"], "{pkg}.extra defines plan() but is not listed"),
    ({"toy": "TITLE = 'x'\ndef plan(ctx):\n    return []\n"}, ["toy"],
     "{pkg}.toy lacks plot, summarize"),
])
def test_discovery_errors_stop_the_command_with_one_line(tmp_path, monkeypatch, capsys, modules,
                                                         order, message):
    pkg = make_package(tmp_path, f"exp_{len(modules)}_{len(order)}_{abs(hash(message)) % 999}",
                       modules, order)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExperimentError, match=message.format(pkg=pkg).replace("(", r"\(")
                       .replace(")", r"\)")):
        discover(pkg)
    monkeypatch.setattr(cli, "PACKAGE", pkg)
    monkeypatch.setattr(cli, "discover", lambda package=pkg: discover(package))
    from shared.errors import run_main

    assert run_main(main, ["--list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_project_experiments_are_discovered_in_order():
    names = [m.__name__.rsplit(".", 1)[-1] for m in discover()]
    from stage4_analysis.experiments import ORDER

    assert names == ORDER and names[:5] == ["learning_curve", "train_val", "seeds", "lr_study",
                                            "final"]


# --------------------------------------------------------------------------- the reproduction
def _fake_module(name, seeds=(0, 1, 2), depends=(), lrs=(0.1,), log=None, skip=None):
    def plan(ctx):
        if skip:
            raise SkipExperiment(skip)
        extra = {"log": str(log)} if log else {}
        return [r for lr in lrs for r in runs_for(seeds, lr=lr, **extra)]

    def plot(records, fig_dir, ctx):
        from shared.plotting import new_figure, save_figure
        from stage4_analysis.plots import band, finish

        fig, axes = new_figure()
        agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
        band(axes[0, 0], [1, 2, 3], agg, "val")
        finish(axes[0, 0], "epoch", "accuracy")
        return [save_figure(fig, Path(fig_dir) / "curve.png")]

    def summarize(records, figures, ctx):
        agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
        return f"final val acc {agg.final_mean:.3f} over {agg.n} runs"

    return types.SimpleNamespace(NAME=name, TITLE=f"Fake {name}", DEPENDS=depends, plan=plan,
                                 plot=plot, summarize=summarize, __name__=f"fake.{name}")


def test_select_adds_dependencies_and_waves_order_them():
    a, b, c = _fake_module("a"), _fake_module("b", depends=("a",)), _fake_module("c_d")
    chosen, added = select([a, b, c], ["b"])
    assert [m.NAME for m in chosen] == ["a", "b"] and added == ["a"]
    assert [[m.NAME for m in w] for w in waves([a, b, c])] == [["a", "c_d"], ["b"]]
    assert select([a, b, c], ["c-d"])[0] == [c]
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="--only: unknown experiment 'zzz'; choose from a, b"):
        select([a, b, c], ["zzz"])


def test_reproduce_writes_records_figures_report_and_resumes(tmp_path):
    log = tmp_path / "log.txt"
    mods = [_fake_module("alpha", log=log), _fake_module("beta", lrs=(0.1, 5.0), log=log),
            _fake_module("gamma", skip="the data files are absent")]
    out = tmp_path / "out"
    quiet = {"quick": True, "out": out, "jobs": 1, "progress": False, "modules": mods,
             "log": lambda m: None}
    res = reproduce(**quiet)
    # alpha and beta share the three lr=0.1 runs: 3 + 3 (lr=5) distinct runs
    assert res["executed"] == 6 and len(executions(log)) == 6
    assert res["sections"] == {"alpha": "ok", "beta": "ok", "gamma": "skipped"}
    report = (out / "report.md").read_text()
    for name in ("alpha", "beta"):
        assert (out / "figures" / name / "curve.png").stat().st_size > 1000
        assert f"](figures/{name}/curve.png)" in report
    assert "Skipped" in report and "the data files are absent" in report
    assert "3 diverged" in report  # beta's lr=5 runs
    assert "final val acc 0.310 over 3 runs" in report  # (0.30 + 0.31 + 0.32) / 3
    res2 = reproduce(**quiet)
    assert res2["executed"] == 0 and res2["reused"] == 6 and len(executions(log)) == 6
    reproduce(["alpha"], **quiet)  # one section again keeps the others in the report
    assert "figures/beta/curve.png" in (out / "report.md").read_text()


def test_fresh_reruns_every_run_once_even_when_later_waves_share_it(tmp_path):
    log = tmp_path / "log.txt"
    a = _fake_module("a", seeds=(0, 1), log=log)
    b = _fake_module("b", seeds=(0, 1, 2), depends=("a",), log=log)
    quiet = {"out": tmp_path / "out", "jobs": 1, "progress": False, "modules": [a, b],
             "log": lambda m: None}
    assert reproduce(**quiet)["executed"] == 3 and len(executions(log)) == 3
    assert reproduce(**quiet)["executed"] == 0
    time.sleep(1.05)  # records carry whole seconds
    res = reproduce(fresh=True, **quiet)
    assert res["executed"] == 3 and res["reused"] == 2  # b's seeds 0, 1 were just made by a
    assert len(executions(log)) == 6


@pytest.mark.slow
def test_a_dependent_experiment_starts_before_independent_runs_end(tmp_path):
    """b needs a (one quick run); c is six runs of a second each. b's run joins the queue as soon
    as a's ends, ahead of c's later runs, so b is done and drawn before c's runs are."""
    a = _fake_module("a", seeds=(0,))
    b = _fake_module("b", seeds=(1,), depends=("a",))
    c = _fake_module("c", seeds=range(2, 8))
    c.plan = lambda ctx: runs_for(range(2, 8), sleep=1.0)
    lines = []
    res = reproduce(out=tmp_path, jobs=2, progress=False, modules=[a, b, c], log=lines.append)
    assert res["executed"] == 8 and res["sections"] == {"a": "ok", "b": "ok", "c": "ok"}
    assert [line.split(":")[0] for line in lines] == ["b", "a, c"], lines


def test_exit_status_is_1_for_failed_runs_and_broken_sections_0_for_divergence(tmp_path, capsys):
    ok_div = _fake_module("d", lrs=(0.1, 5.0))
    assert main(["--out", str(tmp_path / "a"), "--no-progress", "--jobs", "1"],
                modules=[ok_div]) == 0
    failing = _fake_module("f")
    failing.plan = lambda ctx: runs_for([0]) + runs_for([1], fail=True)
    assert main(["--out", str(tmp_path / "b"), "--no-progress", "--jobs", "1"],
                modules=[failing]) == 1
    assert "1 run(s) failed, e.g. lr=0.1 seed=1: RuntimeError: boom" in capsys.readouterr().err
    broken = _fake_module("broken")
    broken.summarize = lambda records, figures, ctx: 1 / 0
    assert main(["--out", str(tmp_path / "c"), "--no-progress", "--jobs", "1"],
                modules=[broken]) == 1
    assert "ZeroDivisionError" in (tmp_path / "c" / "report.md").read_text()


def _refuse(*args, **kwargs):
    raise OSError("Timed out trying to connect")


def test_cli_bad_flags_name_the_flag(tmp_path, capsys, monkeypatch):
    from shared.errors import ConfigError, run_main

    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("learning-curve", "lr-study", "final", "sweeps", "logreg", "jacobian", "speed"):
        assert name in listed
    assert run_main(main, ["--only", "nope"]) == 2
    assert "error: --only: unknown experiment 'nope'" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert run_main(main, ["--out", str(tmp_path / "file"), "--only", "jacobian"]) == 2
    assert "error: --out" in capsys.readouterr().err
    assert run_main(main, ["--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs --backend dask" in capsys.readouterr().err
    if importlib.util.find_spec("distributed") is not None:
        from stage4_analysis import runs

        monkeypatch.setattr("distributed.Client", _refuse)
        with pytest.raises(ConfigError, match="--scheduler tcp://nowhere:1: cannot connect"):
            with runs.dask_client("tcp://nowhere:1"):
                pass
    for argv, flag in ((["--jobs", "0"], "--jobs"), (["--lrs", "-1"], "--lrs"),
                       (["--seeds", "x"], "--seeds"), (["--epochs", "0"], "--epochs")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


# --------------------------------------------------------------------------- kill -9
KILL_SCRIPT = """
import sys
from shared.errors import run_main
from stage4_analysis.cli import discover, main
raise SystemExit(run_main(lambda argv: main(argv, modules=discover({pkg!r}))))
"""


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = set(), [pid]
    while frontier:
        p = frontier.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        frontier += list(kids - out)
        out |= kids
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            state = (Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(p)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc (Linux)")
def test_kill_9_leaves_no_worker_and_a_rerun_completes_the_records(tmp_path):
    pkg = make_package(tmp_path / "pkgs", "toy_killed", {"toy": TOY})
    script = tmp_path / "repro.py"
    script.write_text(KILL_SCRIPT.format(pkg=pkg))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "pkgs"), str(ROOT)]))
    args = ["--jobs", "2", "--no-progress", "--toy-seeds", "8"]

    def command(out, sleep):
        return [sys.executable, str(script), "--out", str(out), *args, "--toy-sleep", sleep]

    out = tmp_path / "killed"
    proc = subprocess.Popen(command(out, "0.7"), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    records = out / "runs" / "toy.train"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(records.glob("*.json"))) < 2:
        time.sleep(0.05)
    workers = _children(proc.pid)
    n_before = len(list(records.glob("*.json")))
    assert 2 <= n_before < 8 and workers  # mid-run, with worker processes
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.monotonic()
    while _alive(workers) and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    left = _alive(workers)
    if left:  # clean up before failing
        for p in left:
            os.kill(p, signal.SIGKILL)
    assert not left, f"processes alive 10 s after the parent was killed: {sorted(left)}"
    assert len(list(records.glob("*.json"))) == n_before  # nothing written after the kill
    # the rerun executes only what is missing; the records equal an uninterrupted run's
    done = subprocess.run(command(out, "0.7"), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{8 - n_before} runs executed, {n_before} reused" in done.stdout
    clean = tmp_path / "clean"
    subprocess.run(command(clean, "0.7"), env=env, cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    a = sorted(p.name for p in records.glob("*.json"))
    b = sorted(p.name for p in (clean / "runs" / "toy.train").glob("*.json"))
    assert a == b and len(a) == 8
    for name in a:
        assert (comparable(read_record(records / name))
                == comparable(read_record(clean / "runs" / "toy.train" / name)))


# --------------------------------------------------------------------------- imports and wording
def _imports(path: Path) -> set[str]:
    """The stage4_analysis modules ``path`` imports at module level."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                mod = f"{base}.{node.module}" if node.module else base
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n and n.startswith("stage4_analysis")}
    return out


def test_imports_go_one_way_without_cycles():
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts): p
             for p in (ROOT / "stage4_analysis").rglob("*.py")}
    files = {k.removesuffix(".__init__"): v for k, v in files.items()}
    graph = {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}
    infra = [m for m in graph if not m.startswith(("stage4_analysis.experiments",
                                                   "stage4_analysis.speed"))]
    for m in infra:  # the machinery never imports an experiment (only discovery does)
        assert not any(i.startswith("stage4_analysis.experiments.") for i in graph[m]), m
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for i in graph[m]:
            visit(i, path + [m])
        state[m] = 2

    for m in graph:
        visit(m, [])


def test_no_issue_numbers_or_code_versions_in_user_facing_text():
    import re

    bad = re.compile(r"issue\s*\d|this issue|the issue's|code version", re.I)
    texts = list((ROOT / "stage4_analysis").rglob("*.py")) + [ROOT / "stage4_analysis/README.md"]
    hits = [f"{p.relative_to(ROOT)}:{i + 1}: {line.strip()}" for p in texts
            for i, line in enumerate(p.read_text().splitlines()) if bad.search(line)]
    assert hits == []


# --------------------------------------------------------------------------- aggregation
def _rec(label, status, epochs_val, steps=()):
    return {"label": label, "status": status, "metrics": {
        "epochs": [{"epoch": i + 1, "val_loss": v} for i, v in enumerate(epochs_val)],
        "step_loss": list(steps)}}


def test_mean_and_std_over_seeds_match_hand_computed_values():
    recs = [_rec("s0", "ok", [1.0, 2.0]), _rec("s1", "ok", [3.0, 2.0]),
            _rec("s2", "ok", [5.0, 5.0]), _rec("s3", "diverged", [9.0, 9.0]),
            _rec("s4", "failed", [])]
    agg = aggregate(recs, lambda r: epoch_series(r, "val_loss"))
    assert agg.n == 3 and agg.diverged == ["s3"] and agg.failed == ["s4"]
    # by hand: mean (1+3+5)/3 = 3, (2+2+5)/3 = 3; sample std sqrt(((-2)^2+0+2^2)/2) = 2,
    # sqrt((1+1+4)/2) = sqrt(3)
    assert_allclose(agg.mean, [3.0, 3.0], rtol=0, atol=1e-12)
    assert_allclose(agg.std, [2.0, np.sqrt(3.0)], rtol=0, atol=1e-12)
    assert "diverged" in agg.note and "failed" in agg.note


def test_aggregate_edge_cases():
    one = aggregate([_rec("a", "ok", [1.0, 2.0])], lambda r: epoch_series(r, "val_loss"))
    assert one.n == 1 and np.all(np.isnan(one.std)) and "single run" in one.note
    none = aggregate([_rec("a", "diverged", [1.0])], lambda r: epoch_series(r, "val_loss"))
    assert none.n == 0 and none.mean.size == 0 and "no run" in none.note
    short = aggregate([_rec("a", "ok", [1.0, 2.0, 3.0]), _rec("b", "ok", [3.0, 4.0])],
                      lambda r: epoch_series(r, "val_loss"))
    assert_allclose(short.mean, [2.0, 3.0], rtol=0, atol=1e-12) and "shortest" in short.note
    steps = aggregate([_rec("a", "ok", [], steps=[1, "nan", None])], step_series)
    assert_allclose(steps.mean, [1.0, np.nan, np.nan], rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match="seeds, steps"):
        mean_std(np.zeros(3))


def test_smooth_is_a_trailing_mean():
    x = np.array([1.0, 3.0, 5.0, 7.0])
    assert_allclose(smooth(x, 2), [1.0, 2.0, 4.0, 6.0], rtol=0, atol=1e-12)
    assert_allclose(smooth(x, 1), x, rtol=0, atol=0)


def test_record_json_is_what_the_report_reads(tmp_path):
    """Records are plain JSON: another program can read them without this package."""
    run = runs_for([3], lr=0.5)[0]
    execute([run], tmp_path, progress=False)
    raw = json.loads(run.path(tmp_path).read_text())
    assert raw["config"] == {"lr": 0.5, "seed": 3}
    assert_allclose(raw["metrics"]["step_loss"], [0.0, 2.0, 4.0, 6.0], rtol=0, atol=1e-12)


def test_the_data_sets_are_listed_once():
    from shared.data import DATASETS
    from stage4_analysis import data
    from stage4_analysis.experiments import cs3317, digits, vu

    assert set(data.NAMES) == set(DATASETS)
    assert data.QUICK_IMAGES in data.NAMES and set(data.FULL_IMAGES) <= set(data.NAMES)
    assert vu.QUICK_DATASETS == (data.QUICK_IMAGES,) and vu.FULL_DATASETS == data.FULL_IMAGES
    assert cs3317.QUICK_DATASET == digits.QUICK_DATASET == data.QUICK_IMAGES
    with pytest.raises(ValueError, match="unknown data set 'fasion-mnist'"):
        data.data_problem("fasion-mnist", False)
