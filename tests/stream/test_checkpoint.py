"""The coordinator's checkpoint (stream/checkpoint.py), on the real broker: a rebuild from the
newest checkpoint and the records after it restores what a rebuild from every topic restores
(ledger, labels_hash, bought ids, model version, labels learned); a checkpoint that is
corrupt, missing, of another format or of other topics is not used: the rebuild reads every
topic, and a warning says why."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson
import pytest

from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.restore import History
from stream_al.loop.resume import resume
from stream_al.stream import conversion
from stream_al.stream.admission import Admission
from stream_al.stream.checkpoint import Checkpoints, Prepared, StaleCheckpoint
from stream_al.stream.checkpoint_image import decode
from stream_al.stream.checkpoint_manifest import FORMAT, MANIFEST, Manifest
from stream_al.stream.checkpoint_reading import read_checkpoint, with_records
from stream_al.stream.fencing import CoordinatorProducer
from stream_al.stream.rebuild import TopicState, read_state
from stream_al.stream.resuming import image_bytes, rebuilt
from stream_al.stream.topics import ensure_topics
from tests.loop.test_restore_bulk import digest, restored_state
from tests.stream.harness import pipeline_config, send_raw

pytestmark = pytest.mark.kafka

CLASSES = ("World", "Sports", "Business", "Sci/Tech")


def history(settings: Settings, start: int, n: int, now: float) -> None:
    """``n`` more bought items (ids ``start``...), a label for each (two for every fifth), a
    ledger counting them, an expiry and an expert request."""
    t = settings.kafka.topics
    items = range(start, start + n)
    send_raw(settings.kafka.bootstrap, t.selected, [(f"i-{i}".encode(), orjson.dumps({
        "schema_version": 1, "item_id": f"i-{i}", "text": f"news story number {i} about "
        f"{CLASSES[i % 4]}", "batch_id": f"b{i // 10}", "strategy": "uncertainty",
        "reason": "uncertainty", "scores": {}, "model_version": 0, "deadline": now + 3600,
        "cost": 1.0, "group": 0, "priority": 0.0, "annotators": 1, "window": -1}))
        for i in items])
    send_raw(settings.kafka.bootstrap, t.labels, [(f"i-{i}".encode(), orjson.dumps({
        "schema_version": 1, "item_id": f"i-{i}", "label": CLASSES[(i + a) % 4],
        "annotator_id": f"ann-{a}", "timestamp": now + i}))
        for i in items for a in ((0, 1) if i % 5 == 0 else (0,))])
    send_raw(settings.kafka.bootstrap, t.state, [
        (b"ledger", orjson.dumps({"schema_version": 1, "seen": 20 * (start + n), "spent":
                                  float(start + n), "window_seen": 0, "window_spent": 0.0,
                                  "control_offset": start + n, "at": now, "texts_offsets": {}})),
        (f"expired/i-{start}".encode(), orjson.dumps({"schema_version": 1, "item_id":
                                                      f"i-{start}", "cost": 1.0, "at": now}))])
    send_raw(settings.kafka.bootstrap, t.expert, [(f"i-{start + 1}".encode(), orjson.dumps({
        "schema_version": 1, "item_id": f"i-{start + 1}", "text": "x", "reason":
        "disagreement", "votes": {}, "annotators": {}, "best_label": None, "confidence": 0.5,
        "at": now}))])


def write_checkpoint(checkpoints: Checkpoints, settings: Settings,
                     state: TopicState | None = None, prepared: Prepared | None = None) -> Manifest:
    """One checkpoint through the coordinator's transactional producer (its claim first)."""
    async def run() -> Manifest:
        producer = CoordinatorProducer(settings.kafka)
        await producer.claim()
        try:
            return await checkpoints.write(producer, prepared or checkpoints.prepare(state))
        finally:
            await producer.release()
    return asyncio.run(run())


def restored(settings: Settings, state: TopicState) -> dict:
    """What a coordinator restored from ``state`` shows of itself."""
    embedder = make_embedder(settings.embedder)
    c = Coordinator(settings, embedder.dim, embedder)
    c.restore(History(state.selected, state.expired, state.labels,
                      conversion.budget_ledger(state.ledger),
                      state.model_version, 1e9, requested=state.requested, model=state.model))
    ledger = c.ledger(0.0)
    return {"ledger": ledger, "labels_hash": c.labels_hash.hexdigest(), "bought": set(c.texts),
            "version": c.learner.version, "n_labels": c.learner.replay.seen,
            "labels": len(c.labels), "outstanding": set(c.stage.outstanding)}


def same_records(a: TopicState, b: TopicState) -> None:
    key = lambda x: (x.item_id, x.annotator_id, x.label, x.timestamp)  # noqa: E731
    assert [x.item_id for x in a.selected] != [] and sorted(map(repr, a.selected)) == sorted(
        map(repr, b.selected))
    assert sorted(map(key, a.labels)) == sorted(map(key, b.labels))
    assert a.expired == b.expired and a.requested == b.requested
    assert a.ledger == b.ledger and a.offsets == b.offsets


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    s = Settings.load(pipeline_config(kafka_bootstrap, tmp_path,
                                      checkpoint={"enabled": True, "max_segments": 2}))
    ensure_topics(s.kafka)
    return s


def test_a_rebuild_from_checkpoint_and_suffix_equals_a_full_rebuild(settings: Settings):
    now = time.time()
    checkpoints = Checkpoints(settings.checkpoint, settings.kafka)
    history(settings, 0, 300, now)
    first = write_checkpoint(checkpoints, settings, read_state(settings.kafka))  # a rebuild's
    history(settings, 300, 200, now)
    second = write_checkpoint(checkpoints, settings)  # a chore's: the records since the first
    assert [s.key for s in second.segments] == ["seg/0", "seg/1"] and first.segments[0].chunks
    history(settings, 500, 100, now)  # the suffix a rebuild reads after the checkpoint

    full = read_state(settings.kafka)
    via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert via.checkpoint.startswith("2 segment(s)") and not full.checkpoint
    same_records(via, full)
    assert len({x.item_id for x in full.selected}) == 600
    mine, theirs = restored(settings, via), restored(settings, full)
    assert mine == theirs and mine["labels"] == 600 + 120 and mine["n_labels"] > 0

    merged = write_checkpoint(checkpoints, settings)  # past max_segments: merged into one
    assert [s.key for s in merged.segments] == ["seg/2"]
    same_records(read_checkpoint(settings.kafka).state, full)
    assert restored(settings, Checkpoints(settings.checkpoint, settings.kafka).load()) == theirs


def _manifest_record(settings: Settings, raw: bytes) -> None:
    send_raw(settings.kafka.bootstrap, settings.kafka.topics.checkpoint, [(MANIFEST.encode(), raw)])


def _signed(body: dict) -> bytes:
    import hashlib
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return orjson.dumps({"body": body, "sha256": digest})


@pytest.mark.parametrize("damage, why", [
    ("manifest_bytes", "checksum fails"),
    ("segment_checksum", "seg/0: the checksum fails"),
    ("missing_chunks", "are missing"),
    ("other_format", f"this version reads {FORMAT}"),
    ("other_topics", "kafka.topics changed"),
    ("offsets_gone", "outside"),
])
def test_an_unusable_checkpoint_falls_back_to_a_full_rebuild(settings: Settings, damage: str,
                                                             why: str, caplog):
    now = time.time()
    checkpoints = Checkpoints(settings.checkpoint, settings.kafka)
    history(settings, 0, 100, now)
    manifest = write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    history(settings, 100, 50, now)
    body = orjson.loads(manifest.to_bytes())["body"]
    if damage == "manifest_bytes":
        raw = manifest.to_bytes()
        _manifest_record(settings, raw[:-10] + b'0000000"}')
    elif damage == "segment_checksum":
        body["segments"][0]["sha256"] = "0" * 64
        _manifest_record(settings, _signed(body))
    elif damage == "missing_chunks":
        body["segments"][0]["chunks"] += 1
        _manifest_record(settings, _signed(body))
    elif damage == "other_format":
        _manifest_record(settings, _signed({**body, "format": FORMAT + 1}))
    elif damage == "other_topics":
        _manifest_record(settings, _signed({**body, "topics": body["topics"][:-1]}))
    else:  # a checkpoint past the topic's end: the topic was deleted and made again
        body["offsets"][settings.kafka.topics.selected]["0"] = 10**9
        _manifest_record(settings, _signed(body))

    with caplog.at_level(logging.WARNING, logger="stream_al.stream.checkpoint"):
        via = Checkpoints(settings.checkpoint, settings.kafka).load()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not usable" in w and why in w and "reading every topic" in w for w in warnings)
    full = read_state(settings.kafka)
    assert not via.checkpoint
    same_records(via, full)
    assert restored(settings, via) == restored(settings, full)


def test_no_checkpoint_yet_is_a_full_rebuild_without_a_warning(settings: Settings, caplog):
    history(settings, 0, 20, time.time())
    with caplog.at_level(logging.WARNING, logger="stream_al.stream.checkpoint"):
        via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert not via.checkpoint and len(via.selected) == 20
    assert not [r for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith("stream_al.stream")]


def test_a_checkpoint_prepared_while_the_coordinator_goes_on_stops_at_the_ends_taken(
        settings: Settings):
    """The worker takes the topics' ends between two transactions, reads and encodes up to
    them off its lock while more records arrive, then writes: the checkpoint covers exactly
    what was there when the ends were taken, and checkpoint + suffix == a full rebuild."""
    now = time.time()
    checkpoints = Checkpoints(settings.checkpoint, settings.kafka)
    history(settings, 0, 200, now)
    write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    history(settings, 200, 100, now)
    until = checkpoints.ends()
    history(settings, 300, 80, now)  # written while the checkpoint is being prepared
    manifest = write_checkpoint(checkpoints, settings, prepared=checkpoints.prepare(until=until))
    assert manifest.offsets == until
    state = read_checkpoint(settings.kafka).state
    assert len({x.item_id for x in state.selected}) == 300

    full = read_state(settings.kafka)
    via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert via.checkpoint and len({x.item_id for x in via.selected}) == 380
    same_records(via, full)
    assert restored(settings, via) == restored(settings, full)


def test_a_checkpoint_prepared_before_another_was_written_is_not_written(settings: Settings):
    checkpoints = Checkpoints(settings.checkpoint, settings.kafka)
    history(settings, 0, 50, time.time())
    write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    history(settings, 50, 20, time.time())
    late = checkpoints.prepare()
    newest = write_checkpoint(checkpoints, settings)
    with pytest.raises(StaleCheckpoint):
        write_checkpoint(checkpoints, settings, prepared=late)
    assert read_checkpoint(settings.kafka).manifest.segments == newest.segments


def summary(c: Coordinator) -> dict:
    return {"ledger": c.ledger(0.0), "labels_hash": c.labels_hash.hexdigest(),
            "bought": set(c.texts), "version": c.learner.version,
            "n_labels": c.learner.replay.seen, "labels": len(c.labels),
            "outstanding": set(c.stage.outstanding)}


@pytest.fixture
def imaging(kafka_bootstrap: str, tmp_path: Path) -> tuple[Settings, Checkpoints]:
    """Format 3: checkpoints with an image (``checkpoint.image``), every label learned."""
    s = Settings.load(pipeline_config(kafka_bootstrap, tmp_path,
                                      checkpoint={"enabled": True, "image": True},
                                      annotation={"learn_from": "labels"}))
    ensure_topics(s.kafka)
    return s, Checkpoints(s.checkpoint, s.kafka, lambda state, records: image_bytes(
        rebuilt(lambda: fresh(s), lambda: caps(s), state, records, time.time(), image_only=True),
        state))


def fresh(settings: Settings) -> Coordinator:
    embedder = make_embedder(settings.embedder)
    return Coordinator(settings, embedder.dim, embedder)


def caps(settings: Settings) -> Admission:
    return Admission(settings.kafka, settings.annotation.max_annotators)


def test_a_rebuild_from_an_image_and_the_records_after_it_equals_a_full_rebuild(imaging):
    settings, checkpoints = imaging
    now = time.time()
    history(settings, 0, 300, now)
    first = write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    history(settings, 300, 200, now)
    second = write_checkpoint(checkpoints, settings)  # its image made from the first's
    assert first.image is not None and second.image is not None
    assert [s.key for s in second.segments] == ["seg/0", "seg/1"] and second.image.key == "img/1"
    history(settings, 500, 100, now)  # the suffix

    via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert via.image is not None and len(via.selected) == 100  # the segments are not read
    assert via.checkpoint.startswith("an image and 2 segment(s) unread")
    r = restored_from(settings, via)
    assert r.resumed
    assert summary(r.coordinator) == restored(settings, read_state(settings.kafka))


def image_state(settings: Settings, raw: bytes, state: TopicState) -> str:
    """The digest of what an image holds (resumed with nothing after it)."""
    c = fresh(settings)
    resume(c, decode(raw).coordinator, History([], state.expired, [], None, 0, 1e9,
                                               requested=state.requested))
    return digest(restored_state(c))


def test_an_image_made_from_the_last_one_equals_one_made_from_every_record(imaging, caplog):
    """Each checkpoint's image is made from the last one's and the records since; a suffix
    the image cannot take (a new label of an item labelled before it) is restored from every
    record instead: either way the image is the image of a restore of every record."""
    settings, checkpoints = imaging
    now = time.time()
    history(settings, 0, 200, now)
    write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    for start in (200, 300, 400):
        history(settings, start, 100, now)
        with caplog.at_level(logging.INFO, logger="stream_al.stream.resuming"):
            prepared = checkpoints.prepare()
        assert "resumed from the last one" in caplog.records[-1].getMessage()
        manifest = write_checkpoint(checkpoints, settings, prepared=prepared)
    every = with_records(settings.kafka, manifest, TopicState())  # in the order the image read
    whole = rebuilt(lambda: fresh(settings), lambda: caps(settings), every, lambda: every, 1e9)
    assert not whole.resumed
    assert image_state(settings, prepared.image, every) == image_state(
        settings, image_bytes(whole, every), every)
    assert decode(prepared.image).admission == whole.admission.state()

    send_raw(settings.kafka.bootstrap, settings.kafka.topics.labels, [(b"i-7", orjson.dumps({
        "schema_version": 1, "item_id": "i-7", "label": "World", "annotator_id": "ann-9",
        "timestamp": now + 999}))])  # a second label of an item of the first image
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stream_al.stream.resuming"):
        prepared = checkpoints.prepare()
    assert any("cannot be resumed" in r.getMessage() and "i-7" in r.getMessage()
               for r in caplog.records)
    manifest = write_checkpoint(checkpoints, settings, prepared=prepared)
    assert [s.key for s in manifest.segments] == ["seg/4"]  # every record was read: merged
    every = with_records(settings.kafka, manifest, TopicState())
    whole = rebuilt(lambda: fresh(settings), lambda: caps(settings), every, lambda: every, 1e9)
    assert image_state(settings, prepared.image, every) == image_state(
        settings, image_bytes(whole, every), every)


def test_a_damaged_image_is_not_used_the_records_are(imaging, caplog):
    settings, checkpoints = imaging
    history(settings, 0, 100, time.time())
    manifest = write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    body = orjson.loads(manifest.to_bytes())["body"]
    body["image"]["sha256"] = "0" * 64
    _manifest_record(settings, _signed(body))
    history(settings, 100, 50, time.time())
    with caplog.at_level(logging.WARNING, logger="stream_al.stream.checkpoint_reading"):
        via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert any("image is not usable" in r.getMessage() and "checksum fails" in r.getMessage()
               for r in caplog.records)
    assert via.image is None and via.checkpoint  # the checkpoint's records still serve
    r = restored_from(settings, via)
    assert not r.resumed and summary(r.coordinator) == restored(settings,
                                                                read_state(settings.kafka))


def test_an_image_that_cannot_be_resumed_over_damaged_segments_reads_every_topic(imaging,
                                                                                caplog):
    settings, checkpoints = imaging
    history(settings, 0, 100, time.time())
    manifest = write_checkpoint(checkpoints, settings, read_state(settings.kafka))
    body = orjson.loads(manifest.to_bytes())["body"]
    body["segments"][0]["sha256"] = "0" * 64  # the image is fine, its segment is not
    _manifest_record(settings, _signed(body))
    send_raw(settings.kafka.bootstrap, settings.kafka.topics.labels, [(b"i-7", orjson.dumps({
        "schema_version": 1, "item_id": "i-7", "label": "World", "annotator_id": "ann-9",
        "timestamp": time.time() + 999}))])  # the image cannot take it
    loader = Checkpoints(settings.checkpoint, settings.kafka)
    via = loader.load()
    assert via.image is not None
    with caplog.at_level(logging.WARNING):
        r = restored_from(settings, via, loader)
    assert any("segments are not usable" in m and "seg/0: the checksum fails" in m
               for m in caplog.messages)
    assert not r.resumed and summary(r.coordinator) == restored(settings,
                                                                read_state(settings.kafka))


def test_a_format_2_checkpoint_still_loads_and_restores_from_its_records(settings: Settings):
    history(settings, 0, 50, time.time())
    manifest = write_checkpoint(Checkpoints(settings.checkpoint, settings.kafka), settings,
                                read_state(settings.kafka))
    assert orjson.loads(manifest.to_bytes())["body"]["format"] == 2 and manifest.image is None
    via = Checkpoints(settings.checkpoint, settings.kafka).load()
    assert via.checkpoint and via.image is None


def restored_from(settings: Settings, state: TopicState, checkpoints: Checkpoints | None = None):
    records = (checkpoints.records if checkpoints else lambda s: s)
    return rebuilt(lambda: fresh(settings), lambda: caps(settings), state,
                   lambda: records(state), 1e9)
