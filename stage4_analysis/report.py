"""The report: one markdown section per experiment, assembled into ``report.md``.

What this adds: every experiment writes ``<out>/sections/<NAME>.md`` (its text, tables, figures
and a line saying how many runs were ok / diverged / failed); ``report.md`` is rebuilt from all
section files in registry order after every invocation, so ``--only NAME`` refreshes one section
without throwing the others away. Any figure a section's text does not already embed is appended
to it, so every figure is in the report. Helpers for tables and numbers live here too.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

from shared.records import atomic_write_text, from_json_float

from .api import Context

DATA_NAMES = {
    "mnist-sample": "MNIST sample (shipped with the project, real MNIST digits)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "synth": "synthetic 2-D data (hand-out's load_synth)",
    "iris": "Iris",
    "disc": "disc test data",
}


def data_description(dataset: str, final: bool, n_train: int | None = None,
                     n_val: int | None = None) -> str:
    """E.g. "Fashion-MNIST, final=False split: 55,000 train / 5,000 validation"."""
    name = DATA_NAMES.get(dataset, dataset)
    other = "test" if final else "validation"
    sizes = ""
    if n_train is not None and n_val is not None:
        sizes = f": {int(n_train):,} train / {int(n_val):,} {other}"
    return f"{name}, final={final} split{sizes}"


def eval_split(final: bool) -> str:
    return "test" if final else "validation"


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
    name, title = mod.NAME, mod.TITLE
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


def write_report(ctx: Context, modules, broken=(), command: str = "",
                 wall_time: float | None = None) -> Path:
    """Rebuild ``report.md`` from every section file of the known modules (registry order)."""
    mods = [m for m in modules if (ctx.out / "sections" / f"{m.NAME}.md").exists()]
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
    if mods:
        lines += ["Contents:", ""]
        lines += [f"- [{m.TITLE}](#{m.NAME})" for m in mods]
        lines.append("")
    for b in broken:
        lines += [f"> Experiment module `{b.module}` could not be loaded: {b.error}", ""]
    for m in mods:
        lines.append((ctx.out / "sections" / f"{m.NAME}.md").read_text().rstrip())
        lines.append("")
    return atomic_write_text(ctx.out / "report.md", "\n".join(lines).rstrip() + "\n")
