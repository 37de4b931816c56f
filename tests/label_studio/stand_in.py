"""A stand-in for the part of Label Studio's REST API the bridge calls, for tests and benchmarks
of the bridge's Kafka side (its consumer group) that need no annotations.

Each bridge gets its own; they share a directory where each appends the item ids of the tasks
it makes (one a line, ``<name>.tasks``), so that a bridge starting later reads the tasks made so
far, as it would from a real project, and a test can count the tasks every item got.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from stream_al.label_studio.client import Project
from stream_al.label_studio.tasks import labeling_config
from stream_al.stream.messages import SelectedItem

CLASSES = ["Business", "Sci/Tech", "Sports", "World"]


def selected_item(item_id: str) -> SelectedItem:
    """An item as a worker selects it (the fields the bridge reads; the others plain)."""
    return SelectedItem(schema_version=1, item_id=item_id, text=f"text of {item_id}",
                        batch_id="b", strategy="uncertainty", reason="uncertainty", scores={},
                        model_version=0, deadline=time.time() + 3600, cost=1.0, group=0)


def tasks_made(directory: Path) -> Counter[str]:
    """Item id -> tasks made for it, by every stand-in writing to ``directory``."""
    return Counter(x for path in directory.glob("*.tasks") for x in path.read_text().split())


class LabelStudioStandIn:
    """One project, no annotations ever; an import takes ``import_s`` (a server's answer)."""

    def __init__(self, directory: Path, name: str, import_s: float = 0.0) -> None:
        self.directory, self.name, self.import_s = directory, name, import_s
        self.file = (directory / f"{name}.tasks").open("a")
        self.made = 0
        self.read = False

    def project_named(self, title: str) -> Project:
        return Project(1, title, labeling_config(CLASSES))

    def tasks(self, project: int, updated_since: Any = None) -> list[dict[str, Any]]:
        """The project's tasks at the bridge's start; nothing after (no annotations)."""
        if self.read:
            return []
        self.read = True
        return [{"id": k, "data": {"item_id": item_id}}
                for k, item_id in enumerate(tasks_made(self.directory))]

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> list[int]:
        time.sleep(self.import_s)
        self.file.write("".join(f"{t['data']['item_id']}\n" for t in tasks))
        self.file.flush()
        first, self.made = self.made, self.made + len(tasks)
        return [hash((self.name, k)) for k in range(first, self.made)]

    def set_overlap(self, task: int, overlap: int) -> None:
        pass

    def set_label_config(self, project: int, label_config: str) -> None:
        pass

    def close(self) -> None:
        self.file.close()
