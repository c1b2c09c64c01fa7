"""Example bug: the sigmoid's derivative is taken as k (1 - k) instead of h (1 - h), h = s(k)."""

import good_rung


def activation_gradient(dH, K, H, activation):
    if activation == "sigmoid":
        return dH * K * (1 - K)                  # BUG: s'(k) = s(k) (1 - s(k)) = h (1 - h)
    return good_rung.activation_gradient(dH, K, H, activation)


def loss_and_grads(weights, X, c):
    return good_rung.loss_and_grads(weights, X, c, activation_gradient=activation_gradient)
