"""Scalar backpropagation for the VU deep-learning assignment: the 2-3-2 network one number at a
time, in plain Python (lists and math, no numpy).

x (D inputs), W[i][j] input i -> hidden j (D x H), b (H), V[j][m] hidden j -> output m (H x K),
c (K): k_j = sum_i x_i W_ij + b_j, h_j = sigmoid(k_j), o_m = sum_j h_j V_jm + c_m,
y = softmax(o), loss = -log y_target.
"""

import math


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def forward(x, W, b, V, c):
    """The softmax probabilities y (K) of one sample x."""
    # BEGIN SOLUTION: k, h = sigmoid(k), o, then the softmax of o
    k = [sum(x[i] * W[i][j] for i in range(len(x))) + b[j] for j in range(len(b))]
    h = [sigmoid(v) for v in k]
    o = [sum(h[j] * V[j][m] for j in range(len(h))) + c[m] for m in range(len(c))]
    top = max(o)
    e = [math.exp(v - top) for v in o]
    return [v / sum(e) for v in e]
    # END SOLUTION


def backward(x, target, W, b, V, c):
    """Loss and gradients of one sample with class ``target``: (loss, dW, db, dV, dc), shaped
    like W, b, V, c."""
    # BEGIN SOLUTION: forward, then do = y - onehot, dV, dc, dh, dk = dh h (1 - h), dW, db
    k = [sum(x[i] * W[i][j] for i in range(len(x))) + b[j] for j in range(len(b))]
    h = [sigmoid(v) for v in k]
    y = forward(x, W, b, V, c)
    loss = -math.log(y[target])
    do = [y[m] - (1.0 if m == target else 0.0) for m in range(len(c))]
    dV = [[h[j] * do[m] for m in range(len(c))] for j in range(len(h))]
    dc = list(do)
    dh = [sum(V[j][m] * do[m] for m in range(len(c))) for j in range(len(h))]
    dk = [dh[j] * h[j] * (1.0 - h[j]) for j in range(len(h))]
    dW = [[x[i] * dk[j] for j in range(len(h))] for i in range(len(x))]
    db = list(dk)
    return loss, dW, db, dV, dc
    # END SOLUTION
