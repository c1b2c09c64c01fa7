"""Cross-entropy on probabilities for the ECE421 assignment-3 network.

``CrossEntropyLoss().forward(Y, Y_hat)``: Y (m, k) one-hot labels, Y_hat (m, k) the network's
softmax probabilities -> L = -(1/m) sum_i y_i . ln(y_hat_i); ``backward(Y, Y_hat)`` -> dL/dY_hat
(m, k) = -Y / (m Y_hat).
"""

import numpy as np


class CrossEntropyLoss:
    def __call__(self, Y, Y_hat):
        return self.forward(Y, Y_hat)

    def forward(self, Y, Y_hat):
        """The mean cross-entropy of the batch (a float)."""
        # BEGIN SOLUTION: -(1/m) times the sum of Y * log(Y_hat)
        m = Y.shape[0]
        return float(-np.sum(Y * np.log(Y_hat)) / m)
        # END SOLUTION

    def backward(self, Y, Y_hat):
        """dL/dY_hat (m, k) = -Y / (m Y_hat)."""
        # BEGIN SOLUTION: -Y / (m * Y_hat)
        m = Y.shape[0]
        return -Y / (m * Y_hat)
        # END SOLUTION
