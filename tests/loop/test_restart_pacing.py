"""What a restart keeps of budget pacing (issue 18), without a broker: a coordinator rebuilt
from the last ledger of a paced run goes on at the pacer's rate, with its saved and withheld
money, and spends as the original goes on spending. The broker test in
tests/stream/test_restart_state.py kills a worker for the drift response; pacing rides in the
same ledger record."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from stream_al.loop.coordinator import Coordinator
from stream_al.loop.records import BudgetLedger, Purchase
from stream_al.loop.restore import History
from stream_al.stream import conversion
from tests.loop.test_coordinator import Feed
from tests.loop.test_restart_state import embedder, fed, rows  # noqa: F401  (fixtures)

PACING = {"enabled": True, "floor": 0.25, "check_every": 100_000}
"""Paced, with no check during the test: the rate is what the test sets."""


def paced_run(embedder, rows) -> tuple[Feed, list[Purchase]]:  # noqa: F811
    """Half a paced stream: labels for the first purchases (every class known), then the
    pacer turned down to the floor and 200 more items at that rate."""
    feed = fed(embedder, rows, pacing=PACING)
    bought = feed.texts(0, 100) + feed.texts(100, 200)
    feed.labels([p.item_id for p in bought])
    pacer = feed.c.governance.pacer
    pacer.slow_down("test")
    pacer.slow_down("test")
    assert pacer.state == "paused"
    for start in range(200, 400, 50):
        bought += feed.texts(start, start + 50)
    return feed, bought


def restored_from(feed: Feed, bought: list[Purchase], ledger: BudgetLedger) -> Feed:
    c = Coordinator(feed.c.settings, feed.embedder.dim, feed.embedder)
    c.restore(History(bought, {}, list(feed.c.labels), ledger, 0, now=0.0))
    after = Feed(c, feed.embedder, feed.rows)
    after.offset = feed.offset
    return after


def figures(c: Coordinator) -> dict[str, float]:
    b = c.stage.budget
    return {"seen": b.seen, "spent": b.spent, "withheld": b.withheld,
            "withhold_share": b.withhold_share, "allowance": b.allowance}


def test_a_paced_ledger_holds_the_pacer_and_the_money_it_withholds(embedder, rows):  # noqa: F811
    feed, _ = paced_run(embedder, rows)
    ledger = feed.c.ledger(now=0.0)
    assert ledger.pacing is not None
    assert ledger.pacing["pacer"] == feed.c.governance.pacer.state_dict()
    assert ledger.pacing["withheld"] == pytest.approx(feed.c.stage.budget.withheld)
    assert ledger.pacing["withheld"] > 0 and ledger.pacing["withhold_share"] == 0.75
    assert json.loads(json.dumps(ledger.pacing)) == ledger.pacing  # JSON as it stands
    wire = conversion.ledger(ledger)
    assert conversion.budget_ledger(type(wire).model_validate_json(wire.to_bytes())) == ledger


def test_a_rebuilt_coordinator_paces_on_where_the_original_stopped(embedder, rows):  # noqa: F811
    feed, bought = paced_run(embedder, rows)
    ledger = feed.c.ledger(now=0.0)
    after = restored_from(feed, bought, ledger)

    pacer = after.c.governance.pacer
    assert pacer is after.c.governance.paced.pacer
    assert pacer.state_dict() == feed.c.governance.pacer.state_dict()
    assert (pacer.rate, pacer.state) == (feed.c.governance.pacer.rate, "paused")
    assert figures(after.c) == pytest.approx(figures(feed.c))

    spent = 0.0
    for start in range(400, 700, 50):  # both go on over the same batches
        original = feed.texts(start, start + 50)
        again = after.texts(start, start + 50)
        assert sum(p.cost for p in again) == pytest.approx(sum(p.cost for p in original))
        assert figures(after.c) == pytest.approx(figures(feed.c))
        spent += sum(p.cost for p in again)
    assert spent > 0  # the control trickle, and what the rate allows the strategy
    assert after.c.governance.pacer.state_dict() == feed.c.governance.pacer.state_dict()


def test_a_ledger_without_pacing_restores_a_pacer_at_full_rate(embedder, rows):  # noqa: F811
    feed, bought = paced_run(embedder, rows)
    old = feed.c.ledger(now=0.0)
    old = replace(old, pacing=None)  # written before pacing was kept
    after = restored_from(feed, bought, old)
    assert after.c.governance.pacer.rate == 1.0 and after.c.stage.budget.withheld == 0.0
    assert conversion.budget_ledger(conversion.ledger(old)).pacing is None


def test_an_unpaced_coordinator_writes_no_pacing(embedder, rows):  # noqa: F811
    feed = fed(embedder, rows)
    feed.texts(0, 100)
    assert feed.c.ledger(now=0.0).pacing is None
