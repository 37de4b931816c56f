"""The learner's search for ``l2`` in a process of its own, beside the coordinator's.

A search (``stream_al/learn/regularisation.py``: 5 folds x 11 penalties on up to 1,000 labelled
rows, again each time the labels grow 1.5 times) costs seconds of CPU on a few thousand labels,
and in the refit it held the coordinator's lock all that time: control records waited, and a
py-spy profile put a third of the worker holding ``control`` in it (benchmarks/README.md, issue
17). With ``learner.search_process`` the coordinator's refit only asks for the search
(:meth:`~stream_al.loop.coordinator.Coordinator.take_search`: the rows, labels and weights it
needs), the shell sends it here, and the choice is applied when it comes back (the next refit,
a new model version); the model keeps learning and serving at the previous penalty meanwhile.
The first search of a learner still runs in its refit (until one has chosen, the penalty is
only the prior: at a stream's start it costs milliseconds). A learner rebuilt after a restart
has had its searches: the last model published holds the search's state (its penalty, the labels
at its last search), so the rebuilt learner serves at that penalty and its next search comes
here when the labels have grown ``learner.cv_growth`` times, as without the restart. Only from a
model published before that state was kept does its first refit search in place (a search on
1,000 rows of Banking77 held the coordinator 9.4 s: benchmarks/README.md, issue 16/17, "the
learner's penalty through a rebuild").

The process is spawned at the first search apart (numpy and scipy in it: ~0.5 s once, and its
own memory) and kept; one search runs at a time. A search that fails (an exception in it, the
process killed) leaves the penalty as it was and the next search due when the labels grew by
``learner.cv_growth``; :meth:`SearchProcess.close` ends the process even mid-search.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from stream_al.learn.regularisation import SearchResult, SearchTask, run_search
from stream_al.runtime import limit_blas_threads

CLOSE_WAIT_S = 5.0
"""How long :meth:`SearchProcess.close` waits for the terminated process to exit."""


class SearchProcess:
    """Runs searches (:func:`~stream_al.learn.regularisation.run_search`) in one spawned
    process, started when the first one comes; a broken process is replaced at the next."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    @property
    def running(self) -> bool:
        """A process is up (one search ran or runs)."""
        return self._pool is not None

    async def run(self, task: SearchTask) -> SearchResult:
        """``task``'s result, from the process; raises what the search raised, or
        ``BrokenProcessPool`` if the process died (the next call starts a new one)."""
        pool = self._pool or self._start()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, run_search, task)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
            raise

    def _start(self) -> ProcessPoolExecutor:
        # spawned, not forked: the worker has threads (Kafka clients, executors) that a fork
        # would copy mid-state; BLAS single-threaded in it, as in the worker
        self._pool = ProcessPoolExecutor(max_workers=1,
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=limit_blas_threads)
        return self._pool

    def pids(self) -> list[int]:
        """The process's id (none before the first search)."""
        return [] if self._pool is None else list(getattr(self._pool, "_processes", None) or {})

    def close(self) -> None:
        """End the process now, a search in it or not (its caller gets ``BrokenProcessPool``
        or a cancellation)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()
        for p in processes:
            p.join(CLOSE_WAIT_S)
