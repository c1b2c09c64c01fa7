"""Stage 1 as a program: no numpy, the worked-example command, training, JSON weights, benchmark."""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from shared import weights as wf
from shared.records import read_record

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stage1_scalar"


def run(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def no_numpy_env(tmp_path_factory):
    """An environment where ``import numpy`` raises ImportError (a fake numpy first on the path)."""
    fake = tmp_path_factory.mktemp("fake_numpy")
    (fake / "numpy.py").write_text("raise ImportError('numpy is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake), str(ROOT)])
    return env


# --------------------------------------------------------------------------- no numpy
def test_no_numpy_import_in_any_stage1_file():
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "numpy" or n.startswith("numpy.") for n in names), (
                f"{path.name} imports numpy")


def test_package_and_worked_example_run_where_numpy_cannot_be_imported(no_numpy_env):
    code = textwrap.dedent("""
        import sys
        try:
            import numpy
        except ImportError:
            pass
        else:
            raise SystemExit("the fake numpy did not block the import")
        import stage1_scalar, stage1_scalar.example, stage1_scalar.train, stage1_scalar.graph
        import stage1_scalar.__main__
        from shared.weights import worked_example
        w, x, c = worked_example()
        loss, grads, dX = stage1_scalar.loss_and_grads(w, [x], [c])
        w2 = stage1_scalar.sgd_train(w, [x, x], [c, 1], 0.1, batch_size=1)
        assert stage1_scalar.sgd_train_unrolled(w, [x, x], [c, 1], 0.1) == w2
        p = stage1_scalar.predict_proba(w2, [x])
        assert "grad -0.4404" in stage1_scalar.graph.build(w, x, c).source
        assert abs(loss - 0.6931471805599453) < 1e-15, loss
        assert abs(grads["layers"][1]["b"][0] + 0.5) < 1e-15
        assert "numpy" not in sys.modules or sys.modules["numpy"] is None
        print("ok", round(loss, 4), [round(v, 4) for v in p[0]])
    """)
    r = run("-c", code, env=no_numpy_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok 0.6931")
    r = run("-m", "stage1_scalar", env=no_numpy_env)
    assert r.returncode == 0, r.stderr
    assert "-0.4404" in r.stdout


# --------------------------------------------------------------------------- the CLI
def test_bare_command_prints_the_worked_example():
    r = run("-m", "stage1_scalar")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for label, value in [("k = x W + b", "[2.0000, 2.0000, 2.0000]"),
                         ("h = sigmoid(k)", "[0.8808, 0.8808, 0.8808]"),
                         ("o = h V + c", "[-0.8808, -0.8808]"),
                         ("y = softmax(o)", "[0.5000, 0.5000]"),
                         ("l = -log y_0", "0.6931"),
                         ("dl/dc ", "[-0.5000, 0.5000]"),
                         ("dl/db ", "[0.0000, 0.0000, 0.0000]")]:
        lines = [ln for ln in out.splitlines() if ln.strip().startswith(label.strip())]
        assert lines and value in lines[0], f"{label!r} should show {value}"
    assert out.count("[-0.4404,  0.4404]") == 6  # dV twice (chain rule and summary), 3 rows
    assert "dl/dW" in out and "[[0.0000, 0.0000, 0.0000]," in out


def test_help_explains_the_subcommands():
    r = run("-m", "stage1_scalar", "--help")
    assert r.returncode == 0
    assert "worked example" in r.stdout and "train" in r.stdout
    r = run("-m", "stage1_scalar", "train", "--help")
    assert r.returncode == 0
    for flag in ("--epochs", "--lr", "--hidden", "--samples", "--seed", "--out", "normalised"):
        assert flag in r.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--lr", "-1"], "expected a finite positive number, got -1"),
    (["train", "--hidden", "0"], "expected a positive integer, got 0"),
    (["example", "--x", "1", "2", "3"], "--x has 3 numbers, the network takes 2 inputs"),
    (["example", "--c", "2"], "--c 2 is not a class of this network (0..1)"),
    (["example", "--weights", "no-such-file.json"],
     "--weights no-such-file.json: cannot read it"),
    (["example", "--x", "nan", "1"], "argument --x: expected a finite number, got nan"),
    (["example", "--decimals", "-1"], "argument --decimals: expected an integer 0..17"),
    (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["train", "--activation", "softplus"], "argument --activation: invalid choice"),
    (["train", "--hidden", "10000000"], "[2, 10000000, 2] (50,000,002 parameters) would take"),
    (["graph", "--x", "inf", "0"], "argument --x: expected a finite number, got inf"),
    (["graph", "--c", "5"], "--c 5 is not a class of this network (0..1)"),
    (["graph", "--format", "png", "--out", "g.svg"], "--out g.svg ends in .svg but --format"),
    (["unrolled", "--inputs", "784", "--hidden", "300"], "236,102 parameters"),
    (["unrolled", "--classes", "1"], "--classes 1: a softmax needs at least 2 classes"),
    (["graph", "--out", "stage1_scalar"], "--out stage1_scalar: is a folder"),
])
def test_bad_arguments_say_what_is_wrong_in_one_line(args, message):
    r = run("-m", "stage1_scalar", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_output_folder_is_checked_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    r = run("-m", "stage1_scalar", "train", "--samples", "50", "--val-samples", "50",
            "--out", str(blocker))
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr
    assert "synthetic data" not in r.stdout  # refused before loading or training anything
    assert blocker.read_text() == "mine"


def test_a_diverged_run_is_recorded_not_saved_and_exits_1(tmp_path):
    out = tmp_path / "diverged"
    r = run("-m", "stage1_scalar", "train", "--activation", "relu", "--hidden", "8",
            "--lr", "1e6", "--epochs", "2", "--samples", "300", "--val-samples", "50",
            "--no-plot", "--out", str(out))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: diverged:") and r.stderr.count("\n") == 1
    rec = read_record(out / "record.json")
    assert rec["status"] == "diverged" and rec["error"] in r.stderr
    assert isinstance(rec["threads"], int) and rec["threads"] >= 1
    assert not (out / "weights.json").exists()


def test_weights_round_trip_through_json(tmp_path):
    path = tmp_path / "worked.json"
    r1 = run("-m", "stage1_scalar", "example", "--save-weights", str(path))
    assert r1.returncode == 0, r1.stderr
    assert wf.load_json(path) == {**wf.worked_example()[0], "activation": "sigmoid"}
    r2 = run("-m", "stage1_scalar", "example", "--weights", str(path))
    assert r2.returncode == 0, r2.stderr
    assert r1.stdout.split("\n\nwrote")[0] == r2.stdout.rstrip("\n")


# --------------------------------------------------------------------------- training
def test_training_lowers_the_loss_and_writes_record_weights_and_figure(tmp_path):
    from stage1_scalar.train import train

    logs = []
    rec = train(epochs=2, lr=0.1, hidden=[3], samples=3000, val_samples=500, seed=0,
                out=tmp_path, progress=False, log=logs.append)
    m = rec["metrics"]
    assert rec["status"] == "ok"
    assert m["val_loss"][-1] < 0.5 * m["val_loss"][0]
    assert m["train_loss"][2] < m["train_loss"][1]
    assert m["val_acc"][-1] > 0.85
    assert sum(line.startswith("epoch ") for line in logs) == 3
    assert any("normalising" in line for line in logs)
    on_disk = read_record(tmp_path / "record.json")
    assert on_disk["config"]["sizes"] == [2, 3, 2] and on_disk["metrics"]["epoch"] == [0, 1, 2]
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    saved = wf.load_json(tmp_path / "weights.json")
    assert saved == rec["weights"]
    # same seed, same run: the randomness is all passed in
    again = train(epochs=2, lr=0.1, hidden=[3], samples=3000, val_samples=500, seed=0,
                  out=None, progress=False, log=lambda s: None)
    assert again["weights"] == rec["weights"]


def test_normalise_gives_zero_mean_unit_std():
    from stage1_scalar.train import feature_stats, normalise

    X = [[1.0, 10.0, 5.0], [3.0, 30.0, 5.0], [5.0, 20.0, 5.0]]
    mean, std = feature_stats(X)
    Z = np.array(normalise(X, mean, std))
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(Z.std(axis=0), [1.0, 1.0, 0.0], atol=1e-15)


def test_train_cli_and_init_weights_round_trip(tmp_path):
    out = tmp_path / "run"
    r = run("-m", "stage1_scalar", "train", "--epochs", "1", "--samples", "400",
            "--val-samples", "200", "--hidden", "4", "2", "--no-plot", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "epoch 1: train loss" in r.stdout and "validation accuracy" in r.stdout
    assert "normalising the features" in r.stdout
    w = wf.load_json(out / "weights.json")
    assert w["sizes"] == [2, 4, 2, 2]
    r = run("-m", "stage1_scalar", "example", "--weights", str(out / "weights.json"),
            "--x", "0.5", "-1", "--c", "1")
    assert r.returncode == 0, r.stderr
    assert "k2 = h1 W2 + b2" in r.stdout and "dl/dW3" in r.stdout
    r = run("-m", "stage1_scalar", "train", "--epochs", "1", "--samples", "200",
            "--val-samples", "100", "--hidden", "4", "2", "--no-plot",
            "--init-weights", str(out / "weights.json"), "--out", str(tmp_path / "again"))
    assert r.returncode == 0, r.stderr
    assert read_record(tmp_path / "again" / "record.json")["config"]["init"] == "given"
    r = run("-m", "stage1_scalar", "train", "--epochs", "1", "--samples", "200",
            "--hidden", "3", "--init-weights", str(out / "weights.json"), "--no-plot",
            "--out", str(tmp_path / "wrong"))
    assert r.returncode == 2 and "the data and --hidden need [2, 3, 2]" in r.stderr


def test_weights_that_blow_up_between_losses_stop_the_run():
    """A chunk whose losses are all finite but whose last update made a weight inf (the next
    loss would be nan) already counts as diverged, with the shared rule's advice."""
    from stage1_scalar.train import Watch

    weights, x, c = wf.worked_example()
    watch = Watch(weights, [x], [x], [c], epochs=1, lr=0.5, num_classes=2, log=lambda s: None,
                  progress=False)
    assert watch.steps([0.7, 0.6], weights) and watch.status == "ok"
    weights["layers"][1]["W"][2][0] = float("inf")
    assert not watch.steps([0.5], weights)
    assert watch.status == "diverged" and "step 3" in watch.error
    assert "try a smaller learning rate" in watch.error
    watch.close()
