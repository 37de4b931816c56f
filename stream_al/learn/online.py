"""The online learner used by the simulator and the learner agent: one model plus a committee.

The main model ranks uncertainty; the committee (online bagging, Oza & Russell 2001: each member
sees each label Poisson(1) times) measures disagreement. Every update bumps :attr:`version`.

With ``learner.served_rule`` set, a third kind of model is fitted on the same labels: the
*served* head, whose ``l2`` is chosen from the same search folds by that rule (``nll``: the
lowest held-out log-loss) while the main model keeps ``cv_rule``'s choice. The main model and
the committee select; :meth:`OnlineLearner.served_snapshot` is what predicts (what the
simulator measures). On labels bought near the boundary the best-accuracy search picks a
penalty 100-300x weaker than the log-loss does; that model selects well and predicts worse
(benchmarks/README.md, issue 14, "a served model").

The served head is part of every snapshot (:attr:`ModelSnapshot.served`: its weights and the
``l2`` they were fitted at), so it is published on ``models``, registered and rolled back with
the main model, and :meth:`OnlineLearner.reset_to` (a rebuild, a rollback) continues from it as
from the main model's weights. So is the l2 search's state (:attr:`ModelSnapshot.search`: the
penalty the main model and the committee were fitted at, the served rule's last choice, the
labels at the last search): a learner reset to a snapshot continues the penalty and the search
schedule it had, so its first refit after a rebuild runs no search in place (which blocked the
worker's coordinator for the search's seconds, and restarted the schedule from zero: the next
search was due at once rather than at ``cv_growth`` times the labels of the last one), and the
next search runs apart as any after the first. A snapshot without it (written before it was
kept), or with one this learner's search cannot have (another prior, no served rule's choice),
leaves the search as it was: for a rebuilt learner the prior, and a first search in place.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stream_al.config import LearnerSettings
from stream_al.learn.regularisation import L2Search, SearchResult, SearchTask
from stream_al.learn.replay import ReplayMemory
from stream_al.learn.self_training import SelfTraining, UnlabelledReservoir
from stream_al.learn.snapshot import (
    ModelSnapshot,
    SearchState,
    ServedHead,
    search_problem,
    served_problem,
)
from stream_al.learn.softmax import OnlineSoftmax


class OnlineLearner:
    """Multiclass online learner with warm starts, open label set and snapshots.

    >>> import numpy as np
    >>> learner = OnlineLearner(dim=2, settings=LearnerSettings(committee_size=2))
    >>> learner.learn_many(np.eye(2, dtype=np.float32), ["spam", "ham"])
    1
    >>> learner.snapshot().classes
    ('spam', 'ham')
    """

    def __init__(self, dim: int, settings: LearnerSettings | None = None) -> None:
        s = settings or LearnerSettings()
        if s.served_rule is not None and s.l2 is not None:
            raise ValueError(f"learner.served_rule={s.served_rule} chooses from the l2 search, "
                             f"which learner.l2={s.l2} turns off: unset one of them")
        self.settings = s
        self.dim = dim
        self.version = 0
        self.replay = ReplayMemory(dim, s.memory, seed=s.seed)
        """One copy of the labelled rows: the committee's bootstrap is a weight per row."""
        search = None if s.l2 is not None else L2Search(
            folds=s.cv_folds, rows=s.cv_rows, growth=s.cv_growth, min_labels=s.cv_min_labels,
            prior=s.l2_prior, seed=s.seed, rule=s.cv_rule,
            repeats=s.cv_repeats, served_rule=s.served_rule, validation=s.cv_validation,
            evidence_rows=s.cv_evidence_rows)
        self.unlabelled = UnlabelledReservoir(dim, s.unlabelled_memory, seed=s.seed)
        """A uniform sample of the stream's embeddings (:meth:`observe_many`)."""
        training = SelfTraining(self.unlabelled, s.pseudo_labels, s.cv_min_labels, s.cv_folds)
        self.main = OnlineSoftmax(dim, s.l2, s.max_iter, self.replay, seed=s.seed, search=search,
                                  self_training=training if s.pseudo_labels > 0 else None)
        """Chooses ``l2`` (when the settings leave it to cross-validation), and self-trains
        on the unlabelled stream; the committee follows its ``l2`` and learns labels only."""
        self.committee = [
            OnlineSoftmax(dim, self.main.l2, max(5, s.max_iter // 3), self.replay,
                          seed=s.seed + 1 + i, bootstrap=True)
            for i in range(s.committee_size)
        ]
        self.served = None if search is None or s.served_rule is None else OnlineSoftmax(
            dim, None, s.max_iter, self.replay, seed=s.seed, served_by=search)
        """The model that predicts, when its penalty has a rule of its own (else the main)."""
        self._snapshot = ModelSnapshot.empty(dim)
        self.temperature = 1.0
        self.unfitted = 0
        """Rows learned with ``fit=False`` that no model has been fitted on yet."""
        self.retune = False
        """A search apart chose a penalty that no fit has used yet (:meth:`searched`)."""

    @property
    def classes(self) -> list[str]:
        return self.main.classes

    @property
    def l2(self) -> float:
        """The penalty of the last fit (``learner.l2``, or the search's current choice)."""
        return self.main.l2

    @property
    def n_labels(self) -> int:
        return self.replay.seen

    def observe_many(self, X: np.ndarray) -> None:
        """Stream items, labelled or not, offered to the unlabelled reservoir that the main
        model self-trains on (stream_al/learn/self_training.py); no refit, no new version.
        Without self-training (``learner.pseudo_labels`` 0) nothing is kept."""
        if self.main.self_training is not None:
            self.unlabelled.observe_many(X)

    def adopt_unlabelled(self, other: OnlineLearner) -> None:
        """Self-train on ``other``'s unlabelled reservoir (a learner rebuilt from the verdicts
        keeps the stream it had seen)."""
        self.unlabelled = other.unlabelled
        if self.main.self_training is not None:
            self.main.self_training.unlabelled = other.unlabelled

    def adopt_penalty(self, other: OnlineLearner, rows: int) -> None:
        """Continue ``other``'s penalty and search schedule (:meth:`L2Search.resume`) before
        learning ``rows`` labels afresh: a learner rebuilt from the verdicts (one label
        changed, loop/annotating.py) fits at the penalty chosen on nearly the same labels, and
        searches again when they have grown ``cv_growth`` times since ``other``'s last search,
        apart, instead of at once and in place (measured: 9.4 s of CPU on Banking77's 1,200
        labels, benchmarks/README.md, "the learner's penalty through a rebuild"). Nothing to
        continue (a fixed ``learner.l2``, no search yet, a search configured otherwise): as
        it was."""
        mine, theirs = self.main.search, other.main.search
        if mine is None or theirs is None or theirs.searched_at == 0:
            return
        state = theirs.state()
        if mine.resumable(state):
            self._resume_search(state, rows)  # the served head starts each fit at its choice

    def _resume_search(self, state: SearchState, rows: int) -> None:
        """The search continues from ``state`` on ``rows`` labels; the main model and the
        committee take its penalty (:meth:`reset_to`, :meth:`adopt_penalty`)."""
        self.main.search.resume(state, rows)
        for member in (self.main, *self.committee):
            member.l2 = self.main.search.l2

    def learn_one(self, x: np.ndarray, label: str) -> int:
        return self.learn_many(np.asarray(x, dtype=np.float32).reshape(1, -1), [label])

    def learn_many(self, X: np.ndarray, labels: Sequence[str], fit: bool = True,
                   uniform: Sequence[bool] | None = None) -> int:
        """Store and weigh the rows; refit (a new version) unless ``fit`` is False, in which
        case the rows wait in :attr:`unfitted` for the next :meth:`fit` or ``learn_many``
        (the same models result: a refit is on the whole memory). ``uniform``: per row, drawn
        uniformly from the stream (the l2 search validates on those, ``learner.cv_validation``)."""
        if not len(labels):
            return self.version
        slots = self.replay.add_many(X, labels, uniform)
        for model in self._models():
            model.weigh(slots)
        self.unfitted += len(labels)
        if fit:
            self.fit()
        return self.version

    @property
    def needs_fit(self) -> bool:
        """Rows came, or a search apart answered, since the last fit."""
        return bool(self.unfitted) or self.retune

    def fit(self) -> bool:
        """Refit every model if rows came (or a search apart answered) since the last fit: a
        new version. False if none."""
        if not self.needs_fit:
            return False
        self.retune = False
        self.main.refit()
        for member in self.committee:
            member.l2 = self.main.l2
            member.refit()
        if self.served is not None:
            self.served.refit()
        self.unfitted = 0
        self.version += 1
        self._snapshot = self._take_snapshot()
        return True

    # ---- the search for l2, apart (the worker's search process) ------------------------------
    @property
    def searches_apart(self) -> bool:
        """Due searches for ``l2`` after the first are handed out (:meth:`take_search`) and
        their choices applied when they come back (:meth:`searched`); meanwhile the models
        keep learning at the current penalty. False: each runs in the fit that finds it due."""
        return self.main.search is not None and self.main.search.apart

    @searches_apart.setter
    def searches_apart(self, apart: bool) -> None:
        if self.main.search is not None:
            self.main.search.apart = apart

    def take_search(self) -> SearchTask | None:
        """The search a fit asked for, to run apart (each once), or None."""
        return None if self.main.search is None else self.main.search.take()

    def searched(self, task: SearchTask, result: SearchResult) -> bool:
        """``task``'s result: its penalty is used from the next :meth:`fit` on, which is then
        due (a new version). False if ``task`` is not this learner's pending search."""
        if self.main.search is None or not self.main.search.answer(task, result):
            return False
        self.retune = True
        return True

    def search_failed(self, task: SearchTask) -> bool:
        """``task`` could not run: the penalty stays (the next search when the labels grew
        by ``cv_growth``). False if ``task`` is not this learner's pending search."""
        return self.main.search is not None and self.main.search.failed(task)

    def _models(self) -> list[OnlineSoftmax]:
        return [self.main, *self.committee, *([self.served] if self.served else [])]

    def predict_proba_many(self, X: np.ndarray) -> np.ndarray:
        return self._snapshot.predict_proba_many(X)

    def set_temperature(self, temperature: float) -> None:
        """Calibrate future snapshots; the current one is replaced, the version is unchanged."""
        self.temperature = float(temperature)
        self._snapshot = self._snapshot.with_temperature(self.temperature)

    def snapshot(self) -> ModelSnapshot:
        """The selecting model (main and committee): what scorers rank with."""
        return self._snapshot

    def served_snapshot(self) -> ModelSnapshot:
        """The model that predicts: the served head's weights (``learner.served_rule``) with
        the main's committee, version and temperature; without a served rule, :meth:`snapshot`.

        Read from the snapshot (:meth:`ModelSnapshot.served_model`), which holds the served
        head as it was at the last fit or :meth:`reset_to` (between them the head only grows
        zero rows for classes learned since). After a reset to a snapshot without one (written
        before the served head existed) the served head is the main's until its next fit, and
        so is this."""
        return self._snapshot.served_model()

    def reset_to(self, snapshot: ModelSnapshot, X: np.ndarray, labels: Sequence[str],
                 version: int, uniform: Sequence[bool] | None = None) -> None:
        """Continue from ``snapshot`` exactly (weights, committee, temperature, served head),
        with (``X``, ``labels``) -- the labels it learned -- as the replay memory, at
        ``version``; ``uniform``: per row, drawn uniformly from the stream (as
        :meth:`learn_many`'s).

        The served head (``learner.served_rule``) continues from the snapshot's, at the
        penalty it was fitted at; from a snapshot without one (written before it existed, or
        with the rule off) it is the main's until its next fit. A learner without a served
        rule drops the snapshot's. The snapshot taken right after predicts exactly as
        ``snapshot`` (same fingerprint).

        The l2 search continues from the snapshot's state (:meth:`L2Search.resume`): the main
        model and the committee keep the penalty they were fitted at, and the next search is
        due when the labels have grown ``cv_growth`` times since the last one. Without a state
        it could resume (:meth:`L2Search.resumable`) the search stays as it was (a rebuilt
        learner's first fit searches in place); a learner with a fixed ``learner.l2`` ignores it.
        """
        members = [self.main, *self.committee]
        pairs = [(snapshot.weights, snapshot.bias), *snapshot.committee]
        if len(pairs) != len(members):
            raise ValueError(f"the snapshot has {len(pairs) - 1} committee members, the learner "
                             f"{len(members) - 1}: set learner.committee_size to match")
        head = _served_head(snapshot) if self.served is not None else None
        state = _search_state(snapshot, self.main.search)
        slots = self.replay.reset(snapshot.classes, X, labels, uniform)
        for member, (W, b) in zip(members, pairs, strict=True):
            member.restart(W, b, slots)
        if self.served is not None:
            W, b = (snapshot.weights, snapshot.bias) if head is None else (head.weights, head.bias)
            self.served.restart(W, b, slots)
            if head is not None:
                self.served.l2 = head.l2
        self.unfitted, self.retune = 0, False
        if self.main.search is not None:  # a search apart on other rows: its answer is stale
            self.main.search.drop()
        if state is not None and self.main.search is not None:
            self._resume_search(state, len(self.replay))
        self.version = version
        self.temperature = float(snapshot.temperature)
        self._snapshot = replace(snapshot, version=version, created_at=time.time(), served=head,
                                 search=None if self.main.search is None
                                 else self.main.search.state())

    def _take_snapshot(self) -> ModelSnapshot:
        f32 = np.float32
        served = None if self.served is None else ServedHead(
            self.served.W.astype(f32), self.served.b.astype(f32), float(self.served.l2))
        return ModelSnapshot(
            version=self.version,
            classes=tuple(self.main.classes),
            weights=self.main.W.astype(f32),
            bias=self.main.b.astype(f32),
            committee=tuple((m.W.astype(f32), m.b.astype(f32)) for m in self.committee),
            temperature=self.temperature,
            n_labels=self.main.n_labels,
            created_at=time.time(),
            served=served,
            search=None if self.main.search is None else self.main.search.state(),
        )


def _served_head(snapshot: ModelSnapshot) -> ServedHead | None:
    """``snapshot``'s served head, checked against its main model (:func:`served_problem`: a
    :class:`ValueError` naming what is wrong, never a served head that is not a model)."""
    problem = served_problem(snapshot)
    if problem is not None:
        raise ValueError(problem)
    return snapshot.served


def _search_state(snapshot: ModelSnapshot, search: L2Search | None) -> SearchState | None:
    """``snapshot``'s search state if ``search`` can resume it (:meth:`L2Search.resumable`),
    else None; a state that cannot be a penalty or a schedule (:func:`search_problem`) is a
    :class:`ValueError` (never a model fitted at a penalty that is not one)."""
    state = snapshot.search
    if state is None or search is None:
        return None
    problem = search_problem(snapshot)
    if problem is not None:
        raise ValueError(problem)
    return state if search.resumable(state) else None
