"""``kafka.state_dir``: one local state directory per deployment unless set."""

from __future__ import annotations

from pathlib import Path

from stream_al.config import Settings, deployment_name
from stream_al.stream.registering import registry_dir

STATE = Path.home() / ".cache" / "stream-al" / "state"


def test_by_default_the_state_dir_is_named_for_the_deployment():
    kafka = Settings.load().kafka
    assert kafka.state_dir == STATE / deployment_name(kafka)
    assert kafka.state_dir.name.startswith("stream-al-")


def test_two_deployments_on_one_machine_get_two_state_dirs_and_registries():
    shop = Settings.load(kafka={"app_id": "shop"})
    news = Settings.load(kafka={"app_id": "news"})
    other_broker = Settings.load(kafka={"bootstrap": "kafka-2:9092"})
    other_topics = Settings.load(kafka={"topics": {"texts": "news.texts"}})
    dirs = {s.kafka.state_dir for s in (Settings.load(), shop, news, other_broker, other_topics)}
    assert len(dirs) == 5
    assert registry_dir(shop.registry, shop.kafka) != registry_dir(news.registry, news.kafka)


def test_every_worker_of_one_deployment_gets_the_same_state_dir():
    assert Settings.load(kafka={"app_id": "shop"}).kafka.state_dir == Settings.load(
        kafka={"app_id": "shop"}).kafka.state_dir


def test_a_state_dir_that_is_set_is_used_as_is(tmp_path):
    assert Settings.load(kafka={"state_dir": str(tmp_path)}).kafka.state_dir == tmp_path


def test_the_environment_sets_it_too(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAM_AL_KAFKA__STATE_DIR", str(tmp_path))
    assert Settings.load().kafka.state_dir == tmp_path
