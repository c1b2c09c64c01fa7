"""``python -m stage4_analysis.speed``: the speed ladder (:mod:`stage4_analysis.speed.ladder`)."""

from shared.errors import run_main

from .ladder import main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
