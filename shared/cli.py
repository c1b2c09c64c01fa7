"""Argument types the command-line tools share (pure Python: stage 1 uses them too).

Each turns a bad value into an ``argparse`` error that says what was given and what is allowed.
Values far beyond any real run are refused here, at the edge, with the range that is accepted
(:func:`learning_rate`, :func:`epoch_count`), rather than overflowing somewhere downstream (a
learning rate of 1e300 makes a log-scale axis of infinite width).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def parse_number(text: str, convert, expected: str):
    """``convert(text)`` (``int`` or ``float``); text it cannot read is an ``argparse`` error
    "expected <expected>, got '<text>'"."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    v = parse_number(text, int, "a positive integer")
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    v = parse_number(text, float, "a positive number")
    if not v > 0 or math.isinf(v):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text}")
    return v


#: Learning rates a command accepts: far wider than any run needs (a divergence study included),
#: narrow enough that ``lr * gradient`` and a log-scale axis of rates stay finite.
LR_RANGE = (1e-10, 1e10)
#: The most epochs a command accepts (a run that long is a typo, not a plan).
MAX_EPOCHS = 1_000_000


def learning_rate(text: str) -> float:
    """``argparse`` type: a learning rate in :data:`LR_RANGE`."""
    v = parse_number(text, float, "a learning rate")
    low, high = LR_RANGE
    if not low <= v <= high:
        raise argparse.ArgumentTypeError(
            f"expected a learning rate from {low:g} to {high:g}, got {text}")
    return v


def epoch_count(text: str) -> int:
    """``argparse`` type: a number of epochs from 1 to :data:`MAX_EPOCHS`."""
    v = parse_number(text, int, "a whole number of epochs")
    if not 1 <= v <= MAX_EPOCHS:
        raise argparse.ArgumentTypeError(
            f"expected a number of epochs from 1 to {MAX_EPOCHS:,}, got {text}")
    return v


def nonnegative_int(text: str) -> int:
    """``argparse`` type: an integer >= 0 (a seed, a count that may be zero)."""
    v = parse_number(text, int, "an integer >= 0")
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def finite_float(text: str) -> float:
    """``argparse`` type: any finite number (no nan, no inf)."""
    v = parse_number(text, float, "a number")
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return v


def fraction(text: str) -> float:
    """``argparse`` type: a number in [0, 1) (a dropout probability, a momentum)."""
    v = finite_float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return v


def input_file(text: str) -> Path:
    """``argparse`` type: an existing, readable regular file (checked before any work starts);
    the file's content is for its loader to check."""
    p = Path(text).expanduser()
    if not p.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable (check its permissions)")
    return p
