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
