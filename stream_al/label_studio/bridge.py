"""The bridge's shell: Kafka on one side, Label Studio's REST API on the other; items become
tasks on the main thread, annotations become labels on a second one.

Delivery (at least once in, exactly once in effect out):

- ``selected`` and ``expert`` are read in the bridge's own consumer group
  (``<app_id>-label-studio``) with auto-commit off; a poll's records become tasks in one import
  request per project, and the offsets are committed only after Label Studio answered with the
  tasks' ids. A crash in between redelivers the records; the bridge knows every task it made
  by item id (read from the projects at start, kept up to date after each import) and makes no
  second task. An import that fails (Label Studio restarting) is retried after re-reading the
  tasks updated since just before it, so an import the server did but could not answer is not
  done twice.
- Annotations are **polled**: every ``poll_s`` the bridge lists the tasks updated since its
  last look (Label Studio bumps a task's ``updated_at`` whenever an annotation on it is saved,
  changed or skipped). Polling, not webhooks, because a poll catches up by itself after the
  bridge or the server was down (a webhook sent while the bridge is down is lost), needs no
  port of the bridge reachable from the server, and costs one small request per project a
  poll (the watermark keeps the answer to the tasks that changed).
- Each (item, annotator, class) goes to ``labels`` once, each skip to ``events`` once: what was
  sent is read back from those topics at start, so a restart sends nothing twice. An annotator
  who changes their answer sends the new class once; the worker applies the label policy (the
  first answer stands; the change is an ``answer_changed`` event).

Several bridges may share the group (scaled out, or a rolling restart where the old and the new
one overlap): the group settles, a bridge joining or leaving costs one rebalance, and every item
becomes one task (``benchmarks/bridge_group.py``, ``tests/label_studio/test_group.py``; what it
takes of kafka-python 3.0.12: :data:`POLL_MS` and :func:`~stream_al.stream.clients.subscribe`).
What one bridge per group does not have: each bridge relays the answers of the whole project,
so each answer goes to ``labels`` once per bridge (the worker counts the extra ones as
duplicates, the first answer stands); and a bridge killed after an import was answered and
before its commit (a commit's round trip: no double in 2 runs killed mid-stream) leaves that
poll's items to the bridge that takes its partitions (after the session timeout, 45 s), which
read the project at its own start and makes their tasks again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stream_al.config import EmbedderSettings, KafkaSettings
from stream_al.label_studio.client import LabelStudio, LabelStudioError, Project, parse_time
from stream_al.label_studio.metrics import BridgeMetrics
from stream_al.label_studio.tasks import (
    SOURCE,
    Answer,
    Guess,
    Skip,
    answer_of,
    classes_of,
    expert_task_of,
    labeling_config,
    merged_classes,
    ordered_many,
    task_of,
)
from stream_al.stream import clients
from stream_al.stream.messages import (
    Event,
    ExpertRequest,
    LabelIn,
    ModelUpdate,
    SelectedItem,
    parse,
)

log = logging.getLogger(__name__)

REREAD_S = 2.0
"""How far before its last look the bridge re-reads updated tasks: updates committed late
(the server's clock stamps a task before its transaction ends) are not missed; what was
already sent is not sent again."""
RETRY_S = 1.0
POLL_MS = 100
"""How long a poll of the consumer loop waits for records (it returns as soon as some come).
kafka-python 3.0.12 throws away a join answered between two polls and joins again, and a
group leader's new join is a new rebalance; at 100 ms no leader's answer was thrown away in 25
runs of ``benchmarks/bridge_group.py`` (2-3 bridges in one group), while polls of 0 ms threw
away 4-16 a run and once kept the group rebalancing for minutes."""


@dataclass(frozen=True)
class BridgeOptions:
    url: str
    token: str
    project: str = "stream-al"
    """Title of the project of selected items (created if missing)."""
    expert_project: str | None = "stream-al expert"
    """Title of the expert project (None: expert requests are not bridged)."""
    classes: tuple[str, ...] = ()
    """Classes to offer besides the model's and ``kafka.label_classes``."""
    group: str | None = None
    vendor: str | None = None
    """Secured cluster: labels go to ``<labels>.<vendor>`` with bare annotator ids (the worker
    puts ``<vendor>/`` in front); else to ``labels`` as ``label-studio/<user id>``."""
    poll_s: float = 0.5
    metrics_port: int | None = None
    pre_annotate: bool = True
    max_idle_s: float | None = None


@dataclass
class Board:
    """One Label Studio project and what the bridge made in it."""

    kind: str
    project: Project
    classes: list[str]
    tasks: dict[str, int] = field(default_factory=dict)
    """Item id -> task id."""
    items: dict[int, str] = field(default_factory=dict)
    """Task id -> item id."""
    since: datetime | None = None
    """Updated-at watermark of the annotation polls (None: read everything)."""

    def note(self, task: dict[str, Any]) -> None:
        item_id = (task.get("data") or {}).get("item_id")
        if item_id is not None:
            self.tasks.setdefault(str(item_id), task["id"])
            self.items[task["id"]] = str(item_id)


class Bridge:
    def __init__(self, kafka: KafkaSettings, embedder: EmbedderSettings, options: BridgeOptions,
                 metrics: BridgeMetrics | None = None) -> None:
        """``kafka``: the topics and clients; ``embedder``: the one the scorers use (the
        pre-annotations embed each task's text with it)."""
        self.kafka = kafka
        self.embedder_settings = embedder
        self.options = options
        self.metrics = metrics or BridgeMetrics()
        self.ls = LabelStudio(options.url, options.token)
        self.stop = threading.Event()
        self.sent: set[tuple[str, str, str]] = set()
        """(item id, annotator, class or ``skip``) already on labels / events."""
        self.model: ModelUpdate | None = None
        self._snapshot: Any = None
        self._embedder: Any = None
        self.boards: dict[str, Board] = {}
        self.failure: Exception | None = None
        """What stopped the relay thread, raised again by :meth:`run`."""
        self.last_activity = 0.0
        t = self.kafka.topics
        self.labels_topic = t.labels_of(options.vendor) if options.vendor else t.labels
        self.prefix = None if options.vendor else SOURCE

    # ---- start ---------------------------------------------------------------------------------
    @property
    def group(self) -> str:
        return self.options.group or f"{self.kafka.app_id}-label-studio"

    def known_classes(self) -> list[str]:
        model = list(self.model.classes) if self.model else []
        return merged_classes(merged_classes(list(self.options.classes),
                                             self.kafka.label_classes), model)

    def _board(self, kind: str, title: str) -> Board:
        classes = self.known_classes()
        project = self.ls.project_named(title)
        if project is None:
            if not classes:
                raise LabelStudioError(
                    "no classes known to offer annotators: the model has none yet; set "
                    "kafka.label_classes or pass --classes A,B,...")
            project = self.ls.create_project(title, labeling_config(classes, kind == "expert"),
                                             "Items stream-al selected for labelling")
            log.info("created Label Studio project %r (id %d)", title, project.id)
        board = Board(kind, project, classes_of(project.label_config))
        for task in self.ls.tasks(project.id):
            board.note(task)
        self._offer(board, classes)
        return board

    def _offer(self, board: Board, classes: Iterable[str]) -> None:
        """Add the classes ``board`` lacks to its labelling config."""
        merged = merged_classes(board.classes, classes)
        if merged != board.classes:
            self.ls.set_label_config(board.project.id,
                                     labeling_config(merged, board.kind == "expert"))
            log.info("project %d offers %d classes now", board.project.id, len(merged))
            board.classes = merged

    def _read_sent(self) -> None:
        """What earlier runs sent: our labels on the labels topic, our skips on events."""
        for record in read_to_end(self.kafka, self.labels_topic):
            label = parse(LabelIn, record.value)
            if isinstance(label, LabelIn):
                annotator = self._ours(label.annotator_id)
                if annotator is not None:
                    self.sent.add((label.item_id, annotator, label.label))
        for record in read_to_end(self.kafka, self.kafka.topics.events):
            event = parse(Event, record.value)
            if isinstance(event, Event) and event.kind == "annotation_skipped" \
                    and event.detail.get("source") == SOURCE:
                for item_id in event.item_ids:
                    self.sent.add((item_id, str(event.detail.get("annotator")), "skip"))

    def _ours(self, annotator_id: str) -> str | None:
        if self.prefix is None:
            return annotator_id
        head, _, user = annotator_id.partition("/")
        return user if head == self.prefix and user else None

    def _follow_models(self) -> Any:
        consumer = clients.consumer(self.kafka, client_id=f"{self.kafka.app_id}-label-studio",
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=64 * 2**20,
                                    fetch_max_bytes=64 * 2**20)
        assign_all(consumer, self.kafka.topics.models)
        return consumer

    def _take_models(self, consumer: Any, timeout_ms: int = 0) -> None:
        for records in consumer.poll(timeout_ms=timeout_ms).values():
            for record in records:
                update = parse(ModelUpdate, record.value)
                if isinstance(update, ModelUpdate) and (
                        self.model is None or update.version >= self.model.version):
                    self.model, self._snapshot = update, None

    # ---- items -> tasks ------------------------------------------------------------------------
    def guess_many(self, texts: list[str]) -> list[Guess | None]:
        """The current model's top class and probability for ``texts`` (None: no model)."""
        if not self.options.pre_annotate or self.model is None or len(self.model.classes) < 2:
            return [None] * len(texts)
        if self._embedder is None:
            from stream_al.embed import make_embedder

            self._embedder = make_embedder(self.embedder_settings)
        if self._snapshot is None:
            self._snapshot = self.model.to_snapshot(self._embedder.dim)
        proba = self._snapshot.predict_proba_many(self._embedder.embed(texts))
        top = proba.argmax(axis=1)
        return [Guess(self._snapshot.classes[k], float(proba[i, k]), self.model.version)
                for i, k in enumerate(top)]

    def create_many(self, board: Board, tasks: list[tuple[str, dict[str, Any]]],
                    published: list[float]) -> None:
        """Create the tasks of items ``board`` has none for; retried until Label Studio takes
        them (re-reading what it has first, so a lost answer makes no second task)."""
        while True:
            todo = [(item_id, t) for item_id, t in tasks if item_id not in board.tasks]
            if not todo:
                return
            before = datetime.now().astimezone() - timedelta(seconds=60)
            try:
                ids = self.ls.import_tasks(board.project.id, [t for _, t in todo])
                for (item_id, task), task_id in zip(todo, ids, strict=True):
                    board.tasks[item_id] = task_id
                    board.items[task_id] = item_id
                    if task["overlap"] != 1:
                        self.ls.set_overlap(task_id, task["overlap"])
                now = time.time()
                self.metrics.count_tasks(board.kind, len(ids))
                for at in published:
                    self.metrics.observe_task_latency(now - at)
                return
            except LabelStudioError as e:
                self.metrics.count_error()
                log.warning("creating %d tasks failed (%s); retrying", len(todo), e)
                if self.stop.wait(RETRY_S):
                    raise
                try:
                    for task in self.ls.tasks(board.project.id, updated_since=before):
                        board.note(task)
                except LabelStudioError:
                    pass

    def handle_many(self, records: list[Any]) -> None:
        t = self.kafka.topics
        published: dict[str, float] = {}
        items = []
        for r in records:
            if r.topic == t.selected and isinstance(i := parse(SelectedItem, r.value),
                                                    SelectedItem):
                items.append(i)
                published.setdefault(i.item_id, r.timestamp / 1000)
        if items:
            board = self.boards["items"]
            items = [i for i in ordered_many(items) if i.item_id not in board.tasks]
            guesses = self.guess_many([i.text for i in items])
            self.create_many(board, [(i.item_id, task_of(i, g)) for i, g in zip(items, guesses, strict=True)],
                             [published[i.item_id] for i in items])
        expert = self.boards.get("expert")
        requests = [q for r in records if r.topic == t.expert
                    for q in [parse(ExpertRequest, r.value)] if isinstance(q, ExpertRequest)]
        if expert is not None and requests:
            first = {q.item_id: q for q in reversed(requests)}
            self.create_many(expert, [(i, expert_task_of(q)) for i, q in first.items()
                                      if i not in expert.tasks], [])

    # ---- annotations -> labels -----------------------------------------------------------------
    def relay(self, producer: Any) -> int:
        """Send the answers given since the last look; how many were sent."""
        out: list[tuple[str, Answer | Skip]] = []
        for board in self.boards.values():
            newest = board.since
            for task in self.ls.tasks(board.project.id, updated_since=board.since):
                updated = parse_time(task["updated_at"]) if task.get("updated_at") else None
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
                item_id = board.items.get(task["id"]) or (task.get("data") or {}).get("item_id")
                if item_id is None:
                    continue
                for annotation in task.get("annotations") or []:
                    at = annotation.get("updated_at") or annotation.get("created_at")
                    answer = answer_of(annotation, str(item_id),
                                       parse_time(at).timestamp() if at else time.time())
                    if answer is None:
                        continue
                    key = (answer.item_id, answer.annotator,
                           answer.label if isinstance(answer, Answer) else "skip")
                    if key not in self.sent:
                        out.append((board.kind, answer))
            if newest is not None:
                board.since = newest - timedelta(seconds=REREAD_S)
        for kind, answer in out:
            if isinstance(answer, Answer):
                label = answer.label_in(self.prefix)
                producer.send(self.labels_topic, key=answer.item_id.encode(),
                              value=label.to_bytes())
                self.metrics.count_relayed(kind, "label")
            else:
                event = Event(schema_version=1, kind="annotation_skipped", at=time.time(),
                              item_ids=[answer.item_id],
                              detail={"source": SOURCE, "annotator": answer.annotator,
                                      "project": kind})
                producer.send(self.kafka.topics.events, key=answer.item_id.encode(),
                              value=event.to_bytes())
                self.metrics.count_relayed(kind, "skip")
        if out:
            producer.flush()
            for _, a in out:
                self.sent.add((a.item_id, a.annotator,
                               a.label if isinstance(a, Answer) else "skip"))
        return len(out)

    # ---- run -----------------------------------------------------------------------------------
    def run(self, say: Callable[[str], None] = print) -> None:
        o, t = self.options, self.kafka.topics
        if o.metrics_port is not None:
            server, _ = self.metrics.start_http_server(o.metrics_port)
            say(f"bridge: metrics on port {server.server_port}")
        models = self._follow_models()
        self._take_models(models, timeout_ms=2000)
        self._read_sent()
        self.boards["items"] = self._board("items", o.project)
        if o.expert_project:
            self.boards["expert"] = self._board("expert", o.expert_project)
        consumer = clients.consumer(self.kafka, group_id=self.group, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    client_id=f"{self.kafka.app_id}-label-studio",
                                    metadata_max_age_ms=3000)
        topics = [t.selected, *([t.expert] if o.expert_project else [])]
        for topic in topics:  # a group joined before the client knows the topics' partitions
            wait_for_partitions(consumer, topic, 120.0)  # is assigned nothing until it rejoins
        clients.subscribe(consumer, topics)
        producer = clients.producer(self.kafka, acks="all", linger_ms=5,
                                    client_id=f"{self.kafka.app_id}-label-studio")
        self.metrics.readiness.mark("projects")
        say(f"bridge: projects {[b.project.id for b in self.boards.values()]} at {o.url}, "
            f"{sum(len(b.tasks) for b in self.boards.values())} tasks known, "
            f"{len(self.sent)} answers already sent; group {self.group}")
        last_lag = 0.0
        self.last_activity = time.monotonic()
        relaying = threading.Thread(target=self._relay_loop, args=(producer,),
                                    name="label-studio-relay", daemon=True)
        relaying.start()
        try:
            while not self.stop.is_set():
                batches = consumer.poll(timeout_ms=POLL_MS, max_records=500)
                records = [r for rs in batches.values() for r in rs]
                if records:
                    self.handle_many(records)
                    commit_read(consumer)
                    self.last_activity = time.monotonic()
                self._take_models(models)
                if self.model is not None:
                    for board in self.boards.values():
                        self._offer(board, self.model.classes)
                if time.monotonic() - last_lag >= 2.0:
                    last_lag = time.monotonic()
                    self.metrics.set_lag(lag_of(consumer))
                if o.max_idle_s is not None \
                        and time.monotonic() - self.last_activity > o.max_idle_s:
                    break
        finally:
            self.stop.set()
            relaying.join(30)
            producer.flush()
            producer.close()
            consumer.close(autocommit=False)
            models.close()
            self.ls.close()
        if self.failure is not None:
            raise self.failure

    def _relay_loop(self, producer: Any) -> None:
        """Annotations to labels every ``poll_s``, on a thread of its own: a slow answer from
        Label Studio never holds up the tasks of newly selected items."""
        try:
            while not self.stop.wait(self.options.poll_s):
                try:
                    if self.relay(producer):
                        self.last_activity = time.monotonic()
                except LabelStudioError as e:
                    self.metrics.count_error()
                    log.warning("reading annotations failed (%s); retrying", e)
        except Exception as e:  # a Kafka failure: stop the bridge, report it from run()
            self.failure = e
            self.stop.set()


def wait_for_partitions(consumer: Any, topic: str, timeout_s: float = 30.0) -> set[int]:
    """The partitions of ``topic`` once ``consumer``'s client knows them."""
    deadline = time.monotonic() + timeout_s
    while not (partitions := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise LabelStudioError(f"topic {topic} does not exist; start a worker first "
                                   "(it makes the topics)")
        time.sleep(0.2)
    return partitions


def assign_all(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Assign every partition of ``topic`` from the beginning (no group)."""
    from kafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in sorted(wait_for_partitions(consumer, topic,
                                                                       timeout_s))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    return tps


def read_to_end(kafka: Any, topic: str) -> Iterable[Any]:
    """Every record of ``topic`` up to its end now."""
    consumer = clients.consumer(kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = assign_all(consumer, topic)
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                yield from records
    finally:
        consumer.close()


def commit_read(consumer: Any) -> bool:
    """Commit the offsets a kafka-python consumer of a group has read; False when the group
    refused it because it is rebalancing (``RebalanceInProgressError``, which kafka-python 3
    raises as "not a fatal error") or dropped the member (``CommitFailedError``). Their tasks
    are made already: a member that keeps the partition goes on reading and its next commit
    covers them; if the partition moves (or the bridge restarts) they come again from the
    offset committed before, and an item whose task a project already holds gets no second
    one. Any other error is raised."""
    from kafka.errors import CommitFailedError, RebalanceInProgressError

    try:
        consumer.commit()
    except (CommitFailedError, RebalanceInProgressError) as e:
        log.warning("offsets not committed (%s: %s); the records come again if their "
                    "partition moves", type(e).__name__, e)
        return False
    return True


def lag_of(consumer: Any) -> int:
    """Records of the assigned partitions not yet read."""
    tps = list(consumer.assignment())
    if not tps:
        return 0
    end = consumer.end_offsets(tps)
    return sum(max(0, end[tp] - consumer.position(tp)) for tp in tps)
