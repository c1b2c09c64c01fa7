"""Ursinus CS 477 "Build your own MLP": an MLP API with named layers, trained one sample at a
time, in the hand-out's file and names.

The student's file: ``mlp.py`` with ``MLP(d, est_lossderiv)``, ``add_layer(m, f, fderiv,
name)``, ``forward(x, start, end)``, ``backward(x, y)`` (one sample; gradients *added* to each
layer's ``dW``, ``db``), ``step(alpha)`` and ``zero_grad()``; each layer a dict with ``W`` (m,
m_prev) - (out, in), the transpose of the ladder's layout - and ``b`` (m,). The activations and
the losses' derivatives (``logistic``, ``leaky_relu``, ``softmax``,
``softmax_est_crossentropy_deriv``, ...) are provided by the course.

As a rung: the ladder's W is transposed into each layer; a batch of N samples is N calls of
``backward`` whose summed gradients are divided by N (the ladder's loss is the batch mean), and
an SGD step of rate lr on a batch of B is ``step(lr / B)``. The provided activations are checked
against their derivatives first: a mismatch there is the course's provided code, not the
student's backward.
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import Bug, files_match, folder_of, load_files, onehot, weights_layers

NAME = "byomlp"
TITLE = "Ursinus CS 477, Build your own MLP (named layers, one sample at a time)"
FILES = ("mlp.py",)
SHAPE = ("MLP(d, est_lossderiv).add_layer(m, f, fderiv, name): layers as dicts with W (out, in), "
         "b (out,), dW, db; backward(x, y) on one sample adds to dW, db (sums over samples); "
         "step(alpha); zero_grad()")
#: ladder activation -> the course's provided (function, derivative) names
PROVIDED = {"sigmoid": ("logistic", "logistic_deriv"),
            "leaky_relu": ("leaky_relu", "leaky_relu_deriv")}
ACTIVATIONS = tuple(PROVIDED)
MAX_HIDDEN = None
ACCUMULATES = True

RUBRIC = (("forward", "Forward pass: add_layer and forward", 10),
          ("backward", "Backpropagation: backward, step and zero_grad", 15),
          ("disc", "The disc test trains", 5))

BUGS = (
    Bug("step climbs the loss", "mlp.py", 'layer["W"] -= alpha * layer["dW"]',
        'layer["W"] += alpha * layer["dW"]', ("backward", "disc"), "opposite sign"),
    Bug("derivative at the output h", "mlp.py",
        'g = (layer["W"].T @ g) * self.layers[l - 1]["fderiv"](self.layers[l - 1]["a"])',
        'g = (layer["W"].T @ g) * self.layers[l - 1]["fderiv"](self.layers[l - 1]["h"])',
        ("backward",), "applied to h"),
    Bug("gradients overwritten", "mlp.py", 'layer["db"] += g', 'layer["db"] = g',
        ("backward",), "overwritten"),
)


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"mlp.py": "add_layer"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def cannot(weights, files) -> str | None:
    act = weights.get("activation", "sigmoid")
    names = PROVIDED.get(act)
    if names is None:
        return (f"mlp.py provides {', '.join(f for f, _ in PROVIDED.values())} as activations, "
                f"no {act}")
    missing = [n for n in names if not callable(getattr(files.mlp, n, None))]
    if missing:
        return f"mlp.py has no {', '.join(missing)}"
    return provided_mismatch(files, act)


def provided_mismatch(files, act: str) -> str | None:
    """Whether the course's provided activation and its derivative agree (central differences
    at points away from 0); a sentence naming the provided code when they do not."""
    f_name, d_name = PROVIDED[act]
    f, d = getattr(files.mlp, f_name), getattr(files.mlp, d_name)
    x = np.array([-2.0, -0.7, -0.3, 0.4, 1.1, 2.5])
    h = 1e-6
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    given = np.asarray(d(x), np.float64)
    if np.allclose(given, numeric, rtol=1e-6, atol=1e-8):
        return None
    j = int(np.argmax(np.abs(given - numeric)))
    return (f"the course's provided {f_name} and {d_name} in mlp.py disagree: at x = {x[j]:g} "
            f"the slope of {f_name} is {numeric[j]:.6g} but {d_name} returns {given[j]:.6g} - "
            "that is the provided code, not your backward; the hand-out's starter has this "
            f"mismatch, fix {f_name} (or {d_name}) before checking {act} networks")


def build(files, weights):
    """The student's MLP for ``weights``: one add_layer per layer, then W (out, in) and b set to
    the ladder's (transposed) values. The output layer is the provided softmax."""
    mlp_mod = files.mlp
    layers = weights_layers(weights)
    f_name, d_name = PROVIDED[weights.get("activation", "sigmoid")]
    net = mlp_mod.MLP(layers[0][0].shape[0], mlp_mod.softmax_est_crossentropy_deriv)
    for i, (W, _) in enumerate(layers):
        last = i == len(layers) - 1
        net.add_layer(W.shape[1], mlp_mod.softmax if last else getattr(mlp_mod, f_name),
                      None if last else getattr(mlp_mod, d_name))
    if len(net.layers) != len(layers):
        raise ValueError(f"after {len(layers)} add_layer calls MLP.layers holds "
                         f"{len(net.layers)} layers")
    for layer, (W, b) in zip(net.layers, layers):
        layer["W"], layer["b"] = W.T.copy(), b.copy()
    return net


def rung(files) -> types.SimpleNamespace:
    def loss_and_grads(weights, X, c, passes=1):
        net = build(files, weights)
        K = len(net.layers[-1]["b"])
        Y, X = onehot(c, K), np.asarray(X, np.float64)
        losses = [-np.log(net.forward(x)[t]) for x, t in zip(X, c)]
        for _ in range(passes):
            for x, y in zip(X, Y):
                net.backward(x, y)
        N = len(X)
        grads = [{"W": np.asarray(layer["dW"], np.float64).T / N,
                  "b": np.asarray(layer["db"], np.float64) / N} for layer in net.layers]
        return float(np.mean(losses)), {"layers": grads}, None

    def sgd_train(weights, X, c, lr, batch_size=1):
        net = build(files, weights)
        Y, X = onehot(c, len(net.layers[-1]["b"])), np.asarray(X, np.float64)
        for s in range(0, len(X), batch_size):
            net.zero_grad()
            for x, y in zip(X[s:s + batch_size], Y[s:s + batch_size]):
                net.backward(x, y)
            net.step(lr / len(X[s:s + batch_size]))     # the course sums, the ladder averages
        return {"sizes": list(weights["sizes"]), "activation": weights.get("activation"),
                "layers": [{"W": layer["W"].T, "b": layer["b"]} for layer in net.layers]}

    return types.SimpleNamespace(
        loss_and_grads=loss_and_grads, sgd_train=sgd_train,
        loss_and_grads_twice=lambda w, X, c: loss_and_grads(w, X, c, passes=2))


# --------------------------------------------------------------------------- grading
from stage4_analysis.courses.rubric import Item  # noqa: E402 - the grader's part of the module

#: How ``python -m stage4_analysis.courses grade byomlp`` checks each RUBRIC item: the forward
#: pass against the ladder's probabilities (and a partial pass by layer names), backpropagation
#: by the rung check with its accumulation and SGD-step checks, the disc test by training (the
#: hand-out's network fails to train from about one initialisation in six - its 2-unit
#: bottleneck dies - so it has three seeded tries).
GRADING = {
    "forward": Item("forward", FILES),
    "backward": Item("network", FILES, style="course"),
    "disc": Item("train", FILES, args=(0, 1, 2), threshold=0.8, reference=("disc_test.py",)),
}
TRAINING = dict(train=400, val=200, alpha=0.05, epochs=20)


def predict(files, weights, X) -> np.ndarray:
    """The student's network's outputs (N, K), one ``forward`` per sample."""
    net = build(files, weights)
    return np.array([net.forward(x) for x in np.asarray(X, np.float64)])


def _named(module, weights):
    net = module.MLP(weights["sizes"][0], module.softmax_est_crossentropy_deriv)
    for i, (W, b) in enumerate(weights_layers(weights)):
        last = i == len(weights["layers"]) - 1
        net.add_layer(W.shape[1], module.softmax if last else module.logistic,
                      None if last else module.logistic_deriv, f"layer{i + 1}")
        net.layers[-1]["W"], net.layers[-1]["b"] = W.T.copy(), b.copy()
    return net


def forward_checks(files, refs) -> list[str]:
    """The hand-out's partial passes on a 4-5-6-3 network: ``forward(h, start, end)`` by names
    and by indices, and the shapes ``add_layer`` makes. Problems found, as sentences."""
    import random

    from shared import weights as wf

    weights = wf.to_arrays(wf.init_weights([4, 5, 6, 3], random.Random(0)))
    x = np.linspace(-1.0, 1.0, 4)
    mine, ref = _named(files.mlp, weights), _named(refs.mlp, weights)
    h = ref.forward(x, 0, 0)
    lines = []
    for start, end in (("layer2", "layer2"), (1, None), ("layer2", "layer3")):
        got, want = mine.forward(h, start, end), ref.forward(h, start, end)
        if np.shape(got) != np.shape(want) or not np.allclose(got, want, rtol=1e-10):
            lines.append(f"forward(h, start={start!r}, end={end!r}) differs from the reference's "
                         "(start and end name or number the first and last layer run)")
    fresh = files.mlp.MLP(4, files.mlp.softmax_est_crossentropy_deriv)
    fresh.add_layer(5, files.mlp.logistic, files.mlp.logistic_deriv)
    fresh.add_layer(3, files.mlp.softmax, None)
    shapes = [(np.shape(layer["W"]), np.shape(layer["b"])) for layer in fresh.layers]
    if shapes != [((5, 4), (5,)), ((3, 5), (3,))]:
        lines.append(f"add_layer made W, b of shapes {shapes}; they must be (m, m_prev), (m,)")
    return lines


def training_data():
    """The disc test's points: 400 train, 200 validate (seed 0)."""
    from shared.data import load_disc

    t = TRAINING
    (X, c), (Xv, cv), _ = load_disc(n=t["train"] + t["val"],
                                    val_fraction=t["val"] / (t["train"] + t["val"]), seed=0)
    return (X, c), (Xv, cv)


def training_run(files, refs, data, seed: int = 0):
    """The provided disc test on the student's MLP; ``(validation accuracy, what was run)``."""
    t = TRAINING
    (X, c), (Xv, cv) = data
    rng = np.random.default_rng(seed)
    net = refs.disc_test.disc_network(files.mlp, rng)
    for _ in range(t["epochs"]):
        refs.disc_test.train_epoch(net, X, c, t["alpha"], rng)
    return refs.disc_test.accuracy(net, Xv, cv), (
        f"2-100-2-1 leaky ReLU network, logistic loss, one sample per step, alpha "
        f"{t['alpha']}, {t['epochs']} epochs of {len(X)} disc points, {len(Xv)} validate")


# ----------------------------------------------------------------------------- gradcheck
#: What ``python -m stage3_batched.gradcheck`` checks in these files (see __init__): the provided
#: activations against their derivatives; the student's MLP is checked by ``compare --rung``.
GRADCHECK = {"checks": ("mlp.py:logistic", "mlp.py:leaky_relu"), "networks": ("MLP",)}
