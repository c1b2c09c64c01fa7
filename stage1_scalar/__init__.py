"""Stage 1 of the ladder: backpropagation one scalar at a time, in pure Python (no numpy).

Exports the ladder interface (``shared/README.md``): :func:`loss_and_grads`, :func:`sgd_train`,
:func:`predict_proba`, and the building blocks of :mod:`stage1_scalar.network` (each forward next
to its local derivative; :data:`ACTIVATIONS`, the table of hidden activations and their
derivatives), and :func:`sgd_train_unrolled` (:mod:`stage1_scalar.unrolled`: the same SGD
written out one scalar equation per line, bitwise the same weights, faster; sigmoid only).
``python -m stage1_scalar`` prints the hand-out's worked example; ``python -m stage1_scalar
train`` trains on the synthetic data; ``python -m stage1_scalar graph`` draws the computation
graph (:mod:`stage1_scalar.graph`). The maths: ``README.md`` here.
"""

from .network import (
    ACTIVATIONS,
    TINY,
    backward,
    cross_entropy,
    cross_entropy_derivative,
    forward,
    linear,
    linear_backward,
    loss_and_grads,
    output_gradient,
    predict_proba,
    relu,
    relu_derivative,
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
from .unrolled import sgd_train_unrolled

__all__ = [
    "ACTIVATIONS",
    "TINY",
    "backward",
    "cross_entropy",
    "cross_entropy_derivative",
    "forward",
    "linear",
    "linear_backward",
    "loss_and_grads",
    "output_gradient",
    "predict_proba",
    "relu",
    "relu_derivative",
    "sgd_train",
    "sgd_train_unrolled",
    "sgd_update",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "softmax_cross_entropy_derivative",
    "softmax_jacobian",
    "tanh",
    "tanh_derivative",
]
