"""Fuzzing the file readers: whatever the bytes, only the documented error types may escape.

* weight files (``shared.weights.load_json`` / ``validate``): arbitrary JSON values, arbitrary
  bytes, and a valid file with one value replaced by an arbitrary JSON value -> a
  ``WeightFormatError`` naming the file, or (only when the replacement is a finite real number)
  a valid load;
* run records (``shared.records.read_record``): arbitrary JSON and bytes -> ``RecordError``;
* IDX files (``shared.idx.read_idx``): arbitrary headers and payloads, raw and gzip ->
  ``IDXError``, or an array whose size matches its header;
* stage-3 model files (``stage3_batched.model.load_model`` / ``Sequential.load``): a real saved
  model cut short or with bytes changed, and arbitrary bytes -> ``ModelFileError``, or a model
  whose parameters are finite.

Each property runs ~100-200 examples with no deadline; the whole file takes a few seconds.
"""

import gzip
import json
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared import records
from shared import weights as wf
from shared.idx import IDX_TYPES, IDXError, read_idx, to_idx_bytes

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20)


def _write(tmpdir: Path, name: str, content: bytes) -> Path:
    p = tmpdir / name
    p.write_bytes(content)
    return p


def _cut_and_changed(data, good: bytes, max_changes: int) -> bytes:
    """``good`` cut at a drawn length, then up to ``max_changes`` drawn bytes set to drawn
    values."""
    blob = bytearray(good[:data.draw(st.integers(0, len(good)))])
    for _ in range(data.draw(st.integers(0, max_changes))):
        if blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    return bytes(blob)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


# --------------------------------------------------------------------------- weight files

@FUZZ
@given(value=json_values)
def test_weights_any_json_value_is_refused_cleanly(scratch, value):
    p = _write(scratch, "w.json", json.dumps(value).encode())
    with pytest.raises(wf.WeightFormatError) as e:  # none of these has the format header
        wf.load_json(p)
    assert str(p) in str(e.value)


@FUZZ
@given(sizes=json_values, layers=json_values, activation=json_values | st.just("relu"))
def test_weights_header_with_any_body_loads_or_refuses(scratch, sizes, layers, activation):
    doc = {"format": wf.FORMAT, "version": 1, "sizes": sizes, "layers": layers,
           "activation": activation}
    p = _write(scratch, "w.json", json.dumps(doc).encode())
    try:
        w = wf.load_json(p)
    except wf.WeightFormatError as e:
        assert str(p) in str(e)
        return
    assert wf.validate(w) is w  # only a valid structure gets through


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


@FUZZ
@given(data=st.data(), value=json_values | st.sampled_from([True, False, "1.5", "0", None]))
def test_weights_one_value_replaced(scratch, data, value):
    """A valid file with one number of W or b replaced: loads iff the new value is a finite
    real number (not a bool, not a numeric string)."""
    w, _, _ = wf.worked_example()
    doc = {"format": wf.FORMAT, "version": 1, **wf.to_lists(w)}
    numbers = [p for p in _leaves(doc) if p and p[0] == "layers"]
    where = data.draw(st.sampled_from(numbers))
    _set(doc, where, value)
    p = _write(scratch, "w.json", json.dumps(doc).encode())
    real = (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(float(value)))
    if real:
        got = wf.load_json(p)
        _set(doc, where, float(value))
        assert got["layers"] == doc["layers"]
    else:
        with pytest.raises(wf.WeightFormatError, match="layer"):
            wf.load_json(p)


@FUZZ
@given(blob=st.binary(max_size=300))
def test_weights_arbitrary_bytes(scratch, blob):
    p = _write(scratch, "w.json", blob)
    with pytest.raises(wf.WeightFormatError) as e:
        wf.load_json(p)
    assert str(p) in str(e.value)


@FUZZ
@given(obj=json_values)
def test_validate_any_structure(obj):
    try:
        wf.validate(obj)
    except wf.WeightFormatError:
        return
    raise AssertionError(f"accepted {obj!r}")  # no random structure is a valid network


def test_weights_deep_nesting_and_binary_named(scratch):
    for content in (b"[" * 200_000, b'{"a":' * 200_000, b"\x89PNG\r\n\x1a\n\x00\x00",
                    "{\"format\": \"mlp-ladder/weights\"}".encode("utf-16")):
        p = _write(scratch, "odd.json", content)
        with pytest.raises(wf.WeightFormatError, match="odd.json"):
            wf.load_json(p)


# --------------------------------------------------------------------------- run records
@FUZZ
@given(value=json_values)
def test_records_any_json_value(scratch, value):
    p = _write(scratch, "r.json", json.dumps(value).encode())
    with pytest.raises(records.RecordError, match="r.json"):
        records.read_record(p)
    assert records.load_valid_record(p) is None


@FUZZ
@given(data=st.data(), value=json_values)
def test_records_one_field_replaced(scratch, data, value):
    rec = json.loads(json.dumps(records.make_record(
        "run", {"lr": 0.1}, {"loss": [1.0, 0.5]}, wall_time=1.0)))
    field = data.draw(st.sampled_from(sorted(rec)))
    assume(rec[field] != value)
    rec[field] = value
    p = _write(scratch, "r.json", json.dumps(rec).encode())
    try:
        back = records.read_record(p)
    except records.RecordError:
        return
    # accepted: only fields the schema leaves free, with a value of the right kind
    assert json.dumps(back, sort_keys=True) == json.dumps(rec, sort_keys=True)  # NaN != NaN
    assert field in ("name", "created", "versions", "wall_time", "metrics", "error") or (
        field == "status" and value in records.STATUSES) or (
        field == "data_files" and isinstance(value, dict))


@FUZZ
@given(blob=st.binary(max_size=300))
def test_records_arbitrary_bytes(scratch, blob):
    p = _write(scratch, "r.json", blob)
    with pytest.raises(records.RecordError):
        records.read_record(p)


# --------------------------------------------------------------------------- IDX files
type_codes = st.sampled_from(sorted(IDX_TYPES)) | st.integers(0, 255)
dims_st = st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 12), min_size=0, max_size=5)


@FUZZ
@given(zero=st.binary(min_size=2, max_size=2) | st.just(b"\0\0"), code=type_codes, dims=dims_st,
       payload=st.binary(max_size=200), compress=st.booleans(), ndim_lie=st.integers(-1, 1))
def test_idx_arbitrary_headers(scratch, zero, code, dims, payload, compress, ndim_lie):
    ndim = max(0, min(255, len(dims) + ndim_lie))
    blob = zero + bytes([code, ndim]) + struct.pack(f">{len(dims)}I", *dims) + payload
    p = _write(scratch, "f.gz" if compress else "f", gzip.compress(blob) if compress else blob)
    try:
        arr = read_idx(p)
    except IDXError as e:
        assert str(p) in str(e)
        return
    header_dims = struct.unpack(f">{ndim}I", blob[4:4 + 4 * ndim])  # a lying ndim reads on
    assert arr.shape == header_dims and arr.dtype == IDX_TYPES[code].newbyteorder("=")


@FUZZ
@given(blob=st.binary(max_size=400), gz=st.booleans())
def test_idx_arbitrary_bytes(scratch, blob, gz):
    p = _write(scratch, "f", (b"\x1f\x8b" + blob) if gz else blob)
    try:
        arr = read_idx(p)
    except IDXError:
        return
    assert arr.nbytes <= len(blob)


@FUZZ
@given(data=st.data())
def test_idx_truncated_or_flipped_real_file(scratch, data):
    good = to_idx_bytes(np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3))
    gz = gzip.compress(good, mtime=0)
    base = data.draw(st.sampled_from([good, gz]))
    p = _write(scratch, "f", _cut_and_changed(data, base, max_changes=3))
    try:
        arr = read_idx(p)
    except IDXError:
        return
    assert arr.size * arr.itemsize <= len(good)


# --------------------------------------------------------------------------- stage-3 models
@pytest.fixture(scope="module")
def saved_model(scratch):
    pytest.importorskip("stage3_batched.model")
    from stage3_batched.model import MLP

    model = MLP(4, [3], 2, "sigmoid", rng=np.random.default_rng(0))
    path = scratch / "model.npz"
    model.save(path)
    return path, path.read_bytes()


def _load_model_or_error(path: Path):
    from shared.errors import ModelFileError
    from stage3_batched.model import load_model

    try:
        model = load_model(path)
    except ModelFileError as e:
        assert str(path) in str(e)
        return None
    for _, v in model.parameters().items():
        assert np.isfinite(v).all()
    return model


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_model_file_cut_or_changed(scratch, saved_model, data):
    _, good = saved_model
    p = _write(scratch, "fuzzed.npz", _cut_and_changed(data, good, max_changes=4))
    _load_model_or_error(p)


@FUZZ
@given(blob=st.binary(max_size=400))
def test_model_file_arbitrary_bytes(scratch, saved_model, blob):
    p = _write(scratch, "any.npz", blob)
    assert _load_model_or_error(p) is None


def test_model_file_of_other_kinds(scratch, saved_model):
    """A single-array .npy, an npz of other arrays, an empty file, a folder: ModelFileError."""
    from shared.errors import ModelFileError
    from stage3_batched.model import MLP

    npy = scratch / "one.npy"
    np.save(npy, np.zeros(3))
    other = scratch / "other.npz"
    np.savez(other, a=np.zeros(2))
    empty = _write(scratch, "empty.npz", b"")
    folder = scratch / "folder.npz"
    folder.mkdir(exist_ok=True)
    for p in (npy, other, empty, folder, scratch / "missing.npz"):
        assert _load_model_or_error(p) is None
        with pytest.raises(ModelFileError):
            MLP(4, [3], 2, "sigmoid", rng=np.random.default_rng(0)).load(p)


@pytest.mark.parametrize("offset, value, what", [
    (10, 99, "an unknown compression method"),
    (8, 0x40, "strong encryption"),
    (6, 99, "a newer zip version"),
])
def test_model_file_with_unsupported_zip_features(scratch, saved_model, offset, value, what):
    """Changed bytes the fuzzing finds: zipfile raises NotImplementedError for these; the
    loader must still answer with ModelFileError."""
    _, good = saved_model
    blob = bytearray(good)
    central = blob.index(b"PK\x01\x02")  # the first central-directory entry
    blob[central + offset] = value
    p = _write(scratch, "unsupported.npz", bytes(blob))
    assert _load_model_or_error(p) is None, what
