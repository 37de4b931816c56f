"""What a worker's metrics port answers besides ``/metrics``: ``/healthz`` and ``/readyz``.

- ``GET /healthz``: 200 while the process serves HTTP at all (liveness: restart it if this
  fails).
- ``GET /readyz``: 200 once every condition of its :class:`Readiness` has been met, else 503
  with the conditions still missing, one per line (readiness: send it no traffic, do not count
  it in a rollout, until this passes). A worker's conditions are :data:`WORKER_CONDITIONS`.
- any other path: the Prometheus exposition of the registry (as ``prometheus_client`` does).

>>> ready = Readiness(("joined", "model_loaded"))
>>> ready.mark("joined")
>>> ready.ready, ready.missing()
(False, ['model_loaded'])
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

WORKER_CONDITIONS = ("joined", "model_loaded")
"""A worker is ready once both hold, and stays ready (a later rebalance does not unready it):

- ``joined``: the worker's faust consumer completed its first join of the group (partitions
  assigned, possibly none), so it takes part in ``labels`` and ``control``;
- ``model_loaded``: the scorers read the ``models`` topic up to the end it had at start-up,
  so they score with the newest published model (or the empty model on a new deployment).

With ``scale.ood_at_scorers`` a third (:meth:`Readiness.require`): ``reference_loaded``, the
scorers read the ``reference`` topic up to the end it had at start-up, so they check candidates
against every labelled row the coordinator had sent (stream/reference.py).
"""

WsgiApp = Callable[[dict, Callable], list[bytes]]


class Readiness:
    """Named conditions, each marked once when it first holds; thread-safe to read."""

    def __init__(self, conditions: Iterable[str]) -> None:
        self.conditions = tuple(conditions)
        self._met: set[str] = set()
        self._lock = threading.Lock()

    def require(self, condition: str) -> None:
        """One more condition (a part of the worker that only some settings run)."""
        with self._lock:
            if condition not in self.conditions:
                self.conditions = (*self.conditions, condition)

    def mark(self, condition: str) -> None:
        if condition not in self.conditions:
            raise ValueError(f"unknown readiness condition {condition!r}: use one of "
                             f"{self.conditions}, or pass it in Readiness(...)")
        with self._lock:
            self._met.add(condition)

    def missing(self) -> list[str]:
        with self._lock:
            return [c for c in self.conditions if c not in self._met]

    @property
    def ready(self) -> bool:
        return not self.missing()


def health_app(metrics_app: WsgiApp, readiness: Readiness) -> WsgiApp:
    """``/healthz`` and ``/readyz`` in front of ``metrics_app`` (which serves every other path)."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _plain(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            missing = readiness.missing()
            if missing:
                body = "".join(f"not ready: {c}\n" for c in missing)
                return _plain(start_response, "503 Service Unavailable", body)
            return _plain(start_response, "200 OK", "ready\n")
        return metrics_app(environ, start_response)

    return app


def serve(registry: CollectorRegistry, readiness: Readiness, port: int,
          addr: str = "0.0.0.0") -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``addr:port`` from a daemon thread.

    Port 0 picks a free port (``server.server_port``); ``server.shutdown()`` stops it.
    """
    app = health_app(make_wsgi_app(registry), readiness)
    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread


def _plain(start_response: Callable, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(data)))])
    return [data]


class _Quiet(WSGIRequestHandler):
    """No access log on stderr: Prometheus scrapes every few seconds."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass
