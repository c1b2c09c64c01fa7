"""Stage 3: the network over whole mini-batches, as a small library of layers.

What this stage adds over stage 2 (numpy, one sample at a time): the batch dimension - X is
(N, D) and one matrix product handles N samples - and modularity: layers that each own their
forward and backward (:mod:`.layers`), losses (:mod:`.losses`), a sequential model with named
layers and the MLP builder (:mod:`.model`), optimizers (:mod:`.optim`), a trainer
(:mod:`.trainer`), one-call runs (:mod:`.run`) and a command line (``python -m stage3_batched``).
The maths is derived in ``stage3_batched/README.md``. Arrays are float64 unless a model is built
with ``dtype=np.float32``.

What it leaves out: automatic differentiation, GPUs, convolutions; every gradient is written by
hand next to its forward step.

The ladder interface (shared/README.md) is implemented with the library itself -
:meth:`MLP.from_weights` (with the weights' hidden activation: sigmoid, relu or tanh),
:class:`SoftmaxCrossEntropy`, :class:`SGD` - so the cross-stage tests exercise the real layers:

* ``loss_and_grads(weights, X, c) -> (loss, grads, dX)``
* ``sgd_train(weights, X, c, lr, batch_size=1) -> weights``
* ``predict_proba(weights, X) -> (N, K)``
"""

from __future__ import annotations

import numpy as np

from stage3_batched.layers import (
    Dropout,
    Layer,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    init_weight,
    softmax,
)
from stage3_batched.losses import (
    CrossEntropy,
    CrossEntropyLoss,
    LogisticLoss,
    SoftmaxCrossEntropy,
    SquaredError,
)
from stage3_batched.model import MLP, Sequential, load_model
from stage3_batched.optim import SGD, Adam, StepDecay
from stage3_batched.run import RunConfig, run
from stage3_batched.trainer import History, check_batch_size, evaluate, fit, train_epoch

__all__ = [
    "Layer", "Linear", "Sigmoid", "ReLU", "LeakyReLU", "Tanh", "Softmax", "Dropout",
    "init_weight", "softmax",
    "SoftmaxCrossEntropy", "CrossEntropyLoss", "CrossEntropy", "SquaredError", "LogisticLoss",
    "Sequential", "MLP", "load_model", "SGD", "Adam", "StepDecay", "History", "fit",
    "train_epoch", "evaluate",
    "RunConfig", "run",
    "loss_and_grads", "sgd_train", "predict_proba",
]


def _inputs(X, c=None):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (N samples, D features), got shape {X.shape}")
    if c is None:
        return X
    return X, np.asarray(c)


def _grads_in_weight_format(model: MLP) -> dict:
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    return {"sizes": list(model.sizes), "activation": model.activation,
            "layers": [{"W": layer.grads["W"].copy(), "b": layer.grads["b"].copy()}
                       for layer in linears]}


def loss_and_grads(weights: dict, X, c) -> tuple[float, dict, np.ndarray]:
    """Mean cross-entropy of the network ``weights`` (shared weight format, its activation
    honoured) on X (N, D) with integer classes c (N,); its gradients in the weight format; and
    dX (N, D), the gradient of the mean loss w.r.t. the inputs. float64 throughout."""
    X, c = _inputs(X, c)
    model = MLP.from_weights(weights)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(X), c)
    dX = model.backward(loss_fn.backward())
    return loss, _grads_in_weight_format(model), dX


def sgd_train(weights: dict, X, c, lr: float, batch_size: int = 1) -> dict:
    """Plain SGD over the samples in the given order (no shuffling): one update
    ``w <- w - lr * mean gradient`` per consecutive group of ``batch_size`` samples (the last
    group may be smaller). Returns new weights (float64 arrays, the same activation);
    ``weights`` is not mutated."""
    X, c = _inputs(X, c)
    check_batch_size(batch_size)
    model = MLP.from_weights(weights)                 # copies: the input is not mutated
    loss_fn = SoftmaxCrossEntropy()
    opt = SGD(model, lr=lr)
    for s in range(0, len(X), batch_size):
        loss_fn.forward(model.forward(X[s:s + batch_size]), c[s:s + batch_size])
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
    return model.to_weights()


def predict_proba(weights: dict, X) -> np.ndarray:
    """Softmax probabilities (N, K) of the network ``weights`` on X (N, D)."""
    return softmax(MLP.from_weights(weights).forward(_inputs(X)))
