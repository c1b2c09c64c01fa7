"""An opt-in faster training epoch for SGD (``fit(..., fast=True)``), and the side-by-side speed
measurement that decides whether it is worth having.

What it changes, against :func:`stage3_batched.trainer.train_epoch` (the plain loop a student
reads), and why each saves time: every step of the plain loop makes several passes over each
weight matrix besides the matrix products - ``zero_grad`` (fill with 0), ``grads += X^T dY``
(a temporary, then an add), ``w -= lr * d`` (another temporary). :func:`train_epoch_fast`

* writes each layer's gradient straight into its array (``np.matmul(X.T, dY, out=dW)``), so no
  ``zero_grad`` and no temporary are needed (the gradient is that of the current batch alone);
* for plain SGD (momentum 0) folds the learning rate into the loss's small output gradient
  (``dO *= lr``, B x K numbers): backpropagation is linear in ``dO``, so every gradient comes out
  as ``lr * g`` and the update is one ``w -= grad`` (weight decay as ``w *= 1 - lr * wd`` first);
  with momentum it updates the velocity and the weights through one scratch array per parameter;
* gathers each mini-batch into one reused buffer (``X.take(idx, out=buf)``).

The result is the plain loop's, up to rounding (tested: the same weights after several steps,
float64, rtol 1e-12, with and without momentum and weight decay). One visible difference: after a
fast epoch with plain SGD, ``model.gradients()`` hold ``lr`` times the last batch's gradient.
Optimizers other than :class:`~stage3_batched.optim.SGD` run the plain loop.

The measurement: ``python -m stage3_batched.fast`` (or :func:`compare` from Python, as the
stage-4 speed package does) times one epoch of the VU hand-out's network, 784 -> 300 (sigmoid)
-> 10 (softmax cross-entropy), SGD, over 60,000 MNIST-shaped samples, at batch sizes 128 and 32,
in float32 and float64, with one BLAS thread and one torch thread, the contenders' repeats
interleaved so all see the same machine load; it reports median seconds per epoch (CPU time of
the process, and wall time) and the ratios of the medians:

* ``plain``: :func:`stage3_batched.fit` as every user runs it;
* ``fast``: the same with ``fast=True``;
* ``torch``: the same network as ``torch.nn.Linear`` + ``torch.nn.CrossEntropyLoss`` +
  ``torch.optim.SGD``, the same permutation and batches, the loss read back every step.

Leaves out: GPUs, other network sizes (stage 4 sweeps those), a faster forward pass (the
layers' own forward is used).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from stage3_batched.layers import Linear
from stage3_batched.optim import SGD
from stage3_batched.trainer import EpochResult, train_epoch

SIZES = (784, 300, 10)
N_SAMPLES = 60_000
LR = 0.1


# --------------------------------------------------------------------------------- fast epoch
def train_epoch_fast(model, loss_fn, optimizer, X: np.ndarray, c: np.ndarray, batch_size: int,
                     rng: np.random.Generator, *, metric: str | None = "accuracy",
                     on_step=None) -> EpochResult:
    """:func:`~stage3_batched.trainer.train_epoch`, same arguments and result, with the savings
    of the module docstring. Non-SGD optimizers run the plain loop."""
    if type(optimizer) is not SGD:
        return train_epoch(model, loss_fn, optimizer, X, c, batch_size, rng, metric=metric,
                           on_step=on_step)
    model.train()
    model.zero_grad()                                  # gradient arrays of the right shapes
    order = rng.permutation(len(X))
    result = EpochResult()
    X_buf = np.empty((min(batch_size, len(X)), X.shape[1]), dtype=X.dtype)
    c_buf = np.empty((len(X_buf),) + c.shape[1:], dtype=c.dtype)
    scratch = {name: np.empty_like(w) for name, w, _ in optimizer.arrays()}
    folded = optimizer.momentum == 0                   # plain SGD: fold lr into dO
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]          # a permutation: "clip" never clips
        X_batch = X.take(idx, axis=0, out=X_buf[:len(idx)], mode="clip")
        c_batch = c.take(idx, axis=0, out=c_buf[:len(idx)], mode="clip")
        out = model.forward(X_batch, check=False)
        loss = loss_fn.forward(out, c_batch)
        if not math.isfinite(loss):
            result.bad_loss = loss
            break
        result.add(loss, out, c_batch, metric)
        dO = loss_fn.backward()
        if folded:
            dO *= optimizer.lr                         # gradients come out as lr * g
        backward_overwriting(model, dO)
        sgd_step_in_place(optimizer, scratch, folded)
        if on_step is not None:
            on_step(loss)
    return result


def backward_overwriting(model, dY: np.ndarray) -> None:
    """``model.backward(dY, input_grad=False)``, but each Linear *writes* its gradients (of this
    batch alone) into its arrays instead of adding a temporary to them."""
    i, j = model._range
    first = next((k for k in range(i, j + 1) if model.layers[k].params), j + 1)
    for k in range(j, first - 1, -1):                  # none at all if nothing learns
        layer = model.layers[k]
        if isinstance(layer, Linear):
            np.matmul(layer.X.T, dY, out=layer.grads["W"])    # dW = X^T dY, in place
            dY.sum(axis=0, out=layer.grads["b"])              # db
            if k > first:
                dY = dY @ layer.params["W"].T                 # dX
        else:
            layer.zero_grad()
            dY = layer.backward(dY)


def sgd_step_in_place(opt: SGD, scratch: dict, folded: bool) -> None:
    """:meth:`SGD.step` with no temporaries. ``folded``: the gradients hold ``lr * g``."""
    lr, mu, wd = opt.lr, opt.momentum, opt.weight_decay
    for name, w, g in opt.arrays():
        decays = opt.decays(name)
        if folded:
            if decays:
                w *= 1.0 - lr * wd                     # w - lr wd w
            w -= g                                     # w - lr g
            continue
        buf, d = scratch[name], g
        if decays:
            np.multiply(w, wd, out=buf)
            buf += g                                   # d = g + wd w
            d = buf
        v = opt.state(opt.v, name, w)
        v *= mu
        v += d                                         # v = mu v + d
        if opt.nesterov:
            np.multiply(d, lr, out=buf)                # w -= lr d + lr mu v
            w -= buf
            np.multiply(v, lr * mu, out=buf)
        else:
            np.multiply(v, lr, out=buf)                # w -= lr v
        w -= buf


# --------------------------------------------------------------------------------- measurement


def make_data(n: int = N_SAMPLES, dtype="float64", seed: int = 0):
    """MNIST-shaped random data: X (n, 784) in [0, 1) in ``dtype``, labels c (n,) in 0..9 (the
    speed does not depend on the values)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.dtype(dtype)), rng.integers(0, SIZES[-1], n)


def plain_contender(dtype, fast: bool = False):
    """``epoch(X, c, batch_size, seed) -> (cpu seconds, wall seconds)`` for
    :func:`stage3_batched.fit` (``fast=True``: with :func:`train_epoch_fast`)."""
    from stage3_batched import MLP, SoftmaxCrossEntropy, fit

    model = MLP(SIZES[0], [SIZES[1]], SIZES[2], "sigmoid", init="xavier",
                rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr=LR)

    def epoch(X, c, batch_size, seed):
        cpu, wall = time.process_time(), time.perf_counter()
        hist = fit(model, loss_fn, opt, (X, c), epochs=1, batch_size=batch_size,
                   rng=np.random.default_rng(seed), progress=False, fast=fast)
        seconds = time.process_time() - cpu, time.perf_counter() - wall
        if hist.status != "ok":
            raise RuntimeError(hist.message)
        return seconds
    return epoch


def fast_contender(dtype):
    return plain_contender(dtype, fast=True)


def torch_contender(dtype):
    """The same epoch in PyTorch (one thread): same permutation, batches gathered with
    ``index_select``, ``CrossEntropyLoss``, ``optim.SGD``, the loss read back every step."""
    import torch

    torch.manual_seed(0)
    tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    net = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(),
                              torch.nn.Linear(SIZES[1], SIZES[2])).to(tdtype)
    loss_fn, opt = torch.nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=LR)

    def epoch(X, c, batch_size, seed):
        tX, tc = torch.from_numpy(X), torch.from_numpy(c)
        cpu, wall = time.process_time(), time.perf_counter()
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(X)))
        for s in range(0, len(X), batch_size):
            idx = order[s:s + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(tX.index_select(0, idx)), tc.index_select(0, idx))
            loss.backward()
            opt.step()
            loss.item()
        return time.process_time() - cpu, time.perf_counter() - wall
    return epoch


CONTENDERS = {"plain": plain_contender, "fast": fast_contender, "torch": torch_contender}


def compare(batch_sizes=(128, 32), dtypes=("float32", "float64"), repeats: int = 3,
            n: int = N_SAMPLES, contenders: dict | None = None) -> list[dict]:
    """One row per (dtype, batch size): ``{"dtype", "batch", "<name>": [cpu seconds, ...],
    "<name>_wall": [wall seconds, ...], "<name>_median", "<name>_wall_median",
    "<name>/plain" (ratio of CPU medians), "<name>/plain_wall"}`` for every contender (a dict
    ``name -> make(dtype) -> epoch(X, c, batch_size, seed)``, default :data:`CONTENDERS`; the
    first is the reference, "plain"). One BLAS thread and one torch thread; the repeats are
    interleaved in a rotating order."""
    from shared.errors import ConfigError
    from shared.threads import limited

    for what, value in (("repeats", repeats), ("samples", n), *(("batch size", b)
                                                               for b in batch_sizes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}")
    contenders = dict(CONTENDERS if contenders is None else contenders)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:                                # PyTorch is optional
        contenders.pop("torch", None)
    rows = []
    with limited(1):
        for dtype in dtypes:
            X, c = make_data(n, dtype)
            epochs = {name: make(dtype) for name, make in contenders.items()}
            for batch in batch_sizes:
                rows.append(_measure(epochs, X, c, dtype, batch, repeats))
    return rows


def _measure(epochs: dict, X, c, dtype, batch: int, repeats: int) -> dict:
    names = list(epochs)
    row = {"dtype": dtype, "batch": batch}
    for name in names:
        row[name], row[f"{name}_wall"] = [], []
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            cpu, wall = epochs[name](X, c, batch, seed=r)
            row[name].append(cpu)
            row[f"{name}_wall"].append(wall)
    for name in names:
        row[f"{name}_median"] = statistics.median(row[name])
        row[f"{name}_wall_median"] = statistics.median(row[f"{name}_wall"])
    for name in names:
        row[f"{name}/plain"] = row[f"{name}_median"] / row[f"{names[0]}_median"]
        row[f"{name}/plain_wall"] = row[f"{name}_wall_median"] / row[f"{names[0]}_wall_median"]
    return row


def table(rows: list[dict]) -> str:
    """The rows of :func:`compare` as a text table: median CPU and wall seconds per epoch, and
    each contender's ratio to the first (CPU, wall)."""
    names = [k[:-len("_wall_median")] for k in rows[0] if k.endswith("_wall_median")]
    head = ["dtype", "batch", *[f"{m} cpu s" for m in names], *[f"{m} wall s" for m in names],
            *[f"{m}/{names[0]} cpu (wall)" for m in names[1:]]]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        cells = [r["dtype"], str(r["batch"]), *[f"{r[f'{m}_median']:.3f}" for m in names],
                 *[f"{r[f'{m}_wall_median']:.3f}" for m in names],
                 *[f"{r[f'{m}/plain']:.2f} ({r[f'{m}/plain_wall']:.2f})" for m in names[1:]]]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m stage3_batched.fast", description=__doc__
                                .split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    p.add_argument("--samples", type=int, default=N_SAMPLES, help="samples per epoch")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"])
    args = p.parse_args(argv)
    rows = compare(args.batch_sizes, args.dtypes, args.repeats, args.samples)
    print(table(rows))
    return 0


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
