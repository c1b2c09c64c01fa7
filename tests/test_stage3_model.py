"""Stage 3 models: the whole MLP against finite differences and PyTorch, named partial forward
passes, save/load with the architecture recorded in the file, and the ladder interface (with the
weight format's activation). Optimizers are in test_stage3_optim.py."""

from __future__ import annotations

import random

import numpy as np
import pytest
from gradcheck import numeric_grad, rel_error

import stage3_batched as s3
from shared.errors import ModelFileError
from shared.weights import init_weights, worked_example
from stage3_batched import (
    MLP,
    SGD,
    LeakyReLU,
    Linear,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    SquaredError,
    load_model,
)

TOL = 1e-7


def nonzero_biases(model, rng):
    for layer in model.layers:
        if "b" in layer.params:
            layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape) * 0.5
    return model


# --------------------------------------------------------------------------- whole network
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_mlp_end_to_end_gradients(activation):
    rng = np.random.default_rng(10)
    model = nonzero_biases(MLP(5, [6, 4], 3, activation, init="xavier", rng=rng), rng)
    X, c = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(X), c)
    dX = model.backward(loss.backward())
    f = lambda: loss.forward(model.forward(X), c)
    if activation in ("relu", "leaky_relu"):           # stay away from the kink
        Z = [lay.X @ lay.params["W"] + lay.params["b"]             # pre-activations
             for lay in model.layers if isinstance(lay, Linear)]
        assert min(np.abs(z).min() for z in Z[:-1]) > 1e-4, "seed too close to the kink"
    assert rel_error(dX, numeric_grad(f, X)) < TOL
    grads = {k: g.copy() for k, g in model.gradients().items()}
    for k, p in model.parameters().items():
        assert rel_error(grads[k], numeric_grad(f, p)) < TOL, k


def test_mlp_with_softmax_layer_and_cross_entropy_matches_fused_loss():
    rng = np.random.default_rng(11)
    a = MLP(4, [5], 3, "tanh", output_activation="softmax", rng=np.random.default_rng(1))
    b = MLP(4, [5], 3, "tanh", rng=np.random.default_rng(1))
    X, c = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    la, lb = s3.CrossEntropy(), SoftmaxCrossEntropy()
    assert la.forward(a.forward(X), c) == pytest.approx(lb.forward(b.forward(X), c), rel=1e-12)
    a.backward(la.backward())
    b.backward(lb.backward())
    for k, g in b.gradients().items():
        np.testing.assert_allclose(a.gradients()[k], g, rtol=1e-9, atol=1e-14)


def test_torch_oracle_loss_and_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    model = nonzero_biases(MLP(6, [5, 4], 3, "sigmoid", init="xavier", rng=rng), rng)
    X, c = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(X), c)
    dX = model.backward(loss_fn.backward())
    p = {k: torch.tensor(v, requires_grad=True) for k, v in model.parameters().items()}
    tX = torch.tensor(X, requires_grad=True)
    h = torch.sigmoid(tX @ p["linear1.W"] + p["linear1.b"])
    h = torch.sigmoid(h @ p["linear2.W"] + p["linear2.b"])
    o = h @ p["linear3.W"] + p["linear3.b"]
    tl = torch.nn.functional.cross_entropy(o, torch.tensor(c))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(dX, tX.grad.numpy(), rtol=1e-10, atol=1e-15)
    for k, g in model.gradients().items():
        np.testing.assert_allclose(g, p[k].grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=k)


# --------------------------------------------------------------------------- named partial pass
def ursinus_network(rng):
    """The hand-out's 10-20-5-8-7-1 test network with two named layers."""
    net = Sequential()
    net.add(Linear(10, 20, rng=rng)).add(LeakyReLU())
    net.add(Linear(20, 5, rng=rng), name="special_start").add(LeakyReLU())
    net.add(Linear(5, 8, rng=rng)).add(LeakyReLU())
    net.add(Linear(8, 7, rng=rng)).add(LeakyReLU(), name="special_end")
    net.add(Linear(7, 1, rng=rng)).add(Sigmoid())
    return net


def test_named_partial_forward_on_the_10_20_5_8_7_1_network():
    rng = np.random.default_rng(13)
    net = ursinus_network(rng)
    X = rng.standard_normal((4, 10))
    assert net.forward(X).shape == (4, 1)
    H20 = net.forward(X, end="leakyrelu1")             # the input of the 20-unit layer's output
    out7 = net.forward(H20, start="special_start", end="special_end")
    assert out7.shape == (4, 7)
    # the two halves compose to the full pass
    np.testing.assert_allclose(net.forward(out7, start="linear5"), net.forward(X), rtol=1e-14)
    assert net.names[:4] == ["linear1", "leakyrelu1", "special_start", "leakyrelu2"]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        net.forward(X, start="nope")
    with pytest.raises(ValueError, match="comes after"):
        net.forward(H20, start="special_end", end="special_start")
    with pytest.raises(ValueError, match="already exists"):
        net.add(Sigmoid(), name="special_end")


def test_partial_backward_covers_the_same_layers():
    rng = np.random.default_rng(14)
    net = ursinus_network(rng)
    H = rng.standard_normal((3, 20))
    G = rng.standard_normal((3, 7))
    net.forward(H, start="special_start", end="special_end")
    dH = net.backward(G)
    f = lambda: float(np.sum(G * net.forward(H, start="special_start", end="special_end")))
    assert dH.shape == (3, 20)
    assert rel_error(dH, numeric_grad(f, H)) < TOL


def test_input_grad_false_skips_the_first_layers_input_gradient():
    rng = np.random.default_rng(15)
    model = MLP(4, [3], 2, "tanh", rng=rng)
    X = rng.standard_normal((5, 4))
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(X), np.array([0, 1, 0, 1, 1]))
    assert model.backward(loss.backward(), input_grad=False) is None
    g1 = {k: v.copy() for k, v in model.gradients().items()}
    model.zero_grad()
    model.backward(loss.backward())
    for k, v in model.gradients().items():
        np.testing.assert_array_equal(v, g1[k])


# --------------------------------------------------------------------------- save / load
def test_save_load_round_trip_and_shape_mismatch(tmp_path):
    rng = np.random.default_rng(16)
    a = nonzero_biases(MLP(6, [5], 3, rng=rng), rng)
    path = a.save(tmp_path / "m.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]       # no temporary left over
    b = MLP(6, [5], 3, rng=np.random.default_rng(99)).load(path)
    X = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    with pytest.raises(ModelFileError, match=r"linear1\.W: file \(6, 5\), model \(6, 7\)"):
        MLP(6, [7], 3).load(path)
    with pytest.raises(ModelFileError, match=r"the file has 3 layers, the model 5"):
        MLP(6, [5, 4], 3).load(path)


def test_load_refuses_another_architecture_naming_the_difference(tmp_path):
    path = MLP(4, [5], 3, "sigmoid", dropout=0.2).save(tmp_path / "sig.npz")
    with pytest.raises(ModelFileError, match=r"sig\.npz.*sigmoid1 \(Sigmoid\) in the file, "
                                             r"relu1 \(ReLU\) in the model"):
        MLP(4, [5], 3, "relu", dropout=0.2).load(path)       # same shapes, other activation
    with pytest.raises(ModelFileError, match=r"p=0\.2\) in the file.*p=0\.5\) in the model"):
        MLP(4, [5], 3, "sigmoid", dropout=0.5).load(path)
    assert isinstance(MLP(4, [5], 3, "sigmoid", dropout=0.2).load(path), MLP)


@pytest.mark.parametrize("build", [
    lambda: MLP(6, [5, 4], 3, "tanh", dropout=0.25, output_activation="softmax"),
    lambda: MLP(3, [2], 1, "leaky_relu", dtype=np.float32),
    lambda: Sequential([Linear(4, 3, name="enc"), LeakyReLU(0.2), Linear(3, 2), Sigmoid()]),
], ids=["mlp", "mlp-float32", "sequential"])
def test_load_model_rebuilds_the_architecture_from_the_file(tmp_path, build):
    rng = np.random.default_rng(21)
    a = nonzero_biases(build(), rng)
    path = a.save(tmp_path / "m.npz")
    b = load_model(path)
    assert type(b) is type(a) and b.describe() == a.describe() and b.dtype == a.dtype
    if isinstance(a, MLP):
        assert (b.sizes, b.activation, b.dropout, b.output_activation) == (
            a.sizes, a.activation, a.dropout, a.output_activation)
    X = rng.standard_normal((5, a.input_dim))
    np.testing.assert_array_equal(a.eval().forward(X), b.eval().forward(X))
    assert Sequential.from_file(path).describe() == a.describe()


def test_old_files_without_architecture_load_by_shapes(tmp_path):
    a = MLP(3, [4], 2, rng=np.random.default_rng(1))
    np.savez(tmp_path / "old.npz", **a.parameters())          # the oldest format: arrays only
    b = MLP(3, [4], 2, "tanh").load(tmp_path / "old.npz")     # nothing to compare but shapes
    for k, v in a.parameters().items():
        np.testing.assert_array_equal(b.parameters()[k], v)
    with pytest.raises(ModelFileError, match="does not record its architecture"):
        load_model(tmp_path / "old.npz")


def test_unreadable_model_files_name_the_file(tmp_path):
    good = MLP(3, [4], 2).save(tmp_path / "good.npz").read_bytes()
    files = {"garbage.npz": b"not a zip at all",
             "truncated.npz": good[:len(good) // 2],
             "empty.npz": b""}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "single.npy", np.zeros(3))
    np.savez(tmp_path / "badarch.npz", __architecture__=np.array("{not json"))
    np.savez(tmp_path / "strings.npz", **{"linear1.W": np.full((3, 4), "x"),
                                          "linear1.b": np.zeros(4), "linear2.W": np.zeros((4, 2)),
                                          "linear2.b": np.zeros(2)})
    for name in [*files, "single.npy", "badarch.npz", "strings.npz", "missing.npz"]:
        for load in (MLP(3, [4], 2).load, load_model):
            if load is load_model and name == "strings.npz":
                continue                                       # no architecture: other message
            with pytest.raises(ModelFileError, match=name.replace(".", r"\.")):
                load(tmp_path / name)


def test_every_truncation_and_corruption_of_a_model_file_is_a_model_file_error(tmp_path):
    good = MLP(3, [4], 2).save(tmp_path / "good.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    for cut in range(0, len(good), 29):
        bad.write_bytes(good[:cut])
        with pytest.raises(ModelFileError, match=r"bad\.npz"):
            load_model(bad)
    for j in np.random.default_rng(23).integers(0, len(good), 60):
        flipped = bytearray(good)
        flipped[j] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            load_model(bad)                        # a flip inside the numbers may still load,
        except ModelFileError as e:                # anything else must be this one error
            assert "bad.npz" in str(e)


def test_parameters_are_named_and_live():
    model = MLP(3, [4], 2)
    params = model.parameters()
    assert list(params) == ["linear1.W", "linear1.b", "linear2.W", "linear2.b"]
    assert params["linear1.W"].shape == (3, 4) and params["linear2.b"].shape == (2,)
    assert params["linear1.W"] is model["linear1"].params["W"]
    assert list(model.gradients()) == list(params)
    model.gradients()["linear1.W"][...] = 1.0
    model.zero_grad()
    assert not model.gradients()["linear1.W"].any()


def test_predict_and_mlp_bad_arguments():
    model = MLP(2, [], 3, rng=np.random.default_rng(0))      # softmax regression
    assert model.names == ["linear1"]
    assert model.predict(np.eye(2)).dtype == np.int64
    binary = MLP(2, [3], 1, output_activation="sigmoid")
    assert set(binary.predict(np.random.default_rng(0).standard_normal((20, 2)))) <= {0, 1}
    with pytest.raises(ValueError, match="relu, sigmoid, tanh, leaky_relu"):
        MLP(2, [3], 2, activation="gelu")
    with pytest.raises(ValueError, match="dropout"):
        MLP(2, [3], 2, dropout=1.5)


def test_model_rejects_nan_inputs_and_wrong_width():
    model = MLP(3, [4], 2)
    X = np.zeros((5, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf .*row 2"):
        model.forward(X)
    with pytest.raises(ValueError, match="expects inputs of width 3, got width 4"):
        model.forward(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D"):
        model.forward(np.zeros(3))


# --------------------------------------------------------------------------- ladder interface
def test_ladder_worked_example():
    weights, x, c = worked_example()
    loss, grads, dX = s3.loss_and_grads(weights, [x], [c])
    assert loss == pytest.approx(np.log(2.0), rel=1e-14)   # the symmetric example: y = [.5, .5]
    assert grads["sizes"] == [2, 3, 2] and dX.shape == (1, 2)
    np.testing.assert_allclose(grads["layers"][1]["b"], [-0.5, 0.5], rtol=1e-14)
    np.testing.assert_allclose(s3.predict_proba(weights, [x]), [[0.5, 0.5]], rtol=1e-14)


def test_ladder_gradients_against_finite_differences_and_sgd_semantics():
    rng = np.random.default_rng(17)
    weights = init_weights([4, 5, 3], random.Random(0))
    X, c = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    loss, grads, dX = s3.loss_and_grads(weights, X, c)
    W = np.array(weights["layers"][0]["W"])

    def f():
        w = {"sizes": weights["sizes"],
             "layers": [{"W": W, "b": weights["layers"][0]["b"]}, weights["layers"][1]]}
        return s3.loss_and_grads(w, X, c)[0]
    assert rel_error(grads["layers"][0]["W"], numeric_grad(f, W)) < TOL
    assert rel_error(dX, numeric_grad(lambda: s3.loss_and_grads(weights, X, c)[0], X)) < TOL
    # sgd_train: one update per consecutive group of batch_size samples, last group smaller
    before = [[list(row) for row in lay["W"]] for lay in weights["layers"]]
    new = s3.sgd_train(weights, X, c, lr=0.3, batch_size=4)
    expected = {"sizes": weights["sizes"],
                "layers": [{"W": np.array(lay["W"]), "b": np.array(lay["b"])}
                           for lay in weights["layers"]]}
    for s in (0, 4):
        _, g, _ = s3.loss_and_grads(expected, X[s:s + 4], c[s:s + 4])
        for lay, gl in zip(expected["layers"], g["layers"]):
            lay["W"] = lay["W"] - 0.3 * gl["W"]
            lay["b"] = lay["b"] - 0.3 * gl["b"]
    for lay, el in zip(new["layers"], expected["layers"]):
        np.testing.assert_allclose(lay["W"], el["W"], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(lay["b"], el["b"], rtol=1e-13, atol=1e-15)
    assert [[list(row) for row in lay["W"]] for lay in weights["layers"]] == before
    np.testing.assert_allclose(s3.predict_proba(new, X).sum(axis=1), 1.0, rtol=1e-14)


def test_from_weights_to_weights_round_trip():
    weights = init_weights([3, 4, 2], random.Random(1))
    model = MLP.from_weights(weights)
    assert model.names == ["linear1", "sigmoid1", "linear2"]
    assert model.dtype == np.float64
    back = model.to_weights()
    assert back["activation"] == "sigmoid"
    np.testing.assert_array_equal(back["layers"][0]["W"], np.array(weights["layers"][0]["W"]))
    with pytest.raises(ValueError, match="no dropout"):
        MLP(3, [4], 2, "relu", dropout=0.1).to_weights()
    leaky = MLP.from_weights({**weights, "activation": "leaky_relu"})
    assert leaky.names[1] == "leakyrelu1" and leaky.to_weights()["activation"] == "leaky_relu"


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_ladder_functions_honour_the_weights_activation(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(22)
    weights = init_weights([4, 5, 3], random.Random(2), activation=activation)
    model = MLP.from_weights(weights)
    assert model.names[1] == f"{activation}1" and model.to_weights()["activation"] == activation
    X, c = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    loss, grads, dX = s3.loss_and_grads(weights, X, c)
    assert grads["activation"] == activation
    p = [{k: torch.tensor(np.array(v), requires_grad=True) for k, v in lay.items()}
         for lay in weights["layers"]]
    f = torch.relu if activation == "relu" else torch.tanh
    tX = torch.tensor(X)
    o = f(tX @ p[0]["W"] + p[0]["b"]) @ p[1]["W"] + p[1]["b"]
    tl = torch.nn.functional.cross_entropy(o, torch.tensor(c))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(grads["layers"][0]["W"], p[0]["W"].grad.numpy(), rtol=1e-10,
                               atol=1e-15)
    np.testing.assert_allclose(s3.predict_proba(weights, X),
                               torch.softmax(o, dim=1).detach().numpy(), rtol=1e-12)
    assert s3.sgd_train(weights, X, c, lr=0.1, batch_size=3)["activation"] == activation


def test_squared_error_trains_a_tiny_autoencoder():
    rng = np.random.default_rng(18)
    X = rng.uniform(0, 1, (64, 4))
    model = MLP(4, [8], 4, "leaky_relu", output_activation="sigmoid", init="xavier", rng=rng)
    loss = SquaredError()
    opt = SGD(model.parameters(), model.gradients(), lr=0.5, momentum=0.9)
    first = loss.forward(model.forward(X), X)
    for _ in range(300):
        loss.forward(model.forward(X), X)
        model.zero_grad()
        model.backward(loss.backward())
        opt.step()
    assert loss.forward(model.forward(X), X) < 0.2 * first


def test_check_finite_finds_the_row_and_tolerates_huge_finite_values():
    from stage3_batched.model import check_finite

    big = np.full((20, 3), 3e38, dtype=np.float32)        # the sum overflows; values are fine
    check_finite(big)
    big[15, 2] = np.inf
    with pytest.raises(ValueError, match="row 15"):
        check_finite(big)
    with pytest.raises(ValueError, match="row 0"):
        check_finite(np.array([[np.nan, 1.0]]))
