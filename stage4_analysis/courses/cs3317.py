"""SJTU CS3317 coursework 3: a modular MLP on Fashion-MNIST, in the hand-out's files and names.

The student's files: ``layers.py`` (``Linear(in_dim, out_dim)`` with ``W`` (in, out), ``b``
(out,), ``grad_W``, ``grad_b``; ``ReLU``; ``Sigmoid``; each ``forward(X)`` /
``backward(grad_output)``), ``losses.py`` (``CrossEntropyLoss`` with ``forward(logits, labels)``
on integer labels and ``backward()``), ``model.py`` (``MLP(input_dim, hidden_dims, output_dim,
activation)`` with ``forward``, ``backward``, ``parameters()`` returning the Linear layers) and
``optimizer.py`` (``SGD(params, lr, momentum)`` with ``step()`` and ``zero_grad()``).

As a rung: the ladder's weights go into the student's MLP layer by layer (the same (in, out)
layout), and a batch runs the hand-out's five steps. Gradients accumulate until ``zero_grad()``.
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import Bug, files_match, folder_of, load_files, weights_layers

NAME = "cs3317"
TITLE = "SJTU CS3317 coursework 3 (modular MLP, Fashion-MNIST)"
FILES = ("layers.py", "losses.py", "model.py", "optimizer.py")
SHAPE = ("Linear(in_dim, out_dim): W (in, out), b (out,), gradients in grad_W, grad_b; "
         "CrossEntropyLoss.forward(logits, integer labels) -> mean loss, backward() -> dlogits; "
         "MLP(input_dim, hidden_dims, output_dim, activation).parameters() -> the Linear layers; "
         "SGD(params, lr, momentum).step() / zero_grad()")
ACTIVATIONS = ("relu", "sigmoid")
MAX_HIDDEN = None
ACCUMULATES = True

#: The hand-out's rubric for the code (points), in the order a grader checks it.
RUBRIC = (("linear", "Linear layer forward + backward", 15),
          ("relu", "ReLU forward + backward", 10),
          ("sigmoid", "Sigmoid forward + backward", 5),
          ("loss", "CrossEntropyLoss forward + backward", 10),
          ("mlp", "MLP assembly: forward + backward", 15),
          ("sgd", "SGD optimizer with momentum", 10),
          ("convergence", "Training convergence", 10))

BUGS = (
    Bug("transposed grad_W", "layers.py", "self.grad_W += self.X.T @ grad_output",
        "self.grad_W = grad_output.T @ self.X", ("linear", "convergence"), "transpose"),
    Bug("bias gradient averaged", "layers.py", "self.grad_b += grad_output.sum(axis=0)",
        "self.grad_b += grad_output.mean(axis=0)", ("linear",), "averaged"),
    Bug("gradients overwritten", "layers.py", "self.grad_W += self.X.T @ grad_output",
        "self.grad_W = self.X.T @ grad_output", ("linear",), "overwritten"),
    Bug("sigmoid derivative at the input", "layers.py",
        "return grad_output * self.out * (1.0 - self.out)",
        "return grad_output * (1.0 - 1.0 / (1.0 + np.exp(-self.out))) / (1.0 + np.exp(-self.out))",
        ("sigmoid",), "sigmoid"),
    Bug("missing 1/N", "losses.py", "return grad / N", "return grad", ("loss", "convergence"),
        "1/N"),
    Bug("momentum ignored", "optimizer.py", "vW[...] = self.momentum * vW + gW",
        "vW[...] = gW", ("sgd",), "momentum"),
)


def matches(path) -> bool:
    return files_match(folder_of(path), FILES, {"optimizer.py": "SGD"})


def load(path) -> types.SimpleNamespace:
    return load_files(folder_of(path), FILES)


def cannot(weights, files) -> str | None:
    act = weights.get("activation", "sigmoid")
    if act not in ACTIVATIONS:
        return f"CS3317's layers.py has ReLU and Sigmoid only, no {act}"
    return None


def build(files, weights):
    """The student's MLP for ``weights``, with the ladder's W and b copied into its layers."""
    layers = weights_layers(weights)
    sizes = [layers[0][0].shape[0]] + [W.shape[1] for W, _ in layers]
    model = files.model.MLP(sizes[0], list(sizes[1:-1]), sizes[-1],
                            weights.get("activation", "sigmoid"))
    linears = list(model.parameters())
    if len(linears) != len(layers):
        raise ValueError(f"MLP({sizes[0]}, {list(sizes[1:-1])}, {sizes[-1]}).parameters() "
                         f"returned {len(linears)} layers; it must return the "
                         f"{len(layers)} Linear layers")
    for layer, (W, b) in zip(linears, layers):
        layer.W, layer.b = W.copy(), b.copy()
    return model, linears


def _gradients(linears) -> list[dict]:
    return [{"W": layer.grad_W, "b": layer.grad_b} for layer in linears]


def rung(files) -> types.SimpleNamespace:
    """The ladder contract on the student's files."""

    def loss_and_grads(weights, X, c, passes=1):
        model, linears = build(files, weights)
        loss_fn = files.losses.CrossEntropyLoss()
        for _ in range(passes):                   # no zero_grad in between: gradients add up
            loss = loss_fn.forward(model.forward(X), np.asarray(c))
            dX = model.backward(loss_fn.backward())
        return loss, {"layers": [{k: np.array(v) for k, v in g.items()}
                                 for g in _gradients(linears)]}, dX

    def sgd_train(weights, X, c, lr, batch_size=1):
        model, linears = build(files, weights)
        loss_fn = files.losses.CrossEntropyLoss()
        optimizer = files.optimizer.SGD(model.parameters(), lr, 0.0)
        for s in range(0, len(X), batch_size):    # the hand-out's five steps
            logits = model.forward(X[s:s + batch_size])
            loss_fn.forward(logits, np.asarray(c[s:s + batch_size]))
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
        return {"sizes": list(weights["sizes"]), "activation": weights.get("activation"),
                "layers": [{"W": layer.W, "b": layer.b} for layer in linears]}

    return types.SimpleNamespace(
        loss_and_grads=loss_and_grads, sgd_train=sgd_train,
        loss_and_grads_twice=lambda w, X, c: loss_and_grads(w, X, c, passes=2))


# --------------------------------------------------------------------------- grading
from stage4_analysis.courses.rubric import Item  # noqa: E402 - the grader's part of the module

#: How ``python -m stage4_analysis.courses grade cs3317`` checks each RUBRIC item. The MLP and
#: SGD items run on the reference layers (and loss), so a layer bug costs the layer's item only.
GRADING = {
    "linear": Item("layer", ("layers.py",), "Linear", (4, 3), style="attrs"),
    "relu": Item("layer", ("layers.py",), "ReLU"),
    "sigmoid": Item("layer", ("layers.py",), "Sigmoid"),
    "loss": Item("loss", ("losses.py",), "CrossEntropyLoss", style="logits", shape=(4, 3)),
    "mlp": Item("network", ("model.py",), reference=("layers.py", "losses.py")),
    "sgd": Item("sgd", ("optimizer.py",), "SGD", (0.1, 0.9), reference=("layers.py",)),
    "convergence": Item("train", FILES, threshold=0.7, reference=("trainer.py",)),
}
TRAINING = dict(train=600, val=500, hidden=[32], lr=0.1, momentum=0.9, epochs=5, batch_size=32)


def training_data():
    """The convergence run's data: the first 600 training and 500 validation digits of
    mnist-sample (shipped with the project; the course's Fashion-MNIST may not be present)."""
    from shared.data import load_mnist_sample

    (X, c), (Xv, cv), _ = load_mnist_sample(seed=0, limit=TRAINING["train"])
    return (X, c), (Xv[:TRAINING["val"]], cv[:TRAINING["val"]])


def training_run(files, refs, data, seed: int = 0):
    """Train the student's MLP with their loss and SGD in the provided trainer's five steps;
    ``(validation accuracy, what was run)``."""
    t = TRAINING
    (X, c), (Xv, cv) = data
    rng = np.random.default_rng(seed)
    model = files.model.MLP(X.shape[1], t["hidden"], 10, "relu", rng=rng)
    optimizer = files.optimizer.SGD(model.parameters(), t["lr"], t["momentum"])
    loss_fn = files.losses.CrossEntropyLoss()
    for _ in range(t["epochs"]):
        refs.trainer.train_epoch(model, loss_fn, optimizer, X, c, t["batch_size"], rng)
    return refs.trainer.accuracy(model, Xv, cv), (
        f"{X.shape[1]}-{t['hidden'][0]}-10 ReLU MLP, SGD lr {t['lr']} momentum {t['momentum']}, "
        f"{t['epochs']} epochs of {len(X)} mnist-sample digits, {len(Xv)} validate")


# ----------------------------------------------------------------------------- gradcheck
#: What ``python -m stage3_batched.gradcheck`` checks in these files, and how (see __init__).
GRADCHECK = {
    "checks": ("layers.py:Linear", "layers.py:ReLU", "layers.py:Sigmoid",
               "losses.py:CrossEntropyLoss"),
    "build": {"Linear": [(4, 3)]},
    "networks": ("MLP",),
    "losses": {"CrossEntropyLoss": {"order": "pred_target", "labels": "int", "input": "logits"}},
}
