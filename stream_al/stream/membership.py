"""Whether the consumer group still counts this worker a member, read from its aiokafka consumer.

aiokafka resets the generation of its group membership to
``OffsetCommitRequest.DEFAULT_GENERATION_ID`` (-1) when the group's coordinator answers a
heartbeat, an offset commit or a sync with ``UnknownMemberId`` or ``IllegalGeneration`` (a
join with the former): the worker was dropped, paused past its session or cut off. From then
on its offset commits are refused until it rejoins with a new generation. A fenced coordinator
holding a control record asks this to know whether it may leave the record to its next owner
(``loop/ownership.py``, ``turn``).

No public route leads there. aiokafka's ``AIOKafkaConsumer`` exposes neither the generation
nor the member id; its rebalance listener, and faust's ``on_partitions_revoked`` signal that
stems from it, fire only as the consumer sets about rejoining, and faust sends its signal only
after every record in hand was acknowledged (``App._on_partitions_revoked`` waits for the
streams to be empty), so a worker holding a record would hear of its drop only after it
stopped holding it. faust's ``app.consumer_generation_id`` is the generation of the last
assignment, not reset on a drop. So this reads private attributes of faust-streaming 0.15.3
and aiokafka 0.14.0 (both pinned exactly in pyproject.toml), the way faust itself reads them
(its rebalance listener): ``app.consumer._thread._ensure_consumer()._coordinator.generation``.
The walk is split in two, the faust part (:func:`aiokafka_consumer`) and the aiokafka part
(:func:`generation_of`), and ``tests/stream/test_membership.py`` pins every step on the
installed versions.

Should an upgrade move those internals, :func:`member_of_group` answers True, as for a consumer
not started: a fenced owner then holds a record for its full patience before acting on it,
later but never lost. It says so once per process with a WARNING naming the versions.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import aiokafka
import faust
from aiokafka.consumer.group_coordinator import OffsetCommitRequest
from faust.exceptions import ConsumerNotStarted

from stream_al.errors import StreamAlError

log = logging.getLogger(__name__)
DROPPED = OffsetCommitRequest.DEFAULT_GENERATION_ID
"""The generation aiokafka gives a member the group does not count (before its first join,
and after ``reset_generation``)."""


class InternalsMoved(StreamAlError):
    """A started faust or aiokafka consumer no longer keeps what :func:`group_generation`
    reads: an upgrade moved it."""


def member_of_group(app: faust.App) -> bool:
    """Whether the consumer group still counts this worker a member (:func:`counted`), read
    from its faust app. Internals that moved answer True after a WARNING, once per process
    (:class:`InternalsMoved`)."""
    try:
        return counted(group_generation(app))
    except InternalsMoved as e:
        _warn_once(str(e))
        return True


def counted(generation: int | None) -> bool:
    """Whether the group counts a member of this generation: not once aiokafka reset it (the
    group dropped the member), nor before its first join; a consumer not started (None) holds
    nothing, so it is counted.

    >>> counted(7), counted(DROPPED), counted(None)
    (True, False, True)
    """
    return generation is None or generation != DROPPED


def group_generation(app: faust.App) -> int | None:
    """The generation of this worker's membership in its consumer group (:data:`DROPPED`
    while it is not counted a member); None while faust's consumer is not started. Raises
    :class:`InternalsMoved` when a started consumer lacks what it reads."""
    consumer = aiokafka_consumer(app)
    return None if consumer is None else generation_of(consumer)


def aiokafka_consumer(app: faust.App) -> aiokafka.AIOKafkaConsumer | None:
    """The aiokafka consumer faust runs on a thread of its own; None before it is started."""
    try:
        return app.consumer._thread._ensure_consumer()
    except ConsumerNotStarted:
        return None
    except AttributeError as e:
        raise InternalsMoved(
            f"faust-streaming {faust.__version__} has no app.consumer._thread._ensure_consumer()"
            f" ({e})") from e


def generation_of(consumer: aiokafka.AIOKafkaConsumer) -> int | None:
    """The generation an aiokafka consumer of a group holds; None while it is starting (its
    group coordinator not made yet)."""
    try:
        coordinator: Any = consumer._coordinator
        if coordinator is None:
            return None
        return coordinator.generation
    except AttributeError as e:
        raise InternalsMoved(
            f"aiokafka {aiokafka.__version__} has no AIOKafkaConsumer._coordinator.generation"
            f" ({e})") from e


@functools.cache
def _warn_once(reason: str) -> None:
    log.warning(
        "cannot tell whether the consumer group still counts this worker (%s): read as a "
        "member, so a fenced coordinator holds a control record for its full patience before "
        "acting on it (later, never lost). stream_al/stream/membership.py reads internals of "
        "the versions pinned in pyproject.toml; fix it for the installed faust-streaming %s "
        "and aiokafka %s (tests/stream/test_membership.py shows which step moved)",
        reason, faust.__version__, aiokafka.__version__)
