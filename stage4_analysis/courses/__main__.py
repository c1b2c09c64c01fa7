"""The instructor's kit: ``python -m stage4_analysis.courses list | handout | grade``.

    python -m stage4_analysis.courses list
    python -m stage4_analysis.courses handout cs3317 --out starter/
    python -m stage4_analysis.courses grade cs3317 submission/ --json results.json
    python -m stage4_analysis.courses grade cs3317 submissions/ --all --csv scores.csv

``list`` shows the courses, their files and rubrics; ``handout`` writes the student starter made
from the reference solution; ``grade`` checks a submission item by item against the ladder (each
item in a child process with a time and a memory limit) and prints a table ending in
``score: X / Y``; ``--all`` grades every subfolder of a folder into a CSV. Exit status 0 when
grading ran (whatever the score), 2 for bad input (one ``error:`` line).

What it leaves out: the hand-outs' report items (plots, written answers), graded by a person.
"""

from __future__ import annotations

import argparse
import sys

from shared.cli import positive_float, positive_int
from shared.errors import ConfigError, run_main
from stage4_analysis import courses
from stage4_analysis.courses import grade as grading
from stage4_analysis.courses import handout, sandbox

COURSES = tuple(n for n in courses.ORDER if n != "ladder")


def course_named(name: str, need_grading: bool = False):
    if name not in COURSES:
        raise ConfigError(f"COURSE {name}: no such course; choose one of {', '.join(COURSES)}")
    course = courses.get(name)
    if need_grading and not grading.gradable(course):
        have = [n for n in COURSES if grading.gradable(courses.get(n))]
        raise ConfigError(f"COURSE {name}: no grader for this course yet (graded: "
                          f"{', '.join(have)}); its starter: handout {name} --out DIR")
    return course


def do_list(args) -> int:
    for name in COURSES:
        course = courses.get(name)
        print(f"{name}: {course.TITLE}\n  files: {', '.join(course.FILES)}")
        if grading.gradable(course):
            rubric = course.RUBRIC
            print(f"  rubric ({sum(p for _, _, p in rubric)} points):")
            print("\n".join(f"    {title:<48} {points:>3}" for _, title, points in rubric))
        else:
            print("  rubric: none yet (handout only)")
        if course.BUGS:
            print(f"  planted bugs (handout {name} --solution --bug NAME): "
                  + "; ".join(b.name for b in course.BUGS))
    return 0


def do_handout(args) -> int:
    course = course_named(args.course)
    if args.bug and not args.solution:
        raise ConfigError("--bug plants a bug in the reference solution: give --solution too")
    bug = handout.planted(course, args.bug)
    written = handout.write(course, args.out, force=args.force, solution=args.solution, bug=bug)
    what = "starter" if not args.solution else (
        "reference solution" + (f" with the bug {bug.name!r}" if bug else ""))
    print(f"wrote the {course.NAME} {what} to {args.out}: "
          + ", ".join(p.name for p in written))
    return 0


def do_grade(args) -> int:
    course = course_named(args.course, need_grading=True)
    if args.all:
        if not args.csv:
            raise ConfigError("--all needs --csv FILE (where the scores go)")
        grading.writable(args.csv, "--csv")
        rows = grading.grade_all(course, args.dir, args.csv, args.time_limit, args.memory_mb)
        out_of = sum(p for _, _, p in course.RUBRIC)
        print(f"graded {len(rows)} submissions into {args.csv} (out of {out_of} points)")
        return 0
    if args.csv:
        raise ConfigError("--csv applies with --all (a folder of submissions)")
    folder = grading.check_folder(course, args.dir)
    if args.json:
        grading.writable(args.json, "--json")
    grades = grading.grade(course, folder, args.time_limit, args.memory_mb)
    if args.json:
        grading.write_json(grades, args.json)
    print(grading.format_table(grades))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stage4_analysis.courses",
                                description="Starters and an autograder for each course, made "
                                            "from the ladder.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the courses, their files and their rubric")
    h = sub.add_parser("handout", help="write the student starter of a course")
    h.add_argument("course", metavar="COURSE", help=", ".join(COURSES))
    h.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    h.add_argument("--force", action="store_true",
                   help="write into a folder that is not empty (overwrites the starter's files)")
    h.add_argument("--solution", action="store_true",
                   help="write the reference solution instead (to try the checks and the grader)")
    h.add_argument("--bug", metavar="NAME",
                   help="with --solution: plant one of the course's bugs (see list), e.g. "
                        "--bug 'transposed grad_W'")
    g = sub.add_parser("grade", help="grade a submission folder (or, with --all, a folder of "
                                     "them) item by item")
    g.add_argument("course", metavar="COURSE", help=", ".join(COURSES))
    g.add_argument("dir", metavar="DIR", help="the submission's folder (with --all: a folder "
                                              "holding one subfolder per submission)")
    g.add_argument("--json", metavar="FILE", help="also write Gradescope's results.json here")
    g.add_argument("--all", action="store_true", help="grade every subfolder of DIR")
    g.add_argument("--csv", metavar="FILE", help="with --all: the scores, one row per submission")
    g.add_argument("--time-limit", type=positive_float, default=sandbox.TIME_LIMIT,
                   metavar="S", help=f"seconds per item (default {sandbox.TIME_LIMIT:g})")
    g.add_argument("--memory-mb", type=positive_int, default=sandbox.MEMORY_MB, metavar="MB",
                   help=f"memory per item, MB (default {sandbox.MEMORY_MB})")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return {"list": do_list, "handout": do_handout, "grade": do_grade}[args.command](args)


if __name__ == "__main__":
    sys.exit(run_main(main))
