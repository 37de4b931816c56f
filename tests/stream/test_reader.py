"""The texts and labels readers, on the real broker: batches, offsets committed only for handled
batches, and a first start that continues where the agents' group left the topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.reader import BatchReader, LabelReader, TextReader, labels_group, texts_group
from stream_al.stream.topics import ensure_topics
from tests.data import rows
from tests.stream.harness import send_raw

pytestmark = pytest.mark.kafka

TEXTS = 600


def kafka_settings(bootstrap: str, **more: object) -> KafkaSettings:
    name = f"r{uuid.uuid4().hex[:10]}"
    topics = {t: f"{name}.{t}" for t in ("texts", "labels", "selected", "control", "models",
                                          "state", "events", "deadletter", "expert")} | more
    k = KafkaSettings(bootstrap=bootstrap, app_id=name, batch_within_s=0.1, topics=topics)
    ensure_topics(k)
    return k


def produce(k: KafkaSettings, n: int) -> None:
    send_raw(k.bootstrap, k.topics.texts, [(f"t-{i}".encode(), b"{}") for i in range(n)])


def committed(k: KafkaSettings, group: str, topic: str | None = None) -> dict[int, int]:
    topic = topic or k.topics.texts
    consumer = clients.consumer(k, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp in tps
                if (offset := consumer.committed(tp)) is not None}
    finally:
        consumer.close()


async def read_until(reader: BatchReader, done: asyncio.Event, timeout_s: float = 60) -> None:
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_texts_come_in_batches_and_every_handled_offset_is_committed(kafka_bootstrap):
    k = kafka_settings(kafka_bootstrap)
    produce(k, TEXTS)
    batches: list[int] = []
    done = asyncio.Event()

    async def handle(records: Sequence) -> None:
        batches.append(len(records))
        if sum(batches) >= TEXTS:
            done.set()

    asyncio.run(read_until(TextReader(k, handle), done))

    assert sum(batches) == TEXTS and max(batches) > 1
    assert max(batches) <= k.batch_max
    assert sum(committed(k, texts_group(k)).values()) == TEXTS  # ends of every partition


def test_a_batch_holds_at_most_max_bytes_of_records_and_the_rest_come_with_the_next(
    kafka_bootstrap
):
    k = kafka_settings(kafka_bootstrap)
    texts = [text.encode() for text, _ in rows("ag_news", 300)]
    send_raw(k.bootstrap, k.topics.texts, [(f"t-{i}".encode(), t) for i, t in enumerate(texts)])
    seen: list[bytes] = []
    sizes: list[int] = []
    done = asyncio.Event()

    async def handle(records: Sequence) -> None:
        sizes.append(sum(len(r.value) for r in records))
        seen.extend(r.value for r in records)
        if len(seen) >= len(texts):
            done.set()

    reader = TextReader(k, handle)
    reader.max_bytes = 5_000  # a few dozen news texts a batch, not the 300 batch_max allows
    asyncio.run(read_until(reader, done))

    assert len(sizes) > 3 and max(sizes) <= 5_000
    assert sorted(seen) == sorted(texts)  # every record once: none lost, none twice
    assert sum(committed(k, texts_group(k)).values()) == len(texts)


def test_a_batch_whose_handler_never_returned_is_read_again(kafka_bootstrap):
    k = kafka_settings(kafka_bootstrap).model_copy(update={"batch_max": 50})
    produce(k, TEXTS)
    handled: list[int] = []
    stuck = asyncio.Event()

    async def handle(records: Sequence) -> None:
        if handled:  # the second batch: the worker dies while handling it
            stuck.set()
            await asyncio.Event().wait()
        handled.append(len(records))

    asyncio.run(read_until(TextReader(k, handle), stuck))
    assert sum(committed(k, texts_group(k)).values()) == handled[0]

    again: list[int] = []
    done = asyncio.Event()

    async def handle_rest(records: Sequence) -> None:
        again.append(len(records))
        if sum(again) >= TEXTS - handled[0]:
            done.set()

    asyncio.run(read_until(TextReader(k, handle_rest), done))
    assert sum(again) == TEXTS - handled[0]  # nothing lost, nothing handled twice
    assert sum(committed(k, texts_group(k)).values()) == TEXTS


def test_labels_of_the_shared_and_every_vendor_topic_come_in_batches_in_their_own_group(
    kafka_bootstrap
):
    k = kafka_settings(kafka_bootstrap, vendors=["acme"])
    topics = [k.topics.labels, k.topics.labels_of("acme"), k.topics.labels_of("expert")]
    for topic in topics:
        send_raw(k.bootstrap, topic, [(f"l-{i}".encode(), b"{}") for i in range(100)])
    seen: dict[str, int] = {}
    done = asyncio.Event()

    async def handle(records: Sequence) -> None:
        for r in records:
            seen[r.topic] = seen.get(r.topic, 0) + 1
        if sum(seen.values()) >= 300:
            done.set()

    asyncio.run(read_until(LabelReader(k, handle), done))
    assert seen == {topic: 100 for topic in topics}
    assert [sum(committed(k, labels_group(k), topic).values()) for topic in topics] == [100] * 3
    assert not committed(k, k.app_id, k.topics.labels)  # not the agents' group


@pytest.mark.parametrize("reader", [TextReader, LabelReader])
def test_a_first_start_continues_where_the_agents_group_committed(kafka_bootstrap, reader):
    k = kafka_settings(kafka_bootstrap)
    topic = k.topics.texts if reader is TextReader else k.topics.labels
    send_raw(k.bootstrap, topic, [(f"t-{i}".encode(), b"{}") for i in range(TEXTS)])
    earlier = clients.consumer(k, group_id=k.app_id, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in earlier.partitions_for_topic(topic)]
    ends = earlier.end_offsets(tps)
    earlier.assign(tps)
    earlier.commit({tp: OffsetAndMetadata(ends[tp] // 2, "", -1) for tp in tps})
    earlier.close()
    left = sum(ends[tp] - ends[tp] // 2 for tp in tps)
    first: dict[int, int] = {}
    seen: list[int] = []
    done = asyncio.Event()

    async def handle(records: Sequence) -> None:
        for r in records:
            first.setdefault(r.partition, r.offset)
        seen.append(len(records))
        if sum(seen) >= left:
            done.set()

    asyncio.run(read_until(reader(k, handle), done))
    assert first == {tp.partition: ends[tp] // 2 for tp in tps if ends[tp] > ends[tp] // 2}
    assert sum(seen) == left


def test_with_depth_two_the_next_batch_is_handled_while_the_last_is_sent_in_order(
    kafka_bootstrap,
):
    k = kafka_settings(kafka_bootstrap).model_copy(update={"batch_max": 50})
    produce(k, TEXTS)
    log: list[tuple[str, int]] = []
    done = asyncio.Event()
    batches = 0

    async def handle(records: Sequence):
        nonlocal batches
        n = batches = batches + 1
        log.append(("first", n))

        async def then() -> None:
            await asyncio.sleep(0.02)  # a slow send: the next batch's first phase runs meanwhile
            log.append(("then", n))
            if sum(1 for kind, _ in log if kind == "then") * 50 >= TEXTS:
                done.set()

        return then

    asyncio.run(read_until(TextReader(k, handle, depth=2), done))

    thens = [n for kind, n in log if kind == "then"]
    assert thens == sorted(thens) == list(range(1, len(thens) + 1))
    assert log.index(("first", 2)) < log.index(("then", 1))  # overlapped
    assert sum(committed(k, texts_group(k)).values()) == TEXTS


def test_a_batch_read_ahead_is_not_committed_before_the_batch_before_it(kafka_bootstrap):
    k = kafka_settings(kafka_bootstrap).model_copy(update={"batch_max": 50})
    produce(k, TEXTS)
    sizes: list[int] = []
    stuck = asyncio.Event()

    async def handle(records: Sequence):
        sizes.append(len(records))
        n = len(sizes)
        if n == 3:  # read ahead while the second batch is stuck
            stuck.set()

        async def then() -> None:
            if n == 2:  # the worker dies while sending the second batch
                await asyncio.Event().wait()

        return then

    async def read() -> None:
        await read_until(TextReader(k, handle, depth=2, commit_every_s=0.0), stuck)

    asyncio.run(read())
    assert len(sizes) == 3  # the third batch was read and its first phase run ...
    assert sum(committed(k, texts_group(k)).values()) == sizes[0]  # ... but not committed
