"""Losses over a mini-batch: ``forward(pred, target)`` -> the mean loss (a float), ``backward()``
-> ``dl/dpred`` (same shape as ``pred``).

What this adds over stage 2: the batch. The loss of a batch is the **mean** of the N per-sample
losses, so every gradient this module returns carries the factor ``1/N`` - it is applied here,
once, and no layer applies it again (README.md, "where the 1/N goes").

* :class:`SoftmaxCrossEntropy` - softmax and cross-entropy fused, on logits (N, K) with integer
  labels (N,). Stable for any finite logits (+-1e4 included); gradient ``(softmax(o) - onehot)/N``.
  :class:`CrossEntropyLoss` is the same loss under the name of PyTorch and the CS3317 hand-out.
* :class:`CrossEntropy` - cross-entropy on probabilities (N, K) (a network ending in a
  :class:`~stage3_batched.layers.Softmax` layer), integer labels (N,) or one-hot targets (N, K).
  Inputs that are not probabilities (a negative entry, a row not summing to 1) are refused: they
  are usually logits, which :class:`CrossEntropyLoss` takes.
* :class:`SquaredError` - ``mean_n 0.5 * sum_k (pred - target)^2``.
* :class:`LogisticLoss` - binary cross-entropy on a sigmoid output (N, 1) or (N,), targets 0/1.

Argument order is ``forward(pred, target)``, predictions first (as PyTorch's losses). Some
course hand-outs write the labels first; a call with the arguments swapped (1-D whole numbers as
``pred``, a 2-D array as ``target``) is caught and named, as is an empty batch (N = 0).

Leaves out: class weights, label smoothing, reductions other than the mean.
Targets are validated on every call: wrong shapes, non-integer or out-of-range labels and
non-finite targets raise ValueError saying what was wrong.
"""

from __future__ import annotations

import numpy as np


def check_labels(c, n: int, num_classes: int) -> np.ndarray:
    """Validate integer class labels: a 1-D integer array of length ``n`` with values in
    ``0 .. num_classes - 1``. Returns it as an ndarray; raises ValueError otherwise."""
    c = np.asarray(c)
    if c.ndim != 1 or len(c) != n:
        raise ValueError(f"labels must be a 1-D array of {n} class indices (one per row of the "
                         f"predictions), got shape {c.shape}")
    if c.dtype.kind not in "iu":                      # signed / unsigned integers only
        raise ValueError(f"labels must be integers (class indices), got dtype {c.dtype}; "
                         "convert with y.astype(np.int64) if they are whole numbers")
    if n and (c.min() < 0 or c.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1} (the network has {num_classes} "
                         f"outputs), got values from {c.min()} to {c.max()}")
    return c


def _check_not_swapped(pred, target, probabilities: bool) -> None:
    """Raise ValueError if ``forward(pred, target)`` looks called as ``forward(target, pred)``:
    ``pred`` 1-D whole numbers (labels) and ``target`` a 2-D float array (for probabilities, also
    with rows summing to 1)."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim != 1 or target.ndim != 2 or target.dtype.kind != "f" or not pred.size:
        return
    if pred.dtype.kind not in "iub" and not np.array_equal(pred, np.round(pred)):
        return
    if probabilities and not np.allclose(target.sum(axis=1), 1.0):
        return
    raise ValueError(
        f"the arguments look swapped: forward(pred, target) takes the predictions first, shape "
        f"(N, K), then the integer labels, shape (N,); got pred of shape {pred.shape} holding "
        f"whole numbers and target of shape {target.shape}. Call loss.forward(predictions, "
        "labels)")


def _check_pred(pred, what: str, ndim=(2,)) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.ndim not in ndim:
        raise ValueError(f"{what} must have {' or '.join(map(str, ndim))} dimensions "
                         f"(N, K), got shape {pred.shape}")
    if pred.shape[0] == 0:
        raise ValueError(f"the batch is empty: {what} of shape {pred.shape} (N = 0); a loss "
                         "needs at least one sample")
    if pred.dtype not in (np.float32, np.float64):
        pred = pred.astype(np.float64)
    return pred


class Loss:
    """Base class: ``forward(pred, target) -> float`` (mean over the batch), ``backward() ->
    dpred`` of the same shape as ``pred``. Backward may be called more than once."""

    def forward(self, pred, target) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, pred, target) -> float:
        return self.forward(pred, target)

    def _cached(self, attr: str):
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return value


class SoftmaxCrossEntropy(Loss):
    """Softmax + cross-entropy on logits, fused: ``l = mean_n (log sum_k exp(o_nk) - o_{n,c_n})``.

    pred: logits O (N, K); target: integer labels c (N,). Computed on ``o - max_k o`` (the
    log-sum-exp trick), so ``exp`` never overflows and the log of the sum is >= 0 (no log(0)):
    exact for logits of +-1e4. Backward: ``dO = (Y - onehot(c)) / N`` with ``Y = softmax(O)``,
    available afterwards as ``self.Y`` (N, K).
    """

    def forward(self, pred, target) -> float:
        _check_not_swapped(pred, target, probabilities=False)
        O = _check_pred(pred, "logits")
        n = O.shape[0]
        c = check_labels(target, n, O.shape[1])
        rows = np.arange(n)
        Z = O - O.max(axis=1, keepdims=True)          # (N, K), every entry <= 0
        E = np.exp(Z)                                 # (N, K), in [0, 1], the max entry is 1
        s = E.sum(axis=1)                             # (N,), >= 1: its log is finite
        losses = np.log(s) - Z[rows, c]               # (N,): l_n = log sum_k e^z - z_{c_n}
        self.Y, self.c = E / s[:, None], c            # Y = softmax(O)  (N, K)
        return float(losses.mean())

    def backward(self) -> np.ndarray:
        Y = self._cached("Y")
        n = len(Y)
        dO = Y.copy()                                 # (N, K)
        dO[np.arange(n), self.c] -= 1.0               # Y - onehot(c)
        return dO / n                                 # the mean's 1/N, applied once, here


class CrossEntropyLoss(SoftmaxCrossEntropy):
    """Softmax + cross-entropy on logits (N, K) with integer labels (N,): the loss PyTorch and the
    CS3317 hand-out call ``CrossEntropyLoss``, exactly :class:`SoftmaxCrossEntropy`.
    ``forward(logits, labels)`` -> the mean loss, ``backward()`` -> dlogits (N, K)."""


#: how far a row of probabilities may sum from 1 (float32 softmax rows are within 1e-6)
ROW_SUM_TOL = 1e-3


def _check_probabilities(P: np.ndarray) -> None:
    """Raise ValueError unless P (N, K) holds probabilities: no negative entry, rows summing to 1
    within :data:`ROW_SUM_TOL`."""
    if (P < 0).any():
        n = int(np.argmax((P < 0).any(axis=1)))
        found = f"row {n} has a negative entry ({P[n].min():.4g})"
    else:
        sums = P.sum(axis=1)
        bad = np.abs(sums - 1.0) > ROW_SUM_TOL
        if not bad.any():
            return
        n = int(np.argmax(bad))
        found = f"row {n} sums to {sums[n]:.6g}"
    raise ValueError(f"CrossEntropy takes probabilities (rows of a softmax, each summing to 1), "
                     f"but {found}; for logits use CrossEntropyLoss (or SoftmaxCrossEntropy)")


class CrossEntropy(Loss):
    """Cross-entropy on probabilities: ``l = -mean_n sum_k t_nk log p_nk``.

    pred: probabilities P (N, K) (rows of a softmax); target: integer labels (N,) or a one-hot
    (any non-negative) target matrix T (N, K). P is floored at the smallest normal float before
    the log, so a probability of exactly 0 gives a large finite loss (about 708 in float64),
    not inf. Backward: ``dP = -T / (N P)`` (only the target entries are non-zero for labels).
    A P with a negative entry or a row not summing to 1 (within :data:`ROW_SUM_TOL`) raises
    ValueError naming the class that takes logits (:class:`CrossEntropyLoss`).
    """

    def forward(self, pred, target) -> float:
        _check_not_swapped(pred, target, probabilities=True)
        P = _check_pred(pred, "probabilities")
        _check_probabilities(P)
        n, k = P.shape
        target = np.asarray(target)
        Pc = np.maximum(P, np.finfo(P.dtype).tiny)
        if target.ndim == 2:
            if target.shape != P.shape:
                raise ValueError(f"one-hot targets must have the shape of the probabilities "
                                 f"{P.shape}, got {target.shape}")
            T = target.astype(P.dtype, copy=False)
            if not np.isfinite(T).all() or (T < 0).any():
                raise ValueError("one-hot targets must be finite and non-negative")
            self.T, self.c = T, None
            loss = -np.sum(T * np.log(Pc)) / n
        else:
            c = check_labels(target, n, k)
            self.T, self.c = None, c
            loss = -np.mean(np.log(Pc[np.arange(n), c]))
        self.Pc = Pc
        return float(loss)

    def backward(self) -> np.ndarray:
        Pc = self._cached("Pc")
        n = len(Pc)
        if self.c is None:
            return -self.T / (n * Pc)
        dP = np.zeros_like(Pc)
        rows = np.arange(n)
        dP[rows, self.c] = -1.0 / (n * Pc[rows, self.c])   # only the target entries
        return dP


class SquaredError(Loss):
    """Squared error ``l = mean_n 0.5 * sum_k (pred_nk - target_nk)^2`` (N, K) or (N,).

    Convention: a **sum** over the outputs of one sample, halved, then the **mean** over the
    batch; so ``dpred = (pred - target) / N``. (PyTorch's ``MSELoss`` averages over all N*K
    entries and does not halve: it equals ``2 / K`` times this.)
    """

    def forward(self, pred, target) -> float:
        P = _check_pred(pred, "predictions", ndim=(1, 2))
        T = np.asarray(target)
        if T.shape != P.shape:
            raise ValueError(f"targets must have the shape of the predictions {P.shape}, "
                             f"got {T.shape}")
        if not np.isfinite(T).all():
            raise ValueError("targets contain NaN or inf")
        self.R = P - T                                # residual (N, K)
        return float(0.5 * np.sum(self.R * self.R) / len(P))

    def backward(self) -> np.ndarray:
        R = self._cached("R")
        return R / len(R)


class LogisticLoss(Loss):
    """Binary cross-entropy on a sigmoid output: ``l = -mean_n [t log p + (1 - t) log(1 - p)]``.

    pred: probabilities p (N, 1) or (N,); target: 0/1 values, (N,) or (N, 1). p is clipped to
    ``[eps, 1 - eps]`` (eps = machine epsilon of its dtype) so the loss stays finite; backward
    is ``dp = (p - t) / (p (1 - p) N)`` at the clipped p. (Followed by the sigmoid's backward this
    is ``(p - t) / N`` for the pre-activation - unless p saturated, where the gradient vanishes;
    the fused alternative is a 2-class :class:`SoftmaxCrossEntropy`.)
    """

    def forward(self, pred, target) -> float:
        P = _check_pred(pred, "probabilities", ndim=(1, 2))
        if P.ndim == 2 and P.shape[1] != 1:
            raise ValueError(f"LogisticLoss needs one output per sample, (N, 1) or (N,), got "
                             f"{P.shape}")
        t = np.asarray(target)
        if t.size != P.shape[0] or t.ndim > 2:
            raise ValueError(f"targets must hold one 0/1 value per sample ({P.shape[0]}), got "
                             f"shape {t.shape}")
        t = t.reshape(P.shape)
        if not np.isin(t, (0, 1)).all():
            raise ValueError("LogisticLoss targets must be 0 or 1")
        t = t.astype(P.dtype)
        eps = np.finfo(P.dtype).eps
        Pc = np.clip(P, eps, 1.0 - eps)
        n = P.shape[0]
        loss = -np.sum(t * np.log(Pc) + (1.0 - t) * np.log1p(-Pc)) / n
        self.Pc, self.t = Pc, t
        return float(loss)

    def backward(self) -> np.ndarray:
        Pc = self._cached("Pc")
        n = Pc.shape[0]
        return (Pc - self.t) / (Pc * (1.0 - Pc) * n)


LOSSES = {"softmax_cross_entropy": SoftmaxCrossEntropy, "cross_entropy": CrossEntropy,
          "squared_error": SquaredError, "logistic": LogisticLoss}
