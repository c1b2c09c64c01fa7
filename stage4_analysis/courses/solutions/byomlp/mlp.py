"""Build your own MLP (Ursinus CS 477): an MLP API with named layers, one sample at a time.

``MLP(d, est_lossderiv)`` takes d inputs; ``add_layer(m, f, fderiv, name)`` appends a layer of m
neurons with activation f and its derivative fderiv. A layer holds ``W`` (m, m_prev) - rows are
the neurons, so weights are (out, in) - and ``b`` (m,): ``a = W h_prev + b``, ``h = f(a)``.
``backward(x, y)`` runs one sample x (d,) with target y and *adds* its gradients to ``dW`` and
``db``; ``step(alpha)`` subtracts alpha times them; ``zero_grad()`` resets them. The output
layer's ``est_lossderiv(h_L, y)`` gives dL/da of the last layer (for softmax + cross-entropy and
for logistic + logistic loss, both are y_est - y).
"""

import numpy as np


# ----------------------------------------------------------------- provided: activations, losses
def leaky_relu(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x)


def leaky_relu_deriv(x, alpha=0.01):
    return np.where(x > 0, 1.0, alpha)


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def logistic_deriv(x):
    s = logistic(x)
    return s * (1.0 - s)


def softmax(u):
    e = np.exp(u - np.max(u))
    return e / np.sum(e)


def crossentropy(y_est, y):
    return -np.sum(y * np.log(y_est))


def softmax_est_crossentropy_deriv(y_est, y):
    """dL/du for y_est = softmax(u) and the cross-entropy with the one-hot y."""
    return y_est - y


def logistic_est_loss_deriv(y_est, y):
    """dL/du for y_est = logistic(u) and the logistic loss with y in {0, 1}."""
    return y_est - y


# ----------------------------------------------------------------- the MLP
class MLP:
    def __init__(self, d, est_lossderiv, rng=None):
        self.d = d
        self.est_lossderiv = est_lossderiv
        self.rng = np.random.default_rng() if rng is None else rng
        self.layers = []          # one dict per layer: W, b, f, fderiv, name, dW, db

    def add_layer(self, m, f, fderiv, name=None):
        """Append a layer of m neurons: W (m, m_prev) and b (m,) drawn as 0.1 * randn, f and
        fderiv, the name, and zero gradients dW, db of the same shapes."""
        # BEGIN SOLUTION: W = 0.1 randn(m, previous width), b = 0.1 randn(m), zero dW and db
        prev = self.layers[-1]["W"].shape[0] if self.layers else self.d
        W = 0.1 * self.rng.standard_normal((m, prev))
        b = 0.1 * self.rng.standard_normal(m)
        self.layers.append({"W": W, "b": b, "f": f, "fderiv": fderiv, "name": name,
                            "dW": np.zeros_like(W), "db": np.zeros_like(b)})
        # END SOLUTION

    def _index(self, key, default):
        if key is None:
            return default
        if isinstance(key, str):
            return [layer["name"] for layer in self.layers].index(key)
        return key

    def forward(self, x, start=0, end=None):
        """Run layers start..end (indices or names, both inclusive) on x; store every layer's
        a and h; return the output h of layer end."""
        # BEGIN SOLUTION: a = W h + b, h = f(a) for each layer from start to end; store them
        i, j = self._index(start, 0), self._index(end, len(self.layers) - 1)
        h = x
        for layer in self.layers[i:j + 1]:
            layer["a"] = layer["W"] @ h + layer["b"]
            layer["h"] = layer["f"](layer["a"])
            h = layer["h"]
        return h
        # END SOLUTION

    def backward(self, x, y):
        """A forward pass on x, then backpropagation from dL/da = est_lossderiv(h_L, y),
        adding each layer's dW = outer(g, h_prev) and db = g."""
        # BEGIN SOLUTION: g = est_lossderiv at the top; dW += outer(g, h_prev); g = W^T g * f'(a)
        y_est = self.forward(x)
        g = self.est_lossderiv(y_est, y)
        for l in reversed(range(len(self.layers))):
            layer = self.layers[l]
            h_prev = self.layers[l - 1]["h"] if l > 0 else x
            layer["dW"] += np.outer(g, h_prev)
            layer["db"] += g
            if l > 0:
                g = (layer["W"].T @ g) * self.layers[l - 1]["fderiv"](self.layers[l - 1]["a"])
        # END SOLUTION

    def step(self, alpha):
        """Subtract alpha times the accumulated gradients from every W and b."""
        # BEGIN SOLUTION: W -= alpha dW, b -= alpha db
        for layer in self.layers:
            layer["W"] -= alpha * layer["dW"]
            layer["b"] -= alpha * layer["db"]
        # END SOLUTION

    def zero_grad(self):
        """Reset every dW and db to zero."""
        # BEGIN SOLUTION: fill every dW and db with 0
        for layer in self.layers:
            layer["dW"][...] = 0.0
            layer["db"][...] = 0.0
        # END SOLUTION
