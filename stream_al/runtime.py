"""Process set-up shared by every entry point (CLI, workers, benchmarks, tests)."""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

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


PINNED_KERNELS = "Haswell"
"""The OpenBLAS kernels figures are pinned to on x86-64 machines with AVX2 and FMA (as
``deploy/demo.sh`` does): the same seed then gives the same figures on such machines, whatever
kernels OpenBLAS would pick for their CPU (SkylakeX on AVX-512 machines rounds differently,
and an active-learning run, whose every purchase depends on the last, then diverges)."""


def pinned_blas_env(environ: Mapping[str, str], machine: str, cpuinfo: str) -> dict[str, str] | None:
    """The environment to run a process in so that its BLAS kernels are pinned, or None when
    nothing needs to change (already named, or a machine other than x86-64 with AVX2 and FMA).

    >>> pinned_blas_env({}, "x86_64", "flags : fpu avx2 fma")["OPENBLAS_CORETYPE"]
    'Haswell'
    >>> pinned_blas_env({"OPENBLAS_CORETYPE": "Zen"}, "x86_64", "flags : avx2 fma") is None
    True
    >>> pinned_blas_env({}, "aarch64", "Features : fp asimd") is None
    True
    """
    flags = set(cpuinfo.split())
    if "OPENBLAS_CORETYPE" in environ or machine != "x86_64" or not {"avx2", "fma"} <= flags:
        return None
    return {**environ, "OPENBLAS_CORETYPE": PINNED_KERNELS}


def run_with_pinned_blas(module: str) -> None:
    """Run ``python -m module`` again, with this process's arguments, with its BLAS kernels
    pinned (:func:`pinned_blas_env`), unless they are already: a benchmark's stored rows then
    reproduce on any such machine. OpenBLAS reads the variable only when it loads, so the
    process is replaced (``os.execve``); call it first in a command-line ``main``."""
    env = _pinned_here()
    if env is not None:
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)


def pin_blas_before_numpy() -> None:
    """Pin this process's BLAS kernels (:func:`pinned_blas_env`) in place: for a process that
    has not loaded numpy yet (the test suite's conftest; the workers it starts inherit the
    variable). Raises if numpy is loaded already, since OpenBLAS would not see the variable."""
    env = _pinned_here()
    if env is None:
        return
    if "numpy" in sys.modules:
        raise RuntimeError("numpy was loaded before the BLAS kernels could be pinned; set "
                           f"OPENBLAS_CORETYPE={PINNED_KERNELS} in the environment")
    os.environ["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"]


def _pinned_here() -> dict[str, str] | None:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return pinned_blas_env(os.environ, platform.machine(), cpuinfo)


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


def settle_heap() -> int:
    """Collect every garbage cycle, then exempt the objects alive now from Python's cyclic
    collector (``gc.freeze``); returns how many are exempt.

    A coordinator holds a large long-lived state (its label store, texts, indexes, model) that
    every full collection rescans: ~80 ms for the ~160,000 objects of one that bought 10,000
    items (benchmarks/README.md, issue 17, session 22), and the young collections that follow
    its (re)building rescan what it just made. Call this where that state was just built (the
    coordinator shell after a rebuild and after writing a checkpoint; the benchmarks' drivers
    after building theirs), never per record. The objects exempted last time are first taken
    back (``gc.unfreeze``), so a cycle among them that became garbage since is collected
    here: memory stays bounded by what is alive at a call and what became garbage since the
    last one (frozen objects are still freed by reference counting, as any).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
