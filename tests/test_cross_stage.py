"""The promise of the ladder: the same network gives the same numbers at every rung.

Same weights and samples -> the same loss, every parameter gradient and the input gradient in
stages 1, 2 and 3 (and PyTorch float64 autograd when installed), to a relative error of
``TOL = 1e-12`` per tensor (``max|a - b| / max(max|a|, max|b|)``, see
``stage4_analysis/compare.py``). The same SGD steps from the same initial weights in the same
sample order end with the same weights (``TRAIN_TOL = 1e-10``), and stage 2 accumulating over B
samples makes the same update as stage 3 with a batch of B.

Every hidden activation of the weight format (sigmoid, relu, tanh) is covered: the loss, every
gradient and dX, and SGD trajectories, stages 1, 2 and 3 (and PyTorch when installed). Initial
weights and samples come from one seeded ``random.Random`` per test, shared by all stages, so the
stages never differ because of randomness.
"""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
from scalar_problems import problem

import stage1_scalar
import stage2_perinstance
import stage3_batched
from shared import weights as wf
from stage4_analysis import compare, rungs

TOL = 1e-12
TRAIN_TOL = 1e-10


def mnist_problem(n):
    from shared.data import load_mnist_sample

    (xtr, ytr), _, _ = load_mnist_sample()
    weights = wf.init_weights([784, 300, 10], random.Random(7))
    return weights, xtr[:n].tolist(), [int(v) for v in ytr[:n]]


def run_all(weights, X, c, with_torch=False):
    impls = rungs.implementations(include_torch=with_torch)
    if with_torch and "torch" not in impls:
        pytest.skip("torch is not installed (pip install -e '.[torch]')")
    return compare.compare(weights, np.asarray(X), np.asarray(c), impls, tol=TOL)


def assert_agree(report):
    """Fail with the largest difference, the pair, the tensor and the index where it is."""
    lines = []
    for tname, entry in report["tensors"].items():
        for pair, d in entry["pairs"].items():
            if d["rel"] > TOL:
                lines.append(f"{tname} {pair}: max|Δ| {d['max_abs']:.3e} at {d['where']}, "
                             f"rel {d['rel']:.3e}")
    for pair, d in report["loss_pairs"].items():
        if d["rel"] > TOL:
            lines.append(f"loss {pair}: |Δ| {d['max_abs']:.3e}, rel {d['rel']:.3e}")
    assert not lines, "stages disagree beyond rel " + f"{TOL:g}:\n" + "\n".join(lines)
    assert report["ok"]


CASES = {
    "worked-2-3-2": lambda: (lambda w, x, c: (w, [x], [c]))(*wf.worked_example()),
    "deep-5-7-6-4": lambda: problem([5, 7, 6, 4], n=4, seed=11),
    "mnist-784-300-10": lambda: mnist_problem(n=2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_agree_across_stages(case):
    weights, X, c = CASES[case]()
    report = run_all(weights, X, c)
    assert set(report["losses"]) == {"stage1", "stage2", "stage3"}
    assert_agree(report)


@pytest.mark.parametrize("case", list(CASES))
def test_pytorch_oracle_agrees(case):
    pytest.importorskip("torch")
    weights, X, c = CASES[case]()
    report = run_all(weights, X, c, with_torch=True)
    assert "torch" in report["losses"]
    assert_agree(report)


def test_worked_example_values_in_every_stage():
    """The hand-out's numbers, from every rung (an oracle independent of the other stages)."""
    weights, x, c = wf.worked_example()
    for name, fn in rungs.implementations(include_torch=False).items():
        loss, grads, _ = fn(weights, np.array([x]), np.array([c]))
        np.testing.assert_allclose(loss, np.log(2), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(grads["layers"][1]["b"], [-0.5, 0.5], rtol=1e-12,
                                   err_msg=name)
        h = 1 / (1 + np.exp(-2.0))
        np.testing.assert_allclose(grads["layers"][1]["W"], [[-0.5 * h, 0.5 * h]] * 3,
                                   rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(grads["layers"][0]["W"], np.zeros((2, 3)), atol=1e-15,
                                   err_msg=name)


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
@pytest.mark.parametrize("sizes, n", [([2, 3, 2], 3), ([5, 7, 6, 4], 4)])
def test_every_activation_agrees_across_stages(activation, sizes, n):
    """Loss, every parameter gradient and dX, stages 1/2/3, for sigmoid, relu and tanh networks;
    the networks really differ (an activation ignored somewhere would show)."""
    weights, X, c = problem(sizes, n=n, seed=len(sizes) + n, activation=activation)
    report = run_all(weights, X, c)
    assert set(report["losses"]) == {"stage1", "stage2", "stage3"}
    assert_agree(report)
    if activation != "sigmoid":
        sig = run_all({**weights, "activation": "sigmoid"}, X, c)
        assert abs(sig["losses"]["stage1"] - report["losses"]["stage1"]) > 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_pytorch_oracle_agrees_for_other_activations(activation):
    pytest.importorskip("torch")
    weights, X, c = problem([5, 7, 6, 4], n=3, seed=17, activation=activation)
    report = run_all(weights, X, c, with_torch=True)
    assert "torch" in report["losses"]
    assert_agree(report)


def trained(stage, weights, X, c, lr, batch_size):
    """Run ``stage.sgd_train`` and return the result as float64 arrays."""
    if stage is stage1_scalar:
        out = stage.sgd_train(wf.to_lists(weights), X, c, lr, batch_size=batch_size)
    else:
        out = stage.sgd_train(wf.to_arrays(weights), np.asarray(X), np.asarray(c), lr,
                              batch_size=batch_size)
    return wf.to_arrays(out)


def assert_same_weights(a, b, what):
    for i, (la, lb) in enumerate(zip(a["layers"], b["layers"])):
        for key in ("W", "b"):
            d = rungs.difference(la[key], lb[key])
            assert d["max_abs"] <= TRAIN_TOL, (
                f"{what}: layer {i} {key} differs by {d['max_abs']:.3e} at {d['where']}")


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_same_sgd_steps_give_same_weights(batch_size, activation):
    weights, X, c = problem([5, 7, 6, 4], n=24, seed=5, activation=activation)
    before = [layer["W"][0][0] for layer in weights["layers"]]
    results = {s.__name__: trained(s, weights, X, c, lr=0.5, batch_size=batch_size)
               for s in (stage1_scalar, stage2_perinstance, stage3_batched)}
    assert [layer["W"][0][0] for layer in weights["layers"]] == before, "input was mutated"
    moved = rungs.difference(results["stage1_scalar"]["layers"][0]["W"],
                           wf.to_arrays(weights)["layers"][0]["W"])["max_abs"]
    assert moved > 1e-3, "training did not change the weights: the comparison would be vacuous"
    assert_same_weights(results["stage1_scalar"], results["stage2_perinstance"],
                        f"stage1 vs stage2, batch {batch_size}")
    assert_same_weights(results["stage2_perinstance"], results["stage3_batched"],
                        f"stage2 vs stage3, batch {batch_size}")


def test_stage2_accumulation_equals_stage3_batch():
    """B samples accumulated (averaged) in stage 2 = one stage-3 step on a batch of B."""
    weights, X, c = problem([6, 8, 3], n=8, seed=9)
    s2 = trained(stage2_perinstance, weights, X, c, lr=0.3, batch_size=8)
    s3 = trained(stage3_batched, weights, X, c, lr=0.3, batch_size=8)
    assert_same_weights(s2, s3, "stage2 accumulate 8 vs stage3 batch 8")
    # and that one step is the mean-gradient step, computed from stage 1's gradients:
    _, g, _ = stage1_scalar.loss_and_grads(wf.to_lists(weights), X, c)
    w0 = wf.to_arrays(weights)
    for i, layer in enumerate(w0["layers"]):
        np.testing.assert_allclose(s3["layers"][i]["W"],
                                   layer["W"] - 0.3 * np.asarray(g["layers"][i]["W"]),
                                   rtol=0, atol=TRAIN_TOL)


def test_weights_travel_between_stages_through_json(tmp_path):
    weights, X, c = problem([4, 5, 3], n=6, seed=3)
    trained2 = trained(stage2_perinstance, weights, X, c, lr=0.2, batch_size=2)
    path = tmp_path / "from_stage2.json"
    wf.save_json(trained2, path)
    loaded = wf.load_json(path)
    p1 = np.asarray(stage1_scalar.predict_proba(loaded, X))
    p2 = stage2_perinstance.predict_proba(wf.to_arrays(loaded), np.asarray(X))
    model = stage3_batched.MLP.from_weights(wf.to_arrays(loaded))
    p3 = stage3_batched.predict_proba(wf.to_arrays(loaded), np.asarray(X))
    np.testing.assert_allclose(p1, p2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(p2, p3, rtol=1e-13, atol=1e-15)
    back = wf.to_arrays(model.to_weights())
    assert_same_weights(back, wf.to_arrays(loaded), "stage-3 model round trip")


def test_compare_reports_a_disagreement_and_where():
    weights, X, c = problem([3, 4, 2], n=2, seed=1)

    def broken(w, X, c):
        loss, grads, dX = rungs._stage2(w, X, c)
        grads["layers"][0]["W"] = np.array(grads["layers"][0]["W"])
        grads["layers"][0]["W"][2, 1] += 1e-6
        return loss, grads, dX

    report = compare.compare(weights, np.asarray(X), np.asarray(c),
                         {"stage2": rungs._stage2, "broken": broken}, tol=TOL)
    assert not report["ok"]
    assert report["worst"]["tensor"] == "layer0.W"
    assert report["worst"]["where"] == (2, 1)
    np.testing.assert_allclose(report["tensors"]["layer0.W"]["pairs"]["stage2~broken"]
                               ["max_abs"], 1e-6, rtol=1e-6)


def test_compare_command_worked_example_and_json():
    out = subprocess.run([sys.executable, "-m", "stage4_analysis.compare", "--no-torch"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "worked example" in out.stdout and "agree" in out.stdout
    assert "layer1.W" in out.stdout and "input" in out.stdout
    out = subprocess.run([sys.executable, "-m", "stage4_analysis.compare", "--sizes", "5", "7",
                          "4", "--samples", "3", "--json", "--no-torch"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True
    assert data["tensors"]["layer0.W"]["shape"] == [5, 7]
    assert set(data["losses"]) == {"stage1", "stage2", "stage3"}


def test_compare_command_exit_status_on_disagreement(monkeypatch, capsys):
    stage3 = rungs._stage3

    def off(w, X, c):
        loss, grads, dX = stage3(w, X, c)
        return loss * (1 + 1e-9), grads, dX

    monkeypatch.setattr(rungs, "_stage3", off)
    assert compare.main(["--no-torch"]) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_compare_command_rejects_bad_input(capsys):
    with pytest.raises(SystemExit):
        compare.main(["--sizes", "3"])
    assert "--sizes needs at least two" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--samples", "0"])
