"""Hostile environments: a full disk, a read-only folder, signals at awkward moments, a data path
that is set but unusable, absurd values, a second writer into the same run folder.

After each: one clear ``error:`` line (or ``interrupted`` / ``terminated``), the documented exit
status, no traceback, and nothing half-done left behind. Signals are sent at fixed points - a
monkeypatched function of the child process sends them - never after a sleep. A full disk is a
small tmpfs, mounted where the test may (root on Linux); elsewhere those tests skip.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from shared import data, records
from shared.cli import epoch_count, learning_rate
from shared.errors import OutputPathError, Terminated, run_main
from shared.idx import to_idx_bytes
from shared.plotting import new_figure, save_figure

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
POSIX = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def temporaries(folder: Path) -> list[Path]:
    """Temporary files of the atomic writers (``.<name>.~<pid>@<host>~...``) below ``folder``."""
    return [p for p in folder.rglob(".*") if "~" in p.name or p.name.endswith(".tmp")]


def child(code: str, *args: str, cwd: Path, env: dict | None = None
          ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python in its own session (a signal sent to its process group
    reaches its workers too, as Ctrl-C in a terminal does)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd,
                          env={**ENV, **(env or {})}, capture_output=True, text=True,
                          timeout=120, start_new_session=True)


def session_processes(sid: int) -> list[str]:
    """The processes still alive in session ``sid`` (the child's workers, if any were left)."""
    left = []
    for p in Path("/proc").iterdir():
        try:
            stat = (p / "stat").read_text() if p.name.isdigit() else ""
            # fields after "(name)": state, ppid, pgrp, session; a zombie is already gone
            state, _, _, session = stat.rsplit(")", 1)[-1].split()[:4] if stat else "Z000"
            if int(session) == sid and state != "Z":
                left.append(f"{p.name} {stat.split()[1]} {state}: "
                            + (p / "cmdline").read_text().replace("\0", " "))
        except (OSError, ValueError):
            continue
    return left


# --------------------------------------------------------------------------- a full disk
@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs at ``tmp_path/disk``, filled to all but ``room`` bytes by ``fill(room)``."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")

    def fill(room: int) -> None:
        st = os.statvfs(disk)
        (disk / "filler").write_bytes(bytes(max(0, st.f_bavail * st.f_frsize - room)))

    try:
        yield disk, fill
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=120)


def assert_one_error_line(r: subprocess.CompletedProcess, *names: str) -> None:
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    for name in names:
        assert name in r.stderr


@pytest.mark.parametrize("cmd, room, file", [
    (["stage1_scalar", "train", "--epochs", "1", "--samples", "400", "--val-samples", "100"],
     20_000, "loss_curve.png"),     # the figure: matplotlib's own error hides the ENOSPC
    (["stage4_analysis", "--only", "disc", "--epochs", "1", "--limit", "40", "--jobs", "1",
      "--no-progress"], 40_000, ".json"),    # a run record (about 90 kB)
])
def test_a_full_disk_is_one_line_and_leaves_nothing(tiny_disk, tmp_path, cmd, room, file):
    disk, fill = tiny_disk
    fill(room)
    r = command(*cmd, "--out", str(disk / "out" / "run"), cwd=tmp_path)
    assert_one_error_line(r, "no space left", str(disk / "out" / "run"), file, "--out")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]   # the folders it made: gone


def test_a_read_only_output_folder_is_one_line(tiny_disk, tmp_path):
    disk, _ = tiny_disk
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    r = command("stage3_batched", "--dataset", "synth", "--epochs", "1", "--limit", "60",
                "--hidden-dims", "4", "--no-progress", "--out", str(disk / "o"), cwd=tmp_path)
    assert_one_error_line(r, "--out", str(disk / "o"))


def test_a_figure_save_that_hits_a_full_disk_names_the_file(tmp_path, monkeypatch):
    """matplotlib reports ENOSPC during a PNG save as an AttributeError raised while handling
    it; the writer still raises one OutputPathError naming the file, and leaves no temporary."""
    fig, _ = new_figure()

    def full_disk(fname, **kw):
        Path(fname).write_bytes(b"\x89PNG partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise AttributeError("'_idat' object has no attribute 'fileno'") from None

    monkeypatch.setattr(fig, "savefig", full_disk)
    with pytest.raises(OutputPathError, match=r"curves\.png: cannot write it: no space left"):
        save_figure(fig, tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_record_names_the_file_even_without_a_file_name(tmp_path, monkeypatch):
    def quota(self, text, encoding=None):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(Path, "write_text", quota)
    with pytest.raises(OutputPathError, match=r"r\.json: cannot write it: disk quota exceeded"):
        records.atomic_write_text(tmp_path / "r.json", "{}")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- signals
SAVEFIG_SIGNAL = """
    import os, signal, sys
    from matplotlib.figure import Figure
    from shared.errors import run_main
    from stage2_perinstance.__main__ import main

    def savefig(self, fname, *a, **k):   # half a file written, then the signal arrives
        open(fname, "wb").write(b"\\x89PNG partial")
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))

    Figure.savefig = savefig
    sys.exit(run_main(main, sys.argv[2:]))
"""


@POSIX
@pytest.mark.parametrize("sig, status, word", [("SIGTERM", 143, "terminated"),
                                                ("SIGINT", 130, "interrupted")])
def test_a_signal_during_a_figure_save_leaves_no_temporary(tmp_path, sig, status, word):
    out = tmp_path / "s2"
    r = child(SAVEFIG_SIGNAL, sig, "--dataset", "synth", "--limit", "60", "--epochs", "1",
              "--hidden", "3", "--no-progress", "--out", str(out), cwd=tmp_path)
    assert r.returncode == status, r.stderr
    assert r.stderr.strip().splitlines()[-1] == word and "Traceback" not in r.stderr
    assert temporaries(tmp_path) == [] and not (out / "loss_curve.png").exists()


RECORD_SIGNAL = """
    import os, signal, sys
    import stage4_analysis.runs as runs
    from shared.errors import run_main
    from stage4_analysis.cli import main

    written = runs.write_record
    def write_record(path, rec):   # like Ctrl-C in a terminal, after the first record
        out = written(path, rec)
        os.killpg(0, getattr(signal, sys.argv[1]))
        return out

    runs.write_record = write_record
    sys.exit(run_main(main, sys.argv[2:]))
"""
STUDY = ["--only", "disc", "--epochs", "1", "--limit", "40", "--no-progress"]


def interrupted_study(tmp_path, sig: str, *backend: str) -> Path:
    """A stage-4 study signalled after its first record: exit status, one line, no traceback,
    no worker process, no temporary or scratch file; returns its output folder."""
    out = tmp_path / "s4"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(RECORD_SIGNAL), sig, *STUDY,
                             *backend, "--out", str(out)], cwd=tmp_path, env=ENV,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[sig], err
    assert err.strip().splitlines()[-1] in ("interrupted", "terminated"), err
    assert "Traceback" not in err and "Warning" not in err and "WARNING" not in err, err
    for _ in range(50):   # a worker being killed may take a moment to be gone
        if not session_processes(proc.pid):
            break
        time.sleep(0.05)
    assert session_processes(proc.pid) == []
    assert temporaries(tmp_path) == []
    assert not list(tmp_path.rglob("dask-scratch-space")) and not list(tmp_path.rglob("*.dirlock"))
    assert not list(Path(tempfile.gettempdir()).glob(f"mlp-ladder-dask-{proc.pid}-*"))
    return out


@POSIX
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_joblib_study_cleanly_and_the_rerun_resumes(tmp_path, sig, capsys):
    out = interrupted_study(tmp_path, sig, "--jobs", "2")
    done = len(list((out / "runs").rglob("*.json")))
    assert 1 <= done < 3
    if sig == "SIGTERM":
        return            # the same records as after Ctrl-C: one rerun below is enough
    from stage4_analysis.cli import main
    from stage4_analysis.experiments import disc

    rerun = STUDY + ["--jobs", "1", "--out", str(out)]
    assert run_main(lambda argv: main(argv, modules=[disc]), rerun) == 0
    assert f"{done} reused, {3 - done} executed" in capsys.readouterr().err


@POSIX
def test_ctrl_c_stops_a_dask_study_quietly(tmp_path):
    pytest.importorskip("distributed", reason="Dask is an optional extra ([cluster])")
    interrupted_study(tmp_path, "SIGINT", "--backend", "dask")   # scratch space checked too


def test_a_dask_scratch_space_left_by_a_killed_process_is_removed():
    from stage4_analysis.runs import SCRATCH_PREFIX, clean_stale_scratch

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}{dead}-abc"
    live = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    (stale / "dask-scratch-space" / "worker-x").mkdir(parents=True)
    try:
        assert stale in clean_stale_scratch()
        assert not stale.exists() and live.exists()       # a running cluster's is kept
    finally:
        shutil.rmtree(live)


def test_sigterm_raises_terminated_inside_the_boundary():
    def main(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached")

    previous = signal.getsignal(signal.SIGTERM)
    assert run_main(main, []) == Terminated.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == previous


# --------------------------------------------------------------------------- the data path
def fake_mnist(folder: Path) -> None:
    """The four MNIST files (final split), 12 images each."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem in ("train", "t10k"):
        name = data.IDX_SETS["mnist"].files[f"{'train' if stem == 'train' else 'test'}-images"][0]
        (folder / name).write_bytes(to_idx_bytes(rng.integers(0, 256, (12, 28, 28),
                                                              dtype=np.uint8)))
        name = name.replace("images-idx3", "labels-idx1")
        (folder / name).write_bytes(to_idx_bytes(np.arange(12, dtype=np.uint8) % 10))


@pytest.mark.parametrize("kind, why", [("file", "is a file, not a folder"),
                                       ("loop", "is a loop of symbolic links")])
def test_an_unusable_data_path_is_an_error_naming_it(tmp_path, monkeypatch, kind, why):
    fake_mnist(tmp_path / "cache" / "mnist")           # a copy elsewhere is not used silently
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad"
    if kind == "file":
        bad.write_text("not a folder")
    else:
        (tmp_path / "other").symlink_to(bad)
        bad.symlink_to(tmp_path / "other")
    monkeypatch.setenv("MLP_LADDER_DATA", str(bad))
    with pytest.raises(data.DataNotFoundError, match=f"MLP_LADDER_DATA={bad} {why}"):
        data.load_mnist(final=True, download=False)


def test_an_empty_data_path_says_which_copy_is_used_and_the_record_names_it(
        tmp_path, monkeypatch, capsys):
    fake_mnist(tmp_path / "cache" / "mnist")
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MLP_LADDER_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "_NOTED", set())
    (x, _), _, _ = data.load_mnist(final=True, download=False)
    assert x.shape == (12, 784)
    err = capsys.readouterr().err
    assert err == (f"note: MLP_LADDER_DATA={tmp_path / 'empty'} is empty; using the copy in "
                   f"{tmp_path / 'cache' / 'mnist'}\n")
    rec = records.make_record("t", {"dataset": "mnist"}, {"loss": 1.0})
    assert rec["data_files"]["mnist"][0] == str(tmp_path / "cache" / "mnist" /
                                                "train-images-idx3-ubyte")
    assert set(rec["data_files"]) == {"mnist"}


def test_stage_records_say_which_files_they_trained_on(tmp_path, capsys):
    from stage3_batched.__main__ import main

    out = tmp_path / "o"
    assert run_main(main, ["--dataset", "iris", "--epochs", "1", "--hidden-dims", "4",
                           "--no-progress", "--out", str(out)]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["data_files"] == {"iris": [str(data.IRIS_CSV)]}


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize("parse, text, message", [
    (learning_rate, "1e300", "expected a learning rate from 1e-10 to 1e+10, got 1e300"),
    (learning_rate, "1e-300", "expected a learning rate from 1e-10 to 1e+10"),
    (learning_rate, "nan", "expected a learning rate from"),
    (epoch_count, "1000000000000000000", "expected a number of epochs from 1 to 1,000,000"),
    (epoch_count, "0", "expected a number of epochs from 1 to 1,000,000, got 0"),
])
def test_values_that_would_overflow_are_refused_with_the_range(parse, text, message):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("+", r"\+")):
        parse(text)


@pytest.mark.parametrize("argv, flag", [
    (["--only", "lr-study", "--lrs", "1e300"], "--lrs"),
    (["--only", "disc", "--epochs", "1000000000000000000"], "--epochs"),
])
def test_stage4_refuses_absurd_values_before_running(tmp_path, capsys, argv, flag):
    from stage4_analysis.cli import main

    with pytest.raises(SystemExit) as e:     # argparse's own exit, as the command's
        run_main(main, argv + ["--out", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: argument {flag}: expected")
    assert not (tmp_path / "o").exists()


def test_fit_names_the_callers_mismatch():
    from stage3_batched.losses import SoftmaxCrossEntropy
    from stage3_batched.model import MLP
    from stage3_batched.optim import SGD
    from stage3_batched.trainer import fit

    rng = np.random.default_rng(0)
    X, c = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    model = MLP(2, [3], 2, rng=rng)
    for train, val, message in [((X, c), (X, c[:15]), "validation: 40 inputs but 15 targets"),
                                ((X, c[:15]), None, "training: 40 inputs but 15 targets")]:
        with pytest.raises(ValueError, match=message):
            fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), train, val, epochs=1,
                batch_size=8, rng=rng, progress=False)


# --------------------------------------------------------------------------- one writer
def test_a_second_writer_is_refused_naming_the_first_and_readers_are_free(tmp_path, capsys):
    from stage4_analysis.cli import main
    from stage4_analysis.runs import LOCK_NAME, writer_lock

    out = tmp_path / "s4"
    records.write_record(out / "runs" / "r.json", records.make_record("r", {}, {"loss": 1}))
    with writer_lock(out):
        assert len(list(records.iter_records(out / "runs"))) == 1      # reading is fine
        assert run_main(main, STUDY + ["--jobs", "1", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--out {out}: another run is writing there" in err
        assert f"process {os.getpid()} on " in err
        with pytest.raises(OutputPathError, match="another run is writing there"):
            with writer_lock(out):
                pass
    assert not (out / LOCK_NAME).exists()
    with writer_lock(out):                                              # free again
        assert (out / LOCK_NAME).exists()
    assert sorted(p.name for p in out.iterdir()) == ["runs"]
