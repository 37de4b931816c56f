"""Process set-up shared by every entry point (CLI, workers, benchmarks, tests)."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Read by OpenBLAS, OpenMP (scikit-learn's k-means) and MKL when they are first loaded."""


def limit_blas_threads(n: int = 1) -> None:
    """Run BLAS and OpenMP single-threaded, in libraries loaded already and those loaded later.

    Our matrices are small (a batch of items by a few hundred dimensions) and the process
    shares two cores with Kafka and its peers; a multi-threaded BLAS then spins and was
    measured 10-70x slower here than one thread, and scikit-learn's OpenMP k-means 50x
    (18 ms against 0.34 ms to assign 512 items to 64 clusters; see benchmarks/README.md).

    ``threadpoolctl`` only reaches libraries already loaded, and entry points call this before
    numpy is imported, so the limit is also put in the environment, where each library reads it
    when it loads (values already set are kept). MiniLM sets torch's own thread count itself.
    """
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(n))
    threadpool_limits(limits=n, user_api="blas")
    threadpool_limits(limits=n, user_api="openmp")

