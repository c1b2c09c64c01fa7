"""Naming a student's bug: a numpy reference of the ladder's network with the usual bugs planted,
and the rules that match a rung's wrong numbers to one of them.

:func:`reference` computes the loss and every gradient, optionally with one known bug (the
softmax's Jacobian left out or only its diagonal, the activation's derivative taken at k or
applied to h); :data:`BUGS` lists them with what each means; :func:`diagnose` tries a transposed
dW, a wrong shape, each planted bug, a constant factor over every gradient (a missing 1/N, a sign
flip, a learning rate folded in), a factor 1/N on the biases alone (averaged instead of summed)
and a factor on the first disagreeing tensor, then a different forward pass. What it leaves out:
bugs that match no simple rule - the report then points at the layer and the derivation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shared import weights as wf
from stage4_analysis.rungs import difference, order_from_loss

if TYPE_CHECKING:
    from stage4_analysis.rungcheck import Case

MATCH_TOL = 1e-6      # a diagnosis fits when the rung matches the planted bug to this


def _activation(name: str):
    """``(f, f')`` of the hidden activation ``name``: stage 2's table (one table per rung)."""
    from stage2_perinstance.network import ACTIVATIONS

    return ACTIVATIONS[name]


def _forward(weights, X):
    """The forward pass: ``A`` = [X, h of each hidden layer], ``K`` = [k of each hidden layer],
    and the softmax probabilities ``Y`` (N, classes) of the output layer."""
    f, _ = _activation(wf.activation_of(weights))
    layers = weights["layers"]
    A, K = [np.asarray(X, np.float64)], []
    for layer in layers[:-1]:
        K.append(A[-1] @ layer["W"] + layer["b"])
        A.append(f(K[-1]))
    O = A[-1] @ layers[-1]["W"] + layers[-1]["b"]
    Y = np.exp(O - O.max(axis=1, keepdims=True))
    return A, K, Y / Y.sum(axis=1, keepdims=True)


def _local_derivative(act_grad: str, df, f, k, h):
    """The hidden layer's factor dh/dk: right, or one of the planted bugs."""
    if act_grad == "at-k":
        return df(k, k)
    if act_grad == "of-h":
        return df(h, f(h))
    if act_grad == "left-out":
        return np.ones_like(k)
    if act_grad == "mask-inverted":
        return (k <= 0).astype(k.dtype)
    return df(k, h)


def reference(weights, X, c, softmax_grad: str = "full", act_grad: str = "right"):
    """Loss and tensors of the ladder's network, optionally with one known bug planted.

    ``softmax_grad``: "full" (``dO = (y - onehot(c)) / N``), "dy" (``dl/dy`` used as ``dl/do``)
    or "diagonal" (only ``diag(y (1 - y))`` of the softmax Jacobian). ``act_grad``: "right"
    (``f'(k)`` from ``k`` and ``h``), "at-k" (the derivative's formula in ``h`` fed ``k``:
    ``k (1 - k)`` for the sigmoid), "of-h" (``f'`` taken at ``h``: ``s(h) (1 - s(h))``),
    "left-out" (no factor at all) or "mask-inverted" (ReLU's ``1[k <= 0]``).
    """
    f, df = _activation(wf.activation_of(weights))
    layers = weights["layers"]
    A, K, Y = _forward(weights, X)
    N, rows = len(c), np.arange(len(c))
    loss = float(-np.mean(np.log(Y[rows, c])))
    dY = np.zeros_like(Y)
    dY[rows, c] = -1.0 / Y[rows, c] / N
    onehot = np.zeros_like(Y)
    onehot[rows, c] = 1.0
    dK = {"full": (Y - onehot) / N, "dy": dY, "diagonal": dY * Y * (1.0 - Y)}[softmax_grad]
    tensors = {}
    for i in reversed(range(len(layers))):
        tensors[f"layer{i}.W"] = A[i].T @ dK
        tensors[f"layer{i}.b"] = dK.sum(axis=0)
        dA = dK @ layers[i]["W"].T
        if i > 0:
            k, h = K[i - 1], A[i]
            dK = dA * _local_derivative(act_grad, df, f, k, h)
    tensors["input"] = dA
    return loss, tensors


#: The planted bugs the diagnosis tries: (name, reference() arguments, the activation it
#: concerns or None for all, what it means).
BUGS = [
    ("the softmax's Jacobian left out", {"softmax_grad": "dy"}, None,
     "dO equals dl/dy (-1/(N y_c) at the target class, 0 elsewhere): dl/dy was used as dl/do. "
     "The chain rule through the softmax needs its Jacobian J = diag(y) - y y^T: "
     "dO = J^T dl/dy = (y - onehot(c)) / N"),
    ("only the diagonal of the softmax's Jacobian", {"softmax_grad": "diagonal"}, None,
     "dO equals dl/dy * y (1 - y) ((y_c - 1)/N at the target class, 0 elsewhere): only "
     "dy_i/do_i = y_i (1 - y_i) was used; the off-diagonal terms dy_i/do_j = -y_i y_j add "
     "y_j / N at every other class: dO = (y - onehot(c)) / N"),
    ("the sigmoid's derivative taken at k", {"act_grad": "at-k"}, "sigmoid",
     "the hidden layers multiply by k (1 - k); the sigmoid's derivative is s(k) (1 - s(k)) = "
     "h (1 - h), with h = s(k) the layer's output"),
    ("the sigmoid's derivative applied to h", {"act_grad": "of-h"}, "sigmoid",
     "the hidden layers multiply by s(h) (1 - s(h)); h is already s(k), so the factor is "
     "h (1 - h)"),
    ("the tanh's derivative taken at k", {"act_grad": "at-k"}, "tanh",
     "the hidden layers multiply by 1 - k^2; the derivative of tanh is 1 - tanh(k)^2 = 1 - h^2"),
    ("the tanh's derivative applied to h", {"act_grad": "of-h"}, "tanh",
     "the hidden layers multiply by 1 - tanh(h)^2; h is already tanh(k), so the factor is "
     "1 - h^2"),
    ("the activation's derivative left out", {"act_grad": "left-out"}, None,
     "the hidden layers pass dl/dh on as dl/dk unchanged: the chain rule through h = f(k) "
     "multiplies by f'(k) (for ReLU the mask 1[k > 0], for the sigmoid h (1 - h))"),
    ("the ReLU's mask inverted", {"act_grad": "mask-inverted"}, "relu",
     "the gradient passes where k <= 0 and stops where k > 0; ReLU passes it where its input "
     "was positive: dK = dH * 1[k > 0]"),
]



def _factor(pairs) -> float | None:
    """The constant ``k`` with ``s = k r`` in every entry of every pair ``(s, r)``, else None."""
    s = np.concatenate([np.ravel(a) for a, _ in pairs])
    r = np.concatenate([np.ravel(b) for _, b in pairs])
    rr = float(r @ r)
    if rr == 0.0 or not np.all(np.isfinite(s)):
        return None
    k = float(s @ r) / rr
    if abs(k - 1.0) <= MATCH_TOL:                     # right up to rounding: no factor at all
        return None
    return k if difference(s, k * r)["rel"] <= MATCH_TOL else None


def _name_factor(k: float, N: int, where: str) -> tuple[str, str]:
    if k == 0.0:
        return "zero gradients", f"{where} all zero"
    if abs(k + 1.0) <= MATCH_TOL:
        return "a sign flip", (f"{where} the right value with the opposite sign (factor -1): "
                               "dO = onehot(c) - y instead of y - onehot(c)? (the minus of the "
                               "update w - lr dw belongs in the update, not in the gradient)")
    if N > 1 and abs(k - N) <= MATCH_TOL * N:
        return "a missing 1/N", (f"{where} {N} times the right value and {N} is the number of "
                                 "samples: the gradient of the sum of the losses, not of their "
                                 "mean. The loss is the mean over the batch, so divide by N once: "
                                 "dO = (y - onehot(c)) / N")
    if N > 1 and abs(k - 1.0 / N) <= MATCH_TOL / N:
        return "1/N applied twice", (f"{where} 1/{N} of the right value, {N} being the number "
                                     "of samples: the mean's 1/N is applied twice")
    return "a constant factor", (f"{where} {k:.6g} times the right value, the same factor in "
                                 "every entry: a learning rate folded into the gradients? "
                                 "loss_and_grads returns dl/dw; the step w - lr dw belongs in "
                                 "sgd_train")


def _transposed(mine: dict, ref: dict, names: list, tol: float) -> tuple[str, str] | None:
    """A dW that holds the transpose of the right one."""
    for n in names:
        s, r = mine[n], ref[n]
        if (n.endswith(".W") and s.shape == r.T.shape and difference(s, r.T)["rel"] <= MATCH_TOL
                and (s.shape != r.shape or difference(s, r)["rel"] > tol)):
            return "a transposed dW", (
                f"{n} has shape {s.shape} and holds the transpose of the right dW "
                f"{r.shape}: weights are (in, out), so dW = A^T dK (the layer's input "
                "transposed times dK), not dK^T A")
    return None


def _bias_factor(mine: dict, ref: dict, names: list, N: int) -> tuple[str, str] | None:
    """The biases alone off by 1/N (every weight right): averaged instead of summed."""
    b = [n for n in names if n.endswith(".b")]
    w = [n for n in names if not n.endswith(".b") and n != "input"]
    if N < 2 or not b or any(difference(mine[n], ref[n])["rel"] > MATCH_TOL for n in w):
        return None
    wrong = [n for n in b if difference(mine[n], ref[n])["rel"] > MATCH_TOL]
    k = _factor([(mine[n], ref[n]) for n in wrong]) if wrong else None
    if k is None or abs(k - 1.0 / N) > MATCH_TOL / N:
        return None
    return "the bias gradient averaged instead of summed", (
        f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} 1/{N} of the right value, "
        f"{N} being the number of samples, while the weights' gradients are right: db is the "
        "sum over the rows of dK (db = dK.sum(axis=0)); the 1/N of the mean loss is already in "
        "dK, so a mean divides by N twice")


def diagnose(case: Case, loss: float, mine: dict, loss3: float, ref: dict,
             first: str, tol: float) -> tuple[str | None, str | None]:
    """``(name, explanation)`` of a simple bug that explains the rung's numbers, or Nones."""
    N = len(case.c)
    names = [n for n in order_from_loss(len(case.weights["layers"])) if mine[n] is not None]
    transposed = _transposed(mine, ref, names, tol)
    if transposed is not None:
        return transposed
    if any(mine[n].shape != ref[n].shape for n in names):
        bad = next(n for n in names if mine[n].shape != ref[n].shape)
        return "a wrong shape", f"{bad} has shape {mine[bad].shape}, it must be {ref[bad].shape}"
    act = wf.activation_of(case.weights)
    for name, kwargs, only, meaning in BUGS:
        if only not in (None, act):
            continue
        _, planted = reference(case.weights, case.X, case.c, **kwargs)
        if (all(difference(mine[n], planted[n])["rel"] <= MATCH_TOL for n in names)
                and any(difference(planted[n], ref[n])["rel"] > MATCH_TOL for n in names)):
            return name, meaning
    bias = _bias_factor(mine, ref, names, N)
    if bias is not None:
        return bias
    k = _factor([(mine[n], ref[n]) for n in names])
    if k is not None:
        name, meaning = _name_factor(k, N, "every gradient is")
        if name == "a missing 1/N" and abs(loss - N * loss3) <= MATCH_TOL * abs(N * loss3):
            meaning += " (the loss is the sum too)"
        return name, meaning
    if first in mine and mine[first] is not None:
        k = _factor([(mine[first], ref[first])])
        if k is not None:
            return _name_factor(k, N, f"{first} is")
    if difference(loss, loss3)["rel"] > tol:
        return "a different forward pass", (
            f"the loss is {loss:.10g}, stage 3's {loss3:.10g}: check the forward pass (and that "
            "the loss is the mean cross-entropy -log y_c) before the gradients")
    return None, None


def predict_reference(weights, X) -> np.ndarray:
    """Softmax probabilities (N, K) of the network ``weights`` (any activation) on X (N, D)."""
    return _forward(weights, X)[2]
