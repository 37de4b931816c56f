"""Process set-up shared by every entry point (CLI, workers, benchmarks, tests)."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads(n: int = 1) -> None:
    """Run BLAS single-threaded.

    Our matrices are small (a batch of items by a few hundred dimensions) and the process
    shares two cores with Kafka and its peers; a multi-threaded BLAS then spins and was
    measured 10-70x slower here than one thread (see benchmarks/README.md).
    """
    threadpool_limits(limits=n, user_api="blas")
