"""Confusion matrix, per-class accuracy and worst mistakes (shared/evaluation.py), and the
stage-3 helper that evaluates a trained model."""

import numpy as np
from numpy.testing import assert_allclose

from shared.evaluation import (
    class_names,
    confusion_matrix,
    evaluate_predictions,
    from_dict,
    plot_confusion,
    plot_mistakes,
)
from shared.plotting import save_figure
from stage3_batched import MLP
from stage3_batched.trainer import evaluate_classes


def probabilities():
    """Five samples, three classes: two wrong (sample 1 at 0.7, sample 4 at 0.9)."""
    Y = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.6, 0.2],
                  [0.05, 0.9, 0.05]])
    return Y, np.array([0, 1, 2, 1, 2])


def test_confusion_counts_rows_true_columns_predicted():
    counts = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), 3)
    assert counts.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]


def test_evaluation_numbers():
    Y, c = probabilities()
    ev = evaluate_predictions(Y, c, ("a", "b", "c"), split="test")
    assert_allclose(ev.accuracy, 3 / 5, rtol=0, atol=1e-15)
    assert_allclose(ev.per_class, [1.0, 0.5, 0.5], rtol=0, atol=1e-15)
    assert_allclose(ev.normalised.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert ev.mistakes.tolist() == [4, 1]                      # most confident first
    assert_allclose(ev.mistake_prob, [0.9, 0.7], rtol=0, atol=1e-15)
    assert ev.most_confused()[2] == 1
    back = from_dict(ev.to_dict())
    assert (back.counts == ev.counts).all() and back.names == ev.names
    assert "weakest class b (50.0 %)" in ev.summary()


def test_class_names():
    assert class_names("fashion-mnist", 10)[6] == "Shirt"
    assert class_names("mnist-sample", 10)[3] == "3"
    assert class_names("iris", 3) == ("setosa", "versicolor", "virginica")
    assert class_names("synth", 2) == ("class 0", "class 1")


def test_figures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((5, 784))
    Y, c = probabilities()
    ev = evaluate_predictions(Y, c, ("a", "b", "c"))
    assert save_figure(plot_confusion(ev, "t"), tmp_path / "confusion.png").stat().st_size > 0
    assert save_figure(plot_mistakes(ev, images, Y, c), tmp_path / "mistakes.png").exists()


def test_evaluate_classes_agrees_with_predict():
    rng = np.random.default_rng(1)
    model = MLP(4, [5], 3, "tanh", rng=rng)
    X, c = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    ev, Y = evaluate_classes(model, X, c, split="validation", batch_size=7)
    assert_allclose(Y.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert ev.counts.sum() == 40
    assert_allclose(ev.accuracy, np.mean(model.predict(X) == c), rtol=0, atol=1e-15)
