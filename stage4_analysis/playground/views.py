"""What the playground draws, as plain arrays: pictures are ``(H, W, 3)`` uint8 images, curves
are columns of numbers, the opened-up step is DOT text.

* :func:`boundary_image` - the network's probability of class 1 over the input plane, with the
  training points on top (orange class 0, blue class 1);
* :func:`unit_images` - each hidden unit's output over the same plane, one small heat map per
  unit (for MNIST, where there is no input plane: each first-layer unit's incoming weights as a
  28 x 28 image);
* :func:`representation_image` - for a hidden layer of 2 units, where every training point lands
  in that layer's plane ``(h1, h2)``; when it is the last hidden layer, the output's class-1
  probability is drawn behind (a straight line separates the classes there when the network has
  untangled them);
* :func:`curves` - loss and accuracy per step, training and validation (:func:`chart`: as a
  Vega-Lite line chart, which the browser draws);
* :func:`graph_source` - the stage-1 computation graph (``stage1_scalar.graph.build``) of one
  sample under the current weights: every value, gradient and local derivative.

Every forward pass is stage 3's (``Sequential.forward`` with ``start`` / ``end`` layer names).
:func:`png` encodes an image (what Streamlit sends to the browser). Leaves out: axes and
legends (the page writes them in words), more than two classes in the plane.
"""

from __future__ import annotations

import io

import numpy as np

from shared.errors import ConfigError
from shared.weights import to_lists, worked_example
from stage3_batched.layers import Linear, softmax

COLOURS = np.array([[245, 147, 34], [8, 119, 189]], dtype=np.float64)   # class 0, class 1
WHITE = np.array([255.0, 255.0, 255.0])
MARGIN = 0.1


def hidden_names(model) -> list[str]:
    """The names of the model's activation layers, one per hidden layer (``sigmoid1``, ...)."""
    return [name for layer, name in zip(model.layers, model.names)
            if not isinstance(layer, Linear)]


def extent(X: np.ndarray) -> tuple[float, float, float, float]:
    """``(x1 min, x1 max, x2 min, x2 max)`` of points X (N, 2), widened by 10 % each side."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = MARGIN * np.maximum(hi - lo, 1e-9)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]),
            float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def grid(box, res: int) -> np.ndarray:
    """``res * res`` points (res*res, 2) at pixel centres of ``box``; row 0 is the top (largest
    x2), as an image is drawn."""
    x1 = np.linspace(box[0], box[1], res)
    x2 = np.linspace(box[3], box[2], res)
    a, b = np.meshgrid(x1, x2)
    return np.stack([a.ravel(), b.ravel()], axis=1)


def shade(p: np.ndarray) -> np.ndarray:
    """Probabilities of class 1 (H, W) -> colours (H, W, 3): orange at 0, white at 1/2, blue
    at 1, pale so the points on top stand out."""
    t = (2.0 * p - 1.0)[..., None]
    col = np.where(t < 0, COLOURS[0], COLOURS[1])
    return WHITE + 0.55 * np.abs(t) * (col - WHITE)


def dots(img: np.ndarray, P: np.ndarray, c: np.ndarray, box) -> np.ndarray:
    """Draw points P (N, 2) of classes c (N,) into img (H, W, 3) as 3 x 3 squares."""
    H, W = img.shape[:2]
    col = np.clip(((P[:, 0] - box[0]) / (box[1] - box[0]) * (W - 1)).round(), 1, W - 2)
    row = np.clip(((box[3] - P[:, 1]) / (box[3] - box[2]) * (H - 1)).round(), 1, H - 2)
    col, row = col.astype(int), row.astype(int)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            img[row + dr, col + dc] = 0.7 * COLOURS[c]
    img[row, col] = COLOURS[c]
    return img


def upscale(img: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def boundary_image(session, res: int = 96, scale: int = 3) -> np.ndarray:
    """Class-1 probability over the input plane of a 2-D data set, points on top:
    (res * scale, res * scale, 3) uint8."""
    X, c = session.train
    box = extent(X)
    with session.model.evaluating(), np.errstate(all="ignore"):
        y = softmax(session.model.forward(grid(box, res)))            # (res*res, K)
    img = upscale(shade(y[:, 1].reshape(res, res)), scale)
    return dots(img, X, c, box).astype(np.uint8)


def heat(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Values (H, W) -> colours (H, W, 3): orange at ``lo``, white midway, blue at ``hi``."""
    p = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    return WHITE + np.abs(2 * p - 1)[..., None] * (np.where((p < 0.5)[..., None], COLOURS[0],
                                                            COLOURS[1]) - WHITE)


def _range(name: str, h: np.ndarray) -> tuple[float, float]:
    """The colour scale of a unit: its activation's range (sigmoid 0..1, tanh -1..1), else
    what the unit reaches on the plane (ReLU, leaky ReLU)."""
    if name.startswith("sigmoid"):
        return 0.0, 1.0
    if name.startswith("tanh"):
        return -1.0, 1.0
    return min(float(h.min()), 0.0), max(float(h.max()), 1e-9)


def unit_images(session, res: int = 36, scale: int = 3) -> list[list[np.ndarray]]:
    """One list per hidden layer of one (res*scale, res*scale, 3) uint8 heat map per unit: its
    output over the input plane (2-D data) or its incoming weights (MNIST, 28 x 28 x scale)."""
    model, X = session.model, session.train[0]
    if X.shape[1] != 2:
        return [[upscale(_weight_image(w), scale).astype(np.uint8) for w in model[0].params["W"].T]]
    P = grid(extent(X), res)
    out = []
    with model.evaluating(), np.errstate(all="ignore"):
        for name in hidden_names(model):
            h = model.forward(P, end=name)                               # (res*res, width)
            lo, hi = _range(name, h)
            out.append([upscale(heat(h[:, j].reshape(res, res), lo, hi), scale).astype(np.uint8)
                        for j in range(h.shape[1])])
    return out


def _weight_image(w: np.ndarray) -> np.ndarray:
    """A first-layer unit's 784 weights as a 28 x 28 heat map, symmetric about 0."""
    s = float(np.abs(w).max()) or 1.0
    return heat(w.reshape(28, 28), -s, s)


def representation_image(session, layer: int, res: int = 96, scale: int = 3) -> np.ndarray:
    """Where the training points land in hidden layer ``layer``'s plane (it has 2 units), with
    the class-1 probability behind them when it is the last hidden layer."""
    model, (X, c) = session.model, session.train
    names = hidden_names(model)
    if session.sizes[layer + 1] != 2:
        raise ConfigError(f"hidden layer {layer + 1} has {session.sizes[layer + 1]} units; its "
                          "plane is drawn for 2")
    with model.evaluating(), np.errstate(all="ignore"):
        H = model.forward(X, end=names[layer])                            # (N, 2)
        box = extent(H)
        if layer == len(names) - 1:
            start = model.names[model.index(names[layer]) + 1]
            y = softmax(model.forward(grid(box, res), start=start))
            img = shade(y[:, 1].reshape(res, res))
        else:
            img = np.full((res, res, 3), 255.0)
    return dots(upscale(img, scale), H, c, box).astype(np.uint8)


def curves(session, most: int = 400) -> dict[str, list]:
    """Columns ``step``, ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` of the history,
    thinned to at most ``most`` rows (evenly, keeping the last)."""
    rows = session.history
    if len(rows) > most:
        keep = np.unique(np.linspace(0, len(rows) - 1, most).round().astype(int))
        rows = [rows[i] for i in keep]
    keys = ("step", "train_loss", "val_loss", "train_acc", "val_acc")
    cols = {k: [r[k] for r in rows] for k in keys}
    for k in ("train_acc", "val_acc"):                 # accuracy in %, as in every figure
        cols[k] = [100 * v if v is not None else v for v in cols[k]]
    return cols


def chart(columns: dict[str, list], keys: tuple[str, ...], title: str) -> dict:
    """A Vega-Lite line chart (a plain dict, drawn by the browser) of ``columns[key]`` against
    ``columns["step"]`` for each key; NaN values are left out."""
    rows = [{"step": s, "series": k, "value": v} for k in keys
            for s, v in zip(columns["step"], columns[k]) if v == v]
    return {"data": {"values": rows}, "mark": {"type": "line", "strokeWidth": 1.5},
            "height": 180, "title": title,
            "encoding": {"x": {"field": "step", "type": "quantitative"},
                         "y": {"field": "value", "type": "quantitative", "title": None},
                         "color": {"field": "series", "type": "nominal", "title": None}}}


def graph_sample(session, which: str) -> tuple[list[float], int]:
    """The sample the opened-up step shows: the worked example's input (x = [1, -1], class 0,
    for 2-input 2-class networks) or the first sample of the next batch."""
    if which == "worked example" and session.sizes[0] == 2 and session.num_classes == 2:
        _, x, c = worked_example()
        return x, c
    i = int(session.next_batch()[0])
    return [float(v) for v in session.train[0][i]], int(session.train[1][i])


def graph_source(session, which: str = "worked example") -> str:
    """DOT text of the stage-1 computation graph of the chosen sample under the current
    weights; ConfigError (with the reason) when stage 1 cannot draw this network."""
    from stage1_scalar.graph import build

    x, c = graph_sample(session, which)
    return build(to_lists(session.model.to_weights()), x, c).source


def png(img: np.ndarray) -> bytes:
    """An image (H, W, 3) uint8 as PNG bytes (Pillow, which Streamlit uses too)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
