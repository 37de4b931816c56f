"""The labelled dataset outlives every worker: ``stream-al labels export`` writes it as a versioned
snapshot, and the topics alone rebuild it with the same content hash, the one the live
learner's label store has."""

from __future__ import annotations

import json

import orjson
import pytest

from stream_al.cli import build_parser
from stream_al.labels.export import SnapshotError, read_snapshot, versions
from stream_al.stream.label_export import rebuild_from_topic
from tests.reliability.faults import Background, observe, topic_config
from tests.stream.harness import (
    AG_NEWS,
    Worker,
    pipeline_config,
    run_cli,
    send_raw,
    settings_of,
    wait_for,
)

pytestmark = pytest.mark.kafka


def export(*args: str) -> int:
    """``stream-al labels export ARGS``, through the parser the CLI registers."""
    parsed = build_parser().parse_args(["labels", "export", *args])
    return parsed.func(parsed)


def test_an_exported_snapshot_is_rebuilt_from_the_topics_alone_with_the_same_hash(
    kafka_bootstrap, tmp_path, capsys
):
    config = pipeline_config(kafka_bootstrap, tmp_path, annotation={"learn_from": "labels"})
    topics = settings_of(config)["kafka"]["topics"]
    out = tmp_path / "snapshots"
    with Worker(config, tmp_path / "worker.log") as worker:
        args = ("--config", str(config), "--data", str(AG_NEWS), "--id-prefix", "ag")
        assert run_cli("produce", *args, "--limit", "300").returncode == 0
        # the vendor leaves after 4 idle seconds: start it only once the worker has bought
        # from all 300 texts and every bought item is on `selected` (on a loaded machine the
        # last window could otherwise be bought after the vendor left, its labels never come)
        wait_for(
            lambda: (
                worker.metric("stream_al_stage_items_in_total", stage="select") >= 300
                and worker.metric("stream_al_reservoir_items") == 0
                and len(set(observe(kafka_bootstrap, topics).selected_ids))
                >= worker.metric("stream_al_stage_items_out_total", stage="select") > 0
            ),
            60,
            "every text to be governed and every purchase to be on `selected`",
        )
        vendor = Background(
            tmp_path / "vendor.log",
            *("vendor", "--config", str(config), "--gold", str(AG_NEWS), "--id-prefix", "ag"),
            *("--annotators", "3", "--per-item", "2", "--noise", "0.3", "--max-idle", "4"),
        )
        try:
            assert vendor.wait(90) == 0, vendor.output()  # it leaves after 4 s with nothing to do
            live = wait_for(
                lambda: (
                    (o := observe(kafka_bootstrap, topics)).learned_the_topics()
                    and len(o.snapshot) == 2 * len(set(o.selected_ids))
                    and o
                ),
                60,
                "the model to learn every label",
                state=lambda: observe(kafka_bootstrap, topics).summary(),
            )
        finally:
            vendor.stop()
        assert export("--out", str(out), "--config", str(config)) == 0
    assert "content_hash" in capsys.readouterr().out

    # no worker is left: the files, and the topics alone, give the dataset the learner had;
    # the topics keep it as long as they exist
    for name in ("labels", "selected"):
        assert topic_config(kafka_bootstrap, topics[name])["retention.ms"] == "-1"
    (first,) = versions(out)
    snapshot, manifest = read_snapshot(first)
    rebuilt = rebuild_from_topic(kafka_bootstrap, topics["labels"], topics["selected"])
    assert rebuilt == snapshot
    assert manifest["content_hash"] == rebuilt.content_hash
    assert manifest["label_set_hash"] == live.model.labels_hash
    assert manifest["rows"] == live.model.n_labels == len(snapshot)
    assert set(manifest["classes"]) <= {"World", "Sports", "Business", "Sci/Tech"}
    assert manifest["version"] == 1 and manifest["source"]["labels_topic"] == topics["labels"]
    conflicts = [
        i
        for i in {r.item_id for r in snapshot.rows}
        if len({r.label for r in snapshot.rows if r.item_id == i}) > 1
    ]
    assert conflicts, "noisy annotators disagree: both answers are in the dataset"

    # nothing changed: exporting again writes no new version
    assert export("--out", str(out), "--config", str(config)) == 0
    assert versions(out) == [first]

    # one more label on the topic: a new version with another hash; the old one stays
    item = snapshot.rows[0].item_id
    late = {
        "schema_version": 1,
        "item_id": item,
        "label": "World",
        "annotator_id": "late",
        "timestamp": 9.0,
    }
    send_raw(kafka_bootstrap, topics["labels"], [(item.encode(), json.dumps(late).encode())])
    assert export("--out", str(out), "--config", str(config)) == 0
    old, new = versions(out)
    newer, new_manifest = read_snapshot(new)
    assert (old, new_manifest["version"], len(newer)) == (first, 2, len(snapshot) + 1)
    assert new_manifest["content_hash"] != manifest["content_hash"]

    # a snapshot whose file was edited is refused
    labels = first / "labels.jsonl"
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    rows[0]["label"] = "Sports" if rows[0]["label"] != "Sports" else "World"
    labels.write_bytes(b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in rows))
    with pytest.raises(SnapshotError, match="content_hash"):
        read_snapshot(first)
