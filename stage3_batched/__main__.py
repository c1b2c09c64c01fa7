"""``python -m stage3_batched``: train one batched MLP, or one of the CS3317 sweeps, from the
command line.

A run prints a table with one row per epoch, then writes into its output folder (default
``runs/stage3/<dataset>-<config key>/``): ``record.json`` (the run record, shared/records.py),
``curves.png`` (loss and accuracy curves drawn from that record), ``confusion.png`` (the
confusion matrix, counts and row-normalised), ``mistakes.png`` (the most confidently wrong images)
and ``model.npz`` (the trained model: ``MLP.from_file(path)`` rebuilds it; not written when the
run diverged). Every epoch is monitored on a validation split held out of the training data; the
run ends with the training doctor's lines (``shared.doctor``) and one evaluation on the test split
(the validation split for data sets without one, or with ``--validation``), naming the split,
with per-class accuracy and the most confused pair of classes.

The default is the CS3317 hand-out's Fashion-MNIST set-up: hidden layers [128, 64], ReLU,
30 epochs (SGD, learning rate 0.05, momentum 0.9, batch size 64, rate x 0.9 after every epoch),
float64. The hand-out's own spellings work as written (``--hidden_dims 256 128
--learning_rate 0.01``, ``--sweep hidden_dim``). ``--quick`` trains 3 epochs on 10,000 training
samples, for debugging; without Fashion-MNIST on the machine it trains on the shipped MNIST sample
and says so. ``--sweep NAME`` trains one run per value of the hand-out's sweep (values in
``stage3_batched.run.SWEEPS``), compares them on a validation split and draws ``sweep.png``.

Nothing is overwritten silently: the configuration key in the folder name covers everything that
changes the result, the BLAS thread count included; rerunning the same configuration replaces
its folder and says so; a ``--out`` folder holding a run of another configuration is refused
unless ``--force``. Output folders and arguments are checked before any data is loaded, memory
before the model is built.
Exit status: 0 trained, 1 diverged, 2 bad arguments, data or output folder.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import fields
from pathlib import Path

from shared.cli import epoch_count
from shared.errors import ConfigError, DivergedError, OutputPathError, check_output_dir, run_main
from shared.records import no_empty_folders_left
from stage3_batched.layers import ACTIVATIONS, INITS
from stage3_batched.optim import OPTIMIZERS
from stage3_batched.run import (
    DATASETS,
    DEFAULT_ADAM_LR,
    DTYPES,
    SWEEPS,
    TEST_SPLIT,
    RunConfig,
    flag_names,
    has_test_split,
    load_data,
    run,
    split_name,
    sweep_configs,
)

QUICK_EPOCHS, QUICK_LIMIT = 3, 10_000
QUICK_DATASET, QUICK_FALLBACK = "fashion-mnist", "mnist-sample"
RUNS = Path("runs") / "stage3"
OUTPUT_FILES = ("record.json", "curves.png", "model.npz", "sweep.png", "confusion.png",
                "mistakes.png")

#: RunConfig field -> the flag that sets it (error messages name the flag): derived from the
#: dataclass, as are the flags themselves (:func:`parser`).
FLAGS = flag_names()
#: Choices of the fields that have them.
CHOICES = {"dataset": DATASETS, "activation": tuple(ACTIVATIONS), "optimizer": tuple(OPTIMIZERS),
           "dtype": DTYPES, "init": INITS}
#: Argument types stricter than the field's own (a one-line error for a bad count).
TYPES = {"epochs": epoch_count}
#: Fields whose default depends on other flags (--quick, --optimizer): parsed as None, filled in
#: by :func:`config_from_args`.
LATE = ("dataset", "hidden_dims", "activation", "lr", "momentum", "batch_size", "epochs",
        "limit")


def _default_text(name: str, d: RunConfig) -> str:
    value = getattr(d, name)
    text = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
    extra = {"dataset": f"; with --quick: {QUICK_FALLBACK} when {QUICK_DATASET} is not on this "
                        "machine",
             "lr": f" for sgd, {DEFAULT_ADAM_LR} for adam",
             "epochs": f"; {QUICK_EPOCHS} with --quick",
             "limit": f"; {QUICK_LIMIT:,} with --quick"}.get(name, "")
    return f"(default: {'all' if value is None else text}{extra})"


def _add_setting(p: argparse.ArgumentParser, f, d: RunConfig) -> None:
    """One RunConfig field as a flag: its name with dashes, the hand-out's spellings, the help
    text and type of the field's metadata, its choices, its default (None for :data:`LATE`)."""
    meta = f.metadata
    kw = dict(meta["cli"], dest=f.name, help=f"{meta['help']} {_default_text(f.name, d)}")
    if f.name == "nesterov":
        kw = {"dest": f.name, "action": "store_true", "help": meta["help"]}
    else:
        kw["default"] = None if f.name in LATE else getattr(d, f.name)
        kw["type"] = TYPES.get(f.name, kw.get("type", str))
        if f.name in CHOICES:
            kw["choices"] = CHOICES[f.name]
    p.add_argument(FLAGS[f.name], *meta["aliases"], **kw)


def parser() -> argparse.ArgumentParser:
    d = RunConfig()
    p = argparse.ArgumentParser(
        prog="python -m stage3_batched",
        description="Train a batched numpy MLP (stage 3 of mlp-ladder) and save its run record, "
                    "learning curves and model; or run one of the CS3317 hyper-parameter sweeps. "
                    "Defaults: the CS3317 Fashion-MNIST set-up. The hand-out's spellings "
                    "(--hidden_dims, --learning_rate, --batch_size, ...) are accepted too.")
    for f in fields(RunConfig):
        if f.name != "final":                      # --validation, below
            _add_setting(p, f, d)
    _add_command_flags(p)
    return p


def _add_command_flags(p: argparse.ArgumentParser) -> None:
    """The flags that are not run settings: the split, quick mode, sweeps, output, threads."""
    p.add_argument("--validation", action="store_true",
                   help="never touch the test split: report the validation split held out of "
                        "the training data (which every epoch is monitored on anyway)")
    p.add_argument("--quick", action="store_true",
                   help=f"debug run: {QUICK_EPOCHS} epochs on {QUICK_LIMIT:,} training samples "
                        "unless --epochs / --limit say otherwise; never downloads")
    p.add_argument("--sweep", choices=tuple(SWEEPS), default=None,
                   help="train one run per value of a CS3317 sweep and compare them on "
                        "validation data: " + "; ".join(
                            f"{k} ({v['what']}) {v['values']}" for k, v in SWEEPS.items()))
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default: {RUNS}/<dataset>-<config key>, or "
                        f"{RUNS}/sweep-<name>-<dataset>-<key> for a sweep)")
    p.add_argument("--force", action="store_true",
                   help="replace what --out holds even if it is a run of another configuration")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for numpy (default: as many as the BLAS library chose); "
                        "1 avoids large slowdowns when other jobs keep the cores busy")
    p.add_argument("--fast", action="store_true",
                   help="train with the opt-in fast epoch of stage3_batched/fast.py (same "
                        "results; a run folder of its own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


# --------------------------------------------------------------------------- configuration
def _fashion_mnist_here() -> bool:
    """Whether every Fashion-MNIST file a run needs is on this machine (nothing downloaded)."""
    from shared.data import find_idx_files

    return all(p is not None for p in find_idx_files(QUICK_DATASET).values())


def config_from_args(args: argparse.Namespace) -> tuple[RunConfig, list[str]]:
    """The validated :class:`RunConfig` the flags describe, and the lines saying what
    ``--quick`` changed. Raises ConfigError naming the flag."""
    d = RunConfig()
    notes = []
    dataset = args.dataset or d.dataset
    if args.quick and args.dataset is None and not _fashion_mnist_here():
        dataset = QUICK_FALLBACK
        notes.append(f"quick mode: Fashion-MNIST is not on this machine (python -m shared.data "
                     f"--fetch fashion-mnist downloads it); training on the shipped "
                     f"{QUICK_FALLBACK} data set instead")
    lr = args.lr if args.lr is not None else (
        DEFAULT_ADAM_LR if args.optimizer == "adam" else d.lr)
    momentum = d.momentum if args.momentum is None else args.momentum
    if args.optimizer != "sgd":
        if args.momentum is not None and args.sweep != "momentum":
            raise ConfigError("--momentum applies to --optimizer sgd only (Adam uses its own "
                              "betas)")
        momentum = 0.0
    epochs = args.epochs if args.epochs is not None else (
        QUICK_EPOCHS if args.quick else d.epochs)
    limit = args.limit if args.limit is not None else (QUICK_LIMIT if args.quick else None)
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if f.name != "final"}
    late = {name: getattr(d, name) if given[name] is None else given[name] for name in LATE}
    late.update(dataset=dataset, lr=lr, momentum=momentum, epochs=epochs, limit=limit,
                hidden_dims=tuple(late["hidden_dims"]))
    cfg = RunConfig(**{**given, **late, "final": not args.validation})
    cfg.validate(FLAGS)
    if args.quick:
        notes.append(f"quick mode: {cfg.epochs} epoch(s), at most {cfg.limit:,} training samples")
    return cfg, notes


def _explicit_sweep_flag(args: argparse.Namespace, name: str) -> str | None:
    """The flag the user gave that sweep ``name`` would overrule, if any."""
    given = {"hidden_dims": args.hidden_dims is not None, "lr": args.lr is not None,
             "activation": args.activation is not None, "momentum": args.momentum is not None,
             "batch_size": args.batch_size is not None}
    field = SWEEPS[name]["field"]
    return FLAGS[field] if given.get(field) else None


def run_key_config(cfg: RunConfig, threads: int, fast: bool) -> dict:
    """Everything that changes a run's result: its config, the BLAS thread count (it can change
    the last bits of float sums) and whether the fast path trained it."""
    return {**cfg.to_dict(), "threads": threads, "fast": bool(fast)}


# --------------------------------------------------------------------------- output folders
def claim_output(out: Path, key: str, *, force: bool, flag: str = "--out") -> str:
    """Check the output folder ``out`` before any work, for a run whose config key is ``key``.

    Returns "new" (nothing of a run there), "same" (a run of the same configuration: it will be
    replaced) or "forced" (another configuration's run, replaced because of ``--force``). Raises
    OutputPathError when the folder cannot be written, or holds another configuration's run (or
    files a run writes but no record of ours) and ``force`` is off."""
    from shared.records import read_record

    check_output_dir(out, flag)
    present = [n for n in OUTPUT_FILES if (out / n).exists()]
    if not present:
        return "new"
    old = None
    if (out / "record.json").exists():
        with contextlib.suppress(ValueError, OSError):
            old = read_record(out / "record.json")
    if old is not None and old.get("key") == key:
        return "same"
    if force:
        return "forced"
    what = (f"a run of a different configuration (key {old.get('key')}, not {key})"
            if old is not None else f"{', '.join(present)} of something else")
    raise OutputPathError(f"{flag} {out}: already holds {what}; choose another folder or add "
                          "--force to replace it")


def _replaced_line(out: Path, state: str) -> str | None:
    if state == "same":
        return f"replaced the earlier run of this configuration in {out}"
    if state == "forced":
        return f"replaced the run of another configuration in {out} (--force)"
    return None


# --------------------------------------------------------------------------- one run
def plot_record(record: dict, path) -> Path:
    """Loss (per step and per epoch) and accuracy (per epoch) curves from a run record."""
    from shared.plotting import new_figure, save_figure

    hist = record["metrics"]["history"]
    split = "validation"                           # every epoch is monitored on validation data
    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    ax_loss, ax_acc = axes[0]
    steps = hist["step_loss"]
    epochs = [e["epoch"] for e in hist["epochs"]]
    per_epoch = len(steps) / max(len(epochs), 1) if epochs else 1
    if steps:
        ax_loss.plot([(i + 1) / per_epoch for i in range(len(steps))], steps, lw=0.5, alpha=0.35,
                     color="tab:blue", label="train (per step)")
    if epochs:
        ax_loss.plot(epochs, [e["train_loss"] for e in hist["epochs"]], "o-", color="tab:blue",
                     label="train (epoch mean)")
        if hist["epochs"][0]["val_loss"] is not None:
            ax_loss.plot(epochs, [e["val_loss"] for e in hist["epochs"]], "s-",
                         color="tab:orange", label=split)
            ax_acc.plot(epochs, [100 * e["val_acc"] for e in hist["epochs"]], "s-",
                        color="tab:orange", label=split)
        ax_acc.plot(epochs, [100 * e["train_acc"] for e in hist["epochs"]], "o-",
                    color="tab:blue", label="train (epoch mean)")
        _mark_final(ax_acc, record)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.lines:
            ax.legend()
    c = record["config"]
    decay = f" (x{c['lr_decay']:g}/epoch)" if c.get("lr_decay") not in (None, 1) else ""
    fig.suptitle(f"stage 3: {c['dataset']}, hidden {c['hidden_dims']}, {c['activation']}, "
                 f"{c['optimizer']} lr {c['lr']:g}{decay}, batch {c['batch_size']} "
                 f"({record['status']})")
    return save_figure(fig, path)


def _mark_final(ax, record: dict) -> None:
    """Write the run's final number on the accuracy panel: the test accuracy (measured once,
    after training) when there is one, else the last validation accuracy."""
    final, epochs = record["metrics"]["final"], record["metrics"]["history"]["epochs"]
    acc, what = final.get("test_acc"), "test (once, after training)"
    if acc is None:
        acc, what = final.get("val_acc"), "validation, last epoch"
    if acc is None:
        return
    ax.plot([epochs[-1]["epoch"]], [100 * acc], "*", ms=12, color="tab:red",
            label=f"{what}: {100 * acc:.2f} %")
    ax.annotate(f"{100 * acc:.2f} %", (epochs[-1]["epoch"], 100 * acc), textcoords="offset "
                "points", xytext=(-10, -16), ha="right", color="tab:red")


def plot_evaluation(record: dict, out: Path, evaluated, model) -> list[Path]:
    """``confusion.png`` from the record's evaluation and, for image data, ``mistakes.png``
    (the most confidently wrong images) from the evaluated data ``(X, c)``."""
    from shared.evaluation import from_dict, plot_confusion, plot_mistakes
    from shared.plotting import save_figure
    from stage3_batched.trainer import evaluate_classes

    ev = from_dict(record["metrics"]["evaluation"])
    title = f"stage 3, {record['config']['dataset']}"
    paths = [save_figure(plot_confusion(ev, title), out / "confusion.png")]
    X, c = evaluated
    if X.shape[1] == 784:
        full, Y = evaluate_classes(model, X, c, ev.names, ev.split)
        paths.append(save_figure(plot_mistakes(full, X, Y, c, title), out / "mistakes.png"))
    return paths


def _pct(v):
    return None if v is None else 100 * v


def _fmt(v, spec: str) -> str:
    """``v`` in the fixed-width ``spec`` (e.g. ``"10.4f"``), in scientific notation where the
    fixed-point text would not fit (a diverging loss), ``-`` for None: every row keeps the
    header's column widths."""
    width = int(spec.split(".")[0])
    if v is None:
        return "-".rjust(width)
    text = format(v, spec)
    return text if len(text) <= width else format(v, f"{width}.{max(width - 8, 1)}e")


def describe_model(cfg: RunConfig) -> str:
    return (f"model: hidden {list(cfg.hidden_dims)} ({cfg.activation}), {cfg.optimizer} "
            f"lr {cfg.lr:g}" + (f" momentum {cfg.momentum:g}" if cfg.optimizer == "sgd" else "")
            + (f", lr x {cfg.lr_decay:g} per epoch" if cfg.lr_decay not in (None, 1) else "")
            + f", batch {cfg.batch_size}, {cfg.epochs} epochs, {cfg.dtype}, seed {cfg.seed}")


def epoch_table(split: str):
    """The ``on_epoch`` that prints one row of the per-epoch table (the header before the first
    row, so nothing of the table shows when the run stops before training)."""
    header = (f"{'epoch':>5} {'train loss':>10} {'train acc %':>11} {split + ' loss':>15} "
              f"{split + ' acc %':>16} {'lr':>9} {'seconds':>7}")
    pct = (lambda v: None if v is None else 100 * v)

    def on_epoch(row):
        if row["epoch"] == 1:
            print(header)
            print("-" * len(header))
        print(f"{row['epoch']:>5} {_fmt(row['train_loss'], '10.4f')} "
              f"{_fmt(pct(row['train_acc']), '11.2f')} {_fmt(row['val_loss'], '15.4f')} "
              f"{_fmt(pct(row['val_acc']), '16.2f')} {row['lr']:>9.3g} {row['seconds']:>7.2f}",
              flush=True)

    return on_epoch


def epoch_function(fast: bool):
    """The epoch function ``fit`` trains with: the plain ``train_epoch``, or with ``--fast`` the
    opt-in ``stage3_batched.fast.train_epoch_fast`` (same weights, tested)."""
    if not fast:
        from stage3_batched.trainer import train_epoch
        return train_epoch
    from stage3_batched.fast import train_epoch_fast
    return train_epoch_fast


def train_and_save(cfg: RunConfig, out: Path, key_config: dict, *, progress: bool,
                   fast: bool, data=None, download: bool = True) -> dict:
    """Train one run, print its per-epoch table and write its folder: ``model.npz`` (only if the
    run did not diverge; a stale one from a replaced run is removed), ``record.json`` and
    ``curves.png``. Returns the record. ``data``: already loaded data; ``download=False``: never
    download missing data files (see ``run``)."""
    from shared.records import make_record, write_record

    split = split_name(cfg)
    result = run(cfg, progress=progress, return_model=True, on_epoch=epoch_table("validation"),
                 epoch=epoch_function(fast), flags=FLAGS, data=data, download=download)
    model, evaluated = result.pop("model"), result.pop("evaluated")
    metrics = {"history": result["history"], "final": result["final"], "split": split,
               "evaluation": result["evaluation"], "num_parameters": result["num_parameters"],
               "n_train": result["n_train"], "n_val": result["n_val"],
               "n_test": result["n_test"], "threads": key_config["threads"]}
    record = make_record("stage3", key_config, metrics, status=result["status"],
                         error=result["message"], wall_time=result["wall_time"])
    record["threads"] = key_config["threads"]
    model_path = out / "model.npz"
    if result["status"] == "ok":
        model.save(model_path)
    elif model_path.exists():                     # from the run this one replaces
        model_path.unlink()
    for name in ("confusion.png", "mistakes.png"):           # from the run this one replaces
        (out / name).unlink(missing_ok=True)
    write_record(out / "record.json", record)
    plot_record(record, out / "curves.png")
    if result["evaluation"] is not None:
        plot_evaluation(record, out, evaluated, model)
    return record


def main_one(args, cfg: RunConfig, notes: list[str], threads: int, fast: bool) -> int:
    from shared.data import describe
    from shared.records import config_key

    key_config = run_key_config(cfg, threads, fast)
    key = config_key(key_config)
    out = args.out or RUNS / f"{cfg.dataset}-{key}"
    with no_empty_folders_left(out):
        state = claim_output(out, key, force=args.force)
        for line in notes:
            print(line)
        print(f"data: {describe(cfg.dataset, final=False)}"
              + ("; the test split is evaluated once, after training" if has_test_split(cfg)
                 else "")
              + (f"; at most the first {cfg.limit:,} training samples" if cfg.limit else ""))
        print(describe_model(cfg) + f", {threads} BLAS thread(s)")
        record = train_and_save(cfg, out, key_config, progress=not args.no_progress, fast=fast,
                                download=not args.quick)
    replaced = _replaced_line(out, state)
    if replaced:
        print(replaced)
    print(doctor_report(record["metrics"]["history"]))
    if record["status"] != "ok":
        print(f"saved {out / 'record.json'}, {out / 'curves.png'} (no model: the run diverged)")
        raise DivergedError(record["error"])
    print_final(record, out)
    return 0


def doctor_report(history: dict) -> str:
    from shared.doctor import report

    return report(history)


def print_final(record: dict, out: Path) -> None:
    """The saved files, the final accuracies (the test split named as measured once, after
    training) and the evaluation's summary and per-class table."""
    m = record["metrics"]
    f, ev = m["final"], m.get("evaluation")
    pictures = [n for n in ("curves.png", "confusion.png", "mistakes.png") if (out / n).exists()]
    print(f"saved {out / 'record.json'}, " + ", ".join(str(out / n) for n in pictures)
          + f", {out / 'model.npz'}")
    print(f"last epoch: validation accuracy {100 * f['val_acc']:.2f} % (loss "
          f"{f['val_loss']:.4f}); train accuracy {100 * f['train_acc']:.2f} %; "
          f"{record['wall_time']:.1f} s")
    if f.get("test_acc") is not None:
        print(f"final test accuracy: {100 * f['test_acc']:.2f} % (loss {f['test_loss']:.4f}; "
              "the test split, evaluated once, after training)")
    else:
        print(f"final validation accuracy: {100 * f['val_acc']:.2f} % (the last epoch's; no "
              "test split used)")
    if ev is not None:
        from shared.evaluation import from_dict

        e = from_dict(ev)
        print(e.summary())
        print(f"per-class {e.split} accuracy:\n{e.table()}")


# --------------------------------------------------------------------------- sweeps
def _value_label(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def plot_sweep(name: str, rows: list[dict], records: list[dict], path) -> Path:
    """Validation accuracy per epoch for every value, and final validation / train accuracy
    against the value, from the runs' records."""
    from shared.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=2, width=5.5, height=4.0)
    ax_curve, ax_final = axes[0]
    for row, rec in zip(rows, records):
        ep = rec["metrics"]["history"]["epochs"]
        ax_curve.plot([e["epoch"] for e in ep], [100 * e["val_acc"] for e in ep], "o-", ms=3,
                      label=f"{name} {row['label']}"
                            + (" (diverged)" if row["status"] != "ok" else ""))
    xs = list(range(len(rows)))
    ax_final.plot(xs, [100 * r["val_acc"] if r["val_acc"] is not None else float("nan")
                       for r in rows], "s-", color="tab:orange", label="validation")
    ax_final.plot(xs, [100 * r["train_acc"] if r["train_acc"] is not None else float("nan")
                       for r in rows], "o--", color="tab:blue", label="train")
    ax_final.set_xticks(xs, [r["label"] for r in rows])
    ax_curve.xaxis.get_major_locator().set_params(integer=True)
    ax_curve.set(xlabel="epoch", ylabel="validation accuracy (%)", title="learning curves")
    ax_final.set(xlabel=f"{name}: {SWEEPS[name]['what']}",
                 ylabel="accuracy after the last epoch (%)", title="final accuracy")
    for ax in (ax_curve, ax_final):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    ok = [(x, r) for x, r in zip(xs, rows) if r["val_acc"] is not None]
    if ok:                                         # the best value's number, on the plot
        x, r = max(ok, key=lambda p: p[1]["val_acc"])
        ax_final.annotate(f"{100 * r['val_acc']:.2f} %", (x, 100 * r["val_acc"]),
                          xytext=(0, -14), textcoords="offset points", ha="center",
                          fontsize=8, color="tab:orange", fontweight="bold")
    fig.suptitle(f"stage 3 sweep {name} on {records[0]['config']['dataset']} "
                 f"(chosen on the validation split; one seed, {records[0]['config']['seed']})")
    return save_figure(fig, path)


def main_sweep(args, base: RunConfig, notes: list[str], threads: int, fast: bool) -> int:
    from shared.records import config_key

    name = args.sweep
    _check_sweep(args, base, name)
    runs = sweep_configs(base, name)
    keyed = [(v, cfg, run_key_config(cfg, threads, fast)) for v, cfg in runs]
    sweep_config = {"sweep": name, "values": SWEEPS[name]["values"],
                    "runs": [config_key(k) for _, _, k in keyed], "threads": threads,
                    "fast": bool(fast)}
    key = config_key(sweep_config)
    out = args.out or RUNS / f"sweep-{name}-{base.dataset}-{key}"
    subs = [out / f"{name}-{_value_label(v)}" for v, _, _ in keyed]
    with no_empty_folders_left(out, *subs):
        state = claim_output(out, key, force=args.force)
        sub_states = [claim_output(sub, config_key(k), force=args.force or state != "new")
                      for sub, (_, _, k) in zip(subs, keyed)]
        for line in notes:
            print(line)
        _print_sweep_header(name, base, runs)
        data = load_data(runs[0][1], download=not args.quick)   # the same data for every value
        rows, records = _train_sweep(args, name, keyed, subs, fast, data)
        best = _write_sweep(name, rows, records, sweep_config, threads, out)
    _print_sweep_table(name, rows, best)
    for line in [_replaced_line(out, state)] + [
            _replaced_line(s, st) for s, st in zip(subs, sub_states) if state == "new"]:
        if line:
            print(line)
    print(f"saved {out / 'record.json'}, {out / 'sweep.png'} and one folder per value in {out}")
    if best is None:
        raise DivergedError(f"every run of the sweep {name} diverged")
    _print_sweep_verdict(name, base, best)
    return 0


def _check_sweep(args, base: RunConfig, name: str) -> None:
    """A sweep refuses the flag it sets itself, and momentum without SGD."""
    flag = _explicit_sweep_flag(args, name)
    if flag:
        raise ConfigError(f"--sweep {name} sets {flag} itself ({SWEEPS[name]['values']}); "
                          f"leave out {flag}")
    if name == "momentum" and base.optimizer != "sgd":
        raise ConfigError("--sweep momentum needs --optimizer sgd (Adam has no momentum setting)")


def _print_sweep_header(name: str, base: RunConfig, runs) -> None:
    from shared.data import describe

    cfg0 = runs[0][1]
    print(f"sweep {name}: {SWEEPS[name]['what']} = "
          f"{', '.join(_value_label(v) for v, _ in runs)}; every other setting as below; "
          "compared on a validation split held out of the training data"
          + (" (the test split is not used)" if base.dataset in TEST_SPLIT else ""))
    print(f"data: {describe(cfg0.dataset, final=False)}"
          + (f"; at most the first {cfg0.limit:,} training samples" if cfg0.limit else ""))


def _train_sweep(args, name: str, keyed, subs, fast: bool, data) -> tuple[list, list]:
    """Train every value of the sweep into its folder; ``(rows, records)``."""
    rows, records = [], []
    for (v, cfg, kc), sub in zip(keyed, subs):
        print(f"\n{name} = {_value_label(v)}: " + describe_model(cfg)[len("model: "):])
        rec = train_and_save(cfg, sub, kc, progress=not args.no_progress, fast=fast, data=data)
        f = rec["metrics"]["final"]
        rows.append({"value": v, "label": _value_label(v), "status": rec["status"],
                     "val_acc": f["val_acc"], "val_loss": f["val_loss"],
                     "train_acc": f["train_acc"], "folder": str(sub),
                     "seconds": rec["wall_time"]})
        records.append(rec)
        if rec["status"] != "ok":
            print(f"{name} = {_value_label(v)}: {rec['error']}")
    return rows, records


def _write_sweep(name: str, rows, records, sweep_config: dict, threads: int, out: Path):
    """The sweep's record and figure; returns the best row (None when every run diverged)."""
    from shared.records import make_record, write_record

    ok = [r for r in rows if r["status"] == "ok"]
    best = max(ok, key=lambda r: (r["val_acc"], -r["val_loss"])) if ok else None
    metrics = {"sweep": name, "rows": rows, "split": "validation",
               "best": None if best is None else best["value"]}
    record = make_record("stage3-sweep", sweep_config, metrics,
                         status="ok" if ok else "diverged",
                         error=None if ok else "every run of the sweep diverged",
                         wall_time=sum(r["seconds"] for r in rows))
    record["threads"] = threads
    write_record(out / "record.json", record)
    plot_sweep(name, rows, records, out / "sweep.png")
    return best


def _print_sweep_table(name: str, rows, best) -> None:
    print(f"\n{'':2}{name:>14} {'validation acc %':>16} {'validation loss':>15} "
          f"{'train acc %':>11} {'seconds':>8}  status")
    for r in rows:
        mark = "*" if best is not None and r is best else " "
        print(f"{mark:2}{r['label']:>14} {_fmt(_pct(r['val_acc']), '16.2f')} "
              f"{_fmt(r['val_loss'], '15.4f')} {_fmt(_pct(r['train_acc']), '11.2f')} "
              f"{r['seconds']:>8.1f}  {r['status']}")


def _print_sweep_verdict(name: str, base: RunConfig, best: dict) -> None:
    after = ("the test split was not used: train that configuration without --validation to "
             "measure it once" if base.dataset in TEST_SPLIT else
             f"{base.dataset} has no separate test split")
    print(f"best {name} on the validation split: {best['label']} (validation accuracy "
          f"{100 * best['val_acc']:.2f} %, ties broken by the lower validation loss); {after}")
    print(f"one seed ({base.seed}) per value: differences of a few tenths of a point can be noise "
          "between seeds; python -m stage4_analysis --full --only sweeps runs three seeds per "
          "value with error bars")


# --------------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    from shared.threads import set_threads

    args = parser().parse_args(argv)
    fast = args.fast
    threads = set_threads(args.threads)              # ConfigError below 1
    cfg, notes = config_from_args(args)
    if args.sweep:
        return main_sweep(args, cfg, notes, threads, fast)
    return main_one(args, cfg, notes, threads, fast)


if __name__ == "__main__":
    raise SystemExit(run_main(main))
