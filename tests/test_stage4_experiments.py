"""Stage 4 experiments, small versions on real (tiny) data: each produces the files it promises,
the report embeds every figure, divergence and absent data are reported, the final run's rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from shared.records import iter_records
from stage3_batched.run import RunConfig
from stage4_analysis.cli import discover, reproduce
from stage4_analysis.experiments import lr_study, vu
from stage4_analysis.runs import Run, execute, name_of, read
from stage4_analysis.train import execute_stage3, stage3_config

MINE = ["learning-curve", "train-val", "seeds", "lr-study", "final", "sweeps", "best-config",
        "logreg"]
TINY = {"epochs": 1, "limit": 200, "seeds": 2, "lrs": [100.0]}

PROMISED = {
    "learning-curve": ["learning_curve_mnist-sample.png"],
    "train-val": ["train_val_mnist-sample.png"],
    "seeds": ["seeds_mnist-sample.png"],
    "lr-study": ["lr_study_mnist-sample.png"],
    "final": ["final_mnist-sample.png", "final_mnist-sample_confusion.png"],
    "sweeps": [f"sweep_{s}.png" for s in ("width", "depth", "learning_rate", "activation",
                                           "momentum", "batch_size")],
    "best-config": ["best_config.png"],
    "logreg": ["mlp_vs_logreg.png", "mlp_vs_logreg_confusion.png"],
}


@pytest.fixture(scope="module")
def tiny_quick(tmp_path_factory):
    """The quick set on 200 MNIST-sample digits, 1 epoch, 2 seeds, plus lr=100 (diverges)."""
    out = tmp_path_factory.mktemp("analysis")
    res = reproduce(MINE, quick=True, out=out, jobs=1, options=TINY, progress=False,
                    log=lambda m: None)
    return out, res


def test_each_experiment_writes_its_figures_and_section(tiny_quick):
    out, res = tiny_quick
    assert res["sections"] == {name: "ok" for name in MINE}
    report = (out / "report.md").read_text()
    for name, files in PROMISED.items():
        assert (out / "sections" / f"{name}.md").exists()
        for f in files:
            png = out / "figures" / name / f
            assert png.stat().st_size > 5_000, png
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"figures/{name}/{f}" in report
    # every figure on disk is embedded in the report, none is promised twice or left out
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "figures").rglob("*.png"))
    assert on_disk == sorted(f"figures/{n}/{f}" for n, fs in PROMISED.items() for f in fs)
    assert "Smoke-run overrides in effect" in report and "limit = 200" in report


def test_records_hold_config_metrics_and_versions(tiny_quick):
    out, _ = tiny_quick
    recs = list(iter_records(out / "runs"))
    # lr study 5 rates x 2 seeds (+ shared seed runs) + stage 2 + final 3 + sweeps + logreg
    assert len(recs) >= 40
    for r in recs:
        assert r["status"] in ("ok", "diverged"), (r["label"], r["error"])
        assert {"config", "metrics", "wall_time", "versions", "key"} <= set(r)
        assert r["config"]["limit"] == 200 and r["config"]["epochs"] == 1
        assert r["metrics"]["n_train"] == 200
        assert "numpy" in r["versions"]
    stage3 = [r for r in recs if r["config"]["executor"] == "stage3" and r["status"] == "ok"]
    r = stage3[0]
    assert len(r["metrics"]["step_loss"]) == math.ceil(200 / r["config"]["batch_size"])
    assert set(r["metrics"]["epochs"][0]) >= {"epoch", "train_loss", "train_acc", "val_loss",
                                              "val_acc"}
    s2 = [r for r in recs if r["config"]["executor"] == "stage2"]
    assert len(s2) == 1 and len(s2[0]["metrics"]["step_loss"]) == 200  # one loss per sample


def test_large_rate_is_recorded_and_reported_as_diverged(tiny_quick):
    out, _ = tiny_quick
    big = [r for r in iter_records(out / "runs" / "train.execute_stage3")
           if r["config"]["lr"] == 100.0]
    assert len(big) == 2 and all(r["status"] == "diverged" for r in big)
    assert all("3 ln 10" in r["error"] or "divergence threshold" in r["error"] for r in big)
    section = (out / "sections" / "lr-study.md").read_text()
    assert "| 100 |" in section and "2 of 2 diverged" in section


def test_repeated_reproduction_only_replots(tiny_quick):
    out, first = tiny_quick
    assert first["executed"] > 0
    res = reproduce(MINE, quick=True, out=out, jobs=1, options=TINY, progress=False,
                    log=lambda m: None)
    assert res["executed"] == 0 and res["reused"] > 0
    assert res["sections"] == {name: "ok" for name in MINE}


def test_nan_divergence_of_stage3_is_recorded_as_diverged(tmp_path):
    # A ReLU network with an absurd rate: the loss becomes inf/NaN and stage 3 stops the run.
    cfg = stage3_config(dataset="mnist-sample", final=False, hidden_dims=(32, 32),
                        activation="relu", lr=1e6, batch_size=50, epochs=2, seed=0, limit=200,
                        dtype="float32")
    run = Run(cfg, execute_stage3)
    execute([run], tmp_path, jobs=1, progress=False)
    rec = read(tmp_path, run)
    assert rec["status"] == "diverged", rec["error"]
    assert "nan" in rec["error"] and "divergence threshold" not in rec["error"]  # stage 3's check


def test_sigmoid_network_rarely_reaches_nan_so_the_loss_rule_decides():
    """A sigmoid network at lr=100 saturates instead of producing NaN; the one divergence rule
    (shared.divergence: an epoch's mean loss above 3 ln K) declares it diverged."""
    cfg = stage3_config(dataset="mnist-sample", final=False, hidden_dims=(16,),
                        activation="sigmoid", lr=100.0, batch_size=50, epochs=1, seed=0,
                        limit=200)
    out = execute_stage3(cfg)
    assert out["status"] == "diverged" and "3 ln 10" in out["message"], out["message"]
    loss = out["metrics"]["epochs"][0]["train_loss"]
    assert math.isfinite(loss) and loss > vu.DIVERGE_ABOVE


def test_full_mode_without_mnist_files_is_skipped_with_the_loaders_reason(tmp_path,
                                                                          monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MLP_LADDER_DATA", str(empty))
    monkeypatch.setenv("MLP_LADDER_CACHE", str(empty))
    monkeypatch.delenv("MLP_LADDER_ANALYSIS_DOWNLOAD", raising=False)
    monkeypatch.setattr(vu, "FULL_DATASETS", ("mnist",))
    out = tmp_path / "out"
    res = reproduce(["final"], quick=False, out=out, jobs=1, progress=False, log=lambda m: None)
    assert res["sections"] == {"lr-study": "skipped", "final": "skipped"}
    assert res["executed"] == 0
    report = (out / "report.md").read_text()
    assert "mnist skipped" in report and "not found" in report and "--download" in report
    assert not (out / "runs").exists() or not list((out / "runs").rglob("*.json"))


def _rate_records(lr, accs, statuses=None):
    statuses = statuses or ["ok"] * len(accs)
    return [{"label": f"lr={lr} s={i}", "status": st,
             "config": {"lr": lr, "dataset": "d"},
             "metrics": {"epochs": [{"val_acc": a, "val_loss": 1.0, "train_loss": 1.0}]}}
            for i, (a, st) in enumerate(zip(accs, statuses))]


def test_final_rule_best_mean_validation_accuracy_without_divergence():
    recs = (_rate_records(0.01, [0.80, 0.82]) + _rate_records(0.1, [0.90, 0.88])
            + _rate_records(1.0, [0.95, 0.10], ["ok", "diverged"])
            + _rate_records(0.3, [0.89, 0.89]))
    groups = lr_study.by_dataset_and_rate(recs)["d"]
    best = lr_study.best_rate(groups)
    # lr=1 has the highest single run but a diverged seed: excluded; 0.1 and 0.3 tie at 0.89
    assert best["lr"] == 0.1 and best["acc"].final_mean == pytest.approx(0.89, abs=1e-12)
    assert lr_study.best_rate(lr_study.by_dataset_and_rate(
        _rate_records(1.0, [0.5], ["diverged"]))["d"]) is None


def test_every_experiment_module_is_complete_and_documented():
    mods = discover()
    names = [name_of(m) for m in mods]
    assert [n for n in names if n in MINE] == MINE
    for m in mods:
        assert m.TITLE and callable(m.plan) and callable(m.plot) and callable(m.summarize)
        assert Path(m.__file__).read_text().lstrip().startswith('"""')


def test_module_command_line_runs_in_parallel_workers(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "stage4_analysis.experiments.lr_study", "--epochs", "1",
           "--limit", "100", "--seeds", "1", "--lrs", "--jobs", "2", "--out", str(tmp_path),
           "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 0, p.stderr
    assert "report:" in p.stdout and "4 runs executed" in p.stdout
    recs = list(iter_records(tmp_path / "runs"))
    assert len(recs) == 4 and {r["status"] for r in recs} == {"ok"}
    assert (tmp_path / "figures" / "lr-study" / "lr_study_mnist-sample.png").exists()
    report = (tmp_path / "report.md").read_text()
    assert "`python -m stage4_analysis.experiments.lr_study --epochs 1" in report
    assert "Not measured (run `python -m stage4_analysis.speed`" in report  # no benchmark ran
    assert not (tmp_path / "speed").exists()


def test_stage3_executor_keeps_a_constant_rate_unless_asked():
    """lr_decay=None in a study's config means a constant rate (a study that wants one says
    so: stage3_config takes RunConfig's defaults, the x 0.9 decay among them)."""
    kw = dict(dataset="mnist-sample", final=False, hidden_dims=(16,), activation="sigmoid",
              lr=0.1, batch_size=50, epochs=3, seed=0, limit=200)
    assert stage3_config(**kw)["lr_decay"] == RunConfig().lr_decay == 0.9
    const = execute_stage3(stage3_config(**kw, lr_decay=None))["metrics"]["epochs"]
    decayed = execute_stage3(stage3_config(**kw, lr_decay=0.5))["metrics"]["epochs"]
    assert [e["lr"] for e in const] == [0.1, 0.1, 0.1]
    assert [e["lr"] for e in decayed] == pytest.approx([0.1, 0.05, 0.025])


@pytest.mark.slow
def test_the_whole_quick_reproduction_runs_offline_end_to_end(tiny_quick, capsys):
    """``python -m stage4_analysis --epochs 1 --limit 200``: every experiment, through the command
    line (the ones above are reused from the fixture), exit status 0, no speed measurement."""
    from stage4_analysis.cli import main

    out, _ = tiny_quick
    argv = ["--out", str(out), "--no-progress", "--jobs", "2", "--epochs", "1", "--limit", "200",
            "--seeds", "2", "--lrs", "100"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "0 failed" in printed
    report = (out / "report.md").read_text()
    for m in discover():
        section = (out / "sections" / f"{name_of(m)}.md").read_text()
        assert "could not be produced" not in section, name_of(m)
        assert m.TITLE in report
    assert "Not measured (run `python -m stage4_analysis.speed`" in report
    assert not (out / "speed").exists()
    for png in (out / "figures").rglob("*.png"):  # every figure is in the report
        assert png.relative_to(out).as_posix() in report, png
