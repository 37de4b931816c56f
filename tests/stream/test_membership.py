"""Whether the consumer group still counts this worker a member (stream/membership.py).

No public API of faust or aiokafka says so; the lookup reads their internals. The tests
without a broker pin each step of that walk on the installed versions, so that an upgrade
that moves one fails here, naming what to fix, instead of leaving ``member_of_group`` on its
fallback (True: a fenced owner then holds a record for its full patience) for ever. The broker
tests show the lookup returns the generation of a real consumer in a group (aiokafka's own, and
the one faust runs on its consumer thread), and no membership once aiokafka resets it as it does
when the group's coordinator answers ``UnknownMemberId``."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from types import SimpleNamespace

import aiokafka
import faust
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.consumer.subscription_state import SubscriptionState
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from stream_al.config import KafkaSettings
from stream_al.stream import clients, membership
from stream_al.stream.membership import (
    DROPPED,
    InternalsMoved,
    aiokafka_consumer,
    counted,
    generation_of,
    group_generation,
    member_of_group,
)
from tests.stream.harness import wait_until

FIX = ("stream_al/stream/membership.py reads it: find where faust-streaming "
       f"{faust.__version__} / aiokafka {aiokafka.__version__} keep it now, or member_of_group "
       "answers True for ever (a fenced owner then holds each record for its full patience)")


@pytest.fixture
def app(tmp_path):
    """A worker's faust app on the Kafka transport, not started (no broker needed)."""
    return faust.App(f"membership-{uuid.uuid4().hex[:8]}", broker="kafka://127.0.0.1:1",
                     store="memory://", datadir=str(tmp_path), autodiscover=False,
                     web_enabled=False)


@pytest.fixture(autouse=True)
def warned_afresh():
    membership._warn_once.cache_clear()
    yield
    membership._warn_once.cache_clear()


# ---- the walk, pinned on the installed versions (no broker) --------------------------------------
def test_faust_runs_its_aiokafka_consumer_on_a_thread_that_hands_it_out(app):
    thread = getattr(app.consumer, "_thread", None)
    assert isinstance(thread, AIOKafkaConsumerThread), f"app.consumer._thread is {thread!r}; {FIX}"
    assert callable(getattr(thread, "_ensure_consumer", None)), \
        f"AIOKafkaConsumerThread has no _ensure_consumer(); {FIX}"


def test_a_worker_whose_consumer_is_not_started_is_counted_without_the_fallback(app, caplog):
    with caplog.at_level(logging.WARNING, logger=membership.__name__):
        assert aiokafka_consumer(app) is None  # faust's ConsumerNotStarted, nothing missing
        assert group_generation(app) is None
        assert member_of_group(app)
    assert caplog.records == []


def test_aiokafka_keeps_the_group_coordinator_on_its_consumer():
    async def unstarted() -> aiokafka.AIOKafkaConsumer:
        return aiokafka.AIOKafkaConsumer(group_id="g", bootstrap_servers="127.0.0.1:1")

    consumer = asyncio.run(unstarted())
    assert hasattr(consumer, "_coordinator"), f"AIOKafkaConsumer has no _coordinator; {FIX}"
    assert generation_of(consumer) is None  # start() makes the coordinator


def test_aiokafka_keeps_the_generation_on_the_group_coordinator_and_resets_it_when_dropped():
    async def coordinator_state() -> tuple[int, int]:
        client = aiokafka.AIOKafkaClient(bootstrap_servers="127.0.0.1:1")
        coordinator = GroupCoordinator(client, SubscriptionState(), group_id="g")
        try:
            fresh = coordinator.generation  # not joined yet
            coordinator.generation = 7  # as a join sets it
            coordinator.reset_generation()  # as a heartbeat answered UnknownMemberId does
            return fresh, coordinator.generation
        finally:
            await coordinator.close()
            await client.close()

    assert hasattr(GroupCoordinator, "reset_generation"), \
        f"GroupCoordinator has no reset_generation(); {FIX}"
    try:
        fresh, reset = asyncio.run(coordinator_state())
    except AttributeError as e:
        raise AssertionError(f"GroupCoordinator has no generation ({e}); {FIX}") from e
    assert (fresh, reset) == (DROPPED, DROPPED), \
        f"GroupCoordinator.generation is {fresh} before a join, {reset} after a reset; {FIX}"


# ---- the fallback --------------------------------------------------------------------------------
MOVED = {"faust": "app.consumer._thread._ensure_consumer()",
         "aiokafka": "AIOKafkaConsumer._coordinator.generation"}
"""What the lookup then says is missing, by the library whose step moved."""


def started_consumer_without(step: str) -> SimpleNamespace:
    """A faust app as an upgrade could leave it: the lookup's ``step`` into faust's or
    aiokafka's consumer finds nothing where it looks."""
    consumer = SimpleNamespace()  # an aiokafka consumer without _coordinator
    thread = SimpleNamespace(_ensure_consumer=lambda: consumer)
    return SimpleNamespace(consumer=SimpleNamespace() if step == "faust"
                           else SimpleNamespace(_thread=thread))


@pytest.mark.parametrize("step", MOVED)
def test_internals_that_moved_are_told_apart_from_a_consumer_not_started(step):
    with pytest.raises(InternalsMoved, match=re.escape(MOVED[step])):
        group_generation(started_consumer_without(step))


@pytest.mark.parametrize("step", MOVED)
def test_internals_that_moved_count_the_worker_a_member_and_warn_once_naming_what_moved(
        step, caplog):
    app = started_consumer_without(step)
    with caplog.at_level(logging.WARNING, logger=membership.__name__):
        assert member_of_group(app)
        assert member_of_group(app)  # asked every second while a record is held
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    text = warning.getMessage()
    assert MOVED[step] in text
    assert f"faust-streaming {faust.__version__}" in text
    assert f"aiokafka {aiokafka.__version__}" in text
    assert "full patience" in text  # the consequence


# ---- a real consumer in a group (broker) ---------------------------------------------------------
@pytest.mark.kafka
def test_a_joined_consumer_reads_its_generation_until_aiokafka_resets_it_then_rejoins(
        kafka_bootstrap, new_topic):
    topic = new_topic("membership")

    async def scenario() -> None:
        consumer = clients.aio_consumer(
            KafkaSettings(bootstrap=kafka_bootstrap), topic,
            group_id=f"membership-{uuid.uuid4().hex[:8]}", enable_auto_commit=False,
            session_timeout_ms=6_000, heartbeat_interval_ms=1_000)  # the broker's shortest
        assert counted(generation_of(consumer))  # not started: holds nothing
        await consumer.start()  # returns once the group assigned the topic: joined
        try:
            joined = generation_of(consumer)
            assert joined is not None and joined >= 1  # the group's, not the fallback
            assert counted(joined)
            consumer._coordinator.reset_generation()  # aiokafka on UnknownMemberId
            assert generation_of(consumer) == DROPPED
            assert not counted(generation_of(consumer))
            # it rejoins in a new generation once the group expired the member it was (a session)
            await wait_until(lambda: generation_of(consumer) > joined, timeout_s=30)
            assert counted(generation_of(consumer))
        finally:
            await consumer.stop()

    asyncio.run(scenario())


@pytest.mark.kafka
def test_a_faust_worker_is_a_member_once_its_consumer_joined_and_not_once_aiokafka_reset_it(
        kafka_bootstrap, new_topic, tmp_path):
    topic = new_topic("membership")
    app = faust.App(f"membership-{uuid.uuid4().hex[:8]}", broker=f"kafka://{kafka_bootstrap}",
                    store="memory://", datadir=str(tmp_path), autodiscover=False,
                    web_enabled=False, broker_session_timeout=6.0, broker_heartbeat_interval=1.0)

    async def scenario() -> None:
        thread = app.consumer._thread
        await thread.start()  # faust's consumer thread alone: it makes and starts the consumer
        try:
            consumer = aiokafka_consumer(app)
            assert group_generation(app) == DROPPED and not member_of_group(app)  # not joined
            # subscribed without faust's rebalance listener: it would call into the app,
            # which is not started
            await thread.call_thread(consumer.subscribe, topics=[topic])
            # joined *and* synced: aiokafka sets the generation at the JoinGroup answer and
            # writes it back at the SyncGroup answer, which would undo a reset made in between
            await wait_until(lambda: group_generation(app) >= 1 and bool(consumer.assignment()),
                             timeout_s=30)
            assert member_of_group(app)  # the group's generation, read across threads
            await thread.call_thread(consumer._coordinator.reset_generation)  # UnknownMemberId
            assert group_generation(app) == DROPPED and not member_of_group(app)
        finally:
            await thread.stop()

    asyncio.run(scenario())
