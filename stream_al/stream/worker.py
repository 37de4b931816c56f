"""Running one worker: topics, metrics server, then the faust app until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Callable

from stream_al.config import Settings
from stream_al.runtime import limit_blas_threads

METRICS_AT = "metrics on http://127.0.0.1:{port}/metrics"
"""How a worker announces its metrics endpoint on stdout (supervisors read the port from it)."""
_METRICS_PORT = re.compile(re.escape(METRICS_AT).replace(r"\{port\}", r"(\d+)"))


def run_worker(settings: Settings, strategy: str | None = None, loglevel: str = "warning") -> int:
    """Create missing topics, serve metrics on ``kafka.metrics_port`` (0: any free port), run.

    Returns when the worker is stopped (faust handles SIGINT and SIGTERM and leaves the group).
    The worker's entry point: it takes the whole :class:`Settings` for :func:`build_app`.
    """
    limit_blas_threads()
    import faust

    from stream_al.embed import make_embedder
    from stream_al.metrics import Metrics
    from stream_al.select.factory import STRATEGIES
    from stream_al.stream.app import build_app
    from stream_al.stream.log_filters import demote_routine_warnings
    from stream_al.stream.mode_stacks import tolerate_async_generator_links
    from stream_al.stream.topics import ensure_topics

    name = strategy or settings.selection.strategy
    if name not in STRATEGIES:  # configuration errors before anything starts
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    demote_routine_warnings()  # before the first Kafka client
    tolerate_async_generator_links()  # a paused worker must not crash printing its stacks
    embedder = make_embedder(settings.embedder)
    created = ensure_topics(settings.kafka)
    metrics = Metrics()
    server, _ = metrics.start_http_server(settings.kafka.metrics_port, settings.kafka.metrics_host)
    print(
        f"stream-al worker: group {settings.kafka.app_id} on {settings.kafka.bootstrap}, "
        f"embedder {embedder.name}, strategy {strategy or settings.selection.strategy}, "
        + METRICS_AT.format(port=server.server_port)
        + (f", created {len(created)} topics" if created else ""),
        flush=True,
    )
    app = build_app(settings, metrics, embedder=embedder, strategy=strategy)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    if not worker.stdout.isatty():  # faust's spinner writes cursor codes to files and pipes too
        worker.spinner = None
    logging.getLogger("stream_al").setLevel(loglevel.upper())
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        server.shutdown()
    return 0


def announced_metrics_port(output: Callable[[], str], process: subprocess.Popen,
                           timeout_s: float, every_s: float = 0.2) -> int:
    """The metrics port a started ``stream-al worker`` announced in its ``output``; fails if
    the process exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = _METRICS_PORT.search(output())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"worker exited {process.returncode}:\n{output()}")
        time.sleep(every_s)
    raise TimeoutError(f"worker did not start in {timeout_s}s:\n{output()}")
