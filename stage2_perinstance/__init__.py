"""Stage 2 of the ladder: the network with numpy vectors, one sample at a time.

Exports the ladder interface (``shared/README.md``): :func:`loss_and_grads`, :func:`sgd_train`,
:func:`predict_proba`; the per-sample building blocks of :mod:`stage2_perinstance.network` (the
same names as stage 1, each forward next to its local derivative; :data:`ACTIVATIONS`, the table
of hidden activations and their derivatives); :func:`fit` for training with epochs, shuffling and
a history (:mod:`stage2_perinstance.train`). The opt-in in-place path lives in
:mod:`stage2_perinstance.fast` (``fit(..., epoch=fast.InPlaceEpoch())``) and is not imported
here. ``python -m stage2_perinstance`` trains the hand-out's MNIST network. The maths, loop by
loop against stage 1: ``README.md`` here.
"""

from .network import (
    ACTIVATIONS,
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
    output_gradient,
    predict_proba,
    relu,
    relu_derivative,
    sample_loss_and_grads,
    sgd_train,
    sgd_update,
    sigmoid,
    sigmoid_derivative,
    softmax,
    softmax_cross_entropy_derivative,
    softmax_jacobian,
    tanh,
    tanh_derivative,
)
from .train import evaluate, fit

__all__ = [
    "ACTIVATIONS",
    "TINY",
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
    "output_gradient",
    "predict_proba",
    "relu",
    "relu_derivative",
    "sample_loss_and_grads",
    "sgd_train",
    "sgd_update",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "softmax_cross_entropy_derivative",
    "softmax_jacobian",
    "tanh",
    "tanh_derivative",
]
