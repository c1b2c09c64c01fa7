"""Training loop of the CS3317 coursework-3 MLP (provided: it works as given).

``train_epoch`` shuffles the training set and runs the hand-out's five steps on every
mini-batch; ``accuracy`` is the fraction of rows whose largest logit is the label; ``fit``
trains for some epochs and prints the loss and the validation accuracy. ``python trainer.py``
trains on Fashion-MNIST (``data.py``) with your ``layers.py``, ``losses.py``, ``model.py`` and
``optimizer.py``.
"""

import argparse

import numpy as np


def train_epoch(model, loss_fn, optimizer, X, c, batch_size, rng):
    """One pass over X (N, D), c (N,) in shuffled mini-batches; returns the mean batch loss."""
    order = rng.permutation(len(X))
    losses = []
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]
        logits = model.forward(X[batch])
        loss = loss_fn.forward(logits, c[batch])
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        losses.append(loss)
    return float(np.mean(losses))


def accuracy(model, X, c, batch_size=1000):
    """Fraction of the rows of X (N, D) whose largest logit is at the label c (N,)."""
    hits = 0
    for start in range(0, len(X), batch_size):
        logits = model.forward(X[start:start + batch_size])
        hits += int(np.sum(np.argmax(logits, axis=1) == c[start:start + batch_size]))
    return hits / len(X)


def fit(model, loss_fn, optimizer, train, val, epochs, batch_size, rng, log=print):
    """Train for ``epochs`` epochs; returns the validation accuracy after the last one."""
    (X, c), (Xv, cv) = train, val
    acc = 0.0
    for epoch in range(1, epochs + 1):
        loss = train_epoch(model, loss_fn, optimizer, X, c, batch_size, rng)
        acc = accuracy(model, Xv, cv)
        log(f"epoch {epoch}: training loss {loss:.4f}, validation accuracy {acc:.2%}")
    return acc


def main(argv=None):
    from data import load
    from losses import CrossEntropyLoss
    from model import MLP
    from optimizer import SGD

    p = argparse.ArgumentParser(description="Train the MLP on Fashion-MNIST.")
    p.add_argument("--hidden", type=int, nargs="*", default=[128])
    p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train, val, k = load("fashion-mnist", seed=args.seed)
    model = MLP(train[0].shape[1], args.hidden, k, args.activation, rng=rng)
    optimizer = SGD(model.parameters(), args.lr, args.momentum)
    fit(model, CrossEntropyLoss(), optimizer, train, val, args.epochs, args.batch_size, rng)


if __name__ == "__main__":
    main()
