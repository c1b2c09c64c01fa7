"""Mean and standard deviation over seeds, from run records.

What this adds over ``np.mean``/``np.std`` on a list: it reads the series out of records, keeps
runs that diverged or failed out of the mean (and says so), and lines up series of unequal length.

Conventions (the tests check them against hand-computed values):

* ``std`` is the **sample** standard deviation over seeds, ``ddof=1`` (divide by S - 1): the
  usual estimate of the seed-to-seed spread from a handful of seeds. With a single usable seed the
  std is undefined and returned as NaN (plots then draw the mean line without a band).
* Only records with status ``ok`` enter the mean. ``diverged`` and ``failed`` runs are listed by
  label in the result (``diverged``, ``failed``) and mentioned in ``note``.
* Series of different lengths (should not happen for ok runs of one configuration) are cut to
  the shortest, and ``note`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from shared.records import from_json_float

DDOF = 1


def as_floats(values: Iterable) -> np.ndarray:
    """A JSON list of numbers (NaN/inf stored as strings, None as missing) -> float64 array."""
    return np.array([np.nan if v is None else from_json_float(v) for v in values], dtype=float)


def epoch_series(record: dict, field_name: str) -> np.ndarray:
    """Per-epoch values of ``field_name`` (e.g. "val_acc") from a record, shape (E,)."""
    return as_floats(e.get(field_name) for e in record["metrics"].get("epochs", []))


def step_series(record: dict, field_name: str = "step_loss") -> np.ndarray:
    """Per-step values (e.g. the loss of every mini-batch) from a record, shape (T,)."""
    return as_floats(record["metrics"].get(field_name, []))


def mean_std(stacked: np.ndarray, ddof: int = DDOF) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over axis 0 of ``stacked`` (S, T); std is NaN where S - ddof <= 0."""
    stacked = np.asarray(stacked, dtype=float)
    if stacked.ndim != 2:
        raise ValueError(f"expected a (seeds, steps) array, got shape {stacked.shape}")
    s = stacked.shape[0]
    if s == 0:
        raise ValueError("no series to average")
    mean = stacked.mean(axis=0)
    if s - ddof <= 0:
        return mean, np.full_like(mean, np.nan)
    return mean, stacked.std(axis=0, ddof=ddof)


@dataclass
class Aggregate:
    """Mean/std of one quantity over the usable runs of one configuration.

    mean, std: (T,) arrays (empty when no run was usable); n: number of runs averaged;
    values: (n, T) stacked series; labels: labels of the averaged runs; diverged / failed:
    labels of runs left out; note: human-readable remarks ("" when nothing to say).
    """

    mean: np.ndarray
    std: np.ndarray
    n: int
    values: np.ndarray
    labels: list = field(default_factory=list)
    diverged: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    note: str = ""

    @property
    def final_mean(self) -> float:
        return float(self.mean[-1]) if self.mean.size else float("nan")

    @property
    def final_std(self) -> float:
        return float(self.std[-1]) if self.std.size else float("nan")


def aggregate(
    records: Iterable[dict],
    series: Callable[[dict], np.ndarray],
    ddof: int = DDOF,
) -> Aggregate:
    """Mean/std of ``series(record)`` over the records with status ok.

    ``series`` is e.g. ``lambda r: epoch_series(r, "val_acc")`` or ``step_series``.
    """
    ok, labels, diverged, failed, notes = [], [], [], [], []
    for r in records:
        label = r.get("label") or r.get("key", "?")
        status = r.get("status")
        if status == "ok":
            ok.append(np.asarray(series(r), dtype=float))
            labels.append(label)
        elif status == "diverged":
            diverged.append(label)
        else:
            failed.append(label)
    if diverged:
        notes.append(f"{len(diverged)} run(s) diverged and are left out of the mean: "
                     + ", ".join(map(str, diverged)))
    if failed:
        notes.append(f"{len(failed)} run(s) failed and are left out: "
                     + ", ".join(map(str, failed)))
    if not ok:
        empty = np.zeros(0)
        return Aggregate(empty, empty, 0, np.zeros((0, 0)), labels, diverged, failed,
                         "; ".join(notes + ["no run to average"]))
    t = min(len(v) for v in ok)
    if any(len(v) != t for v in ok):
        notes.append(f"series of unequal length cut to the shortest ({t})")
    values = np.stack([v[:t] for v in ok])
    mean, std = mean_std(values, ddof)
    if len(ok) - ddof <= 0:
        notes.append("a single run: no std band")
    return Aggregate(mean, std, len(ok), values, labels, diverged, failed, "; ".join(notes))


def group_by(records: Iterable[dict], key: Callable[[dict], object]) -> dict:
    """Records grouped by ``key(record)`` (e.g. the learning rate), insertion-ordered."""
    groups: dict = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return groups


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (shape kept; the first steps average what
    there is). Used to show a trend through the noise of per-sample losses."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size == 0:
        return values.copy()
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)
