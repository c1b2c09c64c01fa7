"""The grader's check of each kind of rubric item (:class:`.rubric.Item`), run inside the
sandboxed child process on the student's modules.

Every check returns ``(passed, [feedback lines])``; an item scores all its points or none.

* "layer": forward against the reference solution's on the same input and parameters; backward
  by gradcheck's ``check_layer`` (central differences of the student's own forward, and for a
  course whose backward adds to the gradients, a second backward without ``zero_grad`` must
  double them), with its likely cause.
* "loss": gradcheck's loss check, called as the course calls it: the value against stage 3's
  mean cross-entropy, the gradient against central differences of the student's own loss and
  against stage 3's.
* "forward": the network's output on the rung problems (with random biases) against the
  ladder's probabilities, and the course's own ``forward_checks``.
* "network": the rung check of the course's network (the student's assembly, the reference
  layers in place of the student's; or all the student's files through the course's adapter,
  with its accumulation and SGD-step checks) against the ladder, with its diagnosis.
* "sgd": three steps of the student's optimizer on the reference layers against stage 3's SGD
  with momentum on the same gradients, then ``zero_grad``.
* "train": the course's short training run (``course.training_run``) must reach the item's
  validation accuracy.

What it leaves out: importing and isolating the student's code (:mod:`.sandbox`).
"""

from __future__ import annotations

import types

import numpy as np

from stage4_analysis.courses import checks

FORWARD_RTOL = 1e-10


def build(modules, item):
    """``item.name(*item.args)`` from the module of ``item.files[0]`` in ``modules``."""
    module = getattr(modules, item.files[0].removesuffix(".py"))
    return getattr(module, item.name)(*item.args)


class AttrLayer:
    """A layer keeping ``W``, ``b`` and ``grad_W``, ``grad_b`` as attributes (CS3317), seen as
    ``check_layer`` reads layers: ``params`` / ``grads`` dicts and ``zero_grad``."""

    PARAMS = {"W": "grad_W", "b": "grad_b"}

    def __init__(self, layer):
        self.layer = layer

    def prime(self, X):
        pass

    @property
    def params(self):
        return {k: getattr(self.layer, k) for k in self.PARAMS if hasattr(self.layer, k)}

    @property
    def grads(self):
        return {k: getattr(self.layer, g, None) for k, g in self.PARAMS.items()}

    def set_params(self, params):
        for k, v in params.items():
            setattr(self.layer, k, v.copy())

    def zero_grad(self):
        for k, g in self.PARAMS.items():
            setattr(self.layer, g, np.zeros_like(getattr(self.layer, k)))

    def forward(self, X):
        return self.layer.forward(X)

    def backward(self, dY):
        return self.layer.backward(dY)


class DictLayer(AttrLayer):
    """A layer keeping its parameters in the dict ``parameters`` and their gradients under the
    same keys in ``gradients``, made on the first forward pass (ECE421)."""

    def prime(self, X):
        self.layer.forward(np.zeros((1, X.shape[1])))

    @property
    def params(self):
        return dict(self.layer.parameters)

    @property
    def grads(self):
        return {k: self.layer.gradients.get(k) for k in self.layer.parameters}

    def set_params(self, params):
        for k, v in params.items():
            self.layer.parameters[k] = v.copy()

    def zero_grad(self):
        for k, v in self.layer.parameters.items():
            self.layer.gradients[k] = np.zeros_like(v)


class ZLayer(AttrLayer):
    """An activation with ``forward(Z)`` and ``backward(Z, dY)`` (ECE421), as a layer."""

    @property
    def params(self):
        return {}

    @property
    def grads(self):
        return {}

    def zero_grad(self):
        pass

    def forward(self, X):
        self.Z = X
        return self.layer.forward(X)

    def backward(self, dY):
        return self.layer.backward(self.Z, dY)


class PlainLayer(ZLayer):
    """A layer without parameters: ``forward(X)``, ``backward(dY)``."""

    def forward(self, X):
        return self.layer.forward(X)

    def backward(self, dY):
        return self.layer.backward(dY)


STYLES = {"attrs": AttrLayer, "dicts": DictLayer, "z": ZLayer, "plain": PlainLayer}


def _forward_lines(mine, ref, what: str) -> list[str]:
    mine = np.asarray(mine, np.float64)
    if mine.shape != ref.shape:
        return [f"{what} has shape {mine.shape}, it must be {ref.shape}"]
    if not np.allclose(mine, ref, rtol=FORWARD_RTOL, atol=1e-12):
        return [f"{what} differs from the reference's: relative error "
                f"{checks.rel_error(mine, ref):.2e}"]
    return []


def check_layer(course, item, mine, refs, prep):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(item.shape)
    student, reference = (STYLES[item.style](build(m, item)) for m in (mine, refs))
    for layer in (reference, student):
        layer.prime(X)
    params = {k: rng.standard_normal(np.shape(v)) * 0.5 for k, v in reference.params.items()}
    reference.set_params(params)
    student.set_params(params)
    label = f"{item.name}({', '.join(map(repr, item.args))})"
    lines = _forward_lines(student.forward(X), np.asarray(reference.forward(X)),
                           f"{label}.forward(X {item.shape})")
    ok, grad_lines = checks.gradient_check(student.layer, label,
                                           bool(course.ACCUMULATES and params))
    lines += grad_lines
    passed = not lines and ok
    return passed, lines or [f"{label}: forward matches the reference, backward matches central "
                             "differences"]


def check_loss(course, item, mine, refs, prep):
    """The student's loss class as the course calls it (gradcheck's loss check)."""
    module = getattr(mine, item.files[0].removesuffix(".py"))
    ok, lines = checks.loss_check(getattr(module, item.name), course)
    return ok, lines or ["forward equals the ladder's mean cross-entropy, backward its gradient "
                         "and central differences of your loss"]


def check_network(course, item, mine, refs, prep):
    """The rung check: ``style`` "course" runs the course's adapter on the student's files
    with its further checks; otherwise only ``loss_and_grads`` of the student's files with the
    reference files substituted."""
    if item.style == "course":
        return checks.rung_check(mine, prep["cases"], "the network", course=course.NAME)
    files = types.SimpleNamespace(**{**vars(refs), **vars(mine)})
    rung = types.SimpleNamespace(loss_and_grads=course.rung(files).loss_and_grads)
    return checks.rung_check(rung, prep["cases"], "the network")


def check_forward(course, item, mine, refs, prep):
    """The network's output (``course.predict``) on every rung problem the course can express
    against the ladder's probabilities, then the course's own ``forward_checks``."""
    lines, checked = [], 0
    rng = np.random.default_rng(0)
    for case in prep["cases"]:
        weights = {**case.weights, "layers": [          # biases too: they start at zero
            {"W": layer["W"], "b": rng.standard_normal(np.shape(layer["b"]))}
            for layer in case.weights["layers"]]}
        got = np.asarray(course.predict(mine, weights, case.X), np.float64)
        want = checks.ladder_probabilities(weights, case.X)
        checked += 1
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-10, atol=1e-12):
            what = (f"shape {got.shape}, it must be {want.shape}" if got.shape != want.shape
                    else f"relative error {checks.rel_error(got, want):.2e}")
            lines.append(f"{case.name}: the output differs from the ladder's probabilities "
                         f"({what})")
            break
    lines += course.forward_checks(mine, refs)
    passed = checked > 0 and not lines
    return passed, lines or [f"the output equals the ladder's on {checked} problems; partial "
                             "passes by name and index agree"]


def _sgd_layers(refs, rng, sizes=(4, 5, 3)):
    layers = [refs.layers.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    params = {}
    for i, layer in enumerate(layers):
        layer.W, layer.b = rng.standard_normal(layer.W.shape), rng.standard_normal(layer.b.shape)
        params[f"{i}.W"], params[f"{i}.b"] = layer.W.copy(), layer.b.copy()
    return layers, params


def check_sgd(course, item, mine, refs, prep):
    """``SGD(layers, lr, momentum)``: three steps against stage 3's SGD with the same momentum
    (and, to name the bug, without it), then ``zero_grad``."""
    rng = np.random.default_rng(0)
    layers, params = _sgd_layers(refs, rng)
    lr, momentum = item.args
    opt = getattr(mine, item.files[0].removesuffix(".py")).SGD(layers, lr, momentum)
    plain = {k: v.copy() for k, v in params.items()}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    ladder, ladder0 = checks.ladder_sgd(params, grads, lr, momentum), checks.ladder_sgd(
        plain, grads, lr, 0.0)
    for _ in range(3):
        for i, layer in enumerate(layers):
            for p, g in (("W", "grad_W"), ("b", "grad_b")):
                grads[f"{i}.{p}"][...] = rng.standard_normal(params[f"{i}.{p}"].shape)
                getattr(layer, g)[...] = grads[f"{i}.{p}"]
        opt.step()
        ladder.step()
        ladder0.step()
    mine_now = {f"{i}.{p}": np.asarray(getattr(layer, p)) for i, layer in enumerate(layers)
                for p in ("W", "b")}
    err = max(checks.rel_error(mine_now[k], params[k]) for k in params)
    if err > 1e-12:
        no_mu = [k for k in params if checks.rel_error(mine_now[k], params[k]) > 1e-12
                 and checks.rel_error(mine_now[k], plain[k]) <= 1e-12]
        return False, [f"after 3 steps (lr {lr}, momentum {momentum}) the weights differ from "
                       f"stage 3's SGD with momentum: relative error {err:.2e}"
                       + (f"; {', '.join(no_mu)} took plain SGD steps: the momentum is ignored "
                          "(v = momentum * v + g; w -= lr * v)" if no_mu else "")]
    opt.zero_grad()
    left = [f"{i}.{g}" for i, layer in enumerate(layers) for g in ("grad_W", "grad_b")
            if np.any(np.asarray(getattr(layer, g)) != 0)]
    if left:
        return False, [f"zero_grad() left {', '.join(left)} non-zero"]
    return True, ["3 steps equal stage 3's SGD with momentum; zero_grad() resets the gradients"]


def check_training(course, item, mine, refs, prep):
    """The course's training run from each seed of ``item.args`` (default: seed 0) until one
    reaches the threshold; numpy's global generator is seeded too, for code that draws its
    initial weights from ``np.random``."""
    tried, seeds = [], item.args or (0,)
    for seed in seeds:
        np.random.seed(seed)
        accuracy, what = course.training_run(mine, refs, prep["data"], seed=seed)
        tried.append(f"{accuracy:.1%}")
        if np.isfinite(accuracy) and accuracy >= item.threshold:
            break
    passed = bool(np.isfinite(accuracy) and accuracy >= item.threshold)
    where = (f"seed {seeds[0]}" if len(tried) == 1
             else f"seeds {', '.join(map(str, seeds[:len(tried)]))}")
    return passed, [f"validation accuracy {' then '.join(tried)} from {where} ({what}); it "
                    f"must reach {item.threshold:.0%}"]


CHECKS = {"layer": check_layer, "loss": check_loss, "network": check_network,
          "forward": check_forward,
          "sgd": check_sgd, "train": check_training}
