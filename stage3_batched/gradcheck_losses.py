"""How :mod:`stage3_batched.gradcheck` calls a student's loss in the shape their course gave it:
``forward(logits, labels)`` + ``backward()`` (CS3317, the ladder), ``forward(Y, Y_hat)`` +
``backward(Y, Y_hat)`` with one-hot labels first (ECE421), or a function ``softmax_loss(x, y) ->
(loss, dx)`` (CS231n).

What the course module does not say (its ``GRADCHECK["losses"]``) is found from the signature
(a first argument named like a target - ``y``, ``labels``, ... - comes first) and by calling the
loss: integer labels first, one-hot if those fail; and whether it takes logits or probabilities by
which of the ladder's two cross-entropies its value is (up to a factor N, as a missing 1/N is what
the check is for).

What it leaves out: losses that are not over K classes (a logistic loss on (N, 1) outputs).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from shared.errors import ConfigError
from stage3_batched.gradcheck_shapes import Target, _binds, _required, build, signature_text

TARGET_NAMES = ("y", "t", "c", "target", "targets", "label", "labels", "y_true", "truth")


@dataclass
class LossCall:
    """How one loss is called: ``form`` "method" (``forward(a, b)`` then ``backward()``),
    "method2" (``backward(a, b)`` with the same arguments) or "function" (``f(a, b) -> (loss,
    dx)``); ``order`` "pred_target" or "target_pred"; ``labels`` "int" (N,) or "onehot" (N, K);
    ``input`` "logits", "probabilities" or "other" (not a cross-entropy: no reference)."""

    form: str
    order: str = "pred_target"
    labels: str = "int"
    input: str = "logits"

    def args(self, pred, c, k: int) -> tuple:
        T = c if self.labels == "int" else np.eye(k)[c]
        return (pred, T) if self.order == "pred_target" else (T, pred)

    def value(self, loss, pred, c) -> float:
        args = self.args(pred, c, pred.shape[1])
        out = loss(*args) if self.form == "function" else loss.forward(*args)
        return float(out[0] if self.form == "function" else out)

    def run(self, loss, pred, c) -> tuple[float, np.ndarray]:
        """The loss value and its gradient with respect to ``pred``."""
        args = self.args(pred, c, pred.shape[1])
        if self.form == "function":
            v, g = loss(*args)
        else:
            v = loss.forward(*args)
            g = loss.backward() if self.form == "method" else loss.backward(*args)
        return float(v), g

    def describe(self) -> str:
        a = "labels (N,)" if self.labels == "int" else "one-hot labels (N, K)"
        x = {"logits": "logits (N, K)", "probabilities": "probabilities (N, K)"}.get(
            self.input, "predictions (N, K)")
        first, second = (x, a) if self.order == "pred_target" else (a, x)
        call = {"method": "forward({0}, {1}); backward()", "function": "({0}, {1}) -> (loss, dx)",
                "method2": "forward({0}, {1}); backward({0}, {1})"}[self.form]
        return call.format(first, second)


def loss_form(loss) -> str:
    """"function", "method" or "method2"; :class:`ConfigError` with the contract otherwise."""
    if not hasattr(loss, "forward"):
        if _binds(loss, 2):
            return "function"
        raise ConfigError(f"{signature_text(loss)}: gradcheck calls a loss function as "
                          "f(scores, labels) -> (loss, dscores)")
    if not _binds(loss.forward, 2):
        raise ConfigError(f"{signature_text(loss.forward)}: gradcheck calls forward(pred, "
                          "target) (or forward(target, pred)) -> the mean loss")
    if _binds(loss.backward, 0):
        return "method"
    if _binds(loss.backward, 2):
        return "method2"
    raise ConfigError(f"{signature_text(loss.backward)}: gradcheck calls backward() -> dpred "
                      "or backward(target, pred) -> dpred with forward's arguments")


def loss_order(loss, form: str) -> str:
    """"target_pred" when the first argument's name is a target's (ECE421's ``Y, Y_hat``)."""
    names = _required(loss if form == "function" else loss.forward)
    names = names[1:] if form != "function" and names[:1] == ["self"] else names
    if len(names) >= 2 and names[0].lower() in TARGET_NAMES \
            and names[1].lower() not in TARGET_NAMES:
        return "target_pred"
    return "pred_target"


def build_loss(target: Target, data: dict):
    """The loss to check: the function itself, or the class built with the course's arguments
    (``GRADCHECK["build"]``) or none."""
    obj = target.objs[0]
    if not inspect.isclass(obj):
        return obj, target.name
    a = tuple((data.get("build", {}).get(obj.__name__) or [()])[0])
    return build(obj, a)


def loss_call(loss, name: str, data: dict, probs, c) -> LossCall:
    """The :class:`LossCall` for ``loss``: the course's ``GRADCHECK["losses"][name]`` where it
    gives one, the rest found from signatures and by calling it on the probabilities ``probs``
    (N, K) with the labels ``c`` (N,): integer labels first, one-hot if those fail, and
    "probabilities" when its value is the cross-entropy of probs as probabilities."""
    form = loss_form(loss)
    spec = dict(data.get("losses", {}).get(name, {}))
    if spec.get("input") == "unsupported":
        raise ConfigError(f"{name}: {spec.get('why', 'gradcheck checks losses over K classes')}")
    call = LossCall(form, spec.get("order", loss_order(loss, form)))
    if "labels" in spec:
        call.labels = spec["labels"]
    else:
        call.labels = next((lab for lab in ("int", "onehot") if _runs(loss, call, lab, probs, c)),
                           "int")
    call.input = spec.get("input") or _input_kind(loss, call, probs, c)
    return call


def _runs(loss, call: LossCall, labels: str, probs, c) -> bool:
    trial = LossCall(call.form, call.order, labels)
    try:
        v, g = trial.run(loss, probs.copy(), c)
        return np.isfinite(v) and np.shape(g) == probs.shape
    except Exception:  # noqa: BLE001 - this label format is not the one it takes
        return False


def _input_kind(loss, call: LossCall, probs, c) -> str:
    from stage3_batched.losses import CrossEntropy, SoftmaxCrossEntropy

    try:
        v = call.value(loss, probs.copy(), c)
    except Exception:  # noqa: BLE001 - the check itself reports what the loss raises
        return "logits"
    n = len(c)
    refs = {"probabilities": CrossEntropy().forward(probs, c),
            "logits": SoftmaxCrossEntropy().forward(probs, c)}
    off = {k: min(abs(v - r * f) / abs(r * f) for f in (1, n, 1 / n)) for k, r in refs.items()}
    return min(off, key=off.get)
