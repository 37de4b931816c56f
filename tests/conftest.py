"""Fixtures shared by the whole suite; each concern lives in its own module under ``fixtures/``."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.kafka_cluster",
    "tests.fixtures.secure_kafka",
    "tests.fixtures.prometheus",
    "tests.fixtures.settings",
    "tests.fixtures.worker_logs",
]
