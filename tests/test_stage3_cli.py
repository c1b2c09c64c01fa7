"""Stage 3 command line (``python -m stage3_batched``) and ``run()``: the hand-out's commands as
written, ``--quick`` offline, the float64 default, runs that never lose or overwrite anything
silently (output folder checked first, configuration key with the thread count, refusal of a
different configuration's folder, ``--force``), the memory guard, divergence, bad data files, and
the CS3317 sweeps. Runs are tiny (the shipped MNIST sample, 1 epoch, a few hundred samples)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import shared.data
from shared.data import DataNotFoundError, load_dataset
from shared.errors import ConfigError, run_main
from shared.threads import blas_threads, set_threads
from stage3_batched import MLP
from stage3_batched import __main__ as cli
from stage3_batched.layers import ACTIVATIONS
from stage3_batched.run import SWEEPS, RunConfig, run, sweep_configs

TINY = ["--dataset", "mnist-sample", "--epochs", "1", "--limit", "300", "--no-progress"]


def cli_run(argv, capsys):
    """Exit status, stdout and stderr of the command run inside its error boundary."""
    code = run_main(cli.main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def record_of(folder):
    return json.loads((folder / "record.json").read_text())


def no_training(monkeypatch):
    """Make any data loading or training fail the test: the command must stop before."""
    def boom(*a, **k):
        raise AssertionError("data was loaded or training started")
    monkeypatch.setattr(shared.data, "load_dataset", boom)
    monkeypatch.setattr(cli, "run", boom)


# --------------------------------------------------------------------------- the hand-out's words
def parsed(argv):
    return cli.config_from_args(cli.parser().parse_args(argv))[0]


@pytest.mark.parametrize("handout,ours", [
    (["--hidden_dims", "256", "128", "--activation", "relu", "--learning_rate", "0.01"],
     ["--hidden-dims", "256", "128", "--activation", "relu", "--lr", "0.01"]),
    (["--hidden_dims", "256", "128", "64", "--momentum", "0.9"],
     ["--hidden-dims", "256", "128", "64", "--momentum", "0.9"]),
    (["--batch_size", "32", "--weight_decay", "0.001", "--lr_decay", "1"],
     ["--batch-size", "32", "--weight-decay", "0.001", "--lr-decay", "1"]),
])
def test_handout_spellings_give_the_same_config(handout, ours):
    a, b = parsed(handout), parsed(ours)
    assert a == b
    assert a != RunConfig().validate()          # the flags were not ignored


def test_handout_command_values_reach_the_config():
    cfg = parsed(["--hidden_dims", "256", "128", "--activation", "relu", "--learning_rate",
                  "0.01"])
    assert (cfg.hidden_dims, cfg.activation, cfg.lr) == ((256, 128), "relu", 0.01)
    assert cfg.dtype == "float64" and cfg.epochs == 30 and cfg.dataset == "fashion-mnist"


def test_handout_sweep_names_are_accepted():
    p = cli.parser()
    for name in ("hidden_dim", "num_layers", "learning_rate"):
        assert p.parse_args(["--sweep", name]).sweep == name
    assert SWEEPS["hidden_dim"]["values"] == [32, 64, 128, 256, 512]
    assert SWEEPS["num_layers"]["values"] == [1, 2, 3, 4]
    assert SWEEPS["learning_rate"]["values"] == [0.001, 0.005, 0.01, 0.05, 0.1]


def test_sweep_configs_vary_one_setting_on_validation_data():
    base = RunConfig(dataset="mnist-sample", epochs=2).validate()
    runs = sweep_configs(base, "num_layers")
    assert [cfg.hidden_dims for _, cfg in runs] == [(128,), (128, 64), (128, 64, 64),
                                                    (128, 64, 64, 64)]
    widths = [cfg.hidden_dims for _, cfg in sweep_configs(base, "hidden_dim")]
    assert widths == [(32, 16), (64, 32), (128, 64), (256, 128), (512, 256)]
    assert all(not cfg.final and cfg.epochs == 2 and cfg.lr == base.lr for _, cfg in runs)
    assert [cfg.lr for _, cfg in sweep_configs(base, "learning_rate")] == \
        SWEEPS["learning_rate"]["values"]
    with pytest.raises(ConfigError, match="unknown sweep 'depth'"):
        sweep_configs(base, "depth")


def test_stage4_sweeps_read_the_same_table_with_the_same_defaults():
    """One table of sweeps: stage 4's are the CLI's, by title, with the same values, the same
    meaning of width and depth, and defaults that are RunConfig's (the base run of each sweep
    is the default configuration)."""
    from stage4_analysis.experiments import cs3317, sweeps

    d = RunConfig()
    assert list(sweeps.SWEEPS) == [s["title"] for s in SWEEPS.values()]
    for s in SWEEPS.values():
        mine = sweeps.SWEEPS[s["title"]]
        assert mine["values"] == s["values"] and mine["default"] == s["default"]
        for v in s["values"]:
            assert mine["change"](v) == {s["field"]: s["set"](v)}
        base_value = s["set"](s["default"])
        assert base_value == getattr(d, s["field"]) == cs3317.BASE[s["field"]]


def test_cli_flags_record_keys_and_stage4_configs_come_from_runconfig():
    from dataclasses import fields

    from stage4_analysis.train import stage3_config

    names = {f.name for f in fields(RunConfig)}
    assert set(cli.FLAGS) == names
    p = cli.parser()
    for flag in cli.FLAGS.values():
        assert flag in p._option_string_actions, flag
    cfg = parsed([])
    key = cli.run_key_config(cfg, threads=1, fast=False)
    assert set(key) == names | {"threads", "fast"}
    s4 = stage3_config(dataset="fashion-mnist", final=True, seed=0)
    assert {k: v for k, v in s4.items() if k in names} == RunConfig().to_dict()
    with pytest.raises(TypeError, match="not RunConfig fields: hidden"):
        stage3_config(dataset="synth", final=False, seed=0, hidden=(3,))


# --------------------------------------------------------------------------- defaults
def test_default_config_is_the_handout_setup_in_float64():
    cfg = RunConfig().validate()
    assert (cfg.dataset, cfg.hidden_dims, cfg.activation, cfg.epochs) == (
        "fashion-mnist", (128, 64), "relu", 30)
    assert cfg.final and cfg.dtype == "float64"
    assert parsed([]) == cfg                    # the command line's default is the API's


def test_cli_float64_by_default_float32_on_request(tmp_path, capsys):
    for dtype, flag in (("float64", []), ("float32", ["--dtype", "float32"])):
        out = tmp_path / dtype
        code, _, err = cli_run([*TINY, "--out", str(out), *flag], capsys)
        assert code == 0, err
        assert record_of(out)["config"]["dtype"] == dtype
        with np.load(out / "model.npz") as f:
            assert f["linear1.W"].dtype == np.dtype(dtype)


def test_cli_monitors_validation_and_reads_the_test_split_once(tmp_path, capsys):
    out = tmp_path / "run"
    code, text, err = cli_run([*TINY, "--out", str(out)], capsys)
    assert code == 0, err
    m = record_of(out)["metrics"]
    assert m["split"] == "test" and (m["n_val"], m["n_test"]) == (1000, 1000)
    _, (xval, cval), _ = load_dataset("mnist-sample", seed=0)     # the held-out 1,000
    model = MLP.from_file(out / "model.npz")
    acc = np.mean(np.argmax(model.forward(xval), axis=1) == cval)
    np.testing.assert_allclose(acc, m["history"]["epochs"][-1]["val_acc"], rtol=0, atol=1e-12)
    assert m["evaluation"]["split"] == "test"
    np.testing.assert_allclose(m["evaluation"]["accuracy"], m["final"]["test_acc"], rtol=0,
                               atol=1e-12)
    assert (out / "confusion.png").exists() and (out / "mistakes.png").exists()
    assert "final test accuracy" in text and "evaluated once, after training" in text


# --------------------------------------------------------------------------- one run
def test_cli_run_writes_record_curves_and_model(tmp_path, capsys):
    out = tmp_path / "run"
    code, text, err = cli_run(["--dataset", "synth", "--quick", "--hidden-dims", "8",
                               "--activation", "tanh", "--epochs", "2", "--limit", "2000",
                               "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    assert "train loss" in text and "validation acc" in text
    assert "final validation accuracy" in text
    record = record_of(out)
    assert record["status"] == "ok" and len(record["metrics"]["history"]["epochs"]) == 2
    assert record["threads"] == record["config"]["threads"] == blas_threads()
    assert record["metrics"]["n_train"] == 2000
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "confusion.png").exists() and not (out / "mistakes.png").exists()  # not images
    ev = record["metrics"]["evaluation"]
    assert ev["split"] == "validation" and ev["classes"] == ["class 0", "class 1"]
    assert sum(map(sum, ev["confusion"])) == 10_000
    assert record["metrics"]["final"]["test_acc"] is None
    assert "doctor: " in text and "most confused" in text
    assert record["metrics"]["final"]["val_acc"] > 0.8
    model = MLP.from_file(out / "model.npz")            # rebuilt from the file alone
    assert model.num_parameters() == 2 * 8 + 8 + 8 * 2 + 2
    _, (xval, cval), _ = load_dataset("synth", seed=0)
    acc = np.mean(np.argmax(model.forward(xval), axis=1) == cval)
    np.testing.assert_allclose(acc, record["metrics"]["final"]["val_acc"], rtol=0, atol=1e-12)


def test_cli_bad_arguments_give_one_line_naming_the_flag(tmp_path, capsys):
    code, out, err = cli_run(["--dataset", "synth", "--momentum", "1.5",
                              "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.strip() == "error: --momentum must be in [0, 1), got 1.5"
    assert not (tmp_path / "o").exists()
    code, _, err = cli_run(["--dataset", "synth", "--lr", "-1"], capsys)
    assert code == 2 and "--lr must be > 0, got -1.0" in err
    code, _, err = cli_run(["--threads", "0"], capsys)
    assert code == 2 and "--threads" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:         # argparse's own check of a choice
        cli.main(["--activation", "swish"])
    assert e.value.code == 2 and "relu" in capsys.readouterr().err


def test_quick_limit_is_honoured_and_zero_refused(tmp_path, capsys):
    code, _, err = cli_run(["--quick", "--limit", "0"], capsys)
    assert code == 2 and err.strip() == "error: --limit must be an integer >= 1, got 0"
    out = tmp_path / "q"
    code, text, err = cli_run(["--quick", "--dataset", "mnist-sample", "--limit", "250",
                               "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    assert "quick mode: 3 epoch(s), at most 250 training samples" in text
    rec = record_of(out)
    assert rec["metrics"]["n_train"] == 250 and len(rec["metrics"]["history"]["epochs"]) == 3


def absent_fashion_mnist(monkeypatch, tmp_path):
    """Fashion-MNIST nowhere on this machine: no system folder, an empty cache, no data root,
    and its loader failing as it would."""
    spec = dataclasses.replace(shared.data.IDX_SETS["fashion-mnist"], system_dirs=())
    monkeypatch.setitem(shared.data.IDX_SETS, "fashion-mnist", spec)
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)

    def missing(*a, **k):
        raise DataNotFoundError("Fashion-MNIST: 4 file(s) not found")
    monkeypatch.setattr(shared.data, "load_fashion_mnist", missing)


def test_quick_runs_offline_on_the_mnist_sample(tmp_path, capsys, monkeypatch):
    absent_fashion_mnist(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    code, text, err = cli_run(["--quick", "--epochs", "1", "--limit", "300", "--no-progress"],
                              capsys)
    assert code == 0, err
    lines = [line for line in text.splitlines() if "Fashion-MNIST is not on this machine" in line]
    assert len(lines) == 1 and "mnist-sample" in lines[0]
    (folder,) = (tmp_path / "runs" / "stage3").iterdir()
    assert folder.name.startswith("mnist-sample-")
    assert record_of(folder)["config"]["dataset"] == "mnist-sample"
    assert not (tmp_path / "cache").exists()     # nothing downloaded, no empty cache folder
    # asking for Fashion-MNIST by name is never silently substituted
    code, _, err = cli_run(["--quick", "--dataset", "fashion-mnist", "--no-progress",
                            "--out", str(tmp_path / "f")], capsys)
    assert code == 2 and "Fashion-MNIST" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists()


def test_quick_never_downloads(tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("quick mode tried to download")
    monkeypatch.setattr(shared.data, "fetch_file", boom)
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    code, _, err = cli_run(["--quick", "--dataset", "mnist", "--no-progress",
                            "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.startswith("error: MNIST") and err.count("\n") == 1
    assert not (tmp_path / "cache").exists() and not (tmp_path / "o").exists()


def test_missing_download_leaves_no_empty_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    monkeypatch.setenv("MLP_LADDER_MNIST_MIRROR", "http://127.0.0.1:9/")   # refused at once
    code, _, err = cli_run(["--dataset", "mnist", "--epochs", "1", "--no-progress",
                            "--out", str(tmp_path / "runs" / "m")], capsys)
    assert code == 2 and err.startswith("error: MNIST") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_bad_idx_file_is_one_line(tmp_path, capsys, monkeypatch):
    """A complete data folder (so nothing else is looked up) whose training images are bad."""
    from shared.idx import write_idx

    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x12\x34\x56\x78" + bytes(60))
    monkeypatch.setenv("MLP_LADDER_DATA", str(tmp_path / "data"))
    code, _, err = cli_run(["--epochs", "1", "--no-progress", "--out", str(tmp_path / "o")],
                           capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert "train-images-idx3-ubyte" in err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- safe runs
def test_divergence_exits_1_with_a_record_and_no_model(tmp_path, capsys):
    out = tmp_path / "div"
    code, text, err = cli_run(["--dataset", "mnist-sample", "--epochs", "1", "--limit", "500",
                               "--lr", "1e3", "--activation", "sigmoid", "--no-progress",
                               "--out", str(out)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: diverged")
    rec = record_of(out)
    assert rec["status"] == "diverged" and rec["error"].startswith("diverged")
    assert not (out / "model.npz").exists() and (out / "curves.png").exists()
    assert "no model: the run diverged" in text


def test_cli_diverged_nan_run_exits_1(tmp_path, capsys):
    code, _, err = cli_run(["--dataset", "disc", "--hidden-dims", "8", "--lr", "1e30",
                            "--epochs", "2", "--batch-size", "4", "--out", str(tmp_path),
                            "--no-progress"], capsys)
    assert code == 1 and "diverged" in err
    assert record_of(tmp_path)["status"] == "diverged"


def test_output_folder_that_is_a_file_stops_before_data_is_loaded(tmp_path, capsys,
                                                                 monkeypatch):
    no_training(monkeypatch)
    target = tmp_path / "taken"
    target.write_text("mine")
    code, out, err = cli_run([*TINY, "--out", str(target)], capsys)
    assert code == 2 and err.strip() == (f"error: --out {target}: is a file, not a folder; "
                                         "choose a folder")
    assert target.read_text() == "mine" and out == ""


def test_output_folder_that_cannot_be_made_stops_before_data_is_loaded(tmp_path, capsys,
                                                                      monkeypatch):
    no_training(monkeypatch)
    (tmp_path / "file").write_text("")
    code, _, err = cli_run([*TINY, "--out", str(tmp_path / "file" / "run")], capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot create the folder" in err


def test_unwritable_output_folder_stops_before_data_is_loaded(tmp_path, capsys, monkeypatch):
    import os
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    no_training(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = cli_run([*TINY, "--out", str(locked)], capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and "not writable" in err


def test_rerun_replaces_knowingly_other_config_is_refused_force_replaces(tmp_path, capsys,
                                                                        monkeypatch):
    out = tmp_path / "o"
    code, text, _ = cli_run([*TINY, "--out", str(out)], capsys)
    assert code == 0 and "replaced" not in text
    first = record_of(out)
    code, text, _ = cli_run([*TINY, "--out", str(out)], capsys)
    assert code == 0 and f"replaced the earlier run of this configuration in {out}" in text
    second = record_of(out)
    assert second["key"] == first["key"] and second["created"] >= first["created"]
    # another configuration into the same folder: refused before anything runs
    with monkeypatch.context() as m:
        no_training(m)
        code, text, err = cli_run([*TINY, "--lr", "0.1", "--out", str(out)], capsys)
    assert code == 2 and text == ""
    assert err.count("\n") == 1 and "different configuration" in err and "--force" in err
    assert record_of(out) == second             # untouched
    code, text, _ = cli_run([*TINY, "--lr", "0.1", "--out", str(out), "--force"], capsys)
    assert code == 0 and "replaced the run of another configuration" in text
    assert record_of(out)["config"]["lr"] == 0.1


def test_foreign_files_in_out_are_not_overwritten(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    (tmp_path / "curves.png").write_bytes(b"someone's figure")
    code, _, err = cli_run([*TINY, "--out", str(tmp_path)], capsys)
    assert code == 2 and "curves.png" in err and "--force" in err
    assert (tmp_path / "curves.png").read_bytes() == b"someone's figure"


def test_thread_count_is_part_of_the_default_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = blas_threads()
    try:
        for n in (1, 2):
            code, _, err = cli_run([*TINY, "--threads", str(n)], capsys)
            assert code == 0, err
    finally:
        set_threads(before)
    folders = sorted((tmp_path / "runs" / "stage3").iterdir())
    threads = sorted(record_of(f)["threads"] for f in folders)
    if threads == [1, 1]:
        pytest.skip("the BLAS library here cannot run 2 threads")
    assert len(folders) == 2 and threads == [1, 2]
    assert len({record_of(f)["key"] for f in folders}) == 2


def test_network_too_large_for_memory_is_refused_with_the_estimate(tmp_path, capsys):
    code, out, err = cli_run([*TINY, "--hidden-dims", "10000000", "--out",
                              str(tmp_path / "big")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "784-10000000-10 network" in err and "GB" in err and "--hidden-dims" in err
    assert "train loss" not in out              # no training started
    assert not (tmp_path / "big").exists()


# --------------------------------------------------------------------------- sweeps
@pytest.mark.slow
def test_sweep_hidden_dim_prints_a_value_table_chosen_on_validation(tmp_path, capsys,
                                                                     monkeypatch):
    loads = []
    real = shared.data.load_dataset
    monkeypatch.setattr(shared.data, "load_dataset", lambda *a, **k: loads.append(a) or real(
        *a, **k))
    out = tmp_path / "sweep"
    code, text, err = cli_run(["--sweep", "hidden_dim", *TINY, "--out", str(out)], capsys)
    assert code == 0, err
    assert len(loads) == 1                      # the data is loaded once for all five runs
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if "validation acc" in line
                and "hidden_dim" in line)
    table = [line.lstrip("* ").split() for line in lines[head + 1:head + 6]]
    assert [row[0] for row in table] == ["32", "64", "128", "256", "512"]
    assert all(row[-1] == "ok" for row in table)
    accs = [float(row[1]) for row in table]
    (best,) = [line for line in lines[head + 1:head + 6] if line.startswith("*")]
    assert float(best.split()[2]) == max(accs)
    assert "test split was not used" in text
    rec = record_of(out)
    assert rec["metrics"]["best"] == SWEEPS["hidden_dim"]["values"][int(np.argmax(accs))]
    assert (out / "sweep.png").stat().st_size > 1000
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == sorted(f"hidden_dim-{v}" for v in SWEEPS["hidden_dim"]["values"])
    for v in SWEEPS["hidden_dim"]["values"]:
        sub = record_of(out / f"hidden_dim-{v}")
        assert sub["config"]["hidden_dims"] == [v, v // 2] and sub["config"]["final"] is False
        assert sub["metrics"]["split"] == "validation"


def test_sweep_refuses_the_flag_it_sets(capsys):
    code, _, err = cli_run(["--sweep", "learning_rate", "--lr", "0.1", *TINY], capsys)
    assert code == 2 and "--sweep learning_rate sets --lr itself" in err


# --------------------------------------------------------------------------- run() and RunConfig
def test_run_records_divergence():
    result = run(RunConfig(dataset="disc", hidden_dims=(8,), lr=1e30, epochs=3, batch_size=4),
                 progress=False)
    assert result["status"] == "diverged" and "diverged" in result["message"]
    json.dumps({k: v for k, v in result.items()}, default=str)


@pytest.mark.parametrize("kw,match", [
    ({"lr": 0}, "learning rate must be > 0, got 0"),
    ({"lr": -1.0}, "learning rate must be > 0"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ({"activation": "elu"}, ", ".join(ACTIVATIONS)),
    ({"optimizer": "lbfgs"}, "sgd, adam"),
    ({"batch_size": -3}, "batch size must be an integer >= 1, got -3"),
    ({"dataset": "cifar"}, "fashion-mnist"),
    ({"hidden_dims": (128, 0)}, "hidden width"),
    ({"dtype": "float16"}, "float32, float64"),
    ({"limit": 0}, "limit must be an integer >= 1, got 0"),
])
def test_run_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**kw).validate()


def test_run_refuses_a_network_too_large_before_building_it():
    from shared.errors import SizeError
    with pytest.raises(SizeError, match="hidden_dims"):
        run(RunConfig(dataset="disc", hidden_dims=(10**6, 10**6), epochs=1), progress=False)


@pytest.mark.slow
def test_mnist_sample_short_run_beats_90_percent_validation():
    result = run(RunConfig(dataset="mnist-sample", hidden_dims=(128, 64), epochs=5,
                           final=False, lr=0.05, momentum=0.9, batch_size=64), progress=False)
    assert result["split"] == "validation" and result["status"] == "ok"
    assert result["final"]["val_acc"] > 0.90, result["final"]


@pytest.mark.slow
def test_fashion_mnist_two_epochs_beat_80_percent_test(system_data):
    try:
        data = load_dataset("fashion-mnist", final=True, download=False, dtype=np.float32)
    except DataNotFoundError as e:
        pytest.skip(f"Fashion-MNIST not installed: {e}")
    result = run(RunConfig(dataset="fashion-mnist", epochs=2, batch_size=128, dtype="float32"),
                 progress=False, data=data)
    assert result["split"] == "test" and result["status"] == "ok"
    assert result["final"]["val_acc"] > 0.80, result["final"]


def test_fast_flag_reaches_fit_and_gives_the_plain_result(tmp_path, capsys):
    finals = {}
    for name, flag in (("plain", []), ("fast", ["--fast"])):
        code, _, err = cli_run([*TINY, "--out", str(tmp_path / name), *flag], capsys)
        assert code == 0, err
        rec = record_of(tmp_path / name)
        assert rec["config"]["fast"] is bool(flag)
        finals[name] = [rec["metrics"]["final"][k] for k in ("train_loss", "val_loss")]
    np.testing.assert_allclose(finals["fast"], finals["plain"], rtol=1e-9, atol=0)


def test_module_entry_point_goes_through_the_error_boundary():
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "stage3_batched", "--quick", "--limit", "0"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == "error: --limit must be an integer >= 1, got 0\n"
