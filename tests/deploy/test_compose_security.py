"""docker-compose.yml is secure by default, checked statically (no Docker engine runs here).

Every broker listener takes SASL_SSL only, the broker's ACLs are on and it creates no topic by
itself; every client container authenticates as its own role's user, with the CA and its own
password file and no one else's; /metrics is reachable only inside the compose network; Grafana
has no anonymous access and no password written in the file. The broker's configuration is the
one ``deploy/kafka.sh`` writes from the kafka service's environment: ``kafka.sh config`` writes
it here from that same environment, and the tests read what the broker would run with.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stream_al.config import Settings
from stream_al.stream.access import ROLES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
INIT = ("kafka-secrets", "kafka-roles")
CLIENTS = {n: s for n, s in SERVICES.items() if "build" in s and n not in INIT}
USERS_DIR = SERVICES["kafka-roles"]["environment"]["KAFKA_USERS_DIR"]


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """{path in the container: (volume or host path, read-only)}."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        out[target] = (source, mode == ["ro"])
    return out


@pytest.fixture(scope="module")
def broker_config(tmp_path_factory) -> dict[str, str]:
    """server.properties as deploy/kafka.sh writes it from the kafka service's environment."""
    env = {k: str(v) for k, v in SERVICES["kafka"]["environment"].items()}
    env |= {"KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("compose-kafka")),
            "KAFKA_PYTHON": sys.executable, "PATH": os.environ["PATH"], "HOME": str(Path.home())}
    env["KAFKA_TLS_HOSTS"] = SERVICES["kafka-secrets"]["environment"]["KAFKA_TLS_HOSTS"]
    done = subprocess.run(["bash", str(REPO / "deploy" / "kafka.sh"), "config"], env=env,
                          capture_output=True, text=True, check=True)
    lines = [x for x in done.stdout.splitlines() if "=" in x and not x.startswith("#")]
    return dict(x.split("=", 1) for x in lines)


# ---- the broker ----------------------------------------------------------------------------------
def test_the_broker_runs_the_scripts_secured_mode(broker_config):
    kafka = SERVICES["kafka"]
    assert kafka["entrypoint"][-2:] == ["/opt/stream-al/deploy/kafka.sh", "run"]
    assert kafka["environment"]["KAFKA_SECURITY"] == "sasl_ssl"
    assert broker_config["authorizer.class.name"].endswith("StandardAuthorizer")
    assert broker_config["allow.everyone.if.no.acl.found"] == "false"
    assert broker_config["auto.create.topics.enable"] == "false"


def test_every_broker_listener_takes_sasl_ssl_only(broker_config):
    protocols = dict(x.split(":") for x in broker_config["listener.security.protocol.map"].split(","))
    listeners = [x.split("://")[0] for x in broker_config["listeners"].split(",")]
    assert set(listeners) == set(protocols)
    assert {n: p for n, p in protocols.items() if n != "CONTROLLER"} == {
        "INTERNAL": "SASL_SSL", "HOST": "SASL_SSL"}
    assert protocols["CONTROLLER"] == "SSL"
    assert broker_config["listener.name.controller.ssl.client.auth"] == "required"
    assert broker_config["controller.quorum.voters"].startswith("1@127.0.0.1:"), (
        "the controller listens on the container's loopback only")
    assert broker_config["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def test_the_brokers_certificate_names_the_hosts_clients_connect_to(broker_config):
    out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                          broker_config["ssl.keystore.location"]],
                         capture_output=True, text=True, check=True).stdout
    for name in ("DNS:kafka", "DNS:localhost", "IP Address:127.0.0.1"):
        assert name in out


def test_the_broker_waits_for_its_certificates_and_the_clients_for_their_users():
    assert SERVICES["kafka"]["depends_on"] == {
        "kafka-secrets": {"condition": "service_completed_successfully"}}
    assert SERVICES["kafka-roles"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name, service in CLIENTS.items():
        assert service["depends_on"] == {
            "kafka-roles": {"condition": "service_completed_successfully"}}, name


def test_the_health_check_authenticates_as_the_admin():
    check = " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    assert "--command-config /var/lib/kafka/data/tls/admin.properties" in check


# ---- the clients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_every_client_authenticates_with_scram_over_tls_as_a_role(name):
    env = CLIENTS[name]["environment"]
    assert env["STREAM_AL_KAFKA__SECURITY__PROTOCOL"] == "SASL_SSL"
    assert env["STREAM_AL_KAFKA__SECURITY__MECHANISM"] == "SCRAM-SHA-512"
    user = env["STREAM_AL_KAFKA__SECURITY__USERNAME"]
    assert user in ROLES or user.startswith("vendor-")
    assert not any(k.endswith("__PASSWORD") for k in env), "no password written in the file"


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_every_client_is_given_the_ca_and_its_own_users_password_only(name):
    service = CLIENTS[name]
    env, mounted = service["environment"], mounts(service)
    user = env["STREAM_AL_KAFKA__SECURITY__USERNAME"]
    password_dir = str(Path(env["STREAM_AL_KAFKA__SECURITY__PASSWORD_FILE"]).parent)
    assert mounted[password_dir] == (f"user-{user}", True)
    assert mounted[str(Path(env["STREAM_AL_KAFKA__SECURITY__CA_FILE"]).parent)] == (
        "kafka-ca", True)
    others = {s for s, _ in mounted.values() if s.startswith("user-")} - {f"user-{user}"}
    assert not others, f"{name} may read other users' passwords: {others}"
    assert "kafka-data" not in {s for s, _ in mounted.values()}, "the admin's password is there"


def test_the_roles_step_makes_every_user_a_client_runs_as_in_its_volume():
    roles = SERVICES["kafka-roles"]
    made = {"worker", "operator", "producer", "expert"}
    made |= {f"vendor-{v}" for v in roles["environment"]["KAFKA_VENDORS"].split()}
    used = {s["environment"]["STREAM_AL_KAFKA__SECURITY__USERNAME"] for s in CLIENTS.values()}
    assert used <= made
    mounted = mounts(roles)
    for user in made:
        assert mounted[f"{USERS_DIR}/{user}"] == (f"user-{user}", False), user
        assert f"user-{user}" in COMPOSE["volumes"]
    assert mounted["/var/lib/kafka/data"] == ("kafka-data", True)


def test_the_vendor_writes_its_own_labels_topic():
    vendor = SERVICES["vendor"]
    name = vendor["command"][vendor["command"].index("--vendor") + 1]
    assert vendor["environment"]["STREAM_AL_KAFKA__SECURITY__USERNAME"] == f"vendor-{name}"
    assert name in yaml.safe_load(vendor["environment"]["STREAM_AL_KAFKA__TOPICS__VENDORS"])


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_every_clients_environment_loads_as_settings_for_its_user(name, tmp_path, monkeypatch):
    """The variables are the documented ones (a typo would leave a client on PLAINTEXT)."""
    env = CLIENTS[name]["environment"]
    for key in ("PASSWORD_FILE", "CA_FILE"):  # the mounted files, here under tmp_path
        path = tmp_path / Path(env[f"STREAM_AL_KAFKA__SECURITY__{key}"]).name
        path.write_text("a-password-of-the-role\n")
        monkeypatch.setenv(f"STREAM_AL_KAFKA__SECURITY__{key}", str(path))
    for key, value in env.items():
        if key.startswith("STREAM_AL_") and not key.endswith(("PASSWORD_FILE", "CA_FILE")):
            monkeypatch.setenv(key, str(value))
    security = Settings.load().kafka.security
    assert security.protocol == "SASL_SSL"
    assert security.username == env["STREAM_AL_KAFKA__SECURITY__USERNAME"]
    assert security.secret() == "a-password-of-the-role"


# ---- metrics and dashboards ----------------------------------------------------------------------
def test_metrics_listen_on_every_interface_only_inside_the_compose_network():
    prom = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    scraped = {t.split(":")[0] for t in prom["scrape_configs"][0]["static_configs"][0]["targets"]}
    for name, service in CLIENTS.items():
        host = service["environment"].get("STREAM_AL_KAFKA__METRICS_HOST")
        assert (host == "0.0.0.0") == (name in scraped), name
        assert "ports" not in service, f"{name} publishes a port to the host"


def test_published_ports_are_on_the_hosts_loopback_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_grafana_has_no_anonymous_access_and_its_password_comes_from_a_file():
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    password = Path(env["GF_SECURITY_ADMIN_PASSWORD__FILE"])
    assert mounts(grafana)[str(password.parent)] == ("grafana-admin", True)
    assert mounts(SERVICES["kafka-secrets"])[str(password.parent)] == ("grafana-admin", False)


def test_the_init_steps_make_a_grafana_password_unless_one_is_given(tmp_path):
    """``compose-init.sh secrets`` as the kafka-secrets step runs it (not as root: no chown)."""
    env = {**os.environ, "KAFKA_DATA_DIR": str(tmp_path / "data"), "CA_DIR": str(tmp_path / "ca"),
           "GRAFANA_DIR": str(tmp_path / "grafana"), "KAFKA_PYTHON": sys.executable,
           "KAFKA_TLS_HOSTS": "kafka"}
    env.pop("GRAFANA_ADMIN_PASSWORD", None)
    script = str(REPO / "deploy" / "compose-init.sh")
    subprocess.run(["bash", script, "secrets"], env=env, check=True, capture_output=True)
    made = (tmp_path / "grafana" / "admin.password").read_text().strip()
    assert len(made) >= 20
    assert (tmp_path / "ca" / "ca.pem").read_bytes() == (tmp_path / "data/tls/ca.pem").read_bytes()
    assert not (tmp_path / "ca" / "ca.key").exists(), "the clients' volume holds the CA alone"
    subprocess.run(["bash", script, "secrets"], env={**env, "GRAFANA_ADMIN_PASSWORD": "chosen"},
                   check=True, capture_output=True)
    assert (tmp_path / "grafana" / "admin.password").read_text().strip() == "chosen"
