"""How long the playground takes per step and redraw (a benchmark, not a test):
``python -m stage4_analysis.speed.playground``.

The network is 2-8-8-2 (sigmoid) on the 500-point disc test (400 train, 100 validation), batch
size 10, one BLAS thread. Timed, each as the median over ``--repeats`` repeats with the fastest
and slowest (interleaved: every repeat times every row once, so all rows see the same load):

* ``step``: ``Session.step()`` - one SGD update and the history row (loss and accuracy on the
  whole training and validation sets), for each rung (stage 3, 2, 1);
* ``redraw``: everything the page computes to draw itself after a step - the cross-rung check
  on the next batch, the decision boundary, every hidden unit's heat map, the curves, the
  (refused: too many nodes) graph - and the PNG encoding of every picture;
* ``step + redraw``: the two together, stage 3 (the page's default rung);
* ``page rerun``: one click on "step" in Streamlit's headless ``AppTest`` - the whole page script
  plus Streamlit's own work, but not the network transfer and the browser's drawing.

The target: step + redraw well under 100 ms on one core. Leaves out: the browser's rendering
time (the Chromium test measures nothing), other network sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from shared.cli import positive_int
from shared.errors import ConfigError, run_main
from shared.threads import set_threads

SETTINGS = {"hidden": (8, 8), "size": 500, "batch_size": 10, "lr": 0.5}
PAGE = Path(__file__).resolve().parents[1] / "playground" / "page.py"


def redraw(session) -> int:
    """What the page computes after a step; the bytes of PNG it would send."""
    from stage4_analysis.playground import views
    from stage4_analysis.playground.agree import agreement

    idx = session.next_batch()
    agreement(session.model.to_weights(), session.train[0][idx], session.train[1][idx])
    images = [views.boundary_image(session)]
    images += [img for layer in views.unit_images(session) for img in layer]
    views.curves(session)
    try:
        views.graph_source(session)
    except ConfigError:
        pass
    return sum(len(views.png(img)) for img in images)


def _timers(sessions: dict, app) -> dict:
    """Row name -> a function that does the row's work once."""
    s3 = sessions["stage3"]

    def both():
        s3.step()
        redraw(s3)

    rows = {f"step ({rung})": s.step for rung, s in sessions.items()}
    rows["redraw"] = lambda: redraw(s3)
    rows["step + redraw (stage3)"] = both
    if app is not None:
        rows["page rerun (AppTest, step click)"] = lambda: app.button[1].click().run()
    return rows


def _app():
    """The page in ``AppTest`` with the benchmark's network, or None without Streamlit."""
    try:
        from streamlit.testing.v1 import AppTest
    except ImportError:
        return None
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    next(w for w in at.text_input if w.label.startswith("hidden")).set_value("8 8").run()
    return at


def benchmark(repeats: int = 30) -> dict:
    """``{row: {"median_ms", "min_ms", "max_ms"}}`` over ``repeats`` interleaved repeats."""
    from stage4_analysis.playground.session import Session, Settings

    set_threads(1)
    sessions = {r: Session(Settings(rung=r, **SETTINGS)) for r in ("stage3", "stage2", "stage1")}
    rows = _timers(sessions, _app())
    for fn in rows.values():                                  # warm-up
        fn()
    times = {name: [] for name in rows}
    for _ in range(repeats):
        for name, fn in rows.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t)}
            for name, t in times.items()}


def format_result(result: dict, repeats: int) -> str:
    lines = [f"playground, 2-8-8-2 sigmoid, disc test 500 points, batch 10, 1 BLAS thread, "
             f"{repeats} repeats: median (fastest - slowest)"]
    for name, r in result.items():
        lines.append(f"  {name:34s} {r['median_ms']:8.2f} ms  ({r['min_ms']:.2f} - "
                     f"{r['max_ms']:.2f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stage4_analysis.speed.playground",
                                 description="Time the playground's step and redraw.")
    ap.add_argument("--repeats", type=positive_int, default=30, help="repeats (default 30)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    result = benchmark(args.repeats)
    print(json.dumps(result, indent=1) if args.json else format_result(result, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, prog="python -m stage4_analysis.speed.playground"))
