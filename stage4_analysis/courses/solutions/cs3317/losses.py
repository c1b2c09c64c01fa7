"""CrossEntropyLoss of the CS3317 coursework-3 MLP: softmax and cross-entropy on logits.

``forward(logits, labels)``: logits (N, K), integer labels (N,) -> the mean cross-entropy over
the batch; ``backward()`` -> dL/dlogits (N, K) = (softmax(logits) - onehot(labels)) / N.
"""

import numpy as np


def softmax(logits):
    """Row-wise softmax (N, K), stable: the row maximum is subtracted first."""
    # BEGIN SOLUTION: exp of logits minus the row max, divided by the row sum
    E = np.exp(logits - logits.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
    # END SOLUTION


class CrossEntropyLoss:
    """L = -(1/N) sum_n log softmax(logits)[n, labels[n]]."""

    def forward(self, logits, labels):
        """The mean cross-entropy (a float); cache what backward needs."""
        # BEGIN SOLUTION: softmax probabilities, mean of -log p at the labels; cache p and labels
        self.probs = softmax(logits)
        self.labels = labels
        N = len(labels)
        return float(-np.mean(np.log(self.probs[np.arange(N), labels])))
        # END SOLUTION

    def backward(self):
        """dL/dlogits (N, K) = (softmax - onehot(labels)) / N."""
        # BEGIN SOLUTION: probs minus one at each label, divided by N
        N = len(self.labels)
        grad = self.probs.copy()
        grad[np.arange(N), self.labels] -= 1.0
        return grad / N
        # END SOLUTION
