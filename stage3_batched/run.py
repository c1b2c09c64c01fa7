"""One call trains one configured model: used by ``python -m stage3_batched`` and by stage 4.

What this adds over the library: a :class:`RunConfig` that names every choice of a run (data,
architecture, optimizer, schedule, seed, dtype) and validates it with clear messages, and
:func:`run`, which loads the data, checks that the network fits in memory, builds the model,
trains it and returns plain data (no files: the command line and the stage-4 experiments decide
where records, curves and models go). :data:`SWEEPS` holds the CS3317 hand-out's
hyper-parameter sweeps (``python -m stage3_batched --sweep NAME`` and stage 4): which setting
each varies, its values, and what "width" and "depth" mean.

Seeding: ``seed`` feeds one ``np.random.SeedSequence``; its first child initialises the weights
(and drives dropout), its second shuffles the batches. The data split uses ``seed`` directly
(data sets with a fixed split ignore it). The same config gives the same numbers on the same
machine with the same number of BLAS threads (a different thread count can change the last bits
of float sums, so the command line counts it as part of a run's configuration).

Leaves out: early stopping, checkpoints, several seeds per call (stage 4 repeats calls).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from shared.errors import ConfigError
from stage3_batched.layers import ACTIVATIONS, INITS
from stage3_batched.losses import SoftmaxCrossEntropy
from stage3_batched.model import MLP
from stage3_batched.optim import OPTIMIZERS, StepDecay, make_optimizer
from stage3_batched.trainer import evaluate, fit, train_epoch

DATASETS = ("synth", "mnist-sample", "mnist", "fashion-mnist", "iris", "disc")
DTYPES = ("float32", "float64")
TEST_SPLIT = ("mnist", "fashion-mnist", "mnist-sample")   # data sets with a separate test split
IDX_DATASETS = ("mnist", "fashion-mnist")                 # files found on disk or downloaded
DEFAULT_ADAM_LR = 1e-3

def setting(default, what: str, help: str, *, aliases: tuple = (), **cli):
    """A :class:`RunConfig` field: its default, how messages name it (``what``), the command
    line's help text, the hand-out's other spellings of its flag (``aliases``) and any further
    ``argparse`` options (``cli``). The command line, the record keys and stage 4's
    configurations are all derived from these fields."""
    return field(default=default, metadata={"what": what, "help": help, "aliases": aliases,
                                            "cli": cli})


def _choice(what: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; choose one of "
                          f"{', '.join(map(str, allowed))}")


def _integer(what: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")


def _number(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")


def _hidden_dims(value, what: str) -> tuple:
    """``hidden_dims`` as a tuple of ints >= 1 (one int is one layer)."""
    if isinstance(value, (int, np.integer)):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        raise ConfigError(f"{what} must be a list of positive integers, got {value!r}") from None
    for h in dims:
        _integer(f"every hidden width ({what})", h, 1)
    return tuple(int(h) for h in dims)


@dataclass
class RunConfig:
    """Everything that defines a training run, with the one set of defaults of the project.

    Defaults: the CS3317 hand-out's Fashion-MNIST set-up - hidden layers [128, 64], ReLU,
    30 epochs - with SGD, learning rate 0.05, momentum 0.9, batch size 64, and the rate
    multiplied by 0.9 after every epoch; float64, as the whole library (measured: 88.95% test
    accuracy with one BLAS thread; 89.37% in float32; with a constant rate the last epoch of the
    float32 runs landed between 87.9% and 88.6%, see README.md).
    Every epoch is monitored on a validation split held out of the training data;
    ``final=True`` then evaluates the trained model once on the canonical test split (data sets
    without one report their validation split); ``final=False`` never touches the test split.
    ``limit`` keeps only the first ``limit`` training samples; ``lr_decay`` multiplies the
    learning rate by that factor after every epoch (None or 1.0 = constant rate). ``momentum`` and
    ``nesterov`` apply to SGD only (Adam uses its betas 0.9, 0.999). Each field's metadata
    (:func:`setting`) gives its flag's help text; :func:`flag_names` the flags themselves.
    """

    dataset: str = setting("fashion-mnist", "dataset", "data set to train on")
    hidden_dims: tuple = setting((128, 64), "hidden_dims",
                                 "hidden layer widths; none: softmax regression",
                                 aliases=("--hidden_dims",), type=int, nargs="*", metavar="H")
    activation: str = setting("relu", "activation", "hidden activation")
    optimizer: str = setting("sgd", "optimizer", "the update rule (optim.OPTIMIZERS)")
    lr: float = setting(0.05, "learning rate", "learning rate",
                        aliases=("--learning_rate", "--learning-rate"), type=float)
    momentum: float = setting(0.9, "momentum", "SGD momentum, in [0, 1)", type=float)
    weight_decay: float = setting(0.0, "weight decay", "L2 weight decay added to the gradient, "
                                  "biases excluded", aliases=("--weight_decay",), type=float)
    nesterov: bool = setting(False, "nesterov", "Nesterov momentum (SGD)")
    dropout: float = setting(0.0, "dropout", "dropout probability after each hidden activation",
                             type=float)
    batch_size: int = setting(64, "batch size", "samples per update",
                              aliases=("--batch_size",), type=int)
    epochs: int = setting(30, "epochs", "passes over the training data", type=int)
    seed: int = setting(0, "seed", "seeds the weights, dropout, shuffling and split", type=int)
    dtype: str = setting("float64", "dtype", "floating-point type of data and weights")
    init: str = setting("he", "init", "weight initialisation")
    final: bool = setting(True, "final", "evaluate on the test split (else a validation split)")
    limit: int | None = setting(None, "limit", "use only the first LIMIT training samples",
                                type=int)
    lr_decay: float | None = setting(0.9, "lr_decay", "multiply the learning rate by this after "
                                     "every epoch; 1 = constant", aliases=("--lr_decay",),
                                     type=float)

    def validate(self, flags: Mapping[str, str] | None = None) -> RunConfig:
        """Check every field; raise :class:`~shared.errors.ConfigError` (a ``ValueError``)
        saying which value is wrong and what is allowed. ``flags`` maps field names to the names
        the message should use (the command line's ``--lr`` ...). Returns self (normalising
        ``hidden_dims`` to a tuple of ints)."""
        names = {**field_names(), **(flags or {})}
        for name, allowed in (("dataset", DATASETS), ("activation", tuple(ACTIVATIONS)),
                              ("optimizer", tuple(OPTIMIZERS)), ("dtype", DTYPES),
                              ("init", INITS)):
            _choice(names[name], getattr(self, name), allowed)
        self.hidden_dims = _hidden_dims(self.hidden_dims, names["hidden_dims"])
        self._check_rates(names)
        _integer(names["batch_size"], self.batch_size, 1)
        _integer(names["epochs"], self.epochs, 1)
        _integer(names["seed"], self.seed, 0)
        if self.limit is not None:
            _integer(names["limit"], self.limit, 1)
        if self.lr_decay is not None:
            _number(names["lr_decay"], self.lr_decay)
            if not 0 < self.lr_decay <= 1:
                raise ConfigError(f"{names['lr_decay']} must be in (0, 1], got {self.lr_decay}")
        return self

    def _check_rates(self, names: Mapping[str, str]) -> None:
        """The learning rate, momentum (and Nesterov), weight decay and dropout."""
        _number(names["lr"], self.lr)
        if self.lr <= 0:
            raise ConfigError(f"{names['lr']} must be > 0, got {self.lr}")
        _number(names["momentum"], self.momentum)
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"{names['momentum']} must be in [0, 1), got {self.momentum}")
        _number(names["weight_decay"], self.weight_decay)
        if self.weight_decay < 0:
            raise ConfigError(f"{names['weight_decay']} must be >= 0, got {self.weight_decay}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError(f"{names['nesterov']} needs the sgd optimizer and a momentum > 0")
        _number(names["dropout"], self.dropout)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"{names['dropout']} must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        """The fields as plain JSON data (what run records store and their keys hash):
        ``hidden_dims`` a list, every number in its field's type (``lr=1`` is stored as 1.0)."""
        d = asdict(self)
        d["hidden_dims"] = [int(h) for h in self.hidden_dims]
        for name in ("lr", "momentum", "weight_decay", "dropout"):
            d[name] = float(d[name])
        for name in ("batch_size", "epochs", "seed"):
            d[name] = int(d[name])
        d["nesterov"], d["final"] = bool(d["nesterov"]), bool(d["final"])
        return d


def field_names() -> dict[str, str]:
    """RunConfig field -> how messages name it by default (``lr`` -> "learning rate")."""
    return {f.name: f.metadata["what"] for f in fields(RunConfig)}


def flag_names() -> dict[str, str]:
    """RunConfig field -> its command-line flag: ``--`` and the name with dashes
    (``hidden_dims`` -> ``--hidden-dims``); ``final`` is the CLI's ``--validation``."""
    return {f.name: "--" + f.name.replace("_", "-") for f in fields(RunConfig)
            if f.name != "final"} | {"final": "--validation"}


# --------------------------------------------------------------------------- the hand-out's sweeps
def width_dims(v: int) -> tuple:
    """Width ``v``: the default architecture [128, 64] scaled, hidden layers ``(v, v // 2)``."""
    return (int(v), int(v) // 2)


def depth_dims(n: int) -> tuple:
    """Depth ``n``: ``n`` hidden layers, 128 units and then 64 in every further layer."""
    return (128,) + (64,) * (int(n) - 1)


#: The CS3317 hand-out's hyper-parameter sweeps, the one table that ``python -m stage3_batched
#: --sweep NAME`` and stage 4's sweeps experiment both read. Keys are the hand-out's names
#: (``--sweep hidden_dim``, ``num_layers``, ``learning_rate``; the other three complete its
#: task-5 list); per sweep: ``title`` (how figures and reports name it), the RunConfig ``field``
#: it sets, the ``values`` (the hand-out's, where it lists them), the ``default`` (the value of
#: the default configuration, :class:`RunConfig`'s), ``what`` one value means and ``set``
#: (value -> the field's value). Every other setting stays at the base configuration's.
#:
#: What "width" and "depth" mean: the hand-out varies one thing at a time around its default
#: architecture [128, 64]. Width v is hidden layers (v, v/2), so v = 128 is the default run
#: and the depth stays 2; depth n is n hidden layers of 128, then 64 units, so n = 2 is the
#: default run and the first layer's width stays 128.
SWEEPS = {
    "hidden_dim": {"title": "width", "field": "hidden_dims", "values": [32, 64, 128, 256, 512],
                   "default": RunConfig().hidden_dims[0], "set": width_dims,
                   "what": "width v: hidden layers (v, v/2)"},
    "num_layers": {"title": "depth", "field": "hidden_dims", "values": [1, 2, 3, 4],
                   "default": len(RunConfig().hidden_dims), "set": depth_dims,
                   "what": "depth n: n hidden layers, 128 units then 64"},
    "learning_rate": {"title": "learning rate", "field": "lr",
                      "values": [0.001, 0.005, 0.01, 0.05, 0.1], "default": RunConfig().lr,
                      "set": float, "what": "learning rate"},
    "activation": {"title": "activation", "field": "activation", "values": ["relu", "sigmoid"],
                   "default": RunConfig().activation, "set": str, "what": "hidden activation"},
    "momentum": {"title": "momentum", "field": "momentum", "values": [0.0, 0.5, 0.9, 0.99],
                 "default": RunConfig().momentum, "set": float, "what": "SGD momentum"},
    "batch_size": {"title": "batch size", "field": "batch_size", "values": [16, 32, 64, 128, 256],
                   "default": RunConfig().batch_size, "set": int,
                   "what": "batch size (same learning rate)"},
}


def sweep_configs(base: RunConfig, name: str) -> list[tuple[object, RunConfig]]:
    """``[(value, config)]`` for sweep ``name`` of :data:`SWEEPS`: ``base`` with the swept
    setting replaced by each value, evaluated on a validation split held out of the training
    data (``final=False``: a sweep chooses among values, so the test split stays untouched)."""
    if name not in SWEEPS:
        raise ConfigError(f"unknown sweep {name!r}; choose one of {', '.join(SWEEPS)}")
    s = SWEEPS[name]
    out = []
    for v in s["values"]:
        cfg = RunConfig(**{**base.to_dict(), s["field"]: s["set"](v), "final": False})
        out.append((v, cfg.validate()))                # validate makes hidden_dims a tuple
    return out


# --------------------------------------------------------------------------- data
def split_name(config: RunConfig) -> str:
    """The split the run's final figures come from: "test" when it ends with one evaluation on a
    canonical test split, else "validation" (every epoch is monitored on validation data)."""
    return "test" if has_test_split(config) else "validation"






def has_test_split(config: RunConfig) -> bool:
    """Whether the run ends with one evaluation on a canonical test split."""
    return bool(config.final) and config.dataset in TEST_SPLIT


def _loader_kw(config: RunConfig, download: bool, limit: bool) -> dict:
    kw = {}
    if config.dataset in TEST_SPLIT:                  # the MNIST-like loaders
        kw["dtype"] = np.dtype(config.dtype)
        if limit and config.limit is not None:
            kw["limit"] = config.limit
    if config.dataset in IDX_DATASETS:
        kw["download"] = download
    return kw


def load_data(config: RunConfig, *, download: bool = True):
    """``(xtr, ctr), (xval, cval), num_classes`` for the config (features in its dtype): the
    training data and the validation split held out of it, which every epoch is monitored on
    (the test split is never among them: :func:`load_test`).

    ``limit`` is handed to the MNIST-like loaders (they then convert only the images they
    keep); ``download=False`` raises :class:`shared.data.DataNotFoundError` instead of
    downloading missing MNIST / Fashion-MNIST files."""
    from shared import data

    return data.load_dataset(config.dataset, seed=config.seed, final=False,
                             **_loader_kw(config, download, limit=True))


def load_test(config: RunConfig, *, download: bool = True):
    """``(xte, cte)``, the canonical test split of the config's data set (None without one, or
    with ``final=False``), evaluated once after training."""
    from shared import data

    if not has_test_split(config):
        return None
    _, test, _ = data.load_dataset(config.dataset, seed=config.seed, final=True,
                                   **_loader_kw(config, download, limit=False))
    return test


def check_size(config: RunConfig, n_samples: int, input_dim: int, num_classes: int,
               flags: Mapping[str, str] | None = None) -> None:
    """Raise :class:`~shared.errors.SizeError` (with the estimate) when training the configured
    network on ``n_samples`` samples of ``input_dim`` features would need more memory than this
    machine has (``shared.memory.check_fits``)."""
    from shared.memory import check_fits, estimate_data_bytes, estimate_network_bytes

    sizes = [int(input_dim), *config.hidden_dims, int(num_classes)]
    nbytes = np.dtype(config.dtype).itemsize
    need = (estimate_network_bytes(sizes, batch=config.batch_size, dtype_bytes=nbytes)
            + estimate_data_bytes(n_samples, input_dim, nbytes))
    flag = {**field_names(), **(flags or {})}["hidden_dims"]
    check_fits(need, f"a {'-'.join(map(str, sizes))} network ({config.dtype}, batches of "
                     f"{config.batch_size}) with {n_samples:,} samples", flag=flag)


# --------------------------------------------------------------------------- model and training
def optimizer_settings(config: RunConfig) -> dict:
    """The config's settings that the optimizer registered under ``config.optimizer``
    (:data:`~stage3_batched.optim.OPTIMIZERS`) takes, by the names of its constructor's
    arguments (SGD: lr, momentum, weight_decay, nesterov; Adam: lr, weight_decay)."""
    cls = OPTIMIZERS[config.optimizer]                 # validate() refused unknown names
    accepted = inspect.signature(cls).parameters
    return {name: getattr(config, name) for name in ("lr", "momentum", "weight_decay", "nesterov")
            if name in accepted}


def build(config: RunConfig, input_dim: int, num_classes: int):
    """``(model, loss_fn, optimizer, scheduler, shuffle_rng)`` for a validated config."""
    init_ss, shuffle_ss = np.random.SeedSequence(config.seed).spawn(2)
    model = MLP(input_dim, config.hidden_dims, num_classes, config.activation,
                dropout=config.dropout, init=config.init, rng=np.random.default_rng(init_ss),
                dtype=np.dtype(config.dtype))
    opt = make_optimizer(config.optimizer, model, **optimizer_settings(config))
    sched = (StepDecay(opt, gamma=config.lr_decay)
             if config.lr_decay is not None and config.lr_decay != 1 else None)
    return model, SoftmaxCrossEntropy(), opt, sched, np.random.default_rng(shuffle_ss)


def run(config: RunConfig, *, progress: bool = True, data=None, test=None,
        return_model: bool = False, on_epoch=None, epoch=train_epoch, download: bool = True,
        flags: Mapping[str, str] | None = None) -> dict:
    """Train the configured model and return plain data::

        {"config": config as a dict, "history": History.to_dict(),
         "final": {"train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"},
         "evaluation": Evaluation.to_dict() (confusion matrix ...) of the split named by "split",
         "status": "ok" | "diverged", "message": None | why, "wall_time": seconds,
         "split": "test" | "validation", "num_parameters": int, "threads": BLAS threads,
         "n_train": int, "n_val": int, "n_test": int}

    Every epoch is monitored on the validation split; ``final`` holds the end-of-training
    figures: train loss/accuracy re-evaluated on the whole training set with the final weights
    (eval mode), the last epoch's validation figures, and - only when the run has a test split
    (``final=True``) - the test figures, measured once, after training (None otherwise). A
    diverged run (``shared.divergence``) keeps the last finished epoch's figures and is not
    evaluated on the test split. ``data = ((xtr, ctr), (xval, cval), num_classes)`` skips loading
    (``test = (xte, cte)`` gives the test split with it); memory is checked before building.
    ``return_model=True`` adds the trained model under ``"model"`` and the evaluated data
    ``(X, c)`` under ``"evaluated"``. ``on_epoch(row)`` is called after every epoch; ``epoch``
    is the epoch function ``fit`` trains with (default :func:`~stage3_batched.trainer.train_epoch`;
    the command line's ``--fast`` passes ``stage3_batched.fast.train_epoch_fast``);
    ``download=False`` never downloads data; ``flags`` names fields in messages (as in
    :meth:`RunConfig.validate`).
    """

    config.validate(flags)
    t0 = time.perf_counter()
    (xtr, ctr), (xva, cva), k, test = _prepared(config, data, test, download, flags)
    model, loss_fn, opt, sched, shuffle_rng = build(config, xtr.shape[1], int(k))
    hist = fit(model, loss_fn, opt, (xtr, ctr), (xva, cva), epochs=config.epochs,
               batch_size=config.batch_size, rng=shuffle_rng, scheduler=sched,
               progress=progress, on_epoch=on_epoch, epoch=epoch)
    return _result(config, model, loss_fn, hist, (xtr, ctr), (xva, cva), test, t0,
                   return_model)


def _result(config, model, loss_fn, hist, train, val, test, t0, return_model) -> dict:
    """What :func:`run` returns, from the trained model and its history (``t0``: its start)."""
    from shared.threads import blas_threads

    final, evaluation, evaluated = _final_figures(config, model, loss_fn, hist, train, val, test)
    out = {"config": config.to_dict(), "history": hist.to_dict(), "final": final,
           "evaluation": evaluation, "status": hist.status, "message": hist.message,
           "wall_time": time.perf_counter() - t0, "split": split_name(config),
           "num_parameters": model.num_parameters(), "threads": blas_threads(),
           "n_train": int(len(train[0])), "n_val": int(len(val[0])),
           "n_test": 0 if test is None else int(len(test[0]))}
    return {**out, "model": model, "evaluated": evaluated} if return_model else out


def _prepared(config: RunConfig, data, test, download: bool, flags):
    """The run's data ``(xtr, ctr), (xva, cva), k, test`` in its dtype, loaded unless given,
    the training part cut to ``limit``, its size checked (:func:`check_size`)."""
    if data is None:
        data, test = load_data(config, download=download), load_test(config, download=download)
    (xtr, ctr), (xva, cva), k = data
    if config.limit is not None:
        xtr, ctr = xtr[:config.limit], ctr[:config.limit]
    check_size(config, len(xtr) + len(xva), xtr.shape[1], int(k), flags)
    dtype = np.dtype(config.dtype)
    test = None if test is None or not has_test_split(config) else \
        (np.asarray(test[0], dtype=dtype), test[1])
    return ((np.asarray(xtr, dtype=dtype), ctr), (np.asarray(xva, dtype=dtype), cva), k, test)


def _final_figures(config, model, loss_fn, hist, train, val, test):
    """``(final, evaluation, (X, c))`` of a trained run: the figures :func:`run` documents, the
    confusion-matrix evaluation (``shared.evaluation``) of the test split when there is one, else
    of the validation split (None for a diverged run), and the data it was measured on."""
    from shared.evaluation import class_names
    from stage3_batched.trainer import evaluate_classes

    final = dict.fromkeys(("train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
                           "test_acc"))
    last = hist.epochs[-1] if hist.epochs else {}
    final["val_loss"], final["val_acc"] = last.get("val_loss"), last.get("val_acc")
    if hist.status != "ok":
        final["train_loss"], final["train_acc"] = last.get("train_loss"), last.get("train_acc")
        return final, None, None
    final["train_loss"], final["train_acc"] = evaluate(model, loss_fn, *train)
    if test is not None:
        final["test_loss"], final["test_acc"] = evaluate(model, loss_fn, *test)
    evaluated = test if test is not None else val
    ev, _ = evaluate_classes(model, *evaluated, class_names(config.dataset, model.output_dim),
                             split_name(config))
    return final, ev.to_dict(), evaluated


__all__ = ["RunConfig", "run", "build", "load_data", "load_test", "has_test_split", "check_size",
           "split_name", "SWEEPS", "sweep_configs", "width_dims", "depth_dims", "field_names",
           "flag_names", "setting", "DATASETS", "DTYPES", "TEST_SPLIT", "DEFAULT_ADAM_LR"]
