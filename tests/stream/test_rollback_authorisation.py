"""A rollback on ``control`` is applied only if the operator wrote the same record to ``commands``
and it rolls back to a version of the worker's registry, with that version's model and rows
(``stream_al/stream/commands.py``); no broker needed."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from stream_al.config import LearnerSettings
from stream_al.learn import OnlineLearner
from stream_al.registry import LabelledRow, ModelRegistry
from stream_al.stream.commands import rollback_record, rollback_refusal
from stream_al.stream.messages import RollbackRecord, parse


def learner(seed: int) -> OnlineLearner:
    model = OnlineLearner(dim=4, settings=LearnerSettings(committee_size=2, seed=seed))
    rng = np.random.default_rng(seed)
    model.learn_many(rng.normal(size=(6, 4)).astype(np.float32), ["a", "b", "c"] * 2)
    return model


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    registry = ModelRegistry(tmp_path / "registry")
    rows = [LabelledRow(f"m-{i}", "abc"[i % 3], annotator_id="acme/ann") for i in range(6)]
    registry.register(learner(1).snapshot(), rows[:3])
    registry.register(learner(2).snapshot(), rows)
    return registry


def forged(record: RollbackRecord, **changes) -> RollbackRecord:
    return record.model_copy(update=changes)


def rollback_record_of(model: OnlineLearner) -> RollbackRecord:
    return RollbackRecord(schema_version=1, command_id="c-1", registry_version=1,
                          model_version=model.version, requested_at=1.0, learned=[],
                          snapshot=base64.b64encode(model.snapshot().to_bytes()).decode())


def test_the_operators_rollback_to_a_registered_version_is_applied(registry):
    record = rollback_record(registry, 1)
    assert rollback_refusal(record, [record], registry) is None


def test_the_command_round_trips_through_the_wire_equal():
    """The relayed copy of a command compares equal to the command (the check is equality)."""
    record = rollback_record_of(learner(3))
    assert parse(RollbackRecord, record.to_bytes()) == record


def test_a_rollback_without_the_operators_command_is_refused(registry):
    record = rollback_record(registry, 1)
    refused = rollback_refusal(record, [], registry)
    assert refused.reason == "implausible" and "no operator command" in refused.detail


def test_a_rollback_whose_weights_differ_from_the_operators_command_is_refused(registry):
    record = rollback_record(registry, 1)
    swapped = forged(record, snapshot=base64.b64encode(learner(9).snapshot().to_bytes()).decode())
    refused = rollback_refusal(swapped, [record], registry)
    assert refused is not None and "differs from the operator's command" in refused.detail


def test_a_rollback_whose_rows_differ_from_the_operators_command_is_refused(registry):
    record = rollback_record(registry, 2)
    fewer = forged(record, learned=record.learned[:-1])
    refused = rollback_refusal(fewer, [record], registry)
    assert refused is not None and "differs from the operator's command" in refused.detail


def test_weights_the_registry_never_held_are_refused_even_with_a_command(registry):
    """A stolen operator password is not enough to install a model of one's own."""
    record = forged(rollback_record(registry, 1),
                    snapshot=base64.b64encode(learner(9).snapshot().to_bytes()).decode())
    refused = rollback_refusal(record, [record], registry)
    assert refused is not None and "not the registered one" in refused.detail


def test_rows_the_version_did_not_learn_are_refused_even_with_a_command(registry):
    record = rollback_record(registry, 1)
    record = forged(record, learned=[*record.learned, ("m-9", "acme/ann", "a")])
    refused = rollback_refusal(record, [record], registry)
    assert refused is not None and "rows are not the ones" in refused.detail


def test_a_version_the_registry_does_not_know_is_refused(registry):
    record = forged(rollback_record(registry, 1), registry_version=7)
    refused = rollback_refusal(record, [record], registry)
    assert refused is not None and "no model version 7" in refused.detail


def test_a_worker_without_a_registry_refuses_rollbacks_and_says_how_to_fix_it(registry):
    record = rollback_record(registry, 1)
    refused = rollback_refusal(record, [record], None)
    assert refused is not None and "registry.enabled" in refused.detail


def test_a_rollback_whose_snapshot_is_not_a_model_is_refused(registry):
    """(The snapshot goes through the models topic's checks: size cap before inflating,
    dimensions, finite weights; tests/stream/test_messages.py.)"""
    junk = forged(rollback_record(registry, 1), snapshot=base64.b64encode(b"not a zip").decode())
    refused = rollback_refusal(junk, [], registry)
    assert refused is not None and refused.detail.startswith("rollback snapshot:")
