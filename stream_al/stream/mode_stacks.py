"""A worker that was paused must not crash printing its own stack (mode-streaming 0.7.1).

When a rebalance's revocation outlasts 95% of the session timeout, faust's flight recorder
prints the stack of every task (``mode.utils.logging.flight_recorder``). mode walks each task's
chain of awaits (``Traceback.from_coroutine``) and knows the ``async_generator_asend`` link
that an ``async for`` awaits, but not ``async_generator_athrow``, which ``aclose()`` (and an
exception thrown into an async generator) awaits: it raises ``AttributeError("WHAT IS THIS?
...")`` and the worker crashes. A coordinator paused past its session (a long GC pause, a
frozen VM; ``tests/reliability/test_fencing.py`` stops it with SIGSTOP) is fenced as it should
be, but then died on resuming when its agent was closing the stream it read. Here that link
is shown truncated, as mode shows ``async_generator_asend``.
"""

from __future__ import annotations

from typing import Any

UNWALKABLE = ("async_generator_asend", "async_generator_athrow")
"""Awaitables in a task's chain that have no frame of their own to show."""


def tolerate_async_generator_links() -> None:
    """Make mode's task stacks end at an async generator's ``athrow`` as at its ``asend``
    (idempotent; a mode that already knows it is left alone)."""
    from mode.utils import tracebacks

    cls = tracebacks.Traceback
    if getattr(cls.from_coroutine, "_stream_al_tolerant", False):
        return
    walk = cls.from_coroutine.__func__

    def from_coroutine(klass: Any, coro: Any, **kwargs: Any) -> Any:
        if type(coro).__name__ in UNWALKABLE:
            return tracebacks._Truncated(filename=type(coro).__name__)
        return walk(klass, coro, **kwargs)

    from_coroutine._stream_al_tolerant = True  # type: ignore[attr-defined]
    cls.from_coroutine = classmethod(from_coroutine)  # type: ignore[method-assign]
