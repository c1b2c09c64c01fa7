"""Stage 2's training: ``fit`` (shuffles, accumulation, history, divergence, the opt-in in-place
path against the readable one) and the command line (record, figure, weights, bad input, a
diverged run). Small sizes only; the real MNIST run is a command (``python -m
stage2_perinstance``), not a test."""

import json
import random
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import stage2_perinstance as s2
from shared import records
from shared import weights as wf
from shared.data import DataNotFoundError, load_synth
from shared.errors import run_main
from shared.records import no_empty_folders_left
from shared.weights import load_json
from stage2_perinstance.__main__ import main
from stage2_perinstance.fast import InPlaceEpoch
from stage2_perinstance.train import evaluate, sgd_epoch, smooth

EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


@pytest.fixture(scope="module")
def synth():
    train, val, _ = load_synth(num_train=400, num_val=200, seed=0)
    return train, val


def test_fit_lowers_the_loss_and_keeps_its_promises(synth):
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    W_before = w0["layers"][0]["W"].copy()
    before, _ = evaluate(w0, *train)
    w, h = s2.fit(w0, train, val, epochs=3, lr=0.3, rng=np.random.default_rng(0),
                  progress=False)
    assert h["status"] == "ok" and h["message"] is None and h["path"] == "network.py"
    assert len(h["step_loss"]) == 3 * 400 and h["log_every"] == 1
    assert [e["epoch"] for e in h["epochs"]] == [1, 2, 3]
    for e in h["epochs"]:
        assert EPOCH_KEYS <= set(e)
        assert 0 <= e["train_acc"] <= 1 and 0 <= e["val_acc"] <= 1 and e["lr"] == 0.3
    assert h["epochs"][-1]["train_loss"] < 0.8 * before
    assert h["epochs"][-1]["val_acc"] > 0.75  # chance is ~0.56 on synth
    assert_allclose(h["epochs"][-1]["train_loss"], evaluate(w, *train)[0], rtol=1e-12)
    json.dumps(h)  # a history is plain JSON: it goes into run records as it is
    assert np.array_equal(w0["layers"][0]["W"], W_before)  # the input weights are untouched


@pytest.mark.parametrize("fast", [False, True], ids=["network.py", "fast.py"])
@pytest.mark.parametrize("accumulate", [1, 3])
def test_fit_is_sgd_train_on_each_epochs_permutation(synth, accumulate, fast):
    """fit draws one rng.permutation(N) per epoch and nothing else; each epoch then equals the
    ladder's sgd_train on the permuted samples with batch_size = accumulate."""
    (X, c), _ = synth
    X, c = X[:50], c[:50]
    w0 = s2.init_weights([2, 5, 2], np.random.default_rng(1))
    epoch = InPlaceEpoch(skip_zero_inputs=False) if fast else sgd_epoch
    w, h = s2.fit(w0, (X, c), None, epochs=2, lr=0.2, accumulate=accumulate, epoch=epoch,
                  rng=np.random.default_rng(7), progress=False)
    rng = np.random.default_rng(7)
    expect, losses = w0, []
    for _ in range(2):
        perm = rng.permutation(len(X))
        expect = s2.sgd_train(expect, X[perm], c[perm], 0.2, batch_size=accumulate,
                              losses=losses)
    for a, b in zip(w["layers"], expect["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-12, atol=1e-14)
        assert_allclose(a["b"], b["b"], rtol=1e-12, atol=1e-14)
    if accumulate == 1:  # step_loss is the loss of each sample before its update
        assert_allclose(h["step_loss"], losses, rtol=1e-12)
    assert h["epochs"][0]["val_loss"] is None


def test_log_every_stores_block_means(synth):
    (X, c), _ = synth
    w0 = s2.init_weights([2, 4, 2], random.Random(2))
    _, full = s2.fit(w0, (X[:10], c[:10]), None, epochs=1, lr=0.1,
                     rng=np.random.default_rng(3), progress=False)
    _, thin = s2.fit(w0, (X[:10], c[:10]), None, epochs=1, lr=0.1,
                     rng=np.random.default_rng(3), progress=False, log_every=4)
    s = full["step_loss"]
    assert thin["log_every"] == 4
    assert_allclose(thin["step_loss"], [np.mean(s[0:4]), np.mean(s[4:8]), np.mean(s[8:10])],
                    rtol=1e-14)


@pytest.mark.parametrize("fast", [False, True], ids=["network.py", "fast.py"])
@pytest.mark.parametrize("lr, where", [(1e3, "the mean training loss of epoch 1 is"),
                                       (1e308, "the training loss became nan at epoch 1")])
def test_fit_reports_divergence(synth, lr, where, fast):
    """lr 1e3: the epoch's mean loss grows past 3 ln K while staying finite (the stable
    log-softmax never makes nan); lr 1e308: the weights overflow and a sample's loss is nan. Both
    stop training, quietly (no numpy warnings), with status "diverged" and the one rule's
    message (shared.divergence)."""
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = s2.fit(w0, train, val, epochs=3, lr=lr, rng=np.random.default_rng(0),
                      progress=False, epoch=InPlaceEpoch() if fast else sgd_epoch)
    assert h["status"] == "diverged"
    assert h["message"].startswith("diverged: ") and where in h["message"]
    assert f"learning rate {lr:g}" in h["message"]
    assert len(h["epochs"]) < 3
    if h["epochs"]:                                  # the message quotes a number of the table
        row = h["epochs"][-1]
        assert (f"{row['train_loss']:.4g}" in h["message"]
                or f"{row['train_loss_running']:.4g}" in h["message"])


def test_divergence_is_judged_on_the_loss_the_epoch_line_shows():
    """The training loss after the epoch above 3 ln K stops the run, even when the mean over
    the samples during the epoch stayed below it; the message quotes the table's number."""
    from stage2_perinstance.train import Watch

    w = s2.init_weights([2, 3, 2], random.Random(0))
    w = wf.to_arrays(w)
    w["layers"][1]["W"] *= 1000.0                     # confident, and half the labels disagree
    X = np.array([[1.0, -1.0]] * 4)
    watch = Watch(w, (X, np.array([0, 1, 0, 1])), None, epochs=2, lr=0.1, log_every=1,
                  progress=False, log=None, path="network.py", skip_zero_inputs=False)
    watch.step(0.5)                                   # the running mean: 0.5 < 3 ln 2
    train_loss = evaluate(w, X, np.array([0, 1, 0, 1]))[0]
    assert train_loss > 3 * np.log(2)
    assert watch.end_epoch(1) is False
    assert f"the mean training loss of epoch 1 is {train_loss:.4g}" in watch.history["message"]
    watch.close()


@pytest.mark.parametrize("activation", wf.ACTIVATIONS)
@pytest.mark.parametrize("accumulate", [1, 4])
def test_the_fast_path_gives_the_plain_paths_weights(activation, accumulate):
    """fit(epoch=InPlaceEpoch()) (in place, zero inputs skipped on these mostly-zero inputs)
    ends with the weights of the default fit through network.py: float64, rtol 1e-12."""
    rng = np.random.default_rng(5)
    X = rng.random((60, 12))
    X[rng.random(X.shape) < 0.7] = 0.0
    c = rng.integers(0, 3, 60)
    w0 = s2.init_weights([12, 6, 5, 3], random.Random(2), activation=activation)
    kw = dict(epochs=2, lr=0.3, accumulate=accumulate, progress=False)
    plain, hp = s2.fit(w0, (X, c), None, rng=np.random.default_rng(1), **kw)
    fast, hf = s2.fit(w0, (X, c), None, rng=np.random.default_rng(1), epoch=InPlaceEpoch(), **kw)
    assert hp["path"] == "network.py" and not hp["skip_zero_inputs"]
    assert hf["path"] == "fast.py" and hf["skip_zero_inputs"]
    moved = np.abs(plain["layers"][0]["W"] - w0["layers"][0]["W"]).max()
    assert moved > 1e-3  # it trained: the comparison is not vacuous
    for a, b in zip(fast["layers"], plain["layers"]):
        assert_allclose(a["W"], b["W"], rtol=1e-12, atol=1e-14)
        assert_allclose(a["b"], b["b"], rtol=1e-12, atol=1e-14)
    assert_allclose(hf["step_loss"], hp["step_loss"], rtol=1e-12)
    with pytest.raises(ValueError, match="fused output gradient"):
        s2.fit(w0, (X, c), None, rng=np.random.default_rng(1), epoch=InPlaceEpoch(), fused=False,
               **kw)


def test_fit_rejects_bad_arguments(synth):
    train, val = synth
    w0 = s2.init_weights([2, 3, 2], random.Random(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="lr must be"):
        s2.fit(w0, train, val, epochs=1, lr=-0.1, rng=rng)
    with pytest.raises(ValueError, match="accumulate must be"):
        s2.fit(w0, train, val, epochs=1, lr=0.1, accumulate=0, rng=rng)
    with pytest.raises(TypeError, match="numpy Generator"):
        s2.fit(w0, train, val, epochs=1, lr=0.1, rng=random.Random(0))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        s2.fit(w0, (np.zeros((4, 3)), np.zeros(4, int)), None, epochs=1, lr=0.1, rng=rng)


def test_fit_in_float32(synth):
    train, val = synth
    w0 = s2.init_weights([2, 8, 2], random.Random(0))
    w, h = s2.fit(w0, train, val, epochs=2, lr=0.3, rng=np.random.default_rng(0),
                  progress=False, dtype="float32")
    assert w["layers"][0]["W"].dtype == np.float32 and h["dtype"] == "float32"
    _, h64 = s2.fit(w0, train, val, epochs=2, lr=0.3, rng=np.random.default_rng(0),
                    progress=False)
    assert_allclose(h["epochs"][-1]["train_loss"], h64["epochs"][-1]["train_loss"], rtol=1e-3)


def test_smooth_by_hand():
    assert_allclose(smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    assert_allclose(smooth([2, np.nan, 4], 3), [2, 2, 3])


# --------------------------------------------------------------------------- the command line
def test_cli_on_synth_writes_record_figure_and_weights(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--dataset", "synth", "--limit", "300", "--epochs", "2", "--hidden", "6",
                 "--lr", "0.3", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "epoch 2/2: train loss" in text and "val acc" in text
    rec = records.read_record(out / "record.json")
    assert rec["status"] == "ok" and rec["config"]["sizes"] == [2, 6, 2]
    assert rec["config"]["path"] == "network.py" and rec["config"]["activation"] == "sigmoid"
    assert isinstance(rec["threads"], int) and rec["threads"] >= 1
    assert rec["config"]["n_train"] == 300 and len(rec["metrics"]["step_loss"]) == 600
    assert len(rec["metrics"]["epochs"]) == 2
    assert (out / "loss_curve.png").stat().st_size > 10_000
    assert load_json(out / "weights.json")["sizes"] == [2, 6, 2]


def test_cli_on_the_mnist_sample(tmp_path, capsys):
    out = tmp_path / "mnist"
    code = main(["--limit", "120", "--epochs", "1", "--hidden", "16", "--accumulate", "4",
                 "--dtype", "float32", "--out", str(out), "--no-progress", "--log-every", "10",
                 "--fast"])
    assert code == 0, capsys.readouterr().err
    rec = records.read_record(out / "record.json")
    assert rec["config"]["sizes"] == [784, 16, 10] and rec["config"]["dtype"] == "float32"
    assert rec["config"]["skip_zero_inputs"] is True  # MNIST is mostly zeros
    assert rec["config"]["path"] == "fast.py"
    assert len(rec["metrics"]["step_loss"]) == 12
    assert (out / "loss_curve.png").exists()
    assert (out / "confusion.png").exists() and (out / "mistakes.png").exists()
    ev = rec["metrics"]["evaluation"]
    assert ev["split"] == "test" and sum(map(sum, ev["confusion"])) == 1000
    assert "test accuracy (the test split, evaluated once after training)" in \
        capsys.readouterr().out


def test_fast_runs_get_a_folder_of_their_own(tmp_path, monkeypatch, capsys):
    """The default output folder's key covers the path: --fast never replaces a plain run."""
    monkeypatch.chdir(tmp_path)
    argv = ["--dataset", "synth", "--limit", "50", "--epochs", "1", "--hidden", "3",
            "--no-progress", "--no-plot"]
    assert main(argv) == 0 and main([*argv, "--fast"]) == 0, capsys.readouterr().err
    folders = sorted((tmp_path / "runs" / "stage2_perinstance").iterdir())
    assert len(folders) == 2
    paths = sorted(records.read_record(f / "record.json")["config"]["path"] for f in folders)
    assert paths == ["fast.py", "network.py"]


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--lr", "-1"])
    assert e.value.code == 2
    assert "expected a finite positive number, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--dataset", "cifar"])
    assert "invalid choice: 'cifar'" in capsys.readouterr().err


def status_of(argv) -> int:
    """Exit status of the command in-process: run_main's, or argparse's SystemExit code."""
    try:
        return run_main(main, argv)
    except SystemExit as e:
        return e.code


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    base = ["--dataset", "synth", "--limit", "40", "--epochs", "1", "--hidden", "3",
            "--no-plot", "--no-progress", "--out", str(tmp_path / "o")]
    for extra, message in [
        (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
        (["--activation", "softplus"], "argument --activation: invalid choice"),
        (["--hidden", "100000000000"], "needs about"),
        (["--fast", "--backward", "jacobian"], "--fast computes the fused output gradient"),
    ]:
        assert status_of(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err, extra
        assert err.count("\n") == 1 and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert run_main(main, base + ["--out", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "mine"


def test_a_diverged_run_is_recorded_not_saved_and_exits_1(tmp_path, capsys):
    out = tmp_path / "run"
    code = run_main(main, ["--dataset", "synth", "--limit", "100", "--epochs", "3", "--hidden",
                           "4", "--lr", "1e308", "--no-plot", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: diverged:") and err.count("\n") == 1
    rec = records.read_record(out / "record.json")
    assert rec["status"] == "diverged" and rec["error"] in err
    assert not (out / "weights.json").exists()


def test_a_data_set_that_cannot_be_fetched_leaves_no_empty_cache_folder(tmp_path, monkeypatch,
                                                                         capsys):
    import shared.data

    cache = tmp_path / "cache"
    monkeypatch.setenv("MLP_LADDER_CACHE", str(cache))

    def not_found(name, **kw):
        from shared.download import DownloadError, download

        try:  # a download that fails at once: no mirror to try
            download([], cache / name / "train-images-idx3-ubyte.gz", md5="0" * 32)
        except DownloadError:
            raise DataNotFoundError(f"{name}: not found (test)") from None

    monkeypatch.setattr(shared.data, "load_dataset", not_found)
    assert run_main(main, ["--dataset", "mnist", "--out", str(tmp_path / "o")]) == 2
    assert "not found (test)" in capsys.readouterr().err
    assert not cache.exists() and not (tmp_path / "o").exists()
    keep = tmp_path / "keep"
    keep.mkdir()
    with pytest.raises(RuntimeError), no_empty_folders_left(keep, keep / "new"):
        (keep / "new").mkdir()
        raise RuntimeError
    assert keep.is_dir() and not (keep / "new").exists()  # only what the block created goes
