"""Data loading (provided): ``load(name, seed)`` returns ``(X_train (N, 784), c_train (N,)),
(X_val, c_val), number of classes`` with pixels in [0, 1] and integer labels.

It uses mlp-ladder's ``shared.data.load_dataset`` (Fashion-MNIST is downloaded on first use; the
MNIST sample "mnist-sample" ships with mlp-ladder and needs no download), so mlp-ladder must be
installed (``pip install -e PATH_TO_MLP_LADDER``). Without it, load the arrays yourself in this
shape.
"""


def load(name="fashion-mnist", seed=0):
    try:
        from shared.data import load_dataset
    except ImportError:
        raise SystemExit("data.py loads the data with mlp-ladder's shared.data: install "
                         "mlp-ladder (pip install -e PATH_TO_MLP_LADDER) or load the arrays "
                         "yourself") from None
    return load_dataset(name, seed=seed)
