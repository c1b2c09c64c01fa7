"""The experiments, one module each, in report order (:data:`ORDER`).

Adding one is one file, ``experiments/<name>.py``, plus its name in :data:`ORDER` (see the
README's example). A module listed here that is missing or fails to import stops the command with
a one-line error naming it; so does a module in this folder that defines ``plan`` but is not
listed. :mod:`.vu` and :mod:`.cs3317` are not experiments: they hold the settings their hand-out's
experiments share.
"""

ORDER = [
    # the VU hand-out: the MNIST network 784-300 (sigmoid)-10
    "learning_curve",
    "train_val",
    "seeds",
    "lr_study",
    "final",
    # the CS3317 coursework: sweeps around the stage-3 defaults
    "sweeps",
    "best_config",
    "logreg",
    "pytorch",
    # the other hand-outs
    "disc",
    "digits",
    "autoencoder",
    "iris",
    "jacobian",
]
