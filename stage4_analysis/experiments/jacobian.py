"""Experiment 12 — the softmax Jacobian, shown (ECE421 hand-out, question 1.1.3.a): a teaching aid.

For one logit vector x (K,), the Jacobian of y = softmax(x) is the (K, K) matrix
J[i, j] = dy_i / dx_j = y_i (delta_ij - y_j), i.e. J = diag(y) - y y^T. It is computed three ways:

1. from stage 3's ``Softmax`` layer: forward x as a batch of one, then ``backward(e_i)`` for each
   unit vector e_i. Backward returns dX = J^T dY, so ``backward(e_i)`` is row i of J;
2. central finite differences of the layer's forward: column j = (y(x + h e_j) - y(x - h e_j)) / 2h;
3. the closed form diag(y) - y y^T.

It also shows the chain that makes the fused loss cheap: Softmax layer + ``CrossEntropy`` on the
probabilities, backward for target class c, gives dl/dx = y - onehot(c).

    python -m stage4_analysis.experiments.jacobian               # prints for the logits 1 2 0.5
    python -m stage4_analysis.experiments.jacobian --logits 3 -1 0 2
    python -m stage4_analysis.experiments.jacobian --report      # this section of the report

In the reproduction it is one cheap "run" (no training) whose record holds the three matrices;
the figure and the report section are drawn from it. Leaves out: batches (the layer handles N
rows at once; the Jacobian of one row does not depend on the others).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ..report import md_table
from ..runs import Context, Run

NAME = "jacobian"
TITLE = "12. The softmax Jacobian: layer backward vs finite differences vs closed form"


LOGITS = (1.0, 2.0, 0.5)
EPS = 1e-5          # finite-difference step h
TARGET = 0          # class of the cross-entropy chain example


def check_logits(logits) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"need a vector of at least 2 logits, got {np.ravel(x).tolist()}")
    if not np.isfinite(x).all():
        raise ValueError(f"logits must be finite numbers, got {x.tolist()}")
    return x


def jacobian_from_layer(x) -> np.ndarray:
    """J (K, K) from the Softmax layer: row i = backward(e_i) after forward(x)."""
    from stage3_batched import Softmax

    x = check_logits(x)
    layer = Softmax()
    layer.forward(x[None, :])
    eye = np.eye(x.size)
    return np.stack([layer.backward(eye[i][None, :])[0] for i in range(x.size)])


def jacobian_finite_differences(x, eps: float = EPS) -> np.ndarray:
    """J (K, K) by central differences of the Softmax layer's forward."""
    from stage3_batched import Softmax

    x = check_logits(x)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"the finite-difference step must be > 0, got {eps}")
    layer = Softmax()
    J = np.empty((x.size, x.size))
    for j in range(x.size):
        d = np.zeros(x.size)
        d[j] = eps
        J[:, j] = (layer.forward((x + d)[None, :])[0] - layer.forward((x - d)[None, :])[0]) \
            / (2 * eps)
    return J


def jacobian_closed_form(x) -> np.ndarray:
    """diag(y) - y y^T with y = softmax(x)."""
    from stage3_batched import softmax

    y = softmax(check_logits(x)[None, :])[0]
    return np.diag(y) - np.outer(y, y)


def cross_entropy_chain(x, target: int) -> tuple[np.ndarray, np.ndarray]:
    """(dl/dx through Softmax layer + CrossEntropy backward, y - onehot(target))."""
    from stage3_batched import CrossEntropy, Softmax

    x = check_logits(x)
    if not 0 <= target < x.size:
        raise ValueError(f"target class must be in 0..{x.size - 1}, got {target}")
    layer, loss = Softmax(), CrossEntropy()
    y = layer.forward(x[None, :])
    loss.forward(y, np.array([target]))
    dx = layer.backward(loss.backward())[0]
    return dx, y[0] - np.eye(x.size)[target]


def compute(logits, eps: float = EPS, target: int = TARGET) -> dict:
    x = check_logits(logits)
    from stage3_batched import softmax

    J, F, C = jacobian_from_layer(x), jacobian_finite_differences(x, eps), jacobian_closed_form(x)
    chain, expected = cross_entropy_chain(x, target)
    return {"logits": x.tolist(), "y": softmax(x[None, :])[0].tolist(), "eps": eps,
            "layer": J.tolist(), "finite_differences": F.tolist(), "closed_form": C.tolist(),
            "max_abs_layer_vs_fd": float(np.abs(J - F).max()),
            "max_abs_layer_vs_closed": float(np.abs(J - C).max()),
            "row_sums_max_abs": float(np.abs(J.sum(axis=1)).max()),
            "target": int(target), "chain_dx": chain.tolist(), "y_minus_onehot": expected.tolist(),
            "max_abs_chain": float(np.abs(chain - expected).max())}


def plan(ctx: Context):
    cfg = {"experiment": NAME, "logits": list(LOGITS), "eps": EPS,
           "target": TARGET}
    return [Run(cfg, execute, label=f"logits {list(LOGITS)}")]


def execute(config: dict) -> dict:
    return {"metrics": compute(config["logits"], config["eps"], config["target"])}


# ----------------------------------------------------------------------------- output
def plot(records, fig_dir, ctx):
    from shared.plotting import new_figure, save_figure

    r = next((r for r in records if r.get("status") == "ok"), None)
    if r is None:
        return []
    m = r["metrics"]
    mats = [("Softmax layer: row i = backward(e_i)", np.array(m["layer"])),
            ("central finite differences", np.array(m["finite_differences"])),
            ("closed form diag(y) − y yᵀ", np.array(m["closed_form"]))]
    k = len(m["logits"])
    lim = max(np.abs(a).max() for _, a in mats)
    fig, axes = new_figure(ncols=4, width=3.6, height=3.4)
    for ax, (title, a) in zip(axes[0], mats):
        im = ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{a[i, j]:.3f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(k), [f"x{j + 1}" for j in range(k)])
        ax.set_yticks(range(k), [f"y{i + 1}" for i in range(k)])
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=list(axes[0, :3]), shrink=0.8, label="dy_i / dx_j")
    diff = np.abs(np.array(m["layer"]) - np.array(m["finite_differences"]))
    ax = axes[0, 3]
    im2 = ax.imshow(np.log10(np.maximum(diff, 1e-18)), cmap="viridis")
    ax.set_xticks(range(k), [f"x{j + 1}" for j in range(k)])
    ax.set_yticks(range(k), [f"y{i + 1}" for i in range(k)])
    ax.set_title(f"log10 |layer − finite differences|\nmax {m['max_abs_layer_vs_fd']:.1e}",
                 fontsize=9)
    fig.colorbar(im2, ax=ax, shrink=0.8)
    fig.suptitle(f"Softmax Jacobian at logits {m['logits']} (y = "
                 + ", ".join(f"{v:.3f}" for v in m["y"]) + ")", fontsize=11)
    return [save_figure(fig, fig_dir / "softmax_jacobian.png")]


def _matrix(a, digits: int = 6) -> str:
    k = len(a)
    return md_table([""] + [f"x{j + 1}" for j in range(k)],
                    [[f"**y{i + 1}**"] + [f"{v:.{digits}f}" for v in row]
                     for i, row in enumerate(a)])


def summarize(records, figures, ctx):
    r = next((r for r in records if r.get("status") == "ok"), None)
    if r is None:
        return "No result to show."
    m = r["metrics"]
    out = [f"Logits x = {m['logits']}, y = softmax(x) = ["
           + ", ".join(f"{v:.6f}" for v in m["y"]) + f"]; finite-difference step h = "
           f"{m['eps']:g}. J[i, j] = dy_i/dx_j.",
           "\n**From the Softmax layer** (forward x, then `backward(e_i)` gives row i):\n",
           _matrix(m["layer"]), "\n**Central finite differences:**\n",
           _matrix(m["finite_differences"]), "\n**Closed form** y_i (δ_ij − y_j):\n",
           _matrix(m["closed_form"]),
           f"\nMax |layer − finite differences| = {m['max_abs_layer_vs_fd']:.2e} (a central "
           f"difference's error: truncation O(h²) plus rounding O(machine epsilon / h)); "
           f"max |layer − closed form| = {m['max_abs_layer_vs_closed']:.2e} (rounding only). "
           f"Every row sums to 0 (max |row sum| {m['row_sums_max_abs']:.1e}): adding the same "
           "number to every logit does not change the softmax. J is symmetric, so the layer's "
           "backward J^T dy is also J dy.",
           f"\nThrough Softmax + CrossEntropy with target class {m['target']}: dl/dx = ["
           + ", ".join(f"{v:.6f}" for v in m["chain_dx"]) + "] = y − onehot = ["
           + ", ".join(f"{v:.6f}" for v in m["y_minus_onehot"])
           + f"] (max difference {m['max_abs_chain']:.1e}) — why the fused "
           "`SoftmaxCrossEntropy` never forms J."]
    return "\n".join(out)


def format_text(res: dict) -> str:
    """The printed form of :func:`compute`'s result."""
    def mat(a):
        return "\n".join("  " + "  ".join(f"{v:+.6f}" for v in row) for row in a)

    lines = [f"logits x        = {res['logits']}",
             "softmax y       = [" + ", ".join(f"{v:.6f}" for v in res["y"]) + "]",
             "", "J from the Softmax layer (row i = backward(e_i)):", mat(res["layer"]),
             "", f"J by central finite differences (h = {res['eps']:g}):",
             mat(res["finite_differences"]),
             "", "J closed form, y_i (delta_ij - y_j):", mat(res["closed_form"]), "",
             f"max |layer - finite differences| = {res['max_abs_layer_vs_fd']:.3e}",
             f"max |layer - closed form|        = {res['max_abs_layer_vs_closed']:.3e}",
             f"max |row sum| of J               = {res['row_sums_max_abs']:.3e}",
             "", f"Softmax + CrossEntropy, target class {res['target']}:",
             "  dl/dx          = [" + ", ".join(f"{v:+.6f}" for v in res["chain_dx"]) + "]",
             "  y - onehot     = [" + ", ".join(f"{v:+.6f}" for v in res["y_minus_onehot"])
             + "]",
             f"  max difference = {res['max_abs_chain']:.3e}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--report" in argv:          # this experiment's section, through the common CLI
        from ..cli import main as cli_main

        argv.remove("--report")
        return cli_main(argv, only=[NAME])
    p = argparse.ArgumentParser(
        prog="python -m stage4_analysis.experiments.jacobian",
        description="Print the Jacobian of the softmax at a logit vector, computed from stage "
        "3's Softmax layer (backward of each unit vector), by central finite differences and in "
        "closed form, with their largest differences. '--report [--out DIR ...]' writes this "
        "experiment's report section instead (the options of python -m stage4_analysis).")
    p.add_argument("--logits", type=float, nargs="+", default=list(LOGITS), metavar="X",
                   help="the logit vector (at least 2 numbers; default "
                   f"{' '.join(map(str, LOGITS))})")
    p.add_argument("--eps", type=float, default=EPS,
                   help=f"finite-difference step h (default {EPS:g})")
    p.add_argument("--target", type=int, default=TARGET,
                   help=f"class for the cross-entropy chain example (default {TARGET})")
    args = p.parse_args(argv)
    try:
        res = compute(args.logits, args.eps, args.target)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_text(res))
    return 0


if __name__ == "__main__":
    from shared.errors import run_main

    raise SystemExit(run_main(main))
