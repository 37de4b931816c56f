"""``scale.ood_at_scorers`` in the Kafka worker: refused until the worker delivers the labelled
rows to its scorers (docs/scaling.md), so a worker never runs scorers that flag nothing."""

from __future__ import annotations

import pytest

from stream_al.config import ConfigError, Settings
from stream_al.stream.app import build_app


def test_the_worker_refuses_ood_at_scorers_and_names_the_fix():
    settings = Settings.load(scale={"preselect": True, "ood_at_scorers": True})
    with pytest.raises(ConfigError, match="set it false"):
        build_app(settings)
