"""Garbage on every topic a worker reads: each bad record goes to the dead-letter topic with a
reason, or down a defined path, and is counted on the worker's /metrics; the worker keeps
running and every valid record around the bad ones is processed.

Two workers run side by side, one per label policy: ``accept_new_class`` (worker A, which also
gets every other kind of garbage) and ``reject`` with the four AG News classes (worker B).
"""

from __future__ import annotations

import csv
import json
import re
import signal
import urllib.request
from collections import Counter

import pytest
from kafka import KafkaProducer

from stream_al.stream.messages import Event, LabelIn, LabelsRecord, ModelUpdate
from stream_al.stream.topics import MAX_RECORD_BYTES
from tests.reliability.faults import dead_letters, observe, parsed, restores, scored_ids
from tests.stream.harness import (
    AG_NEWS,
    Worker,
    pipeline_config,
    read_topic,
    run_cli,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka

CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
MAX_TEXT_BYTES = 1000
BIG_TEXT_BYTES = 3 * 2**20
"""Over the broker's default 1 MiB record limit: the texts topic is made to take 32 MiB."""


def gold() -> dict[str, str]:
    with AG_NEWS.open(newline="", encoding="utf-8") as f:
        return {f"ag-{i}": r["label"] for i, r in zip(range(200), csv.DictReader(f), strict=False)}


def text(item_id: str, body: str = "Stocks rally as oil prices fall", **fields) -> bytes:
    record = {"schema_version": 1, "id": item_id, "text": body, "source": "t", "timestamp": 1.0}
    return json.dumps({**record, **fields}).encode()


def label(item_id: str, name: str, annotator: str = "ann-1", **fields) -> bytes:
    record = {
        "schema_version": 1,
        "item_id": item_id,
        "label": name,
        "annotator_id": annotator,
        "timestamp": 2.0,
    }
    return json.dumps({**record, **fields}).encode()


def without(raw: bytes, field: str) -> bytes:
    record = json.loads(raw)
    del record[field]
    return json.dumps(record).encode()


BAD_TEXTS = [
    ("invalid_json", b"{not json"),
    ("invalid_json", None),  # a tombstone
    ("not_an_object", b"[1, 2]"),
    ("wrong_schema_version", text("x", schema_version=2)),
    ("missing_field", without(text("x"), "text")),
    ("invalid_field", text("x", timestamp="yesterday")),
    ("invalid_json", b'{"id": "x", "timestamp": NaN}'),  # not JSON
    ("invalid_field", text("x", timestamp="NaN")),  # JSON, but not a finite time
    ("empty_text", text("x", "")),
    ("empty_text", text("x", " \n\t ")),
    (
        "invalid_utf8",
        b'{"schema_version": 1, "id": "x", "text": "\xff\xfe", "source": "t", "timestamp": 1.0}',
    ),
]
BAD_LABELS = [
    ("invalid_json", b'{"item_id": "ag-1", '),
    ("invalid_utf8", b"\xc3\x28"),
    ("wrong_schema_version", label("ag-1", "World", schema_version=7)),
    ("missing_field", without(label("ag-1", "World"), "annotator_id")),
    ("invalid_field", label("ag-1", "   ")),
    ("invalid_field", label("ag-1", "World", confidence=1.5)),
]


def send(bootstrap: str, topic: str, values: list[bytes | None], key: bytes = b"bad") -> None:
    """Write ``values`` in order (one key: one partition); fail if the broker refuses one."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=MAX_RECORD_BYTES)
    sent = [producer.send(topic, key=key, value=value) for value in values]
    producer.flush()
    producer.close()
    for future in sent:
        future.get(timeout=1)


def dead_letter_counts(worker: Worker) -> Counter:
    """(stage, reason) -> count, from the worker's /metrics over HTTP."""
    page = urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).read()
    counts = Counter()
    for labels, value in re.findall(
        r"^stream_al_dead_letters_total\{(.*)\} (\S+)$", page.decode(), re.M
    ):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        counts[found["stage"], found["reason"]] = int(float(value))
    return counts


def wait_for_counts(worker: Worker, expected: Counter, timeout_s: float = 60) -> Counter:
    """The worker's dead-letter counts once they include ``expected``."""
    last: list[Counter] = [Counter()]

    def reached() -> bool:
        last[0] = dead_letter_counts(worker)
        return last[0] >= expected

    try:
        wait_for(reached, timeout_s, "dead letters")
    except AssertionError as e:
        raise AssertionError(f"{e}: expected {dict(expected)}, counted {dict(last[0])}") from None
    return last[0]


def selected_ids(bootstrap: str, topics: dict, n: int) -> list[str]:
    records = wait_for(
        lambda: len(r := read_topic(bootstrap, topics["selected"])) >= n and r, 60, f"{n} bought"
    )
    return sorted(json.loads(r.value)["item_id"] for r in records)


@pytest.fixture
def two_workers(kafka_bootstrap, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    accept = pipeline_config(
        kafka_bootstrap, tmp_path / "a", kafka={"max_text_bytes": MAX_TEXT_BYTES}
    )
    reject = pipeline_config(
        kafka_bootstrap, tmp_path / "b", kafka={"label_policy": "reject", "label_classes": CLASSES}
    )
    with Worker(accept, tmp_path / "a.log") as a, Worker(reject, tmp_path / "b.log") as b:
        for config in (accept, reject):
            args = ("--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag")
            assert run_cli("produce", *args, "--limit", "200").returncode == 0
        yield (
            (a, settings_of(accept)["kafka"]["topics"]),
            (b, settings_of(reject)["kafka"]["topics"]),
        )


def test_bad_records_are_dead_lettered_counted_and_the_good_ones_around_them_processed(
    two_workers, kafka_bootstrap
):
    (a, topics), (b, b_topics) = two_workers
    truth = gold()
    bought = selected_ids(kafka_bootstrap, topics, 8)
    b_bought = selected_ids(kafka_bootstrap, b_topics, 2)

    # texts: every kind of garbage with a valid text after each, and a text of megabytes
    good_texts = [text(f"ok-{i}", f"Markets report number {i} on steel output") for i in range(12)]
    big_body = "Oil " * (BIG_TEXT_BYTES // 4)
    bad_texts = [v for _, v in BAD_TEXTS] + [text("big-0", big_body)]
    send(kafka_bootstrap, topics["texts"], interleave(good_texts, bad_texts))

    # labels: garbage; a label for an item never bought; a class nobody used; a duplicate; a
    # correction by the same annotator; a second annotator who disagrees; valid ones around
    other = next(c for c in CLASSES if c != truth[bought[2]])
    good = [label(i, truth[i]) for i in bought] + [label(i, truth[i], "ann-3") for i in bought[3:]]
    odd = [
        label("never-bought", "World"),  # unknown_item
        label(bought[0], "Gardening", "ann-2"),  # accept_new_class: learned as a new class
        label(bought[1], truth[bought[1]]),  # ann-1 again: a duplicate
        label(bought[1], other),  # ann-1 changes their mind: a duplicate too, first answer wins
        label(bought[2], other, "ann-2"),  # a conflict: both answers kept, both learned
    ]
    send(kafka_bootstrap, topics["labels"], interleave(good, [v for _, v in BAD_LABELS] + odd))

    # a stray producer on the internal control topic: garbage, and a torn labels record
    torn = LabelsRecord.model_construct(
        schema_version=1,
        kind="labels",
        labels=[LabelIn.model_validate_json(label(i, truth[i], "ctl")) for i in bought[3:5]],
        received_at=[1.0],  # one arrival time for two labels
    )
    send(kafka_bootstrap, topics["control"], [b"{not json", torn.to_bytes(), b'{"kind": "x"}'])
    send(kafka_bootstrap, topics["texts"], [text("after-control", "Rebels seize the capital")])

    # every valid text around the garbage is scored; the big one is cut and the cut recorded
    wait_for(
        lambda: (
            {f"ok-{i}" for i in range(12)} | {"big-0", "after-control"}
            <= scored_ids(kafka_bootstrap, topics)
        ),
        60,
        "every valid text to be scored",
    )
    cuts = [e for e in parsed(kafka_bootstrap, topics["events"], Event) if e.kind == "truncated"]
    assert [e.item_ids for e in cuts] == [["big-0"]]
    assert cuts[0].detail["original_bytes"] == {"big-0": len(big_body)}
    assert cuts[0].detail["max_text_bytes"] == MAX_TEXT_BYTES

    # every valid label is learned once; the model learned exactly what the topics hold
    learned = wait_for(
        lambda: (
            (o := observe(kafka_bootstrap, topics)).learned_the_topics()
            and len(o.snapshot) == len(good) + 2
            and o
        ),
        60,
        "the model to learn every valid label",
    )
    rows = {(r.item_id, r.annotator_id): r.label for r in learned.snapshot.rows}
    assert rows[bought[1], "ann-1"] == truth[bought[1]]
    assert (rows[bought[2], "ann-1"], rows[bought[2], "ann-2"]) == (truth[bought[2]], other)
    assert rows[bought[0], "ann-2"] == "Gardening" and "Gardening" in learned.model.classes
    assert not {k for k in rows if k[1] == "ctl"}, "a torn control record left labels behind"
    assert a.metric("stream_al_labels_received_total", outcome="duplicate") == 2

    # a stray producer on the models topic: the scorers skip the corrupt model and follow on
    corrupt = learned.model.model_copy(
        update={"version": learned.model.version + 1, "snapshot": "bm90IGFuIG5weg=="}
    )
    send(kafka_bootstrap, topics["models"], [corrupt.to_bytes()], key=b"current")
    send(kafka_bootstrap, topics["labels"], [label(bought[0], truth[bought[0]], "ann-4")])
    wait_for(
        lambda: a.metric("stream_al_model_version") > learned.model.version,
        30,
        "the scorers to use the model after the corrupt one",
    )
    wait_for(  # and the newest model still learned exactly what the topics hold
        lambda: (
            (o := observe(kafka_bootstrap, topics)).learned_the_topics()
            and len(o.snapshot) == len(good) + 3
        ),
        30,
        "the model to learn the label after the corrupt model",
    )
    send(kafka_bootstrap, topics["models"], [b"\x00garbage"], key=b"current")

    expected = Counter(
        {("embed", r): n for r, n in Counter(r for r, _ in BAD_TEXTS).items()}
        | {("labels_in", r): n for r, n in Counter(r for r, _ in BAD_LABELS).items()}
        | {("learn", "unknown_item"): 1, ("select", "invalid_json"): 1}
        | {("select", "invalid_field"): 2}  # the torn record and the unknown kind
        | {("score", "invalid_field"): 1, ("score", "invalid_json"): 1}  # the two models
    )
    counted = wait_for_counts(a, expected)
    assert counted == expected
    letters = dead_letters(kafka_bootstrap, topics)
    assert Counter(x.reason for x in letters) == Counter(r for _, r in expected.elements())
    inputs = {topics[t] for t in ("texts", "labels", "control", "models")}
    assert {x.topic for x in letters} == inputs
    assert all(x.raw_encoding == "base64" for x in letters if x.reason == "invalid_utf8")

    # worker B (reject policy) refuses the class outside its four, counts it, learns the rest
    send(
        kafka_bootstrap,
        b_topics["labels"],
        [label(b_bought[0], truth[b_bought[0]]), label(b_bought[1], "Gardening")],
    )
    assert wait_for_counts(b, Counter({("learn", "unknown_class"): 1})) == Counter(
        {("learn", "unknown_class"): 1}
    )
    b_learned = wait_for(
        lambda: (
            (
                o := observe(
                    kafka_bootstrap, b_topics, label_policy="reject", label_classes=CLASSES
                )
            ).learned_the_topics()
            and o
        ),
        60,
        "worker B to learn its valid label",
    )
    assert len(b_learned.snapshot) == 1 and "Gardening" not in b_learned.model.classes
    assert a.process.poll() is None and b.process.poll() is None

    # with garbage as the last record on the models topic, a restart does not set the
    # model version back
    last = max(m.version for m in parsed(kafka_bootstrap, topics["models"], ModelUpdate))
    a.stop(signal.SIGTERM)
    with Worker(a.config, a.log.with_suffix(".restart.log")) as again:
        wait_for(lambda: restores(kafka_bootstrap, topics) >= 2, 60, "the restarted worker")
        events = parsed(kafka_bootstrap, topics["events"], Event)
        assert [e for e in events if e.kind == "restored"][-1].detail["version"] > last
        assert again.process.poll() is None


def interleave(good: list, bad: list) -> list:
    """good[0], bad[0], good[1], bad[1], ... then the rest of the longer list."""
    out = []
    for i in range(max(len(good), len(bad))):
        out += good[i : i + 1] + bad[i : i + 1]
    return out
