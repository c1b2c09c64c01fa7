"""Fetch a data file safely with pooch: the per-user cache folder, mirrors, checksums, no leftovers.

:func:`download` tries each mirror in turn. Each attempt is one ``pooch.retrieve`` (HTTP through
``requests``, a progress bar on a terminal) into a private staging folder beside the destination,
``.download-<host>-<pid>-<file>/``; pooch streams into a temporary file there and moves it into
place only when complete. The file is then checked - by pooch against the published MD5 when that
is the only accepted checksum, else here with ``pooch.file_hash`` against every accepted one
(a mirror may have recompressed the same content) - and only then renamed to its final name.
Whatever goes wrong (server error, dropped connection, wrong checksum, Ctrl-C) the staging folder
is deleted, so a file that exists under its final name is always a complete, verified one.

A process killed outright (``kill -9``, power cut) cannot clean up; its staging folder, or a
temporary file of an older version (``.<file>.<random>.part``, pooch's ``tmp<random>``), is
removed by :func:`clean_stale_downloads` at the next start (a staging folder only once the process
that owns it is gone).

Leaves out: resuming partial downloads, and any retry policy other than "next mirror".
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import re
import shutil
import socket
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.errors import LadderError
from shared.records import default_file_mode, no_empty_folders_left, writer_gone

CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds per socket operation

_STAGING = re.compile(r"^\.download-(?P<host>.+)-(?P<pid>\d+)-.+$")
_OLD_PART = re.compile(r"^\..+\.part$")
_POOCH_TMP = re.compile(r"^tmp[a-z0-9_]{8}$")


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


# --------------------------------------------------------------------------- stale leftovers
def clean_stale_downloads(folder: str | os.PathLike) -> list[Path]:
    """Remove what interrupted downloads left in ``folder`` and return what was removed:
    staging folders of processes of this machine that no longer run (of other machines: older
    than a day), and temporary files of older versions (``.<file>.<random>.part``, pooch's
    ``tmp<random>``). Files under their final names are never touched."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _STAGING.match(p.name)
        try:
            if m and p.is_dir() and not p.is_symlink():
                if writer_gone(m["host"], int(m["pid"]), p):
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
            elif (_OLD_PART.match(p.name) or _POOCH_TMP.match(p.name)) and p.is_file():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


# --------------------------------------------------------------------------- download
class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # pooch's INFO chatter
        return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    import pooch

    log, quiet = pooch.get_logger(), _Quiet()
    log.addFilter(quiet)
    try:
        yield
    finally:
        log.removeFilter(quiet)


class _Progress:
    """The progress bar handed to pooch: a tqdm bar on stderr when it is a terminal (hidden
    otherwise, so logs and captured output stay clean). pooch sets ``total`` and calls
    ``update`` / ``reset`` / ``close``; a tqdm bar itself cannot be passed while its total is
    unknown (its truth value is then undefined)."""

    def __init__(self, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=None, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                        disable=None, leave=False)

    def __bool__(self) -> bool:
        return True

    @property
    def total(self):
        return self.bar.total

    @total.setter
    def total(self, value) -> None:
        self.bar.total = value or None

    def update(self, n: int) -> None:
        self.bar.update(n)

    def reset(self) -> None:
        self.bar.reset(total=self.bar.total)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _reason(e: BaseException) -> str:
    """A short reason for a failed request (``requests`` nests urllib3's errors)."""
    import requests

    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code} {e.response.reason}"
    if isinstance(e, requests.exceptions.ChunkedEncodingError):
        return "interrupted transfer: the connection closed before the whole file arrived"
    if isinstance(e, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(e, requests.exceptions.ConnectionError):
        text = str(e)
        if "Connection refused" in text:
            return "connection refused"
        if "resolve" in text or "Name or service" in text or "getaddrinfo" in text:
            return "host not found (offline?)"
        return "connection failed"
    return f"{type(e).__name__}: {e}"


def _verified(path: Path, good: set[str], content_md5s: Sequence[str]) -> str | None:
    """``None`` when ``path`` has an accepted checksum, else its MD5."""
    import pooch

    got = pooch.file_hash(str(path), alg="md5")
    if got in good or (content_md5s and content_md5(path) in content_md5s):
        return None
    return got


def download(urls: Sequence[str], dest: str | os.PathLike, md5: str | Sequence[str],
             content_md5s: Sequence[str] = (), timeout: float = TIMEOUT) -> Path:
    """Download the first of ``urls`` that works to ``dest`` and return ``dest``.

    The file is accepted when its MD5 is ``md5`` (or one of them), or, for gzip files, when the
    MD5 of its uncompressed content is in ``content_md5s`` (a mirror that recompressed the same
    data). It is fetched by pooch into a private staging folder next to ``dest`` and renamed into
    place only after these checks, so ``dest`` never holds a partial or unverified file. A
    ``dest`` that already exists with an accepted checksum is returned as it is (cached).

    Raises :class:`ChecksumError` if some mirror served a file with the wrong checksum and no
    mirror served a good one, else :class:`DownloadError` listing every mirror's failure.
    """
    dest = Path(dest)
    good = {md5} if isinstance(md5, str) else set(md5)
    with no_empty_folders_left(dest.parent):   # a failed download leaves no empty folder
        return _download(urls, dest, good, content_md5s, timeout)


def _download(urls, dest: Path, good: set[str], content_md5s, timeout: float) -> Path:
    """``dest`` verified, from the cache or else from the first of ``urls`` that serves it."""
    _make_download_folder(dest.parent)
    clean_stale_downloads(dest.parent)
    if dest.is_file() and _verified(dest, good, content_md5s) is None:
        return dest
    # pooch checks the one published MD5 itself; several accepted sums are checked here
    known = f"md5:{next(iter(good))}" if len(good) == 1 and not content_md5s else None
    failures: list[tuple[str, str]] = []
    bad_sums: list[tuple[str, str]] = []
    for url in urls:
        if _fetch_from_mirror(url, dest, known, good, content_md5s, timeout, failures,
                              bad_sums):
            return dest
    detail = "; ".join(f"{u}: {r}" for u, r in failures) or "no mirrors given"
    if bad_sums:
        raise ChecksumError(f"{dest.name}: downloaded file failed checksum verification and was "
                            f"deleted (nothing saved to {dest.parent}): {detail}")
    raise DownloadError(f"{dest.name}: could not download from any mirror: {detail}", failures)


def _make_download_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents), or raise a DownloadError saying what to set."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{folder}: cannot create the download folder "
                            f"({e.strerror or e}); set MLP_LADDER_CACHE to a writable folder"
                            ) from None


def _fetch_from_mirror(url, dest: Path, known, good: set[str], content_md5s, timeout: float,
                       failures: list, bad_sums: list) -> bool:
    """Download ``url`` to ``dest`` if its MD5 is good (True); else note why in ``failures``."""
    import pooch
    import requests

    staging = dest.parent / f".download-{socket.gethostname()}-{os.getpid()}-{dest.name}"
    try:
        with _quiet_pooch(), _Progress(dest.name) as bar:
            got = Path(pooch.retrieve(
                url, known_hash=known, fname=dest.name, path=staging, progressbar=False,
                downloader=pooch.HTTPDownloader(
                    progressbar=bar, timeout=timeout, chunk_size=CHUNK,
                    headers={"User-Agent": "mlp-ladder"})))
        bad = _verified(got, good, content_md5s)
        if bad is not None:
            bad_sums.append((url, bad))
            failures.append((url, f"MD5 {bad}, expected {' or '.join(sorted(good))}"))
            return False
        os.chmod(got, default_file_mode())
        os.replace(got, dest)
        return True
    except ValueError as e:  # pooch: the hash did not match (it deleted the file)
        m = re.search(r"does not match the known hash.*got ([0-9a-f]+)", str(e))
        if m is None:  # a URL pooch cannot fetch
            failures.append((url, f"{type(e).__name__}: {e}"))
            return False
        bad_sums.append((url, m.group(1)))
        failures.append((url, f"MD5 {m.group(1)}, expected {' or '.join(sorted(good))}"))
    except requests.RequestException as e:
        failures.append((url, _reason(e)))
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DownloadError(f"{dest.parent}: no space left while downloading "
                                f"{dest.name}; free some disk space", [(url, "ENOSPC")]
                                ) from None
        failures.append((url, f"{type(e).__name__}: {e.strerror or e}"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return False
