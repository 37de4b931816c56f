"""Fixtures shared by the whole suite; each concern lives in its own module under ``fixtures/``.

The BLAS kernels are pinned first, as ``make demo`` and the benchmarks pin them: products round
differently under other kernels (a row multiplied alone or in a batch, ``A @ B.T`` or ``(B @
A.T).T``), and the digests of whole runs the suite checks (tests/loop/test_restore_bulk.py) are
those of the pinned kernels, the same on every x86-64 machine with AVX2 and FMA."""

from stream_al.runtime import pin_blas_before_numpy

pin_blas_before_numpy()

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.kafka_cluster",
    "tests.fixtures.secure_kafka",
    "tests.fixtures.prometheus",
    "tests.fixtures.settings",
    "tests.fixtures.worker_logs",
]
