"""Grade a submission folder (or a folder of them) against a course's rubric.

Each item of ``course.RUBRIC`` is checked by :mod:`.sandbox` in a child process of its own
(``course.GRADING`` says how) and scores all its points or none. The report is a table (item,
points, feedback) ending in ``score: X / Y``; :func:`gradescope` is Gradescope's
``results.json``; :func:`grade_all` grades every subfolder of a root into one CSV row each.

What it leaves out: partial credit within an item, and the report items of the hand-outs (plots,
written answers, code quality), which need a person.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError
from shared.records import atomic_write_text
from stage4_analysis.courses import sandbox


@dataclass
class ItemGrade:
    key: str
    title: str
    points: int
    score: int
    feedback: list


def gradable(course) -> bool:
    return bool(getattr(course, "RUBRIC", None)) and bool(getattr(course, "GRADING", None))


def check_folder(course, folder, what: str = "DIR") -> Path:
    """``folder`` as a Path when it is a directory holding at least one of the course's files;
    :class:`ConfigError` (one line) otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{what} {folder}: no such folder (give the folder holding the "
                          f"submission's {', '.join(course.FILES)})")
    if not any((folder / f).is_file() for f in course.FILES):
        raise ConfigError(f"{what} {folder}: none of {course.NAME}'s files is there (expected "
                          f"{', '.join(course.FILES)})")
    return folder


def grade(course, folder, time_limit: float = sandbox.TIME_LIMIT,
          memory_mb: int = sandbox.MEMORY_MB) -> list[ItemGrade]:
    """Every rubric item of ``course`` on the submission in ``folder`` (checked already)."""
    grades = []
    for key, title, points in course.RUBRIC:
        outcome = sandbox.run_item(course.NAME, key, folder, time_limit, memory_mb)
        grades.append(ItemGrade(key, title, points, points if outcome.passed else 0,
                                outcome.lines))
    return grades


def total(grades) -> tuple[int, int]:
    return sum(g.score for g in grades), sum(g.points for g in grades)


def format_table(grades) -> str:
    """The table: one row per item (its feedback under it), then ``score: X / Y``."""
    width = max(len(g.title) for g in grades)
    lines = [f"{'item':<{width}}  {'points':>7}  feedback"]
    for g in grades:
        first, *rest = g.feedback or [""]
        lines.append(f"{g.title:<{width}}  {f'{g.score} / {g.points}':>7}  {first}")
        lines += [f"{'':<{width}}  {'':>7}  {x}" for x in rest]
    score, out_of = total(grades)
    return "\n".join(lines + [f"score: {score} / {out_of}"])


def gradescope(grades) -> dict:
    """Gradescope's results.json: the score and one test per item."""
    score, _ = total(grades)
    return {"score": score,
            "tests": [{"name": g.title, "score": g.score, "max_score": g.points,
                       "output": "\n".join(g.feedback)} for g in grades]}


def writable(path, flag: str) -> Path:
    """``path`` when its folder exists (checked before any grading); :class:`ConfigError`."""
    path = Path(path)
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigError(f"{flag} {path}: " + ("a folder is there; give a file name"
                                                if path.is_dir() else
                                                f"no folder {path.parent}; create it first"))
    return path


def write_json(grades, path) -> None:
    atomic_write_text(path, json.dumps(gradescope(grades), indent=1) + "\n")


def submissions(root) -> list[Path]:
    """The subfolders of ``root`` (one submission each), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"ROOT {root}: no such folder (give the folder holding one subfolder "
                          "per submission)")
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise ConfigError(f"ROOT {root}: no subfolders there (one folder per submission)")
    return found


def grade_all(course, root, csv_path, time_limit: float = sandbox.TIME_LIMIT,
              memory_mb: int = sandbox.MEMORY_MB, progress: bool | None = None) -> list[dict]:
    """Grade every subfolder of ``root`` into ``csv_path``: one row per submission (its folder
    name, the points of each item, the total, and why a folder could not be graded)."""
    from tqdm import tqdm

    rows = []
    for folder in tqdm(submissions(root), desc=f"grading {course.NAME}", unit="submission",
                       disable=None if progress is None else not progress):
        row = {"submission": folder.name}
        try:
            grades = grade(course, check_folder(course, folder, "submission"), time_limit,
                           memory_mb)
        except ConfigError as e:
            grades, row["note"] = [], str(e)
        scores = {g.key: g.score for g in grades}
        row.update({key: scores.get(key, 0) for key, _, _ in course.RUBRIC})
        row["total"] = sum(scores.values())
        rows.append(row)
    fields = ["submission", *(key for key, _, _ in course.RUBRIC), "total", "note"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, text.getvalue())
    return rows
