"""What every stage needs and no stage owns: data sets, the weight format, plotting, run records.

Importing ``shared`` imports nothing heavy: stage 1 (pure Python) uses :mod:`shared.weights` and
:mod:`shared.records` without numpy. ``shared.data`` needs numpy; import it where data is loaded.
"""
