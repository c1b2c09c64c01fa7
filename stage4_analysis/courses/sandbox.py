"""Run one rubric item's check on a submission in a child process, with a time limit, a memory
limit and an import blocker, so that whatever the submission does costs that item only.

The grader prepares what the check needs (data, the rung problems) in the parent, then forks a
child per item. The child imports the reference solution's files the item substitutes for the
student's (``Item.reference``, registered under their plain names so that ``from layers import
Linear`` in the student's ``model.py`` finds the reference) and the reference of the item's own
files (to compare against), then limits its address space (``RLIMIT_AS``: what it uses already
plus ``memory_mb``), installs the blocker (the submission may not import the ladder's packages
or the reference solutions) and only then imports the student's files and runs the check. Its
stdout and stderr go to /dev/null; the result comes back through a pipe. The parent waits
``time_limit`` seconds and kills the child after that: an infinite loop, a crash, a
``MemoryError`` or an import error is that item's feedback, never the grader's.

What it leaves out: a real sandbox. The submission runs as the grader's user and can read files;
run untrusted code in a container. It needs ``fork`` (Linux, macOS).
"""

from __future__ import annotations

import builtins
import importlib.abc
import multiprocessing
import os
import resource
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConfigError, one_line
from stage4_analysis import courses
from stage4_analysis.courses import items as item_checks

#: the ladder's packages and the reference solutions: a submission may import none of them
BLOCKED = ("stage1_scalar", "stage2_perinstance", "stage3_batched", "stage4_analysis", "shared")
TIME_LIMIT = 20.0
MEMORY_MB = 1024
MAX_LINES = 12
_PREPARED: dict = {}


@dataclass
class Outcome:
    passed: bool
    lines: list = field(default_factory=list)


def _blocked(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


def _from_submission(folder: str) -> bool:
    """Whether code of the submission (a file under ``folder``) is on the call stack."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(folder):
            return True
        frame = frame.f_back
    return False


class ImportBlocker(importlib.abc.MetaPathFinder):
    """Refuses the ladder's packages to the submission: as a meta-path finder (modules not yet
    imported) and around ``__import__`` and ``importlib.import_module`` (those imported
    already, which the finder never sees)."""

    def __init__(self, folder: Path):
        self.folder = str(folder.resolve()) + os.sep
        self.original = builtins.__import__
        self.original_import_module = importlib.import_module

    def refuse(self, name: str):
        raise ImportError(f"a submission may not import {name} (the grader's own code)")

    def find_spec(self, name, path=None, target=None):
        if _blocked(name) and _from_submission(self.folder):
            self.refuse(name)
        return None

    def guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and _blocked(name) and _from_submission(self.folder):
            self.refuse(name)
        return self.original(name, globals, locals, fromlist, level)

    def guarded_import_module(self, name, package=None):
        if _blocked(name) and _from_submission(self.folder):
            self.refuse(name)
        return self.original_import_module(name, package)

    def install(self):
        sys.meta_path.insert(0, self)
        builtins.__import__ = self.guarded_import
        importlib.import_module = self.guarded_import_module


def prepare(course, key: str) -> dict:
    """What item ``key`` needs from the ladder, made before any submission code runs (and
    shared by every child): the rung problems the course can express, the training data."""
    item = course.GRADING[key]
    cache_key = (course.NAME, key)
    if cache_key not in _PREPARED:
        prep = {}
        if item.kind in ("network", "forward"):
            ref = course.load(courses.solution_folder(course.NAME))
            prep["cases"] = [case for case in item_checks.checks.rung_problems(course)
                             if course.cannot(case.weights, ref) is None]
        if item.kind == "train":
            prep["data"] = course.training_data()
        _PREPARED[cache_key] = prep
    return _PREPARED[cache_key]


def _references(course, item) -> types.SimpleNamespace:
    """The reference solution's files for the item: those it substitutes or provides (a
    trainer; registered in ``sys.modules`` under their plain names) and its own files."""
    folder = courses.solution_folder(course.NAME)
    substitute = courses.load_files(folder, item.reference, flag="reference")
    for stem, module in vars(substitute).items():
        sys.modules[stem] = module
    own = courses.load_files(folder, item.files, flag="reference")
    return types.SimpleNamespace(**{**vars(own), **vars(substitute)})


def _limit_memory(memory_mb: int) -> None:
    used = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                used = int(line.split()[1]) * 1024
    limit = used + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _silence() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _check(course_name: str, key: str, folder: str, memory_mb: int) -> Outcome:
    course = courses.get(course_name)
    item = course.GRADING[key]
    prep = prepare(course, key)
    refs = _references(course, item)
    folder = Path(folder)
    _silence()
    if os.path.exists("/proc/self/status"):
        _limit_memory(memory_mb)
    ImportBlocker(folder).install()
    try:
        mine = courses.load_files(folder, item.files, flag="submission")
    except ConfigError as e:
        return Outcome(False, [one_line(e).replace(f"submission {folder}{os.sep}", "")])
    passed, lines = item_checks.CHECKS[item.kind](course, item, mine, refs, prep)
    return Outcome(bool(passed), [str(x) for x in lines][:MAX_LINES])


def _child(course_name, key, folder, memory_mb, conn) -> None:
    try:
        outcome = _check(course_name, key, folder, memory_mb)
    except MemoryError:
        outcome = Outcome(False, [f"ran out of memory (the limit is {memory_mb} MB)"])
    except BaseException as e:  # noqa: BLE001 - anything the submission's code raised
        outcome = Outcome(False, [f"raised {type(e).__name__}: {one_line(e)}"])
    try:
        conn.send(outcome)
    finally:
        os._exit(0)


def run_item(course_name: str, key: str, folder, time_limit: float = TIME_LIMIT,
             memory_mb: int = MEMORY_MB) -> Outcome:
    """Check item ``key`` of ``course_name`` on the submission in ``folder`` in a child process
    (module docstring); the child's verdict, or why there is none."""
    prepare(courses.get(course_name), key)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(course_name, key, str(folder), memory_mb, send))
    child.start()
    send.close()
    try:
        if not recv.poll(time_limit):
            return Outcome(False, [f"stopped after the time limit of {time_limit:g} s (an "
                                   "infinite loop?)"])
        return recv.recv()
    except EOFError:
        child.join()
        return Outcome(False, [f"the process checking it died (exit status {child.exitcode})"])
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        recv.close()
