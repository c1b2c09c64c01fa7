"""Example layers with one bug each, for ``python -m stage3_batched.gradcheck``."""

import numpy as np
from my_layers import MyLinear, MySigmoid


class LinearTransposedDW(MyLinear):
    """dW computed as dY^T X: (out, in) instead of W's (in, out)."""

    def backward(self, dY):
        self.grads["W"] = dY.T @ self.X                        # BUG: dW = X^T dY
        self.grads["b"] += dY.sum(axis=0)
        return dY @ self.params["W"].T


class LinearBiasMean(MyLinear):
    """db as the mean of dY's rows: the loss already divided by N, so that divides twice."""

    def backward(self, dY):
        self.grads["W"] += self.X.T @ dY
        self.grads["b"] += dY.mean(axis=0)                     # BUG: db = sum of the rows
        return dY @ self.params["W"].T


class SigmoidBackwardAtX(MySigmoid):
    """The sigmoid's derivative taken at the input x instead of the output y."""

    def backward(self, dY):
        X = np.log(self.Y / (1 - self.Y))                     # the input, recovered
        return dY * X * (1 - X)                               # BUG: y (1 - y)


class TanhForgetsUpstream:
    """tanh whose backward returns the local derivative only, without the chain rule's dY."""

    params, grads = {}, {}

    def forward(self, X):
        self.Y = np.tanh(X)
        return self.Y

    def backward(self, dY):
        return 1 - self.Y**2                                  # BUG: dY * (1 - y^2)
