"""gradcheck in every course's shape: every layer, activation, function pair and loss of every
course's reference solution passes, and every planted bug in one of them fails with the hint that
names it - the course modules' bugs and the extra ones below, each written into a copy of the
course's folder. ``python tests/test_gradcheck_courses.py`` prints the table of them.

The planted bugs elsewhere (an optimizer's momentum, BYOMLP's MLP, VU's scalar network) are in
code gradcheck does not check: ``compare --rung`` checks those (tests/test_compare_rung.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stage3_batched import gradcheck as gc
from stage4_analysis import courses
from stage4_analysis.courses import Bug

#: course bug name -> (the name gradcheck checks, a phrase its hint must contain)
EXPECTED = {
    ("cs3317", "transposed grad_W"): ("layers.py:Linear", "transposed"),
    ("cs3317", "bias gradient averaged"): ("layers.py:Linear", "bias averaged instead of summed"),
    ("cs3317", "gradients overwritten"): ("layers.py:Linear", "overwritten instead of accumulated"),
    ("cs3317", "sigmoid derivative at the input"): ("layers.py:Sigmoid",
                                                    "derivative taken at the output"),
    ("cs3317", "missing 1/N"): ("losses.py:CrossEntropyLoss", "1/N missing"),
    ("ece421", "transposed dW"): ("layers.py:FullyConnectedLayer", "transposed"),
    ("ece421", "bias gradient averaged"): ("layers.py:FullyConnectedLayer",
                                           "bias averaged instead of summed"),
    ("ece421", "softmax Jacobian diagonal only"): ("activations.py:Activation",
                                                   "only the diagonal of the Jacobian"),
    ("ece421", "relu gradient at Z >= 0 ignored"): ("activations.py:Activation",
                                                    "mask is inverted"),
    ("ece421", "missing 1/m"): ("loss.py:CrossEntropyLoss", "1/N missing"),
    ("cs231n", "transposed dw"): ("layers.py:affine", "transposed"),
    ("cs231n", "missing 1/N"): ("layers.py:softmax_loss", "1/N missing"),
    ("cs231n", "relu passes every gradient"): ("layers.py:relu", "passed through unchanged"),
}

#: bugs of gradcheck's own, where a course has fewer than a few in layers and losses
#: (course, Bug, the name checked, the hint's phrase)
EXTRA = [
    ("cs3317", Bug("relu mask inverted", "layers.py", "return grad_output * (self.X > 0)",
                   "return grad_output * (self.X <= 0)", ("relu",), "inverted"),
     "layers.py:ReLU", "mask is inverted"),
    ("cs3317", Bug("loss gradient sign flipped", "losses.py", "return grad / N",
                   "return -grad / N", ("loss",), "opposite sign"),
     "losses.py:CrossEntropyLoss", "opposite sign"),
    ("ece421", Bug("loss summed, not averaged", "loss.py",
                   "return float(-np.sum(Y * np.log(Y_hat)) / m)",
                   "return float(-np.sum(Y * np.log(Y_hat)))", ("loss",), "1/N"),
     "loss.py:CrossEntropyLoss", "1/N missing"),
    ("ece421", Bug("sigmoid forgets dY", "activations.py", "return dY * s * (1.0 - s)",
                   "return s * (1.0 - s)", ("fully_connected",), "upstream"),
     "activations.py:Activation", "upstream gradient dY is not multiplied in"),
    ("cs231n", Bug("bias averaged", "layers.py", "db = dout.sum(axis=0)",
                   "db = dout.mean(axis=0)", ("affine",), "averaged"),
     "layers.py:affine", "bias averaged instead of summed"),
    ("cs231n", Bug("dx sign flipped", "layers.py", "dx = (dout @ w.T).reshape(x.shape)",
                   "dx = -(dout @ w.T).reshape(x.shape)", ("affine",), "opposite sign"),
     "layers.py:affine", "opposite sign"),
    ("cs231n", Bug("loss summed, not averaged", "layers.py",
                   "loss = -log_probs[np.arange(N), y].mean()",
                   "loss = -log_probs[np.arange(N), y].sum()", ("softmax_loss",), "1/N"),
     "layers.py:softmax_loss", "1/N missing"),
    ("byomlp", Bug("leaky_relu forward is a plain ReLU", "mlp.py",
                   "return np.where(x > 0, x, alpha * x)", "return np.where(x > 0, x, 0.0)",
                   (), "slope"),
     "mlp.py:leaky_relu", "slope of forward is 0"),
    ("byomlp", Bug("logistic derivative of the input", "mlp.py",
                   "    s = logistic(x)\n    return s * (1.0 - s)",
                   "    return x * (1.0 - x)", (), "slope"),
     "mlp.py:logistic", "the slope of forward is"),
]

#: course bugs gradcheck does not see, and why
ELSEWHERE = {
    ("cs3317", "momentum ignored"): "optimizer.py: an update rule, compare --rung checks it",
}


def gradcheck_bugs():
    """``[(course, bug, checked name, phrase)]``: the course modules' bugs in layers, activations
    and losses, then the extra ones."""
    out = []
    for name in courses.ORDER:
        for bug in courses.get(name).BUGS:
            if (name, bug.name) in EXPECTED:
                out.append((name, bug, *EXPECTED[name, bug.name]))
    return out + EXTRA


def planted(tmp: Path, course: str, bug: Bug) -> Path:
    """A copy of the course's solution folder in ``tmp`` with ``bug`` written into its file."""
    folder = tmp / course
    shutil.copytree(courses.solution_folder(course), folder)
    path = folder / bug.file
    text = path.read_text()
    assert text.count(bug.old) == 1, bug.name
    path.write_text(text.replace(bug.old, bug.new))
    return folder


def verdict(folder: Path, name: str):
    """``(passed, hints)``: gradcheck's verdict over every check of ``folder/name``."""
    results = gc.check_target(f"{folder / name}")
    said = dict.fromkeys(r.text() for r in results if not r.ok)   # once each, in order
    return all(r.ok for r in results), " | ".join(said)


def checks(course: str) -> list[str]:
    return list(courses.get(course).GRADCHECK["checks"])


@pytest.mark.parametrize("course", [c for c in courses.ORDER
                                    if "checks" in getattr(courses.get(c), "GRADCHECK", {})])
def test_every_check_of_every_reference_solution_passes(course):
    folder = courses.solution_folder(course)
    for name in checks(course):
        spec = name if course == "ladder" else f"{folder / name}"
        results = gc.check_target(spec)
        assert results and all(r.ok for r in results), gc.format_checks(results)
        for r in results:                              # a real check: something was compared
            assert r.errors and max(r.errors.values()) < 1e-8, gc.format_check(r)


def test_the_bug_tables_cover_every_layer_and_loss_bug():
    """Every course bug is either checked here or named as another tool's."""
    for name in courses.ORDER:
        for bug in courses.get(name).BUGS:
            if name in ("byomlp", "vu"):
                continue                               # the whole network: compare --rung
            assert (name, bug.name) in EXPECTED or (name, bug.name) in ELSEWHERE, bug.name
    per_course = {}
    for course, *_ in gradcheck_bugs():
        per_course[course] = per_course.get(course, 0) + 1
    assert all(per_course[c] >= 2 for c in ("cs3317", "ece421", "cs231n", "byomlp"))


@pytest.mark.parametrize("course, bug, name, phrase", gradcheck_bugs(),
                         ids=lambda v: getattr(v, "name", None) or str(v))
def test_every_planted_bug_fails_with_the_hint_that_names_it(tmp_path, course, bug, name,
                                                              phrase):
    folder = planted(tmp_path, course, bug)
    passed, hints = verdict(folder, name)
    assert not passed, f"{course} {bug.name}: gradcheck passed a wrong gradient"
    assert phrase in hints, f"{course} {bug.name}: {hints}"
    assert bug.names.lower() in hints.lower(), f"{bug.names!r} not in {hints}"


def table() -> str:
    """The markdown table of every planted bug: course, name, bug, verdict, hint."""
    import tempfile

    rows = ["| course | checked | bug | verdict | hint |", "|---|---|---|---|---|"]
    for course, bug, name, _ in gradcheck_bugs():
        with tempfile.TemporaryDirectory() as tmp:
            passed, hints = verdict(planted(Path(tmp), course, bug), name)
        rows.append(f"| {course} | {name} | {bug.name} | {'pass' if passed else 'FAIL'} | "
                    f"{hints.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
