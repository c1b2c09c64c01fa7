"""The report: numbers over seeds, tables, one markdown section per experiment, ``report.md``.

What this adds:

* Mean and standard deviation over seeds, read from records (:func:`aggregate`): only runs with
  status ``ok`` enter the mean (diverged and failed ones are listed by label and mentioned in the
  note); ``std`` is the **sample** standard deviation, ``ddof=1`` (NaN for a single run: plots
  then draw the line without a band); series of unequal length are cut to the shortest (noted).
* Tables and numbers (:func:`md_table`, :func:`pct`, :func:`pm`, :func:`num`, and
  :func:`data_description` for a data set and its split).
* Sections: every experiment writes ``<out>/sections/<NAME>.md`` (its text, tables, figures and a
  line saying how many runs were ok / diverged / failed); ``report.md`` is rebuilt from all
  section files in experiment order after every invocation, so ``--only NAME`` refreshes one
  section without throwing the others away. A figure the text does not embed is appended, so
  every figure is in the report.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.records import atomic_write_text, from_json_float

from .data import NAMES
from .runs import Context, name_of

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


def eval_split(final: bool) -> str:
    return "test" if final else "validation"


def data_description(dataset: str, final: bool, n_train: int | None = None,
                     n_val: int | None = None) -> str:
    """E.g. "Fashion-MNIST, final=False split: 55,000 train / 5,000 validation"."""
    name = NAMES.get(dataset, dataset)
    other = "test" if final else "validation"
    sizes = ""
    if n_train is not None and n_val is not None:
        sizes = f": {int(n_train):,} train / {int(n_val):,} {other}"
    return f"{name}, final={final} split{sizes}"


def test_description(dataset: str, n_train=None, n_val=None, n_test=None) -> str:
    """E.g. "Fashion-MNIST: 55,000 train / 5,000 validation (every epoch) / 10,000 test (once,
    after training)" - the splits of a run that ends with one test evaluation."""
    name = NAMES.get(dataset, dataset)
    if None in (n_train, n_val, n_test):
        return f"{name}: train / validation (every epoch) / test (once, after training)"
    return (f"{name}: {int(n_train):,} train / {int(n_val):,} validation (every epoch) / "
            f"{int(n_test):,} test (once, after training)")


def test_accs(records: Iterable[dict]) -> list[float]:
    """The test accuracies (measured once, after training) of the finished runs."""
    return [r["metrics"]["final"]["test_acc"] for r in records if r.get("status") == "ok"
            and (r["metrics"].get("final") or {}).get("test_acc") is not None]


def pm_list(values: Sequence[float]) -> str:
    """"mean ± std (n seeds)" of fractions as %, "x% (one seed)" for one, "–" for none."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{pct(values[0])} (one seed)"
    return f"{pm(float(np.mean(values)), float(np.std(values, ddof=DDOF)), as_pct=True)}"


def num(v, digits: int = 4) -> str:
    """A number for a table; NaN / None as an en dash."""
    if v is None:
        return "–"
    v = from_json_float(v)
    if math.isnan(v):
        return "–"
    return f"{v:.{digits}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{digits}f}"


def pct(v, digits: int = 2) -> str:
    """A fraction as a percentage ("97.31%"); NaN / None as an en dash."""
    if v is None:
        return "–"
    v = from_json_float(v)
    return "–" if math.isnan(v) else f"{100 * v:.{digits}f}%"


def pm(mean, std, as_pct: bool = False, digits: int = 2) -> str:
    """"mean ± std" (std omitted when NaN)."""
    f = (lambda x: pct(x, digits)) if as_pct else (lambda x: num(x, digits + 2))
    s = from_json_float(std) if std is not None else float("nan")
    return f(mean) if math.isnan(s) else f"{f(mean)} ± {f(s)}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def status_counts(records: Iterable[dict]) -> dict:
    counts = {"ok": 0, "diverged": 0, "failed": 0, "missing": 0}
    for r in records:
        counts[r.get("status", "missing")] = counts.get(r.get("status", "missing"), 0) + 1
    return counts


def failures(records: Iterable[dict], limit: int = 5) -> str:
    """A markdown list of failed runs and their errors (first ``limit``), "" when none."""
    bad = [r for r in records if r.get("status") in ("failed", "missing")]
    if not bad:
        return ""
    lines = [f"- `{r.get('label') or r.get('key')}`: {r.get('error')}" for r in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"- … and {len(bad) - limit} more (see the records)")
    return "**Runs that failed:**\n\n" + "\n".join(lines)


def section(mod, ctx: Context, *, records: list[dict] | None = None,
            figures: Sequence[Path] = (), body: str = "", skipped: str | None = None,
            error: str | None = None) -> str:
    """The markdown of one experiment's section."""
    name, title = name_of(mod), mod.TITLE
    out = [f'<a id="{name}"></a>', f"## {title}", ""]
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    if records is not None:
        c = status_counts(records)
        compute = sum(from_json_float(r.get("wall_time") or 0.0) for r in records)
        stores = sorted({f"runs/{r.get('name')}/" for r in records if r.get("name")})
        out += [f"*{ctx.mode} mode, {stamp}: {len(records)} runs — {c['ok']} ok, "
                f"{c['diverged']} diverged, {c['failed']} failed"
                + (f", {c['missing']} missing" if c["missing"] else "")
                + f"; compute {compute:.1f} s (sum over runs)"
                + (f"; records in {', '.join(f'`{s}`' for s in stores)}" if stores else "")
                + "*", ""]
    if skipped is not None:
        out += [f"*Skipped ({ctx.mode} mode, {stamp}):* {skipped}", ""]
    elif error is not None:
        out += [f"*This section could not be produced ({ctx.mode} mode, {stamp}):*", "",
                "```", error.rstrip(), "```", ""]
    for n in ctx.notes.get(name, []):
        out += [f"> {n}", ""]
    if body:
        out += [body.rstrip(), ""]
    for fig in figures:
        rel = ctx.rel(fig)
        if rel not in body:
            out += [f"![{Path(fig).stem}]({rel})", ""]
    if records is not None:
        f = failures(records)
        if f:
            out += [f, ""]
    return "\n".join(out)


def write_section(ctx: Context, name: str, text: str) -> Path:
    return atomic_write_text(ctx.out / "sections" / f"{name}.md", text.rstrip() + "\n")


def write_report(ctx: Context, modules, command: str = "", wall_time: float | None = None,
                 speed: str = "") -> Path:
    """Rebuild ``report.md`` from the section file of every experiment in ``modules`` (in their
    order) that has one, then ``speed`` (the speed section's markdown)."""
    names = [(name_of(m), m.TITLE) for m in modules]
    names = [(n, t) for n, t in names if (ctx.out / "sections" / f"{n}.md").exists()]
    lines = [f"# mlp-ladder analysis — {ctx.mode} reproduction", ""]
    desc = ("Quick mode: small offline data (the shipped MNIST sample), few epochs; the numbers "
            "show the method, not the final accuracies." if ctx.quick else
            "Full mode: the real data sets (MNIST where its files are present, Fashion-MNIST).")
    lines += [desc, ""]
    over = {k: v for k, v in ctx.options.items() if v is not None and k in ("epochs", "limit")}
    if over:
        lines += ["**Smoke-run overrides in effect** (numbers are not the experiments' own "
                  "settings): " + ", ".join(f"{k} = {v}" for k, v in over.items()), ""]
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    lines += [f"Last updated {stamp}"
              + (f" by `{command}`" if command else "")
              + (f" in {wall_time:.0f} s" if wall_time is not None else "")
              + f"; Python {platform.python_version()} on {platform.machine()}. "
              "Every figure is drawn from the run records in `runs/`; each section says which "
              "data set and split its numbers come from.", ""]
    if names:
        lines += ["Contents:", ""]
        lines += [f"- [{t}](#{n})" for n, t in names]
        if speed:
            lines.append("- [Speed](#speed)")
        lines.append("")
    for n, _ in names:
        lines.append((ctx.out / "sections" / f"{n}.md").read_text().rstrip())
        lines.append("")
    if speed:
        lines += ['<a id="speed"></a>', speed.rstrip(), ""]
    return atomic_write_text(ctx.out / "report.md", "\n".join(lines).rstrip() + "\n")


def doctor_text(rec: dict | None, label: str) -> str:
    """The training doctor's verdict (``shared.doctor``) on one run record, as a report line."""
    from shared.doctor import diagnose

    if rec is None:
        return ""
    m = rec.get("metrics") or {}
    history = {"epochs": m.get("epochs", []), "status": rec.get("status"),
               "message": rec.get("error"), "num_classes": m.get("num_classes", 10)}
    lines = diagnose(history)
    if not lines:
        return f"\nTraining doctor, {label}: no symptom found."
    return f"\nTraining doctor, {label}:\n" + "\n".join(f"- {line}" for line in lines)
