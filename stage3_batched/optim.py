"""Optimizers over named parameters, updating them in place, and a learning-rate schedule.

What this adds over stage 2 (plain ``w <- w - lr g``): momentum, Nesterov momentum, weight decay,
Adam and step decay, each written exactly as below (README.md repeats the rules).

An optimizer holds the *live* parameter and gradient arrays of a model
(``SGD(model.parameters(), model.gradients(), lr=0.1)``); ``step()`` reads the gradients the last
backward wrote and changes the parameters in place, allocating nothing: updates go through one
preallocated scratch array per parameter (``buf = lr * v; w -= buf``) instead of ``lr * dW``
temporaries. For plain SGD the trainer goes further and folds the learning rate into the small
output gradient of the loss (``dO *= lr``, e.g. 128 x 10 numbers), so the backward pass already
produces ``lr * dW`` and the update is one ``w -= grad`` (:meth:`SGD.fold_factor`).

SGD, with ``g`` the gradient, ``mu`` the momentum, ``wd`` the weight decay, ``lr`` the rate::

    d = g + wd * w          (L2 weight decay, added to the gradient; biases excluded by default)
    v = mu * v + d          (v starts at 0; skipped when mu = 0, then v = d)
    w = w - lr * v          (plain / heavy-ball momentum, the PyTorch convention)
    w = w - lr * (d + mu * v)   (nesterov=True: look ahead along the new velocity)

Adam (Kingma & Ba 2015, with the PyTorch placement of eps), t = 1, 2, ...::

    d = g + wd * w          (L2 added to the gradient, as torch.optim.Adam; not decoupled AdamW)
    m = b1 * m + (1 - b1) * d            v = b2 * v + (1 - b2) * d^2
    w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

eps is added to the square root of the bias-corrected second moment, outside the sqrt.

Weight decay and biases: a parameter whose name ends in ``.b`` (every layer's bias) is not
decayed unless ``decay_bias=True`` - shrinking biases towards 0 does not limit the capacity of
the network, it only shifts units. Leaves out: parameter groups, gradient clipping, AdamW, RMSProp.
"""

from __future__ import annotations

import math

import numpy as np


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) \
            or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return float(lr)


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "b"


class Optimizer:
    """Base: pairs up ``params`` and ``grads`` (dicts with the same keys and shapes)."""

    def fold_factor(self) -> float | None:
        """A factor the trainer may fold into the output gradient (see :meth:`SGD.fold_factor`);
        None: the optimizer needs the plain gradients."""
        return None

    def __init__(self, params: dict, grads: dict, lr: float, weight_decay: float = 0.0,
                 decay_bias: bool = False):
        if set(params) != set(grads):
            raise ValueError(f"params and grads must have the same keys; only in params: "
                             f"{sorted(set(params) - set(grads))}, only in grads: "
                             f"{sorted(set(grads) - set(params))}")
        for k, w in params.items():
            if grads[k].shape != w.shape:
                raise ValueError(f"{k}: gradient shape {grads[k].shape} != parameter shape "
                                 f"{w.shape}")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.names = list(params)
        self.params, self.grads = params, grads
        self.lr = lr
        self.weight_decay = float(weight_decay)
        self.decay_bias = bool(decay_bias)
        self.buf = {k: np.empty_like(w) for k, w in params.items()}   # scratch, one per param

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_lr(value)

    def _decays(self, name: str) -> bool:
        return self.weight_decay > 0 and (self.decay_bias or not _is_bias(name))

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"lr": self.lr}


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``0 <= momentum < 1``), Nesterov
    momentum and L2 weight decay; the update rules are in the module docstring."""

    def __init__(self, params: dict, grads: dict, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, decay_bias: bool = False):
        super().__init__(params, grads, lr, weight_decay, decay_bias)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
                or not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.v = {k: np.zeros_like(w) for k, w in params.items()} if momentum else {}

    def fold_factor(self) -> float | None:
        """The factor the caller may fold into the loss's output gradient instead (plain SGD:
        the learning rate; with momentum: None).

        Backpropagation is linear in the output gradient ``dO`` (N, K), so multiplying that small
        array by ``lr`` makes every parameter gradient come out as ``lr * g`` - and the update is
        then a single ``w -= g`` with no ``lr * dW`` temporary and no extra pass over ``W``. The
        trainer does this, then calls ``step(prescaled=True)``. With momentum the velocity must
        hold unscaled gradients (the rate may change between epochs), so nothing is folded.
        """
        return self.lr if self.momentum == 0 else None

    def step(self, prescaled: bool = False) -> None:
        """Update every parameter in place. ``prescaled=True``: the gradients already hold
        ``lr * g`` (see :meth:`fold_factor`; plain SGD only), so ``w <- (1 - lr wd) w - grad``."""
        lr, mu = self.lr, self.momentum
        if prescaled:
            if mu:
                raise ValueError("prescaled gradients need momentum 0 (see fold_factor)")
            for k in self.names:
                w = self.params[k]
                if self._decays(k):
                    w *= 1.0 - lr * self.weight_decay   # w - lr wd w
                w -= self.grads[k]                     # w - lr g  (the gradient holds lr g)
            return
        for k in self.names:
            w, g, buf = self.params[k], self.grads[k], self.buf[k]
            d = g
            if self._decays(k):
                np.multiply(w, self.weight_decay, out=buf)
                buf += g                              # d = g + wd w   (in buf)
                d = buf
            if mu:
                v = self.v[k]
                v *= mu
                v += d                                # v = mu v + d
                if self.nesterov:
                    np.multiply(d, lr, out=buf)       # w -= lr d + lr mu v
                    w -= buf
                    np.multiply(v, lr * mu, out=buf)
                else:
                    np.multiply(v, lr, out=buf)       # w -= lr v
            else:
                np.multiply(d, lr, out=buf)           # w -= lr d
            w -= buf


class Adam(Optimizer):
    """Adam with bias correction; ``betas`` in [0, 1), ``eps > 0`` added outside the square root
    (module docstring). ``weight_decay`` is L2 added to the gradient (biases excluded)."""

    def __init__(self, params: dict, grads: dict, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay_bias: bool = False):
        super().__init__(params, grads, lr, weight_decay, decay_bias)
        b1, b2 = betas
        for what, b in (("beta1", b1), ("beta2", b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Adam {what} must be in [0, 1), got {b!r}")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"Adam eps must be a finite number > 0, got {eps!r}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)
        self.t = 0
        self.m = {k: np.zeros_like(w) for k, w in params.items()}
        self.v = {k: np.zeros_like(w) for k, w in params.items()}
        self.buf2 = {k: np.empty_like(w) for k, w in params.items()}

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for k in self.names:
            w, g, m, v = self.params[k], self.grads[k], self.m[k], self.v[k]
            buf, d = self.buf[k], self.grads[k]
            if self._decays(k):
                d = self.buf2[k]
                np.multiply(w, self.weight_decay, out=d)
                d += g                                # d = g + wd w
            m *= b1
            np.multiply(d, 1.0 - b1, out=buf)
            m += buf                                  # m = b1 m + (1 - b1) d
            v *= b2
            np.multiply(d, d, out=buf)
            buf *= 1.0 - b2
            v += buf                                  # v = b2 v + (1 - b2) d^2
            np.multiply(v, 1.0 / bc2, out=buf)
            np.sqrt(buf, out=buf)
            buf += self.eps                           # sqrt(v / bc2) + eps
            np.divide(m, buf, out=buf)
            buf *= self.lr / bc1                      # lr (m / bc1) / (sqrt(v / bc2) + eps)
            w -= buf

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t}


class StepDecay:
    """Multiply the optimizer's learning rate by ``gamma`` every ``every`` epochs.

    Call :meth:`step` once at the end of each epoch: after epoch e (1, 2, ...) the rate becomes
    ``lr0 * gamma ** (e // every)``. ``gamma=0.5, every=1`` halves the rate each epoch (the
    Ursinus autoencoder schedule).
    """

    def __init__(self, optimizer: Optimizer, gamma: float = 0.5, every: int = 1):
        if not (math.isfinite(gamma) and 0 < gamma <= 1):
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive integer (epochs), got {every!r}")
        self.optimizer, self.gamma, self.every = optimizer, float(gamma), int(every)
        self.epoch = 0

    def step(self) -> float:
        """End of an epoch: update and return the learning rate for the next one."""
        self.epoch += 1
        if self.epoch % self.every == 0:
            self.optimizer.lr = self.optimizer.lr * self.gamma
        return self.optimizer.lr


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, params: dict, grads: dict, **kw) -> Optimizer:
    """An optimizer by name ("sgd" or "adam"); unknown names raise ValueError with the choices."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, grads, **kw)
