"""Faults injected on purpose: a process killed outright (SIGKILL) in the middle of a download, a
figure or a run record, and records left damaged. After each, nothing half-done may look done,
and the next start must leave no temporary file behind.

Downloads are served by a local HTTP server on 127.0.0.1 (a thread) that can stall mid-file.
"""

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from shared import records
from shared.download import clean_stale_downloads, download
from shared.idx import read_idx, to_idx_bytes

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _child(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the child ended early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("timed out waiting for the child")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


# --------------------------------------------------------------------------- downloads
@pytest.fixture
def stalling_server(monkeypatch):
    """``(base_url, state)``: serves ``state["body"]`` at /f.gz; while ``state["stall"]`` is
    set, sends half the body and then hangs (until the test ends)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    release = threading.Event()
    state = {"body": b"", "stall": True, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["hits"] += 1
            body = state["body"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state["stall"]:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                release.wait(30)
                return
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", state
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()


def test_download_killed_midway_leaves_nothing_usable_and_next_start_cleans(stalling_server,
                                                                            tmp_path):
    base, state = stalling_server
    labels = np.random.default_rng(0).integers(0, 10, 400_000, dtype=np.uint8)
    body = gzip.compress(to_idx_bytes(labels), compresslevel=0)  # big enough to stall inside
    state["body"] = body
    md5 = hashlib.md5(body).hexdigest()
    cache = tmp_path / "cache"
    dest = cache / "labels.gz"
    child = _child(f"""
        from shared.download import download
        download([{base + '/f.gz'!r}], {str(dest)!r}, {md5!r})
    """)

    def partial_on_disk():
        return any(p.is_file() and p.stat().st_size > 0 for p in cache.rglob("*"))

    _wait_for(partial_on_disk, child)
    _kill(child)
    left = [p for p in cache.rglob("*") if p.is_file()]
    assert left and not dest.exists()  # the partial file lies only in the staging folder
    assert all(p.parent.name.startswith(".download-") for p in left)
    # nothing under the final name: the loaders' lookup does not see it
    from shared import data

    assert not any(p.name.startswith("labels") and p.parent == cache for p in left)
    assert data.find_idx_files("mnist", data_dir=cache, cache_dir=cache) == dict.fromkeys(
        ("train-images", "train-labels", "test-images", "test-labels"))
    # the next start: the stale staging folder goes, the file is fetched and verified
    state["stall"] = False
    assert download([f"{base}/f.gz"], dest, md5) == dest
    assert sorted(p.name for p in cache.iterdir()) == ["labels.gz"]
    np.testing.assert_array_equal(read_idx(dest), labels)


def test_stale_leftovers_of_older_downloaders_are_cleaned(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    old_part = cache / ".train-images-idx3-ubyte.gz.k2j4h5g6.part"  # the hand-written one
    pooch_tmp = cache / "tmpa1b2c3d4"  # pooch's temporary_file
    keep = [cache / "train-images-idx3-ubyte.gz", cache / "notes.txt", cache / "tmp"]
    for p in (old_part, pooch_tmp, *keep):
        p.write_bytes(b"x")
    removed = clean_stale_downloads(cache)
    assert sorted(removed) == sorted([old_part, pooch_tmp])
    assert sorted(cache.iterdir()) == sorted(keep)


def test_live_download_of_another_process_is_not_removed(tmp_path):
    """A staging folder whose process still runs is someone's download in progress."""
    import socket

    cache = tmp_path / "cache"
    live = cache / f".download-{socket.gethostname()}-{os.getppid()}-f.gz"
    live.mkdir(parents=True)
    (live / "tmpabcdefgh").write_bytes(b"partial")
    assert clean_stale_downloads(cache) == []
    assert (live / "tmpabcdefgh").exists()


# --------------------------------------------------------------------------- figures
def test_plot_killed_while_saving_leaves_old_figure_and_next_save_cleans(tmp_path):
    from shared.plotting import new_figure, save_figure

    target = tmp_path / "curve.png"
    fig, axes = new_figure()
    axes[0, 0].plot([0, 1], [1, 0])
    save_figure(fig, target)
    before = target.read_bytes()
    child = _child(f"""
        import os, signal
        from shared.plotting import new_figure, save_figure
        fig, axes = new_figure()
        axes[0, 0].plot([0, 1], [0, 1])
        def dying_savefig(path, **kw):
            with open(path, "wb") as f:
                f.write(b"\\x89PNG half a figure")
            os.kill(os.getpid(), signal.SIGKILL)
        fig.savefig = dying_savefig
        save_figure(fig, {str(target)!r})
    """)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == before  # the old figure is intact
    stale = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(stale) == 1 and stale[0].startswith(".curve.png.")
    fig, axes = new_figure()
    axes[0, 0].plot([0, 1], [0, 1])
    save_figure(fig, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]
    assert target.read_bytes() != before and target.read_bytes().startswith(b"\x89PNG")


# --------------------------------------------------------------------------- run records
def _record(**metrics):
    return records.make_record("run", {"lr": 0.1}, metrics or {"final": {"val_acc": 0.9}},
                               wall_time=1.0)


def test_record_writer_killed_keeps_the_old_record_and_leaves_no_temp(tmp_path):
    path = tmp_path / "run.json"
    records.write_record(path, _record())
    old = path.read_bytes()
    child = _child(f"""
        import os, signal
        from shared import records
        with records.atomic_output({str(path)!r}) as tmp:
            tmp.write_text('{{"schema": "mlp-ladder/run", "status": "ok", "metr')
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == old
    assert records.load_valid_record(path)["metrics"] == {"final": {"val_acc": 0.9}}
    assert len(list(tmp_path.iterdir())) == 2  # the record and the killed writer's temp file
    records.write_record(path, _record(final={"val_acc": 0.7}))
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("damage", [
    "ok-without-metrics", "ok-missing-required", "ok-with-error", "cut-short", "key-mismatch",
    "not-json", "empty", "folder"])
def test_damaged_record_is_not_trusted(tmp_path, damage):
    """A run whose record is damaged counts as not done: it is run again, not trusted."""
    path = tmp_path / "run.json"
    rec = json.loads(json.dumps(_record()))
    if damage == "ok-without-metrics":
        rec["metrics"] = {}
    elif damage == "ok-with-error":
        rec["error"] = "crashed after writing"
    elif damage == "key-mismatch":
        rec["config"]["lr"] = 0.2
    text = json.dumps(rec)
    if damage == "cut-short":
        text = text[: len(text) // 2]
    elif damage == "not-json":
        text = "status: ok"
    elif damage == "empty":
        text = ""
    if damage == "folder":
        path.mkdir()
    else:
        path.write_text(text)
    required = ("final", "history") if damage == "ok-missing-required" else ()
    assert records.load_valid_record(path, required_metrics=required) is None
    if not required:  # (a record lacking what one caller needs is still a record)
        assert list(records.iter_records(tmp_path)) == []
    # the re-run replaces it with a valid record, which is then trusted
    if damage == "folder":
        path.rmdir()
    records.write_record(path, _record(final={"val_acc": 0.8}, history=[1]))
    assert records.load_valid_record(path, required_metrics=required)["status"] == "ok"
