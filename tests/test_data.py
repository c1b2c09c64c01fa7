"""The data sets of shared/data.py: synth, the shipped MNIST sample, Iris, the disc, and the real
MNIST test split / Debian Fashion-MNIST when they are available here (skipped with a reason when
not). Oracles are independent: hand-expanded formulas, published facts about the data (class
counts, official checksums), an integral for synth's class balance.
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from shared import data
from shared.data import (
    DATASETS,
    as_lists,
    describe,
    load_dataset,
    load_disc,
    load_iris,
    load_mnist,
    load_mnist_sample,
    load_synth,
)

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# the official MNIST test split: digits per class 0-9 (LeCun et al.)
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

needs_real_mnist = pytest.mark.skipif(
    not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test split is not at {REAL_MNIST} (only in the development checkout)")
needs_debian_fashion = pytest.mark.skipif(
    not data.system_dirs(data.IDX_SETS["fashion-mnist"])
    or not all((DEBIAN_FASHION / f"{p}-{k}.gz").is_file() for p in ("train", "t10k")
               for k in ("images-idx3-ubyte", "labels-idx1-ubyte")),
    reason="Debian's dataset-fashion-mnist is not installed (apt install dataset-fashion-mnist) "
           "or the system data folders are switched off (MLP_LADDER_SYSTEM_DATA=0)")


def _rows(x):
    """Each row's bytes, to compare sets of samples."""
    x = np.ascontiguousarray(x.reshape(len(x), -1))
    return [r.tobytes() for r in x]


# --------------------------------------------------------------------------- synth
def _p_ones_exact():
    """P(x Q x^T > 0.6) for x ~ N(0, I): rotate the symmetric part of Q to its eigen-axes,
    ``l1 z1^2 + l2 z2^2 > 0.6``, integrate P(z2^2 > (0.6 - l1 z1^2) / l2) over z1's density."""
    lam = np.linalg.eigvalsh(np.array([[1.0, 0.475], [0.475, 0.4]]))
    z = np.linspace(-10, 10, 40_001)
    t = (0.6 - lam[0] * z * z) / lam[1]
    tail = np.array([math.erfc(math.sqrt(v / 2)) if v > 0 else 1.0 for v in t])
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float((tail * pdf).sum() * (z[1] - z[0]))


def test_synth_shapes_types_and_labelling_rule():
    (xt, yt), (xv, yv), k = load_synth(num_train=1000, num_val=300, seed=1)
    assert k == 2
    assert xt.shape == (1000, 2) and yt.shape == (1000,) and xv.shape == (300, 2)
    assert xt.dtype == np.float64 and yt.dtype == np.int64
    for x, y in ((xt, yt), (xv, yv)):
        x1, x2 = x[:, 0], x[:, 1]
        q = x1 * x1 + (1.0 - 0.05) * x1 * x2 + 0.4 * x2 * x2  # x Q x^T expanded by hand
        np.testing.assert_array_equal(y, (q > 0.6).astype(np.int64))


def test_synth_balance_about_56_percent():
    p = _p_ones_exact()
    assert 0.555 < p < 0.561  # "about 56% ones"
    (_, yt), (_, yv), _ = load_synth(seed=0)
    # 60,000 Bernoulli(p) draws: standard error 0.002; tolerance 0.01 (5 sigma)
    assert abs(yt.mean() - p) < 0.01
    assert abs(yv.mean() - p) < 0.02  # 10,000 draws: s.e. 0.005, 4 sigma


def test_synth_deterministic_per_seed_and_independent_of_global_rng():
    np.random.seed(1)
    a = load_synth(num_train=500, num_val=100, seed=7)
    state = np.random.get_state()
    np.random.seed(12345)
    np.random.standard_normal(17)
    b = load_synth(num_train=500, num_val=100, seed=7)
    for (x1, y1), (x2, y2) in zip(a[:2], b[:2]):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    c = load_synth(num_train=500, num_val=100, seed=8)
    assert not np.array_equal(a[0][0], c[0][0])
    # the global state is not consumed either
    np.random.seed(1)
    load_synth(num_train=10, num_val=10)
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])
    # a passed-in generator is used as is
    d = load_synth(num_train=500, num_val=100, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(d[0][0], a[0][0])


def test_synth_rejects_negative_sizes():
    with pytest.raises(ValueError, match="-5"):
        load_synth(num_train=-5)


def test_as_lists_plain_python_types():
    (xt, yt), _, _ = load_synth(num_train=5, num_val=0, seed=0)
    xs, ys = as_lists((xt, yt))
    assert type(xs) is list and all(type(r) is list and len(r) == 2 for r in xs)
    assert all(type(v) is float for r in xs for v in r)
    assert type(ys) is list and all(type(c) is int for c in ys)
    assert xs == xt.tolist() and ys == yt.tolist()
    json.dumps([xs, ys])  # plain JSON types only


# --------------------------------------------------------------------------- iris
def test_iris_shipped_file_is_fishers_data():
    raw = data.IRIS_CSV.read_bytes()
    assert hashlib.md5(raw).hexdigest() == "d69a16ea6136ccb02a7c37c66375ebba"  # sklearn's copy
    x, c = data.read_iris_csv()
    assert x.shape == (150, 4) and np.bincount(c).tolist() == [50, 50, 50]
    # Fisher (1936) / R's iris: overall and setosa means (cm)
    np.testing.assert_allclose(x.mean(axis=0), [5.8433, 3.0573, 3.7580, 1.1993], atol=1e-4)
    np.testing.assert_allclose(x[c == 0].mean(axis=0), [5.006, 3.428, 1.462, 0.246], atol=1e-9)


def test_iris_split_stratified_standardised_disjoint():
    (xt, yt), (xv, yv), k = load_iris(seed=0)
    assert k == 3 and xt.shape == (120, 4) and xv.shape == (30, 4)
    assert yt.dtype == np.int64 and xt.dtype == np.float64
    assert np.bincount(yt).tolist() == [40, 40, 40]
    assert np.bincount(yv).tolist() == [10, 10, 10]
    np.testing.assert_allclose(xt.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(xt.std(axis=0), 1.0, rtol=1e-12)
    # undo the standardisation with the raw training rows' statistics: the two parts are
    # exactly the 150 raw flowers, each once
    x, c = data.read_iris_csv()
    (rt, ct), (rv, cv), _ = load_iris(seed=0, standardize=False)
    mu, sd = rt.mean(axis=0), rt.std(axis=0)
    np.testing.assert_allclose(xv, (rv - mu) / sd, rtol=1e-12, atol=1e-12)
    both = sorted(zip(map(tuple, np.vstack([rt, rv])), np.concatenate([ct, cv])))
    assert both == sorted(zip(map(tuple, x), c))
    np.testing.assert_array_equal(yt, ct)


def test_iris_seeded():
    a, b = load_iris(seed=3), load_iris(seed=3)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    c = load_iris(seed=4)
    assert not np.array_equal(a[1][0], c[1][0])
    (xt, _), (xv, yv), _ = load_iris(val_fraction=0.4)
    assert xv.shape == (60, 4) and np.bincount(yv).tolist() == [20, 20, 20]
    with pytest.raises(ValueError, match="val_fraction"):
        load_iris(val_fraction=1.0)


# --------------------------------------------------------------------------- disc
def test_disc_rule_shapes_and_balance():
    (xt, yt), (xv, yv), k = load_disc()
    assert k == 2 and xt.shape == (800, 2) and xv.shape == (200, 2)
    assert yt.dtype == np.int64
    for x, y in ((xt, yt), (xv, yv)):
        assert np.all(np.abs(x) <= 1.0)
        r = np.hypot(x[:, 0], x[:, 1])
        np.testing.assert_array_equal(y, (r < data.DISC_RADIUS).astype(np.int64))
    # disc area pi r^2 is half the square's 4
    assert math.pi * data.DISC_RADIUS**2 == pytest.approx(2.0, rel=1e-12)
    y = np.concatenate([yt, yv])
    assert abs(y.mean() - 0.5) < 0.065  # 1,000 draws: s.e. 0.016, 4 sigma
    (_, ybig), _, _ = load_disc(n=100_000, seed=1)
    assert abs(ybig.mean() - 0.5) < 0.01  # 80,000 training draws: s.e. 0.0018


def test_disc_seeded_and_validates_arguments():
    a, b, c = load_disc(seed=5), load_disc(seed=5), load_disc(seed=6)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], c[0][0])
    (xt, _), (xv, _), _ = load_disc(n=50, val_fraction=0.5)
    assert len(xt) == 25 and len(xv) == 25
    with pytest.raises(ValueError, match="n=1"):
        load_disc(n=1)
    with pytest.raises(ValueError, match="radius"):
        load_disc(radius=0)


# --------------------------------------------------------------------------- shipped MNIST sample
def test_sample_files_are_small_and_credited():
    total = sum(p.stat().st_size for p in data.SAMPLE_DIR.glob("*.gz"))
    assert total < 1_600_000
    readme = (data.SAMPLE_DIR / "README.md").read_text()
    assert "CC BY-SA 3.0" in readme and "not full MNIST" in readme


def test_sample_splits_sizes_disjoint_and_seeded():
    (xt, yt), (xv, yv), k = load_mnist_sample()
    assert k == 10
    assert xt.shape == (5000, 784) and xv.shape == (1000, 784)
    assert xt.dtype == np.float64 and yt.dtype == np.int64
    assert 0.0 == xt.min() and xt.max() == 1.0
    assert set(np.unique(yt)) == set(range(10)) and set(np.unique(yv)) == set(range(10))
    (ft, fyt), (fx, fy), _ = load_mnist_sample(final=True)
    assert ft.shape == (6000, 784) and fx.shape == (1000, 784)
    rows_t, rows_v, rows_f, rows_test = map(set, map(_rows, (xt, xv, ft, fx)))
    assert len(rows_f) == 6000 and len(rows_test) == 1000  # 7,000 distinct digits
    assert not rows_f & rows_test
    assert not rows_t & rows_v and rows_t | rows_v == rows_f  # validation comes from train part
    assert not rows_v & rows_test
    # the seed moves the validation split; the same seed repeats it
    (_, _), (xv2, _), _ = load_mnist_sample(seed=0)
    np.testing.assert_array_equal(xv2, xv)
    (_, _), (xv3, _), _ = load_mnist_sample(seed=1)
    assert set(_rows(xv3)) != rows_v
    (x3, _), _, _ = load_mnist_sample(flatten=False)
    assert x3.shape == (5000, 28, 28)
    np.testing.assert_array_equal(x3.reshape(5000, -1), xt)


@needs_real_mnist
def test_sample_rebuilds_identically_from_real_mnist(tmp_path):
    """The committed sample is what `python -m shared.build_mnist_sample` makes from the real
    MNIST test split, and every sample digit is a real MNIST test digit with its label."""
    from shared import build_mnist_sample
    from shared.idx import read_idx, read_idx_pair

    build_mnist_sample.build(REAL_MNIST, tmp_path)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), read_idx(data.SAMPLE_DIR / name))
    full_x, full_y = read_idx_pair(REAL_MNIST / "t10k-images-idx3-ubyte.gz",
                                   REAL_MNIST / "t10k-labels-idx1-ubyte.gz")
    lookup = {r: int(c) for r, c in zip(_rows(full_x), full_y)}
    sx, sy = read_idx_pair(data.SAMPLE_DIR / "t10k-images-idx3-ubyte.gz",
                           data.SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    assert [lookup[r] for r in _rows(sx)] == sy.tolist()


# --------------------------------------------------------------------------- real MNIST / Fashion
@needs_real_mnist
def test_real_mnist_test_split(tmp_path):
    """load_mnist on the real files: the test split stands in for both parts (a symlinked folder),
    since only the test split is available offline here."""
    from shared.download import content_md5

    files = data.IDX_SETS["mnist"].files
    for role in ("test-images", "test-labels"):
        fname, _, raw_md5 = files[role]
        real = REAL_MNIST / (fname + ".gz")
        assert content_md5(real) == raw_md5  # the official content
        (tmp_path / (fname + ".gz")).symlink_to(real)
        train_name = files[role.replace("test", "train")][0]
        (tmp_path / (train_name + ".gz")).symlink_to(real)
    (xt, yt), (xv, yv), k = load_mnist(final=True, data_dir=tmp_path, download=False)
    assert xt.shape == (10000, 784) and xv.shape == (10000, 784) and k == 10
    assert np.bincount(yv, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert xv.min() == 0.0 and xv.max() == 1.0
    assert xv.mean() == pytest.approx(0.1325, abs=5e-4)  # MNIST's well-known mean pixel
    (xt5, _), (xv5, yv5), _ = load_mnist(final=False, data_dir=tmp_path, download=False)
    assert len(xt5) == 5000 and len(xv5) == 5000
    np.testing.assert_array_equal(xv5, xt[-5000:])
    np.testing.assert_array_equal(yv5, yt[-5000:])


@needs_debian_fashion
@pytest.mark.slow
def test_debian_fashion_mnist(monkeypatch, tmp_path, system_data):
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    found = data.find_idx_files("fashion-mnist")
    assert all(p.parent == DEBIAN_FASHION for p in found.values())
    # Debian recompressed the files: the .gz differ, the content is the official one
    for role, path in found.items():
        assert data.matches_official("fashion-mnist", role, path), path
    (xt, yt), (xv, yv), k = data.load_fashion_mnist(final=True, download=False)
    assert xt.shape == (60000, 784) and xv.shape == (10000, 784) and k == 10
    assert np.bincount(yt).tolist() == [6000] * 10
    assert np.bincount(yv).tolist() == [1000] * 10
    assert xt.min() == 0.0 and xt.max() == 1.0
    (x5, y5), (v5, w5), _ = data.load_fashion_mnist(final=False, download=False,
                                                    flatten=False, dtype=np.float32)
    assert x5.shape == (55000, 28, 28) and v5.shape == (5000, 28, 28) and x5.dtype == np.float32
    np.testing.assert_allclose(v5.reshape(5000, -1), xt[-5000:], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y5, yt[:55000])


def test_matches_official_rejects_other_content(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"not fashion")
    assert not data.matches_official("fashion-mnist", "test-labels", p)


# --------------------------------------------------------------------------- by name
def test_load_dataset_dispatch_equals_direct_calls():
    pairs = {
        "synth": (dict(seed=3, num_train=50, num_val=20), lambda: load_synth(50, 20, seed=3)),
        "iris": (dict(seed=3), lambda: load_iris(seed=3)),
        "disc": (dict(seed=3, n=100), lambda: load_disc(n=100, seed=3)),
        "mnist-sample": (dict(seed=3, final=False), lambda: load_mnist_sample(seed=3)),
    }
    for name, (kw, direct) in pairs.items():
        a, b = load_dataset(name, **kw), direct()
        assert a[2] == b[2]
        for part in (0, 1):
            for i in (0, 1):
                np.testing.assert_array_equal(a[part][i], b[part][i])
    # final is accepted (and documented as meaningless) for the generated sets
    np.testing.assert_array_equal(load_dataset("disc", final=True)[1][0], load_disc()[1][0])


def test_load_dataset_full_sets_pass_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    with pytest.raises(data.DataNotFoundError, match=str(tmp_path / "nothing-here")):
        load_dataset("mnist", seed=1, data_dir=tmp_path / "nothing-here", download=False)


def test_unknown_name_lists_choices():
    for call in (lambda: load_dataset("cifar"), lambda: describe("cifar")):
        with pytest.raises(ValueError) as e:
            call()
        assert "cifar" in str(e.value)
        assert all(n in str(e.value) for n in DATASETS)


def test_describe_every_dataset():
    assert DATASETS == ("synth", "mnist-sample", "mnist", "fashion-mnist", "iris", "disc")
    for name in DATASETS:
        for final in (False, True):
            line = describe(name, final)
            assert line.startswith(name + ":") and "\n" not in line
    assert "NOT full MNIST" in describe("mnist-sample")
    assert "5,000 train / 1,000 validation" in describe("mnist-sample")
    assert "6,000 train / 1,000 test" in describe("mnist-sample", final=True)
    assert "55,000" in describe("mnist") and "60,000 train / 10,000 test" in describe(
        "mnist", final=True)


# --------------------------------------------------------------------------- limit=
def _fake_idx_set(folder, n_train, n_test=4, seed=0):
    from shared.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz",
                  rng.integers(0, 10, n, dtype=np.uint8))


@pytest.mark.parametrize("final", [False, True])
def test_limit_cuts_uint8_images_before_converting(tmp_path, monkeypatch, final):
    """``limit`` gives exactly the first rows of the full load, and only those (plus the whole
    validation / test part) are ever converted to floats."""
    monkeypatch.setenv("MLP_LADDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLP_LADDER_DATA", raising=False)
    _fake_idx_set(tmp_path / "d", data.NUM_VAL_IDX + 30)
    full = data.load_fashion_mnist(final=final, data_dir=tmp_path / "d", download=False)
    converted = []
    real = data._to_features
    monkeypatch.setattr(data, "_to_features",
                        lambda x, *a: converted.append(x.shape) or real(x, *a))
    (xt, ct), (xv, cv), k = load_dataset("fashion-mnist", final=final, limit=7,
                                         data_dir=tmp_path / "d", download=False)
    np.testing.assert_array_equal(xt, full[0][0][:7])
    np.testing.assert_array_equal(ct, full[0][1][:7])
    np.testing.assert_array_equal(xv, full[1][0])  # the validation / test part is whole
    assert converted == [(7, 28, 28), full[1][0].shape[:1] + (28, 28)]
    assert xt.dtype == np.float64 and ct.dtype == np.int64 and k == 10


def test_limit_on_the_sample_and_bad_limits():
    (xt, ct), (xv, _), _ = load_mnist_sample(limit=100)
    (xf, cf), (xvf, _), _ = load_mnist_sample()
    assert xt.shape == (100, 784)
    np.testing.assert_array_equal(xt, xf[:100])
    np.testing.assert_array_equal(ct, cf[:100])
    np.testing.assert_array_equal(xv, xvf)
    assert len(load_mnist_sample(limit=10**9)[0][0]) == len(xf)  # more than there is: all
    for bad in (0, -5, 2.5, True, "10"):
        with pytest.raises(ValueError, match="limit must be an integer >= 1"):
            load_mnist_sample(limit=bad)


@needs_debian_fashion
@pytest.mark.slow
def test_quick_fashion_mnist_load_never_holds_all_images_as_floats(system_data):
    """``limit=10000`` on the real files: the peak memory of a fresh process (``ru_maxrss``)
    grows by less than the 70,000 images would take as float64 (439 MB), so they were cut
    while uint8. (The whole load as floats would need at least that much.)"""
    import subprocess
    import sys

    code = ("import resource, json; import numpy; from shared.data import load_dataset; "
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            "(x, c), (v, w), k = load_dataset('fashion-mnist', final=True, limit=10000, "
            "download=False); "
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            "print(json.dumps([before, after, x.shape[0], v.shape[0]]))")
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, timeout=120).stdout
    before, after, n_train, n_test = json.loads(out)
    assert (n_train, n_test) == (10000, 10000)
    all_as_floats = 70_000 * 784 * 8
    grew = (after - before) * 1024  # ru_maxrss is in kB on Linux
    assert grew < all_as_floats * 0.6, grew
