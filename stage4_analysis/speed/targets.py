"""The pure half of the speed benchmark (:mod:`stage4_analysis.speed`): targets, tables, chart.

What this adds over the measuring code: nothing is timed here. Every function takes the plain
JSON results of one benchmark run (the ``metrics`` of its run record) and turns them into the
PASS/MISS table against the speed targets, text and markdown tables, and the ladder chart. So
the report can be redrawn from a saved record, and the target logic is testable with made-up
numbers. What it leaves out: any measurement (see ``speed.py``).

The targets, each a ratio measured side by side in one run:

=====================  =================================================================  =====
key                    measured value                                                     need
=====================  =================================================================  =====
stage1/micrograd       stage-1 unrolled steps/s / micrograd steps/s, 2-3-2 network        >= 20
stage2/torch float64   stage-2 samples/s / torch samples/s, batch 1, 784-300-10           >= 2.5
stage2/torch float32   the same in float32                                                >= 2
stage3/torch float32   stage-3 epoch seconds / torch epoch seconds, batch 128             <= 0.8
stage3/torch float64   the same in float64                                                <= 1.0
gemm float32           GEMM-bound epoch time / stage-3 epoch time, batch 128              >= 0.55
gemm float64           the same in float64                                                >= 0.55
memory float32         peak RSS (MB) of a stage-3 epoch <= 1.5 x float data (MB) + 100    limit
memory float64         the same in float64                                                limit
=====================  =================================================================  =====
"""

from __future__ import annotations

import math
from pathlib import Path

# (key, label, op, threshold, how the number is shown)
RATIO_TARGETS = [
    ("stage1/micrograd", "1. stage 1 (unrolled) vs micrograd: training steps/s, 2-3-2", ">=",
     20.0, "x"),
    ("stage2/torch float64", "2. stage 2 vs torch batch 1: samples/s, float64", ">=", 2.5, "x"),
    ("stage2/torch float32", "2. stage 2 vs torch batch 1: samples/s, float32", ">=", 2.0, "x"),
    ("stage3/torch float32", "3. stage 3 vs torch batch 128: epoch time, float32", "<=", 0.8,
     "x"),
    ("stage3/torch float64", "3. stage 3 vs torch batch 128: epoch time, float64", "<=", 1.0,
     "x"),
    ("gemm float32", "3. stage 3 share of the GEMM-bound limit, batch 128, float32", ">=", 0.55,
     "%"),
    ("gemm float64", "3. stage 3 share of the GEMM-bound limit, batch 128, float64", ">=", 0.55,
     "%"),
]
MEMORY_DTYPES = ("float32", "float64")
MEMORY_FACTOR, MEMORY_EXTRA_MB = 1.5, 100.0
NOT_MEASURED = "not measured"

#: Which stage-2 variant of ``stage4_analysis.speed.stage2`` is the stage's own training path:
#: ``fit`` uses zero-skipping on sparse inputs such as MNIST and the in-place step otherwise.
STAGE2_SPARSE, STAGE2_DENSE = "stage2 in-place, skip zero inputs", "stage2 in-place"


# --------------------------------------------------------------------------- judging
def judge(value: float | None, op: str, threshold: float) -> str:
    """"PASS" when ``value op threshold`` holds, "MISS" when it does not, "not measured" when
    there is no value (a side is missing, e.g. its library is not installed, or the section did
    not run). Equality passes."""
    if op not in (">=", "<="):
        raise ValueError(f"op must be '>=' or '<=', got {op!r}")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_MEASURED
    ok = value >= threshold if op == ">=" else value <= threshold
    return "PASS" if ok else "MISS"


def margin(value: float | None, op: str, threshold: float) -> float | None:
    """How far from the target, as a factor >= 1: for a PASS how much room is left, for a MISS
    how much is missing (e.g. a ratio of 6 against ">= 20" is short by 3.33x)."""
    if value is None or value <= 0 or threshold <= 0:
        return None
    f = value / threshold if op == ">=" else threshold / value
    return f if f >= 1 else 1 / f


def memory_limit_mb(float_data_mb: float) -> float:
    """The memory target: 1.5 x the float data set's size + 100 MB."""
    return MEMORY_FACTOR * float_data_mb + MEMORY_EXTRA_MB


def target_rows(measured: dict, notes: dict | None = None) -> list[dict]:
    """The PASS/MISS table from measured numbers.

    ``measured``: the keys of the module table (``"stage1/micrograd"``, ..., ``"gemm float64"``)
    with ratios / fractions (None or absent: not measured), and for memory ``"peak MB float32"``
    and ``"data MB float32"`` (likewise float64). ``notes``: key -> why a value is missing or
    what it was measured on, shown in the table. Returns one dict per target::

        {"key", "target", "op", "threshold", "value", "required", "measured", "result",
         "margin", "margin_text", "note"}
    """
    notes = notes or {}
    rows = []
    for key, label, op, thr, unit in RATIO_TARGETS:
        v = measured.get(key)
        fmt = (lambda x: f"{100 * x:.0f}%") if unit == "%" else (lambda x: f"{x:.2f}x")
        rows.append(_row(key, label, op, thr, v, fmt(thr), fmt(v) if v is not None else "-",
                         notes.get(key)))
    for dt in MEMORY_DTYPES:
        peak, data = measured.get(f"peak MB {dt}"), measured.get(f"data MB {dt}")
        key = f"memory {dt}"
        label = f"5. peak RSS of a stage-3 epoch, {dt}"
        if data is None:
            rows.append(_row(key, label, "<=", float("nan"), None,
                             "<= 1.5 x data + 100 MB", "-", notes.get(key)))
            continue
        limit = memory_limit_mb(data)
        rows.append(_row(key, label, "<=", limit, peak,
                         f"<= {limit:.0f} MB (1.5 x {data:.0f} MB + 100)",
                         f"{peak:.0f} MB" if peak is not None else "-", notes.get(key)))
    return rows


def _row(key, label, op, thr, value, required, measured, note):
    result = (judge(value, op, thr) if not (isinstance(thr, float) and math.isnan(thr))
              else NOT_MEASURED)
    m = margin(value, op, thr) if result != NOT_MEASURED else None
    text = "-" if m is None else (f"room {m:.2f}x" if result == "PASS" else f"short by {m:.2f}x")
    return {"key": key, "target": label, "op": op, "threshold": thr, "value": value,
            "required": required, "measured": measured, "result": result, "margin": m,
            "margin_text": text, "note": note}


# --------------------------------------------------------------------------- reading results
def _get(d, *path):
    """``d[path[0]][path[1]]...`` or None; integer keys are also tried as strings (JSON)."""
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p, d.get(str(p)))
    return d


def stage2_row(res: dict | None, name: str) -> dict | None:
    for r in (res or {}).get("rows", []):
        if r.get("name") == name:
            return r
    return None


def measured_from(results: dict) -> tuple[dict, dict]:
    """``(measured, notes)`` for :func:`target_rows` from the results of one benchmark run."""
    m, notes = {}, {}
    _measured_stage1(results.get("stage1") or {}, m, notes)
    _measured_stage2(results.get("stage2") or {}, m, notes)
    _measured_stage3(results.get("stage3") or {}, m, notes)
    _measured_memory(results.get("memory") or {}, m, notes)
    return m, notes


def _measured_stage1(s1: dict, m: dict, notes: dict) -> None:
    """Stage 1 against micrograd: the unrolled program's ratio, the loops' in the note."""
    if "error" in s1 or "skipped" in s1:
        notes["stage1/micrograd"] = s1.get("error") or s1.get("skipped")
    elif s1:
        ratio = s1.get("ratio") or {}
        m["stage1/micrograd"] = ratio.get("stage1-unrolled/micrograd")
        if ratio:
            nan = float("nan")
            loops = (f"the loops of network.py: {ratio.get('stage1-jacobian/micrograd', nan):.2f}x"
                     f" (fused backward {ratio.get('stage1-fused/micrograd', nan):.2f}x)")
            notes["stage1/micrograd"] = (
                "stage 1 unrolled (stage1_scalar/unrolled.py, softmax-Jacobian backward, bitwise "
                "the loops' weights) vs micrograd with a one-op sigmoid; " + loops
                if m["stage1/micrograd"] is not None else
                "this record has no unrolled row (it predates stage1_scalar/unrolled.py); "
                + loops)
        else:
            notes["stage1/micrograd"] = _get(s1, "rows", "micrograd", "missing") or "no ratio"


def _measured_stage2(s2: dict, m: dict, notes: dict) -> None:
    """Stage 2 against torch at batch 1, per dtype."""
    for dt in ("float64", "float32"):
        key = f"stage2/torch {dt}"
        res = s2.get(dt)
        if not isinstance(res, dict) or "rows" not in res:
            notes[key] = (res or {}).get("error") or s2.get("skipped") or "not measured"
            continue
        name = s2.get("fit_variant", STAGE2_SPARSE)
        row = stage2_row(res, name)
        m[key] = row.get("ratio_vs_torch") if row else None
        torch_row = stage2_row(res, "torch") or {}
        if not torch_row.get("samples_per_s"):
            notes[key] = torch_row.get("note") or "torch not measured"
        else:
            dense = stage2_row(res, STAGE2_DENSE) or {}
            extra = (f"; dense in-place {dense['ratio_vs_torch']:.2f}x"
                     if dense.get("ratio_vs_torch") and name != STAGE2_DENSE else "")
            plain = stage2_row(res, "stage2 readable") or {}
            extra += (f"; the default network.py path {plain['ratio_vs_torch']:.2f}x"
                      if plain.get("ratio_vs_torch") else "")
            notes[key] = f"'{name}' (what --fast uses on this data){extra}"


def _measured_stage3(s3: dict, m: dict, notes: dict) -> None:
    """Stage 3 against torch and the GEMM bound, batch 128, per dtype."""
    for dt in ("float32", "float64"):
        row = _get(s3, "results", dt, 128)
        if row is None:
            why = s3.get("error") or s3.get("skipped") or "batch 128 not measured"
            notes[f"stage3/torch {dt}"] = notes[f"gemm {dt}"] = why
            continue
        m[f"stage3/torch {dt}"] = row.get("ratio")
        if row.get("ratio") is None:
            notes[f"stage3/torch {dt}"] = "torch not installed"
        m[f"gemm {dt}"] = row.get("gemm_fraction")
        notes[f"gemm {dt}"] = (f"GEMM-bound {row['gemm_bound_s']:.3f} s at a peak of "
                               f"{_get(s3, 'results', dt, 'peak_gflops'):.0f} GFLOP/s")


def _measured_memory(mem: dict, m: dict, notes: dict) -> None:
    """The peak memory of a stage-3 epoch, per dtype."""
    for dt in MEMORY_DTYPES:
        r = mem.get(dt)
        if not isinstance(r, dict) or "peak_mb" not in r:
            notes[f"memory {dt}"] = (r or {}).get("error") or "not measured"
            continue
        m[f"peak MB {dt}"], m[f"data MB {dt}"] = r["peak_mb"], r["float_data_mb"]
        notes[f"memory {dt}"] = (f"{r['n']:,} samples; fresh process, VmHWM; interpreter + "
                                 f"numpy alone {r['baseline_mb']:.0f} MB")


def _threads(n) -> str:
    return "1 thread" if n == 1 else f"{n} threads"


def ladder_bars(results: dict) -> list[dict]:
    """The ladder: training samples/s at 784-300-10 in float64, one bar per implementation::

        {"label", "family" ("ladder" | "torch"), "samples_per_s", "how"}

    from the stage-1 measurement at that size, section 2 (float64) and section 3 (float64).
    Bars whose measurement is absent are left out."""
    bars = []
    s1 = _get(results, "ladder", "stage1")
    if s1 and s1.get("samples_per_s"):
        bars.append({"label": "stage 1 (pure Python, per sample, extrapolated)",
                     "family": "ladder",
                     "samples_per_s": s1["samples_per_s"],
                     "how": (f"{s1['samples_timed']} samples timed in total "
                             f"({s1['passes']} pass(es) of {s1['samples']}), extrapolated")})
    s2 = _get(results, "stage2", "float64")
    fit_name = _get(results, "stage2", "fit_variant") or STAGE2_SPARSE
    for name, label in (("stage2 readable", "stage 2 readable (per sample)"),
                        (fit_name, "stage 2 --fast (per sample)"),
                        ("torch", "torch, batch 1 (1 thread)")):
        r = stage2_row(s2, name)
        if r and r.get("median"):
            bars.append({"label": label, "family": "torch" if name == "torch" else "ladder",
                         "samples_per_s": r["median"],
                         "how": f"{name}; median of {len(r['samples_per_s'])} passes of "
                                f"{s2['samples']} samples"})
    return bars + _stage3_bars(results.get("stage3") or {})


def _stage3_bars(s3: dict) -> list[dict]:
    """The ladder's stage-3 and torch bars at batch 32 and 128 (float64)."""
    bars, n = [], s3.get("n")
    for bs in (32, 128):
        row = _get(s3, "results", "float64", bs)
        if not row:
            continue
        for who, label, fam in (("stage3", f"stage 3, batch {bs}", "ladder"),
                                ("torch", f"torch, batch {bs} "
                                          f"({_threads(s3.get('torch_threads'))})", "torch")):
            t = row.get(who)
            if t and t.get("median"):
                bars.append({"label": label, "family": fam, "samples_per_s": n / t["median"],
                             "how": f"{n:,} samples / median epoch time "
                                    f"{t['median']:.3f} s ({len(t['all'])} epochs)"})
    return bars


# --------------------------------------------------------------------------- text
def text_table(headers, rows) -> str:
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    fmt = lambda cells: "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths)).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])]
                     + [fmt([str(c) for c in r]) for r in rows])


def md_table(headers, rows) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


TARGET_HEADERS = ("target", "required", "measured", "result", "margin")


def target_table_rows(rows: list[dict]) -> list[list[str]]:
    return [[r["target"], r["required"], r["measured"], r["result"], r["margin_text"]]
            for r in rows]


def _fmt_rate(v) -> str:
    return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")


def section_tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """``(title, headers, rows)`` of each section's numbers, for text and markdown alike."""
    tables = [_stage1_table(results.get("stage1") or {}),
              *[_stage2_table(_get(results, "stage2", dt), dt) for dt in ("float64", "float32")],
              _stage3_table(results.get("stage3") or {}), _ladder_table(results),
              _memory_table(results.get("memory") or {})]
    return [t for t in tables if t is not None]


def _stage1_table(s1: dict):
    if not s1.get("rows"):
        return None
    rows = []
    for name, r in s1["rows"].items():
        if "missing" in r:
            rows.append([name, "-", "-", "-", "missing: " + r["missing"]])
        else:
            rows.append([name, _fmt_rate(r["steps_per_s"]), _fmt_rate(r["min"]),
                         _fmt_rate(r["max"]), ""])
    for key, v in (s1.get("ratio") or {}).items():
        lo, hi = s1["ratio_range"][key]
        rows.append([key, f"{v:.2f}x", f"{lo:.2f}x", f"{hi:.2f}x", "ratio of medians"])
    return (f"1. Stage 1 vs micrograd, network {s1['sizes']}: training steps/s "
            f"({s1['repeats']} interleaved rounds of >= {s1['seconds']} s over "
            f"{s1['samples']} samples)", ["implementation", "median", "min", "max", "note"], rows)


def _stage2_table(res, dt: str):
    if not res or "rows" not in res:
        return None
    rows = []
    for r in res["rows"]:
        if not r.get("samples_per_s"):
            rows.append([r["name"], "-", "-", "-", "-", r.get("note") or "not run"])
            continue
        ratio = r.get("ratio_vs_torch")
        rows.append([r["name"], _fmt_rate(r["median"]), _fmt_rate(r["min"]),
                     _fmt_rate(r["max"]), f"{ratio:.2f}x" if ratio else "-",
                     f"max |w - w_readable| {r['max_weight_diff_vs_readable']:.1e}"
                     if r.get("max_weight_diff_vs_readable") is not None else ""])
    th = res.get("threads") or {}
    blas = th.get("numpy_blas") if th.get("numpy_blas") is not None else "default"
    return (f"2. Stage 2 vs torch at batch 1, {dt}, {res.get('sizes')}: samples/s "
            f"({res.get('repeats')} interleaved passes of {res.get('samples')} samples;"
            f" data: {res.get('data')}; torch threads {th.get('torch')}, numpy BLAS "
            f"threads {blas})", ["variant", "median", "min", "max", "x torch", "check"], rows)


def _stage3_row(dt, bs, row: dict, per: dict) -> list[str]:
    s, t, f = row["stage3"], row.get("torch"), row.get("fast_speedup_range")
    return [dt, bs, f"{s['median']:.3f} [{s['min']:.3f}-{s['max']:.3f}]",
            f"{row['fast_speedup']:.2f}x ({f[0]:.2f}-{f[1]:.2f}x)" if f else "-",
            f"{t['median']:.3f} [{t['min']:.3f}-{t['max']:.3f}]" if t else "-",
            (f"{row['ratio']:.2f}x" if row.get("ratio") else "-")
            + (f" (minima {row['ratio_of_minima']:.2f}x)" if row.get("ratio_of_minima") else ""),
            f"{row['gemm_bound_s']:.3f}",
            f"{100 * row['gemm_fraction']:.0f}%"
            + (f" (best {100 * row['gemm_fraction_best']:.0f}%)"
               if row.get("gemm_fraction_best") else ""),
            f"{per['peak_gflops']:.0f} / {row['shaped_gflops']:.0f}"]


def _stage3_table(s3: dict):
    if not s3.get("results"):
        return None
    rows = [_stage3_row(dt, bs, row, per) for dt, per in s3["results"].items()
            for bs, row in per.items() if isinstance(row, dict)]
    torch = (f"torch {s3['torch']} with {s3.get('torch_threads')} threads"
             if s3.get("torch") else "torch not installed")
    return (f"3. Stage 3 vs torch: seconds per epoch of {s3['n']:,} samples, "
            f"{'-'.join(map(str, s3.get('sizes', ())))}, median [min-max] of "
            f"{s3.get('repeats')} interleaved epochs; {torch}",
            ["dtype", "batch", "stage 3 s", "plain/fast (range)", "torch s",
             "stage3/torch (medians)", "GEMM-bound s", "of limit (median epoch)",
             "GFLOP/s peak / shapes"], rows)


def _ladder_table(results: dict):
    bars = ladder_bars(results)
    if not bars:
        return None
    base = bars[0]["samples_per_s"] if bars[0]["label"].startswith("stage 1") else None
    rows = [[b["label"], _fmt_rate(b["samples_per_s"]),
             f"{b['samples_per_s'] / base:,.0f}x" if base else "-", b["how"]] for b in bars]
    return ("4. The ladder: training samples/s at 784-300-10, float64",
            ["implementation", "samples/s", "x stage 1", "how measured"], rows)


def _memory_table(mem: dict):
    rows = [[dt, f"{r['n']:,}", f"{r['float_data_mb']:.0f}", f"{r['peak_mb']:.0f}",
             f"{r['baseline_mb']:.0f}", f"{r['limit_mb']:.0f}"]
            for dt, r in mem.items() if isinstance(r, dict) and "peak_mb" in r]
    if not rows:
        return None
    return ("5. Peak memory (RSS) of one stage-3 epoch in a fresh process, MB",
            ["dtype", "samples", "float data", "peak RSS", "python+numpy alone",
             "limit 1.5 x data + 100"], rows)


def environment_lines(results: dict) -> list[str]:
    env = results.get("environment") or {}
    cfg = results.get("config") or {}
    la0, la1 = env.get("loadavg_start"), env.get("loadavg_end")
    load = (f"; 1-min load average {la0[0]:.2f} at the start, {la1[0]:.2f} at the end"
            if la0 and la1 else "")
    busy = (la0 and env.get("cpus") and max(la0[0], (la1 or la0)[0]) > 0.75 * env["cpus"])
    lines = [f"mode: {cfg.get('mode', '?')}; {env.get('cpus', '?')} CPUs usable{load}"
             + ("; other work was running, so absolute times are noisier than usual (ratios "
                "of interleaved repeats less so)" if busy else ""),
             _threads_text(env, cfg.get("threads"))]
    if env.get("blas"):
        from shared.threads import kernel_lines

        lines += kernel_lines(env["blas"])
    return lines + ["versions: " + ", ".join(f"{k} {v}" for k, v in
                                            (env.get("versions") or {}).items()
                                            if k != "platform")]


def _threads_text(env: dict, forced) -> str:
    """The thread counts the measurements used (nothing about torch when it is absent)."""
    has_torch = env.get("torch") is not None
    if forced:
        return (f"threads: numpy BLAS {forced}" + (f" and torch {forced} at batch 32/128 "
                "(--threads), torch 1 at batch 1" if has_torch else " (--threads)"))
    torch = (f"; torch {env.get('torch_threads_default', '-')} (its default) at batch 32/128, "
             "1 at batch 1" if has_torch else "; torch not installed")
    return f"threads: numpy BLAS {env.get('numpy_threads', 'numpy default')}{torch}"


def format_text(results: dict) -> str:
    """The whole result as the terminal table (sections, then targets)."""
    parts = environment_lines(results)
    for title, headers, rows in section_tables(results):
        parts += ["", title, text_table(headers, rows)]
    for name, err in (results.get("errors") or {}).items():
        parts += ["", f"{name}: FAILED - {err}"]
    rows = results.get("targets") or []
    parts += ["", "Targets, measured side by side in this run:",
              text_table(TARGET_HEADERS, target_table_rows(rows))]
    parts += [f"  {r['key']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(parts)


def markdown(results: dict, figure: str | None = "ladder.png", heading: bool = True) -> str:
    """The summary as markdown (``speed.md``); ``figure`` is the ladder PNG's relative link."""
    rows = results.get("targets") or []
    npass = sum(r["result"] == "PASS" for r in rows)
    nmiss = sum(r["result"] == "MISS" for r in rows)
    lines = (["# Speed: the ladder against micrograd and PyTorch", ""] if heading else [])
    lines += [f"{npass} targets met, {nmiss} missed, {len(rows) - npass - nmiss} not measured. "
              "Every figure is a ratio measured side by side in one run (interleaved repeats, "
              "median; min-max in brackets). The machine is shared: absolute times are noisy, "
              "ratios less so.", ""]
    lines += [f"- {s}" for s in environment_lines(results)] + [""]
    lines += [md_table(TARGET_HEADERS, target_table_rows(rows)), ""]
    lines += [f"- `{r['key']}`: {r['note']}" for r in rows if r.get("note")] + [""]
    for name, err in (results.get("errors") or {}).items():
        lines += [f"**{name} failed:** `{err}`", ""]
    for title, headers, trows in section_tables(results):
        lines += [f"**{title}**", "", md_table(headers, trows), ""]
        if title.startswith("4.") and figure:
            lines += [f"![the ladder: training samples/s on a log axis]({figure})", ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- the chart
def plot_ladder(results: dict, path) -> Path | None:
    """The ladder as horizontal bars on a log axis (PNG via ``shared.plotting``); None when
    there is nothing to draw."""
    from shared.plotting import new_figure, save_figure

    bars = ladder_bars(results)
    if not bars:
        return None
    fig, axes = new_figure(width=8.0, height=0.5 * len(bars) + 1.6)
    ax = axes[0][0]
    colours = {"ladder": "tab:blue", "torch": "tab:orange"}
    ys = list(range(len(bars)))[::-1]
    for y, b in zip(ys, bars):
        ax.barh(y, b["samples_per_s"], color=colours[b["family"]])
        ax.text(b["samples_per_s"] * 1.08, y, _fmt_rate(b["samples_per_s"]), va="center",
                fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([b["label"] for b in bars], fontsize=8)
    ax.set_xscale("log")
    lo = min(b["samples_per_s"] for b in bars)
    hi = max(b["samples_per_s"] for b in bars)
    ax.set_xlim(lo / 3, hi * 6)
    ax.set_xlabel("training samples per second (log scale)")
    ax.set_title("The speed ladder: 784-300 (sigmoid)-10 (softmax), SGD, float64")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colours["ladder"], label="mlp-ladder stages"),
                       Patch(color=colours["torch"], label="PyTorch (CPU)")],
              loc="upper right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    return save_figure(fig, path)
