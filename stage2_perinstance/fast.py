"""The same per-sample SGD step as :mod:`stage2_perinstance.network`, with in-place updates.

Adds over ``network.py``: speed, and nothing else. ``sgd_train`` there builds a gradient
structure per sample (``np.outer`` allocates a fresh ``dW``), then computes ``W - lr dW`` into
yet another array. At 784-300-10 the first layer's ``W`` is 235,200 numbers (1.9 MB in float64)
and those passes over memory are most of the time. :class:`InPlaceSGD` does the same arithmetic
with fewer passes (profiled, at 784-300-10 float64, one core):

* forward: ``k = x @ W`` then ``k += b``, sigmoid in place (no temporaries the size of ``k``);
* ``-lr`` is folded into the small vector ``g = dl/dk`` (300 numbers) instead of into ``dW``;
* the rank-1 update ``W += outer(a, -lr g)`` is one BLAS call writing into a preallocated buffer
  (``np.dot`` on ``(in, 1) x (1, out)`` views, ~65 us; ``np.outer`` is ~110 us and ``@`` on the
  same views ~250 us) and one in-place add (~40 us), instead of outer + scale + subtract (~190 us);
* ``da = W @ g`` is computed before ``W`` changes, and not at all for the first layer.

``skip_zero_inputs=True`` also uses that a weight row whose input is exactly 0 neither adds to
``k = x @ W`` nor gets a gradient (``dW_ij = x_i g_j = 0``): the first layer works on the rows of
the nonzero inputs only (``nz = flatnonzero(x)``; about 19% of MNIST's pixels). The update is
the same numbers (rows with ``x_i = 0`` are left exactly as they are); ``k`` is the same sum
without its zero terms (it may differ in the last bit: BLAS adds in another order). On dense
inputs it only costs the extra indexing; it pays off on sparse ones like MNIST.

With ``accumulate = k > 1`` the per-sample gradients are summed into preallocated buffers and every
k samples (or at :meth:`InPlaceSGD.flush`) the weights move by ``-lr / k`` times the sum: the
same update as ``network.sgd_train(..., batch_size=k)``. The tests check both paths give the
same weights (float64, rtol 1e-12).
"""

from __future__ import annotations

import math

import numpy as np


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
        self.dtype = self.layers[0]["W"].dtype
        self.lr = float(lr)
        self.accumulate = int(accumulate)
        self.skip_zero_inputs = bool(skip_zero_inputs)
        # scratch for the rank-1 products outer(a, g), one per layer: (in, out)
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
        x = np.asarray(x, dtype=self.dtype)
        W0 = layers[0]["W"]
        nz = None
        if self.skip_zero_inputs:
            nz = np.flatnonzero(x)
            x = x[nz]
            W0 = W0.take(nz, axis=0)  # (nnz, n_1): the rows that matter, a copy

        # forward, keeping each layer's input a
        inputs = []
        a = x
        for i, layer in enumerate(layers[:-1]):
            k = np.dot(a, W0 if i == 0 else layer["W"])
            k += layer["b"]
            inputs.append(a)
            k *= 0.5  # h = 0.5 (1 + tanh(k / 2)), in place
            a = np.tanh(k, out=k)
            a += 1.0
            a *= 0.5
        inputs.append(a)
        o = np.dot(a, W0 if len(layers) == 1 else layers[-1]["W"])
        o += layers[-1]["b"]
        o -= o.max()
        y = np.exp(o)
        s = y.sum()
        loss = math.log(s) - float(o[c])  # -log_softmax(o)[c]
        y /= s
        y[c] -= 1.0
        g = y  # dl/do = y - onehot(c)

        # backward and update, top layer first; da uses W before it changes
        for i in reversed(range(len(layers))):
            a = inputs[i]
            da = np.dot(layers[i]["W"], g) if i > 0 else None
            if self.accumulate == 1:
                g *= -self.lr
                self._add_outer(i, a, g, nz, layers[i]["W"], W0)
                layers[i]["b"] += g
            else:
                S = self._sum[i]
                self._add_outer(i, a, g, nz, S["W"], None)
                S["b"] += g
            if i > 0:
                g = da * a * (1.0 - a)  # a = h of layer i-1: dl/dk = dl/dh h (1 - h)
        if self.accumulate > 1:
            self.pending += 1
            if self.pending == self.accumulate:
                self.flush()
        return loss

    def _add_outer(self, i, a, g, nz, target, W0_rows) -> None:
        """``target += outer(a, g)`` for layer ``i``; for layer 0 with zero-skipping only the
        rows ``nz`` of ``target`` (``W0_rows`` is the copy of those rows the forward used)."""
        if i == 0 and nz is not None:
            upd = np.dot(a[:, None], g[None, :])  # (nnz, out)
            if W0_rows is not None:  # updating W: reuse the gathered rows
                W0_rows += upd
                target[nz] = W0_rows
            else:
                target[nz] += upd
            return
        buf = self._outer[i]
        np.dot(a[:, None], g[None, :], out=buf)
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


def predict_one(layers: list, x: np.ndarray) -> np.ndarray:
    """The logits o (n_out,) of one sample ``x`` (n_in,): the forward of ``network.forward``
    without keeping the intermediates (for evaluation loops)."""
    a = x
    for layer in layers[:-1]:
        k = np.dot(a, layer["W"])
        k += layer["b"]
        k *= 0.5
        a = np.tanh(k, out=k)
        a += 1.0
        a *= 0.5
    o = np.dot(a, layers[-1]["W"])
    o += layers[-1]["b"]
    return o
