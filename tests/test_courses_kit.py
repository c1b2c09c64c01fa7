"""The instructor's kit (python -m stage4_analysis.courses): the starter is the reference solution
with its solution blocks replaced, and the grader can fail - the untouched starter scores 0 on
every item, the reference solution full marks, each planted bug loses exactly the points of the
items it breaks, and a submission's infinite loop, crash, memory hog, import error or import of
the ladder costs only the items that run that code."""

import ast
import csv
import functools
import json
import shutil

import pytest

from stage4_analysis import courses
from stage4_analysis.courses import __main__ as cli
from stage4_analysis.courses import grade, handout

GRADED = ("cs3317", "ece421", "byomlp", "vu")
BUGS = [(name, bug.name) for name in GRADED for bug in courses.get(name).BUGS]


@functools.cache
def starter(name, tmp):
    out = tmp / f"starter-{name}"
    handout.write(courses.get(name), out)
    return out


def submission(tmp, name, label, edit=None):
    """The starter with the reference solution's files written into it, then ``edit`` applied
    (``{file: (old, new)}``)."""
    folder = tmp / f"{name}-{label}"
    shutil.copytree(starter(name, tmp), folder)
    for path in courses.solution_folder(name).glob("*.py"):
        shutil.copy(path, folder / path.name)
    for file, (old, new) in (edit or {}).items():
        text = (folder / file).read_text()
        assert text.count(old) == 1, (file, old)
        (folder / file).write_text(text.replace(old, new))
    return folder


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("kit")


@pytest.fixture(scope="module")
def graded(tmp):
    """Grades shared by the tests: ``graded(name, label)`` -> {item: (score, feedback)}."""

    @functools.cache
    def run(name, label):
        course = courses.get(name)
        if label == "starter":
            folder = starter(name, tmp)
        elif label == "reference":
            folder = submission(tmp, name, label)
        else:
            bug = next(b for b in course.BUGS if b.name == label)
            folder = submission(tmp, name, label.replace(" ", "_"),
                                {bug.file: (bug.old, bug.new)})
        return {g.key: (g.score, " ".join(g.feedback)) for g in grade.grade(course, folder)}

    return run


def points(name):
    return {key: p for key, _, p in courses.get(name).RUBRIC}


@pytest.mark.parametrize("name", GRADED)
def test_untouched_starter_scores_zero_on_every_item(graded, name):
    result = graded(name, "starter")
    assert set(result) == set(points(name))
    assert {k: s for k, (s, _) in result.items()} == {k: 0 for k in points(name)}
    assert all("NotImplementedError" in f for _, f in result.values())


@pytest.mark.parametrize("name", GRADED)
def test_reference_solution_scores_full_marks(graded, name):
    result = graded(name, "reference")
    assert {k: s for k, (s, _) in result.items()} == points(name), result


@pytest.mark.parametrize("name", GRADED)
def test_every_graded_course_plants_at_least_three_bugs(name):
    course = courses.get(name)
    assert len(course.BUGS) >= 3
    assert all(set(b.items) <= set(points(name)) for b in course.BUGS)


@pytest.mark.parametrize("name,bug", BUGS)
def test_a_planted_bug_loses_exactly_the_points_of_its_items_and_is_named(graded, name, bug):
    planted = next(b for b in courses.get(name).BUGS if b.name == bug)
    result = graded(name, bug)
    want = {k: (0 if k in planted.items else p) for k, p in points(name).items()}
    assert {k: s for k, (s, _) in result.items()} == want, result
    feedback = " ".join(result[k][1] for k in planted.items).lower()
    assert planted.names.lower() in feedback, (planted.names, feedback)   # the cause is named


HOSTILE = {
    "infinite loop": ("layers.py", "return self.out\n", "while True:\n            pass\n",
                      {"sigmoid"}, "time limit"),
    "memory hog": ("layers.py", "return grad_output * self.out * (1.0 - self.out)",
                   "hog = []\n        while True:\n            hog.append(bytearray(10**7))",
                   {"sigmoid"}, "MemoryError"),
    "crash": ("layers.py", "return grad_output * self.out * (1.0 - self.out)",
              "import os\n        os._exit(3)", {"sigmoid"}, "died"),
    "import error": ("optimizer.py", "import numpy as np\n", "import numpy as np\nimport nope\n",
                     {"sgd", "convergence"}, "ModuleNotFoundError"),
    "imports the ladder": ("model.py", "from layers import Linear, ReLU, Sigmoid\n",
                           "from layers import Linear, ReLU, Sigmoid\nimport stage3_batched\n",
                           {"mlp", "convergence"}, "may not import stage3_batched"),
    "imports the ladder when run": (
        "optimizer.py", "    def step(self):\n",
        "    def step(self):\n        from stage3_batched.optim import SGD  # noqa\n",
        {"sgd", "convergence"}, "may not import stage3_batched"),
    "imports the ladder by importlib": (
        "model.py", "from layers import Linear, ReLU, Sigmoid\n",
        "from layers import Linear, ReLU, Sigmoid\nimport importlib\n"
        "importlib.import_module('stage3_batched.model')\n",
        {"mlp", "convergence"}, "may not import stage3_batched"),
    "imports the reference": ("model.py", "from layers import Linear, ReLU, Sigmoid\n",
                              "from layers import Linear, ReLU, Sigmoid\n"
                              "import stage4_analysis.courses.solutions\n",
                              {"mlp", "convergence"}, "may not import stage4_analysis"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_submission_costs_only_the_items_running_it(tmp, case):
    file, old, new, lost, says = HOSTILE[case]
    folder = submission(tmp, "cs3317", case.replace(" ", "_"), {file: (old, new)})
    result = {g.key: g for g in grade.grade(courses.get("cs3317"), folder, time_limit=4.0,
                                                memory_mb=300)}
    assert {k for k, g in result.items() if g.score == 0} == lost
    assert all(says in " ".join(result[k].feedback) for k in lost if k != "convergence")


def test_starter_keeps_every_signature_and_docstring_and_the_provided_files(tmp):
    name = "cs3317"
    folder = starter(name, tmp)
    for path in courses.solution_folder(name).glob("*.py"):
        text, mine = path.read_text(), (folder / path.name).read_text()
        assert "SOLUTION" not in mine
        if not handout.todos(text):
            assert mine == text                   # provided: as it is
            continue
        ref = {n.name: n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
        got = {n.name: n for n in ast.walk(ast.parse(mine)) if isinstance(n, ast.FunctionDef)}
        assert ref.keys() == got.keys()
        for fn, node in ref.items():
            assert ast.dump(node.args) == ast.dump(got[fn].args)
            assert ast.get_docstring(node) == ast.get_docstring(got[fn])
        assert mine.count("raise NotImplementedError(") == len(handout.todos(text))
    readme = (folder / "README.md").read_text()
    assert "Linear.backward" in readme and "trainer.py" in readme
    assert "shared.data.load_dataset" in readme


def test_strip_refuses_unbalanced_markers():
    with pytest.raises(ValueError, match="never closed"):
        handout.starter_text("def f():\n    # BEGIN SOLUTION: x\n    return 1\n")
    with pytest.raises(ValueError, match="unbalanced"):
        handout.starter_text("def f():\n    return 1\n    # END SOLUTION\n")
    assert handout.starter_text("def f():\n    # BEGIN SOLUTION: add\n    return 1\n"
                         "    # END SOLUTION\n") == ("def f():\n    raise NotImplementedError("
                                                    "'TODO: add')\n")


@pytest.mark.parametrize("name", [n for n in courses.ORDER if n != "ladder"])
def test_every_course_has_a_starter_that_imports(tmp, name):
    folder = tmp / f"any-{name}"
    handout.write(courses.get(name), folder)
    courses.get(name).load(folder)                # the starter's files import each other


def test_handout_refuses_a_folder_in_use_and_keeps_what_is_there(tmp, capsys):
    folder = tmp / "in-use"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert cli.run_main(cli.main, ["handout", "cs3317", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and err.count("\n") == 1
    assert cli.run_main(cli.main, ["handout", "cs3317", "--out", str(folder), "--force"]) == 0
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "layers.py").is_file()
    blocker = tmp / "a-file"
    blocker.write_text("")
    assert cli.run_main(cli.main, ["handout", "cs3317", "--out", str(blocker / "x")]) == 2
    assert capsys.readouterr().err.startswith("error: --out")


@pytest.mark.parametrize("argv,says", [
    (["grade", "cs999", "."], "error: COURSE cs999: no such course"),
    (["grade", "cs3317", "/no/such/folder"], "error: DIR /no/such/folder: no such folder"),
    (["grade", "cs231n", "."], "error: COURSE cs231n: no grader"),
    (["handout", "nope", "--out", "x"], "error: COURSE nope"),
    (["grade", "cs3317", ".", "--all"], "error: --all needs --csv"),
    (["grade", "cs3317", str(courses.solution_folder("cs3317")), "--json", "/no/such/r.json"],
     "error: --json /no/such/r.json: no folder"),
])
def test_bad_input_is_one_error_line(capsys, argv, says):
    assert cli.run_main(cli.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1


def test_grade_prints_the_table_and_writes_gradescope_json(tmp, capsys):
    folder = submission(tmp, "ece421", "cli")
    out = tmp / "results.json"
    assert cli.run_main(cli.main, ["grade", "ece421", str(folder), "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "score: 80 / 80" and lines[0].startswith("item")
    results = json.loads(out.read_text())
    assert results["score"] == 80
    assert [t["max_score"] for t in results["tests"]] == [p for *_, p in
                                                          courses.get("ece421").RUBRIC]
    assert all(set(t) == {"name", "score", "max_score", "output"} for t in results["tests"])


def test_grade_all_writes_one_csv_row_per_submission(tmp, capsys):
    root = tmp / "class"
    root.mkdir()
    shutil.copytree(starter("ece421", tmp), root / "alice")
    shutil.copytree(submission(tmp, "ece421", "bob"), root / "bob")
    (root / "carol").mkdir()                      # handed in nothing
    scores = tmp / "scores.csv"
    assert cli.run_main(cli.main, ["grade", "ece421", str(root), "--all", "--csv",
                                   str(scores)]) == 0
    rows = list(csv.DictReader(scores.open()))
    assert [r["submission"] for r in rows] == ["alice", "bob", "carol"]
    assert [int(r["total"]) for r in rows] == [0, 80, 0]
    assert int(rows[1]["fully_connected"]) == 20 and "none of ece421's files" in rows[2]["note"]


def test_list_shows_files_and_rubric(capsys):
    assert cli.run_main(cli.main, ["list"]) == 0
    out = capsys.readouterr().out
    assert "layers.py, losses.py, model.py, optimizer.py" in out
    assert "rubric (75 points)" in out and "rubric (80 points)" in out


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in courses.ORDER if n != "ladder"])
def test_every_check_command_of_the_student_readme_passes_on_the_reference(tmp, name,
                                                                           monkeypatch, capsys):
    import importlib

    folder = submission(tmp, name, "readme")
    text = (folder / "README.md").read_text()
    commands = text.split("```bash\n")[1].split("```")[0].splitlines()
    assert commands and all(c.startswith("python -m ") for c in commands)
    monkeypatch.chdir(folder)
    for command in commands:
        module, *argv = command.split()[2:]
        main = importlib.import_module(module if module != "stage4_analysis.courses"
                                       else "stage4_analysis.courses.__main__").main
        assert cli.run_main(main, argv) == 0, (command, capsys.readouterr())
