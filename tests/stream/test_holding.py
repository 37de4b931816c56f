"""A fenced coordinator never acknowledges a control record it did not act on while the
partition is still its own (loop/ownership.py, ``turn``): it holds the record until the group
drops it or its patience runs out. Acknowledged unacted, the record's offset would be
committed in a generation the group still counts, and nobody would ever act on it.

No broker: the shell's Kafka clients start only when it claims the role, and acting is
replaced by a record of the call."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.metrics import Metrics
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.stream import coordinating
from stream_al.stream.coordinating import CoordinatorShell
from tests.stream.harness import wait_until


class Group:
    """The consumer group's view of this worker, counting how often the shell asked."""

    def __init__(self) -> None:
        self.member = True
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.member


@pytest.fixture
def shell(tmp_path, monkeypatch):
    monkeypatch.setattr(coordinating, "HOLD_POLL_S", 0.01)
    group = Group()
    settings = Settings.load(kafka={"state_dir": str(tmp_path)})
    shell = CoordinatorShell(settings, LookupEmbedder(["a text"], np.ones((1, 4))), Metrics(),
                             in_group=group)
    shell.acted = []

    async def act(event):
        shell.acted.append(event.message.offset)

    shell._handle = act
    shell.group = group
    shell.ownership.assigned(holds_control=True)
    shell.ownership.claimed()
    return shell


def record(offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(offset=offset, value=b"{}"))


def test_an_owner_acts_on_a_record_at_once(shell):
    asyncio.run(shell.handle(record(7)))
    assert shell.acted == [7]


def test_a_fenced_owner_holds_the_record_until_the_group_drops_it_then_leaves_it(shell):
    async def scenario():
        shell.ownership.fenced(time.time())
        handling = asyncio.ensure_future(shell.handle(record(7)))
        await wait_until(lambda: shell.group.asked >= 5)  # it looked again and again
        assert not handling.done()  # held: not acknowledged
        shell.group.member = False  # the group dropped it: its commit is refused now
        await asyncio.wait_for(handling, 10)

    asyncio.run(scenario())
    assert shell.acted == []  # its next owner reads it again


def test_a_fenced_owner_acts_on_the_record_it_held_once_the_fence_proves_no_handover(shell):
    async def scenario():
        shell.ownership.patience_s = 0.3
        shell.ownership.fenced(time.time())
        handling = asyncio.ensure_future(shell.handle(record(7)))
        await wait_until(lambda: shell.group.asked >= 2)
        assert not handling.done()
        await asyncio.wait_for(handling, 10)

    asyncio.run(scenario())
    assert shell.acted == [7]


def test_a_worker_whose_partition_moved_leaves_the_record_at_once(shell):
    shell.ownership.fenced(time.time())
    shell.ownership.revoked()
    asyncio.run(asyncio.wait_for(shell.handle(record(7)), 10))
    assert shell.acted == []
