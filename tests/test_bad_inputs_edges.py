"""Bad inputs at the edges of the commands, each one clear line: an IDX file with no images, a
stage-1 run that would take hours (refused from an estimate of its run time, unless
``--allow-long``), weight files that cannot be used (the message says where weight files come
from), a diverging loss in the stage-3 epoch table (the columns stay aligned), and a benchmark
whose output path is unusable (refused before any timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.errors import ConfigError, SizeError, run_main
from shared.idx import IDXError, read_idx_pair, write_idx
from shared.weights import WEIGHT_FILES_HINT

ROOT = Path(__file__).resolve().parents[1]


def _cli(module, *args, env=None, timeout=120):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def _one_error_line(r):
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- IDX with no images
def _fashion_folder(root: Path, n_train: int) -> Path:
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((n_train, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(n_train, np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    return folder


def test_an_idx_file_with_no_images_is_refused_naming_it(tmp_path):
    folder = _fashion_folder(tmp_path, 0)
    with pytest.raises(IDXError, match="train-images-idx3-ubyte: the file holds no images"):
        read_idx_pair(folder / "train-images-idx3-ubyte", folder / "train-labels-idx1-ubyte")


def test_stage3_on_an_idx_file_with_no_images_is_one_line(tmp_path):
    _fashion_folder(tmp_path / "data", 0)
    r = _cli("stage3_batched", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "o"),
             env={"MLP_LADDER_DATA": str(tmp_path / "data")})
    _one_error_line(r)
    assert "train-images-idx3-ubyte: the file holds no images" in r.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- stage 1 run time
def test_stage1_guard_is_an_estimate_of_run_time_with_a_way_through():
    from stage1_scalar.__main__ import MAX_SECONDS, check_train_work

    sizes = [2, 10_000_000, 2]
    with pytest.raises(SizeError, match=r"would take about 9 hours here .*--allow-long"):
        check_train_work(sizes, 1, 300, 100, rate=1.7e6)
    seconds = check_train_work(sizes, 1, 300, 100, allow_long=True, rate=1.7e6)
    assert seconds > MAX_SECONDS
    assert check_train_work([2, 3, 2], 5, 60_000, 10_000, rate=1.7e6) < 60  # the default run


def test_stage1_multiply_add_rate_is_measured_here():
    from stage1_scalar.__main__ import multiply_add_rate

    assert multiply_add_rate(0.01) > 1e4


def test_stage1_huge_hidden_layer_is_refused_in_one_line_quickly():
    r = _cli("stage1_scalar", "train", "--samples", "300", "--val-samples", "100", "--epochs",
             "1", "--hidden", "10000000", timeout=60)
    _one_error_line(r)
    assert "would take about" in r.stderr and "--allow-long" in r.stderr


# --------------------------------------------------------------------------- weight files
@pytest.mark.parametrize("content", [None, b"nonsense", b'{"sizes": [2, 3]}'],
                         ids=["missing", "not-json", "not-a-weight-file"])
def test_weight_file_errors_say_where_weight_files_come_from(tmp_path, content):
    from stage4_analysis.problems import read_weights

    path = tmp_path / "w.json"
    if content is not None:
        path.write_bytes(content)
    r = _cli("stage1_scalar", "example", "--weights", str(path))
    _one_error_line(r)
    assert str(path) in r.stderr and WEIGHT_FILES_HINT in r.stderr
    with pytest.raises(ConfigError) as e:
        read_weights(path)
    assert str(path) in str(e.value) and WEIGHT_FILES_HINT in str(e.value)


# --------------------------------------------------------------------------- the epoch table
def test_a_diverging_loss_keeps_the_epoch_table_aligned(capsys):
    from stage3_batched.__main__ import epoch_table

    on_epoch = epoch_table("validation")
    rows = [(1, 0.5, 0.9), (2, 9198301.1982, 2.0e7), (3, float("inf"), float("nan")),
            (4, 1e300, None)]
    for epoch, loss, val_loss in rows:
        on_epoch({"epoch": epoch, "train_loss": loss, "train_acc": 0.5, "val_loss": val_loss,
                  "val_acc": None if val_loss is None else 0.1, "lr": 0.05, "seconds": 1.0})
    lines = capsys.readouterr().out.splitlines()
    assert len({len(line) for line in lines}) == 1, lines
    header = lines[0]
    for line in lines[2:]:                       # every cell ends where its header ends
        for name in ("train loss", "train acc %", "validation loss", "validation acc %"):
            end = header.index(name) + len(name)
            assert line[end - 1] != " " and (end == len(line) or line[end] == " "), line


# --------------------------------------------------------------------------- benchmark output
def test_the_stage3_benchmark_checks_its_output_before_timing(tmp_path, capsys, monkeypatch):
    from stage4_analysis.speed import stage3

    monkeypatch.setattr(stage3, "benchmark", lambda *a, **k: pytest.fail("timed anyway"))
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    assert run_main(stage3.main, ["--no-torch", "--out", str(blocker / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and str(blocker) in err and err.count("\n") == 1
    assert blocker.read_text() == "mine"
