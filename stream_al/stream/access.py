"""Who may do what on a secured cluster: the roles of stream-al as Kafka ACLs, and the users.

A role is a list of :class:`Grant` (allow one operation on one topic, group or the cluster),
computed from :class:`~stream_al.config.KafkaSettings` by :func:`grants` (pure, no broker);
:func:`apply_one` creates a user's SCRAM-SHA-512 credential and its ACLs with an admin client
(:func:`grant_one`: the ACLs only, for a user with a client certificate).
Everything not granted is denied (the broker runs ``StandardAuthorizer`` with
``allow.everyone.if.no.acl.found=false``: ``deploy/kafka.sh`` with ``KAFKA_SECURITY=sasl_ssl``).

=================  ===================================================================
role (user name)   may
=================  ===================================================================
producer           write ``texts``
vendor-<name>      read ``selected`` in groups ``<app_id>-vendor-<name>*``; write only
                   its own labels topic ``<labels>.<name>``
expert             read ``expert`` in groups ``<app_id>-expert*``; write ``<labels>.expert``
worker             own every internal topic (create, read, write, configure); read every
                   labels topic and ``commands`` (not write it); its consumer groups
                   ``<app_id>*``; the coordinator's transactional id
                   ``<app_id>.coordinator`` (stream/fencing.py)
operator           write ``commands`` (rollback) and the shared ``labels`` topic (imports);
                   read ``models``, ``selected``, ``state``, ``events``, ``deadletter`` and
                   the labels topics (exports), in groups ``<app_id>-operator*``. Only the
                   operator writes ``commands``, and not ``control``: the coordinator relays
                   each command to ``control`` and applies a rollback only if it is on
                   ``commands`` (``stream/command_relay.py``, ``stream/commands.py``)
=================  ===================================================================

A vendor's identity is the topic it may write: the worker namespaces each label's
``annotator_id`` by the topic it came from (``<name>/<annotator>``), so no vendor can answer as
another vendor or as an expert.

Run ``python -m stream_al.stream.access ROLE [NAME] --password-file FILE`` as the admin user
(``kafka.security`` of the config or the environment), or ``deploy/kafka-roles.sh``.

>>> from stream_al.config import KafkaSettings
>>> [g.describe() for g in grants("producer", KafkaSettings())]
['WRITE topic stream-al.texts', 'DESCRIBE topic stream-al.texts']
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stream_al.config import KafkaSettings, Settings, TopicSettings
from stream_al.errors import StreamAlError
from stream_al.stream import clients
from stream_al.stream.messages import MAX_ANNOTATOR_CHARS, DeadLetterReason, LabelIn
from stream_al.stream.topics import transactional_id

Resource = Literal["topic", "group", "cluster", "transactional_id"]
ROLES = ("producer", "vendor", "expert", "worker", "operator")
VENDOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
RESERVED_VENDORS = {"expert"}


class AccessError(StreamAlError, ValueError):
    """A role or a vendor name cannot be granted; the message names the fix."""


@dataclass(frozen=True)
class Grant:
    """Allow ``operation`` on one resource (``prefixed``: every name that starts so)."""

    operation: str
    resource: Resource
    name: str = "kafka-cluster"
    prefixed: bool = False

    def describe(self) -> str:
        return f"{self.operation} {self.resource} {self.name}{'*' if self.prefixed else ''}"


def check_vendor(name: str) -> str:
    """``name`` if it may name a vendor (it becomes a topic suffix and an annotator namespace)."""
    if not VENDOR_NAME.fullmatch(name) or name in RESERVED_VENDORS:
        raise AccessError(f"vendor name {name!r} must match {VENDOR_NAME.pattern} and not be "
                          f"one of {sorted(RESERVED_VENDORS)}; pick another name")
    return name


def user_of(role: str, name: str | None = None) -> str:
    """The SCRAM user (principal ``User:<it>``) of a role: ``vendor-<name>`` for vendors."""
    if role not in ROLES:
        raise AccessError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "vendor":
        if not name:
            raise AccessError("the vendor role needs the vendor's name (e.g. vendor acme)")
        return f"vendor-{check_vendor(name)}"
    return role


def _read(topic: str, prefixed: bool = False) -> list[Grant]:
    return [Grant("READ", "topic", topic, prefixed), Grant("DESCRIBE", "topic", topic, prefixed)]


def _write(topic: str) -> list[Grant]:
    return [Grant("WRITE", "topic", topic), Grant("DESCRIBE", "topic", topic)]


def _group(prefix: str) -> list[Grant]:
    return [Grant("READ", "group", prefix, True), Grant("DESCRIBE", "group", prefix, True)]


def grants(role: str, kafka: KafkaSettings, name: str | None = None) -> list[Grant]:
    """The ACLs of ``role`` (``name``: the vendor's) for the topics of ``kafka``."""
    user_of(role, name)
    t, app = kafka.topics, kafka.app_id
    if role == "producer":
        return _write(t.texts)
    if role == "vendor":
        vendor = check_vendor(name or "")
        return [*_read(t.selected), *_group(f"{app}-vendor-{vendor}"),
                *_write(t.labels_of(vendor))]
    if role == "expert":
        return [*_read(t.expert), *_group(f"{app}-expert"), *_write(t.labels_of("expert"))]
    if role == "operator":
        out = [*_write(t.commands), *_write(t.labels), *_group(f"{app}-operator")]
        for topic in (t.models, t.selected, t.state, t.events, t.deadletter):
            out += _read(topic)
        return out + _read(t.labels, prefixed=True)
    internal = [t.texts, t.scored, t.selected, t.models, t.events, t.deadletter, t.control,
                t.state, t.checkpoint, t.reference, t.expert]
    out = [Grant(op, "topic", topic) for topic in internal
           for op in ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")]
    out += [Grant(op, "topic", t.commands)  # reads the operator's commands, never writes them
            for op in ("CREATE", "READ", "DESCRIBE", "DESCRIBE_CONFIGS")]
    out += [*_read(t.labels, prefixed=True), Grant("CREATE", "topic", t.labels, True),
            Grant("DESCRIBE_CONFIGS", "topic", t.labels, True)]  # checked at start (topics.py)
    out += [Grant("READ", "group", app, True), Grant("DESCRIBE", "group", app, True)]
    out += [Grant(op, "transactional_id", transactional_id(kafka))  # the coordinator's fence
            for op in ("WRITE", "DESCRIBE")]
    return out + [Grant("DESCRIBE", "cluster"), Grant("IDEMPOTENT_WRITE", "cluster")]


def attribute_one(label: LabelIn, topic: str, topics: TopicSettings) -> LabelIn | DeadLetterReason:
    """``label`` as said by the vendor whose topic it came from: on ``<labels>.<vendor>`` its
    ``annotator_id`` becomes ``<vendor>/<annotator_id>`` (experts: ``expert/<annotator_id>``);
    on the shared labels topic (development, or an operator's import) it stays as sent. An id
    too long to take the prefix is refused (it would fail every later check of the label).

    >>> from stream_al.config import TopicSettings
    >>> said = LabelIn(schema_version=1, item_id="a", label="World", annotator_id="expert/eve",
    ...                timestamp=1.0)
    >>> attribute_one(said, "stream-al.labels.acme", TopicSettings()).annotator_id
    'acme/expert/eve'
    """
    prefix = f"{topics.labels}."
    if not topic.startswith(prefix):
        return label
    said = f"{topic[len(prefix):]}/{label.annotator_id}"
    if len(said) > MAX_ANNOTATOR_CHARS:
        return DeadLetterReason("invalid_field", f"annotator_id: {len(said)} characters with "
                                f"the vendor's prefix, at most {MAX_ANNOTATOR_CHARS}")
    return label.model_copy(update={"annotator_id": said})


# ---- shell: apply them with an admin client -----------------------------------------------
def apply_one(admin_kafka: KafkaSettings, role: str, password: str, name: str | None = None,
              topics_of: KafkaSettings | None = None) -> str:
    """Create (or reset) the role's SCRAM-SHA-512 user and its ACLs; returns the user name.

    ``admin_kafka`` connects as a super user; ``topics_of`` names the topics (default: the same).
    """
    from kafka.admin import UserScramCredentialUpsertion

    user = user_of(role, name)
    if len(password) < 12:
        raise AccessError(f"the password of {user} must have at least 12 characters")
    admin = clients.admin(admin_kafka, client_id="stream-al-access")
    try:
        errors = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password, iterations=8192)])
        if errors.get(user):
            raise AccessError(f"the broker refused the credential of {user}: {errors[user]}")
        _create_acls(admin, user, grants(role, topics_of or admin_kafka, name))
    finally:
        admin.close()
    return user


def grant_one(admin_kafka: KafkaSettings, role: str, name: str | None = None,
              topics_of: KafkaSettings | None = None) -> str:
    """The role's ACLs only, for a user the broker authenticates otherwise (mTLS: a client
    certificate with ``CN=<user>``; ``deploy/kafka.sh client-cert <user>``)."""
    user = user_of(role, name)
    admin = clients.admin(admin_kafka, client_id="stream-al-access")
    try:
        _create_acls(admin, user, grants(role, topics_of or admin_kafka, name))
    finally:
        admin.close()
    return user


def _create_acls(admin: Any, user: str, granted: list[Grant]) -> None:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
             "cluster": ResourceType.CLUSTER, "transactional_id": ResourceType.TRANSACTIONAL_ID}
    acls = [
        ACL(f"User:{user}", "*", ACLOperation[g.operation], ACLPermissionType.ALLOW,
            ResourcePattern(kinds[g.resource], g.name,
                            ACLResourcePatternType.PREFIXED if g.prefixed
                            else ACLResourcePatternType.LITERAL))
        for g in granted
    ]
    result = admin.create_acls(acls)
    if result["failed"]:
        raise AccessError(f"the broker refused ACLs of {user}: {result['failed']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stream_al.stream.access",
        description="Create a role's SCRAM user and ACLs (run as a super user, e.g. admin).")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("name", nargs="?", help="the vendor's name (role vendor)")
    parser.add_argument("--password-file", type=Path,
                        help="first line: the new user's password (SCRAM)")
    parser.add_argument("--acls-only", action="store_true",
                        help="no SCRAM credential: the user has a client certificate (mTLS)")
    parser.add_argument("--config", type=Path, help="YAML settings (kafka.security: the admin)")
    parser.add_argument("--list", action="store_true", help="print the ACLs; change nothing")
    args = parser.parse_args(argv)
    kafka = Settings.load(args.config).kafka
    try:
        if args.list:
            print("\n".join(g.describe() for g in grants(args.role, kafka, args.name)))
            return 0
        if args.acls_only:
            user = grant_one(kafka, args.role, args.name)
        else:
            if args.password_file is None:
                raise AccessError("give --password-file FILE (SCRAM), or --acls-only (mTLS)")
            password = args.password_file.read_text().splitlines()[0]
            user = apply_one(kafka, args.role, password, args.name)
    except (AccessError, OSError, IndexError) as e:
        print(f"access: {e}", file=sys.stderr)
        return 2
    print(f"access: user {user} has the {args.role} role")
    return 0


if __name__ == "__main__":
    sys.exit(main())
