"""Adjudication: one label per item from several annotators' labels, or an expert's.

- :func:`majority_many`: the most frequent label (ties go to the label given first).
- :func:`dawid_skene_many`: Dawid & Skene (1979) EM (:mod:`.dawid_skene`): each annotator
  gets a confusion matrix, so a reliable annotator outvotes two careless ones and a systematic
  mislabeller is read backwards. Gold items (known answers) anchor the estimates.
- :class:`Adjudicator`: the configured method, expert labels taken as final, and
  :meth:`Adjudicator.escalations` routing unresolved disagreements to the expert topic.

>>> from stream_al.labels.base import Label
>>> labels = [Label("a", "World", "ann-1", 1), Label("a", "World", "ann-2", 2),
...           Label("a", "Sports", "ann-3", 3), Label("b", "Sports", "ann-1", 4)]
>>> verdicts = majority_many(labels, min_confidence=0.7)
>>> verdicts["a"].label, round(verdicts["a"].confidence, 2), verdicts["a"].status
('World', 0.67, 'escalated')
>>> verdicts["b"].status
'single'
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from stream_al.annotation.base import AnnotationSettings, Status, Verdict
from stream_al.annotation.dawid_skene import fit_many
from stream_al.labels.base import Label

DEFAULT_ACCURACY = 0.7
"""An annotator's accuracy in a weighted vote until one is estimated."""


def vote_weight(accuracy: float, k: int) -> float:
    """The log-odds one label of an annotator of this accuracy adds to its class among ``k``
    (the accuracy kept within [0.001, 0.999])."""
    acc = min(max(accuracy, 1e-3), 1 - 1e-3)
    return math.log(acc * (k - 1) / (1 - acc))


def one_class_confidence(weight: float, k: int) -> float:
    """The posterior of the one class an item's labels name, by their summed ``weight``, among
    ``k`` classes (the others weigh 0)."""
    return 1.0 / (math.exp(weight - weight) + (k - 1) * math.exp(-weight))


def votes_of(labels: Iterable[Label]) -> dict[str, Counter[str]]:
    """Label counts per item; a Counter keeps first-seen order, which breaks ties."""
    votes: dict[str, Counter[str]] = {}
    for label in labels:
        votes.setdefault(label.item_id, Counter())[label.label] += 1
    return votes


def _status(votes: Counter[str], confidence: float, min_confidence: float) -> Status:
    if sum(votes.values()) == 1:
        return "single"
    if len(votes) == 1:
        return "unanimous"
    return "resolved" if confidence >= min_confidence else "escalated"


def majority_many(labels: Iterable[Label], gold: Mapping[str, str] | None = None,
                  min_confidence: float = 0.7) -> dict[str, Verdict]:
    """Plurality vote per item; confidence is the winning label's share of the votes."""
    gold = gold or {}
    out = {}
    for item, votes in votes_of(labels).items():
        if item in gold:
            out[item] = Verdict(item, gold[item], 1.0, "gold", "majority", dict(votes))
            continue
        label, n = max(votes.items(), key=lambda kv: kv[1])  # first maximum: earliest label
        share = n / sum(votes.values())
        out[item] = Verdict(item, label, share, _status(votes, share, min_confidence),
                            "majority", dict(votes))
    return out


@dataclass
class DawidSkeneResult:
    verdicts: dict[str, Verdict]
    accuracy: dict[str, float]
    """Each annotator's estimated accuracy: sum over classes of prior x P(correct | class)."""


def dawid_skene_many(labels: Iterable[Label], gold: Mapping[str, str] | None = None,
                     one_coin: bool = False, min_confidence: float = 0.7,
                     n_iter: int = 100) -> DawidSkeneResult:
    """Posterior label per item under the Dawid-Skene model (:mod:`.dawid_skene`'s EM, the
    same as crowd-kit's).

    ``one_coin`` fits one accuracy per annotator instead of a full confusion matrix: fewer
    parameters, better with many classes and few labels per annotator; gold anchors only the
    full model (as with crowd-kit, whose one-coin model takes no gold), though gold items
    still get their known label as verdict.
    """
    labels = list(labels)
    gold = dict(gold or {})
    if not labels:
        return DawidSkeneResult({}, {})
    votes = votes_of(labels)
    fit = fit_many(((x.item_id, x.annotator_id, x.label) for x in labels),
                   None if one_coin else gold, one_coin, n_iter)
    row = {item: i for i, item in enumerate(fit.items)}
    out = {}
    for item, v in votes.items():
        if item in gold:
            out[item] = Verdict(item, gold[item], 1.0, "gold", "dawid_skene", dict(v))
            continue
        p = fit.probas[row[item]]
        best = int(p.argmax())  # a tie goes to the first class in sorted order
        conf = float(p[best])
        out[item] = Verdict(item, fit.classes[best], conf, _status(v, conf, min_confidence),
                            "one_coin" if one_coin else "dawid_skene", dict(v))
    return DawidSkeneResult(out, fit.accuracy())


def weighted_vote_many(labels: Iterable[Label], accuracy: Mapping[str, float],
                       gold: Mapping[str, str] | None = None, min_confidence: float = 0.7,
                       default_accuracy: float = DEFAULT_ACCURACY) -> dict[str, Verdict]:
    """The one-coin Dawid-Skene posterior with annotator accuracies already estimated (the
    E-step alone): each label for class c multiplies c's odds by ``acc / ((1 - acc) / (K - 1))``
    over the K classes seen. A cheap way to adjudicate new items between two EM fits.

    >>> from stream_al.labels.base import Label
    >>> v = weighted_vote_many([Label("a", "x", "good", 0), Label("a", "y", "bad1", 1),
    ...                         Label("a", "y", "bad2", 2), Label("b", "z", "good", 3)],
    ...                        {"good": 0.95, "bad1": 0.4, "bad2": 0.4})
    >>> v["a"].label, v["a"].status
    ('x', 'resolved')
    """
    labels = list(labels)
    gold = gold or {}
    k = max(2, len({x.label for x in labels}))
    by_item: dict[str, list[Label]] = {}  # one pass; most items have one label (a rebuild: 1M)
    for x in labels:
        same = by_item.get(x.item_id)
        if same is None:
            by_item[x.item_id] = [x]
        else:
            same.append(x)
    of_annotator: dict[str, float] = {}  # the log-odds of each annotator's vote, once each
    for a in dict.fromkeys(x.annotator_id for x in labels):
        of_annotator[a] = vote_weight(accuracy.get(a, default_accuracy), k)
    out = {}
    one_vote: dict[float, float] = {}  # an item of one class: its confidence, by that weight
    for item, xs in by_item.items():
        if len(xs) == 1:  # one label: its class, "single", confidence by its annotator alone
            x = xs[0]
            if item in gold:
                out[item] = Verdict(item, gold[item], 1.0, "gold", "weighted", {x.label: 1})
                continue
            top = of_annotator[x.annotator_id]
            conf = one_vote.get(top)
            if conf is None:
                conf = one_vote[top] = one_class_confidence(top, k)
            out[item] = Verdict(item, x.label, conf, "single", "weighted", {x.label: 1})
            continue
        v: Counter[str] = Counter()  # first-seen order, which breaks ties
        w: dict[str, float] = {}
        for x in xs:
            v[x.label] += 1
            w[x.label] = w.get(x.label, 0.0) + of_annotator[x.annotator_id]
        if item in gold:
            out[item] = Verdict(item, gold[item], 1.0, "gold", "weighted", dict(v))
            continue
        if len(w) == 1:
            ((label, top),) = w.items()
            conf = one_vote.get(top)
            if conf is None:
                conf = one_vote[top] = one_class_confidence(top, k)
            out[item] = Verdict(item, label, conf, _status(v, conf, min_confidence), "weighted",
                                dict(v))
            continue
        top = max(w.values())  # classes never said have weight 0 (k - len(w) of them)
        z = sum(math.exp(x - top) for x in w.values()) + (k - len(w)) * math.exp(-top)
        label = max(w, key=lambda c: w[c])  # first maximum: earliest label
        conf = 1.0 / z
        out[item] = Verdict(item, label, conf, _status(v, conf, min_confidence), "weighted",
                            dict(v))
    return out


@dataclass(frozen=True)
class Escalation:
    """An item the annotators could not settle, for the expert topic."""

    item_id: str
    topic: str
    reason: str
    best_label: str | None
    confidence: float
    votes: dict[str, int]


class Adjudicator:
    """The configured adjudication, with expert labels final and escalation to experts."""

    def __init__(self, settings: AnnotationSettings, expert_topic: str = "stream-al.expert") -> None:
        self.settings = settings
        self.expert_topic = expert_topic
        self.experts: Collection[str] = frozenset(settings.expert_annotators)
        self.accuracy: dict[str, float] = {}

    def adjudicate_many(self, labels: Iterable[Label], gold: Mapping[str, str] | None = None,
                        accuracy: Mapping[str, float] | None = None) -> dict[str, Verdict]:
        """Verdicts per item. With ``accuracy`` (annotator -> estimated accuracy) the
        Dawid-Skene methods skip the EM fit and weigh the votes by it (:func:`weighted_vote_many`)."""
        labels = list(labels)
        crowd = [x for x in labels if x.annotator_id not in self.experts]
        s = self.settings
        if s.adjudication == "majority":
            verdicts = majority_many(crowd, gold, s.min_confidence)
        elif accuracy is not None:
            verdicts = weighted_vote_many(crowd, accuracy, gold, s.min_confidence)
        else:
            result = dawid_skene_many(crowd, gold, s.adjudication == "one_coin", s.min_confidence)
            verdicts, self.accuracy = result.verdicts, result.accuracy
        verdicts.update(self._expert_verdicts(labels))
        return verdicts

    def one_label_each(self, labels: Sequence[Label],
                       accuracy: Mapping[str, float]) -> dict[str, float]:
        """Per annotator of ``labels``, each the only label of its item: the confidence
        :meth:`adjudicate_many` (``labels``, no gold, ``accuracy``) gives its label, without a
        :class:`Verdict` per item (a rebuild's million): an expert's 1, a crowd label's 1 by
        majority, else its weight alone (:func:`weighted_vote_many`); each verdict "single"
        (an expert's: "expert") and trusted."""
        crowd = {x.annotator_id for x in labels} - set(self.experts)
        out = dict.fromkeys({x.annotator_id for x in labels} & set(self.experts), 1.0)
        if self.settings.adjudication == "majority":
            return out | dict.fromkeys(crowd, 1.0)
        k = max(2, len({x.label for x in labels if x.annotator_id in crowd}))
        for a in crowd:
            out[a] = one_class_confidence(vote_weight(accuracy.get(a, DEFAULT_ACCURACY), k), k)
        return out

    def _expert_verdicts(self, labels: list[Label]) -> dict[str, Verdict]:
        expert = [x for x in labels if x.annotator_id in self.experts]
        if not expert:
            return {}
        all_votes = votes_of(labels)
        out = {}
        for item, votes in votes_of(expert).items():
            label, n = max(votes.items(), key=lambda kv: kv[1])
            out[item] = Verdict(item, label, n / sum(votes.values()), "expert", "expert",
                                dict(all_votes[item]))
        return out

    def escalations(self, verdicts: Iterable[Verdict]) -> list[Escalation]:
        """Verdicts left unresolved, addressed to :attr:`expert_topic` (``kafka.topics.expert``)."""
        return [
            Escalation(v.item_id, self.expert_topic,
                       f"{v.n_labels} labels disagree; best {v.label!r} at "
                       f"{v.confidence:.2f} < {self.settings.min_confidence}",
                       v.label, v.confidence, v.votes)
            for v in verdicts if v.status == "escalated"
        ]
