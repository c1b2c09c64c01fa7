"""Write a course's student starter from its reference solution (the single source).

Every ``# BEGIN SOLUTION: <todo>`` ... ``# END SOLUTION`` block of ``solutions/<course>/`` becomes
``raise NotImplementedError("TODO: <todo>")`` at the block's indentation, so each function keeps
its signature and its docstring with the maths. Files without markers (a trainer, data loading)
are the provided parts and are copied as they are. A README.md tells the student what to
implement and how to check it.

``--solution`` writes the reference solution itself (the markers taken out), and ``--bug NAME``
plants one of the course's planted bugs in it: to try the checks and the grader on a known
answer. What it leaves out: notebooks and the hand-out's text; the starter is code only.
"""

from __future__ import annotations

import ast
import contextlib
import re
from pathlib import Path

from shared.errors import ConfigError
from shared.records import atomic_write_text, no_empty_folders_left
from stage4_analysis.courses import solution_folder

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION: (?P<todo>.+?)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


def starter_text(text: str, where: str = "file") -> str:
    """``text`` with every solution block replaced by ``raise NotImplementedError("TODO: ...")``;
    ``ValueError`` for a block left open, an END without BEGIN or a nested BEGIN."""
    out, todo = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin and todo is None:
            todo = begin["todo"]
            out.append(f'{begin["indent"]}raise NotImplementedError({("TODO: " + todo)!r})\n')
        elif begin or (end and todo is None):
            raise ValueError(f"{where} line {number}: unbalanced solution markers")
        elif end:
            todo = None
        elif todo is None:
            out.append(line)
    if todo is not None:
        raise ValueError(f"{where}: a solution block is never closed (# END SOLUTION)")
    return "".join(out)


def todos(text: str) -> list[tuple[str, str]]:
    """``[("Linear.forward", "cache X, return X @ W + b"), ...]``: the function (qualified by its
    class) around each solution block, in file order."""
    lines = text.splitlines()
    found = []

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for i in range(child.lineno - 1, child.end_lineno):
                    m = BEGIN.match(lines[i])
                    if m:
                        found.append((prefix + child.name, m["todo"]))

    visit(ast.parse(text))
    return found


def sources(course) -> list[Path]:
    """The solution folder's Python files: the course's files first, in their order."""
    folder = solution_folder(course.NAME)
    files = sorted(folder.glob("*.py"))
    order = {name: i for i, name in enumerate(course.FILES)}
    return sorted(files, key=lambda p: (order.get(p.name, len(order)), p.name))


def _first_line(text: str) -> str:
    doc = ast.get_docstring(ast.parse(text)) or ""
    return doc.split(". ")[0].split("\n\n")[0].replace("\n", " ").rstrip(".")


def check_commands(course) -> list[str]:
    """The commands a student runs to check their files against the ladder."""
    lines = [f"python -m stage3_batched.gradcheck {spec}"
             for spec in getattr(course, "GRADCHECK", {}).get("checks", ())]
    lines.append(f"python -m stage4_analysis.compare --rung . --course {course.NAME}")
    if getattr(course, "GRADING", None):
        lines.append(f"python -m stage4_analysis.courses grade {course.NAME} .")
    return lines


def readme(course, texts: dict[str, str]) -> str:
    """The student's README.md: what to implement (file, function, TODO), what is provided, how
    to check it."""
    lines = [f"# {course.TITLE}: starter code", "", course.SHAPE + ".", "",
             "## What to implement", "",
             "Each function below raises `NotImplementedError(\"TODO: ...\")`: replace the "
             "`raise` with your code. Keep the names and signatures (they are what gets "
             "graded); the docstrings give the shapes and the maths.", ""]
    provided = []
    for name, text in texts.items():
        found = todos(text)
        lines += [f"- `{name}`: `{func}` - {todo}" for func, todo in found]
        if not found:
            provided.append(f"- `{name}` - {_first_line(text)}")
    lines += ["", "## Provided (works as given)", "", *provided, "",
              "The provided data loading uses mlp-ladder's `shared.data.load_dataset`, so "
              "mlp-ladder must be installed (`pip install -e PATH_TO_MLP_LADDER`); the checks "
              "below need it too.", "", "## Check your work", "",
              "From this folder, each command compares your code with the ladder (central "
              "differences and an independent implementation) and says what disagrees:", "",
              "```bash", *check_commands(course), "```", ""]
    return "\n".join(line for line in lines if line is not None)


def solution_text(text: str) -> str:
    """``text`` with the solution markers taken out and the bodies kept: the reference
    solution as a student's finished file."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not (BEGIN.match(line) or END.match(line)))


def planted(course, bug_name: str | None):
    """The course's :class:`~stage4_analysis.courses.Bug` called ``bug_name`` (None: none);
    :class:`ConfigError` listing the course's bugs otherwise."""
    if bug_name is None:
        return None
    for bug in course.BUGS:
        if bug.name == bug_name:
            return bug
    names = "; ".join(b.name for b in course.BUGS) or "none"
    raise ConfigError(f"--bug {bug_name!r}: {course.NAME} has no such planted bug; its bugs: "
                      f"{names}")


def render(course, solution: bool = False, bug=None) -> dict[str, str]:
    """File name -> text of the starter (the stripped solution files and the README); with
    ``solution``, of the reference solution instead, ``bug`` (a Bug) planted in it."""
    originals = {p.name: p.read_text() for p in sources(course)}
    if bug is not None:
        originals[bug.file] = originals[bug.file].replace(bug.old, bug.new, 1)
    make = solution_text if solution else starter_text
    texts = {name: make(text) if solution else make(text, name)
             for name, text in originals.items()}
    return {**texts, "README.md": readme(course, originals)}


def write(course, out, force: bool = False, solution: bool = False, bug=None) -> list[Path]:
    """Write the starter of ``course`` into the folder ``out``; the paths written. An existing
    folder that is not empty is refused unless ``force`` (then the starter's files of the same
    names are overwritten and nothing else is touched)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is there; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"--out {out}: the folder exists and is not empty; choose a new one "
                          "or pass --force (it overwrites the starter's files there only)")
    files, existed = render(course, solution, bug), out.exists()
    written = []
    try:
        with no_empty_folders_left(out):
            out.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                written.append(atomic_write_text(out / name, text))
    except OSError as e:
        if not force:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            if not existed:
                with contextlib.suppress(OSError):
                    out.rmdir()
        raise ConfigError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return written
