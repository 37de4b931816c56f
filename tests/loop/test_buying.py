"""What the coordinator remembers of the texts it saw, to put in a purchase."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_al.loop.buying import Buying


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
