"""Headless-safe plotting: the Agg backend when there is no display, atomic PNG writes.

Every figure in the project goes through :func:`new_figure` and :func:`save_figure`, so plotting
works on a server or in CI and a crash mid-write never leaves a truncated PNG.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shared.records import default_file_mode


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".{fmt}.tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        pyplot().close(fig)
    return path
