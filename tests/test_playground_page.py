"""The playground's page, run headless with Streamlit's ``AppTest``: the widgets change the
model, the buttons step it exactly as stage 3's ``fit`` would, bad values are refused on the
page, play and pause. Skipped without Streamlit (``pip install -e ".[playground]"``).

Oracle for the weights: ``stage3_batched.fit`` from the same initial model and batch-order
generator (``session.initial_model``, ``session.batch_order_rng``), compared with
``assert_allclose`` at tolerance 0 (stage 3 runs the same operations in the same order).
"""

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from stage3_batched import SGD, SoftmaxCrossEntropy, fit
from stage4_analysis.playground.session import batch_order_rng, initial_model

pytest.importorskip("streamlit", reason="the playground needs Streamlit: pip install -e "
                    "\".[playground]\"")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGE = Path(__file__).resolve().parents[1] / "stage4_analysis" / "playground" / "page.py"


@pytest.fixture
def page():
    at = AppTest.from_file(str(PAGE), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def widget(at, kind: str, label: str):
    return next(w for w in getattr(at, kind) if w.label == label)


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def fit_weights(session, epochs: int):
    s = session.settings
    model = initial_model(s, session.train[0].shape[1], session.num_classes)
    fit(model, SoftmaxCrossEntropy(), SGD(model, lr=s.lr, momentum=s.momentum), session.train,
        epochs=epochs, batch_size=s.batch_size, rng=batch_order_rng(s), progress=False)
    return [lin.params["W"] for lin in model.layers[::2]]


def test_widgets_change_the_model(page):
    widget(page, "text_input", "hidden layers (widths)").set_value("8 8").run()
    widget(page, "selectbox", "activation").set_value("tanh").run()
    widget(page, "selectbox", "data set").set_value("xor").run()
    session = page.session_state["session"]
    assert session.sizes == [2, 8, 8, 2] and session.model.activation == "tanh"
    assert session.settings.dataset == "xor" and not page.error
    widget(page, "number_input", "learning rate").set_value(0.05).run()
    widget(page, "slider", "momentum").set_value(0.5).run()
    assert session.optimizer.lr == 0.05 and session.optimizer.momentum == 0.5
    assert "step 0" in page.markdown[0].value


def test_step_and_epoch_buttons_train_as_fit_does(page):
    widget(page, "slider", "momentum").set_value(0.9).run()
    widget(page, "number_input", "batch size").set_value(400).run()    # 1 step = 1 epoch
    button(page, "step").click().run()
    button(page, "step").click().run()
    session = page.session_state["session"]
    assert session.steps == 2 and "step 2" in page.markdown[0].value
    for got, W in zip(session.weights(), fit_weights(session, epochs=2)):
        assert_allclose(got["W"], W, rtol=0, atol=0)
    widget(page, "number_input", "batch size").set_value(32).run()
    widget(page, "number_input", "seed").set_value(4).run()                 # starts over
    button(page, "epoch").click().run()
    session = page.session_state["session"]
    assert session.steps == 13
    for got, W in zip(session.weights(), fit_weights(session, epochs=1)):
        assert_allclose(got["W"], W, rtol=0, atol=0)


@pytest.mark.parametrize("kind, label, value, message", [
    ("text_input", "hidden layers (widths)", "8 x", "hidden layers"),
    ("number_input", "learning rate", 0.0, "learning rate"),
])
def test_bad_values_are_refused_on_the_page(page, kind, label, value, message):
    button(page, "step").click().run()
    session = page.session_state["session"]
    W = session.weights()[0]["W"]
    widget(page, kind, label).set_value(value).run()
    assert not page.exception and len(page.error) == 1
    assert page.error[0].value.startswith("error: ") and message in page.error[0].value
    assert page.session_state["session"] is session and session.steps == 1
    assert_allclose(session.weights()[0]["W"], W, rtol=0, atol=0)


def test_stage1_with_momentum_is_refused(page):
    widget(page, "slider", "momentum").set_value(0.5).run()
    widget(page, "selectbox", "trained by").set_value("stage1").run()
    assert "momentum" in page.error[0].value
    assert page.session_state["session"].settings.rung == "stage3"


def test_play_runs_steps_until_pause(page):
    widget(page, "slider", "steps per redraw while playing").set_value(7).run()
    button(page, "play").click().run()
    session = page.session_state["session"]
    assert page.session_state["playing"] and session.steps == 7
    button(page, "pause").click().run()
    page.run()
    assert not page.session_state["playing"] and session.steps == 7
    assert np.isfinite(session.last["train_loss"])


def test_mnist_draws_weights_and_leaves_stage1_out(page):
    widget(page, "selectbox", "data set").set_value("mnist-sample").run()
    session = page.session_state["session"]
    assert session.sizes == [784, 3, 10] and not page.exception
    assert "stage 1 left out" in page.caption[0].value
    assert "incoming weights" in page.caption[1].value
    assert "60" in page.info[1].value                       # the graph is refused, with the limit
    widget(page, "selectbox", "trained by").set_value("stage1").run()
    assert "stage 1" in page.error[0].value and session.settings.rung == "stage3"


def test_divergence_while_playing_stops_and_says_so(page):
    widget(page, "selectbox", "activation").set_value("relu").run()
    session = page.session_state["session"]
    session.model[0].params["W"][...] = 1e308                   # the next loss is NaN
    button(page, "play").click().run()
    assert not page.session_state["playing"] and button(page, "play")
    assert session.steps == 0 and "diverged" in page.warning[0].value
