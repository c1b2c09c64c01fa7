"""Activation functions of the ECE421 assignment-3 network, with their backward passes.

``Activation(name)`` for name in "linear", "sigmoid", "tanh", "relu", "softmax":
``forward(Z)`` (m, n) -> Y (m, n) and ``backward(Z, dY)`` -> dL/dZ (m, n), given the forward's
input Z and dY = dL/dY. Softmax works row by row and its backward goes through the Jacobian of
each row, J = diag(y) - y y^T.
"""

import numpy as np

NAMES = ("linear", "sigmoid", "tanh", "relu", "softmax")


class Activation:
    def __init__(self, name):
        if name not in NAMES:
            raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(NAMES)}")
        self.name = name

    def __call__(self, Z):
        return self.forward(Z)

    def forward(self, Z):
        return getattr(self, f"_{self.name}")(Z)

    def backward(self, Z, dY):
        return getattr(self, f"_{self.name}_backward")(Z, dY)

    def _linear(self, Z):
        return Z

    def _linear_backward(self, Z, dY):
        return dY

    def _sigmoid(self, Z):
        # BEGIN SOLUTION: 1 / (1 + exp(-Z))
        return 1.0 / (1.0 + np.exp(-Z))
        # END SOLUTION

    def _sigmoid_backward(self, Z, dY):
        """dL/dZ = dY * s (1 - s) with s = sigmoid(Z)."""
        # BEGIN SOLUTION: dY * s * (1 - s)
        s = self._sigmoid(Z)
        return dY * s * (1.0 - s)
        # END SOLUTION

    def _tanh(self, Z):
        return np.tanh(Z)

    def _tanh_backward(self, Z, dY):
        """dL/dZ = dY * (1 - tanh(Z)^2)."""
        # BEGIN SOLUTION: dY * (1 - tanh(Z)^2)
        return dY * (1.0 - np.tanh(Z) ** 2)
        # END SOLUTION

    def _relu(self, Z):
        # BEGIN SOLUTION: max(0, Z)
        return np.maximum(Z, 0.0)
        # END SOLUTION

    def _relu_backward(self, Z, dY):
        """dL/dZ = dY where Z > 0, else 0."""
        # BEGIN SOLUTION: dY * 1[Z > 0]
        return dY * (Z > 0)
        # END SOLUTION

    def _softmax(self, Z):
        """Row-wise softmax, stable: exp(Z - max) / sum."""
        # BEGIN SOLUTION: exp(Z - row max) / row sum
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
        # END SOLUTION

    def _softmax_backward(self, Z, dY):
        """Row i: dL/dz_i = J_i^T dy_i with the Jacobian J_i = diag(y_i) - y_i y_i^T."""
        # BEGIN SOLUTION: for each row, J = diag(y) - outer(y, y); dZ row = J^T dY row
        Y = self._softmax(Z)
        dZ = np.empty_like(dY)
        for i, (y, dy) in enumerate(zip(Y, dY)):
            J = np.diag(y) - np.outer(y, y)
            dZ[i] = J.T @ dy
        return dZ
        # END SOLUTION
