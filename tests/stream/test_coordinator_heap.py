"""The coordinator shell takes the coordinator it (re)builds, and what it holds after each
checkpoint written, out of Python's cyclic collector's rescans (``runtime.settle_heap``):
its long-lived state is frozen, and only there, never per record.

No broker: the shell's Kafka clients are replaced by stand-ins that accept every record."""

from __future__ import annotations

import asyncio
import gc
import weakref
from contextlib import asynccontextmanager

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.metrics import Metrics
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.stream.coordinating import CoordinatorShell
from stream_al.stream.rebuild import TopicState


class AcceptsEverything:
    """A producer and publisher that take every record and write nothing."""

    claimed = True
    epoch = 1

    @asynccontextmanager
    async def transaction(self):
        yield

    def __getattr__(self, name):
        async def accepted(*args, **kwargs):
            return None
        return accepted


@pytest.fixture
def shell(tmp_path):
    settings = Settings.load(kafka={"state_dir": str(tmp_path)}, checkpoint={"enabled": False})
    texts = [f"text {i}" for i in range(8)]
    shell = CoordinatorShell(settings, LookupEmbedder(texts, np.eye(8, dtype=np.float32)),
                             Metrics())
    shell.producer = shell.publisher = AcceptsEverything()
    shell.checkpoints.load = lambda: TopicState()
    gc.unfreeze()
    yield shell
    gc.unfreeze()


def collected(obj) -> bool:
    """Whether the cyclic collector still scans ``obj`` (frozen objects it does not)."""
    return any(o is obj for o in gc.get_objects())


def test_a_rebuilt_coordinator_is_out_of_the_cyclic_collectors_rescans(shell):
    asyncio.run(shell._rebuild())
    c = shell.coordinator
    assert c is not None
    assert not collected(c) and not collected(c.__dict__)
    assert gc.get_freeze_count() > 0


def test_what_the_coordinator_holds_when_a_checkpoint_is_written_is_frozen_then(shell):
    asyncio.run(shell._rebuild())
    learned_since = [[i] for i in range(100)]  # as labels taken in after the rebuild
    assert collected(learned_since)

    async def written():
        shell._preparing = asyncio.get_running_loop().create_future()
        shell._preparing.set_result(None)
        shell.checkpoints.write = AcceptsEverything().write
        await shell._checkpoint()

    asyncio.run(written())
    assert shell._preparing is None  # it was written
    assert not collected(learned_since)


def test_a_cycle_frozen_by_one_rebuild_is_collected_at_the_next(shell):
    """Memory stays bounded: the last rebuild's coordinator, once garbage, does not stay."""
    class Part:
        """A part of the coordinator's state that refers to itself (a cycle)."""

    part = Part()
    part.itself = part
    held = weakref.ref(part)
    asyncio.run(shell._rebuild())
    shell.coordinator.part, part = held(), None
    asyncio.run(shell._rebuild())
    assert held() is None
