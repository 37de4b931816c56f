"""Wire records <-> the coordinator's domain records (``stream_al.loop.records``).

The only place where the Kafka shell's pydantic messages meet the core: the shell parses a
record, converts it here, hands it to the :class:`~stream_al.loop.coordinator.Coordinator`,
and converts what comes back before publishing it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import numpy as np

from stream_al.labels import Label
from stream_al.loop import records
from stream_al.loop.purchases import Purchases
from stream_al.loop.spans import Span
from stream_al.stream.messages import (
    SCHEMA_VERSION,
    DeadLetterReason,
    ExpertRequest,
    LabelIn,
    LabelsRecord,
    Ledger,
    ModelUpdate,
    RollbackRecord,
    RollbackState,
    ScoredBatchRecord,
    SelectedItem,
)


# ---- into the core ----------------------------------------------------------------------------
def scored_texts(record: ScoredBatchRecord) -> records.ScoredTexts:
    """A scorer's record as the texts, vectors and scores the coordinator buys from."""
    return records.ScoredTexts(
        batch_id=record.batch_id,
        ids=list(record.ids),
        texts=list(record.texts),
        X=record.matrix(),
        scores={k: np.asarray(v, dtype=np.float64) for k, v in record.scores.items()},
        model_version=record.model_version,
        partitions=list(record.partitions),
        offsets=list(record.offsets),
        weights=np.asarray(record.weights, dtype=np.float64) if record.weights else None,
        spans=[Span(*s) for s in record.spans],
        drift=None if record.drift is None else record.drift.summary(),
    )


def label_of(label: LabelIn, received_at: float = 0.0) -> Label:
    return Label(label.item_id, label.label, label.annotator_id, label.timestamp,
                 label.confidence, received_at)


def labels_of(record: LabelsRecord) -> list[Label]:
    """A labels agent's record: each label with the time it reached a worker."""
    return [label_of(x, t) for x, t in zip(record.labels, record.received_at, strict=True)]


def labels_of_many(labels: Iterable[LabelIn]) -> list[Label]:
    """Labels read back from the labels topic (a rebuild: no arrival time)."""
    return [label_of(x) for x in labels]


def purchase(item: SelectedItem) -> records.Purchase:
    """Field by field (a rebuild converts every item ever bought: ``model_dump`` took 6 µs
    an item, 6 s at 1M; ``tests/stream/test_messages.py`` checks no field is left out)."""
    return records.Purchase(item.item_id, item.text, item.batch_id, item.strategy, item.reason,
                            dict(item.scores), item.model_version, item.deadline, item.cost,
                            item.group, item.priority, item.annotators, item.window)


def purchases(items: Iterable[SelectedItem]) -> list[records.Purchase]:
    return [purchase(x) for x in items]


def budget_ledger(ledger: Ledger | None) -> records.BudgetLedger | None:
    if ledger is None:
        return None
    return records.BudgetLedger(**ledger.model_dump(exclude={"schema_version"}))


def rollback_command(record: RollbackRecord) -> records.RollbackCommand:
    return records.RollbackCommand(
        command_id=record.command_id,
        registry_version=record.registry_version,
        model_version=record.model_version,
        snapshot=record.to_snapshot(),
        learned=[tuple(r) for r in record.learned],
        requested_at=record.requested_at,
    )


def rollback_in_force(state: RollbackState | None) -> records.RollbackInForce | None:
    if state is None:
        return None
    return records.RollbackInForce(
        command_id=state.command_id,
        registry_version=state.registry_version,
        model_version=state.model_version,
        version=state.version,
        snapshot=state.to_snapshot(),
        learned=[tuple(r) for r in state.learned],
        excluded=list(state.excluded),
        at=state.at,
    )


# ---- out of the core --------------------------------------------------------------------------
def selected_item(p: records.Purchase) -> SelectedItem:
    # vars, not dataclasses.asdict: a purchase holds no dataclass, and asdict's deep copy was
    # ~19 of the ~22 us each purchase cost here (benchmarks/README.md, issue 17)
    return SelectedItem(schema_version=SCHEMA_VERSION, **vars(p))


def selected_items(purchases_: Sequence[records.Purchase]) -> list[SelectedItem]:
    if isinstance(purchases_, Purchases):  # the coordinator's columns: no Purchase on the way
        return [SelectedItem(schema_version=SCHEMA_VERSION, **fields)
                for fields in purchases_.dicts()]
    return [selected_item(p) for p in purchases_]


def label_in(label: Label) -> LabelIn:
    """A label as the vendor sent it (a dead letter carries its bytes)."""
    return LabelIn(schema_version=SCHEMA_VERSION, item_id=label.item_id, label=label.label,
                   annotator_id=label.annotator_id, timestamp=label.timestamp,
                   confidence=label.confidence)


def dead_letter_reason(refusal: records.Refusal) -> DeadLetterReason:
    return DeadLetterReason(refusal.reason, refusal.detail)


def ledger(b: records.BudgetLedger) -> Ledger:
    return Ledger(schema_version=SCHEMA_VERSION, **vars(b))


def model_update(release: records.ModelRelease) -> ModelUpdate:
    return ModelUpdate.of(release.snapshot, release.label_received_at).model_copy(
        update={"labels_hash": release.labels_hash})


def rollback_state(state: records.RollbackInForce) -> RollbackState:
    return RollbackState(
        schema_version=SCHEMA_VERSION,
        command_id=state.command_id,
        registry_version=state.registry_version,
        model_version=state.model_version,
        version=state.version,
        snapshot=base64.b64encode(state.snapshot.to_bytes()).decode("ascii"),
        learned=[tuple(r) for r in state.learned],
        excluded=list(state.excluded),
        at=state.at,
    )


def expert_request(r: records.ExpertRequest) -> ExpertRequest:
    return ExpertRequest(schema_version=SCHEMA_VERSION, **vars(r))


def expert_requests(requests: Sequence[records.ExpertRequest]) -> list[ExpertRequest]:
    return [expert_request(r) for r in requests]
