"""Example bug: the output gradient is of the SUM of the losses, not of their mean (no 1/N)."""

import good_rung
import numpy as np


def output_gradient(Y, c):
    dO = Y.copy()
    dO[np.arange(len(c)), c] -= 1.0
    return dO                                   # BUG: the loss is the mean: divide by N


def loss_and_grads(weights, X, c):
    return good_rung.loss_and_grads(weights, X, c, output_gradient=output_gradient)
