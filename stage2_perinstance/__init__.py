"""Stage 2 of the ladder: the network with numpy vectors, one sample at a time.

Exports the ladder interface (``shared/README.md``): :func:`loss_and_grads`, :func:`sgd_train`,
:func:`predict_proba`; the per-sample building blocks of :mod:`stage2_perinstance.network` (the
same names as stage 1, each forward next to its local derivative); :func:`fit` for training with
epochs, shuffling and a history (:mod:`stage2_perinstance.train`); and the in-place fast path
:class:`InPlaceSGD` (:mod:`stage2_perinstance.fast`). ``python -m stage2_perinstance`` trains
the hand-out's MNIST network; ``python -m stage2_perinstance.benchmark`` compares its speed with
PyTorch at batch size 1. The maths, loop by loop against stage 1: ``README.md`` here.
"""

from .fast import InPlaceSGD
from .network import (
    TINY,
    as_arrays,
    backward,
    cross_entropy,
    cross_entropy_derivative,
    forward,
    init_weights,
    linear,
    linear_backward,
    log_softmax,
    loss_and_grads,
    predict_proba,
    sample_loss_and_grads,
    sgd_train,
    sgd_update,
    sigmoid,
    sigmoid_derivative,
    softmax,
    softmax_cross_entropy_derivative,
    softmax_jacobian,
)
from .train import evaluate, fit

__all__ = [
    "TINY",
    "InPlaceSGD",
    "as_arrays",
    "backward",
    "cross_entropy",
    "cross_entropy_derivative",
    "evaluate",
    "fit",
    "forward",
    "init_weights",
    "linear",
    "linear_backward",
    "log_softmax",
    "loss_and_grads",
    "predict_proba",
    "sample_loss_and_grads",
    "sgd_train",
    "sgd_update",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "softmax_cross_entropy_derivative",
    "softmax_jacobian",
]
