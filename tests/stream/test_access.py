"""The roles as ACLs, and a vendor's identity taken from the topic it could write."""

from __future__ import annotations

import pytest

from stream_al.config import KafkaSettings, TopicSettings
from stream_al.stream.access import AccessError, attribute_one, grants
from stream_al.stream.messages import LabelIn
from stream_al.stream.topics import topic_specs

K = KafkaSettings(topics=TopicSettings(vendors=["acme", "globex"]))


def writes(role: str, name: str | None = None) -> set[str]:
    return {g.name for g in grants(role, K, name) if g.operation == "WRITE"}


def label(annotator: str) -> LabelIn:
    return LabelIn(schema_version=1, item_id="x-1", label="World", annotator_id=annotator,
                   timestamp=1.0)


def test_a_producer_writes_only_texts():
    assert writes("producer") == {"stream-al.texts"}


def test_a_vendor_writes_only_its_own_labels_topic_and_reads_selected():
    assert writes("vendor", "acme") == {"stream-al.labels.acme"}
    reads = {g.name for g in grants("vendor", K, "acme") if g.operation == "READ"}
    assert reads == {"stream-al.selected", "stream-al-vendor-acme"}


def test_the_expert_writes_only_the_experts_labels_topic():
    assert writes("expert") == {"stream-al.labels.expert"}


def test_no_role_but_the_worker_writes_control():
    writers = {r for r in ("producer", "expert", "worker", "operator")
               if "stream-al.control" in writes(r)}
    assert writers == {"worker"}
    assert "stream-al.control" not in writes("vendor", "acme")


def test_no_role_but_the_operator_writes_commands_and_the_worker_reads_them():
    writers = {r for r in ("producer", "expert", "worker", "operator")
               if "stream-al.commands" in writes(r)}
    assert writers == {"operator"}
    assert "stream-al.commands" not in writes("vendor", "acme")
    assert any(g.name == "stream-al.commands" and g.operation == "READ"
               for g in grants("worker", K))


def test_the_worker_reads_every_labels_topic():
    prefixed = [g for g in grants("worker", K) if g.prefixed and g.resource == "topic"]
    assert any(g.name == "stream-al.labels" and g.operation == "READ" for g in prefixed)


@pytest.mark.parametrize("name", ["expert", "Acme", "a/b", "", "x" * 41, "acme\n"])
def test_a_vendor_name_that_could_pass_for_another_identity_is_refused(name):
    with pytest.raises(AccessError, match="name"):
        grants("vendor", K, name)


def test_each_vendor_and_the_experts_get_a_labels_topic_only_when_vendors_are_named():
    names = {s.name for s in topic_specs(K)}
    assert {"stream-al.labels.acme", "stream-al.labels.globex", "stream-al.labels.expert"} <= names
    assert not any(s.name.startswith("stream-al.labels.") for s in topic_specs(KafkaSettings()))


def test_a_label_from_a_vendors_topic_speaks_for_that_vendor_only():
    assert attribute_one(label("alice"), "stream-al.labels.acme", K.topics).annotator_id == \
        "acme/alice"
    forged = attribute_one(label("globex/bob"), "stream-al.labels.acme", K.topics)
    assert forged.annotator_id == "acme/globex/bob"
    assert attribute_one(label("eve"), "stream-al.labels.expert", K.topics).annotator_id == \
        "expert/eve"


def test_an_annotator_id_too_long_for_the_vendors_prefix_is_refused():
    refused = attribute_one(label("a" * 170), "stream-al.labels.acme", K.topics)
    assert refused.reason == "invalid_field"


def test_the_shared_labels_topic_keeps_annotator_ids_as_sent():
    assert attribute_one(label("alice"), "stream-al.labels", K.topics).annotator_id == "alice"


def test_only_the_worker_may_claim_the_coordinators_transactional_id():
    def claims(role: str, name: str | None = None) -> bool:
        return any(g.resource == "transactional_id" and g.name == "stream-al.coordinator"
                   and g.operation == "WRITE" for g in grants(role, K, name))

    assert claims("worker")
    assert not any(claims(r) for r in ("producer", "expert", "operator"))
    assert not claims("vendor", "acme")
