"""The CS3317 coursework-3 MLP: Linear -> activation -> ... -> Linear (logits; the softmax is in
the loss).

``MLP(input_dim, hidden_dims, output_dim, activation)``; ``forward(X)`` (N, input_dim) -> logits
(N, output_dim); ``backward(grad_output)`` runs the layers' backward passes in reverse order and
returns dL/dX; ``parameters()`` returns the Linear layers (what ``SGD`` updates).
"""

from layers import Linear, ReLU, Sigmoid

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid}


class MLP:
    """A list of layers: Linear and activation alternating, the last Linear without one."""

    def __init__(self, input_dim, hidden_dims, output_dim, activation="relu", rng=None):
        """Build ``self.layers``: for each width h in hidden_dims, Linear(prev, h) and the
        activation; then Linear(prev, output_dim)."""
        # BEGIN SOLUTION: Linear + activation per hidden width, then the output Linear
        self.layers = []
        sizes = [input_dim, *hidden_dims]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.layers.append(Linear(n_in, n_out, rng=rng))
            self.layers.append(ACTIVATIONS[activation]())
        self.layers.append(Linear(sizes[-1], output_dim, rng=rng))
        # END SOLUTION

    def forward(self, X):
        """Each layer's forward in order: X (N, input_dim) -> logits (N, output_dim)."""
        # BEGIN SOLUTION: pass X through every layer in order
        for layer in self.layers:
            X = layer.forward(X)
        return X
        # END SOLUTION

    def backward(self, grad_output):
        """Each layer's backward in reverse order; returns dL/dX (N, input_dim)."""
        # BEGIN SOLUTION: pass the gradient through every layer in reverse order
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output
        # END SOLUTION

    def parameters(self):
        """The Linear layers, whose W, b, grad_W, grad_b the optimizer uses."""
        return [layer for layer in self.layers if isinstance(layer, Linear)]
