"""The ``streamlit run`` command line that serves the playground page, for the command line
(``python -m stage4_analysis.playground``) and the screenshot taker (:mod:`.browser`) alike; in a
module of its own so neither imports the other. Leaves out: starting or stopping the server.
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "page.py"


def streamlit_command(port: int, headless: bool = True) -> list[str]:
    """The ``streamlit run`` command line serving the page on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "streamlit", "run", str(PAGE),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--client.toolbarMode", "viewer"]
