"""The project's error types, and the one boundary every command runs inside.

Bad input is the user's to fix, not a bug: it gets **one line** on stderr that names the flag or
file and says what to do, and the command exits with status 2. A traceback means a bug in this
project. Every command-line entry point (stage 1, 2, 3, stage 4 and its ``compare`` and speed
commands, ``shared.data``) ends in::

    if __name__ == "__main__":
        raise SystemExit(run_main(main))

Error types (all subclasses of :class:`LadderError`, so the boundary needs no list):

* :class:`ConfigError` - a flag or argument value that cannot work (also a ``ValueError``);
* :class:`OutputPathError` - an output folder that is a file, or not writable (checked before
  any training starts: :func:`check_output_dir`);
* :class:`ModelFileError` - a saved model (``.npz``) that cannot be read or does not fit;
* :class:`SizeError` - a network or data set that would need more memory than the machine has;
* :class:`DivergedError` - training diverged (exit status 1, not 2: the input was valid);
* :class:`Terminated` - SIGTERM, raised in the main thread like Ctrl-C's ``KeyboardInterrupt``
  so that every ``finally`` runs (temporary files are removed) before the command exits 143;
* ``shared.weights.WeightFormatError``, ``shared.idx.IDXError``, ``shared.data.DataNotFoundError``,
  ``shared.download.DownloadError``, ``shared.records.RecordError`` subclass it too.

An output that cannot be written - a full disk (``ENOSPC``, ``EDQUOT``), a read-only file
system, missing permissions - is the user's to fix too, wherever it happens (a record, a model,
a figure: matplotlib reports a full disk as an ``AttributeError`` raised while handling the
``OSError``, :func:`output_error` looks through the chain): one line naming the file, exit 2,
and the output folders the command created (:func:`check_output_dir`) are removed with what
they hold. Interrupted (SIGINT 130, SIGTERM 143), a command removes the folders it created and
left empty; finished run records are kept so that the same command resumes.

Pure Python: stage 1 imports it without numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


class LadderError(Exception):
    """Base of every error that is the user's to fix. ``str(e)`` is the whole message."""

    exit_code = 2


class ConfigError(LadderError, ValueError):
    """A flag or argument that cannot work; the message names it and what is allowed."""


class OutputPathError(LadderError, OSError):
    """An output folder or file that cannot be written."""


class ModelFileError(LadderError, ValueError):
    """A saved model file that cannot be read, or that does not match the model."""


class SizeError(LadderError, ValueError):
    """A network or data set too large for this machine; the message gives the estimate."""


class DivergedError(LadderError):
    """Training diverged; the run is recorded as diverged and no model is saved as good."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (:func:`run_main` turns the signal into this exception)."""

    exit_code = 128 + signal.SIGTERM


#: ``errno`` values meaning "this output cannot be written here", each with what to do.
OUTPUT_ERRNOS = {
    errno.ENOSPC: ("no space left on the device", "free some disk space"),
    errno.EDQUOT: ("disk quota exceeded", "free some space in your quota"),
    errno.EROFS: ("the file system is read-only", "write to a writable place"),
    errno.EACCES: ("permission denied", "check the permissions"),
    errno.EPERM: ("operation not permitted", "check the permissions"),
    errno.EFBIG: ("the file is too large for this file system", "write to another disk"),
}

#: The output folders of the running command: ``(folder, flag, folders it created)``.
_OUTPUTS: list[tuple[Path, str, list[Path]]] = []


def missing_folders(path: str | os.PathLike) -> list[Path]:
    """``path`` and those of its ancestors that do not exist yet, deepest first."""
    out = []
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def output_oserror(e: BaseException | None) -> OSError | None:
    """The ``OSError`` of :data:`OUTPUT_ERRNOS` behind ``e`` - ``e`` itself or an exception in
    its chain of causes and contexts - or None."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in OUTPUT_ERRNOS:
            return e
        e = e.__cause__ or e.__context__
    return None


def output_error(e: BaseException, path: str | os.PathLike) -> OutputPathError | None:
    """An :class:`OutputPathError` naming ``path`` when ``e`` is (or was caused by) a full disk,
    a read-only file system or missing permissions; None for any other exception."""
    cause = output_oserror(e)
    if cause is None:
        return None
    if isinstance(cause, OutputPathError):
        return cause
    reason, todo = OUTPUT_ERRNOS[cause.errno]
    p = Path(path).absolute()
    flag = next((f for folder, f, _ in _OUTPUTS if p == folder or folder in p.parents), None)
    todo += f" or choose another {flag}" if flag else " or write elsewhere"
    err = OutputPathError(f"{path}: cannot write it: {reason}; {todo}, then run again")
    err.errno = cause.errno
    return err


def one_line(text: str) -> str:
    """``text`` folded onto one line (messages of nested errors may hold newlines)."""
    return " ".join(str(text).split())


def _os_message(e: OSError) -> str:
    name = e.filename if e.filename is not None else ""
    reason = e.strerror or one_line(str(e))
    if e.errno in (errno.EACCES, errno.EPERM):
        hint = "check its permissions or choose another path"
    elif e.errno in OUTPUT_ERRNOS:
        reason, hint = OUTPUT_ERRNOS[e.errno]
    elif e.errno in (errno.EISDIR, errno.ENOTDIR):
        hint = "a file and a folder are mixed up in this path"
    else:
        hint = "check the path"
    return f"{name}: {reason}; {hint}" if name else f"{reason}; {hint}"


def _usage_error(parser: argparse.ArgumentParser, message: str):
    """``ArgumentParser.error`` inside :func:`run_main`: one line naming the flag, instead of the
    usage summary (many lines for a command with many flags) and the message."""
    parser.exit(2, f"error: {one_line(message)} (see {parser.prog} --help)\n")


@contextlib.contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Within the block, every ``argparse`` parser (subcommands too) reports a bad flag as one
    line, ``error: argument --epochs: ... (see <prog> --help)``, exit status 2."""
    original = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _usage_error
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original


def run_main(main: Callable[[Sequence[str] | None], int | None],
             argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run a command's ``main(argv)`` inside the error boundary and return its exit status.

    * :class:`LadderError` -> ``error: <message>`` on stderr, exit ``e.exit_code`` (2; 1 for a
      divergence);
    * a full disk, a read-only file system, missing permissions on an output (also behind
      another exception: :func:`output_oserror`) -> one line naming the file, exit 2, and the
      output folders the command created are removed;
    * ``OSError`` on a user's path (it carries a file name) -> one line naming the path, exit 2;
    * ``KeyboardInterrupt`` (SIGINT) -> ``interrupted``, exit 130; SIGTERM -> ``terminated``,
      exit 143 (:func:`sigterm_raises`); the empty folders the command created are removed;
    * ``MemoryError`` -> one line suggesting a smaller network or ``--limit``, exit 2;
    * a flag ``argparse`` refuses -> one line naming it (:func:`one_line_usage_errors`), exit 2;
    * anything else is a bug: it propagates with its traceback.
    """
    prog = prog or Path(sys.argv[0]).name
    _OUTPUTS.clear()
    try:
        with one_line_usage_errors(), sigterm_raises():
            status = main(argv)
    except BaseException as e:
        code = _failure_status(e)
        if code is None:
            raise
        remove_created_outputs(everything=output_oserror(e) is not None)
        return code
    finally:
        _OUTPUTS.clear()
    return 0 if status is None else int(status)


def _failure_status(e: BaseException) -> int | None:
    """Print the one line of failure ``e`` and return the exit status; None when ``e`` is not
    the user's to fix (a bug, or ``SystemExit``): it propagates."""
    def say(text: str) -> None:
        print(text, file=sys.stderr)

    if isinstance(e, LadderError):
        say(f"error: {one_line(e)}")
        return e.exit_code
    if isinstance(e, KeyboardInterrupt):
        say("terminated" if isinstance(e, Terminated) else "interrupted")
        return Terminated.exit_code if isinstance(e, Terminated) else 130
    if isinstance(e, MemoryError):
        say("error: out of memory; use a smaller network or fewer samples (--limit)")
        return 2
    cause = output_oserror(e)
    if isinstance(e, OSError) and e.filename is not None:
        say(f"error: {_os_message(e)}")
        return 2
    if cause is not None:
        name = cause.filename or "an output file"
        say(f"error: {output_error(cause, name)}")
        return 2
    return None


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output folder ``path`` if needed and make sure files can be written in it,
    *before* any work starts. Raises :class:`OutputPathError` naming ``flag`` otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{flag} {p}: is a file, not a folder; choose a folder")
    _OUTPUTS.append((p.absolute(), flag, missing_folders(p)))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"{flag} {p}: cannot create the folder ({e.strerror or e}); "
                              "choose another folder") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag} {p}: the folder is not writable; choose another folder")
    return p


def remove_created_outputs(everything: bool) -> list[Path]:
    """Remove the output folders this command created (:func:`check_output_dir`): with their
    content when ``everything`` (the command could not write its outputs), else only those left
    empty (an interruption: finished records stay, so the command resumes). Returns them."""
    removed = []
    created = {p for _, _, folders in _OUTPUTS for p in folders}
    for p in sorted(created, key=lambda q: len(q.parts), reverse=True):
        if everything and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_dir() and not any(p.iterdir()):
            with contextlib.suppress(OSError):
                p.rmdir()
        if not p.exists():
            removed.append(p)
    return removed


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM raises :class:`Terminated`; a second SIGTERM
    during the clean-up that follows is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
