"""The course shapes: each course's reference solution, run through its adapter, is the ladder's
network (loss and every gradient equal to stage 3's), problems a course cannot express are
refused with a reason, and every planted bug is a real one-place change of the solution."""

import random
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import stage3_batched
from shared import weights as wf
from stage4_analysis import courses

COURSES = [n for n in courses.ORDER if n != "ladder"]
ROOT = Path(__file__).resolve().parents[1]


def problem(sizes, activation, n=3, seed=1):
    rng = random.Random(seed)
    weights = wf.to_arrays(wf.init_weights(sizes, rng, activation=activation))
    X = np.array([[rng.gauss(0, 1) for _ in range(sizes[0])] for _ in range(n)])
    c = np.array([rng.randrange(sizes[-1]) for _ in range(n)])
    return weights, X, c


@pytest.mark.parametrize("name", COURSES)
@pytest.mark.parametrize("sizes", [[4, 5, 3], [4, 6, 5, 3]])
def test_solution_through_its_adapter_is_stage3(name, sizes):
    course = courses.get(name)
    files = course.load(courses.solution_folder(name))
    rung = course.rung(files)
    checked = 0
    for act in wf.ACTIVATIONS:
        weights, X, c = problem(sizes, act)
        why = course.cannot(weights, files)
        if why:
            assert isinstance(why, str) and len(why) > 20
            continue
        loss, grads, dX = rung.loss_and_grads(weights, X, c)
        loss3, grads3, dX3 = stage3_batched.loss_and_grads(weights, X, c)
        assert_allclose(loss, loss3, rtol=1e-12)
        for mine, ref in zip(grads["layers"], grads3["layers"]):
            assert_allclose(np.asarray(mine["W"]), ref["W"], rtol=1e-10, atol=1e-14)
            assert_allclose(np.asarray(mine["b"]), ref["b"], rtol=1e-10, atol=1e-14)
        if dX is not None:
            assert_allclose(dX, dX3, rtol=1e-10, atol=1e-14)
        checked += 1
    assert checked or name == "vu"


@pytest.mark.parametrize("name", COURSES)
def test_every_planted_bug_changes_one_place(name):
    course = courses.get(name)
    assert len(course.BUGS) >= 2
    for bug in course.BUGS:
        text = (courses.solution_folder(name) / bug.file).read_text()
        assert text.count(bug.old) == 1, bug.name
        assert bug.old != bug.new


def test_unexpressible_problems_say_why():
    files = courses.get("cs3317").load(courses.solution_folder("cs3317"))
    weights, _, _ = problem([4, 5, 3], "tanh")
    assert "ReLU and Sigmoid only" in courses.get("cs3317").cannot(weights, files)
    vu = courses.get("vu")
    deep, _, _ = problem([4, 5, 5, 3], "sigmoid")
    assert "one hidden layer" in vu.cannot(deep, vu.load(courses.solution_folder("vu")))


def test_detect_finds_each_course_by_its_files():
    for name in COURSES:
        assert courses.detect(courses.solution_folder(name)) == name


def test_unknown_course_is_one_line():
    with pytest.raises(courses.ConfigError, match="no such course; choose one of"):
        courses.get("cs999")


# --------------------------------------------------------------------------- the rung check
import io  # noqa: E402
import shutil  # noqa: E402

from stage4_analysis import rungcheck  # noqa: E402

#: Planted bugs the rung check cannot see by design: compare's SGD steps use momentum 0 (the
#: grader checks the optimizer's momentum on its own).
OUT_OF_SCOPE = {("cs3317", "momentum ignored")}
#: What the rung check's diagnosis says where it is more specific than the bug's phrase.
NAMED = {("cs3317", "sigmoid derivative at the input"): "the sigmoid's derivative applied to h",
         ("ece421", "relu gradient at Z >= 0 ignored"): "the ReLU's mask inverted",
         ("cs231n", "relu passes every gradient"): "the activation's derivative left out",
         ("vu", "sigmoid derivative at k"): "the sigmoid's derivative taken at k",
         ("vu", "sign flip"): "a sign flip"}


def planted(tmp_path, name, bug=None):
    folder = tmp_path / name / (bug.name.replace(" ", "_") if bug else "solution")
    shutil.copytree(courses.solution_folder(name), folder)
    if bug is not None:
        path = folder / bug.file
        path.write_text(path.read_text().replace(bug.old, bug.new))
    return folder


def check(folder, name, **kw):
    out = io.StringIO()
    cases = rungcheck.course_cases(courses.get(name), kw.pop("activation", None),
                                   digits=kw.pop("digits", name != "vu"))  # VU: pure Python
    ok, results = rungcheck.check_rung(folder, cases, out=out, **kw)
    return ok, results, out.getvalue()


@pytest.mark.parametrize("name", COURSES)
def test_each_course_solution_agrees_and_each_bug_is_caught_and_named(tmp_path, name):
    ok, results, text = check(planted(tmp_path, name), name)     # found from the files
    assert ok, text
    assert "verdict: your rung agrees with the ladder" in text
    assert any(r.status == "agree" for r in results)
    for bug in courses.get(name).BUGS:
        if (name, bug.name) in OUT_OF_SCOPE:
            continue
        ok, _, text = check(planted(tmp_path, name, bug), name, course=name)
        assert not ok and "verdict: DISAGREE" in text, (bug.name, text)
        verdicts = "\n".join(line for line in text.splitlines()
                              if line.startswith("diagnosis") or line.endswith(": DISAGREE"))
        assert NAMED.get((name, bug.name), bug.names) in verdicts, (bug.name, text)


def test_problems_a_course_cannot_express_are_skipped_with_the_reason(tmp_path):
    ok, results, text = check(planted(tmp_path, "cs231n"), "cs231n", course="cs231n")
    assert ok
    skipped = [r for r in results if r.status == "skipped"]
    assert skipped and all("defines no sigmoid_forward" in r.note or "no tanh_forward" in r.note
                           or "no leaky_relu_forward" in r.note for r in skipped)


def test_a_fixed_architecture_rung_can_agree():
    ok, results, text = check(ROOT / "tests/rungs/relu_one_hidden.py", "ladder")
    assert ok, text
    assert {r.status for r in results} == {"agree", "skipped"}
    assert "declares MAX_HIDDEN = 1" in text and "declares ACTIVATIONS" in text


def test_byomlp_provided_code_that_is_wrong_is_named_not_blamed_on_the_student(tmp_path):
    folder = planted(tmp_path, "byomlp")
    mlp = folder / "mlp.py"                       # the starter's plain-ReLU "leaky" forward
    mlp.write_text(mlp.read_text().replace("return np.where(x > 0, x, alpha * x)",
                                           "return x * (x > 0)"))
    ok, results, text = check(folder, "byomlp", activation="leaky_relu")
    assert results[0].status == "agree"           # the sigmoid worked example
    assert all(r.status == "skipped" for r in results[1:])   # every leaky ReLU problem
    assert "the course's provided leaky_relu and leaky_relu_deriv in mlp.py disagree" in text
    assert "not your backward" in text
    ok, _, text = check(folder, "byomlp", activation="sigmoid")
    assert ok, text                               # the student's code is right


def test_a_folder_in_no_course_shape_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.py").write_text("x = 1\n")
    from shared.errors import run_main

    status = run_main(rungcheck.main, ["--rung", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "give --course NAME" in err


def test_the_command_line_reads_a_course_folder(tmp_path, capsys):
    from stage4_analysis import compare

    folder = planted(tmp_path, "ece421")
    assert compare.main(["--rung", str(folder), "--course", "ece421"]) == 0
    assert "ECE421" in capsys.readouterr().out
    bug = courses.get("ece421").BUGS[0]
    assert compare.main(["--rung", str(planted(tmp_path, "ece421", bug))]) == 1
    assert "a transposed dW" in capsys.readouterr().out


def test_handout_writes_the_solution_and_plants_a_named_bug(tmp_path, capsys):
    from stage4_analysis.courses import __main__ as kit

    assert run_main_quiet(kit.main, ["handout", "cs3317", "--solution", "--out",
                                     str(tmp_path / "sol")]) == 0
    assert not any("SOLUTION" in p.read_text() for p in (tmp_path / "sol").glob("*.py"))
    assert check(tmp_path / "sol", "cs3317")[0]
    assert run_main_quiet(kit.main, ["handout", "cs3317", "--solution", "--bug",
                                     "transposed grad_W", "--out", str(tmp_path / "bug")]) == 0
    ok, _, text = check(tmp_path / "bug", "cs3317")
    assert not ok and "diagnosis" in text and "a transposed dW" in text
    capsys.readouterr()
    assert run_main_quiet(kit.main, ["handout", "cs3317", "--bug", "x", "--out",
                                     str(tmp_path / "x")]) == 2
    assert "give --solution too" in capsys.readouterr().err
    assert run_main_quiet(kit.main, ["handout", "cs3317", "--solution", "--bug", "x", "--out",
                                     str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such planted bug; its bugs: transposed grad_W" in err
    assert not (tmp_path / "x").exists()


def run_main_quiet(main, argv):
    from shared.errors import run_main

    return run_main(main, argv)
