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
    expected = {"input", "W", "b", "accumulate"} if cls is Linear else {"input"}
    assert set(result.errors) == expected           # stage 3 accumulates: it has zero_grad
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
    assert not r.ok and r.errors["W"] > 0.1
    assert r.hints["W"] == "transposed: the transpose of the right gradient"
    assert r.errors["input"] < 1e-8 and r.errors["b"] < 1e-8
    r = gc.check_layer(load("LinearBiasMean"), args=(4, 3), shape=(3, 4))
    assert not r.ok and r.errors["b"] > 0.1 and r.errors["W"] < 1e-8
    assert r.hints["b"].startswith("1/N = 1/3 times the right gradient: bias averaged instead "
                                   "of summed")
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


# --------------------------------------------------------------------------- course shapes
def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text("import numpy as np\n\n" + text)
    return path


HIDDEN = '''
class Hidden:
    """Parameters under names gradcheck does not know: weights / bias, gradients in wgrad."""
    def __init__(self, n_in, n_out):
        self.weights = np.ones((n_in, n_out)) / n_in
        self.bias = np.zeros(n_out)
    def forward(self, X):
        self.X = X
        return X @ self.weights + self.bias
    def backward(self, dY):
        self.wgrad = self.X.T @ dY
        return dY @ self.weights.T
'''


def test_parameters_it_cannot_find_are_never_a_pass(tmp_path, capsys):
    spec = f"{write(tmp_path, 'hidden.py', HIDDEN)}:Hidden"
    assert run_main(gc.main, [spec]) == 1
    out = capsys.readouterr().out
    assert "weights (4, 3)" in out and "bias (3,)" in out and "wgrad (4, 3)" in out
    assert "params / grads" in out and "grad_W" in out and "--input-only" in out
    assert out.rstrip().endswith("FAIL")
    assert run_main(gc.main, [spec, "--input-only"]) == 0
    out = capsys.readouterr().out
    assert "--input-only: dX alone is checked; not checked: weights" in out


def test_an_unknown_array_beside_known_parameters_fails(tmp_path):
    path = write(tmp_path, "scaled.py", '''
class Scaled:
    def __init__(self):
        self.W, self.grad_W = np.ones((4, 3)), np.zeros((4, 3))
        self.scale = np.full(3, 2.0)                  # a parameter without a gradient
    def forward(self, X):
        self.X = X
        return (X @ self.W) * self.scale
    def backward(self, dY):
        self.grad_W += self.X.T @ (dY * self.scale)
        return (dY * self.scale) @ self.W.T
''')
    [r] = gc.check_target(f"{path}:Scaled")
    assert not r.ok and "scale (3,)" in r.problems["parameters"]
    assert r.errors["W"] < 1e-8                       # what it found, it checked


OUT_IN = '''
class LinearOutIn:
    """W stored (out, in), as BYOMLP and PyTorch do; bias (1, n) with a gradient of shape {gb}."""
    def __init__(self, in_dim, out_dim):
        self.W = np.arange(in_dim * out_dim, dtype=float).reshape(out_dim, in_dim) / 10
        self.b = np.zeros((1, out_dim))
    def forward(self, X):
        self.X = X
        return X @ self.W.T + self.b
    def backward(self, dY):
        self.dW = {dw}
        self.db = dY.sum(axis=0){db}
        return dY @ self.W
'''


@pytest.mark.parametrize("dw, db, ok, said", [
    ("dY.T @ self.X", "", True, "for a bias of shape (1, 3): the right values"),
    ("dY.T @ self.X", ".reshape(1, -1)", True, None),
    ("self.X.T @ dY", "", False, "transposed"),
    ("dY.T @ self.X", ".reshape(-1, 1)", False, "db has shape (3, 1), it must be (1, 3)"),
])
def test_layouts_and_bias_shapes(tmp_path, dw, db, ok, said):
    path = write(tmp_path, "outin.py", OUT_IN.format(gb="(n,)", dw=dw, db=db))
    [r] = gc.check_target(f"{path}:LinearOutIn")
    assert r.ok == ok, gc.format_check(r)
    assert set(r.shapes) >= {"input", "W", "b"} and r.shapes["W"] == (3, 4)
    if said:
        assert said in gc.format_check(r)


ACTIVATION = '''
class Act:
    """Built from a name, backward(Z, dY) as ECE421's."""
    def __init__(self, name):
        if name not in ("tanh", "sigmoid"):
            raise ValueError(name)
        self.name = name
    def forward(self, Z):
        return np.tanh(Z) if self.name == "tanh" else 1 / (1 + np.exp(-Z))
    def backward(self, Z, dY):
        y = self.forward(Z)
        return dY * (1 - y**2) if self.name == "tanh" else dY * y * (1 - y)
'''


def test_an_activation_built_from_a_name_with_backward_z_dy(tmp_path, capsys):
    path = write(tmp_path, "acts.py", ACTIVATION)
    results = gc.check_target(f"{path}:Act")
    assert [r.layer for r in results] == ["Act('sigmoid') with backward(Z, dY)",
                                          "Act('tanh') with backward(Z, dY)"]
    assert all(r.ok for r in results)
    assert run_main(gc.main, [f"{path}:Act", "--args", "tanh"]) == 0
    assert "Act('tanh')" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("class Three:\n    def forward(self, X):\n        return X\n"
     "    def backward(self, a, b, c):\n        return a\n",
     "gradcheck calls backward(dY) -> dX (dY shaped like the output) or backward(Z, dY)"),
    ("class NoX:\n    def forward(self):\n        return 1.0\n"
     "    def backward(self, dY):\n        return dY\n", "gradcheck calls forward(X) -> Y"),
    ("def affine_forward(x, w, gamma):\n    return x, None\n"
     "def affine_backward(dout, cache):\n    return dout\n", "cannot tell the shape of the "
     "argument 'gamma'"),
    ("def affine_forward(x, w, b):\n    return x @ w + b\n"
     "def affine_backward(dout, cache):\n    return dout\n", "expects (out, cache)"),
    ("def relu(x):\n    return x\n", "is not a class (a layer or a loss), a pair relu_forward"),
])
def test_a_signature_it_does_not_know_is_exit_2_with_the_contract(tmp_path, capsys, text,
                                                                  message):
    path = tmp_path / "sig.py"
    path.write_text(text)
    name = text.split()[1].split("(")[0].split(":")[0].replace("_forward", "")
    assert run_main(gc.main, [f"{path}:{name}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_pair_is_found_by_either_name_and_a_wrong_backward_arity_fails(tmp_path):
    path = write(tmp_path, "pairs.py", '''
def affine_forward(x, w, b):
    return x @ w + b, (x, w)
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout                     # db forgotten
''')
    for name in ("affine", "affine_forward"):
        [r] = gc.check_target(f"{path}:{name}")
        assert not r.ok and "returned 2 arrays; it must return 3: (dx, dw, db)" in \
            r.problems["input"]


OVERWRITES = '''
class Overwrites:
    """Has a zero_grad, so its gradients must add up; backward overwrites them."""
    def __init__(self):
        self.params = {"W": np.ones((4, 3))}
        self.grads = {"W": np.zeros((4, 3))}
    def zero_grad(self):
        self.grads["W"][...] = 0.0
    def forward(self, X):
        self.X = X
        return X @ self.params["W"]
    def backward(self, dY):
        self.grads["W"] = self.X.T @ dY
        return dY @ self.params["W"].T
'''


def test_a_layer_with_zero_grad_must_accumulate(tmp_path):
    [r] = gc.check_target(f"{write(tmp_path, 'ow.py', OVERWRITES)}:Overwrites")
    assert not r.ok and r.errors["W"] < 1e-8 and r.errors["input"] < 1e-8
    assert r.hints["accumulate"].startswith("gradients overwritten instead of accumulated "
                                            "(grads['W'])")


def test_course_forced_and_unknown(capsys):
    buggy = f"{RUNGS / 'buggy_layers.py'}:LinearTransposedDW"
    mine = f"{RUNGS / 'my_layers.py'}:MyLinear"
    assert "accumulate" not in gc.check_target(mine)[0].errors     # no zero_grad, no course
    [r] = gc.check_target(mine, course="cs3317")                   # CS3317 accumulates
    assert r.ok and r.errors["accumulate"] < 1e-12
    [r] = gc.check_target(buggy, args=(4, 4), course="cs3317")
    assert "overwritten instead of accumulated" in r.hints["accumulate"]
    assert run_main(gc.main, [mine, "--course", "cs999"]) == 2
    assert "choose one of ladder, cs3317" in capsys.readouterr().err


LOSSES = '''
class SumLoss:
    """Softmax cross-entropy whose backward forgot the batch mean's 1/N."""
    def forward(self, logits, labels):
        E = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.P, self.c = E / E.sum(axis=1, keepdims=True), labels
        return -np.mean(np.log(self.P[np.arange(len(labels)), labels]))
    def backward(self):
        G = self.P.copy()
        G[np.arange(len(self.c)), self.c] -= 1
        return G


def onehot_loss(y_hat, y):
    """Cross-entropy on probabilities with one-hot y, as a function -> (loss, dy_hat)."""
    n = len(y)
    return -np.sum(y * np.log(y_hat)) / n, -y / (n * y_hat)
'''


def test_losses_without_a_course_are_found_by_calling_them(tmp_path, capsys):
    path = write(tmp_path, "myloss.py", LOSSES)
    assert run_main(gc.main, [f"{path}:SumLoss"]) == 1
    out = capsys.readouterr().out
    assert "forward(logits (N, K), labels (N,)); backward()" in out
    assert out.count("1/N missing") == 2 and "give --shape" not in out
    [r] = gc.check_target(f"{path}:onehot_loss")
    assert r.ok and "(probabilities (N, K), one-hot labels (N, K)) -> (loss, dx)" in r.header


@pytest.mark.parametrize("name", ["SoftmaxCrossEntropy", "CrossEntropyLoss", "CrossEntropy"])
def test_the_ladders_losses_pass(name):
    [r] = gc.check_target(f"stage3_batched.losses:{name}")
    assert r.ok and set(r.errors) == {"input", "value", "reference"}
    assert max(r.errors.values()) < 1e-8


def test_the_ladders_other_losses(capsys):
    [r] = gc.check_target("stage3_batched.losses:SquaredError")
    assert r.ok and set(r.errors) == {"input"} and "not a cross-entropy" in r.notes[0]
    assert run_main(gc.main, ["stage3_batched.losses:LogisticLoss"]) == 2
    assert "gradcheck checks losses over K classes" in capsys.readouterr().err


MOVED = """
from my_layers import MyLinear


class Moved(MyLinear):
    WHERE, BY = ("W", (0, 0)), 0.0

    def backward(self, dY):
        dX = super().backward(dY)
        name, j = self.WHERE
        g = self.grads[name] if name != "input" else dX
        g[j] += self.BY * np.linalg.norm(g)
        return dX
"""


@pytest.mark.parametrize("where", [("W", (0, 0)), ("W", (3, 2)), ("b", (1,)), ("input", (4, 0))])
@pytest.mark.parametrize("by", [1e-5, -3e-5])
def test_any_one_entry_moved_by_a_little_more_than_the_tolerance_fails(tmp_path, where, by):
    """One entry of one gradient moved by a few times the tolerance (relative to the whole
    gradient's norm) is a failure; unmoved, the same layer passes."""
    import shutil

    shutil.copy(RUNGS / "my_layers.py", tmp_path / "my_layers.py")
    path = write(tmp_path, "moved.py", MOVED)
    cls = gc.load_class(f"{path}:Moved")
    assert gc.check_layer(cls, args=(4, 3), shape=(5, 4)).ok
    cls.WHERE, cls.BY = where, by
    r = gc.check_layer(cls, args=(4, 3), shape=(5, 4))
    assert not r.ok and r.errors[where[0]] > gc.TOL
    assert all(e < 1e-8 for k, e in r.errors.items() if k != where[0])


def test_stage3_does_not_import_stage4_until_it_needs_a_course():
    import subprocess
    import sys

    code = ("import sys, stage3_batched.gradcheck; "
            "print(any(m.startswith('stage4_analysis') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "False"


def test_parameters_behind_properties_and_wrapped_layers_are_found(tmp_path):
    path = write(tmp_path, "wrapped.py", '''
class Inner:
    def __init__(self):
        self.W, self.b = np.ones((4, 3)) / 4, np.zeros(3)
        self.gW, self.gb = np.zeros((4, 3)), np.zeros(3)
    def forward(self, X):
        self.X = X
        return X @ self.W + self.b
    def backward(self, dY):
        self.gW += self.X.T @ dY
        self.gb += dY.mean(axis=0)                    # BUG: the sum of the rows
        return dY @ self.W.T


class Seen:
    """params / grads as properties over a wrapped layer."""
    def __init__(self):
        self.layer = Inner()
    @property
    def params(self):
        return {"W": self.layer.W, "b": self.layer.b}
    @property
    def grads(self):
        return {"W": self.layer.gW, "b": self.layer.gb}
    def forward(self, X):
        return self.layer.forward(X)
    def backward(self, dY):
        return self.layer.backward(dY)


class Unseen(Seen):
    """The same wrapper without the properties: its arrays are one level down."""
    params = grads = None
''')
    [r] = gc.check_target(f"{path}:Seen")
    assert not r.ok and "bias averaged instead of summed" in r.hints["b"]
    [r] = gc.check_target(f"{path}:Unseen")
    assert not r.ok and "layer.W (4, 3)" in r.problems["parameters"]


@pytest.mark.parametrize("course, name, message", [
    ("cs3317", "optimizer.py:SGD", "SGD has no forward and backward"),
    ("cs3317", "model.py:MLP", "cs3317's whole network: a whole network is checked by python -m "
                               "stage4_analysis.compare --rung"),
    ("byomlp", "mlp.py:MLP", "--course byomlp"),
    ("vu", "backprop.py:backward", "a whole network is checked by"),
])
def test_what_is_not_a_layer_points_to_the_tool_that_checks_it(capsys, course, name, message):
    from stage4_analysis import courses

    assert run_main(gc.main, [f"{courses.solution_folder(course) / name}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
