"""Stage 1 unrolled: the loops of network.py written out one scalar per line, compiled.

Oracles: the loops themselves (the program keeps their order of floating-point operations, so the
weights and losses must be *bitwise* equal: compared with ``==``), and the worked example's hand
derived update. Also the traps (huge inputs, a single output unit), the size limit and the CLI.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scalar_problems import problem

from shared import weights as wf
from shared.errors import ConfigError
from stage1_scalar import network, unrolled
from stage1_scalar.unrolled import flatten, program, sgd_train_unrolled, unflatten

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fused", [False, True], ids=["jacobian", "fused"])
@pytest.mark.parametrize("sizes", [[2, 3, 2], [2, 5, 4, 2], [1, 2, 1], [3, 1, 4], [4, 6, 3, 5, 3]])
def test_bitwise_the_same_weights_and_losses_as_the_loops(sizes, fused):
    weights, X, c = problem(sizes, 60, seed=sum(sizes))
    loop_losses, unrolled_losses = [], []
    expected = network.sgd_train(weights, X, c, 0.5, fused=fused, losses=loop_losses)
    got = sgd_train_unrolled(weights, X, c, 0.5, fused=fused, losses=unrolled_losses)
    assert got == expected  # every weight and bias, exactly
    assert unrolled_losses == loop_losses
    assert len(unrolled_losses) == 60 and all(math.isfinite(v) for v in unrolled_losses)
    if sizes[-1] == 1:  # one class: y_0 = 1, l = 0 and every gradient 0, nothing to learn
        assert got == weights and set(unrolled_losses) == {0.0}
    else:
        assert got != weights  # it did train


def test_worked_example_step_matches_the_hand_derivation():
    # The worked example: dW = 0, db = 0, dV_i = h_i dc with h_i = sigmoid(2), dc = [-0.5, 0.5].
    weights, x, c = wf.worked_example()
    lr = 0.3
    new = sgd_train_unrolled(weights, [x], [c], lr)
    h = 1.0 / (1.0 + math.exp(-2.0))
    dc = [-0.5, 0.5]
    np.testing.assert_allclose(new["layers"][0]["W"], weights["layers"][0]["W"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(new["layers"][0]["b"], [0.0] * 3, rtol=0, atol=1e-15)
    want_V = [[V_ij - lr * h * dc_j for V_ij, dc_j in zip(V_i, dc)]
              for V_i in weights["layers"][1]["W"]]
    np.testing.assert_allclose(new["layers"][1]["W"], want_V, rtol=1e-12, atol=0)
    np.testing.assert_allclose(new["layers"][1]["b"], [lr * 0.5, -lr * 0.5], rtol=1e-12, atol=0)


@pytest.mark.parametrize("fused", [False, True], ids=["jacobian", "fused"])
def test_huge_inputs_and_weights_neither_overflow_nor_disagree(fused):
    weights, X, c = problem([3, 4, 3], 20, seed=7, scale=1e6)
    for layer in weights["layers"]:
        layer["W"] = [[50.0 * v for v in row] for row in layer["W"]]
    loop_losses, unrolled_losses = [], []
    expected = network.sgd_train(weights, X, c, 0.1, fused=fused, losses=loop_losses)
    got = sgd_train_unrolled(weights, X, c, 0.1, fused=fused, losses=unrolled_losses)
    assert got == expected and unrolled_losses == loop_losses
    assert max(unrolled_losses) <= -math.log(network.TINY) + 1e-9  # capped, finite
    assert all(math.isfinite(v) for v in flatten(got))


def test_inputs_are_not_mutated_and_no_samples_is_a_copy():
    weights, X, c = problem([2, 3, 2], 5, seed=1)
    before = wf.to_lists(weights)
    X_before = [list(x) for x in X]
    sgd_train_unrolled(weights, X, c, 0.5)
    assert weights == before and X == X_before
    same = sgd_train_unrolled(weights, [], [], 0.5)
    assert same == weights and same["layers"][0]["W"] is not weights["layers"][0]["W"]


def test_flatten_and_unflatten_round_trip_in_name_order():
    weights, _, _ = problem([3, 4, 2], 1, seed=2)
    flat = flatten(weights)
    names = unrolled.parameter_names([3, 4, 2])
    assert len(flat) == len(names) == unrolled.count_parameters([3, 4, 2]) == 3 * 4 + 4 + 4 * 2 + 2
    assert flat[names.index("W0_2_1")] == weights["layers"][0]["W"][2][1]
    assert flat[names.index("b1_1")] == weights["layers"][1]["b"][1]
    assert unflatten([3, 4, 2], flat) == weights


def test_the_program_is_the_equations_one_per_line():
    src = program([2, 3, 2], fused=False)
    lines = [line.strip() for line in src.splitlines()]
    for eq in ["k0_0 = b0_0 + x_0 * W0_0_0 + x_1 * W0_1_0",   # k = x W + b
               "h0_2 = sigmoid(k0_2)",
               "o_1 = b1_1 + h0_0 * W1_0_1 + h0_1 * W1_1_1 + h0_2 * W1_2_1",
               "y_0 = max(e_0 / s, TINY)",
               "dy_1 = -1.0 / y_1 if c == 1 else 0.0",            # dl/dy
               "J_0_1 = y_0 * (0.0 - y_1)",                        # dy_0/do_1 = -y_0 y_1
               "do_0 = dy_0 * J_0_0 + dy_1 * J_1_0",               # the chain rule, summed over i
               "dh0_1 = W1_1_0 * do_0 + W1_1_1 * do_1",
               "dk0_1 = dh0_1 * (h0_1 * (1.0 - h0_1))",            # sigmoid'(k) = h (1 - h)
               "W0_1_2 -= lr * (x_1 * dk0_2)",
               "b1_0 -= lr * do_0"]:
        assert eq in lines, eq
    n_params = unrolled.count_parameters([2, 3, 2])
    assert sum("-= lr *" in line for line in lines) == n_params  # one update per parameter
    assert "losses.append" not in src
    fused = program([2, 3, 2], fused=True, record_loss=True)
    assert "do_1 = y_1 - (1.0 if c == 1 else 0.0)" in fused and "J_0_0" not in fused
    assert "losses.append(-log((y_0, y_1)[c]))" in fused
    compile(fused, "<test>", "exec")


def test_networks_above_the_limit_are_refused_with_the_alternative():
    big = [784, 300, 10]
    with pytest.raises(ValueError, match=r"238,510 parameters.*network.sgd_train"):
        program(big)
    weights, X, c = problem([2, 3, 2], 1, seed=0)
    assert unrolled.count_parameters([784, 25, 10]) <= unrolled.MAX_PARAMETERS
    assert unrolled.count_parameters([784, 26, 10]) > unrolled.MAX_PARAMETERS
    with pytest.raises(ValueError, match="at least"):
        program([3])


@pytest.mark.parametrize("bad, match", [
    (lambda w, X, c: (w, [[1.0]], [0]), "sample 0 has 1 features"),
    (lambda w, X, c: (w, X[:1], [2]), "class 2 of sample 0"),
    (lambda w, X, c: (w, X, c[:1]), "X has 3 samples but c has 1"),
])
def test_bad_inputs_are_named(bad, match):
    weights, X, c = problem([2, 3, 2], 3, seed=0)
    with pytest.raises(ValueError, match=match):
        sgd_train_unrolled(*bad(weights, X, c), 0.1)


def test_bad_rate_and_non_finite_weights_are_refused():
    weights, X, c = problem([2, 3, 2], 3, seed=0)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        sgd_train_unrolled(weights, X, c, float("nan"))
    weights["layers"][1]["b"][0] = float("inf")
    with pytest.raises(wf.WeightFormatError, match="finite"):
        sgd_train_unrolled(weights, X, c, 0.1)


def test_other_activations_are_refused_with_the_way_to_train_them():
    weights, X, c = problem([2, 3, 2], 3, seed=0)
    for act in ("relu", "tanh"):
        with pytest.raises(ConfigError, match=f"sigmoid hidden layers only.*{act}.*network.py"):
            sgd_train_unrolled({**weights, "activation": act}, X, c, 0.1)
    r = subprocess.run([sys.executable, "-m", "stage1_scalar", "train", "--unrolled",
                        "--activation", "tanh", "--samples", "10", "--val-samples", "10"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--unrolled is written for sigmoid hidden layers only, not tanh" in r.stderr


def test_training_through_the_unrolled_program_gives_the_same_run(tmp_path):
    from stage1_scalar.train import train

    kw = dict(epochs=2, lr=0.1, hidden=[4], samples=1500, val_samples=300, seed=3, out=None,
              progress=False, log=lambda s: None, plot=False)
    loops, fast = train(**kw), train(unrolled=True, **kw)
    assert fast["weights"] == loops["weights"]
    assert fast["metrics"]["curve_loss"] == loops["metrics"]["curve_loss"]
    assert fast["config"]["program"] == "unrolled" and loops["config"]["program"] == "loops"


def test_cli_prints_the_program_and_refuses_big_networks():
    run = lambda *a: subprocess.run([sys.executable, "-m", "stage1_scalar", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    r = run("unrolled")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("def train(params, X, C, lr, losses):")
    assert "k0_0 = b0_0 + x_0 * W0_0_0 + x_1 * W0_1_0" in r.stdout
    r = run("unrolled", "--inputs", "3", "--hidden", "4", "2", "--classes", "5", "--backward",
            "fused", "--losses")
    assert r.returncode == 0 and "do_4 = y_4 - (1.0 if c == 4 else 0.0)" in r.stdout
    assert "dk1_1 = dh1_1" in r.stdout and "losses.append" in r.stdout
    r = run("unrolled", "--inputs", "784", "--hidden", "300", "--classes", "10")
    assert r.returncode == 2 and "238,510 parameters" in r.stderr
    r = run("train", "--help")
    assert r.returncode == 0 and "--unrolled" in r.stdout
