"""Data loading (provided): ``load(name, seed)`` returns ``(X_train (N, D), c_train (N,)),
(X_val, c_val), number of classes`` with integer labels; Iris by default (120 train / 30
validation flowers, 4 standardised measurements, 3 classes).

It uses mlp-ladder's ``shared.data.load_dataset`` (Iris ships with mlp-ladder, no download), so
mlp-ladder must be installed (``pip install -e PATH_TO_MLP_LADDER``). Without it, load the
arrays yourself in this shape.
"""


def load(name="iris", seed=0):
    try:
        from shared.data import load_dataset
    except ImportError:
        raise SystemExit("data.py loads the data with mlp-ladder's shared.data: install "
                         "mlp-ladder (pip install -e PATH_TO_MLP_LADDER) or load the arrays "
                         "yourself") from None
    return load_dataset(name, seed=seed)
