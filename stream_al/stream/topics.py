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
checkpoint     1           the coordinator's checkpoints (stream/checkpoint.py), compacted
reference      1           labelled rows for the scorers' OOD check, key = ring slot,
                           compacted (stream/reference.py; ``scale.ood_at_scorers``)
events         1           Event (expirations, restores)
deadletter     1           DeadLetter
commands       1           RollbackRecord from the operator, key = command id (kept forever)
expert         P           ExpertRequest for experts, key = item id (kept forever)
=============  ==========  =========================================================

P is ``kafka.topics.partitions``. ``labels`` and ``selected`` keep their records forever (a
coordinator is rebuilt from them); ``texts`` and ``control`` take records up to
:data:`MAX_RECORD_BYTES`.

Every topic is created with ``kafka.topics.replication_factor`` copies and
``min.insync.replicas`` (:func:`replication_of`: 3 and 2 on a cluster of 3 brokers or more).
A topic that already exists is checked, not changed (:func:`mismatches`): a layout that loses
or corrupts data (``control``, ``models`` or ``state`` with more than one partition, a finite
retention on a topic kept forever, compaction of a topic keyed by item id) refuses the start;
fewer partitions or copies than configured, or a lower ``min.insync.replicas``, are warnings.
Each names the command that fixes it.
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

from stream_al.config import KafkaSettings, TopicSettings
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
    single: bool = False
    """Read as one partition (a total order, or "the last record"): more would break it."""


@dataclass(frozen=True)
class Replication:
    """How many copies each partition gets, and how many must have a record before the broker
    acknowledges it (producers with ``acks=all``)."""

    factor: int
    min_insync: int
    warning: str = ""


def replication_of(topics: TopicSettings, brokers: int) -> Replication:
    """The replication of new topics on a cluster of ``brokers``. Raises :class:`TopicError`.

    >>> replication_of(TopicSettings(), brokers=3)
    Replication(factor=3, min_insync=2, warning='')
    >>> r = replication_of(TopicSettings(), brokers=1); (r.factor, r.min_insync)
    (1, 1)
    >>> print(r.warning)  # doctest: +ELLIPSIS
    the cluster has 1 broker(s): topics get 1 copies...
    """
    factor = topics.replication_factor
    warning = ""
    if factor is None:
        factor = max(1, min(3, brokers))
        if factor < 3:
            warning = (f"the cluster has {brokers} broker(s): topics get {factor} copies, and "
                       f"an accepted label survives only as long as {factor} disk(s); run 3 "
                       f"brokers or more (deploy/kafka-cluster.sh for one machine), or set "
                       f"kafka.topics.replication_factor to silence this")
    elif factor > brokers:
        raise TopicError(f"kafka.topics.replication_factor is {factor} but the cluster has "
                         f"{brokers} broker(s); lower it to {brokers} or add brokers")
    min_insync = topics.min_insync_replicas or max(1, factor - 1)
    if min_insync > factor:
        raise TopicError(f"kafka.topics.min_insync_replicas is {min_insync} but topics get "
                         f"{factor} copies: every acks=all write would be refused; set it to "
                         f"{max(1, factor - 1)}")
    return Replication(factor, min_insync, warning)


@dataclass(frozen=True)
class Mismatch:
    """An existing topic that differs from what the pipeline needs, and the fix."""

    topic: str
    what: str
    fix: str
    refuse: bool

    def __str__(self) -> str:
        return f"topic {self.topic}: {self.what}; fix: {self.fix}"


def mismatches(spec: TopicSpec, replication: Replication, partitions: int, replicas: int,
               config: dict[str, str], bootstrap: str) -> list[Mismatch]:
    """How the existing topic (``partitions``, fewest ``replicas`` of a partition, its
    effective ``config``) differs from ``spec``: refusals first.

    >>> spec = TopicSpec("labels", 4, {"retention.ms": "-1"})
    >>> [str(m) for m in mismatches(spec, Replication(3, 2), 4, 3,
    ...     {"retention.ms": "604800000", "min.insync.replicas": "2"}, "b:9092")]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['topic labels: retention.ms is 604800000, not -1 (its records are deleted, and a rebuild
    loses them); fix: kafka-configs.sh --bootstrap-server b:9092 --entity-type topics
    --entity-name labels --alter --add-config retention.ms=-1']
    """
    name, found = spec.name, []

    def configs(setting: str) -> str:
        return (f"kafka-configs.sh --bootstrap-server {bootstrap} --entity-type topics "
                f"--entity-name {name} --alter --add-config {setting}")

    if spec.single and partitions != 1:
        found.append(Mismatch(name, f"{partitions} partitions, not 1 (it is read as one "
                              "ordered log)", f"delete it (kafka-topics.sh --bootstrap-server "
                              f"{bootstrap} --delete --topic {name}) or name a new topic in "
                              "kafka.topics", True))
    wanted_retention = spec.config.get("retention.ms")
    if wanted_retention == "-1" and config.get("retention.ms", "-1") != "-1":
        found.append(Mismatch(name, f"retention.ms is {config['retention.ms']}, not -1 (its "
                              "records are deleted, and a rebuild loses them)",
                              configs("retention.ms=-1"), True))
    compacted = "compact" in config.get("cleanup.policy", "delete")
    if "compact" not in spec.config.get("cleanup.policy", "delete") and compacted:
        found.append(Mismatch(name, "cleanup.policy is compact (it keeps one record per key: "
                              "labels and selections of one item would be lost)",
                              configs("cleanup.policy=delete"), True))
    elif spec.config.get("cleanup.policy") == "compact" and not compacted:
        found.append(Mismatch(name, f"cleanup.policy is {config.get('cleanup.policy')}, not "
                              "compact (it grows without bound)",
                              configs("cleanup.policy=compact"), False))
    if not spec.single and partitions < spec.partitions:
        found.append(Mismatch(name, f"{partitions} partitions, fewer than "
                              f"kafka.topics.partitions={spec.partitions} (less parallelism)",
                              f"kafka-topics.sh --bootstrap-server {bootstrap} --alter --topic "
                              f"{name} --partitions {spec.partitions}", False))
    if replicas < replication.factor:
        found.append(Mismatch(name, f"{replicas} copies, fewer than {replication.factor} (a "
                              "lost disk can lose its records)",
                              "list " + str(replication.factor) + " brokers for each partition "
                              "in a plan.json, then kafka-reassign-partitions.sh "
                              f"--bootstrap-server {bootstrap} --reassignment-json-file "
                              "plan.json --execute", False))
    insync = int(config.get("min.insync.replicas", "1"))
    if insync < replication.min_insync:
        found.append(Mismatch(name, f"min.insync.replicas is {insync}, not "
                              f"{replication.min_insync} (an acknowledged record may be on "
                              "one disk only)", configs(
                                  f"min.insync.replicas={replication.min_insync}"), False))
    return sorted(found, key=lambda m: not m.refuse)


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
        TopicSpec(t.control, 1, big, single=True),
        TopicSpec(t.models, 1, compacted, single=True),
        TopicSpec(t.state, 1, compacted, single=True),
        TopicSpec(t.checkpoint, 1, compacted, single=True),
        TopicSpec(t.reference, 1, compacted, single=True),  # read whole by every scorer
        TopicSpec(t.events, 1, {}),
        TopicSpec(t.deadletter, 1, {}),
        TopicSpec(t.expert, t.partitions, forever),  # open requests: an expert reads from the start
        TopicSpec(t.commands, 1, forever),  # who ordered what, and when
        *[TopicSpec(name, t.partitions, labels) for name in vendor_labels_topics(kafka)],
    ]


def texts_group(kafka: KafkaSettings) -> str:
    """The consumer group the scorers share the ``texts`` partitions in."""
    return f"{kafka.app_id}.texts"


def labels_group(kafka: KafkaSettings) -> str:
    """The consumer group the workers share the labels topics' partitions in."""
    return f"{kafka.app_id}.labels"


def transactional_id(kafka: KafkaSettings) -> str:
    """The one transactional id of a deployment's coordinator role (stream/fencing.py).

    >>> transactional_id(KafkaSettings(app_id="shop"))
    'shop.coordinator'
    """
    return f"{kafka.app_id}.coordinator"


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
        replication = replication_of(kafka.topics, len(admin.describe_cluster()["brokers"]))
        if replication.warning and missing:
            log.warning(replication.warning)
        created = []
        for spec in missing:  # one by one: another worker may create the same topic meanwhile
            try:
                config = {**spec.config, "min.insync.replicas": str(replication.min_insync)}
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication.factor,
                              topic_configs=config)],
                    timeout_ms=int(timeout_s * 1000),
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
            except TopicAuthorizationFailedError:  # not the worker role: the workers make them
                return created
        _check_control(admin, kafka, timeout_s)
        _check_existing(admin, kafka, [s for s in specs if s.name not in created], replication)
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
    groups = [kafka.app_id, texts_group(kafka), labels_group(kafka)]
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


def _check_existing(admin: KafkaAdminClient, kafka: KafkaSettings, specs: list[TopicSpec],
                    replication: Replication) -> None:
    """Warn about, or refuse (:class:`TopicError`), topics that exist with another layout."""
    if not specs:
        return
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    try:
        layouts = {t["name"]: t["partitions"]
                   for t in admin.describe_topics([s.name for s in specs])}
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs],
            config_filter="all")
    except KafkaError as e:  # e.g. a role without DESCRIBE_CONFIGS: the workers check them
        log.warning("could not check the existing topics' settings: %s: %s", type(e).__name__, e)
        return
    found: list[Mismatch] = []
    for spec in specs:
        partitions = layouts.get(spec.name) or []
        config = {k: v["value"] for k, v in described["topic"].get(spec.name, {}).items()}
        if partitions:
            replicas = min(len(p["replica_nodes"]) for p in partitions)
            found += mismatches(spec, replication, len(partitions), replicas, config,
                                kafka.bootstrap)
    for m in found:
        if not m.refuse:
            log.warning("%s", m)
    refused = [str(m) for m in found if m.refuse]
    if refused:
        raise TopicError("existing topics would lose or corrupt data:\n  " + "\n  ".join(refused))


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
