"""Headless-safe plotting: the Agg backend when there is no display, atomic PNG writes.

Every figure in the project goes through :func:`new_figure` and :func:`save_figure` (animations
through :func:`save_animation`), so plotting works on a server or in CI and a crash mid-write
never leaves a truncated file: the image is written to a temporary sibling and renamed into place;
on an exception the temporary file is removed (``try``/``finally``), and one left by a process
killed outright is removed by the next save of the same file
(:func:`shared.records.clean_stale_temporaries`).
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.records import atomic_output


def pyplot():
    """``matplotlib.pyplot``, switched to the Agg backend when no display is available."""
    import matplotlib

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0, **kw):
    """``(fig, axes)`` with a size of ``width x height`` inches per panel."""
    plt = pyplot()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save ``fig`` at ``path`` atomically and close it; returns the path.

    PNG, unless the name ends in another format matplotlib writes (``.pdf``, ``.svg``, ...):
    then that format, so the content always matches the name. Any other name (no suffix, or a
    dot inside it like ``lr0.01``) gets PNG.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in fig.canvas.get_supported_filetypes():
        fmt = "png"
    try:
        with atomic_output(path, suffix=f".{fmt}.tmp") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    finally:
        pyplot().close(fig)
    return path


def save_animation(fig, anim, path: str | os.PathLike, fps: int = 5) -> Path:
    """Save ``anim`` (a matplotlib ``FuncAnimation`` drawing on ``fig``) as an animated GIF with
    Pillow, atomically, and close ``fig``; returns the path. Needs Pillow (matplotlib's own
    dependency)."""
    from matplotlib.animation import PillowWriter

    path = Path(path)
    try:
        with atomic_output(path, suffix=".gif") as tmp:
            anim.save(tmp, writer=PillowWriter(fps=fps))
    finally:
        pyplot().close(fig)
    return path
