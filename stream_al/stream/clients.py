"""Every Kafka client of stream-al is made here, from :class:`~stream_al.config.KafkaSettings`.

One place turns ``kafka.security`` (PLAINTEXT, SSL with optional client certificate, or
SASL_SSL with SCRAM-SHA-512 or PLAIN) into the options of the three client libraries:

- kafka-python (:func:`producer`, :func:`consumer`, :func:`admin`): the CLI, the vendor, rebuilds;
- aiokafka (:func:`aio_consumer`, :func:`aio_producer`, :func:`aio_admin`): the texts reader,
  the scorers' model follower;
- faust (:func:`faust_credentials`, handed to ``faust.App(broker_credentials=...)``): the agents.

All three take the same :class:`ssl.SSLContext` (:func:`ssl_context`), so a CA, a client
certificate or a hostname check means the same thing everywhere. No other module creates a
client: a new one that bypassed this module would connect without credentials and be refused
by a secured broker. The password is read from the settings only here, and never logged.

>>> from stream_al.config import KafkaSettings
>>> sorted(security_options(KafkaSettings().security))
['security_protocol']
"""

from __future__ import annotations

import ssl
from typing import Any

from stream_al.config import KafkaSecuritySettings, KafkaSettings


def ssl_context(security: KafkaSecuritySettings) -> ssl.SSLContext | None:
    """The TLS context of every client (None for PLAINTEXT): verifies the broker against
    ``ca_file`` (or the system's CAs) and presents ``cert_file``/``key_file`` if set."""
    if security.protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(security.ca_file) if security.ca_file else None)
    context.check_hostname = security.check_hostname
    if security.cert_file is not None:
        context.load_cert_chain(str(security.cert_file), str(security.key_file))
    return context


def security_options(security: KafkaSecuritySettings) -> dict[str, Any]:
    """The options kafka-python and aiokafka share for ``security`` (same names in both)."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.protocol != "PLAINTEXT":
        options["ssl_context"] = ssl_context(security)
    if security.protocol == "SASL_SSL":
        options["sasl_mechanism"] = security.mechanism
        options["sasl_plain_username"] = security.username
        options["sasl_plain_password"] = security.secret()
    return options


READ_COMMITTED = {"isolation_level": "read_committed"}
"""Every consumer made here skips records of aborted transactions: the coordinator writes in
transactions (stream/fencing.py), and what a fenced coordinator had begun is aborted."""

FROM_START = {"auto_offset_reset": "earliest"}
"""For a consumer without a group that seeks to the beginning after ``assign``: aiokafka (0.14)
starts resetting a freshly assigned partition by the default strategy (``latest``) at once, and
when that answer comes after ``seek_to_beginning`` it overrides it (``_update_fetch_positions``
applies any answer while a reset is pending, whatever its strategy): under load a scorer began
at the end of ``reference`` and never read the rows already there. With ``earliest`` as the
default both resets agree."""


def _options(kafka: KafkaSettings, extra: dict[str, Any]) -> dict[str, Any]:
    return {"bootstrap_servers": kafka.bootstrap, **security_options(kafka.security), **extra}


# ---- kafka-python --------------------------------------------------------------------------------
def producer(kafka: KafkaSettings, **options: Any) -> Any:
    """A ``kafka.KafkaProducer`` on ``kafka`` with its security settings."""
    from kafka import KafkaProducer

    return KafkaProducer(**_options(kafka, options))


def consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> Any:
    """A ``kafka.KafkaConsumer`` on ``kafka`` (subscribed to ``topics``, if any), reading
    committed records only (:data:`READ_COMMITTED`)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(*topics, **_options(kafka, {**READ_COMMITTED, **options}))


def subscribe(consumer: Any, topics: list[str], listener: Any = None) -> None:
    """Subscribe a group's kafka-python consumer to ``topics``, then take one metadata update
    with the subscription in place (``topics()`` always asks the broker).

    kafka-python 3.0.12's group leader keeps the metadata it assigned from and joins again when
    a newer one differs; a consumer that saw no update since it subscribed assigns from an empty
    one and joins again as soon as the update comes. That second join is sent by a poll, and if
    the poll gives up before the join is answered, no later poll finishes it (the member no
    longer needs to rejoin by then): the consumer stays rebalancing with its heartbeat off, the
    broker drops it after the session timeout (45 s), and it does not come back
    (``tests/label_studio/test_group.py``, 3 of 16 runs with several Label Studio bridges in one
    group). The bridge and the vendor subscribe through it."""
    consumer.subscribe(topics, listener=listener)
    consumer.topics()


def admin(kafka: KafkaSettings, **options: Any) -> Any:
    """A ``kafka.KafkaAdminClient`` on ``kafka``."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**_options(kafka, options))


# ---- aiokafka ------------------------------------------------------------------------------------
def aio_consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> Any:
    """An ``aiokafka.AIOKafkaConsumer`` on ``kafka`` (not started)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(*topics, **_options(kafka, {**READ_COMMITTED, **options}))


def aio_producer(kafka: KafkaSettings, **options: Any) -> Any:
    """An ``aiokafka.AIOKafkaProducer`` on ``kafka`` (not started)."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(**_options(kafka, options))


def aio_admin(kafka: KafkaSettings, **options: Any) -> Any:
    """An ``aiokafka.admin.AIOKafkaAdminClient`` on ``kafka`` (not started)."""
    from aiokafka.admin import AIOKafkaAdminClient

    return AIOKafkaAdminClient(**_options(kafka, options))


# ---- faust ---------------------------------------------------------------------------------------
def faust_credentials(kafka: KafkaSettings) -> Any:
    """``broker_credentials`` for ``faust.App`` (None for PLAINTEXT). faust hands them to the
    aiokafka consumer and producers it makes (``credentials_to_aiokafka_auth``)."""
    import faust

    security = kafka.security
    if security.protocol == "PLAINTEXT":
        return None
    context = ssl_context(security)
    if security.protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(username=security.username, password=security.secret(),
                                 ssl_context=context, mechanism=security.mechanism)
