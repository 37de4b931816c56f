"""Running the bridge as a subprocess, and acting in Label Studio as its users would (REST)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from stream_al.stream.messages import LabelIn, ModelUpdate, SelectedItem, parse
from tests.stream.harness import (
    AG_NEWS,
    REPO,
    TRANSCRIPT,
    Worker,
    pipeline_config,
    read_topic,
    settings_of,
)

N_TEXTS = 160
CLASSES = ["Business", "Sci/Tech", "Sports", "World"]


def gold_of(prefix: str) -> dict[str, str]:
    with AG_NEWS.open(newline="") as f:
        return {f"{prefix}-{row}": r["label"] for row, r in enumerate(csv.DictReader(f))
                if row < 2000}


class Stack:
    def __init__(self, kafka_bootstrap, label_studio, directory) -> None:
        self.bootstrap = kafka_bootstrap
        self.server = label_studio
        self.directory = directory
        self.config = pipeline_config(kafka_bootstrap, directory,
                                      kafka={"label_classes": CLASSES},
                                      budget={"fraction": 0.2, "warmup_labels": 4})
        self.topics = settings_of(self.config)["kafka"]["topics"]
        name = uuid.uuid4().hex[:8]
        self.project, self.expert_project = f"stream-al {name}", f"stream-al {name} expert"
        self.user = Annotator(label_studio.url, label_studio.token)
        self.bridge: BridgeProcess | None = None

    def start_bridge(self) -> BridgeProcess:
        self.bridge = BridgeProcess(self.config, self.directory / "bridge.log",
                                    self.server.url, self.server.token, "--project",
                                    self.project, "--expert-project", self.expert_project)
        return self.bridge

    def tasks(self, expert: bool = False) -> list[dict]:
        project = self.user.project(self.expert_project if expert else self.project)
        return self.user.tasks(project["id"]) if project else []

    def selected(self) -> list[SelectedItem]:
        return [parse(SelectedItem, r.value)
                for r in read_topic(self.bootstrap, self.topics["selected"], timeout_s=5)]

    def labels(self) -> list[LabelIn]:
        return [parse(LabelIn, r.value)
                for r in read_topic(self.bootstrap, self.topics["labels"], timeout_s=5)]

    def labels_covering(self, item_ids: set[str], annotator: str) -> list[LabelIn] | None:
        labels = self.labels()
        got = {x.item_id for x in labels if x.annotator_id == annotator}
        return labels if item_ids <= got else None

    def model(self) -> ModelUpdate | None:
        records = read_topic(self.bootstrap, self.topics["models"], timeout_s=5)
        return parse(ModelUpdate, records[-1].value) if records else None

    def tasks_cover(self, item_ids: set[str]) -> list[dict] | None:
        tasks = self.tasks()
        return tasks if item_ids <= {t["data"]["item_id"] for t in tasks} else None


_PORT = re.compile(r"bridge: metrics on port (\d+)")


class BridgeProcess(Worker):
    """``stream-al bridge label-studio`` in its own process group; reads its /metrics, stops
    as a :class:`~tests.stream.harness.Worker` does (same attributes; only the start
    differs)."""

    def __init__(self, config: Path, log: Path, url: str, token: str, *extra: str) -> None:
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0
        """Where this run's output begins (a restarted bridge appends to the same log)."""
        self._out = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stream_al.cli", "bridge", "label-studio", "--config",
             str(config), "--url", url, "--token", token, "--metrics-port", "0",
             "--poll", "0.2", *extra],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        TRANSCRIPT[f"bridge log {log.name}"] = self.output
        self.port = self._announced(120.0)

    def _announced(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            mine = self.output()[self._offset:]
            ports = _PORT.findall(mine)
            if ports and "tasks known" in mine:
                return int(ports[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"bridge did not start in {timeout_s}s:\n{self.output()}")


class Annotator:
    """A Label Studio user acting through the REST API, as the web page does."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30,
                                 headers={"Authorization": f"Token {token}"})

    def project(self, title: str) -> dict[str, Any] | None:
        found = [p for p in self.http.get("/api/projects", params={"title": title}).json()
                 .get("results", []) if p["title"] == title]
        return found[0] if found else None

    def tasks(self, project: int) -> list[dict[str, Any]]:
        out, page = [], 1
        while True:
            got = self.http.get("/api/tasks", params={"project": project, "page": page,
                                                      "page_size": 100, "fields": "all"})
            if got.status_code == 404:  # past the last page
                return out
            tasks = got.json()["tasks"]
            out += tasks
            if len(tasks) < 100:
                return out
            page += 1

    def annotate(self, task: int, label: str) -> dict[str, Any]:
        done = self.http.post(f"/api/tasks/{task}/annotations", json={"result": [{
            "from_name": "label", "to_name": "text", "type": "choices",
            "value": {"choices": [label]}}], "lead_time": 1.0})
        done.raise_for_status()
        return done.json()

    def change(self, annotation: int, label: str) -> None:
        done = self.http.patch(f"/api/annotations/{annotation}", json={"result": [{
            "from_name": "label", "to_name": "text", "type": "choices",
            "value": {"choices": [label]}}]})
        done.raise_for_status()

    def skip(self, task: int) -> dict[str, Any]:
        done = self.http.post(f"/api/tasks/{task}/annotations",
                              json={"result": [], "was_cancelled": True})
        done.raise_for_status()
        return done.json()

    def whoami(self) -> int:
        return self.http.get("/api/current-user/whoami").json()["id"]
