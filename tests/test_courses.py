"""The course shapes: each course's reference solution, run through its adapter, is the ladder's
network (loss and every gradient equal to stage 3's), problems a course cannot express are
refused with a reason, and every planted bug is a real one-place change of the solution."""

import random

import numpy as np
import pytest
from numpy.testing import assert_allclose

import stage3_batched
from shared import weights as wf
from stage4_analysis import courses

COURSES = [n for n in courses.ORDER if n != "ladder"]


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
