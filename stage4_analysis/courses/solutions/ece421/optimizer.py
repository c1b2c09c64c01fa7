"""Stochastic gradient descent for the ECE421 assignment-3 layers (provided: it works as given).

``SGD(lr, momentum=0.0).step(layers)`` updates every layer's ``parameters`` from its
``gradients`` (same keys): ``v = momentum * v + g``, ``w = w - lr * v`` (v starts at 0).
"""

import numpy as np


class SGD:
    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum = lr, momentum
        self.velocity = {}

    def step(self, layers):
        for i, layer in enumerate(layers):
            for name, w in layer.parameters.items():
                v = self.velocity.setdefault((i, name), np.zeros_like(w))
                v[...] = self.momentum * v + layer.gradients[name]
                w -= self.lr * v
