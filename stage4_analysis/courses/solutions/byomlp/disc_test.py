"""The disc test of "Build your own MLP" (provided: it works as given).

``disc_network(mlp_module, rng)`` is the hand-out's network for points of the square
[-1, 1]^2: 100 leaky-ReLU neurons, 2 leaky-ReLU neurons (``"layer2"``, where the classes
become linearly separable), one logistic output trained with the logistic loss.
``train_epoch`` is stochastic gradient descent over the shuffled samples, one sample per step
(``zero_grad``, ``backward``, ``step``); ``accuracy`` thresholds the output at 0.5.
``python disc_test.py`` trains it on mlp-ladder's disc data (``load_disc``).
"""

import numpy as np


def disc_network(mlp, rng=None):
    net = mlp.MLP(2, mlp.logistic_est_loss_deriv, rng=rng)
    net.add_layer(100, mlp.leaky_relu, mlp.leaky_relu_deriv, "layer1")
    net.add_layer(2, mlp.leaky_relu, mlp.leaky_relu_deriv, "layer2")
    net.add_layer(1, mlp.logistic, None, "output")
    return net


def train_epoch(net, X, c, alpha, rng):
    """One pass over X (N, 2) with labels c (N,) in {0, 1}, one sample per step."""
    for i in rng.permutation(len(X)):
        net.zero_grad()
        net.backward(X[i], np.array([float(c[i])]))
        net.step(alpha)


def accuracy(net, X, c):
    """Fraction of the points whose output is on the side of 0.5 of their label."""
    return float(np.mean([(net.forward(x)[0] > 0.5) == bool(t) for x, t in zip(X, c)]))


def main(epochs=20, alpha=0.05, seed=0):
    import mlp

    from shared.data import load_disc

    rng = np.random.default_rng(seed)
    (X, c), (Xv, cv), _ = load_disc(seed=seed)
    net = disc_network(mlp, rng)
    for epoch in range(1, epochs + 1):
        train_epoch(net, X, c, alpha, rng)
        print(f"epoch {epoch}: validation accuracy {accuracy(net, Xv, cv):.2%}")


if __name__ == "__main__":
    main()
