"""No function in the project is longer than MAX_LINES lines (``def`` to its last line, the
docstring included), so each can be read in one screen - except the ones still listed in
NOT_YET_SHORT, each held to its present length: the list can only shrink (an entry that is now
short enough, or gone, fails the test until it is removed from the list).

Run as a script to list the longest functions: ``python tests/test_function_length.py [N]``
prints every function over N lines (default MAX_LINES), longest first, and exits 1 if a
counted one is over MAX_LINES and not in NOT_YET_SHORT at no more than its listed length.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "stage1_scalar", "stage2_perinstance", "stage3_batched", "stage4_analysis")
MAX_LINES = 40
#: Kept out of this count: the rung comparison and the gradient checker, and the courses'
#: package, whose function lengths are held to the same limit by their own maintenance.
EXCLUDED = ()          # nothing is left out: the checking tools and the courses are short too
#: Functions over MAX_LINES not yet split, with their present length ("path name": lines).
NOT_YET_SHORT: dict[str, int] = {}


def function_lengths(root: Path = ROOT) -> list[tuple[int, str]]:
    """``[(lines, "path:line name")]`` for every function and method in the packages."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    out.append((n, f"{rel}:{node.lineno} {node.name}"))
    return sorted(out, reverse=True)


def counted(lengths):
    return [(n, where) for n, where in lengths if not where.startswith(EXCLUDED)]


def _key(where: str) -> str:
    """``"path:line name"`` -> ``"path name"`` (line numbers move with every edit)."""
    path, name = where.split(" ")
    return f"{path.split(':')[0]} {name}"


def test_no_function_is_longer_than_the_limit():
    long = [f"{where} ({n} lines)" for n, where in counted(function_lengths())
            if n > MAX_LINES and n > NOT_YET_SHORT.get(_key(where), 0)]
    assert long == []


def test_the_list_of_long_functions_only_shrinks():
    still_long = {_key(where) for n, where in counted(function_lengths()) if n > MAX_LINES}
    assert sorted(set(NOT_YET_SHORT) - still_long) == []    # short now (or gone): remove it


def test_the_measure_counts_a_long_function(tmp_path):
    pkg = tmp_path / "shared"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (pkg / "m.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert function_lengths(tmp_path)[:2] == [(MAX_LINES + 1, "shared/m.py:1 long"),
                                              (2, f"shared/m.py:{MAX_LINES + 4} short")]


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else MAX_LINES
    everything = function_lengths()
    for n, where in everything:
        if n > limit:
            mark = "" if (n, where) in counted(everything) else "   (not counted)"
            print(f"{n:4d}  {where}{mark}")
    sys.exit(1 if any(n > MAX_LINES and n > NOT_YET_SHORT.get(_key(where), 0)
                      for n, where in counted(everything)) else 0)
