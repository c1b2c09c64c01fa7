"""Optimizers over named parameters, and a learning-rate schedule.

What this adds over stage 2 (plain ``w <- w - lr g``): momentum, Nesterov momentum, weight decay,
Adam and step decay, each written exactly as below (README.md repeats the rules).

An optimizer finds the parameters **by name at every step**: it is given the model
(``SGD(model, lr=0.1)``), the model's parameter view (``SGD(model.parameters(), 0.1, 0.9)``, the
hand-outs' form: the view knows its model, so the gradients are found from it), or two functions
returning the current ``{name: array}`` dicts (``SGD(model.parameters, model.gradients,
lr=0.1)``), and each ``step()`` asks for them again. ``zero_grad()`` sets the gradients it steps
to 0, so the hand-outs' loop (forward, loss, ``optimizer.zero_grad()``, backward,
``optimizer.step()``) runs as written. So
``model["linear1"].params["W"] = W0`` after the optimizer was built still trains ``W0``. Its state
(velocity, Adam's moments) is keyed by the same names; a parameter replaced by one of another
shape is refused with a message (build a new optimizer then). ``step()`` reads the gradients
(those of the batch mean, summed over every backward since the last ``zero_grad()``), changes the
parameters in place and leaves the gradients as they were.

SGD, with ``g`` the gradient, ``mu`` the momentum, ``wd`` the weight decay, ``lr`` the rate::

    d = g + wd * w          (L2 weight decay, added to the gradient; biases excluded by default)
    v = mu * v + d          (v starts at 0)
    w = w - lr * v          (heavy-ball momentum, the PyTorch convention; mu = 0: w = w - lr * d)
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
from collections.abc import Mapping

import numpy as np

from shared.errors import ConfigError


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) \
            or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return float(lr)


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "b"


def _lookups(params, grads):
    """Two functions returning the current name -> array dicts, from any of the accepted forms:
    a model (with ``parameters()`` / ``gradients()``), two such functions, or two dicts."""
    if grads is None:
        model = getattr(params, "model", None)        # model.parameters(): a view of its model
        if isinstance(params, Mapping) and callable(getattr(model, "gradients", None)):
            return (lambda: params), model.gradients
        if not (callable(getattr(params, "parameters", None))
                and callable(getattr(params, "gradients", None))):
            raise TypeError("pass a model (with parameters() and gradients()), or the "
                            "parameters and the gradients: SGD(model.parameters, "
                            "model.gradients, lr=...)")
        return params.parameters, params.gradients
    if callable(params) != callable(grads):
        raise TypeError("params and grads must both be functions or both be dicts")
    if callable(params):
        return params, grads
    return (lambda: params), (lambda: grads)


class Optimizer:
    """Base: finds the parameters and gradients by name, keeps per-name state, checks shapes."""

    def __init__(self, params, grads=None, lr: float | None = None, weight_decay: float = 0.0,
                 decay_bias: bool = False):
        self._params, self._grads = _lookups(params, grads)
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.lr = lr
        self.weight_decay = float(weight_decay)
        self.decay_bias = bool(decay_bias)
        self.arrays()                                 # check names and shapes now

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_lr(value)

    def arrays(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[(name, w, g), ...]`` for the parameters as they are now; ValueError if a gradient
        is missing or of another shape than its parameter."""
        params, grads = self._params(), self._grads()
        out = []
        for name, w in params.items():
            if name not in grads:
                raise ValueError(f"parameter {name!r} has no gradient")
            if grads[name].shape != w.shape:
                raise ValueError(f"{name}: gradient shape {grads[name].shape} != parameter "
                                 f"shape {w.shape}")
            out.append((name, w, grads[name]))
        return out

    def state(self, store: dict, name: str, w: np.ndarray) -> np.ndarray:
        """The state array ``store[name]`` (zeros the first time), checked against ``w``."""
        if name not in store:
            store[name] = np.zeros_like(w)
        if store[name].shape != w.shape:
            raise ConfigError(
                f"parameter {name!r} now has shape {w.shape} but the optimizer's state was "
                f"made for {store[name].shape}; build a new optimizer after replacing a "
                "parameter with one of another shape")
        return store[name]

    def decays(self, name: str) -> bool:
        """Whether parameter ``name`` gets weight decay (not biases, unless ``decay_bias``)."""
        return self.weight_decay > 0 and (self.decay_bias or not _is_bias(name))

    def decayed(self, name: str, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``d = g + wd * w`` (L2 weight decay), or ``g`` for biases / without decay."""
        if self.decays(name):
            return g + self.weight_decay * w
        return g

    def zero_grad(self) -> None:
        """Set every gradient this optimizer steps to 0, in place (backward adds to them)."""
        for _, _, g in self.arrays():
            g[...] = 0.0

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"lr": self.lr}


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``0 <= momentum < 1``), Nesterov
    momentum and L2 weight decay; the update rules are in the module docstring."""

    def __init__(self, params, grads=None, lr: float | None = None, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, decay_bias: bool = False):
        if _is_number(grads):                         # SGD(params, lr, momentum): hand-outs
            if lr is not None and momentum != 0.0:
                raise TypeError("SGD got the momentum twice: SGD(params, lr, momentum) or "
                                "SGD(params, lr=..., momentum=...)")
            grads, lr, momentum = None, grads, (momentum if lr is None else lr)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
                or not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        super().__init__(params, grads, lr, weight_decay, decay_bias)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.v: dict[str, np.ndarray] = {}            # velocity per parameter name

    def step(self) -> None:
        """One update of every parameter, in place."""
        lr, mu = self.lr, self.momentum
        for name, w, g in self.arrays():
            d = self.decayed(name, w, g)
            if mu == 0:
                w -= lr * d                           # plain SGD
                continue
            v = self.state(self.v, name, w)
            v[...] = mu * v + d                       # velocity
            if self.nesterov:
                w -= lr * (d + mu * v)                # Nesterov: look ahead along v
            else:
                w -= lr * v                           # heavy-ball momentum


class Adam(Optimizer):
    """Adam with bias correction; ``betas`` in [0, 1), ``eps > 0`` added outside the square root
    (module docstring). ``weight_decay`` is L2 added to the gradient (biases excluded)."""

    def __init__(self, params, grads=None, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decay_bias: bool = False):
        if _is_number(grads):                         # Adam(params, lr): the torch order
            if lr != 1e-3:
                raise TypeError("Adam got the learning rate twice: Adam(params, lr) or "
                                "Adam(params, lr=...)")
            grads, lr = None, grads
        super().__init__(params, grads, lr, weight_decay, decay_bias)
        b1, b2 = betas
        for what, b in (("beta1", b1), ("beta2", b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Adam {what} must be in [0, 1), got {b!r}")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"Adam eps must be a finite number > 0, got {eps!r}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)
        self.t = 0
        self.m: dict[str, np.ndarray] = {}            # first moment per parameter name
        self.v: dict[str, np.ndarray] = {}            # second moment per parameter name

    def step(self) -> None:
        """One update of every parameter, in place."""
        self.t += 1
        b1, b2 = self.betas
        for name, w, g in self.arrays():
            d = self.decayed(name, w, g)
            m, v = self.state(self.m, name, w), self.state(self.v, name, w)
            m[...] = b1 * m + (1.0 - b1) * d
            v[...] = b2 * v + (1.0 - b2) * d * d
            m_hat = m / (1.0 - b1 ** self.t)          # bias corrections
            v_hat = v / (1.0 - b2 ** self.t)
            w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

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


def make_optimizer(name: str, params, grads=None, **kw) -> Optimizer:
    """An optimizer by name ("sgd" or "adam"); unknown names raise ValueError with the choices."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, grads, **kw)
