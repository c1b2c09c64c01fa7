"""The IDX reader (shared/idx.py) on files the tests write themselves, corrupt ones included.

Every bad file must raise IDXError naming the file; a good one must round-trip exactly.
"""

import gzip
import struct

import numpy as np
import pytest

from shared import data
from shared.idx import IDXError, read_idx, read_idx_pair, to_idx_bytes, write_idx


def _images(n, seed=0, shape=(28, 28)):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _labels(n, seed=0, k=10):
    return np.random.default_rng(seed + 1).integers(0, k, size=n, dtype=np.uint8)


def test_header_bytes_by_hand():
    # magic 2051 = 0x00000803 (uint8, 3 dims), then big-endian dims, then the pixels
    arr = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    b = to_idx_bytes(arr)
    assert b[:4] == bytes([0, 0, 0x08, 3])
    assert int.from_bytes(b[:4], "big") == 2051
    assert struct.unpack(">3I", b[4:16]) == (2, 2, 3)
    assert b[16:] == bytes(range(12))
    assert int.from_bytes(to_idx_bytes(np.zeros(5, np.uint8))[:4], "big") == 2049


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<i4", "f4", "f8"])
def test_round_trip_raw_and_gzip(tmp_path, suffix, dtype):
    arr = (np.random.default_rng(3).standard_normal((4, 3, 2)) * 50).astype(dtype)
    p = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(p)
    assert back.shape == arr.shape
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_gzip_recognised_by_content_not_name(tmp_path):
    arr = _images(3)
    p = tmp_path / "images-without-gz-suffix"
    write_idx(p, arr, compress=True)
    np.testing.assert_array_equal(read_idx(p), arr)


def _bad(tmp_path, name, content, compress=False):
    p = tmp_path / name
    p.write_bytes(gzip.compress(content) if compress else content)
    return p


@pytest.mark.parametrize("compress", [False, True])
def test_wrong_magic_number(tmp_path, compress):
    good = to_idx_bytes(_images(2))
    for bad_head in (b"\x01\x00\x08\x03", b"\x00\x00\x07\x03", b"\x00\x00\x08\x00", b"PK\x03\x04"):
        p = _bad(tmp_path, "wrong-magic", bad_head + good[4:], compress)
        with pytest.raises(IDXError, match="wrong magic number") as e:
            read_idx(p)
        assert str(p) in str(e.value)


def test_truncated_payload(tmp_path):
    good = to_idx_bytes(_images(3))
    p = _bad(tmp_path, "truncated.gz", good[:-100], compress=True)
    with pytest.raises(IDXError, match="truncated data") as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_truncated_header(tmp_path):
    for content in (b"\x00\x00", to_idx_bytes(_images(3))[:9]):
        p = _bad(tmp_path, "short-header", content)
        with pytest.raises(IDXError, match="truncated") as e:
            read_idx(p)
        assert str(p) in str(e.value)


def test_truncated_gzip_stream(tmp_path):
    gz = gzip.compress(to_idx_bytes(_images(20)))
    p = _bad(tmp_path, "cut.gz", gz[: len(gz) // 2])
    with pytest.raises(IDXError, match="corrupt or truncated gzip") as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_header_dims_do_not_match_payload(tmp_path):
    # header claims 2 images of 28x28, payload holds 3
    content = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 28, 28) + bytes(3 * 28 * 28)
    p = _bad(tmp_path, "extra", content)
    with pytest.raises(IDXError, match="do not match the payload") as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_pair_count_mismatch(tmp_path):
    pi = write_idx(tmp_path / "img.gz", _images(5))
    pl = write_idx(tmp_path / "lab.gz", _labels(4))
    with pytest.raises(IDXError, match="5 images but .* 4 labels") as e:
        read_idx_pair(pi, pl)
    assert str(pi) in str(e.value) and str(pl) in str(e.value)


def test_pair_rejects_swapped_or_wrong_files(tmp_path):
    pi = write_idx(tmp_path / "img.gz", _images(5))
    pl = write_idx(tmp_path / "lab.gz", _labels(5))
    with pytest.raises(IDXError, match="uint8 images"):
        read_idx_pair(pl, pi)  # labels given as images
    small = write_idx(tmp_path / "small.gz", _images(5, shape=(8, 8)))
    with pytest.raises(IDXError, match=r"shape \(28, 28\)") as e:
        read_idx_pair(small, pl)
    assert str(small) in str(e.value)
    bad_labels = write_idx(tmp_path / "lab11.gz", np.array([0, 1, 2, 3, 11], np.uint8))
    with pytest.raises(IDXError, match="label 11 out of range 0..9"):
        read_idx_pair(pi, bad_labels)


def test_loader_scales_pixels_and_types_labels(tmp_path):
    """load_mnist on a tiny self-written data set: exact values, dtypes, shapes, the split."""
    n = data.NUM_VAL_IDX + 7
    imgs, labs = _images(n), _labels(n)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labs)  # raw and .gz may be mixed
    (xt, yt), (xv, yv), k = data.load_mnist(data_dir=tmp_path, download=False,
                                            cache_dir=tmp_path / "no-cache")
    assert k == 10
    assert xt.shape == (7, 784) and xv.shape == (data.NUM_VAL_IDX, 784)
    assert xt.dtype == np.float64 and yt.dtype == np.int64
    np.testing.assert_allclose(xt, imgs[:7].reshape(7, -1) / 255.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(xv[-1], imgs[-1].reshape(-1) / 255.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(yt, labs[:7])
    np.testing.assert_array_equal(yv, labs[7:])
    assert 0.0 <= xt.min() and xt.max() <= 1.0
    (x3, _), _, _ = data.load_mnist(flatten=False, data_dir=tmp_path, download=False,
                                    cache_dir=tmp_path / "no-cache")
    assert x3.shape == (7, 28, 28)
    (x32, _), _, _ = data.load_mnist(data_dir=tmp_path, download=False, dtype=np.float32,
                                     cache_dir=tmp_path / "no-cache")
    assert x32.dtype == np.float32


def test_loader_final_uses_test_files_and_needs_enough_train(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", _images(30))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", _labels(30))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", _images(4, seed=9))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", _labels(4, seed=9))
    (xt, _), (xv, yv), _ = data.load_fashion_mnist(final=True, data_dir=tmp_path, download=False)
    assert xt.shape == (30, 784) and xv.shape == (4, 784)
    np.testing.assert_array_equal(yv, _labels(4, seed=9))
    with pytest.raises(IDXError, match="need more than 5000"):
        data.load_fashion_mnist(final=False, data_dir=tmp_path, download=False)


def test_loader_reports_corrupt_local_file(tmp_path):
    """A corrupt local file is an error naming it, never skipped in favour of another place."""
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", _images(3))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(IDXError, match="train-labels-idx1-ubyte.gz"):
        data.load_mnist(final=False, data_dir=tmp_path, download=False)


@pytest.mark.parametrize("compress", [False, True])
def test_header_whose_dimensions_overflow_int64_is_refused(tmp_path, compress):
    """Four dimensions of 2**16 multiply to 2**64: as an int64 product that wraps around to 0,
    which a naive size check would accept against an empty payload."""
    dims = (1 << 16,) * 4
    with np.errstate(over="ignore"):
        wrapped = int(np.prod(np.array(dims, dtype=np.int64), dtype=np.int64))
    assert wrapped == 0  # the trap: the int64 product fits the empty payload below
    blob = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *dims)
    p = tmp_path / ("big.gz" if compress else "big")
    p.write_bytes(gzip.compress(blob) if compress else blob)
    with pytest.raises(IDXError, match="big") as info:
        read_idx(p)
    assert "need" in str(info.value)


def test_header_larger_than_the_file_is_refused_before_reading(tmp_path):
    """A header claiming 60000 x 28 x 28 images in a 100-byte file: refused by the size check."""
    blob = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 60000, 28, 28) + bytes(84)
    p = tmp_path / "liar-idx3-ubyte"
    p.write_bytes(blob)
    with pytest.raises(IDXError, match=r"liar-idx3-ubyte: truncated data.*47040000 bytes"):
        read_idx(p)


def test_gzip_header_claiming_more_than_deflate_can_hold(tmp_path):
    """A small .gz whose header claims 4 GB: refused from the header, nothing is decompressed."""
    blob = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 1 << 22, 32, 32) + bytes(100)
    p = tmp_path / "claims-4gb.gz"
    p.write_bytes(gzip.compress(blob))
    with pytest.raises(IDXError, match=r"claims-4gb.gz: .*more than a \d+-byte gzip file"):
        read_idx(p)


@pytest.mark.parametrize("extra", [b"garbage after the stream", b"\x1f\x8b\x08truncated"])
def test_gzip_with_extra_bytes_is_refused(tmp_path, extra):
    good = gzip.compress(to_idx_bytes(_labels(5)))
    p = tmp_path / "labels.gz"
    p.write_bytes(good + extra)
    with pytest.raises(IDXError, match="labels.gz"):
        read_idx(p)


def test_extra_payload_inside_gzip_is_refused(tmp_path):
    p = tmp_path / "labels.gz"
    p.write_bytes(gzip.compress(to_idx_bytes(_labels(5)) + b"\x01\x02"))
    with pytest.raises(IDXError, match=r"labels.gz: .*\(2 extra\)"):
        read_idx(p)
