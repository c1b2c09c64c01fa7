"""The download path and the file lookup of shared/data.py and shared/download.py, offline.

A local HTTP server on 127.0.0.1 (a thread) serves fixture IDX files and misbehaves on demand:
HTTP 500 / 404, a wrong file (checksum mismatch), a Content-Length bigger than the body followed
by a closed connection (interrupted transfer). After every failure the destination folder must
hold no file at all: nothing that could later be mistaken for a valid download.
"""

import dataclasses
import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from shared import data
from shared.download import ChecksumError, DownloadError, cache_root, content_md5, download
from shared.errors import run_main
from shared.idx import to_idx_bytes


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}  # path -> (mode, body); set per server
    hits: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        mode, body = self.routes.get(self.path, ("404", b""))
        if mode in ("404", "500"):
            self.send_error(int(mode))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "short":  # promise more than we send, then hang up
            self.send_header("Content-Length", str(len(body) + 5000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(monkeypatch):
    """``(base_url, routes, hits)``: register ``routes["/x"] = (mode, bytes)`` before fetching."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    routes, hits = {}, []
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": hits})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", routes, hits
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _files_in(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------- download()
def test_download_success_atomic_and_verified(server, tmp_path):
    base, routes, _ = server
    body = gzip.compress(b"hello idx" * 1000)
    routes["/f.gz"] = ("ok", body)
    dest = tmp_path / "cache" / "f.gz"
    assert download([f"{base}/f.gz"], dest, md5(body)) == dest
    assert dest.read_bytes() == body
    assert _files_in(dest.parent) == ["f.gz"]  # no temporary file left behind


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, routes, _ = server
    routes["/f.gz"] = ("ok", gzip.compress(b"tampered"))
    dest = tmp_path / "cache" / "f.gz"
    with pytest.raises(ChecksumError, match="failed checksum verification") as e:
        download([f"{base}/f.gz"], dest, md5(b"something else"))
    assert "expected " + md5(b"something else") in str(e.value)
    assert _files_in(dest.parent) == []


@pytest.mark.parametrize("mode", ["500", "404"])
def test_download_server_error_leaves_nothing(server, tmp_path, mode):
    base, routes, _ = server
    routes["/f.gz"] = (mode, b"")
    dest = tmp_path / "cache" / "f.gz"
    with pytest.raises(DownloadError, match=f"HTTP {mode}") as e:
        download([f"{base}/f.gz"], dest, md5(b""))
    assert e.value.failures and e.value.failures[0][0] == f"{base}/f.gz"
    assert _files_in(dest.parent) == []


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    base, routes, _ = server
    body = np.random.default_rng(0).bytes(100_000)
    routes["/f.gz"] = ("short", body)
    dest = tmp_path / "cache" / "f.gz"
    # even with the checksum of exactly what arrives, a short body must be rejected
    with pytest.raises(DownloadError, match="interrupted transfer"):
        download([f"{base}/f.gz"], dest, md5(body[: len(body) // 2]))
    assert _files_in(dest.parent) == []


def test_download_unreachable_server(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens on this port any more
    with pytest.raises(DownloadError, match="could not download"):
        download([f"http://127.0.0.1:{port}/f.gz"], tmp_path / "f.gz", "0" * 32, timeout=5)
    assert _files_in(tmp_path) == []


def test_download_falls_back_to_next_mirror(server, tmp_path):
    base, routes, hits = server
    body = gzip.compress(b"payload")
    routes["/a/f.gz"] = ("500", b"")
    routes["/b/f.gz"] = ("short", body)
    routes["/c/f.gz"] = ("ok", body)
    dest = tmp_path / "f.gz"
    download([f"{base}/a/f.gz", f"{base}/b/f.gz", f"{base}/c/f.gz"], dest, md5(body))
    assert dest.read_bytes() == body
    assert hits == ["/a/f.gz", "/b/f.gz", "/c/f.gz"]
    assert _files_in(tmp_path) == ["f.gz"]


def test_download_accepts_recompressed_same_content(server, tmp_path):
    """A mirror that recompressed the file (different .gz bytes) passes via the content MD5."""
    base, routes, _ = server
    raw = to_idx_bytes(np.arange(60, dtype=np.uint8))
    official, recompressed = gzip.compress(raw, 9, mtime=0), gzip.compress(raw, 1, mtime=1)
    assert md5(official) != md5(recompressed)
    routes["/f.gz"] = ("ok", recompressed)
    dest = tmp_path / "f.gz"
    download([f"{base}/f.gz"], dest, md5(official), content_md5s=(md5(raw),))
    assert content_md5(dest) == md5(raw)
    with pytest.raises(ChecksumError):
        download([f"{base}/f.gz"], tmp_path / "g.gz", md5(official), content_md5s=("0" * 32,))


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MLP_LADDER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mlp-ladder"
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


# --------------------------------------------------------------------------- load_mnist end to end
@pytest.fixture
def fake_mnist(monkeypatch, tmp_path):
    """Tiny stand-in MNIST files (5,010 train, 6 test) with their checksums patched into the
    registry, and the user's cache/data env vars pointed at empty temporary folders."""
    rng = np.random.default_rng(42)
    n_train, n_test = data.NUM_VAL_IDX + 10, 6
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test-labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    spec = data.IDX_SETS["mnist"]
    files, bodies = {}, {}
    for role, arr in arrays.items():
        fname = spec.files[role][0]
        raw = to_idx_bytes(arr)
        gz = gzip.compress(raw, mtime=0)
        files[role] = (fname, md5(gz), md5(raw))
        bodies[fname + ".gz"] = gz
    monkeypatch.setitem(data.IDX_SETS, "mnist", dataclasses.replace(spec, files=files))
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    monkeypatch.delenv("MLP_LADDER_MNIST_MIRROR", raising=False)
    return arrays, bodies


def test_load_mnist_downloads_into_cache_then_works_offline(server, fake_mnist, tmp_path,
                                                            monkeypatch):
    base, routes, hits = server
    arrays, bodies = fake_mnist
    for name, body in bodies.items():
        routes[f"/mirror/{name}"] = ("ok", body)
    cache = tmp_path / "user-cache" / "mnist"
    (xt, yt), (xv, yv), k = data.load_mnist(mirrors=[f"{base}/mirror"])
    # final=False needs (and fetches) only the training files
    assert sorted(hits) == ["/mirror/train-images-idx3-ubyte.gz",
                            "/mirror/train-labels-idx1-ubyte.gz"]
    assert _files_in(cache) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert xt.shape == (10, 784) and xv.shape == (data.NUM_VAL_IDX, 784) and k == 10
    np.testing.assert_array_equal(yv, arrays["train-labels"][10:])
    # final=True fetches the test files too (mirror from the environment variable this time)
    monkeypatch.setenv("MLP_LADDER_MNIST_MIRROR", f"{base}/nowhere, {base}/mirror")
    (xt, _), (xv, yv), _ = data.load_mnist(final=True)
    assert xt.shape == (data.NUM_VAL_IDX + 10, 784) and xv.shape == (6, 784)
    np.testing.assert_array_equal(yv, arrays["test-labels"])
    assert len(_files_in(cache)) == 4
    # from now on the cache is enough
    hits.clear()
    (_, _), (xv2, _), _ = data.load_mnist(final=True, download=False)
    np.testing.assert_array_equal(xv2, xv)
    assert hits == []


def test_load_mnist_server_error_is_a_clear_not_found(server, fake_mnist, tmp_path):
    base, _, _ = server  # fake_mnist's files are registered nowhere: every request is a 404
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_mnist(mirrors=[f"{base}/mirror"])
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "HTTP 404" in msg
    assert str(tmp_path / "user-cache" / "mnist") in msg and "--fetch mnist" in msg
    assert [p for p in _files_in(tmp_path / "user-cache") if "ubyte" in p] == []


def test_load_mnist_checksum_mismatch_keeps_nothing(server, fake_mnist, tmp_path):
    base, routes, _ = server
    _, bodies = fake_mnist
    for name, body in bodies.items():
        routes[f"/m/{name}"] = ("ok", body[:-8] + b"\0" * 8)  # corrupt tail
    with pytest.raises(ChecksumError):
        data.load_mnist(mirrors=[f"{base}/m"])
    cache = tmp_path / "user-cache" / "mnist"
    assert [p for p in _files_in(cache) if "ubyte" in p] == []


def test_load_mnist_interrupted_download_keeps_nothing(server, fake_mnist, tmp_path):
    base, routes, _ = server
    _, bodies = fake_mnist
    for name, body in bodies.items():
        routes[f"/m/{name}"] = ("short", body)
    with pytest.raises(data.DataNotFoundError, match="interrupted transfer"):
        data.load_mnist(mirrors=[f"{base}/m"])
    assert [p for p in _files_in(tmp_path / "user-cache") if "ubyte" in p] == []


def test_command_line_fetch_and_list(server, fake_mnist, tmp_path, monkeypatch, capsys):
    base, routes, _ = server
    _, bodies = fake_mnist
    for name, body in bodies.items():
        routes[f"/m/{name}"] = ("ok", body)
    monkeypatch.setenv("MLP_LADDER_MNIST_MIRROR", f"{base}/m")
    assert data.main(["--fetch", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.count(str(tmp_path / "user-cache" / "mnist")) == 4
    assert all(describe_line in out for describe_line in map(data.describe, data.DATASETS))
    routes.clear()
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "other-cache"))
    assert run_main(data.main, ["--fetch", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- offline, lookup order
def test_offline_missing_message_lists_files_places_and_remedy(monkeypatch, tmp_path,
                                                              system_data):
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLP_LADDER_DATA", str(tmp_path / "root"))
    spec = data.IDX_SETS["fashion-mnist"]
    debian = tmp_path / "debian-fashion"
    monkeypatch.setitem(data.IDX_SETS, "fashion-mnist", dataclasses.replace(
        spec, system_dirs=((str(debian), "Debian/Ubuntu package dataset-fashion-mnist"),)))
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_fashion_mnist(final=True, download=False)
    msg = str(e.value)
    for fname in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte"):
        assert fname in msg
    assert "4 file(s) not found" in msg
    for place in (tmp_path / "root" / "fashion-mnist", tmp_path / "cache" / "fashion-mnist",
                  debian):
        assert str(place) in msg
    assert "download=False" in msg
    # the remedy speaks to command-line users: the variable and the fetch command, no Python
    assert "data_dir=" not in msg and "MLP_LADDER_DATA=<folder>" in msg
    assert "python -m shared.data --fetch fashion-mnist" in msg
    assert "apt install dataset-fashion-mnist" in msg
    manual = "\n".join(data.manual_download_lines("fashion-mnist", ["train-images"]))
    assert "curl -fLO" in manual and spec.files["train-images"][1] in manual  # with the MD5
    # with data_dir given, it is listed (and MLP_LADDER_DATA is not used)
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_fashion_mnist(data_dir=tmp_path / "mine", download=False)
    assert str(tmp_path / "mine") in str(e.value)
    assert str(tmp_path / "root") not in str(e.value)
    assert "2 file(s) not found" in str(e.value)  # final=False needs only the training pair


def _write_set(folder, label, n=3):
    """A tiny IDX set whose labels are all ``label`` (to tell the places apart)."""
    from shared.idx import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.full(n, label, np.uint8))


def test_lookup_order(monkeypatch, tmp_path, system_data):
    spec = data.IDX_SETS["fashion-mnist"]
    system = tmp_path / "system"
    monkeypatch.setitem(data.IDX_SETS, "fashion-mnist", dataclasses.replace(
        spec, system_dirs=((str(system), "a system package"),)))
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLP_LADDER_DATA", str(tmp_path / "root"))
    places = [(tmp_path / "arg", 1), (tmp_path / "root" / "fashion-mnist", 2),
              (tmp_path / "cache" / "fashion-mnist", 3), (system, 4)]
    for folder, label in places:
        _write_set(folder, label)

    def label_loaded(**kw):
        _, (_, y), _ = data.load_fashion_mnist(final=True, download=False, **kw)
        return int(y[0])

    assert label_loaded(data_dir=tmp_path / "arg") == 1
    assert label_loaded() == 2
    (tmp_path / "root" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert label_loaded() == 3  # per file: the labels now come from the cache
    monkeypatch.delenv("MLP_LADDER_DATA")
    for p in (tmp_path / "cache" / "fashion-mnist").iterdir():
        p.unlink()
    assert label_loaded() == 4
    # data_dir may also be a root holding <name>/
    assert label_loaded(data_dir=tmp_path / "root") == 4  # root/fashion-mnist lacks t10k labels
    found = data.find_idx_files("fashion-mnist", data_dir=tmp_path / "root")
    assert found["train-images"] == tmp_path / "root" / "fashion-mnist" / (
        "train-images-idx3-ubyte.gz")


# --------------------------------------------------------------------------- pooch specifics
def test_download_is_cached_and_replaces_a_corrupt_copy(server, tmp_path):
    base, routes, hits = server
    body = gzip.compress(b"cached idx" * 500)
    routes["/f.gz"] = ("ok", body)
    dest = tmp_path / "cache" / "f.gz"
    download([f"{base}/f.gz"], dest, md5(body))
    assert hits == ["/f.gz"]
    download([f"{base}/f.gz"], dest, md5(body))  # verified copy present: no request
    assert hits == ["/f.gz"]
    dest.write_bytes(body[:-3])  # damaged in place: fetched again, verified
    download([f"{base}/f.gz"], dest, md5(body))
    assert hits == ["/f.gz", "/f.gz"] and dest.read_bytes() == body


def test_download_is_quiet_off_a_terminal(server, tmp_path, capsys):
    """pooch's log lines (and the progress bar, off a terminal) stay out of the output."""
    base, routes, _ = server
    body = gzip.compress(b"quiet" * 100)
    routes["/f.gz"] = ("ok", body)
    download([f"{base}/f.gz"], tmp_path / "f.gz", md5(body), content_md5s=(md5(b"x"),))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_download_uses_pooch(server, tmp_path, monkeypatch):
    import pooch

    base, routes, _ = server
    body = gzip.compress(b"through pooch")
    routes["/f.gz"] = ("ok", body)
    calls = []
    real = pooch.retrieve
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: calls.append(k) or real(*a, **k))
    download([f"{base}/f.gz"], tmp_path / "f.gz", md5(body))
    assert len(calls) == 1 and calls[0]["known_hash"] == f"md5:{md5(body)}"
    assert isinstance(calls[0]["downloader"], pooch.HTTPDownloader)


def test_unwritable_cache_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DownloadError, match="MLP_LADDER_CACHE"):
        download(["http://127.0.0.1:9/f.gz"], blocker / "sub" / "f.gz", "0" * 32)


def test_command_line_with_a_cache_that_is_a_file(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MLP_LADDER_CACHE", str(blocker))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    monkeypatch.setenv("MLP_LADDER_MNIST_MIRROR", "http://127.0.0.1:9/")
    assert run_main(data.main, ["--fetch", "mnist"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "MLP_LADDER_CACHE" in err and str(blocker) in err
