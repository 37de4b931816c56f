"""Label Studio bridge latency: selection -> visible task, and submit -> new model version.

A private broker, a Label Studio server (``deploy/label-studio.sh`` on a free port, SQLite in a
temporary directory), one ``stream-al worker`` (hashing embedder) and one
``stream-al bridge label-studio``; AG News texts are the stream.

The texts are sent ``--chunk`` at a time every ``--every`` seconds, so that items are selected
in many batches (with ``selection.batch_interval`` 20, one batch a chunk).

- *selection -> task*: for every item on ``selected``, from its record's timestamp (set by the
  worker as it publishes) to the moment a client polling Label Studio's task list every
  ``--poll-ms`` first sees its task (so the poll interval is included: an annotator's page
  could not see it sooner);
- *submit -> model*: annotations are made one at a time through the REST API, as the web page
  does on Submit; from the moment the request is sent to the first record on ``models`` whose
  ``n_labels`` counts that label (its record timestamp; each annotation waits for the previous
  one's model, so the versions are not shared).

    python -m benchmarks.label_studio_latency                   # 300 texts, 30 annotations
    python -m benchmarks.label_studio_latency --texts 600 --annotations 50

Target (issue 20): both p95 under 2 seconds on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.broker import (
    DATASETS,
    REPO,
    Process,
    Worker,
    _free_ports,
    load_average,
    private_broker,
    produce,
    read_rows,
    run_config,
    wait_until,
)
from stream_al.config import KafkaSettings, Settings
from stream_al.stream import clients
from stream_al.stream.messages import ModelUpdate, SelectedItem, parse

CLASSES = ["Business", "Sci/Tech", "Sports", "World"]
TOKEN = "5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee"  # deploy/label-studio.sh's development token


def start_label_studio(run_dir: Path) -> tuple[str, dict[str, str]]:
    (port,) = _free_ports(1)
    env = {**os.environ, "LS_PORT": str(port), "LS_RUN_DIR": str(run_dir),
           "LS_START_TIMEOUT": "900"}
    subprocess.run(["bash", str(REPO / "deploy" / "label-studio.sh"), "start"], env=env,
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return f"http://127.0.0.1:{port}", env


class Tail:
    """Reads a topic from the beginning, record by record, with no group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import TopicPartition

        self.consumer = clients.consumer(KafkaSettings(bootstrap=bootstrap),
                                         enable_auto_commit=False,
                                         max_partition_fetch_bytes=64 * 2**20,
                                         fetch_max_bytes=64 * 2**20)
        parts = wait_until(lambda: self.consumer.partitions_for_topic(topic), 60, topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def poll(self, timeout_ms: int = 50) -> list:
        return [r for rs in self.consumer.poll(timeout_ms=timeout_ms).values() for r in rs]


def tasks_seen(http: httpx.Client, project: int, since: str | None) -> tuple[set[str], str | None]:
    """Item ids of the tasks created or updated since ``since`` (a server time; None: all),
    and the newest update seen (the next call's ``since``): a cheap look, like the bridge's."""
    query: dict = {"ordering": ["tasks:updated_at"]}
    if since is not None:
        query["filters"] = {"conjunction": "and", "items": [{
            "filter": "filter:tasks:updated_at", "operator": "greater_or_equal",
            "type": "Datetime", "value": since}]}
    seen, page, newest = set(), 1, since
    while True:
        got = http.get("/api/tasks", params={"project": project, "page": page,
                                             "page_size": 500, "fields": "task_only",
                                             "query": json.dumps(query)})
        if got.status_code == 404:
            return seen, newest
        tasks = got.json()["tasks"]
        seen |= {t["data"]["item_id"] for t in tasks}
        newest = max([newest or "", *(t["updated_at"] for t in tasks)]) or None
        if len(tasks) < 500:
            return seen, newest
        page += 1


def measure(args: argparse.Namespace) -> None:
    texts, labels = read_rows(DATASETS / "ag_news.csv", args.texts)
    gold = {f"lsb-{i}": label for i, label in enumerate(labels)}
    directory = Path(tempfile.mkdtemp(prefix="stream-al-bench-ls-"))
    url, ls_env = start_label_studio(directory / "label-studio")
    http = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Token {TOKEN}"})
    try:
        with private_broker() as bootstrap:
            config = run_config(bootstrap, directory, embedder={"name": "hashing"},
                                budget={"fraction": args.fraction, "warmup_labels": 4},
                                selection={"batch_interval": 20},
                                kafka={"label_classes": CLASSES, "batch_within_s": 0.1})
            settings = Settings.load(str(config))
            worker = Worker(config, directory / "worker.log")
            bridge = Process(["-m", "stream_al.cli", "bridge", "label-studio", "--config",
                              str(config), "--url", url, "--token", TOKEN, "--metrics-port",
                              "0", "--poll", str(args.bridge_poll), "--project", "bench",
                              "--no-expert"],
                             directory / "bridge.log")
            try:
                wait_until(lambda: "tasks known" in bridge.output(), 120, "the bridge")
                project = http.get("/api/projects", params={"title": "bench"}).json()[
                    "results"][0]["id"]
                selected = Tail(bootstrap, settings.kafka.topics.selected)
                feed = threading.Thread(target=stream, daemon=True, args=(
                    bootstrap, settings.kafka.topics.texts, texts, args.chunk, args.every))
                feed.start()
                to_task = selection_to_task(http, project, selected, args)
                to_model = submit_to_model(http, project, gold, bootstrap, settings, args)
            finally:
                bridge.stop()
                worker.stop()
    finally:
        subprocess.run(["bash", str(REPO / "deploy" / "label-studio.sh"), "stop"],
                       env=ls_env, check=False, stdout=subprocess.DEVNULL)
    report(args, to_task, to_model)


def stream(bootstrap: str, topic: str, texts: list[str], chunk: int, every_s: float) -> None:
    """The texts in chunks of ``chunk`` every ``every_s`` seconds: selections come in many
    batches, as in production, instead of one."""
    for start in range(0, len(texts), chunk):
        began = time.monotonic()
        produce(bootstrap, topic, "lsb", texts, range(start, min(start + chunk, len(texts))))
        time.sleep(max(0.0, every_s - (time.monotonic() - began)))


def selection_to_task(http: httpx.Client, project: int, selected: Tail,
                      args: argparse.Namespace) -> list[float]:
    published: dict[str, float] = {}
    visible: dict[str, float] = {}
    deadline = time.monotonic() + args.timeout
    quiet_since = time.monotonic()
    since: str | None = None
    while time.monotonic() < deadline:
        for r in selected.poll():
            item = parse(SelectedItem, r.value)
            if isinstance(item, SelectedItem):
                published.setdefault(item.item_id, r.timestamp / 1000)
                quiet_since = time.monotonic()
        now = time.time()
        seen, since = tasks_seen(http, project, since)
        for item_id in seen - visible.keys():
            visible[item_id] = now
        if published and published.keys() <= visible.keys() \
                and time.monotonic() - quiet_since > 5:
            break
        time.sleep(args.poll_ms / 1000)
    return [visible[i] - published[i] for i in published if i in visible]


def submit_to_model(http: httpx.Client, project: int, gold: dict[str, str], bootstrap: str,
                    settings: Settings, args: argparse.Namespace) -> list[float]:
    models = Tail(bootstrap, settings.kafka.topics.models)
    n_labels = 0
    for r in models.poll(timeout_ms=2000):
        if isinstance(m := parse(ModelUpdate, r.value), ModelUpdate):
            n_labels = max(n_labels, m.n_labels)
    tasks = [t for t in http.get("/api/tasks", params={"project": project, "page_size": 1000})
             .json()["tasks"] if t["data"]["item_id"] in gold]
    out = []
    for task in tasks[: args.annotations]:
        sent = time.time()
        http.post(f"/api/tasks/{task['id']}/annotations", json={"result": [{
            "from_name": "label", "to_name": "text", "type": "choices",
            "value": {"choices": [gold[task["data"]["item_id"]]]}}]}).raise_for_status()
        want = n_labels + 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = [m for r in models.poll() if isinstance(m := parse(ModelUpdate, r.value),
                                                          ModelUpdate)]
            hits = [m for m in got if m.n_labels >= want]
            n_labels = max([n_labels, *(m.n_labels for m in got)])
            if hits:
                out.append(time.time() - sent)
                break
        time.sleep(0.3)
    return out


def report(args: argparse.Namespace, to_task: list[float], to_model: list[float]) -> None:
    def stats(xs: list[float]) -> dict[str, float | int]:
        a = np.asarray(xs)
        return {"n": len(xs), "p50": round(float(np.percentile(a, 50)), 3),
                "p95": round(float(np.percentile(a, 95)), 3),
                "max": round(float(a.max()), 3)} if len(a) else {"n": 0}

    result = {"selection_to_task_s": stats(to_task), "submit_to_model_s": stats(to_model),
              "texts": args.texts, "chunk": args.chunk, "every_s": args.every,
              "bridge_poll_s": args.bridge_poll, "measuring_poll_ms": args.poll_ms,
              "load_average": load_average()}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--fraction", type=float, default=0.2, help="budget.fraction")
    parser.add_argument("--annotations", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=20, help="texts sent at a time")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between chunks")
    parser.add_argument("--poll-ms", dest="poll_ms", type=float, default=100,
                        help="how often the measuring client looks for tasks")
    parser.add_argument("--bridge-poll", dest="bridge_poll", type=float, default=0.5,
                        help="the bridge's --poll (seconds between looks for annotations)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", help="also write the result (JSON) here")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
