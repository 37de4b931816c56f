"""The coordinator shell's search for l2 in a process of its own (stream/searching.py): the
coordinator goes on while it runs, its choice is applied when it arrives, a failure leaves the
penalty as it was and is reported, and stopping ends the process mid-search.

A real spawned process and a real coordinator on AG News rows; no broker (the shell's Kafka
clients start only when it claims the role, which these tests do not)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from stream_al.config import EmbedderSettings, Settings
from stream_al.embed import make_embedder
from stream_al.loop.coordinator import Coordinator
from stream_al.metrics import Metrics
from stream_al.runtime import limit_blas_threads
from stream_al.simulate.lookup import LookupEmbedder
from stream_al.stream.coordinating import CoordinatorShell
from tests.data import rows
from tests.stream.harness import wait_until

N = 1000


@pytest.fixture(scope="module")
def ag_news():
    limit_blas_threads()
    texts, labels = zip(*rows("ag_news", N), strict=True)
    X = make_embedder(EmbedderSettings(name="static")).embed(list(texts))
    return list(texts), X, list(labels)


@pytest.fixture
def shell(ag_news, tmp_path):
    """A coordinator shell (search process on) holding a coordinator whose learner searched
    once (inline, on 40 labels) and has just asked for its second search (on all 1,000)."""
    texts, X, labels = ag_news
    settings = Settings.load(kafka={"state_dir": str(tmp_path)})
    shell = CoordinatorShell(settings, LookupEmbedder(texts, X), Metrics())
    c = Coordinator(settings, X.shape[1], shell.embedder, search_apart=True)
    c.learner.learn_many(X[:40], labels[:40])
    c.learner.learn_many(X[40:], labels[40:], fit=False)
    assert c.refit(100.0) and c.learner.main.search.pending is not None
    shell.coordinator = c
    yield shell
    shell.searches.close()


async def sent(shell: CoordinatorShell) -> asyncio.Future:
    async with shell.lock:
        shell._search_out(shell.coordinator)
    (future,) = shell._searching
    return future


def test_the_choice_is_applied_when_it_arrives_as_a_new_model_version(shell):
    async def scenario():
        c = shell.coordinator
        version = c.learner.version
        await sent(shell)
        await asyncio.wait_for(asyncio.gather(*shell._searching), 120)
        assert c.learner.needs_fit and c.learner.main.search.searched_at == N
        release = c.model_update(200.0)
        assert release is not None and release.version == version + 1
        assert c.learner.l2 == c.learner.main.search.l2
        assert c.learner.main.search.scores  # the process's cross-validated scores

    asyncio.run(scenario())


def test_the_coordinator_keeps_learning_while_the_search_runs(shell, ag_news):
    _, X, labels = ag_news

    async def scenario():
        c = shell.coordinator
        before, version = c.learner.l2, c.learner.version
        future = await sent(shell)
        async with shell.lock:  # free: the search runs in its own process
            c.learner.learn_many(X[:5], labels[:5], fit=False)
            assert await shell._run(c.refit, 300.0)
        assert not future.done(), "the search ended before the refit: the test shows nothing"
        assert c.learner.version == version + 1 and c.learner.l2 == before
        await asyncio.wait_for(future, 120)
        assert c.learner.needs_fit

    asyncio.run(scenario())


def test_a_search_process_that_dies_leaves_the_penalty_and_is_reported(shell, caplog):
    async def scenario():
        c = shell.coordinator
        before = c.learner.l2
        future = await sent(shell)
        await wait_until(lambda: shell.searches.pids())
        os.kill(shell.searches.pids()[0], signal.SIGKILL)
        await asyncio.wait_for(future, 60)
        assert c.learner.l2 == before and not c.learner.needs_fit
        assert c.learner.main.search.pending is None and not shell.searches.running
        return before

    with caplog.at_level(logging.ERROR, logger="stream_al.stream.coordinating"):
        before = asyncio.run(scenario())
    assert f"keeps l2={before:g}" in caplog.text
    errors = shell.metrics.registry.get_sample_value(
        "stream_al_errors_total", {"stage": "learn", "reason": "BrokenProcessPool"})
    assert errors == 1


def test_closing_ends_the_process_with_a_search_in_it(shell):
    async def scenario():
        future = await sent(shell)
        await wait_until(lambda: shell.searches.pids())
        (pid,) = shell.searches.pids()
        await asyncio.wait_for(shell.close(), 10)
        await asyncio.gather(future, return_exceptions=True)
        assert future.cancelled() and not shell.searches.running
        return pid

    pid = asyncio.run(scenario())
    assert not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not running
        return f.read().split()[2] != "Z"

