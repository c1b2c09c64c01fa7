"""``python -m stage4_analysis.playground``: serve the playground on http://127.0.0.1:PORT.

Runs ``streamlit run`` on :mod:`stage4_analysis.playground.page`, bound to 127.0.0.1 (nothing
outside this machine can reach it), without opening a browser unless ``--open``; stop it with
Ctrl-C. ``--screenshots DIR`` instead takes the README's pictures with headless Chromium
(:mod:`.browser`). Leaves out: serving to other machines (run Streamlit yourself for that).
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import subprocess
from pathlib import Path

from shared.cli import positive_int
from shared.errors import ConfigError, run_main

from .serve import streamlit_command

INSTALL = 'pip install -e ".[playground]"'


def check_port(port: int) -> None:
    """ConfigError naming ``--port`` when 127.0.0.1:``port`` cannot be listened on."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1:{port} "
                              f"({e.strerror}); choose another port") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m stage4_analysis.playground",
        description="Serve the mlp-ladder playground (a Streamlit page) on 127.0.0.1: train the "
                    "network live, watch the decision boundary, the hidden units and the "
                    "computation graph of one step.")
    ap.add_argument("--port", type=positive_int, default=8501, help="port (default 8501)")
    ap.add_argument("--open", action="store_true", help="also open it in your web browser")
    ap.add_argument("--screenshots", metavar="DIR", default=None,
                    help="do not serve: take the README's screenshots into DIR (needs Chromium)")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError(f"the playground needs Streamlit: {INSTALL}")
    if args.screenshots is not None:
        from .browser import take_screenshots

        for path in take_screenshots(Path(args.screenshots)):
            print(path)
        return 0
    check_port(args.port)
    print(f"serving the playground on http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    return subprocess.call(streamlit_command(args.port, headless=not args.open))


if __name__ == "__main__":
    raise SystemExit(run_main(main, prog="python -m stage4_analysis.playground"))
