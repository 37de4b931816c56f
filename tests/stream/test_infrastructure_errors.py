"""The broker failing is not bad input: it is retried; a record's own error is not; a timer's
error is counted and logged and the timer goes on."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError
from kafka.errors import KafkaTimeoutError
from prometheus_client import generate_latest

from stream_al.metrics import Metrics, sample_value
from stream_al.stream import publish
from stream_al.stream.app import guarded
from stream_al.stream.publish import retrying


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(publish, "RETRY_FIRST_S", 0.001)


def flaky(failures: list[Exception], result: str = "sent"):
    calls = []

    async def attempt() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return attempt, calls


def test_a_broker_failure_is_retried_until_the_send_succeeds():
    attempt, calls = flaky([KafkaConnectionError("down"), KafkaTimeoutError("slow")])
    seen: list[str] = []
    assert asyncio.run(retrying("sending", attempt, seen.append)) == "sent"
    assert len(calls) == 3
    assert seen == ["KafkaConnectionError", "KafkaTimeoutError"]


def test_an_error_of_the_records_own_is_not_retried():
    attempt, calls = flaky([ValueError("not a number")])
    with pytest.raises(ValueError):
        asyncio.run(retrying("sending", attempt))
    assert len(calls) == 1


def test_a_failing_timer_is_counted_and_does_not_raise():
    metrics = Metrics()

    async def chore() -> None:
        raise RuntimeError("boom")

    asyncio.run(guarded("chores", "select", chore, metrics))
    asyncio.run(guarded("chores", "select", chore, metrics))
    page = generate_latest(metrics.registry).decode()
    assert sample_value(page, "stream_al_errors_total", stage="select", reason="RuntimeError") == 2
