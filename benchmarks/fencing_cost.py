"""What fencing the coordinator costs: one Kafka transaction per control record.

For each of ``--records`` control records the coordinator sends what a scored batch makes:
``--items`` selected items (~1 KB each, one topic of 4 partitions) and a ledger (a compacted
topic), and waits until the broker has them. Measured twice on the same broker, alternating
in rounds: with the coordinator's transactional producer (stream/fencing.py: begin, sends,
commit) and with a plain idempotent ``acks=all`` producer (no fencing). Prints the
per-record latency (median, p95) and records per second of each.

    python -m benchmarks.fencing_cost                      # a private single-node broker
    python -m benchmarks.fencing_cost --bootstrap 127.0.0.1:9092,127.0.0.1:9094,...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass

from benchmarks.broker import load_average, private_broker
from stream_al.config import KafkaSettings
from stream_al.stream import clients
from stream_al.stream.fencing import CoordinatorProducer


@dataclass(frozen=True)
class Payload:
    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


ITEM = Payload(b"x" * 1000)
LEDGER = Payload(b"l" * 200)


def _topics(kafka: KafkaSettings, name: str) -> tuple[str, str]:
    admin = clients.admin(kafka)
    selected, state = f"{name}.selected", f"{name}.state"
    try:
        admin.create_topics({selected: {"num_partitions": 4, "replication_factor": -1},
                             state: {"num_partitions": 1, "replication_factor": -1,
                                     "configs": {"cleanup.policy": "compact"}}},
                            wait_for_metadata=True)
    finally:
        admin.close()
    return selected, state


async def _fenced(kafka: KafkaSettings, selected: str, state: str, items: int,
                  records: int) -> list[float]:
    producer = CoordinatorProducer(kafka)
    await producer.claim()
    took = []
    try:
        for n in range(records):
            started = time.perf_counter()
            async with producer.transaction():
                await producer.send_many(selected, [(f"i{n}-{k}", ITEM) for k in range(items)])
                await producer.send_many(state, [("ledger", LEDGER)])
            took.append(time.perf_counter() - started)
    finally:
        await producer.release()
    return took


async def _plain(kafka: KafkaSettings, selected: str, state: str, items: int,
                 records: int) -> list[float]:
    producer = clients.aio_producer(kafka, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    took = []
    try:
        for n in range(records):
            started = time.perf_counter()
            futures = [await producer.send(selected, ITEM.data, key=f"i{n}-{k}".encode())
                       for k in range(items)]
            futures.append(await producer.send(state, LEDGER.data, key=b"ledger"))
            await asyncio.gather(*futures)
            took.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return took


def _report(name: str, took: list[float]) -> str:
    ms = sorted(t * 1000 for t in took)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return (f"{name:>14}: median {statistics.median(ms):6.1f} ms, p95 {p95:6.1f} ms per control "
            f"record; {len(ms) / sum(took):6.1f} records/s")


async def measure(bootstrap: str, items: int, records: int, rounds: int) -> None:
    name = f"fence{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=bootstrap, app_id=name)
    selected, state = _topics(kafka, name)
    await _plain(kafka, selected, state, items, 20)  # warm up connections and metadata
    fenced: list[float] = []
    plain: list[float] = []
    for _ in range(rounds):
        plain += await _plain(kafka, selected, state, items, records // rounds)
        fenced += await _fenced(kafka, selected, state, items, records // rounds)
    print(f"broker {bootstrap}; {records} control records of {items} selected items + a "
          f"ledger; load {load_average()}")
    print(_report("plain", plain))
    print(_report("transactional", fenced))
    extra = statistics.median(fenced) - statistics.median(plain)
    print(f"fencing adds {extra * 1000:.1f} ms per control record (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="a running broker or cluster (default: a private one)")
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if args.bootstrap:
        asyncio.run(measure(args.bootstrap, args.items, args.records, args.rounds))
        return
    with private_broker() as bootstrap:
        asyncio.run(measure(bootstrap, args.items, args.records, args.rounds))


if __name__ == "__main__":
    main()
