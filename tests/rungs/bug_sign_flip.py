"""Example bug: the output gradient has the wrong sign, onehot(c) - y instead of y - onehot(c)."""

import good_rung


def output_gradient(Y, c):
    return -good_rung.output_gradient(Y, c)      # BUG: dl/do = (y - onehot(c)) / N


def loss_and_grads(weights, X, c):
    return good_rung.loss_and_grads(weights, X, c, output_gradient=output_gradient)
