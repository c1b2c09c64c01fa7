"""The playground's web page (Streamlit): widgets on the left, the network training on the right.

A thin layer over :mod:`.session` (the training logic), :mod:`.views` (the pictures) and
:mod:`.agree` (the cross-rung check): this file only lays out widgets and shows what those
return. Start it with ``python -m stage4_analysis.playground`` (served on 127.0.0.1 only).

Changing the data or the network starts over; the learning rate, batch size, momentum and rung
apply to the running network. A setting that cannot be trained is refused with one ``error:``
line and the previous settings stay. "play" runs a few steps per redraw until "pause".
Leaves out: saving a run (use ``python -m stage3_batched`` for that).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shared.errors import ConfigError
from stage4_analysis.playground import views
from stage4_analysis.playground.agree import agreement
from stage4_analysis.playground.data import DATASETS
from stage4_analysis.playground.session import ACTIVATIONS, RUNGS, Session, Settings, parse_hidden

SAMPLES = ("worked example", "next training sample")
FRAME = 0.3   # seconds between redraws while playing


def read_settings() -> Settings:
    """The sidebar's widgets as Settings (ConfigError for a bad hidden-layer text)."""
    d = Settings()
    with st.sidebar:
        st.header("Data")
        dataset = st.selectbox("data set", list(DATASETS), format_func=DATASETS.get)
        size = st.slider("points", 50, 2000, d.size, step=50)
        noise = st.slider("noise", 0.0, 0.5, d.noise, step=0.01)
        seed = st.number_input("seed", 0, 1_000_000, d.seed)
        st.header("Network")
        hidden = st.text_input("hidden layers (widths)", " ".join(map(str, d.hidden)))
        activation = st.selectbox("activation", list(ACTIVATIONS), format_func=ACTIVATIONS.get)
        rung = st.selectbox("trained by", list(RUNGS), format_func=RUNGS.get)
        st.header("Training")
        lr = st.number_input("learning rate", min_value=0.0, value=d.lr, step=0.1, format="%g")
        batch = st.number_input("batch size", 1, 10_000, d.batch_size)
        momentum = st.slider("momentum", 0.0, 0.99, d.momentum, step=0.01)
        st.slider("steps per redraw while playing", 1, 50, 5, key="speed")
    return Settings(dataset=dataset, size=int(size), noise=float(noise), seed=int(seed),
                    hidden=parse_hidden(hidden), activation=activation, rung=rung,
                    lr=float(lr), batch_size=int(batch), momentum=float(momentum))


def the_session() -> Session:
    """The browser tab's session, built on first use and updated from the widgets; a refused
    setting shows its message and keeps the session as it was."""
    if "session" not in st.session_state:
        st.session_state.session = Session()
        st.session_state.playing = False
    session = st.session_state.session
    try:
        if session.apply(read_settings()):
            st.session_state.playing = False
    except ConfigError as e:
        st.error(f"error: {e}")
    return session


def toggle_play() -> None:
    st.session_state.playing = not st.session_state.playing


def start_over(session: Session) -> None:
    session.reset()
    st.session_state.playing = False


def controls(session: Session) -> None:
    """play / pause, step, epoch and reset (callbacks: they run before the page is drawn)."""
    a, b, c, d = st.columns(4)
    a.button("pause" if st.session_state.playing else "play", key="play", on_click=toggle_play,
             width="stretch")
    b.button("step", on_click=session.step, width="stretch")
    c.button("epoch", on_click=lambda: session.run(session.steps_per_epoch),
             width="stretch")
    d.button("reset", on_click=start_over, args=(session,), width="stretch")


def status(session: Session) -> None:
    """The numbers of the current step, and whether the rungs agree on the next one."""
    r = session.last
    st.markdown(f"**step {r['step']}**, epoch {r['epoch']} &nbsp; · &nbsp; training loss "
                f"{r['train_loss']:.6f}, accuracy {100 * r['train_acc']:.1f} % &nbsp; · &nbsp; "
                f"validation loss {r['val_loss']:.6f}, accuracy {100 * r['val_acc']:.1f} %")
    if session.message:
        st.warning(session.message + " (reset to start over)")
    for line in session.doctor():
        st.info(f"training doctor: {line}")
    idx = session.next_batch()
    check = agreement(session.model.to_weights(), session.train[0][idx], session.train[1][idx])
    if check["skipped"] and not check["rungs"]:
        st.caption(f"rungs: {check['skipped']}")
        return
    st.caption(f"rungs {', '.join(check['rungs'])} on the next batch: largest difference "
               f"{check['max_abs']:.2e} (relative {check['rel']:.2e}, {check['pair']}, "
               f"{check['tensor']})" + (f"; {check['skipped']}" if check["skipped"] else ""))


def pictures(session: Session) -> None:
    """Decision boundary, curves, hidden units and 2-unit representation planes."""
    plane = session.train[0].shape[1] == 2
    left, right = st.columns(2)
    if plane:
        left.image(views.boundary_image(session), caption="decision boundary: P(class 1) over "
                   "the input plane (orange 0, blue 1), training points on top")
    else:
        left.info("784 inputs: no input plane to draw; the hidden units below show their "
                  "incoming weights as 28 x 28 images")
    cols = views.curves(session)
    right.vega_lite_chart(views.chart(cols, ("train_loss", "val_loss"), "loss"),
                          width="stretch")
    right.vega_lite_chart(views.chart(cols, ("train_acc", "val_acc"), "accuracy (%)"),
                          width="stretch")
    for i, images in enumerate(views.unit_images(session)):
        st.caption(f"hidden layer {i + 1}: each unit's " + ("output over the input plane"
                   if plane else "incoming weights (orange < 0 < blue)"))
        st.image(images, caption=[f"unit {j + 1}" for j in range(len(images))])
    for i, width in enumerate(session.settings.hidden):
        if width == 2:
            st.image(views.representation_image(session, i), caption=f"hidden layer {i + 1} "
                     "(2 units): every training point at (h1, h2)")


def opened_up(session: Session) -> None:
    """The stage-1 computation graph of one sample under the current weights."""
    with st.expander("one step, opened up: the computation graph", expanded=True):
        which = st.radio("sample", SAMPLES, horizontal=True)
        try:
            st.graphviz_chart(views.graph_source(session, which))
        except ConfigError as e:
            st.info(str(e))


def training_view() -> None:
    """Redrawn on every interaction, and every :data:`FRAME` seconds while playing (a few
    steps each time)."""
    session = st.session_state.session
    if st.session_state.playing and not session.run(st.session_state.speed):
        st.session_state.playing = False                  # training stopped: redraw it all
        st.rerun()
    with np.errstate(all="ignore"):                       # a diverged network draws NaN
        status(session)
        pictures(session)
        opened_up(session)


def main() -> None:
    st.set_page_config(page_title="mlp-ladder playground", layout="wide")
    st.title("mlp-ladder playground")
    session = the_session()
    controls(session)
    st.fragment(training_view, run_every=FRAME if st.session_state.playing else None)()


main()
