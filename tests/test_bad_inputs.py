"""Bad input, every command: one clear line, never a traceback, never a silent success.

A table of bad inputs for every command line - bad numbers, zero / negative / nan / inf values,
unknown choices, missing / garbage / binary / folder files for every file flag, output folders
that are files or cannot be created, sizes no machine holds, contradictory flags. Each must end
with a non-zero exit status, no ``Traceback``, at most two lines on stderr, and a message that
names the flag or file.

Cases run in-process through ``shared.errors.run_main`` (the boundary every ``__main__`` uses) for
speed, with an alarm as a bound (a bad input that starts a long computation fails as
"unbounded"); a sample runs as real ``python -m`` subprocesses. The valid flags around each bad
one make any run that wrongly starts a tiny one (one epoch, a few samples, outputs in a temporary
folder).

Set ``MLP_LADDER_BAD_INPUTS_REPORT=<file.json>`` to write each case's outcome (clear / traceback /
silently wrong / unclear / unbounded) to that file.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

from shared.errors import run_main

ROOT = Path(__file__).resolve().parents[1]
ALARM_SECONDS = 10
OUTCOMES: dict[str, dict] = {}

# command -> (module holding main, module run by python -m)
COMMANDS = {
    "stage1": ("stage1_scalar.__main__", "stage1_scalar"),
    "stage2": ("stage2_perinstance.__main__", "stage2_perinstance"),
    "stage3": ("stage3_batched.__main__", "stage3_batched"),
    "stage4": ("stage4_analysis.cli", "stage4_analysis"),
    "compare": ("stage4_analysis.compare", "stage4_analysis.compare"),
    "speed": ("stage4_analysis.speed.ladder", "stage4_analysis.speed"),
    "data": ("shared.data", "shared.data"),
}

# valid flags that keep an accidentally started run tiny; the bad flag comes after them
# (argparse: the last value of a flag wins)
BASE = {
    "s1train": ["train", "--samples", "40", "--val-samples", "20", "--epochs", "1", "--no-plot",
                "--progress", "off", "--out", "{out}"],
    "s1example": ["example"],
    "s1unrolled": ["unrolled"],
    "s1graph": ["graph", "--format", "dot", "--out", "{out}/g.dot"],
    "stage2": ["--dataset", "synth", "--limit", "40", "--epochs", "1", "--hidden", "3",
               "--no-plot", "--no-progress", "--out", "{out}"],
    "stage3": ["--dataset", "synth", "--limit", "60", "--epochs", "1", "--hidden-dims", "4",
               "--no-progress", "--out", "{out}"],
    "stage4": ["--quick", "--only", "disc", "--epochs", "1", "--limit", "40", "--jobs", "1",
               "--no-progress", "--out", "{out}"],
    "compare": ["--no-torch"],
    "speed": ["--tiny", "--parts", "stage1", "--out", "{out}"],
    "data": [],
}
CMD_OF = {"s1train": "stage1", "s1example": "stage1", "s1unrolled": "stage1",
          "s1graph": "stage1", "stage2": "stage2", "stage3": "stage3", "stage4": "stage4",
          "compare": "compare", "speed": "speed", "data": "data"}

BAD_POS_INT = ["abc", "0", "-3", "1.5", "nan", ""]
BAD_POS_FLOAT = ["abc", "0", "-0.5", "nan", "inf", "-inf"]
BAD_SEED = ["-1", "abc", "2.5"]
HUGE = "100000000000"  # 1e11: no machine holds a layer (or a data set) this wide


def _cases() -> list[tuple[str, list[str], str]]:
    """``(base, bad argv, what the message must name)``."""
    c: list[tuple[str, list[str], str]] = []

    def numbers(base, flag, values, name=None):
        c.extend((base, [flag, v], name or flag) for v in values)

    def file_flag(base, flag, kinds):
        c.extend((base, [flag, "{" + k + "}"], "{" + k + "}") for k in kinds)

    # ---------------------------------------------------------------- stage 1
    c.append(("s1example", ["bogus-subcommand"], "bogus-subcommand"))
    c.append(("s1example", ["--no-such-flag"], "--no-such-flag"))
    numbers("s1train", "--epochs", BAD_POS_INT)
    numbers("s1train", "--lr", BAD_POS_FLOAT)
    numbers("s1train", "--samples", ["0", "-5", "abc", HUGE])
    numbers("s1train", "--val-samples", ["-5", "abc"])
    numbers("s1train", "--seed", BAD_SEED)
    c += [("s1train", ["--hidden", v], "--hidden") for v in ("0", "-2", "abc", HUGE)]
    c += [("s1train", ["--hidden", "3", "0"], "--hidden")]
    c += [("s1train", [f, "bogus"], f) for f in ("--backward", "--activation", "--progress")]
    file_flag("s1train", "--init-weights", ("missing", "dir", "garbage", "binary", "empty",
                                            "deep", "boolw", "strw", "wrongsize", "nanw"))
    c += [("s1train", ["--out", "{afile}"], "{afile}"),
          ("s1train", ["--out", "{underfile}"], "--out|{underfile}"),
          ("s1train", ["--unrolled", "--activation", "relu"], "--unrolled")]
    file_flag("s1example", "--weights", ("missing", "dir", "garbage", "binary", "empty", "boolw",
                                         "strw", "nanw"))
    c += [("s1example", ["--x", "abc", "1"], "--x"),
          ("s1example", ["--x", "nan", "1"], "--x"),
          ("s1example", ["--x", "inf", "1"], "--x"),
          ("s1example", ["--x", "1", "2", "3"], "--x"),
          ("s1example", ["--c", "5"], "--c"),
          ("s1example", ["--c", "-1"], "--c"),
          ("s1example", ["--c", "abc"], "--c"),
          ("s1example", ["--decimals", "-1"], "--decimals"),
          ("s1example", ["--decimals", "99"], "--decimals"),
          ("s1example", ["--activation", "bogus"], "--activation"),
          ("s1example", ["--save-weights", "{dir}"], "{dir}"),
          ("s1example", ["--save-weights", "{underfile}/w.json"], "--save-weights|{underfile}"),
          ("s1example", ["--weights", "{wrongsize}"], "--x")]
    numbers("s1unrolled", "--inputs", ["0", "-1", "abc", HUGE])
    numbers("s1unrolled", "--classes", ["0", "-1", "abc", "1"])
    c += [("s1unrolled", ["--hidden", v], "--hidden") for v in ("0", "abc", HUGE)]
    c += [("s1unrolled", ["--backward", "bogus"], "--backward")]
    file_flag("s1graph", "--weights", ("missing", "dir", "garbage", "binary", "bigw"))
    c += [("s1graph", ["--format", "bogus"], "--format"),
          ("s1graph", ["--out", "{dir}"], "{dir}"),
          ("s1graph", ["--out", "{underfile}/g.dot"], "--out|{underfile}"),
          ("s1graph", ["--x", "nan", "1"], "--x"),
          ("s1graph", ["--c", "7"], "--c")]
    # ---------------------------------------------------------------- stage 2
    c.append(("stage2", ["--dataset", "cifar"], "--dataset"))
    numbers("stage2", "--epochs", BAD_POS_INT)
    numbers("stage2", "--lr", BAD_POS_FLOAT)
    numbers("stage2", "--accumulate", ["0", "-1", "abc"])
    numbers("stage2", "--limit", ["0", "-1", "abc"])
    numbers("stage2", "--log-every", ["0", "-1", "abc"])
    numbers("stage2", "--seed", BAD_SEED)
    c += [("stage2", ["--hidden", v], "--hidden") for v in ("0", "-1", "abc", HUGE)]
    c += [("stage2", ["--dtype", "float16"], "--dtype"),
          ("stage2", ["--out", "{afile}"], "{afile}"),
          ("stage2", ["--out", "{underfile}"], "--out|{underfile}"),
          ("stage2", ["--dataset", "mnist"], "MLP_LADDER_DATA"),
          ("stage2", ["--activation", "bogus"], "--activation"),
          ("stage2", ["--backward", "bogus"], "--backward"),
          ("stage2", ["--fast", "--backward", "jacobian"], "--fast|--backward")]
    # ---------------------------------------------------------------- stage 3
    c += [("stage3", [f, "bogus"], f) for f in ("--dataset", "--activation", "--optimizer",
                                                "--init", "--dtype", "--sweep")]
    numbers("stage3", "--epochs", BAD_POS_INT)
    numbers("stage3", "--lr", BAD_POS_FLOAT)
    numbers("stage3", "--batch-size", ["0", "-1", "abc", "2.5"])
    numbers("stage3", "--limit", ["0", "-1", "abc"])
    numbers("stage3", "--momentum", ["1", "1.5", "-0.1", "nan", "abc"])
    numbers("stage3", "--weight-decay", ["-1", "nan", "inf", "abc"])
    numbers("stage3", "--lr-decay", ["0", "-1", "nan", "abc"])
    numbers("stage3", "--dropout", ["1", "-0.1", "nan", "abc"])
    numbers("stage3", "--threads", ["0", "-1", "abc"])
    numbers("stage3", "--seed", BAD_SEED)
    c += [("stage3", ["--hidden-dims", v], "--hidden-dims") for v in ("0", "-1", "abc", HUGE)]
    c += [("stage3", ["--out", "{afile}"], "{afile}"),
          ("stage3", ["--out", "{underfile}"], "--out|{underfile}"),
          ("stage3", ["--optimizer", "adam", "--nesterov"], "--nesterov"),
          ("stage3", ["--dataset", "mnist", "--quick"], "MLP_LADDER_DATA"),
          ("stage3", ["--dataset", "mnist"], "MLP_LADDER_DATA"),
          ("stage3", ["--sweep", "momentum", "--optimizer", "adam"], "--sweep|--optimizer"),
          ("stage3", ["--quick", "--epochs", "0"], "--epochs")]
    # ---------------------------------------------------------------- stage 4
    c += [("stage4", ["--only", "bogus"], "bogus"),
          ("stage4", ["--backend", "bogus"], "--backend"),
          ("stage4", ["--quick", "--full"], "--full"),
          ("stage4", ["--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
          ("stage4", ["--out", "{afile}"], "{afile}"),
          ("stage4", ["--out", "{underfile}"], "--out|{underfile}")]
    numbers("stage4", "--jobs", ["0", "-1", "abc"])
    numbers("stage4", "--epochs", ["0", "-1", "abc"])
    numbers("stage4", "--limit", ["0", "-1", "abc"])
    numbers("stage4", "--seeds", ["0", "-1", "abc"])
    c += [("stage4", ["--only", "lr-study", "--lrs", v], "--lrs")
          for v in ("abc", "-1", "0", "nan")]
    # ---------------------------------------------------------------- compare
    file_flag("compare", "--weights", ("missing", "dir", "garbage", "binary", "empty", "deep",
                                       "boolw", "strw", "nanw", "npzbad", "npztrunc"))
    file_flag("compare", "--rung", ("missing", "dir", "binary", "pybad", "pynofunc"))
    c += [("compare", ["--sizes", v], "--sizes") for v in ("0", "-1", "abc", "5")]
    c += [("compare", ["--sizes", "3", HUGE, "2"], "--sizes")]
    numbers("compare", "--samples", ["0", "-1", "abc"])
    numbers("compare", "--tol", ["-1", "nan", "abc"])
    numbers("compare", "--seed", BAD_SEED)
    c += [("compare", ["--activation", "bogus"], "--activation"),
          ("compare", ["--dataset", "bogus"], "--dataset"),
          ("compare", ["--weights", "{valid}", "--sizes", "5", "7", "4"], "--sizes"),
          ("compare", ["--dataset", "iris", "--sizes", "2", "3", "2"], "--sizes|--dataset")]
    # ---------------------------------------------------------------- speed
    c += [("speed", ["--parts", "bogus"], "--parts"),
          ("speed", ["--quick", "--tiny"], "--tiny"),
          ("speed", ["--out", "{afile}"], "{afile}"),
          ("speed", ["--out", "{underfile}"], "--out|{underfile}"),
          ("speed", ["--replot", "--out", "{emptydir}"], "{emptydir}"),
          ("speed", ["--replot", "--json", "--out", "{emptydir}"], "{emptydir}"),
          ("speed", ["--replot", "--out", "{garbagedir}"], "{garbagedir}")]
    numbers("speed", "--threads", ["0", "-1", "abc"])
    # ---------------------------------------------------------------- shared.data
    c += [("data", ["--fetch", "cifar"], "--fetch"),
          ("data", ["--data-dir", "{missing}"], "--data-dir"),
          ("data", ["--data-dir", "{afile}"], "--data-dir"),
          ("data", ["--no-such-flag"], "--no-such-flag"),
          ("data", ["--fetch"], "--fetch")]
    return c


CASES = _cases()


def _case_id(case) -> str:
    base, argv, _ = case
    return f"{base}:{' '.join(argv)}"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bad (and a few valid) files the table refers to, made once."""
    d = tmp_path_factory.mktemp("bad-inputs")
    from shared import weights as wf

    def weights_file(name, mutate=None, sizes=(2, 3, 2)):
        import random

        w = wf.to_lists(wf.init_weights(list(sizes), random.Random(0)))
        doc = {"format": wf.FORMAT, "version": 1, **w}
        if mutate:
            mutate(doc)
        p = d / name
        p.write_text(json.dumps(doc))
        return p

    f = {
        "missing": d / "does-not-exist.json",
        "dir": d / "a-folder",
        "emptydir": d / "empty-folder",
        "garbage": d / "garbage.json",
        "binary": d / "binary.json",
        "empty": d / "empty.json",
        "deep": d / "deep.json",
        "afile": d / "a-file.txt",
        "npzbad": d / "garbage.npz",
        "npztrunc": d / "truncated.npz",
        "pybad": d / "bad_rung.py",
        "pynofunc": d / "no_function_rung.py",
    }
    f["dir"].mkdir()
    f["garbagedir"] = d / "garbage-run"  # a folder whose speed.json is not a record
    f["garbagedir"].mkdir()
    (f["garbagedir"] / "speed.json").write_text('{"schema": "mlp-ladder/run", "status": "ok"}')
    f["emptydir"].mkdir()
    f["garbage"].write_text("this is not { json")
    f["binary"].write_bytes(np.random.default_rng(0).bytes(300))
    f["empty"].write_bytes(b"")
    f["deep"].write_text("[" * 100_000)
    f["afile"].write_text("a file where a folder belongs\n")
    f["npzbad"].write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(200))
    f["pybad"].write_text("def loss_and_grads(weights, X, c)\n    return 1\n")
    f["pynofunc"].write_text("def something_else():\n    return 1\n")
    f["valid"] = weights_file("valid.json")
    f["boolw"] = weights_file("bool.json", lambda doc: doc["layers"][0]["W"][0].__setitem__(
        0, True))
    f["strw"] = weights_file("str.json", lambda doc: doc["layers"][0]["b"].__setitem__(0, "1.5"))
    f["nanw"] = d / "nan.json"
    f["nanw"].write_text(f["valid"].read_text().replace("0.0", "NaN", 1))
    f["wrongsize"] = weights_file("wrong-size.json", sizes=(3, 4, 2))
    f["bigw"] = weights_file("big.json", sizes=(2, 40, 2))
    try:
        from stage3_batched.model import MLP

        m = MLP(2, [3], 2, "sigmoid", rng=np.random.default_rng(0))
        good = d / "model.npz"
        m.save(good)
        f["npztrunc"].write_bytes(good.read_bytes()[:-40])
    except Exception:  # noqa: BLE001 - stage 3 mid-change: a plain truncated zip instead
        f["npztrunc"].write_bytes(b"PK\x03\x04\x14\x00\x00\x00")
    f["underfile"] = f["afile"] / "sub"
    return {k: str(v) for k, v in f.items()}


class _Unbounded(BaseException):
    """Raised by the alarm: the command was still working after ALARM_SECONDS."""


def _filled(base, argv, must_name, files, out) -> tuple[list[str], str]:
    """The whole command line (the base's valid flags, then the bad ones) and the name the message
    must carry, their ``{file}`` and ``{out}`` places filled in."""
    full = [s.format(**files, out=out) for s in BASE[base] + argv]
    return full, must_name.format(**files, out=out)


def _judge(rc, err: str, must_name: str, escaped: str | None) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if escaped is not None or "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "silently wrong"
    if len(lines) > 2 or not any(name in err for name in must_name.split("|")):
        return "unclear"
    return "clear"


def _run_in_process(base, argv, must_name, files, tmp_path, monkeypatch, capsys):
    module, _ = COMMANDS[CMD_OF[base]]
    main = importlib.import_module(module).main
    full, must_name = _filled(base, argv, must_name, files, str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    monkeypatch.setenv("MLP_LADDER_MNIST_MIRROR", "http://127.0.0.1:9/")  # nothing listens
    monkeypatch.setenv("MLP_LADDER_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/")

    def alarm(signum, frame):
        raise _Unbounded()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(ALARM_SECONDS)
    escaped = None
    rc = None
    try:
        rc = run_main(main, full)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except _Unbounded:
        escaped = "unbounded"
    except BaseException:  # noqa: BLE001 - a bug: report it as the traceback it would print
        escaped = traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    captured = capsys.readouterr()
    err = captured.err + (escaped if escaped and escaped != "unbounded" else "")
    outcome = "unbounded" if escaped == "unbounded" else _judge(rc, err, must_name, escaped)
    return outcome, rc, err, full


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_gets_one_clear_line(case, files, tmp_path, monkeypatch, capsys):
    base, argv, must_name = case
    outcome, rc, err, full = _run_in_process(base, argv, must_name, files, tmp_path,
                                             monkeypatch, capsys)
    OUTCOMES[_case_id(case)] = {"command": CMD_OF[base], "argv": full, "outcome": outcome,
                                "status": rc, "stderr": err[-600:]}
    assert outcome == "clear", (
        f"{CMD_OF[base]} {' '.join(full)}: {outcome} (exit {rc}); must name {must_name!r}; "
        f"stderr:\n{err[-1500:]}")


@pytest.fixture(scope="module", autouse=True)
def _write_report():
    yield
    target = os.environ.get("MLP_LADDER_BAD_INPUTS_REPORT")
    if target and OUTCOMES:
        counts: dict[str, int] = {}
        for o in OUTCOMES.values():
            counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
        Path(target).write_text(json.dumps({"counts": counts, "cases": OUTCOMES}, indent=1))


def test_the_table_covers_every_command_with_enough_cases():
    assert len(CASES) >= 150
    assert {CMD_OF[b] for b, _, _ in CASES} == set(COMMANDS)
    assert {b for b, _, _ in CASES} >= {"s1train", "s1example", "s1unrolled", "s1graph"}
    assert len({_case_id(c) for c in CASES}) == len(CASES)  # no case twice


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_entry_point_goes_through_run_main(command):
    module, run_as = COMMANDS[command]
    spec = importlib.util.find_spec(run_as + ".__main__") if not run_as.startswith(
        "shared.") and importlib.util.find_spec(run_as).submodule_search_locations else \
        importlib.util.find_spec(run_as)
    source = Path(spec.origin).read_text()
    assert "raise SystemExit(run_main(" in source, f"python -m {run_as} bypasses run_main"


# a sample through the real entry points, as a user runs them
SUBPROCESS_SAMPLE = [
    ("s1train", ["--epochs", "0"], "--epochs"),
    ("s1example", ["--weights", "{garbage}"], "{garbage}"),
    ("stage2", ["--lr", "nan"], "--lr"),
    ("stage3", ["--out", "{afile}"], "{afile}"),
    ("stage4", ["--jobs", "0"], "--jobs"),
    ("compare", ["--weights", "{binary}"], "{binary}"),
    ("speed", ["--parts", "bogus"], "--parts"),
    ("data", ["--data-dir", "{missing}"], "--data-dir"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_SAMPLE, ids=[_case_id(c) for c in SUBPROCESS_SAMPLE])
def test_bad_input_as_a_user_runs_it(case, files, tmp_path):
    base, argv, must_name = case
    _, run_as = COMMANDS[CMD_OF[base]]
    full, must_name = _filled(base, argv, must_name, files, str(tmp_path / "out"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLP_LADDER_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("MLP_LADDER_DATA", None)
    proc = subprocess.run([sys.executable, "-m", run_as, *full], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    outcome = _judge(proc.returncode, proc.stderr, must_name, None)
    assert outcome == "clear", f"python -m {run_as} {' '.join(full)}: {outcome}\n{proc.stderr}"
