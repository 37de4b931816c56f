"""The topics a worker needs, created at start-up with kafka-python's admin client.

=============  ==========  =========================================================
topic          partitions  contents
=============  ==========  =========================================================
texts          P           TextIn, key = item id (scorers share the partitions)
labels         P           LabelIn from vendors, key = item id
selected       P           SelectedItem for vendors, key = item id
control        1           scored batches and labels, totally ordered (coordinator)
models         1           ModelUpdate, key "current", compacted
state          1           the coordinator's ledger and expiries, compacted
events         1           Event (expirations, restores)
deadletter     1           DeadLetter
commands       1           RollbackRecord from the operator, key = command id (kept forever)
expert         P           ExpertRequest for experts, key = item id (kept forever)
=============  ==========  =========================================================

P is ``kafka.topics.partitions``. ``labels`` and ``selected`` keep their records forever (a
coordinator is rebuilt from them); ``texts`` and ``control`` take records up to
:data:`MAX_RECORD_BYTES`. A topic that already exists is left as it is, except that ``control``
must have one partition (the budget is spent in one place).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from stream_al.config import KafkaSettings
from stream_al.errors import StreamAlError
from stream_al.stream import clients

MAX_RECORD_BYTES = 32 * 1024 * 1024
"""Scored batches carry embeddings and model updates carry weights: up to 32 MiB a record. Texts
may be that long too (the broker's default is 1 MiB): the scorers cut them to
``kafka.max_text_bytes`` and record the cut, rather than the broker refusing them and, with
them, the producer's whole batch."""


log = logging.getLogger(__name__)

COORDINATOR_STARTING = (CoordinatorLoadInProgressError, CoordinatorNotAvailableError,
                        NotCoordinatorError)
"""The broker's answers while a group coordinator is not ready yet (errors 14, 15, 16)."""


class TopicError(StreamAlError, RuntimeError):
    """A topic exists with a layout the pipeline cannot use; the message names the fix."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(kafka: KafkaSettings) -> list[TopicSpec]:
    t = kafka.topics
    big = {"max.message.bytes": str(MAX_RECORD_BYTES)}
    compacted = {
        **big,
        "cleanup.policy": "compact",
        "min.cleanable.dirty.ratio": "0.1",
        "segment.ms": "600000",
    }
    forever = {"retention.ms": "-1"}  # a rebuild reads them from the start (budget-bounded)
    # the broker's clock, not the vendor's: a rebuild replays the class cap by it
    labels = {**forever, "message.timestamp.type": "LogAppendTime"}
    return [
        TopicSpec(t.texts, t.partitions, big),  # texts over max_text_bytes are cut, not refused
        TopicSpec(t.labels, t.partitions, labels),
        TopicSpec(t.selected, t.partitions, forever),
        TopicSpec(t.control, 1, big),
        TopicSpec(t.models, 1, compacted),
        TopicSpec(t.state, 1, compacted),
        TopicSpec(t.events, 1, {}),
        TopicSpec(t.deadletter, 1, {}),
        TopicSpec(t.expert, t.partitions, forever),  # open requests: an expert reads from the start
        TopicSpec(t.commands, 1, forever),  # who ordered what, and when
        *[TopicSpec(name, t.partitions, labels) for name in vendor_labels_topics(kafka)],
    ]


def texts_group(kafka: KafkaSettings) -> str:
    """The consumer group the scorers share the ``texts`` partitions in."""
    return f"{kafka.app_id}.texts"


def vendor_labels_topics(kafka: KafkaSettings) -> list[str]:
    """The labels topic of each vendor, and the experts', when ``topics.vendors`` names any."""
    t = kafka.topics
    return [t.labels_of(v) for v in [*t.vendors, "expert"]] if t.vendors else []


def ensure_topics(kafka: KafkaSettings, timeout_s: float = 15.0) -> list[str]:
    """Create the missing topics and wait for the workers' group coordinator; return the names
    created. Raises :class:`TopicError`.

    On a secured cluster only the worker role may create topics (and a client sees only the
    topics it may describe): a client of another role creates nothing and checks nothing."""
    admin = clients.admin(
        kafka,
        client_id=f"{kafka.app_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        specs = topic_specs(kafka)
        missing = [s for s in specs if s.name not in existing]
        created = []
        for spec in missing:  # one by one: another worker may create the same topic meanwhile
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)],
                    timeout_ms=int(timeout_s * 1000),
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
            except TopicAuthorizationFailedError:  # not the worker role: the workers make them
                return created
        _check_control(admin, kafka, timeout_s)
        _wait_for_group_coordinator(admin, kafka, timeout_s)
        return created
    finally:
        admin.close()


def _wait_for_group_coordinator(admin: KafkaAdminClient, kafka: KafkaSettings,
                                timeout_s: float) -> None:
    """On a fresh broker the first group lookup creates ``__consumer_offsets``; until its
    partitions are led and loaded the broker answers errors 14-16, and every consumer joining
    then logs ``GroupCoordinatorNotAvailableError`` as an ERROR (aiokafka retries by itself).
    Waiting for the coordinator here keeps a healthy start free of them; after ``timeout_s``
    the worker starts anyway (its consumers keep retrying) with one warning."""
    groups = [kafka.app_id, texts_group(kafka)]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answers = admin.describe_groups(groups)
            starting = [g for g, a in answers.items() if _error_code(a.get("error")) in (14, 15, 16)]
        except COORDINATOR_STARTING:
            starting = groups
        if not starting:
            return
        if time.monotonic() >= deadline:
            log.warning("no group coordinator for %s after %ss; the consumers will retry",
                        starting, timeout_s)
            return
        time.sleep(0.2)


def _error_code(error: object) -> int | None:
    """The Kafka error code in a described group's ``error`` ("[Error 16] NotCoordinator...")."""
    match = re.match(r"\[Error (\d+)\]", str(error or ""))
    return int(match.group(1)) if match else None


def _check_control(admin: KafkaAdminClient, kafka: KafkaSettings, timeout_s: float) -> None:
    """``control`` has one partition. A topic created a moment ago may be described with none
    until its metadata reaches the broker that answers (seen on a fresh broker): wait for it."""
    name = kafka.topics.control
    deadline = time.monotonic() + timeout_s
    while True:
        described = admin.describe_topics([name])
        partitions = len(described[0]["partitions"]) if described else 0
        if partitions or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if partitions != 1:
        raise TopicError(
            f"topic {name} has {partitions} partitions; the coordinator needs exactly 1. "
            f"Delete it or set kafka.topics.control to a new name."
        )
