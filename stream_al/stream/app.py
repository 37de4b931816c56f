"""The faust application: one agent, four tasks and two timers, built from :class:`Settings`.

- a task reads ``texts`` (partitioned; the workers share the partitions in their own group,
  :func:`~stream_al.stream.reader.texts_group`) in batches with aiokafka
  (:class:`~stream_al.stream.reader.TextReader`): each batch is parsed, embedded and scored
  with the current model; one record per batch goes to ``control``. Two batches are in flight:
  one is embedded while the one before it is scored and sent.
- a task reads ``labels`` (partitioned) and, on a secured cluster, each vendor's own labels
  topic, in batches with aiokafka in the workers' labels group
  (:class:`~stream_al.stream.reader.LabelReader`): vendor labels are validated and forwarded to
  ``control``.
- ``coordinate`` on ``control`` (one partition, so one worker of the group runs it): the
  system-wide budget, selection and learning (:class:`CoordinatorShell`). Its outputs go
  through one transactional producer per deployment that fences a paused former owner
  (``stream/fencing.py``); it stops when the partition is revoked.
- a task per worker follows ``models`` and swaps in each new model for its scorers; another
  runs the coordinator's chores every :data:`CHORES_EVERY_S` after the last ones finished.
  With ``scale.ood_at_scorers`` one more follows ``reference``, the coordinator's labelled
  rows, for the scorers' OOD check (stream/reference.py).

The agent has concurrency 1: with more, faust can commit an offset past a message still in
flight (faust-streaming issue #606). Its stream is consumed without automatic acks
(``noack_take``, ``noack``): a handler awaits the delivery of everything it produced, and only
then are its input records acked (so committable); the readers commit a batch only after its
handler returned. A worker stopped mid-handler leaves them uncommitted: they are read again
after the restart (at-least-once; consumers are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from stream_al.config import Settings
from stream_al.embed import Embedder, make_embedder
from stream_al.loop.candidates import Forwarding
from stream_al.metrics import Metrics
from stream_al.runtime import return_free_memory
from stream_al.stream import clients
from stream_al.stream.coordinating import CoordinatorShell
from stream_al.stream.membership import member_of_group
from stream_al.stream.publish import Publisher, raw_topic
from stream_al.stream.reader import LabelReader, TextReader
from stream_al.stream.scoring import ScoringShell
from stream_al.stream.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)
CHORES_EVERY_S = 0.2
TICK_EVERY_S = 0.5
LAG_EVERY_S = 5.0
TRIM_EVERY_S = 30.0


def build_app(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    embedder: Embedder | None = None,
    strategy: str | None = None,
) -> faust.App:
    """A faust app for ``settings`` (group id ``kafka.app_id``); run it with ``faust.Worker``.

    The worker's composition root: it takes the whole :class:`Settings` and hands each agent
    only its part (the scorers ``kafka``, ``scale`` and their forwarding's ``budget`` and
    ``selection``; the coordinator shell the whole, to build a coordinator).
    """
    k = settings.kafka
    metrics = metrics or Metrics()
    embedder = embedder or make_embedder(settings.embedder)
    k.state_dir.mkdir(parents=True, exist_ok=True)  # faust keeps its datadir in it
    app = faust.App(
        k.app_id,
        broker=f"kafka://{k.bootstrap}",
        broker_credentials=clients.faust_credentials(k),
        store="memory://",
        datadir=str(k.state_dir / k.app_id),
        autodiscover=False,
        web_enabled=False,
        topic_allow_declare=False,  # stream_al.stream.topics creates them, with their layouts
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        producer_max_request_size=MAX_RECORD_BYTES,
        consumer_max_fetch_size=MAX_RECORD_BYTES,
        producer_linger=0.005,
        producer_acks=-1,  # all in-sync replicas (kafka.topics.min_insync_replicas) have it
        key_serializer="raw",
        value_serializer="raw",
    )
    publisher = Publisher(app, k, metrics)
    forwarding = (Forwarding(settings.scale, settings.budget, settings.selection,
                             ood=settings.ood, drift=settings.drift)
                  if settings.scale.preselect else None)  # docs/scaling.md
    scoring = ScoringShell(settings.kafka, embedder, publisher, metrics, forwarding,
                           settings.scale.precision, settings.scale.envelope)
    coordinating = CoordinatorShell(settings, embedder, metrics, strategy,
                                    in_group=lambda: member_of_group(app))
    t = k.topics

    reader = TextReader(k, scoring.score, depth=2)  # embed a batch while the last is sent

    @app.task
    async def read_texts() -> None:
        await reader.run()

    labels = LabelReader(k, scoring.labels_in)

    @app.task
    async def read_labels() -> None:
        await labels.run()

    @app.agent(raw_topic(app, t.control), name="coordinate", concurrency=1)
    async def coordinate(stream: faust.StreamT) -> None:
        if k.control_merge > 1:  # runs of scored batches selected as one (loop/merging.py)
            async for events in stream.noack_take(k.control_merge, within=k.control_within_s):
                await coordinating.handle_many(events)
                await ack_all(stream, events)
            return
        manual = stream.noack()
        async for event in manual.events():
            await coordinating.handle(event)
            await manual.ack(event)

    @app.task
    async def follow_models() -> None:
        await scoring.follow_models()

    if settings.scale.ood_at_scorers:  # the labelled rows for the scorers' OOD check
        metrics.readiness.require("reference_loaded")

        @app.task
        async def follow_reference() -> None:
            await scoring.follow_reference()

    @app.task
    async def chores() -> None:
        # a loop, not a timer: a chore may take longer than the interval (the first one
        # rebuilds the coordinator), and mode's timer then warns that it is "overlapping"
        while True:
            await guarded("chores", "select", coordinating.chores, metrics)
            await asyncio.sleep(CHORES_EVERY_S)

    @app.task
    async def tick() -> None:  # notices a frozen process (coordinating.STALL_S) at once
        while True:
            await coordinating.tick()
            await asyncio.sleep(TICK_EVERY_S)

    @app.timer(TRIM_EVERY_S)
    async def trim_heap() -> None:  # freed numpy temporaries otherwise stay in the heap
        return_free_memory()

    @app.timer(LAG_EVERY_S)
    async def report_lag() -> None:
        await guarded("report_lag", "score", _report_lag, metrics)

    async def _report_lag() -> None:
        consumer, lags = app.consumer, {}
        for tp in consumer.assignment():
            end, position = consumer.highwater(tp), await consumer.position(tp)
            if end is not None and position is not None:
                lags[tp.topic, tp.partition] = max(0, end - position)
        for r in (reader, labels):
            lags.update({(tp.topic, tp.partition): lag for tp, lag in (await r.lag()).items()})
        metrics.set_consumer_lags(lags)  # partitions that moved to another worker: gone

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        metrics.readiness.mark("joined")  # /readyz (stream_al.health.WORKER_CONDITIONS)
        await coordinating.assigned(any(tp.topic == t.control for tp in assigned))

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        if any(tp.topic == t.control for tp in revoked):  # stop before the next owner starts
            await coordinating.revoked()

    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await coordinating.close()  # the search process too, a search in it or not

    app.on_before_shutdown.connect(on_shutdown, weak=False)
    app.on_partitions_assigned.connect(on_assigned, weak=False)
    app.on_partitions_revoked.connect(on_revoked, weak=False)
    return app


async def guarded(name: str, stage: str, timer: Callable[[], Awaitable[None]],
                  metrics: Metrics) -> None:
    """Run one tick of a timer: an exception is caught, counted (``errors{stage}``, by its
    type) and logged, and never stops the timer or the worker; the next tick tries again."""
    try:
        await timer()
    except asyncio.CancelledError:
        raise
    except Exception as e:
        metrics.count_error(stage, type(e).__name__)
        log.error("timer %s failed; it runs again on its next tick", name, exc_info=e)


async def ack_all(stream: faust.StreamT, events: list) -> None:
    """Ack after the handler returned. faust's own ``take``/``events`` ack in a ``finally``,
    also when the handler raised or the worker stopped mid-way; these streams do not."""
    for event in events:
        await stream.ack(event)
