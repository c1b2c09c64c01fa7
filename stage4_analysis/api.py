"""What an experiment module gets handed: the :class:`Context` of one reproduction.

What this adds: one object that knows the mode (quick or full), the output folders, the run store,
the command-line options and the other experiments, so an experiment module stays a handful of
plain functions (see the package docstring for the interface). :class:`SkipExperiment` is how a
module says "cannot run here" (e.g. the data files are absent); the report shows the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from .runner import RunSpec
from .store import Store


class SkipExperiment(Exception):
    """Raised by ``plan`` when the experiment cannot run here; the message is the reason shown
    in the report (e.g. the data loader's error for absent MNIST files)."""


@dataclass
class Context:
    """One reproduction.

    quick: the quick offline set (True) or the full one (False).
    out: output folder; records in ``out/runs``, figures in ``out/figures/<NAME>``,
        report sections in ``out/sections``, the report at ``out/report.md``.
    jobs: worker processes for the runs.
    options: command-line overrides an experiment may honour, e.g. ``{"seeds": 3,
        "lrs": [0.1, 0.3]}`` (absent/None = the module's own constants).
    modules: every experiment module of this reproduction (for ``plan_of`` / ``records_of``).
    notes: per-experiment remarks collected while planning (shown at the top of its section).
    """

    quick: bool = True
    out: Path = Path("runs/analysis/quick")
    jobs: int = 1
    options: dict = field(default_factory=dict)
    modules: list[ModuleType] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out = Path(self.out)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def runs_root(self) -> Path:
        return self.out / "runs"

    @property
    def store(self) -> Store:
        return Store(self.runs_root)

    def fig_dir(self, name: str) -> Path:
        return self.out / "figures" / name

    def rel(self, path: str | os.PathLike) -> str:
        """``path`` relative to the report (for markdown links), with forward slashes."""
        return Path(os.path.relpath(Path(path), self.out)).as_posix()

    def note(self, name: str, text: str) -> None:
        """Add a remark to experiment ``name``'s section (once, however often plan() runs)."""
        notes = self.notes.setdefault(name, [])
        if text not in notes:
            notes.append(text)

    def option(self, key: str, default=None):
        v = self.options.get(key)
        return default if v is None else v

    def records(self, specs: list[RunSpec]) -> list[dict]:
        """The records of ``specs`` in order; a run with no record yet appears as a stub with
        status "missing" (so a plot can say what is absent instead of silently dropping it)."""
        store, out = self.store, []
        for s in specs:
            rec = store.get(s.store, s.config)
            if rec is None:
                rec = {"status": "missing", "config": s.config, "label": s.label, "key": s.key,
                       "metrics": {}, "error": "no record (run not finished)"}
            out.append(rec)
        return out

    def module(self, name: str) -> ModuleType:
        from .registry import find

        return find(self.modules, name)

    def plan_of(self, name: str) -> list[RunSpec]:
        """The runs another experiment plans (declare it in ``DEPENDS`` so they run first)."""
        return self.module(name).plan(self)

    def records_of(self, name: str) -> list[dict]:
        return self.records(self.plan_of(name))
