"""Process set-up shared by every entry point (CLI, workers, benchmarks, tests)."""

from __future__ import annotations

import ctypes
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


def blas_kernels() -> str:
    """The BLAS libraries loaded and the kernels they chose, e.g. ``"openblas Haswell"``.

    Results that go through BLAS round differently with different kernels (OpenBLAS picks
    them by CPU unless ``OPENBLAS_CORETYPE`` names them), so a printed figure names them.
    """
    from threadpoolctl import threadpool_info

    found = {f"{lib['internal_api']} {lib.get('architecture') or '?'}"
             for lib in threadpool_info() if lib["user_api"] == "blas"}
    return ", ".join(sorted(found)) or "none loaded"


def return_free_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``); False elsewhere.

    numpy's large temporaries (a refit's probabilities, a batch's distance matrix) are freed
    into glibc's heap, which keeps the pages: on the scale benchmark that slack grew by ~25 MB
    per 100,000 texts while the live state grew by ~10 MB. Workers call this periodically;
    it takes a few milliseconds.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False
