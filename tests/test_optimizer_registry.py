"""The one optimizer registry (``stage3_batched.optim.OPTIMIZERS``, name -> class): every
registered optimizer is built from a RunConfig and takes a step that moves the weights, the class
that trains is the registered one (no name falls back to another optimizer), and an unknown name
is refused with the choices."""

from __future__ import annotations

import numpy as np
import pytest

from shared.errors import ConfigError
from stage3_batched import optim
from stage3_batched.run import RunConfig, build


def _step(model, loss_fn, opt, rng):
    X, c = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    before = {k: w.copy() for k, w in model.parameters().items()}
    loss = loss_fn.forward(model.forward(X), c)
    model.zero_grad()
    model.backward(loss_fn.backward())
    opt.step()
    return before, loss


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_registered_optimizer_is_built_and_steps(name):
    cfg = RunConfig(dataset="synth", hidden_dims=(5,), optimizer=name, lr=0.01,
                    momentum=0.9 if name == "sgd" else 0.0, epochs=1).validate()
    model, loss_fn, opt, _, _ = build(cfg, input_dim=4, num_classes=3)
    assert type(opt) is optim.OPTIMIZERS[name]
    assert opt.lr == pytest.approx(0.01)
    before, loss = _step(model, loss_fn, opt, np.random.default_rng(0))
    assert np.isfinite(loss)
    moved = max(np.abs(w - before[k]).max() for k, w in model.parameters().items())
    assert moved > 0, f"{name} did not change the weights"


def test_a_newly_registered_optimizer_is_the_one_that_trains(monkeypatch):
    """Registering a class is all it takes: build() uses it (with the settings its constructor
    accepts), never Adam or SGD in its place."""
    class HalfStep(optim.SGD):
        def __init__(self, params, grads=None, lr=None, weight_decay=0.0):
            super().__init__(params, grads, lr=lr / 2, weight_decay=weight_decay)

    monkeypatch.setitem(optim.OPTIMIZERS, "half", HalfStep)
    cfg = RunConfig(dataset="synth", hidden_dims=(5,), optimizer="half", lr=0.2,
                    epochs=1).validate()
    _, _, opt, _, _ = build(cfg, input_dim=4, num_classes=3)
    assert type(opt) is HalfStep and opt.lr == pytest.approx(0.1)


def test_an_unknown_optimizer_name_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; choose one of sgd, adam"):
        RunConfig(optimizer="rmsprop").validate()
