"""The SJTU CS3317 coursework-3 set-up, shared by experiments 6 (sweeps) and 7 (MLP vs logistic
regression).

What this adds: the base configuration around which the sweeps vary one setting at a time, and
the common run factory, so the sweeps' base run and the MLP of experiment 7 (seed 0) are one and
the same record in ``runs/cs3317/``.

Base: the hand-out's default architecture, hidden layers [128, 64] with ReLU, He-normal initial
weights, softmax cross-entropy, SGD with momentum 0.9, learning rate 0.05, batch size 64, float32
- the defaults of ``stage3_batched.run.RunConfig`` (``python -m stage3_batched``), so the sweeps
vary the library's own default one setting at a time.
Full mode trains FULL_EPOCHS epochs on Fashion-MNIST's official 60,000 / 10,000 split (the
hand-out uses 30; 10 keeps the whole reproduction within its time budget, and the summary tables
give the best epoch so a curve still rising at the end is visible). Quick mode trains QUICK_EPOCHS
epochs on the shipped MNIST sample (6,000 train / 1,000 test digits): it is offline-safe and shows
the method, not Fashion-MNIST numbers.
"""

from __future__ import annotations

import math

from ..api import Context, SkipExperiment
from ..common import data_problem, stage3_config
from ..runner import RunSpec

STORE = "cs3317"
EXECUTE = "stage4_analysis.common:execute_stage3"

FULL_DATASET = "fashion-mnist"
QUICK_DATASET = "mnist-sample"
FULL_EPOCHS = 10
QUICK_EPOCHS = 4
FINAL = True  # the hand-out reports train and test accuracy: the official test split

#: Same divergence rule as the VU study (common.py): NaN/inf, or an epoch's mean training loss
#: above 3 ln 10 (a ReLU network at a too-large rate reaches losses of 1e40 without a NaN).
DIVERGE_ABOVE = 3 * math.log(10)

BASE = {"hidden_dims": (128, 64), "activation": "relu", "optimizer": "sgd", "lr": 0.05,
        "momentum": 0.9, "batch_size": 64, "init": "he", "dtype": "float32"}


def dataset(ctx: Context, name: str) -> str:
    d = QUICK_DATASET if ctx.quick else FULL_DATASET
    problem = data_problem(d, FINAL)
    if problem:
        raise SkipExperiment(f"{d} is not available here (nothing was substituted): {problem}")
    return d


def epochs(ctx: Context) -> int:
    return ctx.option("epochs", QUICK_EPOCHS if ctx.quick else FULL_EPOCHS)


def spec(ctx: Context, name: str, label: str, seed: int = 0, **changes) -> RunSpec:
    """The base configuration with ``changes`` applied."""
    kw = dict(BASE)
    kw.update(changes)
    cfg = stage3_config(dataset=dataset(ctx, name), final=FINAL, epochs=epochs(ctx), seed=seed,
                        limit=ctx.option("limit"), diverge_above=DIVERGE_ABOVE, **kw)
    return RunSpec(EXECUTE, cfg, STORE, label=label)


def base_text(ctx: Context) -> str:
    b = BASE
    return (f"hidden {list(b['hidden_dims'])} {b['activation']}, {b['init']}-normal init, SGD lr "
            f"{b['lr']:g} momentum {b['momentum']:g}, batch {b['batch_size']}, "
            f"{epochs(ctx)} epochs, {b['dtype']}, seed 0")

