"""Training loop of the ECE421 assignment-3 network (provided: it works as given).

The network is a list of ``FullyConnectedLayer``: ``network(n_hidden, activation, n_out)``
builds the two-layer one (hidden layer, softmax output). ``train_epoch`` runs, on every shuffled
mini-batch: forward through the layers, the loss on the softmax probabilities, backward from
``loss.backward(Y, Y_hat)`` through the layers in reverse, one optimizer step.
``python trainer.py`` trains on Iris (``data.py``) with your ``activations.py``, ``layers.py``
and ``loss.py``.
"""

import argparse

import numpy as np


def network(n_hidden, activation, n_out, rng):
    from layers import FullyConnectedLayer

    return [FullyConnectedLayer(n_hidden, activation, rng=rng),
            FullyConnectedLayer(n_out, "softmax", rng=rng)]


def forward(layers, X):
    for layer in layers:
        X = layer.forward(X)
    return X


def train_epoch(layers, loss_fn, optimizer, X, Y, batch_size, rng):
    """One pass over X (m, d) and one-hot Y (m, k) in shuffled mini-batches; the mean loss."""
    order = rng.permutation(len(X))
    losses = []
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]
        Y_hat = forward(layers, X[batch])
        losses.append(loss_fn.forward(Y[batch], Y_hat))
        d = loss_fn.backward(Y[batch], Y_hat)
        for layer in reversed(layers):
            d = layer.backward(d)
        optimizer.step(layers)
    return float(np.mean(losses))


def accuracy(layers, X, c):
    """Fraction of the rows of X whose most probable class is c (m,)."""
    return float(np.mean(np.argmax(forward(layers, X), axis=1) == c))


def onehot(c, k):
    Y = np.zeros((len(c), k))
    Y[np.arange(len(c)), c] = 1.0
    return Y


def fit(layers, loss_fn, optimizer, train, val, epochs, batch_size, rng, log=print):
    """Train for ``epochs`` epochs; returns the validation accuracy after the last one."""
    (X, c), (Xv, cv) = train, val
    Y = onehot(c, layers[-1].n_out)
    acc = 0.0
    for epoch in range(1, epochs + 1):
        loss = train_epoch(layers, loss_fn, optimizer, X, Y, batch_size, rng)
        acc = accuracy(layers, Xv, cv)
        log(f"epoch {epoch}: training loss {loss:.4f}, validation accuracy {acc:.2%}")
    return acc


def main(argv=None):
    from data import load
    from loss import CrossEntropyLoss
    from optimizer import SGD

    p = argparse.ArgumentParser(description="Train the two-layer network on Iris.")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train, val, k = load("iris", seed=args.seed)
    layers = network(args.hidden, args.activation, k, rng)
    fit(layers, CrossEntropyLoss(), SGD(args.lr, args.momentum), train, val, args.epochs,
        args.batch_size, rng)


if __name__ == "__main__":
    main()
