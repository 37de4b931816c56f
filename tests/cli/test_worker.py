"""``stream-al worker`` settings: its flags over the environment over the config file."""

from __future__ import annotations

import yaml

from stream_al.cli import build_parser
from stream_al.cli.worker import settings_of


def worker_settings(*argv: str):
    return settings_of(build_parser().parse_args(["worker", *argv]))


def test_flags_environment_and_file_each_win_over_the_ones_below(tmp_path, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "budget": {"fraction": 0.2},
        "kafka": {"bootstrap": "file:9092", "metrics_port": 1111, "app_id": "from-file"},
        "embedder": {"name": "hashing"},
    }))
    monkeypatch.setenv("STREAM_AL_BUDGET__FRACTION", "0.3")
    monkeypatch.setenv("STREAM_AL_KAFKA__METRICS_PORT", "2222")
    monkeypatch.setenv("STREAM_AL_KAFKA__BOOTSTRAP", "env:9092")
    s = worker_settings("--config", str(config), "--budget", "0.4", "--bootstrap", "flag:9092")
    assert s.budget.fraction == 0.4 and s.kafka.bootstrap == "flag:9092"  # flags
    assert s.kafka.metrics_port == 2222  # the environment, no flag
    assert s.kafka.app_id == "from-file" and s.embedder.name == "hashing"  # the file alone
    assert worker_settings("--config", str(config), "--metrics-port", "0").kafka.metrics_port == 0


def test_the_config_file_comes_from_stream_al_config(tmp_path, monkeypatch):
    config = tmp_path / "prod.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"app_id": "prod"}}))
    monkeypatch.setenv("STREAM_AL_CONFIG", str(config))
    assert worker_settings().kafka.app_id == "prod"
