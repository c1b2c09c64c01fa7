"""The same per-sample SGD step as :mod:`stage2_perinstance.network`, with in-place updates.

Opt-in (``fit(..., epoch=InPlaceEpoch())``, ``python -m stage2_perinstance --fast``); the default
training path is the readable one of ``network.py``. This file imports the teaching code, never
the reverse. Adds over it: speed, and nothing else. The forward
pass is ``network.forward`` itself; what changes is the backward pass and the update.
``network.sgd_update`` builds a gradient structure per sample (``np.outer`` allocates a fresh
``dW``), then computes ``W - lr dW`` into yet another array. At 784-300-10 the first layer's
``W`` is 235,200 numbers and those passes over memory are most of a step. :class:`InPlaceSGD`
does the same arithmetic with fewer passes:

* ``-lr`` is folded into the small vector ``dk = dl/dk`` (one number per unit) instead of into
  ``dW``;
* the rank-1 update ``W += outer(a, -lr dk)`` is one BLAS call writing into a preallocated buffer
  (``np.dot`` on ``(in, 1) x (1, out)`` views) and one in-place add, instead of outer + scale +
  subtract;
* ``dh = W @ dk`` is computed before ``W`` changes, and not at all for the first layer.

``skip_zero_inputs=True`` also uses that a weight row whose input is exactly 0 neither adds to
``k = x @ W`` nor gets a gradient (``dW_ij = x_i dk_j = 0``): the first layer works on the rows
of the nonzero inputs only (``nz = flatnonzero(x)``; about 19% of MNIST's pixels). The update is
the same numbers (rows with ``x_i = 0`` are left exactly as they are); ``k`` is the same sum
without its zero terms (it may differ in the last bit: BLAS adds in another order). On dense
inputs it only costs the extra indexing.

With ``accumulate = m > 1`` the per-sample gradients are summed into preallocated buffers and
every m samples (or at :meth:`InPlaceSGD.flush`) the weights move by ``-lr / m`` times the sum:
the same update as ``network.sgd_train(..., batch_size=m)``. The tests check the paths give the
same weights (float64, rtol 1e-12). The output gradient is always the fused ``y - onehot(c)``.
"""

from __future__ import annotations

import math

import numpy as np

from shared.weights import activation_of

from .network import ACTIVATIONS, cross_entropy, forward, softmax_cross_entropy_derivative

#: Inputs with at least this fraction of exact zeros train with ``skip_zero_inputs`` when
#: :class:`InPlaceEpoch` is left to choose (MNIST: about 81% zeros).
SPARSE_FRACTION = 0.5


def mostly_zeros(X: np.ndarray) -> bool:
    """True when at least :data:`SPARSE_FRACTION` of the entries of X (N, n_in) are exactly 0."""
    return bool(np.mean(X == 0) >= SPARSE_FRACTION)


class InPlaceSGD:
    """Per-sample SGD that updates the arrays of ``weights`` in place.

    ``weights``: the weight format with numpy arrays (``network.as_arrays``), all of one float
    dtype; they are modified by :meth:`step`. ``lr``: the learning rate; ``accumulate``: samples
    per update (their gradients are averaged); ``skip_zero_inputs``: see the module docstring.
    """

    def __init__(self, weights: dict, lr: float, accumulate: int = 1,
                 skip_zero_inputs: bool = False):
        if accumulate != int(accumulate) or accumulate < 1:
            raise ValueError(f"accumulate must be a positive integer, got {accumulate!r}")
        if not math.isfinite(lr):
            raise ValueError(f"lr must be a finite number, got {lr!r}")
        self.layers = weights["layers"]
        self.activation = activation_of(weights)
        self.lr = float(lr)
        self.accumulate = int(accumulate)
        self.skip_zero_inputs = bool(skip_zero_inputs)
        # scratch for the rank-1 products outer(a, dk), one per layer: (in, out)
        self._outer = [np.empty_like(la["W"]) for la in self.layers]
        if self.accumulate > 1:  # running sums of dW and db
            self._sum = [{"W": np.zeros_like(la["W"]), "b": np.zeros_like(la["b"])}
                         for la in self.layers]
        self.pending = 0  # samples in the running sums

    # ----------------------------------------------------------------- one sample
    def step(self, x: np.ndarray, c: int) -> float:
        """Forward and backward of one sample ``x`` (n_in,) of class ``c``, then (every
        ``accumulate`` samples) the update. Returns this sample's loss ``-log y_c`` computed with
        the weights before the update."""
        layers = self.layers
        x = np.asarray(x, dtype=layers[0]["W"].dtype)
        nz, W0 = None, layers[0]["W"]
        if self.skip_zero_inputs:
            nz = np.flatnonzero(x)
            x, W0 = x[nz], W0.take(nz, axis=0)  # (nnz, n_1): the rows that matter, a copy
        rows = {"activation": self.activation,
                "layers": [{"W": W0, "b": layers[0]["b"]}, *layers[1:]]}
        cache = forward(rows, x)  # network.forward on the rows that matter
        loss = cross_entropy(cache["o"], c)
        dk = softmax_cross_entropy_derivative(cache["y"], c)
        _, derivative = ACTIVATIONS[self.activation]

        # backward and update, top layer first; dh uses W before it changes
        inputs = [x] + cache["h"]
        for i in reversed(range(len(layers))):
            a = inputs[i]
            dh = np.dot(layers[i]["W"], dk) if i > 0 else None
            if self.accumulate == 1:
                dk *= -self.lr
                self._add_outer(i, a, dk, nz, layers[i]["W"], W0)
                layers[i]["b"] += dk
            else:
                S = self._sum[i]
                self._add_outer(i, a, dk, nz, S["W"], None)
                S["b"] += dk
            if i > 0:
                dk = dh * derivative(cache["k"][i - 1], a)  # a = h of layer i-1: dh f'(k, h)
        if self.accumulate > 1:
            self.pending += 1
            if self.pending == self.accumulate:
                self.flush()
        return loss

    def _add_outer(self, i, a, dk, nz, target, W0_rows) -> None:
        """``target += outer(a, dk)`` for layer ``i``; for layer 0 with zero-skipping only the
        rows ``nz`` of ``target`` (``W0_rows`` is the copy of those rows the forward used)."""
        if i == 0 and nz is not None:
            upd = np.dot(a[:, None], dk[None, :])  # (nnz, out)
            if W0_rows is not None:  # updating W: reuse the gathered rows
                W0_rows += upd
                target[nz] = W0_rows
            else:
                target[nz] += upd
            return
        buf = self._outer[i]
        np.dot(a[:, None], dk[None, :], out=buf)
        target += buf

    def flush(self) -> None:
        """Apply the accumulated update ``w <- w - (lr / m) * sum`` for the ``m`` samples summed
        since the last update (nothing when ``m = 0``), and reset the sums."""
        if self.accumulate == 1 or self.pending == 0:
            return
        scale = -self.lr / self.pending
        for layer, S, buf in zip(self.layers, self._sum, self._outer):
            np.multiply(S["W"], scale, out=buf)
            layer["W"] += buf
            layer["b"] += scale * S["b"]
            S["W"].fill(0.0)
            S["b"].fill(0.0)
        self.pending = 0

    # ----------------------------------------------------------------- one epoch
    def epoch(self, X: np.ndarray, c: np.ndarray, order: np.ndarray):
        """The samples of X (N, n_in), c (N,) in ``order``, one :meth:`step` each; yields each
        sample's loss. After the last sample the last (possibly smaller) group is applied; a
        caller that stops early (divergence) leaves a half group unapplied."""
        self.pending = 0
        for n in order:
            yield self.step(X[n], int(c[n]))
        self.flush()


class InPlaceEpoch:
    """An epoch function for :func:`stage2_perinstance.train.fit` (``fit(..., epoch=
    InPlaceEpoch())``): the arguments and the losses of ``train.sgd_epoch``, the steps of
    :class:`InPlaceSGD`. ``skip_zero_inputs``: True / False, or None to choose it from the
    training inputs (:func:`mostly_zeros`) when ``fit`` calls :meth:`prepare`. The output
    gradient is the fused one only (``fused=False`` is refused)."""

    path = "fast.py"

    def __init__(self, skip_zero_inputs: bool | None = None):
        self.skip_zero_inputs = skip_zero_inputs

    def prepare(self, X: np.ndarray, fused: bool) -> bool:
        """Check the options against the training inputs X (N, n_in); returns the skip used."""
        if not fused:
            raise ValueError("the in-place epoch computes the fused output gradient "
                             "y - onehot(c) only; use fused=True, or the default epoch for the "
                             "Jacobian path")
        if self.skip_zero_inputs is None:
            self.skip_zero_inputs = mostly_zeros(X)
        return bool(self.skip_zero_inputs)

    def __call__(self, weights: dict, X: np.ndarray, c: np.ndarray, order: np.ndarray,
                 lr: float, accumulate: int = 1, fused: bool = True):
        skip = self.prepare(X, fused)
        yield from InPlaceSGD(weights, lr, accumulate=accumulate,
                              skip_zero_inputs=skip).epoch(X, c, order)
