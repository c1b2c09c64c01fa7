"""The speed measurements (stage4_analysis/speed/): smoke tests and the target logic.

No timing is asserted: the smoke test runs the whole benchmark on tiny sizes and checks that it
writes its files and fills every section; the PASS/MISS logic is tested as a pure function on
made-up numbers (including the boundaries and missing sides).
"""

import functools
import json
import math

import pytest

from shared.records import read_record
from stage4_analysis.speed import ladder as speed
from stage4_analysis.speed import targets as rep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ALL_PASS = {"stage1/micrograd": 25.0, "stage2/torch float64": 3.0, "stage2/torch float32": 2.5,
            "stage3/torch float32": 0.7, "stage3/torch float64": 0.9, "gemm float32": 0.6,
            "gemm float64": 0.7, "peak MB float32": 200.0, "data MB float32": 180.0,
            "peak MB float64": 400.0, "data MB float64": 360.0}


def by_key(rows):
    return {r["key"]: r for r in rows}


# --------------------------------------------------------------------------- pure logic
def test_judge_boundaries_and_missing():
    assert rep.judge(20.0, ">=", 20.0) == "PASS"
    assert rep.judge(19.99, ">=", 20.0) == "MISS"
    assert rep.judge(0.8, "<=", 0.8) == "PASS"
    assert rep.judge(0.81, "<=", 0.8) == "MISS"
    assert rep.judge(None, ">=", 2.0) == "not measured"
    assert rep.judge(float("nan"), "<=", 1.0) == "not measured"
    with pytest.raises(ValueError, match="op must be"):
        rep.judge(1.0, ">", 1.0)


def test_target_rows_all_pass():
    rows = by_key(rep.target_rows(ALL_PASS))
    assert len(rows) == 9
    assert {r["result"] for r in rows.values()} == {"PASS"}
    # memory: limit = 1.5 x data + 100 MB
    assert rows["memory float32"]["threshold"] == pytest.approx(1.5 * 180 + 100)
    assert rows["memory float64"]["threshold"] == pytest.approx(1.5 * 360 + 100)
    assert rows["stage1/micrograd"]["margin"] == pytest.approx(25 / 20)
    assert rows["stage3/torch float32"]["margin"] == pytest.approx(0.8 / 0.7)


def test_target_rows_misses_say_by_how_much():
    m = dict(ALL_PASS, **{"stage1/micrograd": 6.0, "stage3/torch float64": 1.25,
                          "gemm float32": 0.44, "peak MB float64": 700.0})
    rows = by_key(rep.target_rows(m))
    assert rows["stage1/micrograd"]["result"] == "MISS"
    assert rows["stage1/micrograd"]["margin"] == pytest.approx(20 / 6)
    assert rows["stage1/micrograd"]["margin_text"] == "short by 3.33x"
    assert rows["stage3/torch float64"]["result"] == "MISS"
    assert rows["stage3/torch float64"]["margin"] == pytest.approx(1.25)
    assert rows["gemm float32"]["result"] == "MISS"
    assert rows["gemm float32"]["measured"] == "44%"
    assert rows["memory float64"]["result"] == "MISS"        # 700 > 1.5 * 360 + 100 = 640
    assert rows["memory float32"]["result"] == "PASS"
    assert rows["stage2/torch float64"]["result"] == "PASS"


def test_target_rows_missing_sides_are_na_with_the_reason():
    m = {k: v for k, v in ALL_PASS.items() if not k.startswith(("stage1", "memory", "peak",
                                                                 "data"))}
    m["stage2/torch float32"] = None
    rows = by_key(rep.target_rows(m, {"stage1/micrograd": "micrograd is not installed"}))
    assert rows["stage1/micrograd"]["result"] == "not measured"
    assert rows["stage1/micrograd"]["note"] == "micrograd is not installed"
    assert rows["stage2/torch float32"]["result"] == "not measured"
    assert rows["memory float32"]["result"] == "not measured"
    assert rows["stage2/torch float64"]["result"] == "PASS"


def _fake_results():
    """Results in the JSON form of a record (integer keys as strings), made up."""
    row = lambda name, v, t: {"name": name, "samples_per_s": [v], "median": v, "min": v,
                              "max": v, "ratio_vs_torch": v / t}
    s2 = lambda t, read, dense, sparse: {"samples": 100, "repeats": 1, "rows": [
        row("torch", t, t), row("stage2 readable", read, t), row("stage2 in-place", dense, t),
        row("stage2 in-place, skip zero inputs", sparse, t)]}
    ep = lambda s: {"median": s, "min": s, "max": s, "all": [s]}
    s3row = lambda s, t: {"stage3": ep(s), "torch": ep(t), "ratio": s / t,
                          "gemm_bound_s": 0.3, "gemm_fraction": 0.3 / s, "shaped_gflops": 90.0}
    return {
        "stage1": {"ratio": {"stage1-jacobian/micrograd": 6.0, "stage1-fused/micrograd": 7.0,
                             "stage1-unrolled/micrograd": 45.0},
                   "rows": {}},
        "stage2": {"fit_variant": "stage2 in-place, skip zero inputs",
                   "float64": s2(4000.0, 3000.0, 6000.0, 16000.0),
                   "float32": s2(6000.0, 7000.0, 11000.0, 10000.0)},
        "stage3": {"n": 60000, "sizes": [784, 300, 10], "repeats": 1, "torch_threads": 2,
                   "results": {
            "float32": {"peak_gflops": 200.0, "128": s3row(0.5, 0.5), "32": s3row(0.6, 0.8)},
            "float64": {"peak_gflops": 100.0, "128": s3row(0.9, 1.0), "32": s3row(1.2, 1.5)}}},
        "memory": {"float32": {"peak_mb": 230.0, "float_data_mb": 179.0, "baseline_mb": 30.0,
                               "limit_mb": 368.5, "n": 60000}},
        "ladder": {"stage1": {"samples_per_s": 25.0, "samples": 10, "passes": 3,
                              "samples_timed": 30}},
    }


def test_measured_from_picks_the_designated_rows():
    m, notes = rep.measured_from(_fake_results())
    assert m["stage1/micrograd"] == 45.0                     # unrolled, Jacobian backward
    assert "the loops of network.py: 6.00x (fused backward 7.00x)" in notes["stage1/micrograd"]
    assert m["stage2/torch float64"] == pytest.approx(4.0)   # fit's variant, not the best one
    assert m["stage2/torch float32"] == pytest.approx(10000 / 6000)
    assert m["stage3/torch float32"] == pytest.approx(1.0)   # batch 128, not 32
    assert m["gemm float64"] == pytest.approx(0.3 / 0.9)
    assert m["peak MB float32"] == 230.0 and "peak MB float64" not in m
    rows = by_key(rep.target_rows(m, notes))
    assert [rows[k]["result"] for k in ("stage1/micrograd", "stage2/torch float64",
                                        "stage2/torch float32", "stage3/torch float32",
                                        "stage3/torch float64", "memory float32",
                                        "memory float64")] == \
        ["PASS", "PASS", "MISS", "MISS", "PASS", "PASS", "not measured"]


def test_a_record_without_the_unrolled_row_is_not_judged_on_the_loops():
    results = _fake_results()
    del results["stage1"]["ratio"]["stage1-unrolled/micrograd"]
    m, notes = rep.measured_from(results)
    assert m["stage1/micrograd"] is None
    assert "predates stage1_scalar/unrolled.py" in notes["stage1/micrograd"]
    assert by_key(rep.target_rows(m, notes))["stage1/micrograd"]["result"] == "not measured"


def test_ladder_bars_from_results():
    bars = rep.ladder_bars(_fake_results())
    rates = {b["label"]: b["samples_per_s"] for b in bars}
    assert rates["stage 1 (pure Python, per sample, extrapolated)"] == 25.0
    assert rates["stage 2 --fast (per sample)"] == 16000.0
    assert rates["torch, batch 1 (1 thread)"] == 4000.0
    assert rates["stage 3, batch 128"] == pytest.approx(60000 / 0.9)   # float64
    assert rates["torch, batch 32 (2 threads)"] == pytest.approx(60000 / 1.5)
    assert all(math.isfinite(r) and r > 0 for r in rates.values())


# --------------------------------------------------------------------------- smoke tests
@pytest.fixture
def small_gemm(monkeypatch):
    """Shrink the stage-3 benchmark's peak-matmul probe (2048^2) and shaped-matmul probe."""
    from stage4_analysis.speed import stage3 as s3b

    monkeypatch.setattr(s3b, "peak_matmul_gflops",
                        functools.partial(s3b.peak_matmul_gflops, n=256, repeats=1))
    monkeypatch.setattr(s3b, "shaped_matmul_gflops",
                        functools.partial(s3b.shaped_matmul_gflops, repeats=1, batches=3))


def test_smoke_tiny_run_writes_record_png_and_markdown(tmp_path, capsys, small_gemm):

    out = tmp_path / "speed"
    # one BLAS / torch thread: on a busy machine multi-threaded GEMMs stall, and the smoke test
    # does not need them
    code = speed.main(["--tiny", "--out", str(out), "--json", "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    rec = read_record(out / "speed.json")
    assert printed["key"] == rec["key"] and rec["status"] == "ok"
    res = rec["metrics"]
    assert res["errors"] == {}
    for part in ("stage1", "stage2", "stage3", "memory", "ladder"):
        assert part in res, part
    assert res["stage3"]["n"] == speed.Knobs.tiny().s3_n
    assert set(res["memory"]) == {"float32", "float64"}
    assert res["ladder"]["stage1"]["samples_timed"] == 1
    targets = by_key(res["targets"])
    assert len(targets) == 9
    assert all(t["result"] in ("PASS", "MISS", "not measured") for t in targets.values())
    if speed.have("micrograd"):
        assert targets["stage1/micrograd"]["value"] > 0
    if speed.have("torch"):
        assert targets["stage2/torch float64"]["value"] > 0
        assert targets["stage3/torch float32"]["value"] > 0
    assert targets["memory float32"]["result"] != "not measured"
    assert (out / "ladder.png").read_bytes()[:8] == PNG_MAGIC
    md = (out / "speed.md").read_text()
    assert "| target | required | measured | result | margin |" in md
    assert "![the ladder" in md and "(ladder.png)" in md
    assert "stage 1 (pure Python, per sample, extrapolated)" in md
    assert "Targets, measured side by side" in captured.err  # the table went to stderr
    # --replot redraws the figure and the summary from the record alone
    (out / "ladder.png").unlink()
    (out / "speed.md").unlink()
    assert speed.main(["--replot", "--out", str(out)]) == 0
    assert (out / "ladder.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "speed.md").read_text() == md


def test_smoke_without_micrograd_and_torch(tmp_path, monkeypatch, capsys):
    """When the optional packages are absent their rows say so and the rest still runs."""
    import stage4_analysis.speed.stage1 as s1b
    import stage4_analysis.speed.stage2 as s2b

    monkeypatch.setattr(s1b, "Value", None)
    monkeypatch.setattr(s2b, "_torch_setup", lambda: None)
    real_have = speed.have
    monkeypatch.setattr(speed, "have",
                        lambda m: False if m in ("torch", "micrograd") else real_have(m))
    code = speed.main(["--tiny", "--parts", "stage1", "stage2", "ladder", "--out",
                       str(tmp_path)])
    text = capsys.readouterr().out
    assert code == 0
    res = read_record(tmp_path / "speed.json")["metrics"]
    targets = by_key(res["targets"])
    assert targets["stage1/micrograd"]["result"] == "not measured"
    assert "micrograd is not installed" in targets["stage1/micrograd"]["note"]
    assert targets["stage2/torch float64"]["result"] == "not measured"
    assert "torch is not installed" in targets["stage2/torch float64"]["note"]
    assert "stage3" not in res
    assert "micrograd is not installed" in text and "torch is not installed" in text
    # the ladder still has its stage-1 and stage-2 bars
    labels = [b["label"] for b in rep.ladder_bars(res)]
    assert labels[:3] == ["stage 1 (pure Python, per sample, extrapolated)",
                          "stage 2 readable (per sample)", "stage 2 --fast (per sample)"]
    assert (tmp_path / "ladder.png").exists()


def test_the_analysis_report_shows_the_newest_record_or_says_not_measured(tmp_path,
                                                                           monkeypatch):
    """The analysis never measures unless asked: without a record its speed section says how to
    measure; ``--speed`` measures into ``<out>/speed``; a record is drawn from, never remeasured."""
    monkeypatch.chdir(tmp_path)                                  # no runs/speed here
    out = tmp_path / "analysis"
    assert speed.find_record(out) is None
    text = speed.analysis_section(out)
    assert "Not measured (run `python -m stage4_analysis.speed`" in text
    assert "MISS" not in text and "BUSY" not in text
    results = _fake_results()
    results.update(config={"mode": "full"}, environment={"loadavg_start": [9.0], "cpus": 2,
                                                         "loadavg_end": [9.0]}, errors={})
    results["targets"] = rep.target_rows(*rep.measured_from(results))
    speed.write_outputs(results, out / "speed", wall_time=1.0)

    def no_measuring(*a, **k):
        raise AssertionError("a record exists: the report must not measure")

    monkeypatch.setattr(speed, "measure", no_measuring)
    body = speed.analysis_section(out)
    assert ("| 1. stage 1 (unrolled) vs micrograd: training steps/s, 2-3-2 | 20.00x | 45.00x | "
            "PASS" in body)
    assert "](figures/speed/ladder.png)" in body
    assert (out / "figures" / "speed" / "ladder.png").read_bytes()[:8] == PNG_MAGIC
    assert "BUSY" not in body and "other work was running" in body  # noted, neutrally
    with pytest.raises(ValueError, match="tiny, quick or full"):
        speed.measure_for_analysis(tmp_path / "other", "huge")


def test_quick_reproduction_with_speed_measures_first(tmp_path, monkeypatch):
    from stage4_analysis.cli import reproduce

    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(speed, "measure_for_analysis", lambda out, mode: calls.append(mode))
    res = reproduce([], out=tmp_path / "a", progress=False, speed="tiny", log=lambda m: None)
    assert calls == ["tiny"] and res["executed"] == 0


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        speed.main(["--threads", "0"])
    assert e.value.code == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        speed.main(["--parts", "stage9"])
    with pytest.raises(ValueError, match="unknown parts"):
        speed.measure(speed.Knobs.tiny(), parts=("stage9",))


# --------------------------------------------------------------------------- the rungs' benchmarks
def test_stage1_benchmark_smoke():
    from stage4_analysis.speed.stage1 import bench_mnist_size, bench_vs_micrograd, format_result

    res = bench_vs_micrograd(seconds=0.02, repeats=2, samples=10)
    json.dumps(res)  # plain data, for the ladder's record
    for name in ("stage1-jacobian", "stage1-fused", "stage1-unrolled", "stage1-unrolled-fused"):
        row = res["rows"][name]
        assert row["min"] > 0 and len(row["all"]) == 2
    assert res["agreement"]["stage1-unrolled"] == 0.0  # bitwise the same weights
    if "missing" in res["rows"]["micrograd"]:
        assert res["ratio"] is None
    else:
        assert res["ratio"]["stage1-jacobian/micrograd"] > 0
        for name, d in res["agreement"].items():
            assert d < 1e-12, name
    assert "steps/s" in format_result(res)
    m = bench_mnist_size(samples=1, sizes=(20, 30, 10))
    assert m["seconds_per_sample"] > 0 and m["data"].startswith("random")


def test_stage2_benchmark_variants_compute_the_same():
    from stage4_analysis.speed import stage2 as benchmark

    res = benchmark.bench_vs_torch("float64", samples=30, repeats=2, sizes=(784, 12, 10),
                                   warmup=5)
    assert res["samples"] == 30 and res["dtype"] == "float64"
    rows = {r["name"]: r for r in res["rows"]}
    assert set(rows) == set(benchmark.VARIANTS)
    for name, r in rows.items():
        if not r["available"]:
            assert name == "torch" and "not installed" in r["note"]
            continue
        assert len(r["samples_per_s"]) == 2 and r["min"] <= r["median"] <= r["max"]
        assert r["max_weight_diff_vs_readable"] < 1e-12, name  # the same training
    assert res["threads"]["numpy_blas"] >= 1
    assert "x torch" in benchmark.format_result(res)


def test_stage2_benchmark_without_torch_says_so(monkeypatch):
    from stage4_analysis.speed import stage2 as benchmark

    monkeypatch.setattr(benchmark, "_torch_setup", lambda: None)
    res = benchmark.bench_vs_torch("float32", samples=10, repeats=1, sizes=(5, 4, 3), warmup=2)
    rows = {r["name"]: r for r in res["rows"]}
    assert not rows["torch"]["available"] and "not installed" in rows["torch"]["note"]
    assert rows["stage2 in-place"]["median"] > 0
    assert rows["stage2 in-place"]["ratio_vs_torch"] is None
    assert res["threads"]["torch"] is None
    assert "torch is not installed" in benchmark.format_result(res)


@pytest.mark.parametrize("module", ["stage1", "stage2", "stage3", ""])
def test_every_speed_command_goes_through_the_error_boundary(module, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    name = "stage4_analysis.speed" + (f".{module}" if module else "")
    bad = tmp_path / "a-file"
    bad.write_text("x")
    argv = {"stage1": ["--repeats", "0"], "stage2": ["--samples", "0"],
            "stage3": ["--repeats", "0"], "": ["--tiny", "--out", str(bad)]}[module]
    p = subprocess.run([sys.executable, "-m", name, *argv], capture_output=True, text=True,
                       timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "error" in p.stderr


def test_only_speed_measures_the_ladder_and_runs_no_experiment(tmp_path, monkeypatch, capsys):
    from stage4_analysis.cli import main

    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(speed, "measure_for_analysis", lambda out, mode: calls.append(mode))
    assert main(["--only", "speed", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert calls == ["quick"] and "0 runs executed" in capsys.readouterr().out
    assert main(["--out", str(tmp_path / "b"), "--no-progress", "--only", "jacobian"]) == 0
    assert calls == ["quick"]  # the default path measures nothing
