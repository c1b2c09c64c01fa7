"""The playground's training logic, without any user interface: settings, data, model,
optimizer, history, and one step at a time.

:class:`Session` holds what the page shows. ``step()`` takes the next mini-batch of the epoch's
order and updates the weights with the rung the settings name, through that rung's own public
functions:

* ``stage3`` - the body of ``stage3_batched.train_epoch``: ``MLP.forward``,
  ``SoftmaxCrossEntropy``, ``zero_grad``, ``backward``, ``SGD.step`` (momentum lives here);
* ``stage2`` / ``stage1`` - that rung's ``sgd_train`` on the batch (one update of plain SGD;
  stage 1 gets Python lists), written back into the same model.

The batch order is the one ``stage3_batched.fit`` draws: ``rng.permutation(N)`` at the start of
every epoch, then consecutive slices of ``batch_size`` (the last one maybe smaller). So
``steps_per_epoch * E`` steps leave the weights ``fit(..., epochs=E)`` leaves, given the same
initial model and generator (tested). Generators: the data from ``default_rng(seed)``
(:func:`stage4_analysis.playground.data.make`), the initial weights from
``default_rng([seed, 1])``, the batch order from ``default_rng([seed, 2])``.

After every step the history gets one row: the batch's loss (before its update) and the loss
and accuracy of the whole training and validation sets (``stage3_batched.evaluate``). A NaN or
infinite batch loss stops training with ``shared.divergence``'s message; ``reset()`` starts over.

At the end of every epoch a row for the training doctor (``shared.doctor``) is kept: the epoch's
losses and accuracies and stage 3's per-layer statistics (mean |gradient|, update ratio,
saturated or dead units) on a probe batch; :meth:`Session.doctor` says what it finds.

Leaves out: drawing (``views.py``), the cross-rung check (``agree.py``), Streamlit (``page.py``).
Momentum is stage 3's alone (the ``sgd_train`` of stages 1 and 2 is plain SGD), so momentum with
stage 1 or 2 is refused with a message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

import stage1_scalar
import stage2_perinstance
from shared.data import as_lists
from shared.divergence import step_diverged
from shared.doctor import diagnose
from shared.errors import ConfigError
from shared.weights import count_parameters
from stage3_batched import MLP, SGD, SoftmaxCrossEntropy, evaluate
from stage3_batched.layers import Linear
from stage3_batched.trainer import layer_stats

from .data import DATASETS, make

ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU"}
RUNGS = {"stage3": "stage 3 (mini-batches)", "stage2": "stage 2 (one sample at a time)",
         "stage1": "stage 1 (one scalar at a time)"}
#: The initialisation each activation gets (``stage3_batched.layers.init_weight``).
INIT = {"sigmoid": "xavier", "tanh": "xavier", "relu": "he", "leaky_relu": "he"}
STAGE1_MAX_PARAMETERS = 1_000   # stage 1 trains in pure Python: small networks only
MAX_LAYERS, MAX_WIDTH = 6, 256


@dataclass(frozen=True)
class Settings:
    """Everything the page lets one choose. ``hidden`` holds the hidden layers' widths."""

    dataset: str = "disc"
    size: int = 500
    noise: float = 0.0
    seed: int = 0
    hidden: tuple[int, ...] = (3,)
    activation: str = "sigmoid"
    rung: str = "stage3"
    lr: float = 0.5
    batch_size: int = 10
    momentum: float = 0.0

    def changed(self, **kw) -> Settings:
        """A copy with the given fields replaced."""
        return replace(self, **kw)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"8 8"`` or ``"8, 8"`` -> ``(8, 8)``; ``""`` -> no hidden layer. ConfigError naming the
    field otherwise."""
    parts = text.replace(",", " ").split()
    if not all(p.isdigit() for p in parts):
        raise ConfigError(f"hidden layers: {text!r} is not a list of widths; write e.g. '8 8'")
    widths = tuple(int(p) for p in parts)
    if len(widths) > MAX_LAYERS or not all(1 <= w <= MAX_WIDTH for w in widths):
        raise ConfigError(f"hidden layers: {text!r}; use at most {MAX_LAYERS} layers of 1 to "
                          f"{MAX_WIDTH} units")
    return widths


def sizes_of(s: Settings, n_in: int, n_out: int) -> list[int]:
    return [n_in, *s.hidden, n_out]


def check(s: Settings, n_in: int, n_out: int) -> Settings:
    """``s`` if it describes something this playground can train, else ConfigError naming the
    setting and what to choose instead."""
    if s.dataset not in DATASETS:
        raise ConfigError(f"data set: unknown {s.dataset!r}; choose one of {', '.join(DATASETS)}")
    if s.activation not in ACTIVATIONS or s.rung not in RUNGS:
        raise ConfigError(f"activation / rung: {s.activation!r} / {s.rung!r} is not offered")
    if not (isinstance(s.lr, (int, float)) and math.isfinite(s.lr) and 0 < s.lr <= 100):
        raise ConfigError(f"learning rate: {s.lr!r}; choose a number > 0 and <= 100")
    if not (isinstance(s.batch_size, int) and 1 <= s.batch_size <= 10_000):
        raise ConfigError(f"batch size: {s.batch_size!r}; choose an integer from 1 to 10,000")
    if not 0.0 <= s.momentum < 1.0:
        raise ConfigError(f"momentum: {s.momentum!r}; choose a number in [0, 1)")
    if s.rung != "stage3" and s.momentum > 0:
        raise ConfigError(f"rung: {RUNGS[s.rung]} trains with plain SGD; momentum needs "
                          "stage 3 (or set momentum to 0)")
    n = count_parameters(sizes_of(s, n_in, n_out))
    if s.rung == "stage1" and n > STAGE1_MAX_PARAMETERS:
        raise ConfigError(f"rung: stage 1 computes one scalar at a time, up to "
                          f"{STAGE1_MAX_PARAMETERS:,} parameters; this network has {n:,} "
                          "(choose stage 2 or 3, or a smaller network)")
    return s


def set_weights(model: MLP, weights: dict) -> None:
    """Copy ``weights`` (the shared weight format, lists or arrays) into ``model``'s Linear
    layers, in place (an optimizer built on the model keeps working)."""
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    for layer, lw in zip(linears, weights["layers"]):
        layer.params["W"][...] = np.asarray(lw["W"], np.float64)
        layer.params["b"][...] = np.asarray(lw["b"], np.float64)


def initial_model(s: Settings, n_in: int, n_out: int) -> MLP:
    """The seeded initial network of settings ``s`` (float64)."""
    return MLP(n_in, s.hidden, n_out, s.activation, init=INIT[s.activation],
               rng=np.random.default_rng([s.seed, 1]))


def batch_order_rng(s: Settings) -> np.random.Generator:
    """The generator of the epochs' batch orders (``fit``'s ``rng``)."""
    return np.random.default_rng([s.seed, 2])


class Session:
    """Data, model, optimizer and history of one playground run. Attributes: ``settings``,
    ``train = (X (N, D), c (N,))``, ``val``, ``num_classes``, ``model`` (a stage-3 MLP),
    ``optimizer`` (stage 3's SGD), ``history`` (list of dicts), ``steps``, ``epoch``,
    ``last_batch`` (the indices of the last step), ``message`` (why training stopped)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.reset()

    # ------------------------------------------------------------------ building
    def reset(self, settings: Settings | None = None) -> None:
        """Start over (new data, new initial weights) with ``settings`` or the current ones.
        Bad settings raise ConfigError and leave the session as it was."""
        s = settings or self.settings
        train, val, K = make(s.dataset, s.size, s.noise, s.seed)
        check(s, train[0].shape[1], K)
        self.settings, self.train, self.val, self.num_classes = s, train, val, K
        self.model = initial_model(s, train[0].shape[1], K)
        self.loss_fn = SoftmaxCrossEntropy()
        self.optimizer = SGD(self.model, lr=s.lr, momentum=s.momentum)
        self.rng = batch_order_rng(s)
        self.order, self.position = None, 0
        self.steps, self.epoch, self.message, self.last_batch = 0, 0, None, None
        self.history: list[dict] = []
        self.epochs: list[dict] = []                  # one row per finished epoch, for the doctor
        self._record(float("nan"))

    def apply(self, settings: Settings) -> bool:
        """Take new settings: those of training (rate, batch size, momentum, rung) apply to the
        running model; any other change starts over. Returns whether it started over.
        ConfigError (session unchanged) for settings that cannot be trained."""
        old = self.settings
        same_run = settings.changed(lr=old.lr, batch_size=old.batch_size,
                                    momentum=old.momentum, rung=old.rung) == old
        if not same_run:
            self.reset(settings)
            return True
        check(settings, self.train[0].shape[1], self.num_classes)
        if settings.momentum != old.momentum:
            self.optimizer = SGD(self.model, lr=settings.lr, momentum=settings.momentum)
        self.optimizer.lr = settings.lr
        self.settings = settings
        return False

    # ------------------------------------------------------------------ training
    @property
    def sizes(self) -> list[int]:
        return list(self.model.sizes)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train[0]) / self.settings.batch_size)

    def next_batch(self) -> np.ndarray:
        """The indices (B,) of the next step's batch, without taking it: a new epoch draws its
        order first (``fit``'s ``rng.permutation(N)``)."""
        if self.order is None or self.position >= len(self.order):
            self.order, self.position = self.rng.permutation(len(self.train[0])), 0
            self.epoch += 1
        return self.order[self.position:self.position + self.settings.batch_size]

    def step(self) -> bool:
        """One update on the next mini-batch. Returns False (and changes nothing) once training
        has stopped on a non-finite loss."""
        if self.message is not None:
            return False
        idx = self.next_batch()
        X, c = self.train[0][idx], self.train[1][idx]
        loss = self._update(X, c)
        if not math.isfinite(loss):
            self.message = step_diverged(loss, epoch=self.epoch, step=self.steps + 1,
                                         lr=self.settings.lr)
            return False
        self.position += len(idx)
        self.steps += 1
        self.last_batch = idx
        self._record(loss)
        if self.position >= len(self.order):
            self._close_epoch()
        return True

    def run(self, n: int) -> int:
        """Up to ``n`` steps (fewer if training stops); returns how many were taken."""
        taken = 0
        while taken < n and self.step():
            taken += 1
        return taken

    def _update(self, X: np.ndarray, c: np.ndarray) -> float:
        """The settings' rung updates the model on the batch X (B, D), c (B,); the batch's mean
        loss before the update. A non-finite loss updates nothing."""
        rung = self.settings.rung
        if rung == "stage3":
            with np.errstate(all="ignore"):
                out = self.model.forward(X, check=False)
                loss = self.loss_fn.forward(out, c)
                if math.isfinite(loss):
                    self.model.zero_grad()
                    self.model.backward(self.loss_fn.backward(), input_grad=False)
                    self.optimizer.step()
            return float(loss)
        weights, losses = self.model.to_weights(), []
        with np.errstate(all="ignore"):
            if rung == "stage1":
                Xl, cl = as_lists((X, c))
                new = stage1_scalar.sgd_train(weights, Xl, cl, self.settings.lr,
                                              batch_size=len(Xl), losses=losses)
            else:
                new = stage2_perinstance.sgd_train(weights, X, c, self.settings.lr,
                                                   batch_size=len(X), losses=losses)
        if math.isfinite(losses[0]):
            set_weights(self.model, new)
        return float(losses[0])

    def _record(self, batch_loss: float) -> None:
        with np.errstate(all="ignore"):
            train_loss, train_acc = evaluate(self.model, self.loss_fn, *self.train)
            val_loss, val_acc = evaluate(self.model, self.loss_fn, *self.val)
        self.history.append({"step": self.steps, "epoch": self.epoch, "batch_loss": batch_loss,
                             "train_loss": train_loss, "train_acc": train_acc,
                             "val_loss": val_loss, "val_acc": val_acc})

    def _close_epoch(self, probe: int = 256) -> None:
        """The epoch's row for the training doctor: the last losses and accuracies, the rate, and
        stage 3's per-layer statistics on the first ``probe`` training samples."""
        X, c = self.train[0][:probe], self.train[1][:probe]
        row = {k: self.last[k] for k in ("epoch", "train_loss", "val_loss", "train_acc",
                                         "val_acc")}
        row.update(lr=self.settings.lr,
                   layers=layer_stats(self.model, self.loss_fn, self.optimizer, X, c))
        self.epochs.append(row)

    def doctor(self) -> list[str]:
        """The training doctor's lines (``shared.doctor``) on the finished epochs, one per
        symptom; empty for a healthy run or before the first epoch ends."""
        history = {"epochs": self.epochs, "num_classes": self.num_classes,
                   "status": "diverged" if self.message else "ok", "message": self.message}
        return diagnose(history) if self.epochs or self.message else []

    # ------------------------------------------------------------------ reading
    def weights(self) -> list[dict]:
        """The current parameters, copies: ``[{"W": (in, out), "b": (out,)}, ...]``."""
        return [{"W": layer.params["W"].copy(), "b": layer.params["b"].copy()}
                for layer in self.model.layers if isinstance(layer, Linear)]

    @property
    def last(self) -> dict:
        return self.history[-1]
