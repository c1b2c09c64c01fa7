"""Stage 4 infrastructure with a tiny fake trainer: store, resume, parallel runner, aggregation,
registry, report. No real training here (see test_stage4_experiments.py for that)."""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shared.records import config_key, read_record
from stage4_analysis import registry
from stage4_analysis.aggregate import aggregate, epoch_series, mean_std, smooth, step_series
from stage4_analysis.api import Context, SkipExperiment
from stage4_analysis.cli import main, reproduce
from stage4_analysis.runner import THREAD_ENV_VARS, RunSpec, run_specs
from stage4_analysis.store import Store

FAKE = f"{__name__}:fake_execute"


def fake_execute(config: dict) -> dict:
    """A deterministic stand-in for a training run. Appends one line to config["log"] per call
    (so tests count executions), raises when asked, reports divergence for lr > 1."""
    if config.get("log"):
        with open(config["log"], "a") as f:
            f.write(f"{config['seed']} {config['lr']}\n")
    stop = config.get("stop_file")
    if stop and os.path.exists(stop) and config["seed"] == config.get("stop_seed"):
        raise KeyboardInterrupt  # a simulated Ctrl-C in the middle of the study
    if config.get("fail"):
        raise RuntimeError(f"boom for seed {config['seed']}")
    if config.get("die"):
        os._exit(3)  # a worker killed mid-run (out of memory, segfault)
    lr, seed = config["lr"], config["seed"]
    steps = [lr * (seed + 1) * t for t in range(4)]
    epochs = [{"epoch": e + 1, "train_loss": 1.0 / (e + 1) + seed, "val_loss": 2.0 + seed,
               "train_acc": 0.5, "val_acc": 0.1 * (e + 1) + 0.01 * seed} for e in range(3)]
    metrics = {"step_loss": steps, "epochs": epochs,
               "threads": {v: os.environ.get(v) for v in THREAD_ENV_VARS}, "pid": os.getpid()}
    if lr > 1:
        return {"metrics": metrics, "status": "diverged",
                "message": f"loss became inf at step 3 (lr={lr})"}
    return {"metrics": metrics}


def specs_for(seeds, lr=0.1, store="fake", **extra):
    return [RunSpec(FAKE, {"lr": lr, "seed": s, **extra}, store, label=f"lr={lr} seed={s}")
            for s in seeds]


def executions(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# --- store ----------------------------------------------------------------

def test_record_path_is_the_config_key(tmp_path):
    res = run_specs(specs_for([0]), tmp_path, jobs=1, progress=False)
    assert res["total"] == 1 and len(res["executed"]) == 1
    path = tmp_path / "fake" / f"{config_key({'lr': 0.1, 'seed': 0})}.json"
    rec = read_record(path)
    assert rec["status"] == "ok" and rec["error"] is None
    assert rec["config"] == {"lr": 0.1, "seed": 0}
    assert rec["metrics"]["step_loss"] == [0.0, 0.1, 0.2, 0.30000000000000004]
    assert len(rec["metrics"]["epochs"]) == 3
    assert rec["wall_time"] >= 0 and "numpy" in rec["versions"] or "python" in rec["versions"]
    assert rec["label"] == "lr=0.1 seed=0"


def test_damaged_record_counts_as_unfinished(tmp_path):
    spec = specs_for([0])[0]
    p = Store(tmp_path).path(spec.store, spec.config)
    p.parent.mkdir(parents=True)
    p.write_text('{"schema": "mlp-ladder/run", "stat')  # a half-written file
    assert not Store(tmp_path).is_done(spec.store, spec.config)
    res = run_specs([spec], tmp_path, jobs=1, progress=False)
    assert len(res["executed"]) == 1
    assert Store(tmp_path).is_done(spec.store, spec.config)


# --- resume ----------------------------------------------------------------

def test_resume_after_interruption_reruns_only_unfinished(tmp_path):
    log, stop = tmp_path / "log.txt", tmp_path / "STOP"
    stop.write_text("")
    specs = specs_for(range(5), log=str(log), stop_file=str(stop), stop_seed=2)
    with pytest.raises(KeyboardInterrupt):
        run_specs(specs, tmp_path / "runs", jobs=1, progress=False)
    # seeds 0 and 1 finished and were saved; seed 2 was interrupted; 3 and 4 never started
    assert executions(log) == ["0 0.1", "1 0.1", "2 0.1"]
    store = Store(tmp_path / "runs")
    assert [store.is_done(s.store, s.config) for s in specs] == [True, True, False, False, False]
    stop.unlink()
    res = run_specs(specs, tmp_path / "runs", jobs=1, progress=False)
    assert res["skipped"] == 2 and len(res["executed"]) == 3
    assert executions(log)[3:] == ["2 0.1", "3 0.1", "4 0.1"]
    res = run_specs(specs, tmp_path / "runs", jobs=1, progress=False)  # a repeat runs nothing
    assert res["skipped"] == 5 and res["executed"] == []
    assert len(executions(log)) == 6


def test_duplicate_specs_run_once(tmp_path):
    log = tmp_path / "log.txt"
    specs = specs_for([0, 1], log=str(log)) + specs_for([1, 0], log=str(log))
    res = run_specs(specs, tmp_path, jobs=1, progress=False)
    assert res["total"] == 2 and len(executions(log)) == 2


# --- diverged and failed runs ---------------------------------------------------------------------

def test_diverged_and_failed_runs_are_recorded_and_the_study_goes_on(tmp_path):
    specs = (specs_for([0], lr=5.0) + specs_for([1], fail=True) + specs_for([2]))
    res = run_specs(specs, tmp_path, jobs=1, progress=False)
    assert [s["status"] for s in res["executed"]] == ["diverged", "failed", "ok"]
    store = Store(tmp_path)
    div = store.get("fake", specs[0].config)
    assert div["status"] == "diverged" and "loss became inf" in div["error"]
    assert div["metrics"]["step_loss"]  # a diverged run keeps its curve up to the divergence
    bad = store.get("fake", specs[1].config)
    assert bad["status"] == "failed" and bad["error"] == "RuntimeError: boom for seed 1"
    assert "Traceback" in bad["traceback"]
    # diverged is final; failed is retried next time
    res = run_specs(specs, tmp_path, jobs=1, progress=False)
    assert [s["label"] for s in res["executed"]] == ["lr=0.1 seed=1"]


def test_bad_executor_results_become_failed_records(tmp_path):
    specs = [RunSpec(f"{__name__}:no_such_function", {"a": 1}, "fake"),
             RunSpec("not-a-target", {"a": 2}, "fake"),
             RunSpec(f"{__name__}:returns_nonsense", {"a": 3}, "fake")]
    res = run_specs(specs, tmp_path, jobs=1, progress=False)
    assert [s["status"] for s in res["executed"]] == ["failed"] * 3
    errs = [s["error"] for s in res["executed"]]
    assert "no function 'no_such_function'" in errs[0]
    assert "package.module:function" in errs[1]
    assert "must return a dict with 'metrics'" in errs[2]


def returns_nonsense(config):
    return [1, 2, 3]


# --- parallel ----------------------------------------------------------------

def test_parallel_pool_limits_blas_threads_and_records_everything(tmp_path):
    before = {v: os.environ.get(v) for v in THREAD_ENV_VARS}
    specs = specs_for(range(4)) + specs_for([9], fail=True) + specs_for([8], lr=3.0)
    res = run_specs(specs, tmp_path, jobs=2, progress=False)
    assert sorted(s["status"] for s in res["executed"]) == ["diverged", "failed"] + ["ok"] * 4
    recs = [Store(tmp_path).get("fake", s.config) for s in specs[:4]]
    for r in recs:
        assert r["metrics"]["threads"] == {v: "1" for v in THREAD_ENV_VARS}
        assert r["metrics"]["pid"] != os.getpid()  # ran in a worker process
    assert {v: os.environ.get(v) for v in THREAD_ENV_VARS} == before  # parent env restored


def test_a_dying_worker_is_recorded_as_failed_and_the_study_returns(tmp_path):
    specs = specs_for([0], die=True) + specs_for([1, 2, 3])
    res = run_specs(specs, tmp_path, jobs=2, progress=False)
    assert len(res["executed"]) == 4
    died = Store(tmp_path).get("fake", specs[0].config)
    assert died["status"] == "failed" and "worker process died" in died["error"]
    # failed records are retried: a rerun executes every run that did not finish ok
    ok = sum(1 for s in res["executed"] if s["status"] == "ok")
    again = run_specs(specs[1:], tmp_path, jobs=1, progress=False)
    assert len(again["executed"]) == 3 - ok


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="jobs must be >= 1, got 0"):
        run_specs(specs_for([0]), tmp_path, jobs=0, progress=False)


# --- aggregation ----------------------------------------------------------------

def _rec(label, status, epochs_val, steps=()):
    return {"label": label, "status": status, "metrics": {
        "epochs": [{"epoch": i + 1, "val_loss": v} for i, v in enumerate(epochs_val)],
        "step_loss": list(steps)}}


def test_mean_and_std_over_seeds_match_hand_computed_values():
    records = [_rec("s0", "ok", [1, 2, 3]), _rec("s1", "ok", [3, 4, 5]),
               _rec("s2", "ok", [2, 6, 4]),
               _rec("s3", "diverged", [1e9, "nan"]), _rec("s4", "failed", [])]
    agg = aggregate(records, lambda r: epoch_series(r, "val_loss"))
    # by hand: column means 2, 4, 4; squared deviations (1, 1, 0), (4, 0, 4), (1, 1, 0);
    # ddof=1 -> variances 2/2, 8/2, 2/2 -> std 1, 2, 1
    assert_allclose(agg.mean, [2.0, 4.0, 4.0], rtol=0, atol=1e-15)
    assert_allclose(agg.std, [1.0, 2.0, 1.0], rtol=0, atol=1e-15)
    assert agg.n == 3 and agg.labels == ["s0", "s1", "s2"]
    assert agg.diverged == ["s3"] and agg.failed == ["s4"]
    assert "1 run(s) diverged" in agg.note and "s3" in agg.note and "failed" in agg.note
    assert agg.final_mean == 4.0 and agg.final_std == 1.0


def test_aggregate_edge_cases():
    one = aggregate([_rec("a", "ok", [0.5, 0.25])], lambda r: epoch_series(r, "val_loss"))
    assert_allclose(one.mean, [0.5, 0.25], rtol=0, atol=0)
    assert np.all(np.isnan(one.std)) and "single run" in one.note
    none = aggregate([_rec("a", "diverged", [1.0])], lambda r: epoch_series(r, "val_loss"))
    assert none.n == 0 and none.mean.size == 0 and "no run to average" in none.note
    ragged = aggregate([_rec("a", "ok", [], [1, 2, 3]), _rec("b", "ok", [], [3, 4])],
                       step_series)
    assert_allclose(ragged.mean, [2.0, 3.0], rtol=0, atol=0)
    assert_allclose(ragged.std, [np.sqrt(2), np.sqrt(2)], rtol=1e-15, atol=0)
    assert "unequal length" in ragged.note
    # non-finite values stored as strings read back as floats
    assert np.isnan(epoch_series(_rec("x", "ok", ["nan"]), "val_loss")[0])
    m, s = mean_std(np.array([[1.0, 2.0], [3.0, 6.0]]), ddof=0)  # population std when asked
    assert_allclose(s, [1.0, 2.0], rtol=0, atol=0)


def test_smooth_is_a_trailing_mean():
    assert_allclose(smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0],
                    rtol=0, atol=1e-15)
    assert_allclose(smooth(np.array([2.0, 4.0]), 1), [2.0, 4.0], rtol=0, atol=0)


# --- registry and the one-command reproduction ----------------------------------------------------

def _fake_module(name, seeds=(0, 1, 2), depends=(), lrs=(0.1,), log=None, skip=None):
    def plan(ctx):
        if skip:
            raise SkipExperiment(skip)
        extra = {"log": str(log)} if log else {}
        return [s for lr in lrs for s in specs_for(seeds, lr=lr, **extra)]

    def plot(records, fig_dir, ctx):
        from shared.plotting import new_figure, save_figure
        from stage4_analysis.plots import band, finish

        fig, axes = new_figure()
        ax = axes[0, 0]
        agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
        band(ax, [1, 2, 3], agg, "val")
        finish(ax, "epoch", "accuracy")
        return [save_figure(fig, Path(fig_dir) / "curve.png")]

    def summarize(records, figures, ctx):
        agg = aggregate(records, lambda r: epoch_series(r, "val_acc"))
        return f"final val acc {agg.final_mean:.3f} over {agg.n} runs"

    return types.SimpleNamespace(NAME=name, TITLE=f"Fake {name}", DEPENDS=depends, plan=plan,
                                 plot=plot, summarize=summarize, __name__=f"fake.{name}")


def test_registry_selects_dependencies_and_orders_waves():
    a, b, c = _fake_module("a"), _fake_module("b", depends=("a",)), _fake_module("c_d")
    chosen, added = registry.select([a, b, c], ["b"])
    assert [m.NAME for m in chosen] == ["a", "b"] and added == ["a"]
    assert [[m.NAME for m in w] for w in registry.waves([a, b, c])] == [["a", "c_d"], ["b"]]
    assert registry.find([a, b, c], "c-d") is c
    with pytest.raises(KeyError, match="unknown experiment 'zzz'; choose from: a, b, c_d"):
        registry.select([a, b, c], ["zzz"])


def test_reproduce_writes_records_figures_report_and_resumes(tmp_path):
    log = tmp_path / "log.txt"
    mods = [_fake_module("alpha", log=log), _fake_module("beta", lrs=(0.1, 5.0), log=log),
            _fake_module("gamma", skip="the data files are absent")]
    out = tmp_path / "out"
    res = reproduce(quick=True, out=out, jobs=1, progress=False, modules=mods, log=lambda m: None)
    # alpha and beta share the three lr=0.1 runs: 3 + 3 (lr=5) distinct runs
    assert res["executed"] == 6 and len(executions(log)) == 6
    assert res["sections"] == {"alpha": "ok", "beta": "ok", "gamma": "skipped"}
    report = (out / "report.md").read_text()
    for name in ("alpha", "beta"):
        fig = out / "figures" / name / "curve.png"
        assert fig.stat().st_size > 1000
        assert f"](figures/{name}/curve.png)" in report
    assert "Skipped" in report and "the data files are absent" in report
    assert "3 diverged" in report  # beta's lr=5 runs
    assert "final val acc 0.310 over 3 runs" in report  # (0.30 + 0.31 + 0.32) / 3
    res2 = reproduce(quick=True, out=out, jobs=1, progress=False, modules=mods,
                     log=lambda m: None)
    assert res2["executed"] == 0 and res2["skipped_runs"] == 6 and len(executions(log)) == 6
    # --only one section keeps the others in the report
    reproduce(["alpha"], quick=True, out=out, jobs=1, progress=False, modules=mods,
              log=lambda m: None)
    assert "figures/beta/curve.png" in (out / "report.md").read_text()


def test_section_errors_are_reported_not_raised(tmp_path):
    m = _fake_module("broken")
    m.summarize = lambda records, figures, ctx: 1 / 0
    res = reproduce(quick=True, out=tmp_path, jobs=1, progress=False, modules=[m],
                    log=lambda msg: None)
    assert res["sections"] == {"broken": "error"}
    assert "ZeroDivisionError" in (tmp_path / "report.md").read_text()


def test_context_records_marks_missing_runs(tmp_path):
    ctx = Context(out=tmp_path)
    recs = ctx.records(specs_for([0]))
    assert recs[0]["status"] == "missing" and "not finished" in recs[0]["error"]


def test_cli_list_and_bad_arguments(capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("learning-curve", "train-val", "seeds", "lr-study", "final", "sweeps", "logreg"):
        assert name in listed
    assert main(["--only", "nope", "--no-progress"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert main(["--jobs", "0"]) == 2
    assert main(["--lrs", "-1"]) == 2
