"""Run records (shared/records.py) and headless plotting (shared/plotting.py).

Regression tests for two traps found here: files written through ``tempfile.mkstemp`` kept its
owner-only mode 0o600 instead of the usual umask mode, and ``save_figure`` wrote PNG bytes into
files named ``.pdf`` / ``.svg``.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from shared import records
from shared.plotting import new_figure, pyplot, save_figure
from shared.records import (
    atomic_write_json,
    atomic_write_text,
    config_key,
    from_json_float,
    iter_records,
    make_record,
    read_record,
    to_jsonable,
    write_record,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- records
def test_to_jsonable_converts_numpy_paths_and_non_finite():
    obj = {
        "i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3),
        "m": np.eye(2), "t": (1, 2.5), "p": Path("runs/x"), 7: "int key",
        "nan": float("nan"), "inf": np.float64("inf"), "ninf": -math.inf,
        "arr_nan": np.array([1.0, np.nan]), "none": None,
    }
    out = to_jsonable(obj)
    assert out == {
        "i": 3, "f": 0.5, "b": True, "a": [0, 1, 2], "m": [[1.0, 0.0], [0.0, 1.0]],
        "t": [1, 2.5], "p": "runs/x", "7": "int key", "nan": "nan", "inf": "inf",
        "ninf": "-inf", "arr_nan": [1.0, "nan"], "none": None,
    }
    assert type(out["i"]) is int and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)  # strictly valid JSON
    with pytest.raises(TypeError, match="set"):
        to_jsonable({"s": {1, 2}})


def test_from_json_float_inverts_the_encoding():
    for v in (1.5, -2.0, 0.0, float("inf"), -float("inf")):
        assert from_json_float(to_jsonable(v)) == v
    assert math.isnan(from_json_float(to_jsonable(float("nan"))))
    assert from_json_float(3) == 3.0


def test_atomic_write_leaves_no_temp_and_keeps_old_file_on_failure(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "a.txt", "héllo\n")
    assert p.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(os.listdir(p.parent)) == ["a.txt"]
    with pytest.raises(TypeError):
        atomic_write_text(p, 123)  # write fails half-way: old content stays, no temp file
    assert p.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(os.listdir(p.parent)) == ["a.txt"]


def test_atomic_write_uses_umask_mode_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_json(tmp_path / "r.json", {"x": np.float64(1.0)})
        q = tmp_path / "plain.txt"
        q.write_text("x")
    finally:
        os.umask(old)
    assert oct(p.stat().st_mode & 0o777) == oct(q.stat().st_mode & 0o777) == oct(0o644)
    assert json.loads(p.read_text()) == {"x": 1.0}


def test_config_key_stable_and_sensitive():
    a = {"lr": 0.1, "sizes": [2, 3, 2], "seed": 0}
    b = {"seed": 0, "sizes": (2, 3, 2), "lr": 0.1}  # other order, tuple
    c = {"seed": np.int64(0), "sizes": np.array([2, 3, 2]), "lr": np.float64(0.1)}
    assert config_key(a) == config_key(b) == config_key(c)
    assert len(config_key(a)) == 12 and int(config_key(a), 16) >= 0
    assert config_key(a) != config_key({**a, "lr": 0.2})
    assert config_key(a) != config_key({**a, "extra": None})


def test_make_write_read_round_trip(tmp_path):
    rec = make_record("lr-study", {"lr": 0.5}, {"loss": np.array([1.0, np.nan])},
                      status="diverged", error="loss became nan", wall_time=1.25)
    assert rec["schema"] == "mlp-ladder/run" and rec["version"] == 1
    assert rec["key"] == config_key({"lr": 0.5})
    assert rec["metrics"] == {"loss": [1.0, "nan"]}
    assert "python" in rec["versions"] and rec["versions"]["numpy"] == np.__version__
    p = write_record(tmp_path / "runs" / f"{rec['key']}.json", rec)
    back = read_record(p)
    assert back == json.loads(json.dumps(rec))
    with pytest.raises(ValueError, match="status"):
        make_record("x", {}, {}, status="great")
    with pytest.raises(ValueError, match="not a run record"):
        write_record(tmp_path / "bad.json", {"config": {}})


def test_read_record_rejects_other_files_naming_them(tmp_path):
    cases = {"broken.json": b"{not json", "list.json": b"[1, 2]",
             "other.json": b'{"schema": "something-else"}', "binary.json": b"\xff\xfe\x00garbage"}
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(ValueError) as e:
            read_record(p)
        assert str(p) in str(e.value)


def _ok_record(**changes):
    rec = json.loads(json.dumps(make_record("run", {"lr": 0.1, "seed": 3},
                                            {"final": {"val_acc": 0.9}, "loss": [1.0, 0.5]},
                                            wall_time=2.0)))
    rec.update(changes)
    return rec


@pytest.mark.parametrize("change, why", [
    ({"metrics": {}}, "marked ok but has no metrics"),
    ({"metrics": None}, "'metrics' missing"),
    ({"error": "boom"}, "marked ok but holds an error"),
    ({"status": "fine"}, "status 'fine'"),
    ({"status": None}, "status None"),
    ({"version": True}, "version True"),
    ({"version": 2}, "version 2"),
    ({"config": [1, 2]}, "'config' missing"),
    ({"config": {"lr": 0.2, "seed": 3}}, "does not match its config"),
    ({"key": 12}, "'key' missing"),
    ({"wall_time": -1.0}, "wall_time -1.0"),
    ({"wall_time": "2.0"}, "wall_time '2.0'"),
    ({"wall_time": True}, "wall_time True"),
    ({"error": 3, "status": "failed"}, "'error' is neither"),
    ({"name": None}, "'name' missing"),
    ({"versions": "3.11"}, "'versions' missing"),
])
def test_validate_record_refuses_each_schema_violation(tmp_path, change, why):
    p = tmp_path / "r.json"
    p.write_text(json.dumps(_ok_record(**change)))
    with pytest.raises(records.RecordError, match=rf"r.json: not a valid run record .*{why}"):
        read_record(p)
    assert records.load_valid_record(p) is None


def test_load_valid_record_trusts_only_complete_valid_records(tmp_path):
    good = _ok_record()
    p = tmp_path / "r.json"
    write_record(p, good)
    assert records.load_valid_record(p) == good
    assert records.load_valid_record(p, required_metrics=["final", "loss"]) == good
    assert records.load_valid_record(p, required_metrics=["final", "val_curve"]) is None
    with pytest.raises(records.RecordError, match="metrics lack val_curve"):
        read_record(p, required_metrics=["val_curve"])
    # a failed or diverged run needs no metrics (it is valid, and says it did not finish)
    failed = json.loads(json.dumps(make_record("run", {"lr": 9}, {}, status="failed",
                                               error="crashed")))
    write_record(tmp_path / "f.json", failed)
    assert records.load_valid_record(tmp_path / "f.json")["status"] == "failed"
    # cut short at every length: never trusted, never an exception
    text = p.read_bytes()
    for n in range(0, len(text) - 1, 7):
        p.write_bytes(text[:n])
        assert records.load_valid_record(p) is None
    assert records.load_valid_record(tmp_path / "missing.json") is None
    assert records.load_valid_record(tmp_path) is None  # a folder
    p.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert records.load_valid_record(p) is None


def test_record_errors_are_ladder_errors(tmp_path):
    from shared.errors import LadderError, run_main

    p = tmp_path / "r.json"
    p.write_text(json.dumps(_ok_record(metrics={})))

    def main(argv):
        read_record(p)

    assert issubclass(records.RecordError, LadderError)
    assert issubclass(records.RecordError, ValueError)  # old callers catching ValueError
    assert run_main(main, []) == 2


def test_iter_records_recursive_sorted_and_skips_non_records(tmp_path):
    keys = []
    for i, sub in enumerate(["b", "a/deep", "c"]):
        rec = make_record("n", {"i": i}, {"acc": i / 10})
        write_record(tmp_path / sub / "run.json", rec)
        keys.append((sub, rec["key"]))
    (tmp_path / "a" / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "a" / "corrupt.json").write_bytes(b"\x00\x01")
    got = [r["key"] for r in iter_records(tmp_path)]
    expect = [k for _, k in sorted(keys, key=lambda t: str(tmp_path / t[0] / "run.json"))]
    assert got == expect


def test_library_versions_lists_imported_libraries():
    v = records.library_versions()
    assert v["numpy"] == np.__version__ and "platform" in v


# --------------------------------------------------------------------------- plotting
def test_pyplot_is_headless_without_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    import matplotlib

    pyplot()
    assert matplotlib.get_backend().lower() == "agg"


def test_new_figure_grid_and_size():
    fig, axes = new_figure(ncols=3, nrows=2, width=2.0, height=1.5)
    try:
        assert axes.shape == (2, 3)
        np.testing.assert_allclose(fig.get_size_inches(), [6.0, 3.0], rtol=0, atol=1e-12)
    finally:
        pyplot().close(fig)


def _figure():
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.plot([0, 1, 2], [1, 0, 2], label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return fig


def test_save_figure_writes_png_atomically_and_closes(tmp_path):
    plt = pyplot()
    fig = _figure()
    p = save_figure(fig, tmp_path / "figs" / "curve.png")
    assert p.read_bytes()[:8] == PNG_MAGIC
    assert sorted(os.listdir(p.parent)) == ["curve.png"]
    assert not plt.fignum_exists(fig.number)
    # a dotted name without a known format suffix is still PNG
    q = save_figure(_figure(), tmp_path / "figs" / "lr0.01")
    assert q.read_bytes()[:8] == PNG_MAGIC


def test_save_figure_content_matches_suffix_and_mode(tmp_path):
    assert save_figure(_figure(), tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in save_figure(_figure(), tmp_path / "f.svg").read_bytes()[:400]
    old = os.umask(0o022)
    try:
        p = save_figure(_figure(), tmp_path / "g.png")
    finally:
        os.umask(old)
    assert oct(p.stat().st_mode & 0o777) == oct(0o644)  # not mkstemp's owner-only 0o600


def _dead_pid():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temporaries_of_killed_writers_are_removed_live_ones_kept(tmp_path):
    import socket
    import time

    host = socket.gethostname()
    target = tmp_path / "curve.png"
    dead = tmp_path / f".curve.png.~{_dead_pid()}@{host}~abc123.png.tmp"
    live = tmp_path / f".curve.png.~{os.getppid()}@{host}~def456.png.tmp"
    other_host_new = tmp_path / ".curve.png.~1@elsewhere~ghi789.png.tmp"
    other_host_old = tmp_path / ".curve.png.~1@elsewhere~jkl012.png.tmp"
    legacy_old = tmp_path / ".curve.png.ab_cd123.png.tmp"
    unrelated = tmp_path / ".other.png.~1@x~abc.png.tmp"
    for p in (dead, live, other_host_new, other_host_old, legacy_old, unrelated):
        p.write_bytes(b"partial")
    old = time.time() - 2 * 24 * 3600
    os.utime(other_host_old, (old, old))
    os.utime(legacy_old, (old, old))
    save_figure(_figure(), target)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([target.name, live.name, other_host_new.name, unrelated.name])
    assert target.read_bytes().startswith(PNG_MAGIC)


def test_save_animation_failure_leaves_no_temp(tmp_path):
    from matplotlib.animation import FuncAnimation

    from shared.plotting import save_animation

    fig, axes = new_figure()
    (line,) = axes[0, 0].plot([0, 1], [0, 1])

    def frame(i):
        if i == 2:
            raise RuntimeError("frame 2 failed")
        line.set_ydata([0, i])
        return (line,)

    anim = FuncAnimation(fig, frame, frames=4, blit=False)
    with pytest.raises(RuntimeError, match="frame 2 failed"):
        save_animation(fig, anim, tmp_path / "a.gif")
    assert os.listdir(tmp_path) == []
    assert not pyplot().fignum_exists(fig.number)


def test_save_figure_failure_leaves_old_file_and_no_temp(tmp_path):
    plt = pyplot()
    p = save_figure(_figure(), tmp_path / "curve.png")
    before = p.read_bytes()
    fig = _figure()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    fig.savefig = boom
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["curve.png"]
    assert not plt.fignum_exists(fig.number)


def test_writing_onto_a_folder_names_the_folder(tmp_path):
    from shared.errors import run_main

    folder = tmp_path / "fig.png"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as e:
        save_figure(_figure(), folder)
    assert e.value.filename == str(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]

    def main(argv):
        atomic_write_text(folder, "x")

    assert run_main(main, []) == 2
