"""The fully connected layer of the ECE421 assignment-3 network.

``FullyConnectedLayer(n_out, activation)``: Y = activation(X W + b) with X (m, n_in),
W (n_in, n_out), b (1, n_out). The parameters live in the dict ``parameters`` ({"W", "b"}), their
gradients under the same keys in ``gradients`` and what backward needs in ``cache``. n_in is
read from the first input (the parameters are made on the first forward pass).
"""

from collections import OrderedDict

import numpy as np
from activations import Activation


class FullyConnectedLayer:
    def __init__(self, n_out, activation, rng=None):
        self.n_in = None
        self.n_out = n_out
        self.activation = Activation(activation)
        self.rng = np.random.default_rng() if rng is None else rng
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()

    def _init_parameters(self, X_shape):
        """W (n_in, n_out) with Xavier-normal entries, b (1, n_out) zeros, gradients zeros."""
        self.n_in = X_shape[1]
        std = np.sqrt(2.0 / (self.n_in + self.n_out))
        self.parameters["W"] = self.rng.standard_normal((self.n_in, self.n_out)) * std
        self.parameters["b"] = np.zeros((1, self.n_out))
        self.gradients["W"] = np.zeros((self.n_in, self.n_out))
        self.gradients["b"] = np.zeros((1, self.n_out))

    def forward(self, X):
        """Y = activation(Z), Z = X W + b (m, n_out); cache X and Z."""
        if self.n_in is None:
            self._init_parameters(X.shape)
        # BEGIN SOLUTION: Z = X @ W + b, cache X and Z, return the activation of Z
        Z = X @ self.parameters["W"] + self.parameters["b"]
        self.cache["X"], self.cache["Z"] = X, Z
        return self.activation.forward(Z)
        # END SOLUTION

    def backward(self, dLdY):
        """dLdY (m, n_out) -> dL/dX (m, n_in); stores dL/dW (n_in, n_out) and dL/db (1, n_out)
        in ``gradients``: dZ = activation.backward(Z, dLdY), dW = X^T dZ, db = column sums of
        dZ, dX = dZ W^T."""
        # BEGIN SOLUTION: through the activation, then dW = X^T dZ, db = sum of rows, dX = dZ W^T
        X, Z = self.cache["X"], self.cache["Z"]
        dZ = self.activation.backward(Z, dLdY)
        self.gradients["W"] = X.T @ dZ
        self.gradients["b"] = dZ.sum(axis=0, keepdims=True)
        return dZ @ self.parameters["W"].T
        # END SOLUTION
