"""Fault injection on the real broker, and what the pipeline left on its topics.

- :class:`Background`: ``stream-al produce`` / ``vendor`` running while a test kills things.
- :class:`PrivateBroker`: a broker of the test's own (``deploy/kafka.sh`` on free ports), for
  tests that stop it: the session broker is shared.
- :func:`observe`: the durable state of a pipeline, read back from its topics (the budget
  ledger, what was bought and expired, the labels, the models) and the labelled dataset they
  hold (what :func:`stream_al.stream.label_export.rebuild_from_topic` rebuilds).
- :func:`settled`: a predicate for ``wait_for`` that holds once the pipeline stopped moving.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from stream_al.config import KafkaSettings
from stream_al.labels.export import LabeledSnapshot, admitted_rows
from stream_al.stream import clients
from stream_al.stream.messages import (
    DeadLetter,
    Event,
    Expiry,
    LabelIn,
    Ledger,
    ModelUpdate,
    ScoredBatchRecord,
    SelectedItem,
    parse,
)
from stream_al.stream.reader import labels_group, texts_group
from tests.fixtures.deploy import free_ports, run_script
from tests.stream.harness import AG_NEWS, REPO, read_topic

CLI = [sys.executable, "-m", "stream_al.cli"]


class Background:
    """A ``python -m stream_al.cli ARGS`` subprocess, output to ``log``."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [*CLI, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # the vendor flushes what it has
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._out.close()


class PrivateBroker:
    """A broker on free ports with its data in ``directory``: start, stop, restart."""

    def __init__(self, directory: Path) -> None:
        port, controller = free_ports(2)
        self.bootstrap = f"127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(controller),
            "KAFKA_DATA_DIR": str(directory),
            "KAFKA_PYTHON": sys.executable,
        }

    def start(self) -> None:
        run_script("kafka.sh", "start", self.env)

    def stop(self) -> None:
        run_script("kafka.sh", "stop", self.env)


def gold_with_gaps(directory: Path, rows: int, every: int) -> Path:
    """The first ``rows`` rows of AG News with every ``every``-th label blanked: a vendor with
    this file never answers those items, so their selections expire."""
    path = directory / "gold.csv"
    with AG_NEWS.open(newline="", encoding="utf-8") as f, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for row, record in zip(range(rows), csv.DictReader(f), strict=False):
            writer.writerow([record["text"], "" if row % every == 0 else record["label"]])
    return path


@dataclass
class Observed:
    """What a pipeline's topics say now."""

    selected: list[SelectedItem]
    expired: dict[str, float]
    ledger: Ledger | None
    models: list[ModelUpdate]
    labels: list[LabelIn]
    snapshot: LabeledSnapshot
    restores: int

    @property
    def selected_ids(self) -> list[str]:
        return [s.item_id for s in self.selected]

    @property
    def duplicates_on_selected(self) -> list[str]:
        return [i for i, n in Counter(self.selected_ids).items() if n > 1]

    @property
    def spent_by_the_topics(self) -> float:
        """Cost of every distinct item bought, minus what expired."""
        cost = {s.item_id: s.cost for s in self.selected}
        return sum(cost.values()) - sum(self.expired.values())

    @property
    def model(self) -> ModelUpdate | None:
        return self.models[-1] if self.models else None

    def learned_the_topics(self) -> bool:
        """The latest model learned exactly the labelled dataset the topics hold."""
        m = self.model
        return (
            m is not None
            and m.labels_hash == self.snapshot.label_set_hash
            and m.n_labels == len(self.snapshot)
        )

    def summary(self) -> str:
        m = self.model
        return (
            f"{len(self.selected)} selected ({len(set(self.selected_ids))} distinct), "
            f"{len(self.expired)} expired, {len(self.labels)} labels on the topic, "
            f"{len(self.snapshot)} in the rebuilt dataset, latest model "
            f"{m and (m.version, m.n_labels, m.labels_hash[:12])} vs dataset "
            f"{self.snapshot.label_set_hash[:12]}, ledger {self.ledger}, {self.restores} restores"
        )


def parsed(bootstrap: str, topic: str, model: type, timeout_s: float = 5) -> list[Any]:
    records = (parse(model, r.value) for r in read_topic(bootstrap, topic, timeout_s=timeout_s))
    return [r for r in records if isinstance(r, model)]


def observe(bootstrap: str, topics: dict[str, str], **policy: Any) -> Observed:
    state = read_topic(bootstrap, topics["state"], timeout_s=5)
    ledgers = [parse(Ledger, r.value) for r in state if r.key == b"ledger"]
    expiries = [parse(Expiry, r.value) for r in state if r.key.startswith(b"expired/")]
    selected = parsed(bootstrap, topics["selected"], SelectedItem)
    labels = parsed(bootstrap, topics["labels"], LabelIn)
    return Observed(
        selected=selected,
        expired={x.item_id: x.cost for x in expiries},
        ledger=ledgers[-1] if ledgers else None,
        models=parsed(bootstrap, topics["models"], ModelUpdate),
        labels=labels,
        snapshot=admitted_rows(selected, labels, **policy),  # = rebuild_from_topic, read once
        restores=restores(bootstrap, topics),
    )


def restores(bootstrap: str, topics: dict[str, str]) -> int:
    """How many times a coordinator was rebuilt from the topics (once per start)."""
    return sum(e.kind == "restored" for e in parsed(bootstrap, topics["events"], Event))


def scored_ids(bootstrap: str, topics: dict[str, str]) -> set[str]:
    """Every item id the scorers passed on to the coordinator."""
    return {i for b in parsed(bootstrap, topics["control"], ScoredBatchRecord) for i in b.ids}


def dead_letters(bootstrap: str, topics: dict[str, str]) -> list[DeadLetter]:
    return parsed(bootstrap, topics["deadletter"], DeadLetter)


def group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """The workers of ``group`` (app id) have committed the end of every partition of
    ``topics``: texts and labels in the readers' groups, the other topics in the faust app's.
    A retriable broker error (a group coordinator still loading after a restart) is a "not
    yet", not a failure."""
    behind = lag(bootstrap, group, topics)
    return behind is not None and not any(behind.values())


def lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, int] | None:
    """Records of each of ``topics`` the workers of ``group`` have not committed yet (None
    while the broker answers with a retriable error)."""
    admin = clients.admin(KafkaSettings(bootstrap=bootstrap))
    consumer = clients.consumer(KafkaSettings(bootstrap=bootstrap))
    try:
        return _uncommitted(admin, consumer, group, topics)
    except KafkaError as e:
        if not e.retriable:
            raise
        return None
    finally:
        consumer.close()
        admin.close()


def _uncommitted(admin: Any, consumer: Any, group: str, topics: list[str]) -> dict[str, int]:
    committed = {}
    ours = KafkaSettings(app_id=group)
    for name in (group, texts_group(ours), labels_group(ours)):
        committed |= admin.list_group_offsets({name: None}).get(name, {})
    tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    ends = consumer.end_offsets(tps)
    behind = dict.fromkeys(topics, 0)
    for tp in tps:
        done = committed[tp].offset if tp in committed else 0
        behind[tp.topic] += max(0, ends[tp] - max(done, 0))
    return behind


def progress(bootstrap: str, group: str, topics: dict[str, str]) -> Callable[[], str]:
    """A ``wait_for`` state for :func:`all_labelled`: what the workers have not committed yet
    and what the topics hold (so a timeout says which condition did not hold)."""
    return lambda: (f"uncommitted {lag(bootstrap, group, _consumed(topics))}; "
                    f"{observe(bootstrap, topics).summary()}")


def _consumed(topics: dict[str, str]) -> list[str]:
    """The topics the workers consume and commit: texts, labels and control."""
    return [topics["texts"], topics["labels"], topics["control"]]


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    """The settings of ``topic`` that differ from the broker's defaults."""
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = clients.admin(KafkaSettings(bootstrap=bootstrap))
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return {k: v["value"] for k, v in described["topic"][topic].items()}


def all_labelled(bootstrap: str, group: str, topics: dict[str, str]) -> Callable[[], Any]:
    """A predicate for :func:`settled`: the workers of ``group`` caught up on texts, labels and
    control, every item bought has a label, and the last model learned exactly the labels the
    topics hold (then the observation, else None)."""

    def done() -> Observed | None:
        if not group_caught_up(bootstrap, group, _consumed(topics)):
            return None
        seen = observe(bootstrap, topics)
        labelled = {row.item_id for row in seen.snapshot.rows}
        every_item_labelled = set(seen.selected_ids) <= labelled
        return seen if every_item_labelled and seen.learned_the_topics() else None

    return done


def assert_nothing_lost(seen: Observed, spent_metric: float, texts: int, most: float) -> None:
    """The invariants after a fault, every item answered: no item sent twice; the budget
    spent (ledger and gauge) is the cost of the distinct items bought, and at most ``most``;
    the last model's ``n_labels`` and ``labels_hash`` are those of the dataset rebuilt from
    the topics; every one of ``texts`` counted once."""
    assert not seen.duplicates_on_selected, seen.summary()
    assert not seen.expired, seen.summary()
    assert seen.ledger.spent == pytest.approx(seen.spent_by_the_topics)
    assert spent_metric == pytest.approx(seen.spent_by_the_topics)
    assert seen.spent_by_the_topics <= most, seen.summary()
    pairs = {(x.item_id, x.annotator_id) for x in seen.labels}
    assert len(seen.snapshot) == len(pairs) == seen.model.n_labels, seen.summary()
    assert seen.model.labels_hash == seen.snapshot.label_set_hash
    assert seen.ledger.seen == texts, "a text was not counted, or counted twice"


def settled(done: Callable[[], Observed | None], quiet_s: float = 3.0) -> Callable[[], Any]:
    """A ``wait_for`` predicate: ``done()``'s observation once it has held, unchanged, for
    ``quiet_s`` (longer than the coordinator's idle flush and expiry period): a pipeline that
    looks finished may still buy what its selector holds."""
    last: list[Any] = [None, 0.0]

    def check() -> Observed | None:
        seen = done()
        if not seen:
            last[0] = None
            return None
        fingerprint = (len(seen.selected), len(seen.labels), len(seen.expired), seen.ledger)
        if fingerprint != last[0]:
            last[:] = [fingerprint, time.monotonic()]
            return None
        return seen if time.monotonic() - last[1] >= quiet_s else None

    return check
