"""Test-suite settings shared by every test file.

BLAS threads: the suite runs on small machines (2 cores in CI) with several numpy-heavy tests and
worker processes at once; OpenBLAS threads that spin while waiting then slow tiny matrix products
down by one to two orders of magnitude. One BLAS thread per process keeps the suite fast and its
time predictable. This must happen before numpy is first imported, hence at the top of conftest.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
