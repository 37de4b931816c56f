"""Rollback through Kafka: ``stream-al models rollback V`` makes the running scorers predict
exactly as registered version V did, and a worker restarted afterwards does not undo it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from stream_al.config import Settings
from stream_al.embed import make_embedder
from stream_al.registry import ModelRegistry
from stream_al.score.batch import score_many
from stream_al.stream.messages import CONTROL, Event, ModelUpdate, ScoredBatchRecord, parse
from stream_al.stream.registering import registry_dir
from tests.data import rows as dataset_rows
from tests.stream.harness import (
    AG_NEWS,
    REPO,
    Worker,
    answer_ag,
    pipeline_config,
    read_topic,
    run_cli,
    send_raw,
    wait_for,
)

pytestmark = pytest.mark.kafka


def models_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream_al.cli", "models", *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=180, check=False)


def send_texts(bootstrap: str, topic: str, prefix: str, texts: list[str]) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(len(texts))]
    send_raw(bootstrap, topic, [
        (i.encode(), json.dumps({"schema_version": 1, "id": i, "text": t, "source": "test",
                                 "timestamp": time.time()}).encode())
        for i, t in zip(ids, texts, strict=True)])
    return ids


def test_rollback_makes_the_scorers_predict_as_the_old_version_and_survives_a_restart(
    kafka_bootstrap, tmp_path
):
    config = pipeline_config(kafka_bootstrap, tmp_path, annotation={"learn_from": "labels"})
    settings = Settings.load(config)
    topics = settings.kafka.topics
    embedder = make_embedder(settings.embedder)
    probe = [t for t, _ in dataset_rows("ag_news", 3000, seed=7)[:100]]  # a slice of real texts
    X_probe = embedder.embed(probe)

    def models() -> list[ModelUpdate]:
        return [m for r in read_topic(kafka_bootstrap, topics.models, timeout_s=5)
                if isinstance(m := parse(ModelUpdate, r.value), ModelUpdate)]

    def scored(prefix: str) -> list[ScoredBatchRecord]:
        return [c for r in read_topic(kafka_bootstrap, topics.control, timeout_s=5)
                if isinstance(c := parse(CONTROL, r.value), ScoredBatchRecord)
                and c.ids[0].startswith(prefix)]

    def uses(snapshot, prefix: str, version: int) -> list[ScoredBatchRecord]:
        """The scorers scored ``prefix`` texts with model ``version``, as ``snapshot`` does."""
        batches = wait_for(lambda: (b := scored(prefix)) and sum(len(x.ids) for x in b) >= 40
                           and b, 90, f"the {prefix} texts scored")
        for batch in batches:
            assert batch.model_version == version
            expected = score_many(snapshot, batch.matrix())
            for name, values in batch.scores.items():
                np.testing.assert_allclose(values, expected[name], rtol=0, atol=1e-6)
        return batches

    registry_path = registry_dir(settings.registry, settings.kafka)
    first = Worker(config, tmp_path / "first.log")
    try:
        assert run_cli("produce", "--config", str(config), "--data", str(AG_NEWS), "--limit",
                       "400", "--id-prefix", "ag").returncode == 0
        wait_for(lambda: first.metric("stream_al_budget_spent_labels") >= 30, 90, "30 bought")
        for n in (12, 30):  # two rounds of labels: at least two different models
            vendor = answer_ag(
                config, "ag", "--max-labels", str(n),
                "--max-idle", "10", "--group", f"vendor-{n}",
            )
            assert vendor.returncode == 0, vendor.stderr
            wait_for(lambda n=n: (m := models()) and m[-1].n_labels >= n, 120,
                     f"a model of {n} labels")

        def registered() -> list:
            if not (registry_path / "index.json").exists():
                return []
            versions = ModelRegistry(registry_path).list_versions()
            return versions if versions and versions[-1].n_labels >= 30 else []

        versions = wait_for(registered, 60, "every published model registered")
        latest = models()[-1]
        assert versions[-1].fingerprint == latest.to_snapshot().fingerprint()
        assert versions[-1].extra["labels_hash"] == latest.labels_hash
        target = next(v for v in versions if len(v.classes) >= 2 and v.n_labels < 30)
        old = ModelRegistry(registry_path).load(target.version)
        assert old.predict_many(X_probe) != latest.to_snapshot().predict_many(X_probe)

        done = models_cli("rollback", str(target.version), "--config", str(config),
                          "--wait", "120")
        assert done.returncode == 0, done.stdout + done.stderr
        rolled = models()[-1]
        assert rolled.version > latest.version
        now = rolled.to_snapshot()
        assert now.fingerprint() == old.fingerprint()
        assert now.predict_many(X_probe) == old.predict_many(X_probe)
        assert np.array_equal(now.predict_proba_many(X_probe), old.predict_proba_many(X_probe))
        wait_for(lambda: first.metric("stream_al_model_version") == rolled.version, 30,
                 "the scorers to swap in the rolled-back model")
        send_texts(kafka_bootstrap, topics.texts, "after", probe[:50])
        uses(old, "after", rolled.version)
        assert ModelRegistry(registry_path).current is not None
    finally:
        first.stop(signal.SIGKILL)

    with Worker(config, tmp_path / "second.log") as second:
        wait_for(lambda: [e for r in read_topic(kafka_bootstrap, topics.events, timeout_s=5)
                          if (e := parse(Event, r.value)).kind == "restored"
                          and e.detail["selected"] > 0], 90,
                 "the second worker to rebuild the coordinator")
        send_texts(kafka_bootstrap, topics.texts, "restarted", probe[50:])
        batches = wait_for(lambda: (b := scored("restarted")) and b, 90, "texts scored again")
        version = batches[0].model_version
        published = [m for m in models() if m.version == version][-1]
        assert published.to_snapshot().fingerprint() == old.fingerprint()  # still version V
        uses(old, "restarted", version)
        assert second.metric("stream_al_model_version") == version
