"""Every client's security options come from ``kafka.security``, and the password never shows."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from stream_al.config import KafkaSecuritySettings, KafkaSettings, Settings
from stream_al.stream import clients


def sasl(**extra) -> KafkaSecuritySettings:
    return KafkaSecuritySettings(protocol="SASL_SSL", username="worker", password="s3cret-pw",
                                 **extra)


def test_plaintext_is_the_development_default_and_adds_nothing():
    assert clients.security_options(KafkaSecuritySettings()) == {"security_protocol": "PLAINTEXT"}
    assert clients.faust_credentials(KafkaSettings()) is None


def test_sasl_ssl_gives_kafka_python_and_aiokafka_the_same_options():
    options = clients.security_options(sasl())
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("worker",
                                                                                "s3cret-pw")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_faust_gets_sasl_credentials_over_tls():
    credentials = clients.faust_credentials(KafkaSettings(security=sasl(mechanism="PLAIN")))
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "PLAIN"
    assert credentials.username == "worker"
    assert "s3cret-pw" not in repr(credentials)


def test_the_password_is_hidden_in_reprs_and_dumps():
    settings = KafkaSettings(security=sasl())
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())
    assert "s3cret-pw" not in settings.model_dump_json()


def test_the_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("STREAM_AL_KAFKA__SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAM_AL_KAFKA__SECURITY__USERNAME", "worker")
    monkeypatch.setenv("STREAM_AL_KAFKA__SECURITY__PASSWORD", "from-env")
    assert Settings.load().kafka.security.secret() == "from-env"


def test_the_password_comes_from_a_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("from-file\n")
    security = KafkaSecuritySettings(protocol="SASL_SSL", username="w", password_file=path)
    assert security.secret() == "from-file"
    assert clients.security_options(security)["sasl_plain_password"] == "from-file"


@pytest.mark.parametrize("fields, fix", [
    ({"protocol": "SASL_SSL", "password": "x"}, "username is required"),
    ({"protocol": "SASL_SSL", "username": "w"}, "STREAM_AL_KAFKA__SECURITY__PASSWORD"),
    ({"protocol": "SSL", "cert_file": "/etc/hostname"}, "set both"),
    ({"protocol": "SSL", "ca_file": "/nonexistent/ca.pem"}, "not a readable file"),
    ({"protocol": "SASL_PLAINTEXT"}, "protocol"),
])
def test_an_incomplete_block_is_refused_with_the_fix(fields, fix):
    with pytest.raises(ValidationError, match=fix):
        KafkaSecuritySettings(**fields)
