"""What the coordinator remembers of the texts it saw, to put in a purchase; what it buys of
a selector's picks."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.config import Settings
from stream_al.labels import Label
from stream_al.loop.buying import Buying
from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import ScoredTexts
from stream_al.score.batch import score_many
from stream_al.select.base import reads_novelty
from stream_al.simulate.lookup import LookupEmbedder
from tests.data import static_slice


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=12), max_size=8), st.integers(1, 25))
def test_the_texts_remembered_are_the_last_seen_in_the_order_last_seen(batches, cap):
    """Records of texts (a text may come again, in a later record or the same one): the last
    ``text_cache_items`` distinct ids are kept, each with its last text, ordered by when each
    was last seen; the oldest are forgotten first."""
    buying = Buying(None, None, text_cache_items=cap)  # type: ignore[arg-type]  # texts only
    expected: OrderedDict[str, str] = OrderedDict()
    for b, ids in enumerate(batches):
        names, texts = [f"i-{n}" for n in ids], [f"text {n} of record {b}" for n in ids]
        buying.remember_texts(names, texts)
        for name, text in zip(names, texts, strict=True):
            expected[name] = text
            expected.move_to_end(name)
        while len(expected) > cap:
            expected.popitem(last=False)
        assert list(buying._recent.items()) == list(expected.items())


class AsObjects:
    """A selector that returns its picks as a list of selection objects (the old protocol, a
    peer's): the stage turns them into columns."""

    def __init__(self, base) -> None:
        self.base, self.name = base, base.name

    @property
    def reads_novelty(self) -> bool:
        return reads_novelty(self.base)

    def select_many(self, batch, budget):
        return list(self.base.select_many(batch, budget))

    def flush(self, budget):
        return list(self.base.flush(budget))

    def reward_many(self, strategies, rewards, item_ids=None) -> None:
        self.base.reward_many(strategies, rewards, item_ids=item_ids)


def test_what_is_bought_of_a_selectors_columns_is_what_is_bought_of_its_objects():
    """The default stack (drift response, OOD cap, balanced reservoirs) on real AG News rows,
    labelled as they are bought: its picks handed on as columns, or as a list of selections,
    make the same purchases (every field, scores bit for bit), the same outstanding
    selections, embeddings kept and ledger."""
    data, X = static_slice("ag_news", 1200)
    settings_ = Settings(budget={"fraction": 0.05}, selection={"batch_interval": 50})
    columns, objects = (Coordinator(settings_, X.shape[1], LookupEmbedder(data.texts, X))
                        for _ in range(2))
    objects.stage.selector = AsObjects(objects.stage.selector)
    bought = 0
    for offset, start in enumerate(range(0, 1200, 100), start=1):
        out = []
        for c in (columns, objects):
            snapshot = c.learner.snapshot()
            stop = start + 100
            record = ScoredTexts(f"b{start}", [f"ag-{i}" for i in range(start, stop)],
                                 data.texts[start:stop], X[start:stop],
                                 score_many(snapshot, X[start:stop]), snapshot.version)
            out.append(c.on_scored(record, 2 * offset, float(offset)))
        assert list(out[0]) == list(out[1])
        assert [p.scores for p in out[0]] == [p.scores for p in out[1]]
        bought += len(out[0])
        for c in (columns, objects):
            half = out[0].item_ids[: len(out[0]) // 2]  # the rest stays outstanding
            c.on_labels([Label(i, data.labels[int(i.split("-")[1])], "a", float(offset))
                         for i in half], 2 * offset + 1, float(offset))
    assert bought > 20
    for item_id, o in columns.stage.outstanding.items():
        other = objects.stage.outstanding[item_id]
        assert (o.selection, o.deadline) == (other.selection, other.deadline)
        assert o.selection.scores == other.selection.scores
    assert columns.stage.outstanding.keys() == objects.stage.outstanding.keys()
    assert columns.embeddings.keys() == objects.embeddings.keys()
    assert all(np.array_equal(columns.embeddings[i], objects.embeddings[i])
               for i in columns.embeddings)
    assert columns.ledger(0.0) == objects.ledger(0.0)
