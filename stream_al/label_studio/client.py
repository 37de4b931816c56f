"""Label Studio's REST API, the part the bridge uses (httpx; ``Authorization: Token ...``).

Every call raises :class:`LabelStudioError` naming what to check when the server refuses or
cannot be reached; the bridge retries those (a restarting server is the normal case).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from stream_al.errors import StreamAlError

PAGE = 100
UPDATED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Label Studio's data manager's Datetime filter format (UTC)."""


class LabelStudioError(StreamAlError):
    """Label Studio refused a call or does not answer; the message says what to check."""


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    label_config: str


def parse_time(value: str) -> datetime:
    """A Label Studio timestamp (ISO 8601, with or without a zone) as an aware UTC datetime."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class LabelStudio:
    """A session with one Label Studio server, authenticated by a user's API token."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._authorize()

    def _authorize(self) -> None:
        """A legacy token is sent as is; a personal access token (a JWT: it has dots) is a
        refresh token, exchanged for a short-lived access token (again when that expires)."""
        if "." not in self.token:
            self.http.headers["Authorization"] = f"Token {self.token}"
            return
        try:
            done = self.http.post("/api/token/refresh", json={"refresh": self.token})
        except httpx.HTTPError as e:
            raise LabelStudioError(f"Label Studio at {self.url} does not answer ({e}); start "
                                   "it (deploy/label-studio.sh start) or fix --url") from None
        if done.status_code != 200:
            raise LabelStudioError(f"Label Studio at {self.url} refused the personal access "
                                   f"token ({done.status_code}); make a new one in Account & "
                                   "Settings")
        self.http.headers["Authorization"] = f"Bearer {done.json()['access']}"

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        again = kwargs.pop("_again", False)
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise LabelStudioError(f"Label Studio at {self.url} does not answer ({e}); start it "
                                   "(deploy/label-studio.sh start) or fix --url") from None
        if response.status_code == 401 and "." in self.token and not again:
            self._authorize()  # the access token expired
            return self._call(method, path, _again=True, **kwargs)
        if response.status_code in (401, 403):
            raise LabelStudioError(f"Label Studio at {self.url} refused the API token "
                                   f"({response.status_code}); pass a user's token (--token, "
                                   "$LABEL_STUDIO_TOKEN, Account & Settings in Label Studio)")
        if response.status_code >= 400:
            raise LabelStudioError(f"Label Studio: {method} {path} answered "
                                   f"{response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    # ---- projects ------------------------------------------------------------------------------
    def project_named(self, title: str) -> Project | None:
        page = self._call("GET", "/api/projects", params={"title": title, "page_size": PAGE})
        found = [p for p in page.get("results", page) if p.get("title") == title]
        if not found:
            return None
        p = min(found, key=lambda p: p["id"])
        return Project(p["id"], p["title"], p.get("label_config", ""))

    def create_project(self, title: str, label_config: str, description: str = "") -> Project:
        p = self._call("POST", "/api/projects", json={
            "title": title, "label_config": label_config, "description": description,
            "sampling": "Sequential sampling", "show_skip_button": True,
            "maximum_annotations": 1, "show_collab_predictions": True,
        })
        return Project(p["id"], p["title"], p["label_config"])

    def set_label_config(self, project: int, label_config: str) -> None:
        self._call("PATCH", f"/api/projects/{project}", json={"label_config": label_config})

    # ---- tasks ---------------------------------------------------------------------------------
    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create ``tasks`` (with their predictions) in one request, in order; their ids."""
        done = self._call("POST", f"/api/projects/{project}/import",
                          params={"return_task_ids": "true"}, json=tasks)
        return list(done.get("task_ids", []))

    def set_overlap(self, task: int, overlap: int) -> None:
        self._call("PATCH", f"/api/tasks/{task}", json={"overlap": overlap})

    def tasks(self, project: int, updated_since: datetime | None = None,
              ) -> Iterator[dict[str, Any]]:
        """The project's tasks with their annotations, oldest update first; only those updated
        at or after ``updated_since`` (an annotation saved or changed updates its task)."""
        query: dict[str, Any] = {"ordering": ["tasks:updated_at"]}
        if updated_since is not None:
            query["filters"] = {"conjunction": "and", "items": [{
                "filter": "filter:tasks:updated_at", "operator": "greater_or_equal",
                "type": "Datetime",
                "value": updated_since.astimezone(UTC).strftime(UPDATED_FORMAT),
            }]}
        page = 1
        while True:
            try:
                got = self._call("GET", "/api/tasks", params={
                    "project": project, "page": page, "page_size": PAGE, "fields": "all",
                    "query": json.dumps(query)})
            except LabelStudioError as e:
                if page > 1 and " 404:" in str(e):  # past the last page
                    return
                raise
            tasks = got.get("tasks", []) if isinstance(got, dict) else got
            yield from tasks
            if len(tasks) < PAGE:
                return
            page += 1

    def users(self) -> dict[int, str]:
        """User id -> email (for logs and the README's annotator table)."""
        return {u["id"]: u.get("email", "") for u in self._call("GET", "/api/users")}
