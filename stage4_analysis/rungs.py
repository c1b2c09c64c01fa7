"""The rungs of the ladder and the PyTorch oracle, each as ``loss_and_grads(weights, X, c)``, and
how two of their answers are compared.

* :func:`implementations` - name -> ``loss_and_grads`` for stage 1 (pure Python), stage 2
  (per-sample numpy), stage 3 (batched numpy) and, when installed, PyTorch (float64 autograd);
* :func:`difference` - largest absolute difference and relative error of two arrays;
* :func:`named_tensors` / :func:`order_from_loss` - one answer's gradients as
  ``{"layer0.W": ..., "input": dX}``, in the order backpropagation reaches them.

Relative error of a pair of arrays ``a, b``: ``max|a - b| / max(max|a|, max|b|)`` (0 when both are
all zeros) - one number per tensor, so an exactly-zero gradient does not divide by zero and a tiny
element does not dominate. What it leaves out: running them (``compare.py``) and checking a
student's rung (``rungcheck.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from shared import weights as wf


def _arguments(weights, X, c, lists: bool):
    """``(weights, X, c)`` as a rung takes them: nested lists and ints (``lists``, stage 1's form)
    or float64 arrays."""
    if lists:
        return wf.to_lists(weights), np.asarray(X).tolist(), [int(v) for v in c]
    return wf.to_arrays(weights), np.array(X, np.float64), np.array(c)


def _stage1(weights, X, c):
    import stage1_scalar

    return stage1_scalar.loss_and_grads(*_arguments(weights, X, c, lists=True))


def _stage2(weights, X, c):
    import stage2_perinstance

    return stage2_perinstance.loss_and_grads(*_arguments(weights, X, c, lists=False))


def _stage3(weights, X, c):
    import stage3_batched

    return stage3_batched.loss_and_grads(*_arguments(weights, X, c, lists=False))


def torch_loss_and_grads(weights, X, c):
    """The same network in PyTorch float64 autograd: an independent oracle.

    ``X`` (N, D), ``c`` (N,) ints -> ``(loss, grads, dX)`` in the shared weight format; the hidden
    activation is ``weights["activation"]``. Raises ImportError when torch is not installed.
    """
    import torch

    act = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh,
           "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, wf.LEAKY_SLOPE)}[
        wf.activation_of(weights)]
    params = []
    for layer in wf.to_arrays(weights)["layers"]:
        params.append((torch.tensor(layer["W"], requires_grad=True),
                       torch.tensor(layer["b"], requires_grad=True)))
    x = torch.tensor(np.asarray(X, np.float64), requires_grad=True)
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = act(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(np.asarray(c), dtype=torch.long))
    loss.backward()
    grads = {"sizes": list(weights["sizes"]),
             "layers": [{"W": W.grad.numpy(), "b": b.grad.numpy()} for W, b in params]}
    return float(loss.item()), grads, x.grad.numpy()


def implementations(include_torch: bool = True) -> dict[str, Callable]:
    """Name -> ``loss_and_grads(weights, X, c)`` for every rung (and torch when importable)."""
    impls = {"stage1": _stage1, "stage2": _stage2, "stage3": _stage3}
    if include_torch:
        try:
            import torch  # noqa: F401

            impls["torch"] = torch_loss_and_grads
        except ImportError:
            pass
    return impls


# --------------------------------------------------------------------------- differences
def difference(a, b) -> dict:
    """``{"max_abs", "rel", "where"}`` for two same-shaped arrays (or nested lists).

    ``where`` is the index of the largest absolute difference.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = np.abs(a - b)
    if d.size == 0:
        return {"max_abs": 0.0, "rel": 0.0, "where": ()}
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(d)), d.shape))
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    max_abs = float(d[where])
    rel = 0.0 if max_abs == 0.0 else (max_abs / scale if scale > 0 else float("inf"))
    if not math.isfinite(max_abs):                    # NaN or inf in one of them
        max_abs, rel = float("inf"), float("inf")
    return {"max_abs": max_abs, "rel": rel, "where": where}


def named_tensors(grads, dX) -> dict[str, np.ndarray]:
    """Flatten one implementation's gradients into ``{"layer0.W": ..., ..., "input": dX}``."""
    out = {}
    for i, layer in enumerate(grads["layers"]):
        out[f"layer{i}.W"] = np.asarray(layer["W"], np.float64)
        out[f"layer{i}.b"] = np.asarray(layer["b"], np.float64)
    out["input"] = np.asarray(dX, np.float64)
    return out


def order_from_loss(n_layers: int) -> list[str]:
    """Tensor names in the order backprop reaches them: output layer b, W, ..., input."""
    return [f"layer{i}.{p}" for i in reversed(range(n_layers)) for p in ("b", "W")] + ["input"]
