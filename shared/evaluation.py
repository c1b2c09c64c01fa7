"""What a trained classifier gets wrong: confusion matrix, per-class accuracy, worst mistakes.

Every stage evaluates a classification run through this module, from the predicted
probabilities ``Y (N, K)`` and the true labels ``c (N,)``: :func:`evaluate_predictions` returns an
:class:`Evaluation` with the confusion matrix ``counts (K, K)`` (row = true class, column =
predicted class), its row-normalised form, the accuracy of each class, the most confused pair of
classes and the most confidently wrong samples; :func:`plot_confusion` and :func:`plot_mistakes`
draw ``confusion.png`` and ``mistakes.png``; :meth:`Evaluation.to_dict` is what a run record keeps.
:func:`class_names` gives the names of the shipped data sets' classes.

Leaves out: precision / recall / F1 (per-class accuracy is the recall; the matrix has the rest),
calibration curves, non-image galleries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
MISTAKES_SHOWN = 16


def class_names(dataset: str | None, num_classes: int) -> tuple[str, ...]:
    """The names of the ``num_classes`` classes of ``dataset`` (Fashion-MNIST's garments, the
    digits 0-9, Iris' species), else ``"class 0" ...``."""
    from shared.data import IRIS_CLASSES

    named = {"fashion-mnist": FASHION_CLASSES, "mnist": tuple("0123456789"),
             "mnist-sample": tuple("0123456789"), "iris": IRIS_CLASSES}
    names = named.get(dataset or "")
    if names is not None and len(names) == num_classes:
        return tuple(names)
    return tuple(f"class {i}" for i in range(num_classes))


def confusion_matrix(c: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``counts (K, K)`` int64: ``counts[i, j]`` samples of true class i predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(c, int), np.asarray(predicted, int)), 1)
    return counts


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row of ``counts (K, K)`` divided by its sum (a row with no samples stays 0)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


@dataclass
class Evaluation:
    """The evaluation of one classifier on one split.

    ``counts (K, K)``: the confusion matrix (rows true, columns predicted); ``names``: K class
    names; ``split``: which data it was measured on ("test", "validation"); ``mistakes``: indices
    (M,) of the wrongly classified samples, most confident first, with ``mistake_prob`` (M,) the
    probability given to the wrong class.
    """

    counts: np.ndarray
    names: tuple
    split: str
    mistakes: np.ndarray
    mistake_prob: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.counts) / max(self.counts.sum(), 1))

    @property
    def normalised(self) -> np.ndarray:
        return row_normalised(self.counts)

    @property
    def per_class(self) -> np.ndarray:
        """Accuracy of each true class (K,) (NaN for a class with no samples)."""
        totals = self.counts.sum(axis=1)
        return np.where(totals > 0, np.diag(self.counts) / np.maximum(totals, 1), np.nan)

    def most_confused(self) -> tuple[str, str, int]:
        """``(true name, predicted name, count)`` of the largest off-diagonal cell."""
        off = self.counts - np.diag(np.diag(self.counts))
        i, j = np.unravel_index(int(np.argmax(off)), off.shape)
        return self.names[i], self.names[j], int(off[i, j])

    def summary(self) -> str:
        """One line: accuracy, the weakest class and the most confused pair."""
        per = self.per_class
        worst = int(np.nanargmin(per))
        true, pred, n = self.most_confused()
        return (f"{self.split} accuracy {100 * self.accuracy:.2f} %; weakest class "
                f"{self.names[worst]} ({100 * per[worst]:.1f} %); most confused: {true} taken "
                f"for {pred} {n} times")

    def table(self) -> str:
        """Per-class accuracy, one line per class."""
        width = max(len(n) for n in self.names)
        return "\n".join(f"  {n:>{width}}  {100 * a:6.2f} %  ({int(t)} samples)"
                         for n, a, t in zip(self.names, self.per_class, self.counts.sum(1)))

    def to_dict(self) -> dict:
        true, pred, n = self.most_confused()
        return {"split": self.split, "classes": list(self.names),
                "confusion": self.counts.tolist(), "accuracy": self.accuracy,
                "per_class_accuracy": [None if np.isnan(a) else float(a) for a in self.per_class],
                "most_confused": {"true": true, "predicted": pred, "count": n},
                "worst_mistakes": [int(i) for i in self.mistakes[:MISTAKES_SHOWN]]}

    def __repr__(self) -> str:
        return f"Evaluation({self.summary()})"


def evaluate_predictions(Y: np.ndarray, c: np.ndarray, names=None, split: str = "test"
                         ) -> Evaluation:
    """:class:`Evaluation` of probabilities ``Y (N, K)`` against labels ``c (N,)``. ``names``:
    the K class names (default "class i")."""
    Y, c = np.asarray(Y, float), np.asarray(c, int)
    K = Y.shape[1]
    predicted = np.argmax(Y, axis=1)
    wrong = np.flatnonzero(predicted != c)
    prob = Y[wrong, predicted[wrong]]
    order = np.argsort(-prob, kind="stable")
    names = tuple(names) if names is not None else class_names(None, K)
    return Evaluation(confusion_matrix(c, predicted, K), names, split, wrong[order], prob[order])


def from_dict(d: dict) -> Evaluation:
    """The :class:`Evaluation` a record kept (:meth:`Evaluation.to_dict`; mistakes: the shown
    ones, their probabilities not kept)."""
    idx = np.array(d.get("worst_mistakes", []), int)
    return Evaluation(np.array(d["confusion"], np.int64), tuple(d["classes"]), d["split"], idx,
                      np.full(len(idx), np.nan))


def plot_confusion(ev: Evaluation, title: str = ""):
    """The confusion matrix as counts and row-normalised (%) side by side; returns the figure."""
    from shared.plotting import new_figure

    K = len(ev.names)
    size = max(4.0, 0.45 * K + 2.5)
    fig, axes = new_figure(ncols=2, width=size, height=size * 0.9)
    for ax, values, what in ((axes[0][0], ev.counts, "counts"),
                             (axes[0][1], 100 * ev.normalised, "% of the true class")):
        ax.imshow(values, cmap="Blues")
        for (i, j), v in np.ndenumerate(values):
            text = f"{v:d}" if what == "counts" else f"{v:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if K > 5 else 9,
                    color="white" if v > 0.6 * values.max() else "black")
        ax.set_xticks(range(K), ev.names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(K), ev.names, fontsize=8)
        ax.set(xlabel="predicted class", ylabel="true class", title=what)
    true, pred, n = ev.most_confused()
    fig.suptitle(f"{title}{' - ' if title else ''}{ev.split} split, accuracy "
                 f"{100 * ev.accuracy:.2f} %; most confused: {true} as {pred} ({n})")
    fig.tight_layout()
    return fig


def plot_mistakes(ev: Evaluation, images: np.ndarray, Y: np.ndarray, c: np.ndarray,
                  title: str = "", n: int = MISTAKES_SHOWN):
    """The ``n`` most confidently wrong images (``images (N, 784)`` or ``(N, 28, 28)``, ``Y (N,
    K)`` the probabilities, ``c (N,)`` the labels), each titled true / predicted / probability;
    returns the figure."""
    from shared.plotting import new_figure

    idx = ev.mistakes[:n]
    cols = 8 if len(idx) > 4 else max(len(idx), 1)
    rows = max(1, -(-len(idx) // cols))
    fig, axes = new_figure(ncols=cols, nrows=rows, width=1.5, height=2.1)
    for ax in axes.flat:
        ax.axis("off")
    side = int(round(np.sqrt(np.asarray(images[0]).size)))
    for ax, i in zip(axes.flat, idx):
        ax.imshow(np.asarray(images[i]).reshape(side, side), cmap="gray_r")
        p = int(np.argmax(Y[i]))
        ax.set_title(f"true {ev.names[int(c[i])]}\npred {ev.names[p]}\np = {Y[i, p]:.3f}",
                     fontsize=7)
    wrong = int(ev.counts.sum() - np.trace(ev.counts))
    fig.suptitle(f"{title}{' - ' if title else ''}the {len(idx)} most confidently wrong of "
                 f"{wrong} {ev.split} images", fontsize=9)
    fig.tight_layout()
    return fig
