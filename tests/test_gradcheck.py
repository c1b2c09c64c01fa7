"""``python -m stage3_batched.gradcheck`` / ``check_layer``: any layer's backward against central
differences of ``sum(dY * forward(X))``. Stage 3's own layers and the example ``MyLinear`` /
``MySigmoid`` pass; the layers with planted bugs in ``tests/rungs/buggy_layers.py`` fail, each
on the gradient the bug is in; bad layer names get one line and exit 2."""

from pathlib import Path

import numpy as np
import pytest

from shared.errors import ConfigError, run_main
from stage3_batched import LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from stage3_batched import gradcheck as gc

RUNGS = Path(__file__).parent / "rungs"


@pytest.mark.parametrize("cls", [Linear, Sigmoid, ReLU, Tanh, Softmax, LeakyReLU])
def test_stage3_layers_pass(cls):
    result = gc.check_layer(cls, seed=1)
    assert result.ok, result
    expected = {"input", "W", "b"} if cls is Linear else {"input"}
    assert set(result.errors) == expected
    assert max(result.errors.values()) < 1e-8


def test_a_student_layer_passes_and_its_shapes_are_reported():
    cls = gc.load_class(f"{RUNGS / 'my_layers.py'}:MyLinear")
    result = gc.check_layer(cls, args=(4, 3), shape=(5, 4))
    assert result.ok and result.layer == "MyLinear(4, 3)"
    assert result.shapes == {"input": (5, 4), "W": (4, 3), "b": (3,)}
    assert result.output_shape == (5, 3)
    assert gc.check_layer(gc.load_class(f"{RUNGS / 'my_layers.py'}:MySigmoid")).ok


def test_gradients_are_zeroed_before_backward():
    """Stage 3's backward adds to grads: stale values must not count against the layer."""
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    layer.grads["W"] += 5.0
    assert gc.check_layer(layer).ok
    mine = gc.load_class(f"{RUNGS / 'my_layers.py'}:MyLinear")(3, 2)   # no zero_grad method
    mine.grads["b"] += 1.0
    assert gc.check_layer(mine).ok


def test_each_buggy_layer_fails_on_the_gradient_the_bug_is_in():
    load = lambda name: gc.load_class(f"{RUNGS / 'buggy_layers.py'}:{name}")  # noqa: E731
    r = gc.check_layer(load("LinearTransposedDW"), args=(4, 3))
    assert not r.ok and set(r.problems) == {"W"}
    assert "has shape (3, 4), it must be (4, 3)" in r.problems["W"]
    assert "transpose of the right gradient" in r.problems["W"]
    r = gc.check_layer(load("LinearTransposedDW"), args=(4, 4))      # square: a value error
    assert not r.ok and r.errors["W"] > 0.1 and r.hints["W"] == "the transpose of the right " \
        "gradient"
    assert r.errors["input"] < 1e-8 and r.errors["b"] < 1e-8
    r = gc.check_layer(load("LinearBiasMean"), args=(4, 3), shape=(3, 4))
    assert not r.ok and r.errors["b"] > 0.1 and r.errors["W"] < 1e-8
    assert r.hints["b"] == "0.333333 times the right gradient"
    for name in ("SigmoidBackwardAtX", "TanhForgetsUpstream"):
        r = gc.check_layer(load(name))
        assert not r.ok and r.errors["input"] > 0.1, name


def test_the_numeric_gradient_itself():
    """Central differences of a known function: f(v) = sum(v^3) has gradient 3 v^2."""
    v = np.array([[0.5, -1.0], [2.0, 0.1]])
    g = gc.numeric_gradient(lambda: float(np.sum(v**3)), v)
    np.testing.assert_allclose(g, 3 * v**2, rtol=1e-8)
    assert gc.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    np.testing.assert_allclose(gc.rel_error([1.0, 0.0], [0.0, 1.0]), 2**0.5 / 2)


def test_the_command_exit_status_and_report(capsys):
    assert run_main(gc.main, [f"{RUNGS / 'my_layers.py'}:MyLinear", "--args", "4", "3"]) == 0
    out = capsys.readouterr().out
    assert "MyLinear(4, 3)" in out and "tolerance 1e-06: pass" in out
    for name in ("input", "W", "b"):
        assert f"  {name} " in out
    assert run_main(gc.main, [f"{RUNGS / 'buggy_layers.py'}:SigmoidBackwardAtX"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and out.rstrip().endswith("tolerance 1e-06: FAIL")
    assert run_main(gc.main, ["stage3_batched.layers:Softmax", "--shape", "3", "6"]) == 0
    assert "on X (3, 6)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["no_such_file.py:MyLinear"], "no_such_file.py: no such file"),
    ([f"{RUNGS / 'my_layers.py'}:Nope"], "has no 'Nope'; its layers: MyLinear, MySigmoid"),
    (["stage3_batched.layers"], "name the layer as FILE.py:Class"),
    (["no_such_package.layers:X"], "importing it raised ModuleNotFoundError"),
    (["stage3_batched.layers:Dropout"], "cannot build Dropout"),
    (["stage3_batched.layers:Dropout", "--args", "0.5"], "forward gives different outputs"),
    (["stage3_batched.layers:init_weight"], "is not a class"),
    (["stage3_batched.layers:Tanh", "--shape", "1000", "1000"], "use a smaller --shape"),
    (["stage3_batched.layers:Linear", "--args", "300", "100"], "use a smaller --shape or --args"),
    (["stage3_batched.layers:Linear", "--args", "100000000000", "3"], "give smaller --args"),
])
def test_layers_that_cannot_be_checked_get_one_line(argv, message, capsys):
    assert run_main(gc.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_float32_layers_are_refused():
    with pytest.raises(ConfigError, match="float32"):
        gc.check_layer(Linear(3, 2, dtype=np.float32))


def test_a_crashing_backward_is_a_failed_check(tmp_path):
    (tmp_path / "crash.py").write_text(
        "class Broken:\n    params, grads = {}, {}\n"
        "    def forward(self, X):\n        return 2 * X\n"
        "    def backward(self, dY):\n        raise RuntimeError('not written yet')\n")
    r = gc.check_layer(gc.load_class(f"{tmp_path / 'crash.py'}:Broken"))
    assert not r.ok and "RuntimeError: not written yet" in r.problems["input"]
