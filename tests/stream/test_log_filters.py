"""Routine warnings of the Kafka clients are demoted to DEBUG; everything else passes as is."""

from __future__ import annotations

import logging

import pytest

from stream_al.stream.log_filters import DEMOTED, demote_routine_warnings


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


@pytest.mark.parametrize(("name", "message", "level"), [
    ("kafka.net.selector", "Task <Task> ran for 0.217s (>0.100s threshold). It is blocking the "
                           "event loop -- likely a tight sync loop inside a coroutine.",
     logging.DEBUG),
    ("kafka.cluster", "Metadata refresh: failed Cancelled", logging.DEBUG),
    # everything else those loggers say keeps its level
    ("kafka.cluster", "Metadata refresh: failed [Error 7] RequestTimedOutError", logging.ERROR),
    ("kafka.net.selector", "Unhandled exception in task", logging.ERROR),
])
def test_only_the_routine_messages_become_debug_records(name, message, level):
    demote_routine_warnings()
    (demote,) = logging.getLogger(name).filters
    entry = record(name, logging.ERROR, message)
    assert demote.filter(entry)  # demoted, never dropped: --loglevel debug still shows them
    assert entry.levelno == level


def test_installing_twice_adds_one_filter_per_logger():
    demote_routine_warnings()
    demote_routine_warnings()
    for name in DEMOTED:
        assert len(logging.getLogger(name).filters) == 1
