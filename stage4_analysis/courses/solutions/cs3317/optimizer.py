"""SGD with momentum (and optional L2 weight decay) for the CS3317 coursework-3 MLP.

``SGD(params, lr, momentum=0.0, weight_decay=0.0)``: ``params`` is ``model.parameters()``, the
Linear layers. For each parameter w with gradient g (``grad_W`` / ``grad_b``)::

    g = g + weight_decay * w        (weights only, not biases)
    v = momentum * v + g            (v starts at 0)
    w = w - lr * v

``zero_grad()`` sets every gradient to 0 (backward adds to them).
"""

import numpy as np


class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        """Keep the layers, the rate, the momentum and one zero velocity per parameter."""
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        # BEGIN SOLUTION: one velocity of zeros per W and per b
        self.v = [(np.zeros_like(layer.W), np.zeros_like(layer.b)) for layer in self.params]
        # END SOLUTION

    def step(self):
        """One update of every W and b with momentum, in place."""
        # BEGIN SOLUTION: v = momentum v + g (+ weight decay on W); w -= lr v
        for layer, (vW, vb) in zip(self.params, self.v):
            gW = layer.grad_W + self.weight_decay * layer.W
            vW[...] = self.momentum * vW + gW
            vb[...] = self.momentum * vb + layer.grad_b
            layer.W -= self.lr * vW
            layer.b -= self.lr * vb
        # END SOLUTION

    def zero_grad(self):
        """Reset every grad_W and grad_b to zero."""
        # BEGIN SOLUTION: fill every grad_W and grad_b with 0
        for layer in self.params:
            layer.grad_W[...] = 0.0
            layer.grad_b[...] = 0.0
        # END SOLUTION
