"""The runs most experiments share: one training run of stage 3 or of stage 2, as a record.

What this adds over calling ``stage3_batched.run.run`` directly: a run described by a plain,
hashable config dict (:func:`stage3_config`, :func:`stage2_config`), data loaded once per worker
process (:func:`stage4_analysis.data.load_data`), and the result cut down to what a record keeps
(per-step losses, per-epoch metrics, final numbers, data sizes). :func:`execute_stage2` does the
same for the stage-2 per-sample trainer (the per-sample learning curve).

Divergence: the trainers apply the project's one rule (``shared.divergence``: a NaN/inf step
loss, or an epoch's mean training loss above 3 ln K) and report such a run as diverged, with the
rule's message; the record keeps both.

Leaves out: anything experiment-specific (which runs, how to plot them).
"""

from __future__ import annotations

import random
import time
from dataclasses import fields

from .data import DATA_SEED, load_data


def stage3_config(*, dataset: str, final: bool, seed: int, **settings) -> dict:
    """The full config of one stage-3 run: ``stage3_batched.run.RunConfig`` with ``settings``
    (any of its fields) and its defaults for the rest - the project's one set of defaults - as
    plain data (``RunConfig.to_dict``), every field set explicitly so the key changes whenever
    anything that changes the result does; plus the executor, the data seed and what every
    epoch is monitored on (a final run meets the test split once, at the end)."""
    from stage3_batched.run import RunConfig

    unknown = sorted(set(settings) - {f.name for f in fields(RunConfig)})
    if unknown:
        raise TypeError(f"not RunConfig fields: {', '.join(unknown)}")
    cfg = RunConfig(dataset=dataset, final=final, seed=seed, **settings)
    return {"executor": "stage3", "data_seed": DATA_SEED, **cfg.to_dict(),
            "monitor": "validation"}


def stage2_config(*, dataset: str, final: bool, sizes, lr: float, epochs: int, seed: int,
                  accumulate: int = 1, limit: int | None = None) -> dict:
    """The full config of one stage-2 (per-sample) run."""
    return {"executor": "stage2", "dataset": dataset, "final": bool(final),
            "data_seed": DATA_SEED, "limit": limit, "sizes": [int(s) for s in sizes],
            "lr": float(lr), "epochs": int(epochs), "seed": int(seed),
            "accumulate": int(accumulate), "dtype": "float64"}


def execute_stage3(config: dict) -> dict:
    """Train one stage-3 model described by a :func:`stage3_config` dict; returns
    ``{"metrics", "status", "message"}`` for the runner. Every epoch is monitored on the
    validation split held out of the training data; a ``final`` run is then evaluated once on
    the test split (``metrics["final"]["test_acc"]``, ``metrics["evaluation"]``: its confusion
    matrix)."""
    from stage3_batched.run import RunConfig, run

    data = load_data(config["dataset"], False, config["dtype"], config.get("limit"))
    test = load_data(config["dataset"], True, config["dtype"])[1] if config["final"] else None
    names = {f.name for f in fields(RunConfig)}
    kw = {k: v for k, v in config.items() if k in names}
    kw["hidden_dims"] = tuple(config["hidden_dims"])
    kw["limit"] = None  # already applied to the cached data
    kw["lr_decay"] = config.get("lr_decay")           # every field explicit (None: constant)
    rc = RunConfig(**kw)
    rc.validate()
    out = run(rc, progress=False, data=data, test=test)
    hist = out["history"]
    status, message = out.get("status") or hist.get("status") or "ok", out.get("message")
    (xtr, _), (xval, _), _ = data
    metrics = {
        "step_loss": hist.get("step_loss", []),
        "epochs": hist.get("epochs", []),
        "final": out.get("final", {}), "evaluation": out.get("evaluation"),
        "n_train": int(len(xtr)), "n_val": int(len(xval)), "n_test": out.get("n_test", 0),
        "train_wall_time": out.get("wall_time"),
        "run_config": out.get("config"),
    }
    return {"metrics": metrics, "status": status, "message": message}


def execute_stage2(config: dict) -> dict:
    """Train the stage-2 per-sample network described by a :func:`stage2_config` dict."""
    import numpy as np

    import stage2_perinstance
    from shared.weights import init_weights, to_arrays

    (xtr, ytr), (xval, yval), k = load_data(config["dataset"], config["final"], "float64",
                                            config.get("limit"))
    sizes = config["sizes"]
    if sizes[0] != xtr.shape[1] or sizes[-1] != k:
        raise ValueError(f"sizes {sizes} do not fit the data: {xtr.shape[1]} inputs, {k} classes")
    weights = to_arrays(init_weights(sizes, random.Random(config["seed"])))
    t0 = time.perf_counter()
    _, hist = stage2_perinstance.fit(
        weights, (xtr, ytr), (xval, yval), epochs=config["epochs"], lr=config["lr"],
        accumulate=config["accumulate"], rng=np.random.default_rng(config["seed"]),
        progress=False)
    wall = time.perf_counter() - t0
    metrics = {"step_loss": hist.get("step_loss", []), "epochs": hist.get("epochs", []),
               "n_train": int(len(xtr)), "n_val": int(len(xval)), "train_wall_time": wall}
    return {"metrics": metrics, "status": hist.get("status") or "ok",
            "message": hist.get("message")}
