"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine runs here).

They stay consistent with what the tests exercise: the broker version, the scrape targets,
the settings variables; and they keep the properties a user relies on: pinned images, listeners
that work from the host and from containers, data that survives ``down``, a non-root image with
a health check and a cached dependency layer.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _kafka_env() -> dict:
    return SERVICES["kafka"]["environment"]


def _listeners(variable: str) -> dict[str, str]:
    """``NAME://host:port,...`` as {NAME: "host:port"}."""
    return dict(item.split("://") for item in _kafka_env()[variable].split(","))


CLIENTS = {n: s for n, s in SERVICES.items() if "build" in s and "command" in s
           and s["command"][0] not in ("secrets", "roles")}
"""The stream-al containers that talk to Kafka (not the one-shot init steps)."""


def _instruction(keyword: str) -> list[str]:
    return [i for i in INSTRUCTIONS if i.split()[0].upper() == keyword]


def test_kafka_image_is_the_version_the_tests_run():
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version}"


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "image" in s])
def test_every_image_is_pinned_to_a_version(name):
    image = SERVICES[name]["image"]
    _, _, tag = image.rpartition(":")
    assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), image


def test_the_built_image_is_tagged_with_the_package_version():
    built = {s["image"] for s in SERVICES.values() if "build" in s}
    assert built == {f"stream-al:{PROJECT['version']}"}


def test_containers_and_host_each_reach_kafka_on_their_own_listener():
    listeners = _listeners("KAFKA_CLIENT_LISTENERS")
    advertised = _listeners("KAFKA_ADVERTISED_LISTENERS")
    assert set(advertised) == set(listeners)
    for name, address in advertised.items():  # advertised on the port it listens on
        assert address.rpartition(":")[2] == listeners[name].rpartition(":")[2], name
    internal = next(iter(listeners))  # deploy/kafka.sh: the first is the inter-broker listener
    assert advertised[internal].startswith("kafka:")
    clients = {s["environment"]["STREAM_AL_KAFKA__BOOTSTRAP"] for s in CLIENTS.values()}
    assert clients == {advertised[internal]}, "every stream-al container uses the internal one"
    assert SERVICES["kafka-roles"]["environment"]["KAFKA_BOOTSTRAP"] == advertised[internal]
    host = [a for a in advertised.values() if a.startswith("127.0.0.1:")]
    assert len(host) == 1, "one listener is advertised to programs on the host"
    port = host[0].rpartition(":")[2]
    assert f"127.0.0.1:{port}:{port}" in SERVICES["kafka"]["ports"]
    assert "CONTROLLER" not in advertised


def test_kafka_keeps_its_topics_in_a_named_volume():
    log_dir = _kafka_env()["KAFKA_DATA_DIR"]  # deploy/kafka.sh: logs/ and tls/ in there
    mounts = dict(v.split(":")[1::-1] for v in SERVICES["kafka"]["volumes"])
    assert log_dir in mounts
    assert mounts[log_dir] in COMPOSE["volumes"]


def test_prometheus_scrapes_every_compose_worker_on_the_metrics_port():
    prom = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = set(prom["scrape_configs"][0]["static_configs"][0]["targets"])
    workers = {name for name, s in SERVICES.items() if s.get("command", [])[:1] == ["worker"]}
    assert workers == {"worker", "worker-2"}
    assert targets == {f"{w}:9464" for w in workers}


def test_mounted_files_are_inside_the_repository():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/", "~")):
                assert source.startswith("./") and ".." not in source, (name, source)
                assert (REPO / source).exists(), source
            else:
                assert source in COMPOSE["volumes"], (name, source)


def test_the_tools_find_their_dataset_in_the_mounted_folder():
    for name in ("producer", "vendor"):
        service = SERVICES[name]
        data = next(a for a in service["command"] if a.startswith("/data/"))
        host = next(v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == "/data")
        assert (REPO / host / Path(data).name).is_file(), (name, data)


def test_workers_use_the_documented_settings_variables():
    env = SERVICES["worker"]["environment"]
    assert env["STREAM_AL_KAFKA__BOOTSTRAP"] == "kafka:19092"
    from stream_al.config import Settings

    assert Settings.load(kafka={"bootstrap": "kafka:19092"}).kafka.bootstrap == "kafka:19092"


def test_security_has_a_named_place_in_compose_and_image():
    assert "x-security" in COMPOSE
    assert "SECURITY" in DOCKERFILE
    assert "ENV STREAM_AL_KAFKA__SECURITY" not in DOCKERFILE, "no credentials in the image"


def test_the_image_base_is_pinned_and_the_core_image_installs_no_torch():
    base = _instruction("FROM")[0].split()[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    assert 'ARG EXTRAS=""' in INSTRUCTIONS
    assert "torch" not in " ".join(PROJECT["dependencies"]), "the core install has no torch"
    assert "sentence-transformers" not in " ".join(PROJECT["dependencies"])
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE, "[minilm] takes torch's CPU wheels"


def test_the_image_runs_as_a_non_root_user():
    users = _instruction("USER")
    assert users and users[-1].split()[1] not in ("root", "0")


def test_dependencies_are_installed_before_the_code_is_copied():
    """A change to stream_al/ reuses the dependency layer."""
    first_copy = _instruction("COPY")[0].split()[1:-1]
    assert sorted(first_copy) == ["constraints.txt", "pyproject.toml"]
    code_copy = next(i for i, line in enumerate(INSTRUCTIONS) if line.startswith("COPY stream_al"))
    dependency_install = next(i for i, line in enumerate(INSTRUCTIONS)
                              if line.startswith("RUN") and "-c constraints.txt" in line)
    assert dependency_install < code_copy
    assert "--no-deps" in INSTRUCTIONS[code_copy + 1]


def test_the_health_check_asks_the_metrics_port_for_healthz():
    health = " ".join(_instruction("HEALTHCHECK"))
    port = _instruction("EXPOSE")[0].split()[1]
    assert f"127.0.0.1:{port}/healthz" in health
    assert f'"--metrics-port", "{port}"' in _instruction("CMD")[-1]
    assert SERVICES["worker"]["command"][1:3] == ["--metrics-port", port]


def test_the_build_context_leaves_out_what_the_image_does_not_need():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", "runs", "tests", "**/__pycache__"} <= ignored
    copied = {part for line in _instruction("COPY") for part in line.split()[1:-1]}
    assert not copied & ignored, "the Dockerfile copies something the context leaves out"
