"""Rollback in the coordinator, without a broker: the learner continues from the version rolled
back to, exactly; what was learned after it stays out, also through a rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from stream_al.labels import Label
from stream_al.learn.snapshot import ModelSnapshot
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import Purchase, RollbackCommand
from stream_al.loop.restore import History
from stream_al.loop.rollback import RollbackError
from tests.loop.test_coordinator import EACH_LABEL, Feed, embedder, fresh, rows  # noqa: F401


def command(snapshot: ModelSnapshot, learned: list[Label], command_id: str = "c1",
            registry_version: int = 1) -> RollbackCommand:
    """What ``stream-al models rollback`` sends for a registered ``snapshot``."""
    return RollbackCommand(
        command_id=command_id,
        registry_version=registry_version,
        model_version=snapshot.version,
        snapshot=snapshot,
        learned=[(x.item_id, x.annotator_id, x.label) for x in learned],
        requested_at=0.0,
    )


def rows_of(labels: list[Label]) -> list[tuple[str, str, str]]:
    return [(x.item_id, x.annotator_id, x.label) for x in labels]


def labelled_twice(embedder, rows, annotation=None):  # noqa: F811
    """Items bought from 300 texts; v1 learned the first 16 labels, v2 all of them."""
    feed = fresh(embedder, rows, EACH_LABEL if annotation is None else annotation)
    bought: list[Purchase] = []
    for start in range(0, 300, 50):
        bought += feed.texts(start, start + 50)
    bought += feed.c.flush(now=200.0)
    ids = [b.item_id for b in bought]
    assert len(ids) >= 28
    feed.labels(ids[:16])
    v1, learned_v1 = feed.c.learner.snapshot(), list(feed.c.learned)
    feed.labels(ids[16:])
    return feed, bought, v1, learned_v1


def rebuild(feed: Feed, bought: list[Purchase], state, embedder) -> Coordinator:  # noqa: F811
    """A successor rebuilt from what the topics hold: selected, labels, ledger, rollback."""
    c = feed.c
    labels = [Label(item_id=x.item_id, annotator_id=x.annotator_id,
                    timestamp=x.timestamp, label=x.label) for x in c.labels]
    restored = Coordinator(c.settings, embedder.dim, embedder)
    restored.restore(History(bought, {}, labels, c.ledger(1e9), c.published_version, 1e9, state))
    return restored


def test_rollback_continues_from_the_old_model_exactly_with_a_higher_version(embedder, rows):  # noqa: F811
    feed, bought, v1, learned_v1 = labelled_twice(embedder, rows)
    v2 = feed.c.learner.snapshot()
    feed.c.model_update(1.0, force=True)
    X = embedder.embed([t for t, _ in rows[300:400]])
    assert not np.array_equal(v1.predict_proba_many(X), v2.predict_proba_many(X))

    state = feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    now = feed.c.learner.snapshot()
    assert now.fingerprint() == v1.fingerprint()
    assert now.version == state.version > v2.version
    assert now.predict_many(X) == v1.predict_many(X)
    assert np.array_equal(now.predict_proba_many(X), v1.predict_proba_many(X))
    assert feed.c.model_update(6.0).version == now.version  # published: the scorers take it
    assert rows_of(feed.c.learned) == rows_of(learned_v1)
    learned_after = {b.item_id for b in bought[16:]} & {x.item_id for x in feed.c.labels}
    assert set(state.excluded) == learned_after
    assert len(feed.c.labels) == len(learned_after) + 16  # every label stays in the store


def test_the_same_command_replayed_changes_nothing(embedder, rows):  # noqa: F811
    feed, _, v1, learned_v1 = labelled_twice(embedder, rows)
    assert feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0) is not None
    version = feed.c.learner.version
    assert feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0) is None  # offset
    assert feed.c.on_rollback(command(v1, learned_v1), feed.offset + 2, 5.0) is None  # same id
    assert feed.c.learner.version == version


def test_labels_after_the_rollback_are_learned_but_excluded_items_never(embedder, rows):  # noqa: F811
    feed, bought, v1, learned_v1 = labelled_twice(embedder, rows)
    state = feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    feed.offset += 1
    excluded = state.excluded[0]
    fresh_ids = [b.item_id for b in bought if not feed.c.labels.has_item(b.item_id)]
    more = feed.c.flush(now=300.0) + feed.texts(300, 400)
    fresh_ids += [b.item_id for b in more]
    bought += more
    assert fresh_ids, "nothing left to label after the rollback"
    feed.labels(fresh_ids[:5])
    feed.labels([excluded], annotator="b")  # a second annotator for an excluded item
    learned = [x.item_id for x in feed.c.learned]
    assert learned[:16] == [x.item_id for x in learned_v1]
    assert set(learned[16:]) == set(fresh_ids[:5])
    assert excluded not in learned
    assert feed.c.learner.version > state.version


def test_a_rebuild_keeps_the_rollback(embedder, rows):  # noqa: F811
    feed, bought, v1, learned_v1 = labelled_twice(embedder, rows)
    state = feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    feed.c.model_update(6.0, force=True)

    restored = rebuild(feed, bought, state, embedder)
    assert restored.learner.snapshot().fingerprint() == v1.fingerprint()  # not re-learned
    assert restored.learner.version == state.version
    assert restored.model_update(1e9, force=True) is None  # nothing new to publish
    assert [x.item_id for x in restored.learned] == [x.item_id for x in learned_v1]

    without = rebuild(feed, bought, None, embedder)  # what ignoring the rollback would do
    assert without.learner.snapshot().fingerprint() != v1.fingerprint()


def test_a_rebuild_after_new_labels_learns_them_and_still_not_the_excluded(embedder, rows):  # noqa: F811
    feed, bought, v1, learned_v1 = labelled_twice(embedder, rows)
    state = feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    feed.offset += 1
    more = feed.c.flush(now=300.0) + feed.texts(300, 400)
    bought += more
    feed.labels([b.item_id for b in more][:4])
    feed.c.model_update(7.0, force=True)

    restored = rebuild(feed, bought, state, embedder)
    assert {x.item_id for x in restored.learned} == {x.item_id for x in feed.c.learned}
    assert not {x.item_id for x in restored.learned} & set(state.excluded)
    assert restored.learner.version == feed.c.published_version + 1


def test_rollback_under_adjudicated_verdicts(embedder, rows):  # noqa: F811
    feed, bought, v1, learned_v1 = labelled_twice(embedder, rows, annotation={})
    assert learned_v1 and all(x.annotator_id == "adjudicated" for x in learned_v1)
    feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    assert feed.c.learner.snapshot().fingerprint() == v1.fingerprint()


def test_a_corrected_verdict_after_a_rollback_relearns_without_the_excluded(embedder, rows):  # noqa: F811
    feed, _, v1, learned_v1 = labelled_twice(
        embedder, rows, annotation={"relearn_every_s": 0, "noise_check": False})
    state = feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    feed.offset += 1
    item, old = learned_v1[0].item_id, learned_v1[0].label
    other = next(x.label for x in learned_v1 if x.label != old)
    feed.labels([item], annotator="b", label=other)
    feed.labels([item], annotator="c", label=other)  # two of three now say ``other``
    learned = {x.item_id: x.label for x in feed.c.learned}
    assert learned[item] == other
    assert set(learned) == {x.item_id for x in learned_v1}
    assert not set(learned) & set(state.excluded)
    assert feed.c.learner.version > state.version


def test_a_model_of_another_embedder_is_refused_with_the_fix(embedder, rows):  # noqa: F811
    feed, _, v1, learned_v1 = labelled_twice(embedder, rows)
    other = ModelSnapshot(9, ("a", "b"), np.zeros((2, 8), np.float32), np.zeros(2, np.float32))
    with pytest.raises(RollbackError, match="only to a version made with this embedder"):
        feed.c.on_rollback(command(other, []), feed.offset + 1, 5.0)


def test_a_rollback_keeps_the_flags_of_the_labels_drawn_for_validation(embedder, rows):  # noqa: F811
    feed, _, v1, learned_v1 = labelled_twice(embedder, rows)
    drawn = [x.item_id for x in learned_v1[::4]]
    feed.c.uniform.update(drawn)  # bought with reason 'validation' (select/validation.py)
    feed.c.on_rollback(command(v1, learned_v1), feed.offset + 1, 5.0)
    memory = feed.c.learner.replay
    texts = [feed.rows[int(i.split("-")[1])][0] for i in drawn]
    assert {r.tobytes() for r in memory.X[memory.uniform]} == {
        r.tobytes() for r in embedder.embed(texts).astype(np.float32)}
