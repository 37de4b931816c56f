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

from stream_al.config import KafkaSettings
from stream_al.stream import clients
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
    producer = clients.producer(KafkaSettings(bootstrap=bootstrap),
                                max_request_size=MAX_RECORD_BYTES)
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
    # every (item, annotator) label is learned: these tests count labels, not verdicts
    accept = pipeline_config(kafka_bootstrap, tmp_path, kafka={"max_text_bytes": MAX_TEXT_BYTES},
                             annotation={"learn_from": "labels"})
    reject = pipeline_config(
        kafka_bootstrap, tmp_path, kafka={"label_policy": "reject", "label_classes": CLASSES},
        annotation={"learn_from": "labels"},
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
    bought = selected_ids(kafka_bootstrap, topics, 8)
    expected = texts_around_garbage_are_scored(kafka_bootstrap, topics, bought)
    expected += labels_around_garbage_are_learned_once(kafka_bootstrap, a, topics, bought)
    expected += models_garbage_is_skipped(kafka_bootstrap, a, topics, bought)

    assert wait_for_counts(a, expected) == expected
    letters = dead_letters(kafka_bootstrap, topics)
    assert Counter(x.reason for x in letters) == Counter(r for _, r in expected.elements())
    inputs = {topics[t] for t in ("texts", "labels", "control", "models")}
    assert {x.topic for x in letters} == inputs
    assert all(x.raw_encoding == "base64" for x in letters if x.reason == "invalid_utf8")

    the_reject_policy_refuses_an_unknown_class(kafka_bootstrap, b, b_topics)
    assert a.process.poll() is None and b.process.poll() is None
    a_restart_keeps_model_versions_going_up(kafka_bootstrap, a, topics)


def texts_around_garbage_are_scored(bootstrap: str, topics: dict, bought: list[str]) -> Counter:
    """Every kind of garbage on ``texts`` and on ``control``, a valid text after each, and a text
    of megabytes: the valid ones are scored, the big one cut and the cut recorded."""
    good = [text(f"ok-{i}", f"Markets report number {i} on steel output") for i in range(12)]
    big_body = "Oil " * (BIG_TEXT_BYTES // 4)
    send(
        bootstrap,
        topics["texts"],
        interleave(good, [v for _, v in BAD_TEXTS] + [text("big-0", big_body)]),
    )
    torn = LabelsRecord.model_construct(  # a stray producer on the internal control topic
        schema_version=1,
        kind="labels",
        labels=[LabelIn.model_validate_json(label(i, "World", "ctl")) for i in bought[3:5]],
        received_at=[1.0],  # one arrival time for two labels
    )
    send(bootstrap, topics["control"], [b"{not json", torn.to_bytes(), b'{"kind": "x"}'])
    send(bootstrap, topics["texts"], [text("after-control", "Rebels seize the capital")])

    wait_for(
        lambda: (
            {f"ok-{i}" for i in range(12)} | {"big-0", "after-control"}
            <= scored_ids(bootstrap, topics)
        ),
        60,
        "every valid text to be scored",
    )
    cuts = [e for e in parsed(bootstrap, topics["events"], Event) if e.kind == "truncated"]
    assert [e.item_ids for e in cuts] == [["big-0"]]
    assert cuts[0].detail["original_bytes"] == {"big-0": len(big_body)}
    assert cuts[0].detail["max_text_bytes"] == MAX_TEXT_BYTES
    return Counter(
        {("embed", r): n for r, n in Counter(r for r, _ in BAD_TEXTS).items()}
    ) + Counter(
        {("select", "invalid_json"): 1, ("select", "invalid_field"): 2}  # torn, unknown kind
    )


def labels_around_garbage_are_learned_once(
    bootstrap: str, worker: Worker, topics: dict, bought: list[str]
) -> Counter:
    """Garbage on ``labels``; a label for an item never bought; a class nobody used; a duplicate;
    a correction by the same annotator; a second annotator who disagrees; valid ones around."""
    truth = gold()
    other = next(c for c in CLASSES if c != truth[bought[2]])
    good = [label(i, truth[i]) for i in bought] + [label(i, truth[i], "ann-3") for i in bought[3:]]
    odd = [
        label("never-bought", "World"),  # unknown_item
        label(bought[0], "Gardening", "ann-2"),  # accept_new_class: learned as a new class
        label(bought[1], truth[bought[1]]),  # ann-1 again: a duplicate
        label(bought[1], other),  # ann-1 changes their mind: a duplicate too, first answer wins
        label(bought[2], other, "ann-2"),  # a conflict: both answers kept, both learned
    ]
    send(bootstrap, topics["labels"], interleave(good, [v for _, v in BAD_LABELS] + odd))

    learned = wait_for(
        lambda: (
            (o := observe(bootstrap, topics)).learned_the_topics()
            and len(o.snapshot) == len(good) + 2
            and o
        ),
        60,
        "the model to learn every valid label, once",
    )
    rows = {(r.item_id, r.annotator_id): r.label for r in learned.snapshot.rows}
    assert rows[bought[1], "ann-1"] == truth[bought[1]]
    assert (rows[bought[2], "ann-1"], rows[bought[2], "ann-2"]) == (truth[bought[2]], other)
    assert rows[bought[0], "ann-2"] == "Gardening" and "Gardening" in learned.model.classes
    assert not {k for k in rows if k[1] == "ctl"}, "a torn control record left labels behind"
    assert worker.metric("stream_al_labels_received_total", outcome="duplicate") == 2
    return Counter(
        {("labels_in", r): n for r, n in Counter(r for r, _ in BAD_LABELS).items()}
    ) + Counter({("learn", "unknown_item"): 1})


def models_garbage_is_skipped(
    bootstrap: str, worker: Worker, topics: dict, bought: list[str]
) -> Counter:
    """A corrupt model and garbage on ``models``: the scorers keep their model and follow the next
    one; the newest model still learned exactly what the topics hold."""
    latest = observe(bootstrap, topics).model
    corrupt = latest.model_copy(
        update={"version": latest.version + 1, "snapshot": "bm90IGFuIG5weg=="}
    )
    send(bootstrap, topics["models"], [corrupt.to_bytes()], key=b"current")
    send(bootstrap, topics["labels"], [label(bought[0], gold()[bought[0]], "ann-4")])
    wait_for(
        lambda: worker.metric("stream_al_model_version") > latest.version,
        30,
        "the scorers to use the model after the corrupt one",
    )
    wait_for(
        lambda: (
            (o := observe(bootstrap, topics)).learned_the_topics()
            and o.model.version > latest.version
        ),
        30,
        "the model to learn the label after the corrupt model",
    )
    send(bootstrap, topics["models"], [b"\x00garbage"], key=b"current")  # the last record
    return Counter({("score", "implausible"): 1, ("score", "invalid_json"): 1})


def the_reject_policy_refuses_an_unknown_class(
    bootstrap: str, worker: Worker, topics: dict
) -> None:
    truth, bought = gold(), selected_ids(bootstrap, topics, 2)
    send(
        bootstrap,
        topics["labels"],
        [label(bought[0], truth[bought[0]]), label(bought[1], "Gardening")],
    )
    refused = Counter({("learn", "unknown_class"): 1})
    assert wait_for_counts(worker, refused) == refused
    policy = {"label_policy": "reject", "label_classes": CLASSES}
    learned = wait_for(
        lambda: (o := observe(bootstrap, topics, **policy)).learned_the_topics() and o,
        60,
        "worker B to learn its valid label",
    )
    assert len(learned.snapshot) == 1 and "Gardening" not in learned.model.classes


def a_restart_keeps_model_versions_going_up(bootstrap: str, worker: Worker, topics: dict) -> None:
    """With garbage as the last record of ``models``, a restarted worker continues the versions."""
    last = max(m.version for m in parsed(bootstrap, topics["models"], ModelUpdate))
    worker.stop(signal.SIGTERM)
    with Worker(worker.config, worker.log.with_suffix(".restart.log")) as again:
        wait_for(lambda: restores(bootstrap, topics) >= 2, 60, "the restarted worker")
        events = parsed(bootstrap, topics["events"], Event)
        assert [e for e in events if e.kind == "restored"][-1].detail["version"] > last
        assert again.process.poll() is None


def interleave(good: list, bad: list) -> list:
    """good[0], bad[0], good[1], bad[1], ... then the rest of the longer list."""
    out = []
    for i in range(max(len(good), len(bad))):
        out += good[i : i + 1] + bad[i : i + 1]
    return out
