"""The shared weight format: validation, lossless conversion, JSON files, seeded init."""

import json
import random

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from shared import weights as wf


def test_worked_example_is_the_handout_network():
    weights, x, c = wf.worked_example()
    assert weights["sizes"] == [2, 3, 2]
    assert weights["layers"][0]["W"] == [[1, 1, 1], [-1, -1, -1]]
    assert weights["layers"][1]["W"] == [[1, 1], [-1, -1], [-1, -1]]
    assert x == [1.0, -1.0] and c == 0


def test_init_is_seeded_and_shaped():
    a = wf.init_weights([5, 7, 6, 4], random.Random(3))
    b = wf.init_weights([5, 7, 6, 4], random.Random(3))
    c = wf.init_weights([5, 7, 6, 4], random.Random(4))
    assert a == b
    assert a != c
    arrays = wf.to_arrays(a)
    assert [layer["W"].shape for layer in arrays["layers"]] == [(5, 7), (7, 6), (6, 4)]
    assert all(not layer["b"].any() for layer in arrays["layers"])


def test_init_default_std_is_inverse_sqrt_fan_in():
    w = wf.to_arrays(wf.init_weights([400, 300], random.Random(0)))["layers"][0]["W"]
    assert abs(w.std() - 1 / np.sqrt(400)) < 0.002  # 120,000 draws: std of std ~ 0.00013


def test_lists_arrays_round_trip_is_exact():
    w = wf.init_weights([3, 4, 2], random.Random(1))
    arrays = wf.to_arrays(w)
    assert arrays["layers"][0]["W"].dtype == np.float64
    assert wf.to_lists(arrays) == w
    back = wf.to_arrays(wf.to_lists(arrays))
    for la, lb in zip(arrays["layers"], back["layers"]):
        assert_array_equal(la["W"], lb["W"])
        assert_array_equal(la["b"], lb["b"])


def test_json_round_trip_is_exact(tmp_path):
    w = wf.to_arrays(wf.init_weights([3, 4, 2], random.Random(2)))
    path = tmp_path / "w.json"
    wf.save_json(w, path)
    assert json.loads(path.read_text())["format"] == wf.FORMAT
    assert wf.load_json(path) == wf.to_lists(w)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda w: w["layers"][0].update(W=[[1.0, 2.0]] * 3), r"layer 0: W has shape \(3, 2\)"),
        (lambda w: w["layers"][1].update(b=[0.0]), r"layer 1: b has length 1"),
        (lambda w: w["layers"].pop(), r"need 2 layers"),
        (lambda w: w["layers"][0]["W"][0].__setitem__(0, float("nan")), r"non-finite"),
        (lambda w: w["layers"][0].pop("b"), r"needs keys"),
        (lambda w: w["layers"][0].update(W=[[1.0, 1.0, 1.0], [1.0]]), r"ragged"),
    ],
)
def test_validate_names_the_problem(mutate, message):
    w, _, _ = wf.worked_example()
    mutate(w)
    with pytest.raises(wf.WeightFormatError, match=message):
        wf.validate(w)


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"sizes": [1, 1], "layers": []}))
    with pytest.raises(wf.WeightFormatError, match="not an mlp-ladder weight file"):
        wf.load_json(p)
    p.write_text("{not json")
    with pytest.raises(wf.WeightFormatError, match="not a JSON weight file"):
        wf.load_json(p)
    w, _, _ = wf.worked_example()
    p.write_text(json.dumps({"format": wf.FORMAT, "version": 1, "sizes": [2, 4, 2],
                             "layers": w["layers"]}))
    with pytest.raises(wf.WeightFormatError, match=r"x.json: layer 0: W has shape \(2, 3\)"):
        wf.load_json(p)


def _doc(**changes):
    w, _, _ = wf.worked_example()
    doc = {"format": wf.FORMAT, "version": 1, **wf.to_lists(w)}
    doc.update(changes)
    return doc


def _w00(value):
    doc = _doc()
    doc["layers"][0]["W"][0][0] = value
    return doc


@pytest.mark.parametrize("content, message", [
    ("null", "not an mlp-ladder weight file"),
    ('"weights"', "not an mlp-ladder weight file"),
    ("3.5", "not an mlp-ladder weight file"),
    ("[]", "not an mlp-ladder weight file"),
    ("[" * 100_000, "nested too deeply"),
    (json.dumps(_w00(True)), r"layer 0: W row 0 holds bool True, not a number"),
    (json.dumps(_w00("1.5")), r"layer 0: W row 0 holds str '1.5', not a number"),
    (json.dumps(_w00(None)), "holds NoneType None"),
    (json.dumps(_w00([1.0])), "holds list"),
    (json.dumps(_w00(10**400)), "non-finite"),
    (json.dumps(_w00(float("inf"))), "non-finite"),
    (json.dumps(_doc(version=True)), "version True"),
    (json.dumps(_doc(version="1")), "version '1'"),
    (json.dumps({k: v for k, v in _doc().items() if k != "layers"}), "without 'layers'"),
    (json.dumps({k: v for k, v in _doc().items() if k != "sizes"}), "without 'sizes'"),
    (json.dumps(_doc(sizes=7)), "sizes must be a list"),
    (json.dumps(_doc(sizes=[2, True, 2])), "sizes must be a list"),
    (json.dumps(_doc(sizes=[2, 3.0, 2])), "sizes must be a list"),
    (json.dumps(_doc(sizes=[2, "3", 2])), "sizes must be a list"),
    (json.dumps(_doc(layers={"W": 1})), "layers must be a list"),
    (json.dumps(_doc(layers=["W", "b"])), "layer 0 needs keys 'W' and 'b', has 'str'"),
    (json.dumps(_doc(layers=[{"W": "ab", "b": [0, 0, 0]}, _doc()["layers"][1]])),
     "W must be a list of rows"),
    (json.dumps(_doc(layers=[{"W": [[1, 1, 1], [1, 1, 1]], "b": 0}, _doc()["layers"][1]])),
     "b must be a list of numbers"),
    (json.dumps(_doc(activation=["relu"])), "activation must be one of"),
    (json.dumps(_doc(activation="softplus")), "activation must be one of"),
])
def test_load_refuses_every_kind_of_bad_content_naming_the_file(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(wf.WeightFormatError, match=message) as e:
        wf.load_json(p)
    assert str(e.value).startswith(f"{p}: ")


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary", b"\x89PNG\r\n\x1a\n",
                                     "{}".encode("utf-16"), b"{\"format\": \"\xe9\"}"])
def test_load_refuses_binary_and_non_utf8(tmp_path, content):
    p = tmp_path / "bin.json"
    p.write_bytes(content)
    with pytest.raises(wf.WeightFormatError, match=r"bin.json: not a JSON weight file"):
        wf.load_json(p)


def test_integers_are_numbers_and_arrays_are_checked_vectorised():
    np = pytest.importorskip("numpy")
    doc = _w00(2)  # a JSON integer is a number
    assert wf.validate(doc) is doc
    arrays = wf.to_arrays(wf.worked_example()[0])
    arrays["layers"][0]["W"][1, 2] = np.nan
    with pytest.raises(wf.WeightFormatError, match="layer 0: W holds a non-finite value"):
        wf.validate(arrays)
    arrays["layers"][0]["W"] = arrays["layers"][0]["W"].astype(bool)
    with pytest.raises(wf.WeightFormatError, match="must hold real numbers, has dtype bool"):
        wf.validate(arrays)


def test_weight_format_error_is_a_ladder_error():
    from shared.errors import LadderError

    assert issubclass(wf.WeightFormatError, LadderError)
    assert issubclass(wf.WeightFormatError, ValueError)
