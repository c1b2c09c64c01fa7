"""Stage 4: the disc test, the digit networks, the 2-D autoencoder vs PCA, the Iris study
and the softmax Jacobian - tiny versions through the real reproduction, plus independent oracles
(covariance eigenvalues for PCA, hand-written finite differences for the Jacobian)."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shared.records import read_record
from stage4_analysis import runs
from stage4_analysis.cli import reproduce
from stage4_analysis.experiments import autoencoder, digits, disc, iris, jacobian
from stage4_analysis.runs import Context, SkipExperiment

EXTRAS = ["disc", "digits", "autoencoder", "iris", "jacobian"]
EPOCHS, LIMIT = 2, 300


@contextlib.contextmanager
def small_settings():
    """The modules' constants shrunk for the tests (restored afterwards)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(disc, "SEEDS", (0,))
        mp.setattr(iris, "LRS", (0.03, 0.3))
        mp.setattr(iris, "HIDDEN", (2, 8))
        mp.setattr(autoencoder, "TRAVERSAL", 4)
        mp.setattr(autoencoder, "KNN_REFERENCE", 200)
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny quick-mode reproduction of the five experiments (shared by the tests below)."""
    out = tmp_path_factory.mktemp("extras")
    with small_settings():
        res = reproduce(EXTRAS, quick=True, out=out, jobs=2, progress=False,
                        options={"epochs": EPOCHS, "limit": LIMIT, "seeds": 1})
    return out, res


def records(out, store):
    """The records of experiment module ``store`` (all of its run functions)."""
    recs = [read_record(p) for p in sorted((out / "runs").glob(f"{store}.*/*.json"))]
    assert recs, f"no records in runs/{store}.*"
    return recs


def test_small_versions_produce_records_figures_and_sections(run):
    out, res = run
    assert res["failed"] == []
    assert res["sections"] == {n: "ok" for n in EXTRAS}
    report = (out / "report.md").read_text()
    for mod in (disc, digits, autoencoder, iris, jacobian):
        assert mod.TITLE in report
        section = (out / "sections" / f"{mod.NAME}.md").read_text()
        figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
        assert figs, f"{mod.NAME}: no figure in its section"
        for rel in figs:
            p = out / rel
            assert p.exists() and p.stat().st_size > 1000, p
        for rec in records(out, mod.__name__.rsplit(".", 1)[-1]):
            assert rec["status"] == "ok", (mod.NAME, rec["error"])
    assert {"disc_hidden.png", "disc_boundary.png"} <= {
        p.name for p in (out / "figures" / "disc").iterdir()}
    assert {"autoencoder_latent_vs_pca.png", "autoencoder_reconstructions.png",
            "autoencoder_grid.png", "autoencoder_training.png"} <= {
        p.name for p in (out / "figures" / "autoencoder").iterdir()}


def test_second_invocation_only_replots(run, tmp_path):
    out, _ = run
    with small_settings():
        res = reproduce(["jacobian", "iris", "digits"], quick=True, out=out, jobs=1,
                        progress=False, options={"epochs": EPOCHS, "limit": LIMIT, "seeds": 1})
    assert res["executed"] == 0 and res["reused"] == 1 + 4 + 2


# --- disc ---------------------------------------------------------------------

def test_disc_hidden_representation_and_output_line(run):
    out, _ = run
    (rec,) = records(out, "disc")
    m, cfg = rec["metrics"], rec["config"]
    assert [s["epoch"] for s in m["snapshots"]] == cfg["snapshots"] == [0, 1, 2]
    for s in m["snapshots"]:
        assert runs.unpack_array(s["h"]).shape == (1000, 2)
    assert runs.unpack_array(m["x"]).shape == (1000, 2)
    y = runs.unpack_array(m["y"])
    assert y.shape == (1000,) and set(np.unique(y)) == {0, 1}
    # The output unit is a logistic regression on layer2's output: its line must classify the
    # stored representation exactly as the network did (accuracy measured by evaluate()).
    f = m["final"]
    acc_all = (f["train_acc"] * m["n_train"] + f["val_acc"] * m["n_val"]) / 1000
    assert disc.separated(m["snapshots"][-1], y) == pytest.approx(acc_all, abs=1e-12)
    assert runs.unpack_array(m["grid_p"]).shape == (cfg["grid"], cfg["grid"])
    assert len(m["epochs"]) == EPOCHS


def test_disc_model_names_layer2():
    model = disc.build_model(disc.config(Context(), 0), np.random.default_rng(0))
    X = np.random.default_rng(1).uniform(-1, 1, (7, 2))
    assert model.forward(X, end="layer2").shape == (7, 2)
    p = model.forward(X)
    assert p.shape == (7, 1) and np.all((p > 0) & (p < 1))


def test_pack_roundtrip():
    a = np.random.default_rng(0).normal(size=(3, 4))
    b = runs.unpack_array(runs.pack_array(a, "<f8"))
    assert b.dtype == np.float64 and b.shape == (3, 4)
    assert_allclose(b, a, rtol=0, atol=0)


# --- digits -------------------------------------------------------------------

def test_digits_records_have_train_and_validation_per_epoch_and_test_once(run):
    out, _ = run
    recs = records(out, "digits")
    assert sorted(tuple(r["config"]["hidden_dims"]) for r in recs) == [(20,), (40, 20)]
    for r in recs:
        ep = r["metrics"]["epochs"]
        assert len(ep) == EPOCHS and r["metrics"]["n_train"] == LIMIT
        assert (r["metrics"]["n_val"], r["metrics"]["n_test"]) == (1000, 1000)
        for e in ep:
            assert 0 <= e["train_acc"] <= 1 and 0 <= e["val_acc"] <= 1 and "test_acc" not in e
        ev = r["metrics"]["evaluation"]
        assert ev["split"] == "test" and sum(map(sum, ev["confusion"])) == 1000
        np.testing.assert_allclose(ev["accuracy"], r["metrics"]["final"]["test_acc"],
                                   rtol=0, atol=1e-12)
    section = (out / "sections" / "digits.md").read_text()
    assert "| A: 784-20-10 |" in section and "| B: 784-40-20-10 |" in section
    assert "most confused pair:" in section and "Training doctor" in section
    assert (out / "figures" / "digits" / "digits_confusion.png").exists()


def test_digits_and_autoencoder_skip_without_their_data(monkeypatch):
    for mod in (digits, autoencoder):
        monkeypatch.setattr(mod, "data_problem", lambda d, final: f"{d} files not found here")
        with pytest.raises(SkipExperiment, match="mnist files not found here"):
            mod.plan(Context(quick=False))


# --- autoencoder / PCA ----------------------------------------------------------

def test_autoencoder_decodes_a_code_from_up128():
    model = autoencoder.build_model(np.random.default_rng(0))
    assert "latent" in model.names and "up128" in model.names
    assert model.names[model.index("latent") + 1] == "up128"
    z = np.random.default_rng(1).uniform(0, 1, (6, 2))
    x = model.forward(z, start="up128")
    assert x.shape == (6, 784)
    assert np.all((x >= 0) & (x <= 1))
    X = np.random.default_rng(2).uniform(0, 1, (5, 784))
    code = model.forward(X, end="latent")
    assert code.shape == (5, 2) and np.all((code >= 0) & (code <= 1))
    assert_allclose(model.forward(code, start="up128"), model.forward(X), rtol=1e-5, atol=1e-6)


def test_saved_autoencoder_reproduces_the_recorded_grid(run):
    out, _ = run
    (rec,) = [r for r in records(out, "autoencoder")
              if r["config"]["experiment"] == "autoencoder" and r["config"]["variant"] == "main"]
    m = rec["metrics"]
    path = out / "runs" / "autoencoder.execute" / m["model_file"]
    assert [p.name for p in path.parent.glob("*.npz")] == [path.name]   # only the main run
    model = autoencoder.build_model(np.random.default_rng(99)).load(path)
    g = rec["config"]["grid"]
    decoded = autoencoder.decode(model, autoencoder.grid_codes((0, 0), (1, 1), g))
    assert decoded.shape == (g * g, 784)
    # the record stores the images as 8-bit values: within half a grey level (+ float32 noise)
    assert_allclose(autoencoder.images(m["grid"]), decoded, rtol=0, atol=0.5 / 255 + 1e-4)
    codes = runs.unpack_array(m["codes"])
    assert codes.shape == (m["n_test"], 2) and np.all((codes >= 0) & (codes <= 1))


def test_pca_explained_variance_matches_covariance_eigenvalues():
    from shared.data import load_mnist_sample

    (X, _), _, _ = load_mnist_sample(final=True)
    X = X[:500].reshape(-1, 28, 28)[:, 6:22, 6:22].reshape(500, -1)   # central 16 x 16 pixels
    mean, comps, ratio = autoencoder.pca_fit(X)
    eig = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]      # oracle
    assert_allclose(ratio[:10], eig[:10] / eig.sum(), rtol=1e-9, atol=1e-12)
    assert_allclose(ratio.sum(), 1.0, rtol=1e-12)
    # the codes' variances are the eigenvalues, and the directions are orthonormal
    Z = autoencoder.pca_encode(X, mean, comps, k=3)
    assert_allclose(Z.var(axis=0, ddof=1), eig[:3], rtol=1e-8)
    assert_allclose(comps[:, :3].T @ comps[:, :3], np.eye(3), atol=1e-12)
    # keeping every component reconstructs exactly
    full = autoencoder.pca_decode(autoencoder.pca_encode(X[:5], mean, comps, k=comps.shape[1]),
                                  mean, comps)
    assert_allclose(full, X[:5], atol=1e-9)


def test_pca_record_matches_the_oracle_on_its_training_data(run):
    from shared.data import load_mnist_sample

    out, _ = run
    (rec,) = [r for r in records(out, "autoencoder") if r["config"]["experiment"] == "pca"]
    from stage4_analysis.data import DATA_SEED

    # the training part the autoencoder trains on (its validation digits held out)
    (X, _), _, _ = load_mnist_sample(final=False, seed=DATA_SEED, dtype=np.float32)
    Xc = X[:LIMIT].astype(np.float64)
    Xc -= Xc.mean(axis=0)
    # oracle: the non-zero eigenvalues of the covariance are those of the (N, N) Gram matrix
    g = np.sort(np.linalg.eigvalsh(Xc @ Xc.T))[::-1]
    assert rec["metrics"]["explained_2"] == pytest.approx(g[:2].sum() / np.sum(Xc**2), rel=1e-8)
    assert rec["metrics"]["n_train"] == LIMIT


def test_knn_accuracy_by_hand():
    ref = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0], [0.0, 0.1]])
    lab = np.array([0, 0, 1, 1, 0])
    Z = np.array([[0.05, 0.05], [1.05, 0.95], [0.9, 0.9]])
    assert autoencoder.knn_accuracy(ref, lab, Z, np.array([0, 1, 0]), k=1) == pytest.approx(2 / 3)
    assert autoencoder.knn_accuracy(ref, lab, Z, np.array([0, 1, 1]), k=3) == 1.0


# --- iris -----------------------------------------------------------------------

def test_iris_table_has_every_combination(run):
    out, _ = run
    recs = records(out, "iris")
    assert len(recs) == 4
    rows = iris.table(recs)
    assert {(r["lr"], r["hidden"]) for r in rows} == {(0.03, 2), (0.03, 8), (0.3, 2), (0.3, 8)}
    section = (out / "sections" / "iris.md").read_text()
    for lr in ("0.03", "0.3"):
        for h in (2, 8):
            assert re.search(rf"^\| {re.escape(lr)} \| {h} \| ", section, re.M), (lr, h)
    best = iris.best(rows)
    assert best is not None and "Best combination" in section
    assert best["test_error"].final_mean == min(r["test_error"].final_mean for r in rows)
    assert runs.unpack_array(recs[0]["metrics"]["step_loss"]).shape == (EPOCHS * 12,)


# --- the softmax Jacobian -------------------------------------------------------

def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_softmax_jacobian_matches_finite_differences_and_closed_form(scale):
    x = np.random.default_rng(3).normal(size=5) * scale
    J = jacobian.jacobian_from_layer(x)
    h = 1e-6
    fd = np.column_stack([(_softmax(x + h * e) - _softmax(x - h * e)) / (2 * h)
                          for e in np.eye(5)])                               # oracle 1
    y = _softmax(x)
    closed = np.array([[y[i] * ((i == j) - y[j]) for j in range(5)] for i in range(5)])  # 2
    assert_allclose(J, closed, rtol=1e-10, atol=1e-15)
    assert_allclose(J, fd, rtol=1e-5, atol=1e-9)
    assert_allclose(jacobian.jacobian_finite_differences(x, 1e-6), fd, rtol=1e-6, atol=1e-10)


def test_jacobian_command_prints_and_rejects_bad_input(capsys):
    assert jacobian.main(["--logits", "1", "2", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "0.231224" in text and "max |layer - finite differences|" in text
    assert jacobian.main(["--logits", "1"]) == 2
    assert "at least 2 logits" in capsys.readouterr().err
    assert jacobian.main(["--logits", "1", "2", "--target", "7"]) == 2
    assert "target class must be in 0..1, got 7" in capsys.readouterr().err


def test_jacobian_section_has_the_matrices(run):
    out, _ = run
    section = (out / "sections" / "jacobian.md").read_text()
    for v in ("0.177759", "-0.145332", "0.120576"):     # y_i (delta_ij - y_j) at 1, 2, 0.5
        assert section.count(v) >= 3, v
