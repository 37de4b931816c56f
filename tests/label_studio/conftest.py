"""A real Label Studio server for the session (``deploy/label-studio.sh``: its own venv, SQLite
in a temporary directory, one process on a free port), with a user and its API token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fixtures.deploy import free_ports, run_script
from tests.label_studio.harness import N_TEXTS, Stack
from tests.stream.harness import Worker, produce_ag


@dataclass
class LabelStudioServer:
    url: str
    token: str
    username: str
    password: str
    env: dict[str, str]

    def stop(self) -> None:
        run_script("label-studio.sh", "stop", self.env)

    def start(self) -> None:
        run_script("label-studio.sh", "start", self.env)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    (port,) = free_ports(1)
    env = {**os.environ, "LS_PORT": str(port),
           "LS_RUN_DIR": str(tmp_path_factory.mktemp("label-studio")),
           "LS_START_TIMEOUT": os.environ.get("LS_START_TIMEOUT", "900")}
    run_script("label-studio.sh", "install", env)
    server = LabelStudioServer(
        url=f"http://127.0.0.1:{port}",
        token=env.get("LS_TOKEN", "5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee"),
        username=env.get("LS_USERNAME", "admin@stream-al.local"),
        password=env.get("LS_PASSWORD", "stream-al-admin"),
        env=env,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, label_studio, tmp_path_factory) -> Iterator[Stack]:
    """A worker on fresh topics fed AG News rows (ids ls-<row>), and a bridge to projects of
    its own on the session's Label Studio."""
    stack = Stack(kafka_bootstrap, label_studio, tmp_path_factory.mktemp("bridge"))
    with Worker(stack.config, stack.directory / "worker.log"):
        stack.start_bridge()
        done = produce_ag(stack.config, N_TEXTS, "ls")
        assert done.returncode == 0, done.stderr
        yield stack
        stack.bridge.stop()
