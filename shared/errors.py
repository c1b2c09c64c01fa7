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
* ``shared.weights.WeightFormatError``, ``shared.idx.IDXError``, ``shared.data.DataNotFoundError``,
  ``shared.download.DownloadError``, ``shared.records.RecordError`` subclass it too.

Pure Python: stage 1 imports it without numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
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


def one_line(text: str) -> str:
    """``text`` folded onto one line (messages of nested errors may hold newlines)."""
    return " ".join(str(text).split())


def _os_message(e: OSError) -> str:
    name = e.filename if e.filename is not None else ""
    reason = e.strerror or one_line(str(e))
    if e.errno in (errno.EACCES, errno.EPERM):
        hint = "check its permissions or choose another path"
    elif e.errno == errno.ENOSPC:
        hint = "free some disk space"
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
    * ``OSError`` on a user's path (it carries a file name) -> one line naming the path, exit 2;
    * ``KeyboardInterrupt`` -> ``interrupted``, exit 130;
    * ``MemoryError`` -> one line suggesting a smaller network or ``--limit``, exit 2;
    * a flag ``argparse`` refuses -> one line naming it (:func:`one_line_usage_errors`), exit 2;
    * anything else is a bug: it propagates with its traceback.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        with one_line_usage_errors():
            status = main(argv)
    except LadderError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if e.filename is None:
            raise
        print(f"error: {_os_message(e)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; use a smaller network or fewer samples (--limit)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output folder ``path`` if needed and make sure files can be written in it,
    *before* any work starts. Raises :class:`OutputPathError` naming ``flag`` otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{flag} {p}: is a file, not a folder; choose a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"{flag} {p}: cannot create the folder ({e.strerror or e}); "
                              "choose another folder") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag} {p}: the folder is not writable; choose another folder")
    return p
