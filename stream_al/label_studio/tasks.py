"""What the bridge sends to Label Studio and what it makes of the answers: pure functions.

Items -> tasks: :func:`ordered_many` puts a poll's items in the order annotators should meet
them (Label Studio's sequential sampling hands out tasks by id, so creation order is labelling
order): the items of one group adjacent, the group holding the highest priority first, and
within a group higher priority first. :func:`task_of` is one task: the text, the item's
contract fields as task data, ``overlap`` = the labels the item asks for, and the model's
pre-annotation when the bridge knows the model's guess.

Annotations -> labels: :func:`answer_of` reads one annotation into an :class:`Answer` (a class
chosen) or a :class:`Skip` (the annotator skipped / cancelled the task), with an annotator id
namespaced by the Label Studio user (``label-studio/<user id>``): the id is the server's
primary key of the user who submitted, which no user can change, so nobody can answer as
another.

>>> config = labeling_config(["sports", "world"])
>>> classes_of(config)
['sports', 'world']
>>> merged_classes(["sports", "world"], ["business", "sports"])
['sports', 'world', 'business']
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from stream_al.errors import StreamAlError
from stream_al.stream.messages import ExpertRequest, LabelIn, SelectedItem

SOURCE = "label-studio"
"""Prefix of every annotator id the bridge writes on the shared labels topic."""
FROM_NAME = "label"
"""Name of the Choices control in the labelling config."""
TO_NAME = "text"
"""Name of the Text object the choices label."""


class ConfigMismatch(StreamAlError):
    """An existing project's labelling config is not one the bridge can read and write."""


@dataclass(frozen=True)
class Guess:
    """The model's pre-annotation for an item: its top class and that class's probability."""

    label: str
    confidence: float
    model_version: int


@dataclass(frozen=True)
class Answer:
    """A class an annotator chose for an item."""

    item_id: str
    annotator: str
    label: str
    at: float

    def label_in(self, prefix: str | None = SOURCE) -> LabelIn:
        """The label record; ``prefix`` None leaves the annotator bare (a vendor topic, where
        the worker namespaces it)."""
        annotator = f"{prefix}/{self.annotator}" if prefix else self.annotator
        return LabelIn(schema_version=1, item_id=self.item_id, label=self.label,
                       annotator_id=annotator, timestamp=self.at)


@dataclass(frozen=True)
class Skip:
    """An annotator skipped (cancelled) an item's task."""

    item_id: str
    annotator: str
    at: float


# ---- the labelling config -----------------------------------------------------------------------
def labeling_config(classes: Sequence[str], expert: bool = False) -> str:
    """Label Studio's XML for single-choice text classification over ``classes``."""
    header = ("Expert review: the annotators disagree, or a label looks wrong"
              if expert else "Pick the class of this text")
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in classes)
    return (
        "<View>\n"
        f"  <Header value={quoteattr(header)}/>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        '  <Header value="$hint" size="6"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>"
    )


def classes_of(config: str) -> list[str]:
    """The classes of a labelling config the bridge made; raises :class:`ConfigMismatch` for
    a config it did not make (another control, another name)."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as e:
        raise ConfigMismatch(f"the project's labelling config is not XML ({e}); give the "
                             "bridge a project of its own (--project)") from None
    control = next((c for c in root.iter("Choices") if c.get("name") == FROM_NAME), None)
    if control is None or control.get("toName") != TO_NAME:
        raise ConfigMismatch(
            f'the project\'s labelling config has no <Choices name="{FROM_NAME}" '
            f'toName="{TO_NAME}">; give the bridge a project of its own (--project)')
    return [c.get("value", "") for c in control.iter("Choice")]


def merged_classes(current: Sequence[str], known: Iterable[str]) -> list[str]:
    """``current`` with the classes of ``known`` it lacks appended (choices never move or
    vanish: an annotator's muscle memory and older annotations stay valid)."""
    out = list(current)
    seen = set(out)
    for c in known:
        if c not in seen:
            out.append(c)
            seen.add(c)
    return out


# ---- items -> tasks -----------------------------------------------------------------------------
def ordered_many(items: Iterable[SelectedItem]) -> list[SelectedItem]:
    """One item per id (the first delivery), groups adjacent, the group with the highest
    priority first, higher priority first within a group; ties keep arrival order."""
    first: dict[str, SelectedItem] = {}
    for item in items:
        first.setdefault(item.item_id, item)
    arrival = {item_id: i for i, item_id in enumerate(first)}
    top: dict[tuple[str, int], tuple[float, int]] = {}  # group -> (-top priority, first seen)
    for item in first.values():
        key = (item.batch_id, item.group)
        best, seen = top.get(key, (-item.priority, arrival[item.item_id]))
        top[key] = (min(best, -item.priority), seen)
    return sorted(first.values(), key=lambda i: (top[(i.batch_id, i.group)], -i.priority,
                                                 arrival[i.item_id]))


def prediction_of(guess: Guess) -> dict[str, Any]:
    """Label Studio's prediction (pre-annotation) for ``guess``."""
    return {
        "model_version": f"stream-al v{guess.model_version}",
        "score": round(float(guess.confidence), 4),
        "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                    "value": {"choices": [guess.label]}}],
    }


def task_of(item: SelectedItem, guess: Guess | None = None) -> dict[str, Any]:
    """The Label Studio task of one selected item (import JSON)."""
    confidence = item.scores.get("confidence")
    hint = [f"priority {item.priority:.2f}", f"group {item.group}"]
    if guess is not None:
        hint.insert(0, f"model v{guess.model_version}: {guess.label} "
                       f"({guess.confidence:.0%})")
    elif confidence:  # 0: a cold model, nothing to show
        hint.insert(0, f"model confidence {confidence:.0%}")
    task: dict[str, Any] = {
        "data": {
            "text": item.text,
            "hint": " · ".join(hint),
            "item_id": item.item_id,
            "batch_id": item.batch_id,
            "group": item.group,
            "priority": item.priority,
            "deadline": item.deadline,
            "model_version": item.model_version,
            "annotators": item.annotators,
            "reason": item.reason,
            "scores": dict(item.scores),
        },
        "overlap": item.annotators,
    }
    if guess is not None:
        task["predictions"] = [prediction_of(guess)]
    return task


def expert_task_of(request: ExpertRequest) -> dict[str, Any]:
    """The expert project's task for an expert request: the votes so far as a hint, the
    adjudicated label (or the model's) as the pre-annotation."""
    votes = ", ".join(f"{c}: {n}" for c, n in sorted(request.votes.items(), key=lambda v: -v[1]))
    hint = f"{request.reason}; votes {votes or 'none'}"
    if request.model_label:
        hint += f"; model: {request.model_label}"
    task: dict[str, Any] = {
        "data": {"text": request.text, "hint": hint, "item_id": request.item_id,
                 "reason": request.reason, "votes": dict(request.votes)},
        "overlap": 1,
    }
    best = request.best_label or request.model_label
    if best:
        task["predictions"] = [{
            "model_version": "stream-al adjudication",
            "score": round(float(request.confidence), 4),
            "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                        "value": {"choices": [best]}}],
        }]
    return task


# ---- annotations -> labels ----------------------------------------------------------------------
def answer_of(annotation: Mapping[str, Any], item_id: str, at: float) -> Answer | Skip | None:
    """What one Label Studio annotation says: a class, a skip, or nothing usable (a draft
    with no choice, several choices, a result from another control)."""
    user = annotation.get("completed_by")
    if isinstance(user, Mapping):
        user = user.get("id")
    if user is None:
        return None
    annotator = str(user)
    if annotation.get("was_cancelled"):
        return Skip(item_id, annotator, at)
    chosen = [
        c
        for r in annotation.get("result") or []
        if r.get("from_name") == FROM_NAME and r.get("type") == "choices"
        for c in (r.get("value") or {}).get("choices") or []
    ]
    if len(chosen) != 1 or not str(chosen[0]).strip():
        return None
    return Answer(item_id, annotator, str(chosen[0]), at)
