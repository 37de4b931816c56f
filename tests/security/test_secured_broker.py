"""On the secured broker, a client without the right credentials is refused, and each role can do
exactly what its ACLs allow (``stream_al/stream/access.py``). Every way a client may
authenticate is tried: SCRAM-SHA-512 and PLAIN over TLS, and a client certificate (mTLS)."""

from __future__ import annotations

import subprocess

import pytest
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConfigurationError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from stream_al.config import KafkaSecuritySettings, KafkaSettings
from stream_al.stream import clients
from stream_al.stream.topics import ensure_topics

pytestmark = pytest.mark.kafka

QUICK = {"request_timeout_ms": 8000}


@pytest.fixture(scope="module")
def cluster(secure_kafka):
    """The session's secured broker, with its topics made by the worker role."""
    ensure_topics(secure_kafka.role("worker"))
    return secure_kafka


def write(kafka: KafkaSettings, topic: str, value: bytes = b"{}") -> None:
    producer = clients.producer(kafka, max_block_ms=10_000, **QUICK)
    try:
        producer.send(topic, key=b"k", value=value).get(timeout=15)
    finally:
        producer.close(timeout=5)


def refused(kafka: KafkaSettings, topic: str) -> bool:
    try:
        write(kafka, topic)
    except TopicAuthorizationFailedError:
        return True
    return False


def as_user(cluster, username: str, password: str, **security) -> KafkaSettings:
    k = cluster.settings(username, password)
    return k.model_copy(update={"security": k.security.model_copy(update=security)})


# ---- authentication ------------------------------------------------------------------------------
def refused_at_connect(kafka: KafkaSettings) -> None:
    """Listing topics fails with a broker error (not a mistake in the client's configuration)."""
    with pytest.raises(KafkaError) as caught:
        clients.admin(kafka, bootstrap_timeout_ms=4000, **QUICK).list_topics()
    assert not isinstance(caught.value, KafkaConfigurationError)


def test_a_client_without_credentials_is_refused(cluster):
    refused_at_connect(KafkaSettings(bootstrap=cluster.bootstrap))


def test_a_client_with_a_wrong_password_is_refused(cluster):
    refused_at_connect(as_user(cluster, "admin", "not-the-password"))


def test_an_unknown_user_is_refused(cluster):
    refused_at_connect(as_user(cluster, "mallory", "a-long-password"))


def test_a_client_that_does_not_trust_the_brokers_ca_does_not_connect(cluster):
    admin = cluster.admin
    untrusting = admin.model_copy(update={"security": KafkaSecuritySettings(
        protocol="SASL_SSL", username="admin", password=admin.security.secret())})
    refused_at_connect(untrusting)


def test_the_admin_gets_in(cluster):
    admin = clients.admin(cluster.admin, **QUICK)
    try:
        assert cluster.topics.control in admin.list_topics()
    finally:
        admin.close()


# ---- SASL/PLAIN over TLS --------------------------------------------------------------------------
def plain(cluster, password: str) -> KafkaSettings:
    return as_user(cluster, "admin", password, mechanism="PLAIN")


def test_plain_over_tls_lets_a_user_in_with_its_password(cluster):
    admin = clients.admin(plain(cluster, cluster.admin.security.secret()), **QUICK)
    try:
        assert cluster.topics.control in admin.list_topics()
    finally:
        admin.close()


def test_plain_over_tls_refuses_a_wrong_password(cluster):
    refused_at_connect(plain(cluster, "not-the-password"))


# ---- mTLS: a client certificate is the credential ---------------------------------------------
def test_a_certificate_signed_by_the_clusters_ca_authenticates_its_cn(cluster):
    admin = clients.admin(cluster.certificate("admin"), **QUICK)  # CN=admin: the super user
    try:
        assert cluster.topics.control in admin.list_topics()
    finally:
        admin.close()


def test_the_mtls_listener_refuses_a_client_without_a_certificate(cluster):
    anonymous = cluster.certificate("admin")
    refused_at_connect(anonymous.model_copy(update={"security": anonymous.security.model_copy(
        update={"cert_file": None, "key_file": None})}))


def test_the_mtls_listener_refuses_a_certificate_the_clusters_ca_did_not_sign(cluster, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=admin", "-keyout", str(tmp_path / "forged.key"),
                    "-out", str(tmp_path / "forged.pem")], check=True, capture_output=True)
    genuine = cluster.certificate("admin")
    refused_at_connect(genuine.model_copy(update={"security": genuine.security.model_copy(
        update={"cert_file": tmp_path / "forged.pem", "key_file": tmp_path / "forged.key"})}))


def test_a_certificate_user_has_exactly_its_roles_acls(cluster):
    from stream_al.stream import access

    access.grant_one(cluster.admin, "producer", topics_of=KafkaSettings(topics=cluster.topics))
    producer, t = cluster.certificate("producer"), cluster.topics  # CN=producer: User:producer
    write(producer, t.texts)
    for topic in (t.control, t.labels, t.models):
        assert refused(producer, topic), topic


# ---- roles ---------------------------------------------------------------------------------------
def test_a_producer_writes_texts_and_nothing_else(cluster):
    producer, t = cluster.role("producer"), cluster.topics
    write(producer, t.texts)
    for topic in (t.selected, t.labels, t.control, t.models, t.state, t.checkpoint,
                  t.labels_of("acme")):
        assert refused(producer, topic), topic


def test_a_vendor_writes_only_its_own_labels_topic(cluster):
    acme, t = cluster.role("vendor", "acme"), cluster.topics
    write(acme, t.labels_of("acme"))
    for topic in (t.labels_of("globex"), t.labels_of("expert"), t.labels, t.control,
                  t.texts, t.models, t.state, t.selected):
        assert refused(acme, topic), topic


def test_a_vendor_reads_selected_in_its_own_group_only(cluster):
    acme, t = cluster.role("vendor", "acme"), cluster.topics
    write(cluster.role("worker"), t.selected, b'{"item": 1}')
    own = clients.consumer(acme, t.selected, group_id=f"{acme.app_id}-vendor-acme",
                           auto_offset_reset="earliest", consumer_timeout_ms=10_000, **QUICK)
    try:
        assert next(iter(own)).value == b'{"item": 1}'
    finally:
        own.close()
    other = clients.consumer(acme, t.selected, group_id=f"{acme.app_id}-vendor-globex",
                             consumer_timeout_ms=5_000, **QUICK)
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            other.poll(timeout_ms=5_000)
    finally:
        other.close()


def test_only_the_expert_writes_the_experts_labels_topic(cluster):
    t = cluster.topics
    write(cluster.role("expert"), t.labels_of("expert"))
    assert refused(cluster.role("expert"), t.labels_of("acme"))


def test_only_the_worker_writes_control(cluster):
    """The operator's rollbacks go to ``commands``; the coordinator relays them to ``control``."""
    t = cluster.topics
    write(cluster.role("worker"), t.control)
    for role, name in (("operator", None), ("vendor", "globex"), ("producer", None)):
        assert refused(cluster.role(role, name), t.control), role
    assert refused(cluster.role("operator"), t.texts)


def test_only_the_operator_writes_commands_and_the_worker_reads_them(cluster):
    t = cluster.topics
    write(cluster.role("operator"), t.commands, b'{"command": 1}')
    for role, name in (("worker", None), ("producer", None), ("vendor", "acme"), ("expert", None)):
        assert refused(cluster.role(role, name), t.commands), role
    reader = clients.consumer(cluster.role("worker"), t.commands, auto_offset_reset="earliest",
                              group_id=f"{cluster.role('worker').app_id}-commands",
                              consumer_timeout_ms=10_000, **QUICK)
    try:
        assert next(iter(reader)).value == b'{"command": 1}'
    finally:
        reader.close()


def test_the_worker_writes_its_internal_topics(cluster):
    worker, t = cluster.role("worker"), cluster.topics
    for topic in (t.selected, t.models, t.state, t.checkpoint, t.events, t.deadletter, t.expert):
        write(worker, topic)


def test_a_producer_may_run_ensure_topics_and_it_creates_nothing(cluster):
    assert ensure_topics(cluster.role("producer")) == []


def test_no_role_but_the_worker_creates_topics(cluster):
    from kafka.admin import NewTopic
    from kafka.errors import TopicAuthorizationFailedError as Denied

    admin = clients.admin(cluster.role("producer"), **QUICK)
    try:
        with pytest.raises(Denied):
            admin.create_topics([NewTopic(f"{cluster.topics.texts}-extra", 1, 1)])
    finally:
        admin.close()
