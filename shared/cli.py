"""Argument types the command-line tools share (pure Python: stage 1 uses them too).

Each turns a bad value into an ``argparse`` error that says what was given and what is allowed.
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or math.isinf(v):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text}")
    return v
