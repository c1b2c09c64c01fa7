"""The training doctor: what went wrong in a run, one line per symptom with the number behind it.

:func:`diagnose` reads a run's history in plain-data form (``History.to_dict()`` of stage 3, the
history dict of stage 2: ``epochs`` rows with ``train_loss``, ``val_loss``, ``train_acc``,
``val_acc``, ``lr``, and where the run measured them ``layers`` - per weight layer ``grad`` (mean
|dW|) and ``update_ratio`` (one step's size over the weights' size), per activation layer
``saturated`` or ``dead`` fractions) and returns a list of lines, empty for a healthy run. Each
rule is one short function with a named threshold; the docstrings say why that value.

Rules of thumb, not proofs: a line is a reason to look at the curves, never an automatic fix.
Leaves out: per-step statistics (the layers are measured once per epoch, on one batch), advice
beyond one sentence per symptom.
"""

from __future__ import annotations

import math

#: The update ratio ||dw|| / ||w|| of a healthy SGD step is around 1e-3 (a step changes a
#: weight matrix by about a thousandth); 100x that rewrites the weights every few steps.
HIGH_UPDATE_RATIO = 1e-1
#: A run that diverged although its steps stayed below this update ratio did not diverge because
#: of the step size: the initial weights or the inputs are the first suspects.
SMALL_STEPS = 1e-2
#: 1000x below the healthy 1e-3: a thousand epochs would not move the weights as far as one should.
LOW_UPDATE_RATIO = 1e-6
#: A training loss that rose between this fraction of consecutive epochs (or more) oscillates;
#: a rise counts when it is more than :data:`RISE` of the loss (smaller ones are noise).
OSCILLATING_FRACTION = 0.4
RISE = 0.01
#: Less than this relative drop of the training loss from the first to the last epoch is "barely
#: moving" (and the loss is still far from zero).
BARELY_MOVING = 0.02
#: The first weight layer's mean |gradient| this many times smaller than the last one's: the
#: early layers hardly learn (vanishing gradients).
VANISHING_RATIO = 1e-2
#: A mean |gradient| above this in any layer (inputs and weights are O(1)), or the first weight
#: layer's this many times the last one's (gradients growing on the way back): exploding.
EXPLODING_GRAD = 10.0
EXPLODING_RATIO = 1e2
#: More than this fraction of sigmoid / tanh outputs at the flat ends: their slopes are ~0.
SATURATED_FRACTION = 0.5
#: More than this fraction of ReLU units off for every sample of the probe batch: dead units.
DEAD_FRACTION = 0.5
#: Over-fitting: validation loss rising for at least this many epochs (by more than :data:`RISE`
#: of its minimum) while the training loss falls.
OVERFIT_EPOCHS = 3
#: Under-fitting: the final training loss still above this fraction of ln K (the loss of a uniform
#: guess over K classes).
UNDERFIT_FRACTION = 0.5


def _column(epochs: list, key: str) -> list:
    return [e.get(key) for e in epochs if e.get(key) is not None]


def _layer_values(epochs: list, key: str) -> dict:
    """``{layer name: [value per epoch]}`` of one per-layer statistic."""
    out: dict = {}
    for e in epochs:
        for name, st in (e.get("layers") or {}).items():
            if key in st and st[key] is not None and math.isfinite(st[key]):
                out.setdefault(name, []).append(st[key])
    return out


def _typical_update(history: dict) -> float | None:
    """The median over epochs of the largest update ratio of any layer (None if not measured)."""
    per_epoch = [max(st["update_ratio"] for st in e["layers"].values() if "update_ratio" in st)
                 for e in history.get("epochs", [])
                 if any("update_ratio" in st for st in (e.get("layers") or {}).values())]
    if not per_epoch:
        return None
    per_epoch.sort()
    return per_epoch[len(per_epoch) // 2]


def lr_too_high(history: dict) -> str | None:
    """Diverged (with small steps - :data:`SMALL_STEPS` - it says so instead), a training loss
    that ends above its first epoch, oscillates
    (:data:`OSCILLATING_FRACTION`), or update ratios above :data:`HIGH_UPDATE_RATIO`."""
    if history.get("status") == "diverged":
        steps = _typical_update(history)
        if steps is not None and steps < SMALL_STEPS:
            return (f"diverged with small steps (update ratio {steps:.2g}): check the initial "
                    f"weights and the inputs before the learning rate: {history.get('message')}")
        return f"learning rate too high: {history.get('message')}"
    loss = _column(history.get("epochs", []), "train_loss")
    top = _typical_update(history)
    if top is not None and top > HIGH_UPDATE_RATIO:
        return (f"learning rate too high: an update moves the weights by {top:.2g} of their size "
                f"(median over epochs; healthy is about 1e-3, over {HIGH_UPDATE_RATIO:g} here)")
    if len(loss) >= 3:
        ups = sum(b > a * (1 + RISE) for a, b in zip(loss, loss[1:]))
        if loss[-1] > loss[0] or ups / (len(loss) - 1) >= OSCILLATING_FRACTION:
            return (f"learning rate too high: the training loss rose in {ups} of "
                    f"{len(loss) - 1} epochs ({loss[0]:.4g} -> {loss[-1]:.4g})")
    return None


def lr_too_low(history: dict) -> str | None:
    """Update ratios below :data:`LOW_UPDATE_RATIO`, or a training loss that fell by less than
    :data:`BARELY_MOVING` of itself over three or more epochs."""
    epochs = history.get("epochs", [])
    top = _typical_update(history)
    if top is not None and 0 < top < LOW_UPDATE_RATIO:
        return (f"learning rate too low: an update moves the weights by {top:.2g} of their "
                f"size (median over epochs; healthy is about 1e-3)")
    loss = _column(epochs, "train_loss")
    if len(loss) >= 3 and loss[0] > 0.05:
        drop = (loss[0] - loss[-1]) / loss[0]
        if 0 <= drop < BARELY_MOVING:
            return (f"learning rate too low: the training loss barely moved, {loss[0]:.4g} -> "
                    f"{loss[-1]:.4g} ({100 * drop:.2f} % in {len(loss)} epochs)")
    return None


def vanishing_gradients(history: dict) -> str | None:
    """The first weight layer's mean |gradient| below :data:`VANISHING_RATIO` times the last
    one's (at the last epoch)."""
    grads = _layer_values(history.get("epochs", []), "grad")
    if len(grads) < 2:
        return None
    names = list(grads)
    first, last = grads[names[0]][-1], grads[names[-1]][-1]
    if last > 0 and first / last < VANISHING_RATIO:
        return (f"vanishing gradients: mean |gradient| of {names[0]} is {first:.2g}, "
                f"{first / last:.2g} times that of {names[-1]} ({last:.2g})")
    return None


def exploding_gradients(history: dict) -> str | None:
    """A layer's mean |gradient| above :data:`EXPLODING_GRAD` at some epoch, or the first weight
    layer's above :data:`EXPLODING_RATIO` times the last one's (at the last epoch)."""
    grads = _layer_values(history.get("epochs", []), "grad")
    worst = max(((max(v), n) for n, v in grads.items()), default=None)
    if worst is not None and worst[0] > EXPLODING_GRAD:
        return (f"exploding gradients: mean |gradient| of {worst[1]} reached {worst[0]:.3g} "
                f"(above {EXPLODING_GRAD:g})")
    names = list(grads)
    if len(names) >= 2 and grads[names[-1]][-1] > 0:
        first, last = grads[names[0]][-1], grads[names[-1]][-1]
        if first / last > EXPLODING_RATIO:
            return (f"exploding gradients: mean |gradient| of {names[0]} is {first:.2g}, "
                    f"{first / last:.3g} times that of {names[-1]} ({last:.2g})")
    return None


def saturated_units(history: dict) -> str | None:
    """More than :data:`SATURATED_FRACTION` of a sigmoid / tanh layer's outputs saturated at
    the last epoch."""
    return _unit_rule(history, "saturated", SATURATED_FRACTION,
                      "saturated units: {v:.0%} of the outputs of {n} sit at the flat ends "
                      "(slope near 0)")


def dead_units(history: dict) -> str | None:
    """More than :data:`DEAD_FRACTION` of a ReLU layer's units dead at the last epoch."""
    return _unit_rule(history, "dead", DEAD_FRACTION,
                      "dead units: {v:.0%} of the units of {n} output 0 for every probe sample")


def _unit_rule(history: dict, key: str, bound: float, text: str) -> str | None:
    values = _layer_values(history.get("epochs", []), key)
    worst = max(((v[-1], n) for n, v in values.items()), default=None)
    if worst is not None and worst[0] > bound:
        return text.format(v=worst[0], n=worst[1])
    return None


def over_fitting(history: dict) -> str | None:
    """Validation loss rising for :data:`OVERFIT_EPOCHS` or more consecutive epochs up to the
    end while the training loss fell over the same epochs."""
    epochs = history.get("epochs", [])
    val, train = [e.get("val_loss") for e in epochs], [e.get("train_loss") for e in epochs]
    if len(val) <= OVERFIT_EPOCHS or None in val or None in train:
        return None
    best = min(range(len(val)), key=val.__getitem__)
    rising = len(val) - 1 - best
    if rising >= OVERFIT_EPOCHS and val[-1] > val[best] * (1 + RISE) and train[-1] < train[best]:
        return (f"over-fitting: validation loss rose for {rising} epochs, {val[best]:.4f} "
                f"(epoch {best + 1}) -> {val[-1]:.4f}, while the training loss fell "
                f"{train[best]:.4f} -> {train[-1]:.4f}")
    return None


def under_fitting(history: dict) -> str | None:
    """The final training loss above :data:`UNDERFIT_FRACTION` of ln K (classification only)."""
    K = history.get("num_classes")
    loss = _column(history.get("epochs", []), "train_loss")
    if not K or K < 2 or not loss or history.get("status") == "diverged":
        return None
    bound = UNDERFIT_FRACTION * math.log(K)
    if loss[-1] > bound:
        return (f"under-fitting: the final training loss {loss[-1]:.4f} is above "
                f"{UNDERFIT_FRACTION:g} ln {K} = {bound:.4f} (a uniform guess scores "
                f"{math.log(K):.4f})")
    return None


RULES = (lr_too_high, lr_too_low, vanishing_gradients, exploding_gradients, saturated_units,
         dead_units, over_fitting, under_fitting)


def diagnose(history: dict) -> list[str]:
    """Every symptom :data:`RULES` find in ``history`` (see the module docstring), one line
    each; an empty list when none."""
    return [line for rule in RULES if (line := rule(history))]


def report(history: dict) -> str:
    """The doctor's lines for printing: ``doctor: ...`` per symptom, or that none was found."""
    lines = diagnose(history)
    if not lines:
        return "doctor: no symptom found (learning rate, gradients, units, fit all look healthy)"
    return "\n".join(f"doctor: {line}" for line in lines)
