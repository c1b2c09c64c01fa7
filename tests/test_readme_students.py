"""The README's "For students" commands run as written on a clean checkout: every gradcheck and
compare command of its table, with DIR the course's shipped reference solution, passes (exit 0).
"""

import re
import shlex
from pathlib import Path

import pytest

from shared.errors import run_main
from stage3_batched import gradcheck
from stage4_analysis import compare

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = "stage4_analysis/courses/solutions"


def student_commands() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## For students"):text.index("## For instructors")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "python -m" in line]
    commands = []
    for row in rows:
        course = re.search(r"--course (\w+)", row)
        folder = f"{SOLUTIONS}/{course[1]}" if course else None
        for cmd in re.findall(r"`(python -m [^`]+)`", row):
            if "DIR" in cmd and folder is None:
                folder = f"{SOLUTIONS}/{re.search(r'(cs3317|ece421|cs231n)', row)[1]}"
            argv = shlex.split(cmd.replace("DIR", folder or ""))
            commands.append((row.split("|")[1].strip(), argv))
    return commands


COMMANDS = student_commands()


def test_the_table_has_a_row_per_course():
    shown = {row for row, _ in COMMANDS}
    assert len(shown) >= 7 and len(COMMANDS) >= 10


@pytest.mark.parametrize("row,argv", COMMANDS, ids=[" ".join(a[2:4]) for _, a in COMMANDS])
def test_each_student_command_passes_on_the_reference_solution(row, argv, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    mains = {"stage3_batched.gradcheck": gradcheck.main, "stage4_analysis.compare": compare.main}
    assert argv[:2] == ["python", "-m"] and argv[2] in mains, argv
    status = run_main(mains[argv[2]], argv[3:])
    out = capsys.readouterr()
    assert status == 0, (row, argv, out.out[-2000:], out.err)
