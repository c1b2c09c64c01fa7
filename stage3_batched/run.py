"""One call trains one configured model: used by ``python -m stage3_batched`` and by stage 4.

What this adds over the library: a :class:`RunConfig` that names every choice of a run (data,
architecture, optimizer, schedule, seed, dtype) and validates it with clear messages, and
:func:`run`, which loads the data, builds the model, trains it and returns plain data (no files:
the command line and the stage-4 experiments decide where records, curves and models go).

Seeding: ``seed`` feeds one ``np.random.SeedSequence``; its first child initialises the weights
(and drives dropout), its second shuffles the batches. The data split uses ``seed`` directly
(data sets with a fixed split ignore it). The same config gives the same numbers on the same
machine (up to BLAS threading, which can change the last bits of float sums).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from stage3_batched.layers import ACTIVATIONS, INITS
from stage3_batched.losses import SoftmaxCrossEntropy
from stage3_batched.model import MLP
from stage3_batched.optim import OPTIMIZERS, SGD, Adam, StepDecay
from stage3_batched.trainer import evaluate, fit

DATASETS = ("synth", "mnist-sample", "mnist", "fashion-mnist", "iris", "disc")
DTYPES = ("float32", "float64")
TEST_SPLIT = ("mnist", "fashion-mnist", "mnist-sample")   # data sets with a separate test split
DEFAULT_ADAM_LR = 1e-3


@dataclass
class RunConfig:
    """Everything that defines a training run.

    Defaults: the CS3317 hand-out's Fashion-MNIST set-up - hidden layers [128, 64], ReLU,
    30 epochs - with SGD, learning rate 0.05, momentum 0.9, batch size 64, and the rate
    multiplied by 0.9 after every epoch (measured: 89.4% test accuracy; with a constant rate the
    last epoch lands between 87.9% and 88.6%, see README.md).
    ``final=True`` evaluates on the canonical test split (data sets without one use their
    validation split either way); ``final=False`` holds out a validation split instead.
    ``limit`` keeps only the first ``limit`` training samples; ``lr_decay`` multiplies the
    learning rate by that factor after every epoch (None or 1.0 = constant rate). ``momentum`` and
    ``nesterov`` apply to SGD only (Adam uses its betas 0.9, 0.999).
    """

    dataset: str = "fashion-mnist"
    hidden_dims: tuple = (128, 64)
    activation: str = "relu"
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    dropout: float = 0.0
    batch_size: int = 64
    epochs: int = 30
    seed: int = 0
    dtype: str = "float32"
    init: str = "he"
    final: bool = True
    limit: int | None = None
    lr_decay: float | None = 0.9

    def validate(self) -> RunConfig:
        """Check every field; raise ValueError saying which value is wrong and what is allowed.
        Returns self (normalising ``hidden_dims`` to a tuple of ints)."""
        def choice(what, value, allowed):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; choose one of "
                                 f"{', '.join(map(str, allowed))}")

        def integer(what, value, low):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{what} must be an integer >= {low}, got {value!r}")

        def number(what, value):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not math.isfinite(value):
                raise ValueError(f"{what} must be a finite number, got {value!r}")

        choice("dataset", self.dataset, DATASETS)
        choice("activation", self.activation, tuple(ACTIVATIONS))
        choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        choice("dtype", self.dtype, DTYPES)
        choice("init", self.init, INITS)
        if isinstance(self.hidden_dims, (int, np.integer)):
            self.hidden_dims = (self.hidden_dims,)
        try:
            dims = tuple(self.hidden_dims)
        except TypeError:
            raise ValueError(f"hidden_dims must be a list of positive integers, got "
                             f"{self.hidden_dims!r}") from None
        for h in dims:
            integer("every hidden width", h, 1)
        self.hidden_dims = tuple(int(h) for h in dims)
        number("learning rate", self.lr)
        if self.lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        number("momentum", self.momentum)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        number("weight decay", self.weight_decay)
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs the sgd optimizer and a momentum > 0")
        number("dropout", self.dropout)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        integer("batch size", self.batch_size, 1)
        integer("epochs", self.epochs, 1)
        integer("seed", self.seed, 0)
        if self.limit is not None:
            integer("limit", self.limit, 1)
        if self.lr_decay is not None:
            number("lr_decay", self.lr_decay)
            if not 0 < self.lr_decay <= 1:
                raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        return d


def split_name(config: RunConfig) -> str:
    """"test" when the run is evaluated on a canonical test split, else "validation"."""
    return "test" if config.final and config.dataset in TEST_SPLIT else "validation"


def load_data(config: RunConfig):
    """``(xtr, ytr), (xval, yval), num_classes`` for the config (features in its dtype)."""
    from shared.data import load_dataset

    kw = {"dtype": np.dtype(config.dtype)} if config.dataset in TEST_SPLIT else {}
    (xtr, ytr), (xva, yva), k = load_dataset(config.dataset, seed=config.seed,
                                             final=config.final, **kw)
    return (xtr, ytr), (xva, yva), k


def build(config: RunConfig, input_dim: int, num_classes: int):
    """``(model, loss_fn, optimizer, scheduler, shuffle_rng)`` for a validated config."""
    init_ss, shuffle_ss = np.random.SeedSequence(config.seed).spawn(2)
    model = MLP(input_dim, config.hidden_dims, num_classes, config.activation,
                dropout=config.dropout, init=config.init, rng=np.random.default_rng(init_ss),
                dtype=np.dtype(config.dtype))
    params, grads = model.parameters(), model.gradients()
    if config.optimizer == "sgd":
        opt = SGD(params, grads, lr=config.lr, momentum=config.momentum,
                  weight_decay=config.weight_decay, nesterov=config.nesterov)
    else:
        opt = Adam(params, grads, lr=config.lr, weight_decay=config.weight_decay)
    sched = (StepDecay(opt, gamma=config.lr_decay)
             if config.lr_decay is not None and config.lr_decay != 1 else None)
    return model, SoftmaxCrossEntropy(), opt, sched, np.random.default_rng(shuffle_ss)


def run(config: RunConfig, *, progress: bool = True, data=None, return_model: bool = False,
        on_epoch=None) -> dict:
    """Train the configured model and return plain data::

        {"config": config as a dict, "history": History.to_dict(),
         "final": {"train_loss", "train_acc", "val_loss", "val_acc"},
         "status": "ok" | "diverged", "message": None | why, "wall_time": seconds,
         "split": "test" | "validation", "num_parameters": int}

    ``final`` holds the end-of-training figures: train loss/accuracy re-evaluated on the whole
    training set with the final weights (eval mode), and the last epoch's evaluation on the
    validation / test split. A diverged run keeps the last finished epoch's figures (None if no
    epoch finished). ``data = ((xtr, ytr), (xval, yval), num_classes)`` skips loading (the arrays
    are cast to the config's dtype if needed, and cut to ``limit``). ``return_model=True`` adds the
    trained model under ``"model"``. ``on_epoch(row)`` is called after every epoch.
    """
    config.validate()
    t0 = time.perf_counter()
    (xtr, ytr), (xva, yva), k = load_data(config) if data is None else data
    if config.limit is not None:
        xtr, ytr = xtr[:config.limit], ytr[:config.limit]
    dtype = np.dtype(config.dtype)
    xtr, xva = np.asarray(xtr, dtype=dtype), np.asarray(xva, dtype=dtype)
    model, loss_fn, opt, sched, shuffle_rng = build(config, xtr.shape[1], int(k))
    hist = fit(model, loss_fn, opt, (xtr, ytr), (xva, yva), epochs=config.epochs,
               batch_size=config.batch_size, rng=shuffle_rng, scheduler=sched,
               progress=progress, on_epoch=on_epoch)
    final = {"train_loss": None, "train_acc": None, "val_loss": None, "val_acc": None}
    if hist.status == "ok":
        final["train_loss"], final["train_acc"] = evaluate(model, loss_fn, xtr, ytr)
    elif hist.epochs:
        final["train_loss"] = hist.epochs[-1]["train_loss"]
        final["train_acc"] = hist.epochs[-1]["train_acc"]
    if hist.epochs:
        final["val_loss"], final["val_acc"] = hist.epochs[-1]["val_loss"], hist.epochs[-1][
            "val_acc"]
    out = {"config": config.to_dict(), "history": hist.to_dict(), "final": final,
           "status": hist.status, "message": hist.message,
           "wall_time": time.perf_counter() - t0, "split": split_name(config),
           "num_parameters": model.num_parameters()}
    if return_model:
        out["model"] = model
    return out
