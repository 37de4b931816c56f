"""A worker on the secured broker, under attack from the clients that may reach it.

One worker (role ``worker``) learns AG News from a producer (role ``producer``) and a vendor
(``vendor-acme``). The tests then send, in file order, what a stranger with a producer's or a
vendor's credentials could send (and records only a worker may write, from other roles). After
each attack the worker still serves good records sent after it, nothing accepted before it is
lost, the model and budget are unchanged where the records were refused, and at the end its
RSS is within 10% of its level before the attacks.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from kafka.errors import TopicAuthorizationFailedError

from stream_al.config import KafkaSettings, TopicSettings
from stream_al.stream import clients
from stream_al.stream.messages import (
    DeadLetter,
    Event,
    Ledger,
    ModelUpdate,
    SelectedItem,
    parse,
)
from stream_al.stream.topics import ensure_topics
from tests.stream.harness import AG_NEWS, Worker, read_topic, send_raw, wait_for

pytestmark = pytest.mark.kafka

TOPICS = ("texts", "scored", "selected", "labels", "models", "events", "deadletter", "control",
          "state", "checkpoint", "expert", "commands")


# ---- the deployment -------------------------------------------------------------------------------
class Deployment:
    def __init__(self, cluster, directory: Path) -> None:
        app = f"h{uuid.uuid4().hex[:8]}"
        template = KafkaSettings(app_id=app, topics=TopicSettings(
            **{t: f"{app}.{t}" for t in TOPICS}, partitions=2, vendors=["acme", "globex"]))
        self.cluster, self.t = cluster, template.topics
        self.worker = cluster.role("worker", deployment=template)
        self.producer = cluster.role("producer", deployment=template)
        self.acme = cluster.role("vendor", "acme", deployment=template)
        self.operator = cluster.role("operator", deployment=template)
        ensure_topics(self.worker)
        self.gold = {f"ag-{i}": row["label"] for i, row in enumerate(
            csv.DictReader(AG_NEWS.open(encoding="utf-8"))) if i < 3000}
        self.texts = {f"ag-{i}": row["text"] for i, row in enumerate(
            csv.DictReader(AG_NEWS.open(encoding="utf-8"))) if i < 3000}
        self.sent_texts = 0
        self.answered: set[str] = set()
        self.config = self._config(directory, template)

    def _config(self, directory: Path, template: KafkaSettings) -> Path:
        password = directory / "worker.password"
        password.write_text(self.worker.security.secret() + "\n")
        password.chmod(0o600)
        s = self.worker.security
        config = {
            "embedder": {"name": "hashing"},
            "budget": {"fraction": 0.1, "warmup_labels": 4},
            "selection": {"batch_interval": 50},
            "kafka": {
                "bootstrap": self.cluster.bootstrap, "app_id": template.app_id,
                "metrics_port": 0, "state_dir": str(directory / "state"), "batch_within_s": 0.1,
                "topics": template.topics.model_dump(),
                "security": {"protocol": "SASL_SSL", "username": s.username,
                             "password_file": str(password), "ca_file": str(s.ca_file)},
            },
        }
        path = directory / "worker.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    # good traffic
    def send_texts(self, n: int) -> list[str]:
        ids = [f"ag-{i}" for i in range(self.sent_texts, self.sent_texts + n)]
        self.sent_texts += n
        send_raw(self.producer, self.t.texts, [(i.encode(), orjson.dumps(
            {"schema_version": 1, "id": i, "text": self.texts[i], "source": "ag",
             "timestamp": 1.0})) for i in ids])
        return ids

    def selected(self) -> list[SelectedItem]:
        items = [parse(SelectedItem, r.value) for r in read_topic(self.acme, self.t.selected,
                                                                    timeout_s=10)]
        return [x for x in items if isinstance(x, SelectedItem)]

    def answer(self) -> int:
        """The gold label of every selected item not answered yet, as acme's annotator."""
        new = [x.item_id for x in self.selected() if x.item_id not in self.answered]
        send_raw(self.acme, self.t.labels_of("acme"), [(i.encode(), label(i, self.gold[i]))
                                                         for i in new])
        self.answered.update(new)
        return len(new)

    # what the worker made of it
    def ledger(self) -> Ledger | None:
        ledgers = [parse(Ledger, r.value) for r in read_topic(self.worker, self.t.state, timeout_s=5)
                   if r.key == b"ledger"]
        return ledgers[-1] if ledgers else None

    def model(self) -> ModelUpdate | None:
        updates = [parse(ModelUpdate, r.value) for r in read_topic(self.worker, self.t.models,
                                                                     timeout_s=5)]
        good = [u for u in updates if isinstance(u, ModelUpdate) and u.version < 10**5]
        return max(good, key=lambda u: u.version, default=None)

    def dead_letters(self) -> list[DeadLetter]:
        return [parse(DeadLetter, r.value) for r in read_topic(self.worker, self.t.deadletter,
                                                                timeout_s=5)]

    def event_kinds(self) -> set[str]:
        events = [parse(Event, r.value) for r in read_topic(self.worker, self.t.events,
                                                             timeout_s=5)]
        return {e.kind for e in events if isinstance(e, Event)}

    def seen_after(self, n: int) -> bool:
        ledger = self.ledger()
        return ledger is not None and ledger.seen >= n


def label(item_id: str, name: str, annotator: str = "alice", **extra) -> bytes:
    return orjson.dumps({"schema_version": 1, "item_id": item_id, "label": name,
                         "annotator_id": annotator, "timestamp": 1.0, **extra})


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def deployed(secure_kafka, tmp_path_factory):
    d = Deployment(secure_kafka, tmp_path_factory.mktemp("hostile"))
    worker = Worker(d.config, tmp_path_factory.mktemp("hostile-log") / "worker.log")
    try:
        d.send_texts(400)
        wait_for(lambda: d.seen_after(400), 120, "the worker to count the first 400 texts")

        def learned() -> bool:
            d.answer()
            model = d.model()
            return model is not None and len(model.classes) == 4 and model.n_labels >= 12

        wait_for(learned, 180, "a first model of the four AG News classes")
        d.baseline = {"rss": rss_bytes(worker.process.pid)}
        yield d, worker
    finally:
        worker.stop()


def still_serves(d: Deployment, n: int = 50) -> None:
    """Good texts sent now are counted, and answered labels are learned."""
    before = d.ledger().seen
    d.send_texts(n)
    wait_for(lambda: d.seen_after(before + n), 90, f"the worker to count {n} good texts")


def reasons(d: Deployment) -> set[str]:
    return {x.reason for x in d.dead_letters()}


# ---- the attacks ---------------------------------------------------------------------------------
def test_garbage_texts_are_dead_lettered_and_good_ones_after_them_are_served(deployed):
    d, _ = deployed
    seen, model = d.ledger().seen, d.model()
    nested = b'{"a": ' * 3000 + b"1" + b"}" * 3000
    bad = [
        b"\xff\xfe\x00 not utf-8",
        b"{not json",
        b'{"schema_version": 1, "id": 7, "text": ["x"], "source": 1, "timestamp": "t"}',
        b'{"schema_version": 1, "id": "n", "text": "x", "source": "s", "timestamp": NaN}',
        b'{"schema_version": 1, "id": "i", "text": "x", "source": "s", "timestamp": Infinity}',
        orjson.dumps({"schema_version": 1, "id": "z", "text": "\x00\u200b\u200d\ufeff" * 1000,
                      "source": "s", "timestamp": 1.0}),
        nested,
        orjson.dumps({"schema_version": 1, "id": "m", "text": "ok", "source": "s",
                      "timestamp": 1.0, "metadata": {"a": "x" * 100_000}}),
        orjson.dumps({"schema_version": 1, "id": "k" * 10_000, "text": "ok", "source": "s",
                      "timestamp": 1.0}),
        None,
    ]
    send_raw(d.producer, d.t.texts, [(b"x" * 10_000, value) for value in bad])
    big = "A long text. " * (5 * 2**20 // 13)  # 5 MB: cut to max_text_bytes, and kept
    send_raw(d.producer, d.t.texts, [(b"big-1", orjson.dumps(
        {"schema_version": 1, "id": "big-1", "text": big, "source": "s", "timestamp": 1.0}))])
    still_serves(d)
    assert d.ledger().seen == seen + 1 + 50  # the 5 MB text and the good ones, nothing else
    assert {"invalid_utf8", "invalid_json", "invalid_field", "empty_text"} <= reasons(d)
    assert all(x.key is None or len(x.key) <= 256 for x in d.dead_letters())
    assert d.model().version >= model.version


def test_invented_classes_are_capped_and_unprintable_ones_refused(deployed):
    d, _ = deployed
    items = [x.item_id for x in d.selected()][:40]
    junk = [(i.encode(), label(i, f"junk-{n}", annotator=f"bot-{n}"))
            for n in range(2000) for i in items[n % len(items):][:1]]
    junk += [(items[0].encode(), label(items[0], "L" * 10_000)),
             (items[0].encode(), label(items[0], "World\x00\x1b[31m")),
             (items[0].encode(), label(items[0], "INJECTED\u200b"))]
    send_raw(d.acme, d.t.labels_of("acme"), junk)
    wait_for(lambda: "class_cap" in reasons(d), 120, "labels over the class cap refused")
    still_serves(d)
    assert "class_cap" in d.event_kinds()
    classes = set(d.model().classes)
    assert len(classes - {"World", "Sports", "Business", "Sci/Tech"}) <= 25
    assert all(name.isprintable() and len(name) <= 100 for name in classes)


def test_a_vendor_cannot_speak_as_another_vendor_or_as_an_expert(deployed):
    d, _ = deployed
    item = next(x.item_id for x in d.selected())
    send_raw(d.acme, d.t.labels_of("acme"), [(item.encode(), label(item, "World", "expert/eve")),
                                             (item.encode(), label(item, "World", "globex/bob"))])
    for topic in (d.t.labels_of("globex"), d.t.labels_of("expert"), d.t.labels):
        with pytest.raises(TopicAuthorizationFailedError):
            clients.producer(d.acme, max_block_ms=10_000).send(topic, value=b"{}").get(15)


def test_duplicate_and_conflicting_labels_do_not_change_what_was_learned(deployed):
    d, _ = deployed
    answered = sorted(d.answered)[:20]
    n_labels = d.model().n_labels
    send_raw(d.acme, d.t.labels_of("acme"), [(i.encode(), label(i, d.gold[i])) for i in answered]
             + [(i.encode(), label(i, "Sports" if d.gold[i] != "Sports" else "World"))
                for i in answered])
    still_serves(d)
    d.answer()
    wait_for(lambda: d.model().n_labels >= n_labels, 60, "the model to keep its labels")
    wait_for(lambda: "answer_changed" in d.event_kinds(), 60, "an answer_changed event")


def test_forged_internal_records_from_clients_without_the_worker_role_are_refused(deployed):
    d, _ = deployed
    ledger, model = d.ledger(), d.model()
    forged = {
        d.t.control: orjson.dumps({"schema_version": 1, "kind": "labels", "labels": [],
                                   "received_at": []}),
        d.t.state: orjson.dumps({"schema_version": 1, "seen": 0, "spent": 1e308,
                                 "control_offset": 2**62, "at": 1.0}),
        d.t.selected: orjson.dumps({"schema_version": 1, "cost": 1e308}),
        d.t.models: orjson.dumps({"schema_version": 1, "version": 999999}),
    }
    for who in (d.producer, d.acme):
        for topic, value in forged.items():
            with pytest.raises(TopicAuthorizationFailedError):
                clients.producer(who, max_block_ms=10_000).send(topic, value=value).get(15)
    still_serves(d)
    after = d.ledger()
    assert after.spent >= ledger.spent and after.spent < 1e6
    assert d.model().version >= model.version


def test_a_decompression_bomb_on_models_is_refused_even_from_a_worker(deployed):
    import base64
    import io
    import zipfile

    d, worker = deployed
    buf = io.BytesIO()
    with (zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("weights.npy", "w", force_zip64=True) as member):
        for _ in range(300):
            member.write(bytes(2**20))
    bomb = orjson.dumps({"schema_version": 1, "version": 10**6, "classes": ["a"],
                         "n_labels": 1, "created_at": 1.0,
                         "snapshot": base64.b64encode(buf.getvalue()).decode()})
    with pytest.raises(TopicAuthorizationFailedError):
        clients.producer(d.operator, max_block_ms=10_000).send(d.t.models, value=bomb).get(15)
    send_raw(d.worker, d.t.models, [(b"current", bomb)])  # a worker's credentials, stolen
    wait_for(lambda: "implausible" in reasons(d), 60, "the bomb dead-lettered as implausible")
    still_serves(d)


def test_a_rollback_is_applied_only_if_the_operator_ordered_it_to_a_registered_version(deployed):
    """A worker's stolen credentials may write ``control``, not ``commands``: a rollback there
    without the operator's command is refused. The operator may write ``commands`` and not
    ``control``; its rollback is relayed, and refused when its target is not a version of the
    workers' registry (weights of the sender's making)."""
    from stream_al.stream.commands import send_rollback
    from stream_al.stream.messages import RollbackRecord

    d, _ = deployed
    model = d.model()
    forged = RollbackRecord(schema_version=1, command_id="forged-by-a-worker", registry_version=1,
                            model_version=model.version, snapshot=model.snapshot, learned=[],
                            requested_at=1.0)
    for who, topic in ((d.worker, d.t.commands), (d.operator, d.t.control)):
        with pytest.raises(TopicAuthorizationFailedError):
            clients.producer(who, max_block_ms=10_000).send(topic, value=b"{}").get(15)
    send_raw(d.worker, d.t.control, [(b"rollback", forged.to_bytes())])
    unregistered = forged.model_copy(update={"command_id": "operator-unregistered",
                                             "registry_version": 999_999})
    send_rollback(d.operator, unregistered)

    def refused() -> dict[str, str]:
        return {x.raw[:400]: x.detail for x in d.dead_letters()
                if x.reason == "implausible" and "rollback" in x.detail}

    wait_for(lambda: len(refused()) >= 2, 60, "both rollbacks dead-lettered")
    details = " | ".join(refused().values())
    assert "no operator command" in details and "no model version 999999" in details
    events = [parse(Event, r.value) for r in read_topic(d.worker, d.t.events, timeout_s=5)]
    rollbacks = [e.detail for e in events if isinstance(e, Event) and e.kind == "rollback"]
    assert rollbacks and not any(r["applied"] for r in rollbacks)
    still_serves(d)
    assert d.model().version >= model.version


def test_the_worker_kept_its_memory_through_the_attacks(deployed):
    d, worker = deployed
    assert worker.process.poll() is None, "the worker died"
    right_after = rss_bytes(worker.process.pid)
    # the worker returns freed heap to the system every 30 s (app.TRIM_EVERY_S): give it one
    settled = wait_for(lambda: (r := rss_bytes(worker.process.pid)) <= 1.10 * d.baseline["rss"]
                       and r, 75, "the worker's RSS to be within 10% of its level before")
    print(f"worker RSS before the attacks {d.baseline['rss'] / 2**20:.0f} MiB, right after "
          f"{right_after / 2**20:.0f} MiB, settled {settled / 2**20:.0f} MiB")
