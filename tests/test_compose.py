"""docker-compose.yml stays consistent with what the tests exercise (it cannot run here)."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_kafka_image_is_the_version_the_tests_run():
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_prometheus_scrapes_every_compose_worker_on_the_metrics_port():
    prom = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = set(prom["scrape_configs"][0]["static_configs"][0]["targets"])
    workers = {name for name, s in COMPOSE["services"].items()
               if s.get("command", [])[:1] == ["worker"]}
    assert workers == {"worker", "worker-2"}
    assert targets == {f"{w}:9464" for w in workers}


def test_mounted_files_exist_in_the_repo():
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), source


def test_workers_use_the_documented_settings_variables():
    env = COMPOSE["services"]["worker"]["environment"]
    assert env["STREAM_AL_KAFKA__BOOTSTRAP"] == "kafka:9092"
    from stream_al.config import Settings

    assert Settings.load(kafka={"bootstrap": "kafka:9092"}).kafka.bootstrap == "kafka:9092"
