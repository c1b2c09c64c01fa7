"""An opt-in faster training epoch for SGD: ``fit(..., epoch=train_epoch_fast)``, or
``python -m stage3_batched --fast``.

This file imports the teaching code (the trainer, the layers, SGD) and nothing imports it but the
command line and the benchmark: the plain loop never depends on it.

What it changes, against :func:`stage3_batched.trainer.train_epoch` (the plain loop a student
reads), and why each saves time: every step of the plain loop makes several passes over each
weight matrix besides the matrix products - ``zero_grad`` (fill with 0), ``grads += X^T dY``
(a temporary, then an add), ``w -= lr * d`` (another temporary). :func:`train_epoch_fast`

* writes each layer's gradient straight into its array (``np.matmul(X.T, dY, out=dW)``), so no
  ``zero_grad`` and no temporary are needed (the gradient is that of the current batch alone);
* for plain SGD (momentum 0) folds the learning rate into the loss's small output gradient
  (``dO *= lr``, B x K numbers): backpropagation is linear in ``dO``, so every gradient comes out
  as ``lr * g`` and the update is one ``w -= grad`` (weight decay as ``w *= 1 - lr * wd`` first);
  with momentum it updates the velocity and the weights through one scratch array per parameter;
* gathers each mini-batch into one reused buffer (``X.take(idx, out=buf)``).

The result is the plain loop's, up to rounding (tested: the same weights after several steps,
float64, rtol 1e-12, with and without momentum and weight decay). One visible difference: after a
fast epoch with plain SGD, ``model.gradients()`` hold ``lr`` times the last batch's gradient.
Optimizers other than :class:`~stage3_batched.optim.SGD` run the plain loop.

Whether it earns its place is measured side by side with the plain epoch and PyTorch by
``python -m stage4_analysis.speed.stage3`` (README.md, "Speed of the plain and the fast epoch").

Leaves out: a faster forward pass (the layers' own forward is used), other optimizers.
"""

from __future__ import annotations

import math

import numpy as np

from stage3_batched.layers import Linear
from stage3_batched.optim import SGD
from stage3_batched.trainer import EpochResult, train_epoch


def train_epoch_fast(model, loss_fn, optimizer, X: np.ndarray, c: np.ndarray, batch_size: int,
                     rng: np.random.Generator, *, metric: str | None = "accuracy",
                     on_step=None) -> EpochResult:
    """:func:`~stage3_batched.trainer.train_epoch`, same arguments and result, with the savings
    of the module docstring. Non-SGD optimizers run the plain loop."""
    if type(optimizer) is not SGD:
        return train_epoch(model, loss_fn, optimizer, X, c, batch_size, rng, metric=metric,
                           on_step=on_step)
    model.train()
    model.zero_grad()                                  # gradient arrays of the right shapes
    order = rng.permutation(len(X))
    result = EpochResult()
    X_buf = np.empty((min(batch_size, len(X)), X.shape[1]), dtype=X.dtype)
    c_buf = np.empty((len(X_buf),) + c.shape[1:], dtype=c.dtype)
    scratch = {name: np.empty_like(w) for name, w, _ in optimizer.arrays()}
    folded = optimizer.momentum == 0                   # plain SGD: fold lr into dO
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]          # a permutation: "clip" never clips
        X_batch = X.take(idx, axis=0, out=X_buf[:len(idx)], mode="clip")
        c_batch = c.take(idx, axis=0, out=c_buf[:len(idx)], mode="clip")
        out = model.forward(X_batch, check=False)
        loss = loss_fn.forward(out, c_batch)
        if not math.isfinite(loss):
            result.bad_loss = loss
            break
        result.add(loss, out, c_batch, metric)
        dO = loss_fn.backward()
        if folded:
            dO *= optimizer.lr                         # gradients come out as lr * g
        backward_overwriting(model, dO)
        sgd_step_in_place(optimizer, scratch, folded)
        if on_step is not None:
            on_step(loss)
    return result


def backward_overwriting(model, dY: np.ndarray) -> None:
    """``model.backward(dY, input_grad=False)``, but each Linear *writes* its gradients (of this
    batch alone) into its arrays instead of adding a temporary to them."""
    i, j = model._range
    first = next((k for k in range(i, j + 1) if model.layers[k].params), j + 1)
    for k in range(j, first - 1, -1):                  # none at all if nothing learns
        layer = model.layers[k]
        if isinstance(layer, Linear):
            np.matmul(layer.X.T, dY, out=layer.grads["W"])    # dW = X^T dY, in place
            dY.sum(axis=0, out=layer.grads["b"])              # db
            if k > first:
                dY = dY @ layer.params["W"].T                 # dX
        else:
            layer.zero_grad()
            dY = layer.backward(dY)


def sgd_step_in_place(opt: SGD, scratch: dict, folded: bool) -> None:
    """:meth:`SGD.step` with no temporaries. ``folded``: the gradients hold ``lr * g``."""
    lr, mu, wd = opt.lr, opt.momentum, opt.weight_decay
    for name, w, g in opt.arrays():
        decays = opt.decays(name)
        if folded:
            if decays:
                w *= 1.0 - lr * wd                     # w - lr wd w
            w -= g                                     # w - lr g
            continue
        buf, d = scratch[name], g
        if decays:
            np.multiply(w, wd, out=buf)
            buf += g                                   # d = g + wd w
            d = buf
        v = opt.state(opt.v, name, w)
        v *= mu
        v += d                                         # v = mu v + d
        if opt.nesterov:
            np.multiply(d, lr, out=buf)                # w -= lr d + lr mu v
            w -= buf
            np.multiply(v, lr * mu, out=buf)
        else:
            np.multiply(v, lr, out=buf)                # w -= lr v
        w -= buf
