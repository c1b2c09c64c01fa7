"""University of Toronto ECE421 assignment 3: a network of fully connected layers on Iris, in
the hand-out's files and names.

The student's files: ``activations.py`` (``Activation(name)`` with ``forward(Z)`` and
``backward(Z, dY)``, softmax through its Jacobian), ``layers.py``
(``FullyConnectedLayer(n_out, activation)``: parameters in the dict ``parameters`` - ``W``
(n_in, n_out), ``b`` (1, n_out) - gradients under the same keys in ``gradients``, n_in read from
the first input) and ``loss.py`` (``CrossEntropyLoss`` with ``forward(Y, Y_hat)`` and
``backward(Y, Y_hat)``: one-hot labels first, probabilities second).

As a rung: hidden layers with the weights' activation, an output layer with "softmax", the loss
on probabilities; ``b`` (out,) of the ladder becomes (1, out). Backward overwrites the gradients
(the course has no zero_grad).
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import Bug, files_match, folder_of, load_files, onehot, weights_layers

NAME = "ece421"
TITLE = "University of Toronto ECE421 assignment 3 (layers with parameter dicts, Iris)"
FILES = ("activations.py", "layers.py", "loss.py")
SHAPE = ("FullyConnectedLayer(n_out, activation): parameters / gradients dicts with W (n_in, "
         "n_out) and b (1, n_out); Activation(name).backward(Z, dY); "
         "CrossEntropyLoss.forward(Y one-hot, Y_hat probabilities), backward(Y, Y_hat)")
ACTIVATIONS = ("sigmoid", "relu", "tanh")
MAX_HIDDEN = None
ACCUMULATES = False

RUBRIC = (("relu", "ReLU forward + backward", 10),
          ("fully_connected", "FullyConnectedLayer forward + backward", 20),
          ("softmax", "Softmax forward + backward (its Jacobian)", 15),
          ("loss", "CrossEntropyLoss forward + backward", 10),
          ("network", "Two-layer network on Iris: forward + backward", 15),
          ("convergence", "Training convergence on Iris", 10))

BUGS = (
    Bug("transposed dW", "layers.py", 'self.gradients["W"] = X.T @ dZ',
        'self.gradients["W"] = dZ.T @ X', ("fully_connected", "network", "convergence"),
        "transpose"),
    Bug("bias gradient averaged", "layers.py",
        'self.gradients["b"] = dZ.sum(axis=0, keepdims=True)',
        'self.gradients["b"] = dZ.mean(axis=0, keepdims=True)', ("fully_connected", "network"),
        "averaged"),
    Bug("softmax Jacobian diagonal only", "activations.py",
        "J = np.diag(y) - np.outer(y, y)", "J = np.diag(y * (1.0 - y))",
        ("softmax", "convergence"), "diagonal"),
    Bug("relu gradient at Z >= 0 ignored", "activations.py", "return dY * (Z > 0)",
        "return dY * (Z < 0)", ("relu",), "relu"),
    Bug("missing 1/m", "loss.py", "return -Y / (m * Y_hat)", "return -Y / Y_hat",
        ("loss", "convergence"), "1/N"),
)

SOFTMAX = "softmax"


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"layers.py": "FullyConnectedLayer"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def cannot(weights, files) -> str | None:
    act = weights.get("activation", "sigmoid")
    for name in (act, SOFTMAX):
        try:
            files.activations.Activation(name)
        except Exception as e:  # noqa: BLE001 - the student's Activation refused the name
            return f"activations.py's Activation({name!r}) raised {type(e).__name__}: {e}"
    return None


def build(files, weights) -> list:
    """The student's layers for ``weights`` (hidden: the weights' activation, output: softmax),
    their parameters set to the ladder's W (in, out) and b as (1, out)."""
    layers = weights_layers(weights)
    act = weights.get("activation", "sigmoid")
    net = []
    for i, (W, b) in enumerate(layers):
        layer = files.layers.FullyConnectedLayer(W.shape[1], SOFTMAX if i == len(layers) - 1
                                                 else act)
        layer.forward(np.zeros((1, W.shape[0])))  # the course makes the parameters lazily
        layer.parameters["W"], layer.parameters["b"] = W.copy(), b.reshape(1, -1).copy()
        net.append(layer)
    return net


def _bias(db, n: int) -> np.ndarray:
    """db as (n,): the course's (1, n) squeezed; any other shape is left for the check to name."""
    db = np.asarray(db, np.float64)
    return db.reshape(n) if db.shape in ((1, n), (n,)) else db


def rung(files) -> types.SimpleNamespace:
    def loss_and_grads(weights, X, c):
        net = build(files, weights)
        Y = onehot(c, net[-1].n_out)
        out = np.asarray(X, np.float64)
        for layer in net:
            out = layer.forward(out)
        loss_fn = files.loss.CrossEntropyLoss()
        loss = loss_fn.forward(Y, out)
        d = loss_fn.backward(Y, out)
        for layer in reversed(net):
            d = layer.backward(d)
        grads = [{"W": np.array(layer.gradients["W"]),
                  "b": _bias(layer.gradients["b"], layer.n_out)} for layer in net]
        return loss, {"layers": grads}, d

    return types.SimpleNamespace(loss_and_grads=loss_and_grads)


# --------------------------------------------------------------------------- grading
from stage4_analysis.courses.rubric import Item  # noqa: E402 - the grader's part of the module

#: How ``python -m stage4_analysis.courses grade ece421`` checks each RUBRIC item. The layer is
#: checked with a linear activation on the reference activations; the network is the student's
#: layers with the reference activations and loss.
GRADING = {
    "relu": Item("layer", ("activations.py",), "Activation", ("relu",), style="z"),
    "fully_connected": Item("layer", ("layers.py",), "FullyConnectedLayer", (3, "linear"),
                            style="dicts", reference=("activations.py",)),
    "softmax": Item("layer", ("activations.py",), "Activation", ("softmax",), style="z"),
    "loss": Item("loss", ("loss.py",), "CrossEntropyLoss", style="probabilities", shape=(4, 3)),
    "network": Item("network", ("layers.py",), reference=("activations.py", "loss.py")),
    "convergence": Item("train", FILES, threshold=0.7,
                        reference=("trainer.py", "optimizer.py")),
}
TRAINING = dict(hidden=16, lr=0.1, momentum=0.9, epochs=30, batch_size=16)


def training_data():
    """The convergence run's data: Iris, 120 train / 30 validation flowers (seed 0)."""
    from shared.data import load_iris

    train, val, _ = load_iris(seed=0)
    return train, val


def training_run(files, refs, data, seed: int = 0):
    """Train the student's two-layer network with their loss in the provided trainer and SGD;
    ``(validation accuracy, what was run)``."""
    t = TRAINING
    (X, c), (Xv, cv) = data
    rng = np.random.default_rng(seed)
    layers = [files.layers.FullyConnectedLayer(t["hidden"], "relu", rng=rng),
              files.layers.FullyConnectedLayer(3, "softmax", rng=rng)]
    optimizer = refs.optimizer.SGD(t["lr"], t["momentum"])
    Y = onehot(c, 3)
    for _ in range(t["epochs"]):
        refs.trainer.train_epoch(layers, files.loss.CrossEntropyLoss(), optimizer, X, Y,
                            t["batch_size"], rng)
    return refs.trainer.accuracy(layers, Xv, cv), (
        f"4-{t['hidden']}-3 ReLU network, SGD lr {t['lr']} momentum {t['momentum']}, "
        f"{t['epochs']} epochs of {len(X)} Iris flowers, {len(Xv)} validate")


# ----------------------------------------------------------------------------- gradcheck
#: What ``python -m stage3_batched.gradcheck`` checks in these files, and how (see __init__).
GRADCHECK = {
    "checks": ("activations.py:Activation", "layers.py:FullyConnectedLayer",
               "loss.py:CrossEntropyLoss"),
    "build": {"Activation": [(a,) for a in ("linear", "sigmoid", "tanh", "relu", "softmax")],
              "FullyConnectedLayer": [(3, a) for a in ("linear", "sigmoid", "tanh", "relu",
                                                       "softmax")]},
    "losses": {"CrossEntropyLoss": {"order": "target_pred", "labels": "onehot",
                                    "input": "probabilities"}},
}
