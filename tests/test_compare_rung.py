"""``python -m stage4_analysis.compare --rung``: a student's own rung checked against stage 3 and
against central differences of its own loss, with the usual bugs diagnosed by name; and
``--weights`` reading what the rungs write (weights JSON, stage-3 ``model.npz``), ``--activation``
reaching every rung, and one-line refusals of bad input.

The example rungs live in ``tests/rungs/``: ``good_rung.py`` and one file per planted bug.
"""

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared import weights as wf
from shared.errors import run_main
from stage4_analysis import compare, diagnosis, problems, rungcheck, rungs

RUNGS = Path(__file__).parent / "rungs"
ROOT = Path(__file__).parent.parent

#: buggy rung -> the diagnosis it must get (on every problem where it disagrees)
PLANTED = {
    "bug_missing_mean.py": "a missing 1/N",
    "bug_transposed_dW.py": "a transposed dW",
    "bug_sign_flip.py": "a sign flip",
    "bug_softmax_jacobian.py": "the softmax's Jacobian left out",
    "bug_softmax_diagonal.py": "only the diagonal of the softmax's Jacobian",
    "bug_sigmoid_at_k.py": "the sigmoid's derivative taken at k",
    "bug_lr_folded.py": "a constant factor",
}


@pytest.fixture(scope="module")
def cases():
    """The default problems without the digits (those are covered once, by the good rung)."""
    return rungcheck.rung_cases(digits=False)


def check(name, cases, **kw):
    out = io.StringIO()
    ok, results = rungcheck.check_rung(RUNGS / name, cases, out=out, **kw)
    return ok, results, out.getvalue()


def on_good_rung(path, body):
    """Write a rung file at ``path`` that can ``import good_rung`` (from ``tests/rungs/``) and
    then defines ``body``; returns ``path``."""
    path.write_text(f"import sys\nsys.path.insert(0, {str(RUNGS)!r})\nimport good_rung\n\n{body}")
    return path


def test_the_good_rung_agrees_on_every_problem_with_its_sgd_and_predict():
    out = io.StringIO()
    cases = rungcheck.rung_cases()
    ok, results = rungcheck.check_rung(RUNGS / "good_rung.py", cases, out=out)
    text = out.getvalue()
    assert ok, text
    assert [r.status for r in results] == ["agree"] * len(results)
    assert {wf.activation_of(c.weights) for c in rungcheck.rung_cases(digits=False)} == \
        set(wf.ACTIVATIONS)
    assert "mnist-sample" in text and "real digits" in text
    assert "sgd_train (6 samples, lr 0.5, batch_size 2) against stage 3" in text
    assert "predict_proba on 10 problems" in text and "agrees with the ladder" in text
    for case, r in zip(cases, results):               # the loss, every layer, the input
        assert [row[0] for row in r.rows] == \
            ["loss"] + rungs.order_from_loss(len(case.weights["layers"]))


@pytest.mark.parametrize("name", list(PLANTED))
def test_each_planted_bug_is_diagnosed_by_name(name, cases):
    ok, results, text = check(name, cases)
    assert not ok
    bad = [r for r in results if r.status == "DISAGREE"]
    assert bad, text
    assert {r.bug for r in bad} == {PLANTED[name]}, text
    assert "diagnosis (problem" in text and PLANTED[name] in text
    assert text.rstrip().endswith("verdict: DISAGREE")


def test_where_each_bug_shows_first(cases):
    _, results, _ = check("bug_missing_mean.py", cases)
    assert results[0].status == "agree"               # one sample: N = 1 hides a missing 1/N
    assert results[1].first == "layer 1 (the output layer)"
    assert "3 times the right value and 3 is the number of samples" in results[1].diagnosis
    _, results, _ = check("bug_sigmoid_at_k.py", cases)
    for case, r in zip(cases, results):               # the output layer is right; relu and tanh
        act = wf.activation_of(case.weights)          # networks do not use the sigmoid at all
        if act == "sigmoid" and len(case.X) > 1:      # (the worked example's dH is 0)
            last_hidden = len(case.weights["layers"]) - 2
            assert r.status == "DISAGREE" and r.first == f"layer {last_hidden}"
            assert [row[0] for row in r.rows if row[2] and row[2]["rel"] > rungcheck.RUNG_TOL][0] \
                == f"layer{last_hidden}.b"
        else:
            assert r.status == "agree", (case.name, r)
    _, results, _ = check("bug_lr_folded.py", cases)
    assert "0.1 times the right value" in results[0].diagnosis
    _, results, _ = check("bug_transposed_dW.py", cases)
    assert results[0].diagnosis.startswith("layer1.W has shape (2, 3)")


def test_an_unexplained_error_gets_no_made_up_diagnosis(tmp_path, cases):
    rung = on_good_rung(
        tmp_path / "noisy.py",
        "def loss_and_grads(weights, X, c):\n"
        "    loss, grads, dX = good_rung.loss_and_grads(weights, X, c)\n"
        "    grads['layers'][0]['W'] = grads['layers'][0]['W'] + 0.01 * ("
        "grads['layers'][0]['W'] ** 2)\n"
        "    return loss, grads, dX\n")
    out = io.StringIO()
    ok, results = rungcheck.check_rung(rung, cases[1:3], out=out)
    assert not ok
    assert all(r.status == "DISAGREE" and r.bug is None for r in results)
    assert all(r.first == "layer 0" for r in results)
    assert "no simple diagnosis fits" in out.getvalue()


def test_a_forward_bug_is_told_from_a_backward_bug(tmp_path, cases):
    rung = on_good_rung(                     # loss and gradients of the sum: consistent
        tmp_path / "sum_loss.py",
        "def loss_and_grads(weights, X, c):\n"
        "    loss, grads, dX = good_rung.loss_and_grads(weights, X, c)\n"
        "    n = len(c)\n"
        "    for g in grads['layers']:\n"
        "        g['W'], g['b'] = n * g['W'], n * g['b']\n"
        "    return n * loss, grads, n * dX\n")
    out = io.StringIO()
    _, results = rungcheck.check_rung(rung, cases[1:2], out=out)
    r = results[0]
    assert r.first == "the loss (the forward pass)"
    assert r.bug == "a missing 1/N" and "(the loss is the sum too)" in r.diagnosis
    own = [row[3]["rel"] for row in r.rows if row[3] is not None]
    assert max(own) < rungcheck.FD_TOL                       # consistent with its own loss


def test_a_rung_that_ignores_the_activation_is_checked_on_sigmoid_only(tmp_path, cases):
    rung = on_good_rung(
        tmp_path / "sigmoid_only.py",
        "def loss_and_grads(weights, X, c):\n"
        "    return good_rung.loss_and_grads({**weights, 'activation': 'sigmoid'}, X, c)\n")
    ok, results, text = check(rung, cases)
    assert ok, text
    for case, r in zip(cases, results):
        if wf.activation_of(case.weights) == "sigmoid":
            assert r.status == "agree"
        else:
            assert r.status == "skipped" and "ignores weights['activation']" in r.note
    raising = on_good_rung(
        tmp_path / "raises.py",
        "def loss_and_grads(weights, X, c):\n"
        "    if weights['activation'] != 'sigmoid':\n"
        "        raise NotImplementedError('only sigmoid')\n"
        "    return good_rung.loss_and_grads(weights, X, c)\n")
    ok, results, text = check(raising, cases)
    assert ok, text
    assert any("NotImplementedError: only sigmoid" in (r.note or "") for r in results)


def test_real_rungs_pass_as_student_rungs():
    """Stage 2's network.py (arrays) and stage 1's (lists) checked as if a student wrote them."""
    case = rungcheck._random_case("3-4-2", [3, 4, 2], 3, 1, "sigmoid")
    out = io.StringIO()
    ok, results = rungcheck.check_rung(ROOT / "stage2_perinstance" / "network.py", [case], out=out)
    assert ok and results[0].status == "agree", out.getvalue()
    ok, results = rungcheck.check_rung(ROOT / "stage1_scalar" / "network.py", [case], lists=True,
                                 out=out)
    assert ok and results[0].status == "agree", out.getvalue()


def test_broken_return_values_and_crashes_fail_with_one_reason(tmp_path, cases):
    for body, expected in [
        ("return 1.0", "must return (loss, grads, dX)"),
        ("return 1.0, {'layers': []}, None", "grads must be"),
        ("return 1.0 / 0", "loss_and_grads raised ZeroDivisionError"),
        ("return [][1]", "IndexError: list index out of range (crash.py line 3)"),
    ]:
        rung = tmp_path / "crash.py"
        rung.write_text(f"def loss_and_grads(weights, X, c):\n    x = 1\n    {body}\n")
        ok, results, text = check(rung, cases[:1])
        assert not ok and results[0].status == "failed", text
        assert expected in results[0].note


def test_a_float32_rung_is_told_to_use_float64(tmp_path, cases):
    rung = on_good_rung(
        tmp_path / "single.py",
        "import numpy as np\n\n"
        "def loss_and_grads(weights, X, c):\n"
        "    loss, grads, dX = good_rung.loss_and_grads(weights, X, c)\n"
        "    return (np.float32(loss), [(np.float32(g['W']), np.float32(g['b']))\n"
        "                               for g in grads['layers']], np.float32(dX))\n")
    ok, results, text = check(rung, cases[1:2])
    assert not ok and results[0].bug == "float32 arithmetic", text
    assert "returns float32 arrays" in results[0].diagnosis


def test_a_rung_without_dx_is_checked_on_its_parameters(tmp_path, cases):
    rung = on_good_rung(
        tmp_path / "no_dx.py",
        "def loss_and_grads(weights, X, c):\n"
        "    return good_rung.loss_and_grads(weights, X, c)[:2]\n")
    ok, results, text = check(rung, cases[:2])
    assert ok, text
    assert results[1].rows[-1][0] == "input" and "dX not returned" in results[1].rows[-1][4]


def test_a_wrong_sgd_train_is_caught(tmp_path):
    rung = on_good_rung(
        tmp_path / "bad_sgd.py",
        "from good_rung import loss_and_grads\n\n"
        "def sgd_train(weights, X, c, lr, batch_size=1):\n"
        "    for s in range(0, len(X), batch_size):\n"
        "        _, g, _ = loss_and_grads(weights, X[s:s + batch_size], c[s:s + batch_size])\n"
        "        for layer, d in zip(weights['layers'], g['layers']):\n"
        "            layer['W'] -= lr * d['W']\n"
        "            layer['b'] -= lr * d['b']\n"
        "    return weights\n")
    module = rungcheck.load_rung(rung)
    ok, line = rungcheck.check_sgd_train(module)
    assert ok is False
    assert "changed the weights it was given" in line and line.endswith("DISAGREE")
    ok, line = rungcheck.check_sgd_train(rungcheck.load_rung(RUNGS / "good_rung.py"))
    assert ok and line.endswith("agree")


def test_the_planted_bug_reference_matches_stage_3_and_torch():
    for act in wf.ACTIVATIONS:
        case = rungcheck._random_case("4-5-5-3", [4, 5, 5, 3], 3, 2, act)
        loss, tensors = diagnosis.reference(case.weights, case.X, case.c)
        impls = {"torch": rungs.torch_loss_and_grads} if "torch" in rungs.implementations() else {}
        impls["stage3"] = rungs._stage3
        for name, fn in impls.items():
            loss2, grads, dX = fn(case.weights, case.X, case.c)
            np.testing.assert_allclose(loss, loss2, rtol=1e-12, err_msg=f"{name} {act}")
            for t, arr in rungs.named_tensors(grads, dX).items():
                np.testing.assert_allclose(tensors[t], arr, rtol=1e-10, atol=1e-14,
                                           err_msg=f"{name} {act} {t}")


# --------------------------------------------------------------------------- the command
def run(argv, capsys):
    status = run_main(compare.main, argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("argv, message", [
    (["--rung", "no_such_rung.py"], "--rung no_such_rung.py: no such file"),
    (["--tol", "nan"], "--tol must be a finite number > 0, got nan"),
    (["--tol", "-1"], "--tol must be a finite number > 0, got -1.0"),
    (["--tol", "inf"], "--tol must be a finite number > 0, got inf"),
    (["--weights", "no_such_weights.json"], "--weights no_such_weights.json: no such file"),
    (["--lists"], "--lists applies only with --rung"),
])
def test_bad_input_gets_one_line_and_exit_2(argv, message, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2
    assert err.count("\n") == 1 and message in err
    assert out == ""


def test_rung_files_that_cannot_be_checked_exit_2(tmp_path, capsys):
    files = {"imports.py": ("import no_such_module_here\n",
                            "importing it raised ModuleNotFoundError: No module named "
                            "'no_such_module_here' (imports.py line 1)"),
             "syntax.py": ("def loss_and_grads(:\n", "importing it raised SyntaxError"),
             "nothing.py": ("x = 1\n", "defines no function loss_and_grads"),
             "rung.txt": ("x = 1\n", "not a Python file")}
    for name, (text, message) in files.items():
        (tmp_path / name).write_text(text)
        status, out, err = run(["--rung", str(tmp_path / name)], capsys)
        assert status == 2 and err.count("\n") == 1 and message in err, err


def test_the_module_entry_point_goes_through_the_error_boundary():
    out = subprocess.run([sys.executable, "-m", "stage4_analysis.compare", "--rung",
                          "no_such_rung.py"], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == "error: --rung no_such_rung.py: no such file\n"


def test_exit_status_of_the_rung_command(capsys):
    status, out, _ = run(["--rung", str(RUNGS / "good_rung.py"), "--sizes", "3", "4", "2",
                          "--samples", "3", "--activation", "tanh"], capsys)
    assert status == 0 and "tanh" in out
    status, out, _ = run(["--rung", str(RUNGS / "bug_sign_flip.py"), "--sizes", "3", "4", "2"],
                         capsys)
    assert status == 1 and "diagnosis" in out and "a sign flip" in out


def test_help_names_the_commands_that_write_weights_and_they_do(capsys):
    with pytest.raises(SystemExit):
        compare.main(["--help"])
    text = capsys.readouterr().out
    for command, output in [("python -m stage1_scalar train", "weights.json"),
                            ("python -m stage2_perinstance", "weights.json"),
                            ("python -m stage3_batched", "model.npz")]:
        assert command in text and output in text
    assert "--save-weights" in text
    sources = {"stage1": (ROOT / "stage1_scalar" / "train.py").read_text()
               + (ROOT / "stage1_scalar" / "__main__.py").read_text(),
               "stage2": (ROOT / "stage2_perinstance" / "__main__.py").read_text(),
               "stage3": (ROOT / "stage3_batched" / "__main__.py").read_text()}
    assert '"weights.json"' in sources["stage1"] and "--save-weights" in sources["stage1"]
    assert "weights.json" in sources["stage2"]
    assert '"model.npz"' in sources["stage3"]


# --------------------------------------------------------------------------- --weights files
def _problem_args(path, activation=None):
    import argparse

    return argparse.Namespace(weights=str(path), sizes=None, dataset=None, samples=3, seed=0,
                              activation=activation)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_a_stage3_model_file_is_read_with_its_activation(tmp_path, activation):
    from stage3_batched import MLP, loss_and_grads

    model = MLP(4, [5, 6], 3, activation, rng=np.random.default_rng(3))
    path = model.save(tmp_path / "model.npz")
    weights, X, c, where = problems.build_problem(_problem_args(path))
    assert weights["activation"] == activation and weights["sizes"] == [4, 5, 6, 3]
    assert f"({activation})" in where
    params = model.parameters()
    np.testing.assert_array_equal(weights["layers"][1]["W"], params["linear2.W"])
    # the model's own outputs are the weights' network's logits
    from stage3_batched import softmax

    np.testing.assert_allclose(diagnosis.predict_reference(weights, X), softmax(model.forward(X)),
                               rtol=1e-13)
    loss, _, _ = loss_and_grads(weights, X, c)
    np.testing.assert_allclose(loss, diagnosis.reference(weights, X, c)[0], rtol=1e-13)


def test_model_files_that_are_not_a_plain_mlp_get_one_line(tmp_path, capsys):
    from stage3_batched import MLP

    files = {"dropout.npz": (MLP(4, [5], 3, "relu", dropout=0.2), "has dropout layers"),
             "sigout.npz": (MLP(4, [5], 3, "sigmoid", output_activation="sigmoid"),
                            "-> Sigmoid are not")}
    for name, (model, message) in files.items():
        model.save(tmp_path / name)
        status, out, err = run(["--weights", str(tmp_path / name), "--no-torch"], capsys)
        assert status == 2 and err.count("\n") == 1 and message in err, err
    MLP(4, [5], 3, "leaky_relu").save(tmp_path / "leaky.npz")   # leaky ReLU is in the family
    weights, *_ = problems.build_problem(_problem_args(tmp_path / "leaky.npz"))
    assert weights["activation"] == "leaky_relu"
    old = tmp_path / "old.npz"                        # no architecture recorded
    np.savez(old, **MLP(4, [5], 3, "tanh").parameters())
    status, _, err = run(["--weights", str(old)], capsys)
    assert status == 2 and "give --activation" in err
    weights, *_ = problems.build_problem(_problem_args(old, "tanh"))
    assert weights["activation"] == "tanh" and weights["sizes"] == [4, 5, 3]
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "junk.json").write_text("{ not json")
    (tmp_path / "random.bin").write_bytes(bytes(range(256)))
    for name in ("junk.npz", "junk.json", "random.bin"):
        status, out, err = run(["--weights", str(tmp_path / name)], capsys)
        assert status == 2 and err.count("\n") == 1 and f"--weights {tmp_path / name}" in err


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_activation_reaches_every_rung(tmp_path, activation):
    """A weights file's activation (and --activation) flows to stage 1, 2, 3 and torch."""
    weights = wf.init_weights([4, 6, 5, 3], random.Random(4), activation=activation)
    path = tmp_path / "w.json"
    wf.save_json(weights, path)
    problem, X, c, _ = problems.build_problem(_problem_args(path))
    assert problem["activation"] == activation
    report = compare.compare(problem, X, c, rungs.implementations(), tol=compare.DEFAULT_TOL)
    assert report["ok"], report["worst"]
    sig, *_ = problems.build_problem(_problem_args(path, "sigmoid"))   # the flag overrides the file
    assert sig["activation"] == "sigmoid"
    assert abs(diagnosis.reference(sig, X, c)[0] - diagnosis.reference(problem, X, c)[0]) > 1e-6


def test_compare_json_reports_the_activation():
    out = subprocess.run([sys.executable, "-m", "stage4_analysis.compare", "--sizes", "3", "4",
                          "2", "--activation", "tanh", "--json", "--no-torch"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    data = json.loads(out.stdout)
    assert data["activation"] == "tanh" and "tanh" in data["problem"]


def test_an_sgd_step_on_the_summed_gradient_is_named_and_counted():
    out = io.StringIO()
    ok, results = rungcheck.check_rung(RUNGS / "bug_sgd_summed.py",
                                       rungcheck.rung_cases(("sigmoid",), digits=False), out=out)
    text = out.getvalue()
    assert not ok and all(r.status == "agree" for r in results)   # the gradients are right
    assert "the update is 2 times stage 3's, 2 being the batch size" in text
    assert "2 further checks: 1 agree, 1 disagree" in text and "verdict: DISAGREE" in text


# --------------------------------------------------------------------------- never a wrong pass
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

good_rung = rungcheck.load_rung(RUNGS / "good_rung.py")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(act=st.sampled_from(wf.ACTIVATIONS), hidden=st.lists(st.integers(1, 5), min_size=1,
                                                             max_size=2),
       n=st.integers(1, 4), seed=st.integers(0, 10_000), which=st.integers(0, 10_000),
       size=st.floats(1e-6, 1e3))
def test_no_wrong_gradient_ever_passes(act, hidden, n, seed, which, size):
    """Any one entry of any gradient (or dX) moved by at least 1e-7 of that tensor's largest
    entry is a disagreement - on random networks, activations and batch sizes."""
    sizes = [3, *hidden, 4]
    case = rungcheck._random_case("fuzz", sizes, n, seed, act)
    names = rungs.order_from_loss(len(sizes) - 1)
    target = names[which % len(names)]

    def wrong(weights, X, c):
        loss, grads, dX = good_rung.loss_and_grads(weights, X, c)
        tensors = {**{f"layer{i}.{p}": g[p] for i, g in enumerate(grads["layers"])
                      for p in ("W", "b")}, "input": dX}
        t = tensors[target]
        scale = max(float(np.max(np.abs(t))), 1e-3)
        t.flat[which % t.size] += size * scale * 0.1    # >= 1e-7: ten times the tolerance
        return loss, grads, dX

    result = rungcheck.check_case(wrong, case)
    assert result.status == "DISAGREE", (target, result.rows)
