"""Example bug: dl/dy is used as dl/do - the softmax's Jacobian is left out of the chain rule."""

import good_rung
import numpy as np


def output_gradient(Y, c):
    N = len(c)
    dY = np.zeros_like(Y)
    dY[np.arange(N), c] = -1.0 / Y[np.arange(N), c]     # dl/dy of l = -log y_c
    return dY / N                      # BUG: dl/do = J^T dl/dy with J = diag(y) - y y^T


def loss_and_grads(weights, X, c):
    return good_rung.loss_and_grads(weights, X, c, output_gradient=output_gradient)
