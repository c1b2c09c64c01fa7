"""Fetch a data file safely: the per-user cache folder, mirrors, checksums and atomic writes.

:func:`download` tries each mirror in turn with ``urllib`` (no third-party HTTP library), streams
into a temporary file in the destination folder with a tqdm progress bar, checks the byte count
against the server's ``Content-Length`` and the MD5 against the published one, and only then
renames the file into place. Whatever goes wrong (server error, dropped connection, wrong
checksum, Ctrl-C) the temporary file is deleted, so a file that exists under its final name is
always a complete, verified one.

Leaves out: resuming partial downloads, proxies beyond what ``urllib`` reads from the
environment, and any retry policy other than "next mirror".
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from shared.errors import LadderError

CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds per socket operation


class DownloadError(LadderError, OSError):
    """Every mirror failed for a reason other than a checksum mismatch (offline, HTTP error,
    interrupted transfer). ``failures`` lists ``(url, reason)``."""

    def __init__(self, message: str, failures: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.failures = list(failures)


class ChecksumError(LadderError, ValueError):
    """A downloaded file did not have the published checksum (nothing was kept)."""


def cache_root() -> Path:
    """The per-user cache folder: ``$MLP_LADDER_CACHE``, else ``$XDG_CACHE_HOME/mlp-ladder``,
    else ``~/.cache/mlp-ladder``."""
    if os.environ.get("MLP_LADDER_CACHE"):
        return Path(os.environ["MLP_LADDER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlp-ladder"


def md5_of_file(path: str | os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def content_md5(path: str | os.PathLike) -> str:
    """MD5 of the file's content after gunzipping it when it is gzip data (for checking files
    that were recompressed, like Debian's, against the published uncompressed checksums)."""
    with open(path, "rb") as f:
        is_gz = f.read(2) == b"\x1f\x8b"
    if not is_gz:
        return md5_of_file(path)
    h = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
    except (EOFError, OSError, zlib.error):
        return "corrupt-gzip"
    return h.hexdigest()


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None, leave=False)


def _fetch_to(url: str, tmp: Path, desc: str, timeout: float) -> None:
    """Stream ``url`` into ``tmp``; raise OSError on an HTTP error or a short body."""
    req = urllib.request.Request(url, headers={"User-Agent": "mlp-ladder"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        with _progress(total, desc) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                out.write(block)
                got += len(block)
                bar.update(len(block))
        if total is not None and got != total:
            raise OSError(f"interrupted transfer: received {got} of {total} bytes")


def download(urls: Sequence[str], dest: str | os.PathLike, md5: str | Sequence[str],
             content_md5s: Sequence[str] = (), timeout: float = TIMEOUT) -> Path:
    """Download the first of ``urls`` that works to ``dest`` and return ``dest``.

    The file is accepted when its MD5 is ``md5`` (or one of them), or, for gzip files, when the
    MD5 of its uncompressed content is in ``content_md5s`` (a mirror that recompressed the same
    data). It is written to a temporary file next to ``dest`` and renamed into place only after
    these checks, so ``dest`` never holds a partial or unverified file.

    Raises :class:`ChecksumError` if some mirror served a file with the wrong checksum and no
    mirror served a good one, else :class:`DownloadError` listing every mirror's failure.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    good = {md5} if isinstance(md5, str) else set(md5)
    failures: list[tuple[str, str]] = []
    bad_sums: list[tuple[str, str]] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                _fetch_to(url, tmp, dest.name, timeout)
            except urllib.error.HTTPError as e:
                failures.append((url, f"HTTP {e.code} {e.reason}"))
                continue
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", None) or e
                failures.append((url, f"{type(e).__name__}: {reason}"))
                continue
            got = md5_of_file(tmp)
            if got not in good and not (content_md5s and content_md5(tmp) in content_md5s):
                bad_sums.append((url, got))
                failures.append((url, f"MD5 {got}, expected {' or '.join(sorted(good))}"))
                continue
            os.replace(tmp, dest)
            return dest
        finally:
            if tmp.exists():
                tmp.unlink()
    detail = "\n".join(f"  {u}: {r}" for u, r in failures) or "  (no mirrors given)"
    if bad_sums:
        raise ChecksumError(f"{dest.name}: downloaded file failed checksum verification and was "
                            f"deleted (nothing saved to {dest.parent}):\n{detail}")
    raise DownloadError(f"{dest.name}: could not download from any mirror:\n{detail}", failures)
