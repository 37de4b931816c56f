"""The coordinator's transactional producer on a real broker: a claim fences every earlier
owner, what a fenced owner had begun is never read, and its later writes are refused."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from stream_al.config import KafkaSettings
from stream_al.stream.fencing import CoordinatorProducer, Fenced
from stream_al.stream.messages import Event
from tests.stream.harness import read_topic

pytestmark = pytest.mark.kafka


def event(name: str) -> Event:
    return Event(schema_version=1, kind="expired", at=0.0, item_ids=[name])


def names(bootstrap: str, topic: str) -> list[str]:
    return [Event.model_validate_json(r.value).item_ids[0]
            for r in read_topic(bootstrap, topic, timeout_s=5)]


def test_a_new_claim_fences_the_old_owner_and_aborts_what_it_had_begun(kafka_bootstrap,
                                                                        new_topic):
    topic = new_topic("fencing", partitions=2)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, app_id=f"f{uuid.uuid4().hex[:10]}")

    async def scenario() -> None:
        old, new = CoordinatorProducer(kafka), CoordinatorProducer(kafka)
        first = await old.claim()
        await old.send_many(topic, [("a", event("before"))])  # a transaction of its own
        with pytest.raises(Fenced):
            async with old.transaction():
                await old.send_many(topic, [("b", event("begun"))])
                assert await new.claim() > first  # the epoch rises with the claim
                await old.send_many(topic, [("c", event("after"))])
        with pytest.raises(Fenced):  # and it stays fenced
            await old.send_many(topic, [("d", event("later"))])
        await new.send_many(topic, [("e", event("new owner"))])
        await old.release()
        await new.release()

    asyncio.run(scenario())
    assert sorted(names(kafka_bootstrap, topic)) == ["before", "new owner"]


def test_a_producer_released_mid_transaction_ends_it_at_once_and_nothing_of_it_is_read(
        kafka_bootstrap, new_topic):
    """A coordinator that resumes from a pause past its session steps down (releases its
    producer) while a record is being written: the open transaction must end with Fenced, not
    wait for ever on a closed producer (that wedged the agent and the group's rebalance)."""
    topic = new_topic("released", partitions=2)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, app_id=f"f{uuid.uuid4().hex[:10]}")

    async def scenario() -> None:
        owner = CoordinatorProducer(kafka)
        await owner.claim()
        with pytest.raises(Fenced, match="released"):  # the block ends normally: no commit
            async with owner.transaction():
                await owner.send_many(topic, [("a", event("committed never"))])
                await asyncio.create_task(owner.release())  # a step-down from another task
        await owner.claim()
        with pytest.raises(Fenced, match="released"):  # the block fails: no abort to wait on
            async with owner.transaction():
                await owner.send_many(topic, [("b", event("aborted"))])
                await asyncio.create_task(owner.release())
                raise ValueError("a record's own error, after the release")
        await owner.claim()
        await owner.send_many(topic, [("c", event("after a new claim"))])
        await owner.release()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert names(kafka_bootstrap, topic) == ["after a new claim"]
