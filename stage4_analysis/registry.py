"""Which experiment modules exist, in which order, and what they depend on.

``MODULES`` lists the experiment modules of ``stage4_analysis`` in report order. Names listed
here whose module does not exist (yet) are skipped silently, so a module is plugged in by creating
``stage4_analysis/<module>.py`` under one of these names (or by adding its name here). A module
that exists but fails to import is reported (``--list`` and the report say why), never hidden.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

PACKAGE = "stage4_analysis.experiments"

MODULES = [
    # issue 7: the VU hand-out (MNIST network 784-300-10) and the CS3317 sweeps
    "learning_curve",
    "train_val",
    "seeds",
    "lr_study",
    "final",
    "sweeps",
    "best_config",
    "logreg",
    # issue 8: the other hand-outs' experiments
    "disc",
    "digits",
    "autoencoder",
    "iris",
    "jacobian",
]

REQUIRED = ("NAME", "TITLE", "plan", "plot", "summarize")


@dataclass
class Broken:
    """A listed module that exists but cannot be used; ``error`` says why."""

    module: str
    error: str


def _import(module: str) -> ModuleType | Broken | None:
    full = f"{PACKAGE}.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name == full:
            return None  # not written yet
        return Broken(module, f"{type(e).__name__}: {e}")
    except Exception as e:  # a half-written module must not take the whole reproduction down
        return Broken(module, f"{type(e).__name__}: {e}")
    missing = [a for a in REQUIRED if not hasattr(mod, a)]
    if missing:
        return Broken(module, f"missing {', '.join(missing)} (see stage4_analysis/__init__.py)")
    return mod


def load_all() -> tuple[list[ModuleType], list[Broken]]:
    """The usable experiment modules in report order, and the broken ones."""
    mods, broken = [], []
    for name in MODULES:
        m = _import(name)
        if isinstance(m, Broken):
            broken.append(m)
        elif m is not None:
            mods.append(m)
    return mods, broken


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def find(mods: list[ModuleType], name: str) -> ModuleType:
    """The module whose NAME (or module name) is ``name``; hyphens and underscores are equal."""
    want = normalise(name)
    for m in mods:
        if normalise(m.NAME) == want or normalise(m.__name__.rsplit(".", 1)[-1]) == want:
            return m
    choices = ", ".join(m.NAME for m in mods)
    raise KeyError(f"unknown experiment {name!r}; choose from: {choices}")


def depends(mod: ModuleType) -> tuple[str, ...]:
    return tuple(getattr(mod, "DEPENDS", ()))


def select(mods: list[ModuleType], names: list[str] | None) -> tuple[list[ModuleType], list[str]]:
    """The modules named (all when ``names`` is None) plus what they depend on, in report order.
    Returns ``(modules, added)`` where ``added`` names the dependencies that were not asked for."""
    if not names:
        return list(mods), []
    wanted = {find(mods, n).NAME for n in names}
    asked = set(wanted)
    frontier = list(wanted)
    while frontier:
        m = find(mods, frontier.pop())
        for d in depends(m):
            dn = find(mods, d).NAME
            if dn not in wanted:
                wanted.add(dn)
                frontier.append(dn)
    chosen = [m for m in mods if m.NAME in wanted]
    return chosen, [m.NAME for m in chosen if m.NAME not in asked]


def waves(mods: list[ModuleType]) -> list[list[ModuleType]]:
    """Modules grouped so every module comes in a later wave than what it depends on.
    All runs of one wave go to the process pool together."""
    by_name = {m.NAME: m for m in mods}
    level: dict[str, int] = {}

    def depth(m, seen=()):
        if m.NAME in level:
            return level[m.NAME]
        if m.NAME in seen:
            raise ValueError(f"circular DEPENDS involving {m.NAME}")
        d = 0
        for dep in depends(m):
            dm = by_name.get(find(list(by_name.values()), dep).NAME)
            d = max(d, depth(dm, seen + (m.NAME,)) + 1)
        level[m.NAME] = d
        return d

    for m in mods:
        depth(m)
    out: list[list[ModuleType]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for m in mods:
        out[level[m.NAME]].append(m)
    return out
