"""Warnings that a healthy worker would log routinely, demoted to DEBUG, each with its reason.

A warning an operator sees should need their attention; these do not:

- ``kafka.net.selector``: kafka-python 3's network loop warns when one step of its own loop
  took more than 0.1 s of wall time ("It is blocking the event loop"). In a worker that loop
  (the coordinator's rebuild reads the topics with kafka-python, off the event loop) shares the
  GIL with numpy work in other threads, so a step that waited for the GIL is reported as
  blocking. The threshold cannot be raised: ``KafkaConsumer`` refuses configs it does not know.
- ``kafka.cluster``: kafka-python 3 logs "Metadata refresh: failed Cancelled" as an ERROR when
  a client is closed on purpose (the admin client after creating the topics, the rebuild's
  consumer) while its own background metadata request is in flight; the request was cancelled
  by that close, nothing failed. Seen on a fresh broker, whose new topics trigger a refresh.

(The two that used to come at every start are fixed at their source instead: the group
coordinator of a fresh broker is waited for in :func:`stream_al.stream.topics.ensure_topics`,
and the coordinator's chores run in a loop rather than on a timer that warned it was
"overlapping" whenever a chore outlasted its interval.)

>>> record = logging.LogRecord("kafka.net.selector", logging.WARNING, __file__, 1,
...     "Task %r ran for %.3fs (>%.3fs threshold). It is blocking the event loop", ("t", 0.2, 0.1),
...     None)
>>> Demote(SLOW_NETWORK_STEP).filter(record), record.levelname
(True, 'DEBUG')
"""

from __future__ import annotations

import logging
import re

SLOW_NETWORK_STEP = re.compile(r"ran for [\d.]+s \(>[\d.]+s threshold\)\. It is blocking")
CANCELLED_BY_CLOSE = re.compile(r"^Metadata refresh: failed Cancelled\b")
DEMOTED = {"kafka.net.selector": SLOW_NETWORK_STEP, "kafka.cluster": CANCELLED_BY_CLOSE}
"""Logger name -> the routine messages of that logger that are demoted."""


class Demote(logging.Filter):
    """A logger filter that turns records matching ``pattern`` into DEBUG records (handlers at
    INFO and above then drop them; a worker run with ``--loglevel debug`` still shows them)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and self.pattern.search(record.getMessage()):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def demote_routine_warnings() -> None:
    """Install the filters above (once per process is enough; twice does no harm)."""
    for name, pattern in DEMOTED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, Demote) for f in logger.filters):
            logger.addFilter(Demote(pattern))
