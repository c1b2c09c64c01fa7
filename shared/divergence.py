"""The one divergence rule every stage uses.

A run has **diverged** when

* the loss of one training step is NaN or infinite (stop at once), or
* the mean training loss of a finished epoch exceeds ``FACTOR * ln K`` (K classes; ``ln K`` is
  the loss of a uniform guess). A sigmoid network driven by a huge learning rate saturates
  instead of producing NaN: its loss stays finite but far above any network that learns.

The weights themselves becoming inf or nan (:func:`weights_diverged`) is a divergence too.

A diverged run is recorded with status ``"diverged"`` and the message these functions return;
no model is saved as if it were good, and the command exits with status 1
(:class:`shared.errors.DivergedError`). Pure Python.
"""

from __future__ import annotations

import math

#: An epoch whose mean training loss is above ``FACTOR * ln K`` has diverged.
FACTOR = 3.0


def limit(num_classes: int) -> float:
    """The largest mean epoch loss of a run that has not diverged: ``FACTOR * ln K``."""
    return FACTOR * math.log(max(int(num_classes), 2))


def _at(lr: float | None) -> str:
    """`` (learning rate 0.1)`` for a message, or nothing when ``lr`` is not known."""
    return f" (learning rate {lr:g})" if lr is not None else ""


def step_diverged(loss: float, *, epoch: int, step: int, lr: float | None = None) -> str | None:
    """A message if the loss of one training step is NaN or infinite, else None."""
    if math.isfinite(loss):
        return None
    at = _at(lr)
    return (f"diverged: the training loss became {loss} at epoch {epoch}, step {step}{at}; "
            "try a smaller learning rate")


def epoch_diverged(mean_loss: float, num_classes: int, *, epoch: int,
                   lr: float | None = None) -> str | None:
    """A message if an epoch's mean training loss is non-finite or above :func:`limit`."""
    at = _at(lr)
    if not math.isfinite(mean_loss):
        return (f"diverged: the mean training loss of epoch {epoch} is {mean_loss}{at}; "
                "try a smaller learning rate")
    bound = limit(num_classes)
    if mean_loss > bound:
        return (f"diverged: the mean training loss of epoch {epoch} is {mean_loss:.4g}, above "
                f"{FACTOR:g} ln {num_classes} = {bound:.4g}{at}; try a smaller learning rate")
    return None


def weights_diverged(finite: bool, *, epoch: int, step: int | None = None,
                     lr: float | None = None) -> str | None:
    """A message if the weights are no longer all finite (``finite`` False), else None. ``step``
    says where within ``epoch`` this was found (None: after the epoch)."""
    if finite:
        return None
    at = _at(lr)
    where = f"at epoch {epoch}, step {step}" if step is not None else f"after epoch {epoch}"
    return f"diverged: the weights became inf or nan {where}{at}; try a smaller learning rate"
