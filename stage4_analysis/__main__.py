"""``python -m stage4_analysis``: the one-command reproduction (see :mod:`stage4_analysis.cli`)."""

from shared.errors import run_main

from .cli import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
