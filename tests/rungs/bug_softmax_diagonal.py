"""Example bug: only the diagonal of the softmax's Jacobian, dy_i/do_i = y_i (1 - y_i), is used."""

import good_rung
import numpy as np


def output_gradient(Y, c):
    N = len(c)
    dY = np.zeros_like(Y)
    dY[np.arange(N), c] = -1.0 / Y[np.arange(N), c]     # dl/dy of l = -log y_c
    return dY * Y * (1 - Y) / N       # BUG: the off-diagonal terms -y_i y_j are missing


def loss_and_grads(weights, X, c):
    return good_rung.loss_and_grads(weights, X, c, output_gradient=output_gradient)
