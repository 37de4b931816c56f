"""The simulated vendor against the real broker: group membership."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from stream_al.config import Settings
from stream_al.stream import vendor as vendor_module
from stream_al.stream.topics import ensure_topics
from stream_al.stream.vendor import Vendor, VendorOptions
from tests.stream.harness import AG_NEWS, pipeline_config

pytestmark = pytest.mark.kafka


def test_a_vendor_left_without_partitions_by_its_group_stays_in_it(
    kafka_bootstrap, tmp_path, monkeypatch, caplog
):
    """Two vendors in one group on a one-partition topic: one of them is given nothing. That
    is a completed join, not a stuck one: it must not leave and rejoin (each rejoin would
    rebalance the whole group)."""
    # longer than a normal rebalance (members rejoin at their next heartbeat, every 3 s), and
    # well inside the time both vendors stay in the group (max_idle_s without records)
    monkeypatch.setattr(vendor_module, "REJOIN_S", 7.0)
    monkeypatch.setattr(vendor_module, "JOIN_S", 8.0)
    settings = Settings.load(pipeline_config(kafka_bootstrap, tmp_path))
    settings.kafka.topics.partitions = 1
    ensure_topics(settings.kafka)
    options = VendorOptions(gold=Path(AG_NEWS), group="two-vendors", max_idle_s=14.0)
    vendors = [Vendor(settings, options) for _ in range(2)]
    caplog.set_level(logging.WARNING, logger="stream_al.stream.vendor")
    threads = [threading.Thread(target=v.run, args=(lambda _: None,)) for v in vendors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not [r for r in caplog.records if "joining again" in r.getMessage()]
