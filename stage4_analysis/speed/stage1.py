"""How fast is scalar backprop written out by hand? Stage 1 against micrograd, side by side.

    python -m stage4_analysis.speed.stage1                  # 2-3-2 network, ~1 s per measurement
    python -m stage4_analysis.speed.stage1 --seconds 0.2 --repeats 3 --json bench.json
    python -m stage4_analysis.speed.stage1 --mnist          # also: s per sample at 784-300-10

What is measured: per-sample SGD training steps per second (forward, backward, weight update) on
the hand-out's 2-3-2 network (sigmoid hidden layer, softmax, cross-entropy), on the same samples
(the synthetic data, normalised) from the same initial weights (``shared.weights.init_weights``):

* ``stage1-jacobian``: :func:`stage1_scalar.sgd_train`, the loops of ``network.py`` (backward
  through the softmax Jacobian);
* ``stage1-fused``: the same with ``dl/do = y - onehot(c)``;
* ``stage1-unrolled`` / ``stage1-unrolled-fused``:
  :func:`stage1_scalar.unrolled.sgd_train_unrolled`, the same equations written out one scalar
  per line for this network and compiled (bitwise the same weights as the loops;
  ``python -m stage1_scalar unrolled`` prints the program);
* ``micrograd``: the same network built from micrograd ``Value`` operations (Karpathy's scalar
  autograd, ``pip install micrograd``): a graph per sample, ``loss.backward()``, then
  ``p.data -= lr * p.grad`` and ``p.grad = 0`` for every parameter, as in micrograd's demo.
  micrograd 0.1.0 has no ``exp``, ``log`` or sigmoid; this file adds them (:func:`mg_exp`,
  :func:`mg_log`, :func:`mg_sigmoid`) following the pattern of micrograd's own ``relu``: a new
  ``Value`` with its children and a ``_backward`` closure. The ``micrograd`` row uses the sigmoid
  as one op (like ``relu``: micrograd's fastest option); ``micrograd-composed`` builds it from
  ``Value`` arithmetic and ``exp`` (``(1 + exp(-k)) ** -1``). Softmax and cross-entropy are built
  from ``Value`` ops in both (``exp(o_i - max)``, a sum, ``** -1``, ``log``).

The measurements are interleaved (A B C A B C ...) so that a slow moment of a shared machine hits
every row alike; each row reports the median, min and max over the repeats, and the ratio of the
medians. Before timing, both implementations train over the same samples and the final weights
are compared (``agreement``), so the race is between two programs that compute the same thing.
Nothing here is a test: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from shared.weights import init_weights
from stage1_scalar.network import sgd_train
from stage1_scalar.unrolled import sgd_train_unrolled

try:  # optional: the benchmark still runs (and says so) without it
    from micrograd.engine import Value
except ImportError:  # pragma: no cover - depends on the environment
    Value = None


# --------------------------------------------------------------------------- micrograd side
def mg_exp(v):
    """``exp`` as a micrograd op: d exp(v)/dv = exp(v)."""
    out = Value(math.exp(v.data), (v,), "exp")

    def _backward():
        v.grad += out.data * out.grad
    out._backward = _backward
    return out


def mg_log(v):
    """``log`` as a micrograd op: d log(v)/dv = 1/v."""
    out = Value(math.log(v.data), (v,), "log")

    def _backward():
        v.grad += out.grad / v.data
    out._backward = _backward
    return out


def mg_sigmoid(v):
    """The sigmoid as one micrograd op (stable form): d sigmoid(v)/dv = s (1 - s)."""
    k = v.data
    s = 1.0 / (1.0 + math.exp(-k)) if k >= 0 else math.exp(k) / (1.0 + math.exp(k))
    out = Value(s, (v,), "sigmoid")

    def _backward():
        v.grad += s * (1.0 - s) * out.grad
    out._backward = _backward
    return out


def mg_sigmoid_composed(v):
    """The sigmoid from micrograd arithmetic and :func:`mg_exp`: ``(1 + exp(-v)) ** -1``
    (five graph nodes instead of one; overflows for ``v < -709``, fine on normalised data)."""
    return (1 + mg_exp(-v)) ** -1


class MicrogradMLP:
    """The ladder's network from micrograd ``Value`` ops; parameters in the weight format.

    ``composed=False`` uses the one-op :func:`mg_sigmoid`, ``True`` builds the sigmoid from
    ``exp`` and arithmetic (:func:`mg_sigmoid_composed`).
    """

    def __init__(self, weights: dict, composed: bool = False):
        self.sigmoid = mg_sigmoid_composed if composed else mg_sigmoid
        self.layers = [{"W": [[Value(w) for w in row] for row in layer["W"]],
                        "b": [Value(b) for b in layer["b"]]} for layer in weights["layers"]]

    def parameters(self) -> list:
        return [p for layer in self.layers for row in layer["W"] + [layer["b"]] for p in row]

    def loss(self, x: list[float], c: int):
        a = x
        for i, layer in enumerate(self.layers):
            W, b = layer["W"], layer["b"]
            k = [sum((a_i * W[i_][j] for i_, a_i in enumerate(a)), b[j]) for j in range(len(b))]
            a = k if i == len(self.layers) - 1 else [self.sigmoid(k_j) for k_j in k]
        o = a
        m = max(o_j.data for o_j in o)  # a constant shift: softmax does not change
        e = [mg_exp(o_j - m) for o_j in o]
        s = sum(e[1:], e[0])
        y = [e_j * s ** -1 for e_j in e]
        return -mg_log(y[c])

    def step(self, x: list[float], c: int, lr: float) -> float:
        loss = self.loss(x, c)
        loss.backward()
        for p in self.parameters():
            p.data -= lr * p.grad
            p.grad = 0
        return loss.data

    def weights(self, sizes: list[int]) -> dict:
        return {"sizes": list(sizes),
                "layers": [{"W": [[w.data for w in row] for row in layer["W"]],
                            "b": [b.data for b in layer["b"]]} for layer in self.layers]}


# --------------------------------------------------------------------------- timing
def _samples(n: int, seed: int) -> tuple[list[list[float]], list[int]]:
    """``n`` normalised synthetic samples (the data loader needs numpy: imported here only)."""
    from shared.data import as_lists, load_synth
    from stage1_scalar.train import feature_stats, normalise

    (X, c) = as_lists(load_synth(num_train=n, num_val=0, seed=seed)[0])
    mean, std = feature_stats(X)
    return normalise(X, mean, std), c


def _rate_stage1(weights, X, c, lr, seconds, fused=False, train=None):
    """Steps per second of ``sgd_train`` (or ``train``) over X, c, repeated until ``seconds``
    have passed."""
    steps, t0 = 0, time.perf_counter()
    while True:
        if train is None:
            weights = sgd_train(weights, X, c, lr, fused=fused)
        else:
            weights = train(weights, X, c, lr)
        steps += len(X)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return steps / elapsed


def _rate_micrograd(weights, X, c, lr, seconds, composed=False):
    net = MicrogradMLP(weights, composed=composed)
    steps, t0 = 0, time.perf_counter()
    while True:
        for x, c_n in zip(X, c):
            net.step(x, c_n, lr)
        steps += len(X)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return steps / elapsed


def _max_diff(a: dict, b: dict) -> float:
    return max(abs(u - v) for la, lb in zip(a["layers"], b["layers"])
               for key in ("W", "b")
               for ra, rb in zip(*((la[key], lb[key]) if key == "W" else ([la[key]], [lb[key]])))
               for u, v in zip(ra, rb))


def bench_vs_micrograd(seconds: float = 1.0, repeats: int = 5, samples: int = 200,
                       sizes: tuple[int, ...] = (2, 3, 2), lr: float = 0.05,
                       seed: int = 0) -> dict:
    """Per-sample SGD steps per second: stage 1 (Jacobian and fused backward) vs micrograd.

    Each of ``repeats`` rounds measures every row for at least ``seconds`` (cycling over the same
    ``samples`` synthetic samples from the same initial weights), rows interleaved. Returns::

        {"sizes", "samples", "seconds", "repeats", "lr",
         "rows": {name: {"steps_per_s": median, "min", "max", "all": [...]} or
                  {"missing": reason}},
         "ratio": {"stage1-jacobian/micrograd": ratio of the medians, ...} (None without
                  micrograd; keys for stage1-jacobian / stage1-fused over micrograd /
                  micrograd-composed),
         "ratio_range": {same keys: [min, max] of the per-round ratios},
         "agreement": {row: max |w_stage1 - w_row| after one pass over the samples}}

    Rows: ``stage1-jacobian``, ``stage1-fused`` (the loops of ``network.py``),
    ``stage1-unrolled``, ``stage1-unrolled-fused`` (the unrolled program), ``micrograd``,
    ``micrograd-composed``.

    Small values (``seconds=0.05, repeats=2, samples=20``) make a smoke test.
    """
    sizes = list(sizes)
    if sizes[0] != 2 or sizes[-1] != 2:
        raise ValueError(f"the synthetic data need sizes [2, ..., 2], got {sizes}")
    X, c = _samples(samples, seed)
    weights = init_weights(sizes, random.Random(seed))
    rows, reference = _stage1_rows(weights, X, c, lr, seconds), sgd_train(weights, X, c, lr)
    result = {"sizes": sizes, "samples": samples, "seconds": seconds, "repeats": repeats,
              "lr": lr, "rows": {}, "ratio": {}, "ratio_range": {},
              "agreement": {"stage1-unrolled": _max_diff(sgd_train_unrolled(weights, X, c, lr),
                                                         reference)}}
    if Value is None:
        result["rows"]["micrograd"] = {"missing": "micrograd is not installed "
                                                  "(pip install micrograd)"}
    else:
        _add_micrograd_rows(rows, result, weights, X, c, lr, seconds, reference)
    _measure_rows(result, rows, repeats)
    return result


def _measure_rows(result: dict, rows: dict, repeats: int) -> None:
    """The rows' steps/s over ``repeats`` interleaved rounds, and the ratios to micrograd."""
    rates = _interleaved(rows, repeats)
    for name, rs in rates.items():
        result["rows"][name] = {"steps_per_s": statistics.median(rs), "min": min(rs),
                                "max": max(rs), "all": rs}
    _ratios(result, rates, rows)


def _interleaved(rows: dict, repeats: int) -> dict:
    """``{name: [steps/s per round]}``: every row once per round, ``repeats`` rounds."""
    rates = {name: [] for name in rows}
    for _ in range(repeats):
        for name, run in rows.items():
            rates[name].append(run())
    return rates


def _stage1_rows(weights, X, c, lr, seconds) -> dict:
    """``{name: () -> steps/s}`` of stage 1's four ways of training."""
    return {"stage1-jacobian": lambda: _rate_stage1(weights, X, c, lr, seconds, fused=False),
            "stage1-fused": lambda: _rate_stage1(weights, X, c, lr, seconds, fused=True),
            "stage1-unrolled": lambda: _rate_stage1(weights, X, c, lr, seconds,
                                                    train=sgd_train_unrolled),
            "stage1-unrolled-fused": lambda: _rate_stage1(
                weights, X, c, lr, seconds,
                train=lambda *a: sgd_train_unrolled(*a, fused=True))}


def _add_micrograd_rows(rows, result, weights, X, c, lr, seconds, reference) -> None:
    """micrograd's two rows, and how far one pass of each lands from stage 1's weights."""
    rows["micrograd"] = lambda: _rate_micrograd(weights, X, c, lr, seconds)
    rows["micrograd-composed"] = lambda: _rate_micrograd(weights, X, c, lr, seconds,
                                                         composed=True)
    for name, composed in (("micrograd", False), ("micrograd-composed", True)):
        net = MicrogradMLP(weights, composed=composed)
        for x, c_n in zip(X, c):
            net.step(x, c_n, lr)
        result["agreement"][name] = _max_diff(net.weights(result["sizes"]), reference)


def _ratios(result: dict, rates: dict, rows: dict) -> None:
    """Stage 1's rates over micrograd's: ratio of the medians and range of per-round ratios."""
    if "micrograd" not in rates:
        result["ratio"] = None
        return
    for name in [n for n in rows if not n.startswith("micrograd")]:
        for base in ("micrograd", "micrograd-composed"):
            key = f"{name}/{base}"
            result["ratio"][key] = (result["rows"][name]["steps_per_s"]
                                    / result["rows"][base]["steps_per_s"])
            per_round = [a / b for a, b in zip(rates[name], rates[base])]
            result["ratio_range"][key] = [min(per_round), max(per_round)]


def bench_mnist_size(samples: int = 2, sizes: tuple[int, ...] = (784, 300, 10),
                     seed: int = 0) -> dict:
    """Seconds per training step (forward, backward, update) of stage 1 at 784-300-10.

    Uses the first ``samples`` MNIST sample images when ``shared.data.load_mnist_sample`` is
    available, else random inputs in [0, 1) (the time does not depend on the values). Returns
    ``{"sizes", "samples", "data", "seconds_per_sample", "seconds_per_forward"}``.
    """
    sizes = list(sizes)
    rng = random.Random(seed)
    data = "random [0, 1) inputs"
    X = c = None
    try:
        from shared import data as shared_data

        if sizes[0] == 784 and hasattr(shared_data, "load_mnist_sample"):
            (xtr, ytr), _, _ = shared_data.load_mnist_sample()
            X = [[float(v) for v in row] for row in xtr[:samples]]
            c = [int(v) % sizes[-1] for v in ytr[:samples]]
            data = "MNIST sample (load_mnist_sample)"
    except Exception:  # no data files or no numpy: fall back to random inputs
        X = None
    if X is None:
        X = [[rng.random() for _ in range(sizes[0])] for _ in range(samples)]
        c = [rng.randrange(sizes[-1]) for _ in range(samples)]
    weights = init_weights(sizes, rng)
    from stage1_scalar.network import forward

    t0 = time.perf_counter()
    for x in X:
        forward(weights, x)
    t_fwd = (time.perf_counter() - t0) / samples
    t0 = time.perf_counter()
    sgd_train(weights, X, c, 0.01)
    t_step = (time.perf_counter() - t0) / samples
    return {"sizes": sizes, "samples": samples, "data": data,
            "seconds_per_sample": t_step, "seconds_per_forward": t_fwd}


def format_result(result: dict) -> str:
    lines = [f"per-sample SGD steps/s, network {result['sizes']}, {result['samples']} samples, "
             f"{result['repeats']} interleaved rounds of >= {result['seconds']} s each",
             f"  {'implementation':<22} {'median':>10} {'min':>10} {'max':>10}"]
    for name, row in result["rows"].items():
        if "missing" in row:
            lines.append(f"  {name:<22} {'missing: ' + row['missing']}")
        else:
            lines.append(f"  {name:<22} {row['steps_per_s']:>10.0f} {row['min']:>10.0f} "
                         f"{row['max']:>10.0f}")
    if result["ratio"]:
        for key, r in result["ratio"].items():
            lo, hi = result["ratio_range"][key]
            lines.append(f"  {key}: {r:.1f}x (per-round {lo:.1f}x .. {hi:.1f}x)")
    for name, d in result["agreement"].items():
        lines.append(f"  weights after one pass over the samples, stage 1 vs {name}: "
                     f"max |diff| {d:.2e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.speed.stage1",
        description="Per-sample SGD training steps per second of stage 1 (pure Python) against "
                    "micrograd on the same 2-3-2 network and samples, interleaved repeats.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.0, help="minimum time per measurement")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    p.add_argument("--samples", type=int, default=200, help="synthetic samples cycled over")
    p.add_argument("--hidden", type=int, nargs="+", default=[3], help="hidden layer sizes")
    p.add_argument("--mnist", action="store_true",
                   help="also time one training step at 784-300-10 (seconds per sample)")
    p.add_argument("--mnist-samples", type=int, default=3, help="samples for --mnist")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    for name in ("seconds", "repeats", "samples", "mnist_samples"):
        if not getattr(args, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    result = bench_vs_micrograd(seconds=args.seconds, repeats=args.repeats,
                                samples=args.samples, sizes=(2, *args.hidden, 2))
    print(format_result(result))
    out = {"vs_micrograd": result}
    if args.mnist:
        m = bench_mnist_size(samples=args.mnist_samples)
        out["mnist_size"] = m
        print(f"stage 1 at {m['sizes']} ({m['data']}, {m['samples']} samples): "
              f"{m['seconds_per_sample']:.3f} s per training step, "
              f"{m['seconds_per_forward']:.3f} s per forward pass")
    if args.json:
        from shared.records import atomic_write_json

        atomic_write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
