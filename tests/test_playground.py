"""The playground's logic without a browser: data, the session's steps against stage 3's ``fit``
and the other rungs' ``sgd_train``, settings that are refused, the cross-rung check, the
pictures and the opened-up graph.

Oracles: ``stage3_batched.fit`` from the same initial model and generator (the same weights to
the last bit for stage 3; to 1e-12 for stages 1 and 2, whose sums run in another order), the
shared data loaders, and the models' own forward passes for the pictures. Float64 throughout.
"""

import math
import socket

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shared.data import load_disc
from shared.errors import ConfigError
from shared.weights import to_lists
from stage1_scalar import graph
from stage3_batched import SGD, SoftmaxCrossEntropy, fit
from stage3_batched.layers import softmax
from stage4_analysis.playground import data, views
from stage4_analysis.playground.agree import agreement
from stage4_analysis.playground.session import (
    Session,
    Settings,
    batch_order_rng,
    initial_model,
    parse_hidden,
)


def fitted(s: Settings, epochs: int):
    """The model ``fit`` leaves after ``epochs`` epochs from the session's start."""
    session = Session(s)
    model = initial_model(s, session.train[0].shape[1], session.num_classes)
    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=s.lr, momentum=s.momentum), session.train,
        epochs=epochs, batch_size=s.batch_size, rng=batch_order_rng(s), progress=False)
    return session, [(lin.params["W"], lin.params["b"]) for lin in model.layers[::2]]


def assert_weights(session, expected, rtol):
    for got, (W, b) in zip(session.weights(), expected):
        assert_allclose(got["W"], W, rtol=rtol, atol=rtol)
        assert_allclose(got["b"], b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ["disc", "synth", "xor", "spirals", "moons"])
def test_plane_data_are_seeded_split_and_noisy(name):
    (X, c), (Xv, cv), K = data.make(name, size=200, noise=0.0, seed=3)
    assert X.shape == (160, 2) and Xv.shape == (40, 2) and K == 2 and X.dtype == np.float64
    assert set(np.unique(np.concatenate([c, cv]))) == {0, 1}
    (X2, c2), _, _ = data.make(name, size=200, noise=0.0, seed=3)
    assert_allclose(X2, X, rtol=0, atol=0)
    (Xn, cn), _, _ = data.make(name, size=200, noise=0.2, seed=3)
    assert_allclose(cn, c, rtol=0, atol=0)              # noise moves points, labels stay
    assert 0.05 < np.abs(Xn - X).mean() < 0.5


def test_disc_is_shared_datas_disc():
    (X, c), (Xv, cv), _ = data.make("disc", size=500, seed=7)
    (X0, c0), (Xv0, cv0), _ = load_disc(n=500, rng=np.random.default_rng(7))
    assert_allclose(np.concatenate([X, Xv]), np.concatenate([X0, Xv0]), rtol=0, atol=0)


@pytest.mark.parametrize("kw", [{"name": "rings"}, {"size": 5}, {"noise": -0.1}])
def test_bad_data_settings_are_refused(kw):
    args = {"name": "disc", "size": 100, "noise": 0.0, **kw}
    with pytest.raises(ConfigError, match="data set|size|noise"):
        data.make(args["name"], args["size"], args["noise"])


def test_steps_are_fits_updates_exactly_in_stage3():
    s = Settings(hidden=(5, 4), activation="tanh", lr=0.2, batch_size=7, momentum=0.9)
    session, expected = fitted(s, epochs=2)
    assert session.run(2 * session.steps_per_epoch) == 2 * session.steps_per_epoch
    assert_weights(session, expected, rtol=0)
    assert session.epoch == 2 and session.steps == 2 * math.ceil(400 / 7)


@pytest.mark.parametrize("rung, activation", [("stage1", "sigmoid"), ("stage2", "tanh"),
                                              ("stage1", "leaky_relu")])
def test_stage1_and_stage2_steps_agree_with_fit(rung, activation):
    s = Settings(hidden=(3,), activation=activation, rung=rung, lr=0.5, batch_size=16, size=100)
    session, expected = fitted(s, epochs=2)
    session.run(2 * session.steps_per_epoch)
    assert_weights(session, expected, rtol=1e-12)


def test_history_records_each_step():
    session = Session(Settings(batch_size=400))          # one step = one full-batch epoch
    model = initial_model(session.settings, 2, 2)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.5), session.train,
                  session.val, epochs=3, batch_size=400, rng=batch_order_rng(session.settings),
                  progress=False)
    session.run(3)
    rows = session.history
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and math.isnan(rows[0]["batch_loss"])
    assert_allclose([r["batch_loss"] for r in rows[1:]], history.step_loss, rtol=1e-15)
    assert_allclose([r["val_acc"] for r in rows[1:]], history.epoch_values("val_acc"), rtol=0)


def test_training_settings_apply_to_the_running_network():
    session = Session()
    session.run(5)
    before = session.weights()
    assert not session.apply(session.settings.changed(lr=0.1, momentum=0.5, batch_size=3))
    assert session.optimizer.lr == 0.1 and session.optimizer.momentum == 0.5
    assert_allclose(session.weights()[0]["W"], before[0]["W"], rtol=0, atol=0)
    assert len(session.next_batch()) == 3
    assert session.apply(session.settings.changed(hidden=(8, 8)))       # a new network
    assert session.sizes == [2, 8, 8, 2] and session.steps == 0


@pytest.mark.parametrize("change, message", [
    ({"lr": 0.0}, "learning rate"), ({"lr": float("nan")}, "learning rate"),
    ({"momentum": 1.0}, "momentum"), ({"rung": "stage1", "momentum": 0.5}, "momentum"),
    ({"rung": "stage1", "hidden": (64, 64)}, "stage 1"), ({"batch_size": 0}, "batch size"),
])
def test_untrainable_settings_are_refused_and_change_nothing(change, message):
    session = Session()
    session.run(3)
    before, settings = session.weights(), session.settings
    with pytest.raises(ConfigError, match=message):
        session.apply(settings.changed(**change))
    assert session.settings == settings and session.steps == 3
    assert_allclose(session.weights()[0]["W"], before[0]["W"], rtol=0, atol=0)


@pytest.mark.parametrize("text, widths", [("8 8", (8, 8)), ("3,2", (3, 2)), ("", ())])
def test_hidden_layers_text(text, widths):
    assert parse_hidden(text) == widths


@pytest.mark.parametrize("text", ["8 x", "-1", "0", "1 2 3 4 5 6 7", "1000"])
def test_bad_hidden_layers_text(text):
    with pytest.raises(ConfigError, match="hidden layers"):
        parse_hidden(text)


def test_a_nonfinite_loss_stops_training_and_keeps_the_weights():
    session = Session(Settings(activation="relu"))
    session.model[0].params["W"][...] = 1e308                # the logits overflow
    before = session.weights()
    assert not session.step() and "diverged" in session.message
    assert not session.run(5) and session.steps == 0
    assert_allclose(session.weights()[1]["W"], before[1]["W"], rtol=0, atol=0)


def test_rungs_agree_on_the_next_batch():
    session = Session(Settings(hidden=(4, 3)))
    idx = session.next_batch()
    check = agreement(session.model.to_weights(), session.train[0][idx], session.train[1][idx])
    assert check["rungs"] == ["stage1", "stage2", "stage3"] and check["skipped"] is None
    assert 0 <= check["max_abs"] < 1e-13 and check["rel"] < 1e-12
    big = Session(Settings(hidden=(64, 64)))
    check = agreement(big.model.to_weights(), big.train[0][:4], big.train[1][:4])
    assert check["rungs"] == ["stage2", "stage3"] and "stage 1" in check["skipped"]
    leaky = Session(Settings(activation="leaky_relu", hidden=(4,)))
    idx = leaky.next_batch()
    check = agreement(leaky.model.to_weights(), leaky.train[0][idx], leaky.train[1][idx])
    assert check["rungs"] == ["stage1", "stage2", "stage3"] and check["rel"] < 1e-12


def test_pictures_show_what_the_model_computes():
    session = Session(Settings(hidden=(8, 2), activation="tanh", lr=0.3))
    session.run(30 * session.steps_per_epoch)
    img = views.boundary_image(session, res=50, scale=1)
    assert img.shape == (50, 50, 3) and img.dtype == np.uint8
    box = views.extent(session.train[0])
    p = softmax(session.model.forward(views.grid(box, 50)))[:, 1].reshape(50, 50)
    dots = np.zeros((50, 50), bool)                     # the training points drawn on top
    for colour in np.concatenate([views.COLOURS, 0.7 * views.COLOURS]).astype(np.uint8):
        dots |= (img == colour).all(axis=2)
    blue = ~dots & (img[..., 2].astype(int) - img[..., 0].astype(int) > 40)
    orange = ~dots & (img[..., 0].astype(int) - img[..., 2].astype(int) > 40)
    assert p[blue].min() > 0.5 and p[orange].max() < 0.5 and min(blue.sum(), orange.sum()) > 100
    maps = views.unit_images(session, res=20, scale=1)
    assert [len(m) for m in maps] == [8, 2] and maps[0][0].shape == (20, 20, 3)
    plane = views.representation_image(session, 1, res=40, scale=1)
    assert plane.shape == (40, 40, 3)
    with pytest.raises(ConfigError, match="8 units"):
        views.representation_image(session, 0)


def test_mnist_units_show_their_weights():
    session = Session(Settings(dataset="mnist-sample", size=200, hidden=(4,), batch_size=50))
    session.step()
    maps = views.unit_images(session, scale=1)
    assert len(maps) == 1 and len(maps[0]) == 4 and maps[0][0].shape == (28, 28, 3)


def test_graph_is_stage1s_and_follows_the_steps():
    session = Session()
    first = views.graph_source(session)
    assert "x[0] = 1\ngrad" in first and "x[1] = -1\ngrad" in first   # the worked example's x
    assert first == graph.build(to_lists(session.model.to_weights()), [1.0, -1.0], 0).source
    session.step()
    after = views.graph_source(session)
    assert after != first
    assert after == graph.build(to_lists(session.model.to_weights()), [1.0, -1.0], 0).source
    x, c = views.graph_sample(session, "next training sample")
    assert_allclose(x, session.train[0][session.next_batch()[0]], rtol=0)
    with pytest.raises(ConfigError, match="60"):
        views.graph_source(Session(Settings(hidden=(8, 8))))
    assert "leaky_relu hidden layers" in views.graph_source(Session(Settings(
        activation="leaky_relu")))


def test_png_round_trips():
    import io

    from PIL import Image

    img = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    back = np.asarray(Image.open(io.BytesIO(views.png(img))))
    assert_allclose(back, img, rtol=0, atol=0)


def test_command_serves_on_localhost_only_and_names_the_extra(monkeypatch, capsys):
    from stage4_analysis.playground import __main__ as cli

    command = cli.streamlit_command(8765)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8765"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--port {port}: cannot listen"):
            cli.check_port(port)
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    assert cli.run_main(cli.main, []) == 2
    assert capsys.readouterr().err.strip() == ("error: the playground needs Streamlit: "
                                               'pip install -e ".[playground]"')


def test_the_readmes_tries_do_what_it_says():
    saturated = Session(Settings(lr=30.0))                   # "make the sigmoid layer saturate"
    saturated.run(10 * saturated.steps_per_epoch)
    h = saturated.model.forward(saturated.train[0], end="sigmoid1")
    assert np.mean((h < 0.01) | (h > 0.99)) > 0.95 and saturated.last["train_loss"] > math.log(2)
    untangled = Session(Settings(hidden=(8, 2), activation="tanh", lr=0.3))
    untangled.run(40 * untangled.steps_per_epoch)               # "a 2-unit layer untangles"
    assert untangled.last["val_acc"] > 0.9
    for hidden, low, high in [((), 0.0, 0.65), ((3,), 0.85, 1.0)]:
        xor = Session(Settings(dataset="xor", hidden=hidden, activation="tanh", lr=0.3))
        xor.run(30 * xor.steps_per_epoch)
        assert low <= xor.last["val_acc"] <= high, hidden


def test_the_training_doctor_speaks_when_training_goes_wrong_and_not_otherwise():
    healthy = Session()
    healthy.run(healthy.steps_per_epoch * 25)
    assert len(healthy.epochs) == 25 and healthy.doctor() == []
    assert healthy.last["val_acc"] > 0.85
    hot = Session(Settings(lr=30.0))
    hot.run(hot.steps_per_epoch * 6)
    lines = hot.doctor()
    assert any(line.startswith("learning rate too high") for line in lines), lines
    assert any(line.startswith("saturated units") and "sigmoid1" in line for line in lines)
    cold = Session(Settings(lr=1e-6))
    cold.run(cold.steps_per_epoch * 3)
    assert any(line.startswith("learning rate too low") for line in cold.doctor())
    fresh = Session()
    fresh.run(fresh.steps_per_epoch - 1)               # no epoch finished: nothing to say yet
    assert fresh.epochs == [] and fresh.doctor() == []


def test_the_doctor_leaves_the_trajectory_as_fit_has_it():
    with_doctor = Session()
    with_doctor.run(with_doctor.steps_per_epoch * 2 + 3)
    plain = Session()
    plain._close_epoch = lambda probe=256: None        # the same run, the doctor not measuring
    plain.run(plain.steps_per_epoch * 2 + 3)
    for a, b in zip(with_doctor.weights(), plain.weights()):
        assert_allclose(a["W"], b["W"], rtol=0, atol=0)
        assert_allclose(a["b"], b["b"], rtol=0, atol=0)
