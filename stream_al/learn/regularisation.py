"""How strongly the learner regularises: chosen by cross-validation on its own labels.

The best L2 strength depends on the data and on how many labels there are (measured on the
development sets with scikit-learn: the best ``C`` was 1 on AG News/MiniLM, 10 on
Banking77/MiniLM, 100-1000 on ATIS and SUBJ with the static embedder), so no constant fits all
sets. :class:`L2Search` picks ``l2`` (``1/C``) from a log grid by stratified k-fold
cross-validation on the labelled rows, each fold fitted along the grid from the strongest
penalty to the weakest, warm-started (a regularisation path, as scikit-learn's
``LogisticRegressionCV``). The first search waits for ``min_labels`` and for ``folds`` labels per class seen (on
average one of each class in each fold); until then ``l2`` is the prior, the weakest of the
grid (1e-3, ``C=1000``). With a prior ``C=1`` and a first search at 10 labels, AG News/MiniLM
at 15 labels (development suite, 3 seeds) fell from 0.713 to 0.573 ± 0.173: a strong penalty
on a dozen labels leaves the unpenalised intercepts to decide, i.e. the majority of the labels
bought so far, and the selector then buys on that model; a search on 2-3 held-out rows a fold
ties on accuracy and its log-loss favours such soft models. A search that can judge nothing
-- no held-out row of a class its fold trained on -- keeps the current ``l2`` (the first of the
grid, l2=100, used to win that tie). A value whose held-out predictions are all one class is
never chosen while another value's are not: on unbalanced labels (a selector's purchases, 24
of 40 one class) the majority-class model of a strong penalty wins on accuracy, and on MR at
75 labels (MiniLM, seed 0) the search chose l2=100 on such a tie and the model fell to 0.53
(macro-F1 0.35; with the rule 0.66 / 0.64). Every search tries
the whole grid: a search that only looked
around the previous choice stayed near what 20 labels had suggested and lost 1.5 points at
200-280 labels on AG News/MiniLM (0.826 vs 0.841). Five folds, not three: at 110 labels of
77 classes (Banking77) three folds chose l2=3 on some seeds and the model fell to 0.28
accuracy (five folds: 0.474, scikit-learn's own CV 0.460). It searches again only when the
labels have grown by ``growth`` since the last search, on at most ``rows`` of them, so its
cost is bounded and amortised; between searches ``l2`` stays fixed on the summed loss, i.e.
the penalty per label falls as ``1/n``.

The choice from the folds' scores (``rule: best``) is the best accuracy. On labels an active selector
bought near the boundary it picks too weak a penalty (static SST-2, 200 labels: l2 <= 0.03 on
8/10 seeds, the model 1.5 points under l2=1 on the same labels), and on random's labels it is
noisy. Steadier rules were measured against it on the suite's quick slices (benchmarks/README.md,
"Issue 14: a steadier l2 search": all 8 sets, both embedders, 1%/5%/200 labels, 20 seeds on
SST-2/MR/SUBJ, 5 on the others, both strategies). The lowest held-out log-loss (``nll``) lifts
the default on the binary sets (+0.4 points over their 18 cells; MR/static at 200 labels
+1.8 ± 0.6, level with random after it) but costs it on AG News/MiniLM (5%: -1.5 ± 0.8) and
ATIS/MiniLM (200: -0.7 ± 0.3), and random at 1% (MR/MiniLM -1.0 ± 0.6): over all 48 cells
+0.09 (default) and -0.02 (random), so it stays off. Accuracy smoothed over the grid's
neighbours (``smooth``) and three fold splits (``repeats``, three times the cost) did not help
on SST-2/MR at 200 labels (10 seeds); the strongest penalty within one standard error
(``one_se``) lost 1-3 points. The log-loss among the values within one standard error of the
best accuracy (``nll_se``) moved both strategies alike on the binary sets with the static
embedder (+0.19 and +0.18 points over 9 cells, none worse by a standard error), so the
default's gap to random stayed where it was; with MiniLM it kept ``nll``'s gains on SST-2 (5%:
+1.3 ± 0.6) and its losses at 1% and on AG News and ATIS (at 15 labels one standard error is
about two held-out rows, so few values are excluded).
None of them is adopted; they stay settings for measurement.

``rule: evidence`` runs no folds: one path on all the rows, each value scored by the Laplace
evidence of the labels (stream_al/learn/evidence.py), the one-class guard on the rows fitted.
It removes the selector's bias (quick slices, MiniLM, 200 labels: on the default's labels it picks
0.3-1 on 8-9 seeds of 10 where the folds pick 0.003-3, as on random's; SST-2 +2.1 ± 0.5 points,
MR +1.3 ± 0.7, 20 seeds), and at full size it lifts the default at 5% on every seed (MR +2.9 ± 0.4,
SST-2 +1.9 ± 0.5, SUBJ +0.6 ± 0.2, 5 seeds; benchmarks/README.md, "Issue 14: the learner's l2 by
the Laplace evidence"). But on a few labels it is the prior's: at 15 labels (quick slices at 1%)
it picks 1-10, nearly the intercepts' model, and both strategies lose 2-13 points; on random's
400-900 labels it picks a little weaker than the folds (-0.5 to -0.9 at full size, 5%); AG News
and ATIS lose 0.4-1.2 points; with the static embedder the default loses 1.1 points over the
binary quick cells; on 77 classes and 1,000 rows it costs five times the folds (33 s against
6.6). Off. ``rule: evidence_dims`` keeps the folds' best accuracy until the rows searched are at
least the embedding's dimensions, where the Laplace approximation has the data it needs, and the
evidence from there. At full size (MiniLM, 5%, 5 seeds) it moves the default on SST-2 only
(+2.3 ± 0.7 points, 4 of 5 seeds; MR, SUBJ, SNIPS, Banking77 and HWU64 within 0.1), because
MR's and SUBJ's searches stay below 384 rows, and with it the gains of ``evidence`` there
(benchmarks/README.md, same section). Off. ``rule: evidence_per_class`` keeps the folds until
the rows searched hold 100 a class seen among them (as measured; ``learner.cv_evidence_rows``,
:data:`EVIDENCE_ROWS_PER_CLASS` by default, 50 since session 25): at full
size (MiniLM, 5 seeds) that is only the binary sets at 5% (AG News's 70 a class, SNIPS's 88 and
every 1% cell stay below; with ``rows`` 1,000 no set of more than 10 classes ever reaches it), and
there the default gains on every seed (MR +2.3 ± 0.5, SST-2 +2.1 ± 0.6, SUBJ +0.7 ± 0.2) while
random's runs fall 0.5-0.8. Where it acts on more classes it loses: AG News at 10% (560 labels,
140 a class; 5 seeds) -0.9 ± 0.3 points for the default and -1.8 ± 0.4 for random, behind on
every seed, and its all-labels ceiling (a search on 1,000 rows) 0.882 -> 0.877; SNIPS at 10% level.

``rule: evidence_binary``, **the default**: the evidence where the learner knows two classes and
the rows searched hold :data:`EVIDENCE_ROWS_PER_CLASS` (50) a class seen, the folds' best
accuracy elsewhere, and the folds too where the evidence's best value is the strongest penalty
whose fit still predicts two classes on the rows. The evidence pays where the labels were
bought near the boundary and the folds' held-out rows are such labels too (their bias is what it
removes), and it lost wherever it acted on more classes, so it acts on two. From 100 rows a
class (session 24; full size, MiniLM, 5 seeds, benchmarks/README.md, "the evidence for two
classes becomes the default"): the default at 5% ahead on every seed (numbers above), the margin
peers that use this learner too (breaking-ties +1.0 to +2.0 points, every seed), random and the
peers that mix in uniform draws 0.4-0.8 behind (the folds' assumption, labels drawn like the
stream, holds for them). A search by the evidence costs 0.4x the folds on two classes (1,000
rows: 0.29 s against 0.71). From 50 rows a class it also acts at 200 labels and at SST-2's 1%,
and with MiniLM the default gains there, but with the static embedder on 120-180 rows the
evidence can rise all the way to the strongest penalty of the grid, the one-class guard then
stops it one step later, and the model left is nearly the intercepts' (SST-2's quick slice at
200 labels, seed 1: l2 10 then 31.6, the fit 0.53 and 0.51 right on its own rows; 0.716 ->
0.536, macro-F1 0.48). An evidence still rising at the strongest value it may take has no
optimum inside the grid to offer, so the folds choose there. With both (benchmarks/README.md,
"Issue 14: the evidence from 50 rows a class, the folds where it has no optimum"; full size, 5
seeds): MiniLM's default +0.9 to +1.4 points at 200 labels (14 of 15 seeds ahead), +0.7 at
SST-2's 1%, +0.4 at MR's 5%, the rest within 0.1; the static embedder's default -0.0 to +2.4
(SST-2 at 200 labels +2.4, at 1% +1.9), no seed worse by more than 2.5 points; random within
its spread. The folds' standard error as the guard instead (the evidence among the values
within one standard error of the best held-out accuracy) kept the static runs safe too but cost
the default 0.8-0.9 points at MR's and SST-2's 5%, where the evidence had to overrule the folds.

Labels drawn uniformly from the stream (``selection.validation_share``, flagged by the learner:
``uniform``) are an unbiased sample of it whatever the selector bought around them. The folds
train on every label as before; each uniform row is held out once, and its per-value loss
(``validation``: errors or log-loss) can overrule ``rule``'s choice, by more than one standard
error of the paired per-row difference (:func:`_validated`). Below as many such rows as a search
needs (:func:`enough_rows`: ``min_labels``, and ``folds`` per class the learner knows), or with
one class among them, ``rule`` alone: at full size 18 uniform rows of ATIS's 17+ classes
overruled the search and cost 1.5 points. At full size (MiniLM, share 0.1, 3 seeds) log-loss moved
the default's penalty on the binary sets at 5% from 0.003-0.1 to 0.1-1 and lifted MR by 2.9
points over the same trickle without the rule; accuracy on 40-90 rows barely ever overrules
(benchmarks/README.md, "Issue 14: validation labels by design").

``served_rule`` picks a second value from the same folds (:attr:`L2Search.served_l2`, no extra
search): the penalty of the model that predicts, while ``rule``'s stays with the model that
selects. At full size (MiniLM, 5%) the default's labels refitted at l2 = 1 beat random's, the
best-accuracy search on them picks 100-300x weaker and costs 1-2 points, yet in the loop at 1%
that weak model selects better than the stronger ones (benchmarks/README.md, issue 14).

A search is data in and data out (:class:`SearchTask` -> :func:`run_search` ->
:class:`SearchResult`), so it can run elsewhere: with :attr:`L2Search.apart` a due search after
the first is asked for (:meth:`L2Search.ask`) and answered later (:meth:`L2Search.answer`), the
penalty staying meanwhile (the worker's search process, stream_al/stream/searching.py). Run in
place, :meth:`L2Search.choose` is the three steps at once, the same choice bit for bit.

What a search decides survives a rebuild: :meth:`L2Search.state` (the current penalty, the
served rule's choice, the labels at the last search) goes into every snapshot, and
:meth:`L2Search.resume` continues from it. A learner rebuilt after a restart then serves the
restored weights at the penalty they were fitted at, and its next search is due when the labels
have grown ``growth`` times since the last search before the restart, as without the restart,
and runs apart like any search after the first. Without it (a snapshot written before it was
kept) the first refit searches again, in place, and the schedule starts from that search: on
1,000-1,200 labels (MiniLM) that refit took 9.4 s on Banking77, 5.8 s on HWU64 and 0.24 s on
SST-2 against 0.37, 0.34 and 0.03 s resumed (benchmarks/README.md, issue 16/17, "the learner's
penalty through a rebuild"), the worker's coordinator held all that time, and a search that
could judge nothing left the model at the prior. The last search's scores and ``cv_l2`` are not
kept: they decide nothing.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(m, 1, (40, 2)) for m in (-2, 2)]).astype(np.float32)
>>> y = np.repeat([0, 1], 40)
>>> search = L2Search(grid=(10.0, 1.0, 0.1), min_labels=20)
>>> search.due(len(y))
True
>>> search.choose(X, y, k=2) in (10.0, 1.0, 0.1)
True
>>> search.due(len(y)), search.due(2 * len(y))
(False, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from stream_al.learn.evidence import evidence_path
from stream_al.learn.objective import fit_softmax
from stream_al.learn.snapshot import SearchState

DEFAULT_GRID: tuple[float, ...] = tuple(float(v) for v in np.logspace(2, -3, 11))
"""``l2`` from 100 down to 0.001 (scikit-learn's ``C`` from 0.01 to 1000), half-decade steps."""
DEFAULT_RULE = "evidence_binary"
"""``learner.cv_rule``'s default (the module docstring says why)."""
EVIDENCE_ROWS_PER_CLASS = 50
"""``rule: evidence_per_class`` and ``evidence_binary``: rows searched per class seen among
them from which the evidence chooses (the folds' best accuracy before;
``learner.cv_evidence_rows``). ``evidence_per_class`` was measured at 100 (session 23)."""


class L2Search:
    """Chooses ``l2`` by k-fold cross-validation, again whenever the labels grew enough."""

    def __init__(self, grid: Sequence[float] = DEFAULT_GRID, folds: int = 5, rows: int = 1000,
                 growth: float = 1.5, min_labels: int = 10, prior: float = 1e-3,
                 max_iter: int = 100, seed: int = 0, rule: str = DEFAULT_RULE,
                 repeats: int = 1, served_rule: str | None = None,
                 validation: str = "accuracy",
                 evidence_rows: int = EVIDENCE_ROWS_PER_CLASS) -> None:
        if not grid or min(grid) <= 0:
            raise ValueError(f"the l2 grid needs positive values, got {list(grid)}")
        if folds < 2:
            raise ValueError(f"cross-validation needs folds >= 2, got {folds}")
        if growth <= 1:
            raise ValueError(f"search growth must be > 1 (search again when labels grew by "
                             f"that factor), got {growth}")
        for name, value in (("rule", rule), ("served rule", served_rule or rule)):
            if value not in RULES:
                raise ValueError(f"the search's {name} must be one of {', '.join(RULES)}, "
                                 f"got {value!r}")
        if served_rule is not None and (rule.startswith("evidence")
                                        or served_rule.startswith("evidence")):
            raise ValueError("a served rule picks from the search's folds, and the evidence "
                             "rules (learner.cv_rule evidence*, the default evidence_binary among "
                             "them) fit none: with a served rule set cv_rule to a fold rule "
                             "(e.g. best), or served_rule to null; the served rule itself is a "
                             "fold rule (e.g. nll)")
        if validation not in VALIDATION_SCORES:
            raise ValueError(f"the search's validation score must be one of "
                             f"{', '.join(VALIDATION_SCORES)}, got {validation!r}")
        if repeats < 1:
            raise ValueError(f"cross-validation needs repeats >= 1 (fold splits), got {repeats}")
        if evidence_rows < 1:
            raise ValueError(f"the evidence needs rows a class >= 1, got {evidence_rows}")
        self.grid = tuple(sorted((float(v) for v in grid), reverse=True))
        self.folds, self.rows, self.growth = folds, rows, growth
        self.min_labels, self.max_iter, self.seed = max(min_labels, folds), max_iter, seed
        self.rule, self.repeats, self.served_rule = rule, repeats, served_rule
        self.validation, self.evidence_rows = validation, evidence_rows
        self.prior = float(prior)
        """``l2`` before the first search (:meth:`resumable` accepts it beside the grid)."""
        self.l2 = float(prior)
        """The current choice (``prior`` until the first search)."""
        self.served_l2 = float(prior)
        """The choice of ``served_rule`` from the same folds (``l2`` when it is None): the
        penalty of the model that predicts, beside the one that selects."""
        self.searched_at = 0
        """Labels at the last search (0: none yet)."""
        self.cv_l2 = float(prior)
        """``rule``'s choice at the last search, before the uniform rows could overrule it."""
        self.scores: dict[float, float] = {}
        """Cross-validated accuracy of each value tried at the last search."""
        self.losses: dict[float, float] = {}
        """Cross-validated mean log-loss (per held-out row it could judge) of each value."""
        self.apart = False
        """Due searches run apart (:meth:`ask`; the worker's search process), except the
        first: until a search has chosen, the refit runs it (the model must not serve the prior
        meanwhile). A learner rebuilt after a restart has had its searches when the snapshot it
        continues from holds their state (:meth:`resume`): its next one runs apart too."""
        self.pending: SearchTask | None = None
        """The search asked for and not answered yet (:meth:`ask`)."""
        self.handed = False

    def due(self, n_labels: int, n_classes: int = 0) -> bool:
        """A search is due: enough labels -- ``min_labels``, and one per class (of the
        ``n_classes`` seen) per fold -- and ``growth`` times more than at the last one."""
        if self.pending is not None:
            return False
        enough = enough_rows(n_classes, self.min_labels, self.folds)
        return n_labels >= enough and n_labels >= self.searched_at * self.growth

    def state(self) -> SearchState:
        """What decides the next refits (a snapshot keeps it): the current ``l2``, the labels
        at the last search, and the served rule's choice (None without a served rule)."""
        return SearchState(self.l2, self.searched_at,
                           None if self.served_rule is None else self.served_l2)

    def resumable(self, state: SearchState) -> bool:
        """Whether :meth:`resume` can continue from ``state``: penalties this search can have
        (values of its grid, or its prior) and, with a served rule, its choice. A state of a
        learner configured otherwise (another prior, no served rule) is not: the first refit
        searches as if there were none."""
        allowed = (*self.grid, self.prior)
        return (state.l2 in allowed and state.searched_at >= 0
                and (self.served_rule is None or state.served_l2 in allowed))

    def resume(self, state: SearchState, rows: int) -> None:
        """Continue from ``state`` (a rebuild, a rollback: :meth:`resumable`), on a memory of
        ``rows`` labels: the penalty it had, the next search due when the labels grew
        ``growth`` times since its last one (a search at more labels than the memory now holds
        counts as one at all of them), and that search apart (:attr:`apart`) if any search
        ran before. The last search's scores are not restored (``cv_l2``: the penalty)."""
        self.l2 = self.cv_l2 = float(state.l2)
        self.served_l2 = self.l2 if state.served_l2 is None else float(state.served_l2)
        self.searched_at = min(int(state.searched_at), rows)
        self.scores, self.losses = {}, {}
        self.drop()

    def choose(self, X: np.ndarray, y: np.ndarray, k: int, W0: np.ndarray | None = None,
               b0: np.ndarray | None = None, uniform: np.ndarray | None = None) -> float:
        """Search on rows ``X`` with class indices ``y`` (of ``k`` classes); keep and return
        the best ``l2`` (the best cross-validated accuracy; ties: the better log-loss). Each
        fold's path starts from ``(W0, b0)`` (the model's current weights) when given: the
        optimum does not depend on the start, the number of iterations does. ``uniform``:
        per row, drawn uniformly from the stream; held out in the folds, those rows can
        overrule the choice (:func:`_validated`). The same as :meth:`task`,
        :func:`run_search` and :meth:`apply` one after the other."""
        return self.apply(run_search(self.task(X, y, k, W0, b0, uniform)))

    def task(self, X: np.ndarray, y: np.ndarray, k: int, W0: np.ndarray | None = None,
             b0: np.ndarray | None = None, uniform: np.ndarray | None = None) -> SearchTask:
        """What a search on rows ``X`` with class indices ``y`` needs, as data: the rows it
        uses (at most :attr:`rows`, plus every ``uniform`` one; copied) and every label and
        flag (copied), the weights it starts from, its settings. :func:`run_search` runs it
        wherever it is sent."""
        flagged = np.zeros(len(y), dtype=bool) if uniform is None else np.array(
            uniform[: len(y)], dtype=bool)
        rows = _search_rows(y, self.rows, flagged,
                            np.random.default_rng([self.seed, len(y)]))
        return SearchTask(
            X=np.asarray(X[rows], dtype=np.float32), y=np.array(y), k=k,
            W0=None if W0 is None else np.array(W0), b0=None if b0 is None else np.array(b0),
            grid=self.grid, folds=self.folds, rows=self.rows, max_iter=self.max_iter,
            seed=self.seed, rule=self.rule, repeats=self.repeats, served_rule=self.served_rule,
            uniform=flagged, validation=self.validation, min_labels=self.min_labels,
            evidence_rows=self.evidence_rows)

    def apply(self, result: SearchResult) -> float:
        """Keep ``result`` (its scores; its choices, unless it could judge nothing); the
        current ``l2``."""
        self.scores, self.losses = dict(result.scores), dict(result.losses)
        self.searched_at = result.labels
        if result.l2 is not None:
            self.l2, self.cv_l2 = result.l2, result.cv_l2
            self.served_l2 = result.l2 if result.served_l2 is None else result.served_l2
        return self.l2

    # ---- a search apart (the worker's search process) -------------------------------------
    def ask(self, X: np.ndarray, y: np.ndarray, k: int, W0: np.ndarray | None = None,
            b0: np.ndarray | None = None, uniform: np.ndarray | None = None) -> None:
        """A search is due and runs apart: :meth:`take` hands its task out, :meth:`answer`
        brings its result; the current ``l2`` stays meanwhile, and no other is asked for."""
        self.pending, self.handed = self.task(X, y, k, W0, b0, uniform), False

    def take(self) -> SearchTask | None:
        """The search asked for and not yet handed out (at most once), or None."""
        if self.pending is None or self.handed:
            return None
        self.handed = True
        return self.pending

    def answer(self, task: SearchTask, result: SearchResult) -> bool:
        """The result of ``task``, applied if it is the search asked for (False: another
        one's, e.g. of a learner replaced since)."""
        if task is not self.pending:
            return False
        self.pending = None
        self.apply(result)
        return True

    def drop(self) -> None:
        """Forget the search asked for (the learner restarted on other rows: its answer
        would be stale); the next one is due as :meth:`due` says."""
        self.pending, self.handed = None, False

    def failed(self, task: SearchTask) -> bool:
        """``task`` could not run: the current ``l2`` stays, and the next search is due when
        the labels grew by ``growth`` since it was asked for (False: not the one asked for)."""
        if task is not self.pending:
            return False
        self.pending = None
        self.searched_at = len(task.y)
        return True


@dataclass(frozen=True)
class SearchTask:
    """One search, as data (picklable: what the worker sends its search process). ``X``: the
    rows it uses (:func:`_search_rows` of ``y``); ``y``: every label's class index;
    ``uniform``: per label, drawn uniformly from the stream."""

    X: np.ndarray
    y: np.ndarray
    k: int
    W0: np.ndarray | None
    b0: np.ndarray | None
    grid: tuple[float, ...]
    folds: int
    rows: int
    max_iter: int
    seed: int
    rule: str
    repeats: int
    served_rule: str | None
    uniform: np.ndarray
    validation: str
    min_labels: int
    evidence_rows: int = EVIDENCE_ROWS_PER_CLASS
    """``evidence_per_class``, ``evidence_binary``: rows searched a class from which the
    evidence chooses (:data:`EVIDENCE_ROWS_PER_CLASS` unless set)."""


@dataclass(frozen=True)
class SearchResult:
    """What a search found: its choices (None: it could judge nothing, keep the current
    ones; ``cv_l2``: ``rule``'s before the uniform rows could overrule it) and every grid
    value's cross-validated accuracy and log-loss, at ``labels``."""

    labels: int
    l2: float | None
    served_l2: float | None
    scores: dict[float, float]
    losses: dict[float, float]
    cv_l2: float | None = None


def run_search(task: SearchTask) -> SearchResult:
    """Cross-validate every value of the grid on the task's rows (see :class:`L2Search`)."""
    rng = np.random.default_rng([task.seed, len(task.y)])
    rows = _search_rows(task.y, task.rows, task.uniform, rng)  # task.X's rows; rng moves on
    if _by_evidence(task.rule, task.y[rows], task.X.shape[1], task.k, task.evidence_rows):
        found = _evidence_search(task, task.y[rows])
        if found is not None:  # None: evidence_binary leaves it to the folds
            return found
    Xs, ys, us = task.X, task.y[rows], task.uniform[rows]
    k, W0, b0 = task.k, task.W0, task.b0
    candidates = task.grid
    correct, nll = np.zeros(len(candidates)), np.zeros(len(candidates))
    predicts = np.zeros((len(candidates), k), dtype=bool)  # classes predicted held out
    judged = 0
    # per uniform row held out (summed over repeats): its errors and log-loss per value
    val_wrong = np.zeros((len(candidates), len(ys)))
    val_nll = np.zeros((len(candidates), len(ys)))
    val_judged = np.zeros(len(ys), dtype=bool)
    # repeats: other fold splits of the same rows, scores summed (the first is the one a
    # single split would use)
    splits = [_stratified_folds(ys, task.folds, rng) for _ in range(task.repeats)]
    for fold, f in ((fold, f) for fold in splits for f in range(task.folds)):
        train, test = fold != f, fold == f
        # only the classes this fold trains on: an absent class's intercept would run off
        # to -inf and keep L-BFGS busy to max_iter (ATIS: 50x slower); its rows count wrong
        present = np.unique(ys[train])
        index = np.full(k, -1)
        index[present] = np.arange(len(present))
        W = np.zeros((len(present), Xs.shape[1])) if W0 is None else W0[present]
        b = np.zeros(len(present)) if b0 is None else b0[present]
        y_test = index[ys[test]]
        known = y_test >= 0
        judged += int(known.sum())
        at = np.flatnonzero(test)
        val = us[test] & known
        val_judged[at[val]] = True
        for j, l2 in enumerate(candidates):
            W, b = fit_softmax(Xs[train], index[ys[train]], len(present),
                               np.ones(int(train.sum())), l2, W, b, task.max_iter)
            logp = log_softmax(Xs[test] @ W.T.astype(np.float32) + b.astype(np.float32),
                               axis=1)
            predicted = logp.argmax(axis=1)
            correct[j] += float((predicted == y_test).sum())
            predicts[j, present[predicted]] = True
            nll[j] -= float(logp[np.flatnonzero(known), y_test[known]].sum())
            if val.any():
                val_wrong[j, at[val]] += predicted[val] != y_test[val]
                val_nll[j, at[val]] -= logp[np.flatnonzero(val), y_test[val]]
    held_out = len(ys) * task.repeats
    scores = dict(zip(candidates, correct / held_out, strict=True))
    losses = dict(zip(candidates, nll / max(judged, 1), strict=True))
    if not judged:  # no held-out row of a class its fold trained on: nothing to go by
        return SearchResult(len(task.y), None, None, scores, losses)
    several = predicts.sum(axis=1) >= 2
    choice = _pick(task.rule, correct, nll, several, held_out)
    cv_l2 = candidates[choice]
    if task.validation != "off":
        val_losses = val_wrong if task.validation == "accuracy" else val_nll
        choice = _validated(choice, val_losses[:, val_judged], ys[val_judged], several,
                            enough_rows(task.k, task.min_labels, task.folds))
    l2 = candidates[choice]
    served = None if task.served_rule is None else candidates[
        _pick(task.served_rule, correct, nll, several, held_out)]
    return SearchResult(len(task.y), l2, served, scores, losses, cv_l2)


def _by_evidence(rule: str, ys: np.ndarray, dims: int, k: int, per_class: int) -> bool:
    """Whether ``rule`` chooses by the evidence on the searched rows' classes ``ys`` (of
    ``dims`` dimensions; ``k``: the classes the learner knows; ``per_class``: the rows a class
    from which the per-class rules take it), rather than by the folds."""
    if rule == "evidence_dims":
        return len(ys) >= dims
    if rule == "evidence_per_class":
        return len(ys) >= per_class * len(np.unique(ys))
    if rule == "evidence_binary":
        return k == 2 and len(ys) >= per_class * len(np.unique(ys))
    return rule == "evidence"


def _evidence_search(task: SearchTask, ys: np.ndarray) -> SearchResult | None:
    """``rule: evidence``: the grid value of the highest Laplace evidence of the task's rows,
    one path fitted on all of them (stream_al/learn/evidence.py); never a value whose fit
    predicts one class on them while another value's does not. No folds, so no held-out
    scores: ``scores`` holds each value's accuracy on the rows fitted, ``losses`` its negative
    log evidence per row, and the uniform rows cannot overrule (they are labels like the
    others). ``evidence_binary``: None (the folds choose) when that value is the strongest
    penalty allowed, an evidence with no optimum inside what it may take."""
    path = evidence_path(task.X, ys, task.k, task.grid, task.W0, task.b0, task.max_iter)
    allowed = path.several | (not path.several.any())
    choice = int(np.argmax(np.where(allowed, path.evidence, -np.inf)))
    if task.rule == "evidence_binary" and choice == int(np.argmax(allowed)):
        return None  # the grid runs from the strongest penalty down
    l2 = task.grid[choice]
    losses = dict(zip(task.grid, -path.evidence / len(ys), strict=True))
    return SearchResult(len(task.y), l2, None, dict(zip(task.grid, path.accuracy, strict=True)),
                        losses, l2)


def _search_rows(y: np.ndarray, size: int, uniform: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The rows a search uses: a stratified subset of at most ``size`` (:func:`_stratified_
    subset`, moving ``rng``), and every row drawn uniformly from the stream beside it."""
    rows = _stratified_subset(y, size, rng)
    return np.union1d(rows, np.flatnonzero(uniform)) if uniform.any() else rows


def enough_rows(n_classes: int, min_labels: int, folds: int) -> int:
    """Rows enough to judge penalties on ``n_classes`` classes: ``min_labels``, and one per
    class and fold. A search waits for that many labels (:meth:`L2Search.due`); the rows drawn
    uniformly from the stream overrule its choice only when they are that many themselves
    (:func:`_validated`), and the validation trickle draws only where they can become that many
    (:class:`~stream_al.select.validation.ValidationTrickle`).

    >>> enough_rows(2, 10, 5), enough_rows(20, 10, 5)
    (10, 100)
    """
    return max(min_labels, folds * n_classes)


RULES = ("best", "one_se", "nll", "nll_se", "smooth", "evidence", "evidence_dims",
         "evidence_per_class", "evidence_binary")
VALIDATION_SCORES = ("accuracy", "log_loss", "off")
"""How the uniform rows score each value (``learner.cv_validation``; off: not at all)."""


def _validated(choice: int, losses: np.ndarray, y: np.ndarray, several: np.ndarray,
               min_rows: int) -> int:
    """``choice``, or the grid value the rows drawn uniformly from the stream prefer.

    ``losses``: per value (grid order) and uniform row held out, its loss (errors, or
    log-loss). They are an unbiased sample of the stream whatever the selector bought, but
    few, so they overrule ``choice`` only when a value beats it by more than one standard
    error of the paired per-row difference; the largest such gain wins (ties: the value
    nearest ``choice``). Below ``min_rows`` such rows (:func:`enough_rows` for the classes the
    learner knows), or one class among them: ``choice``.
    Values whose held-out predictions are all one class (``several`` False) are never taken.

    >>> losses = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=float)
    >>> _validated(2, losses, np.array([0, 1, 0, 1]), np.ones(3, bool), min_rows=4)
    1
    >>> _validated(2, losses, np.array([0, 0, 0, 0]), np.ones(3, bool), min_rows=4)
    2
    """
    m = losses.shape[1]
    if m < max(min_rows, 2) or len(np.unique(y)) < 2:
        return choice
    diff = losses[choice] - losses  # positive: the value does better than the choice
    gain = diff.mean(axis=1)
    se = diff.std(axis=1, ddof=1) / np.sqrt(m)
    better = several & (gain > 0) & (gain > se)
    if not better.any():
        return choice
    return max(np.flatnonzero(better).tolist(), key=lambda j: (gain[j], -abs(j - choice)))
"""How :meth:`L2Search.choose` picks from the cross-validated scores (``learner.cv_rule``)."""


def _pick(rule: str, correct: np.ndarray, nll: np.ndarray, several: np.ndarray,
          held_out: int) -> int:
    """The index of the chosen grid value (the grid runs from the strongest penalty down).

    Never a value whose held-out predictions are all one class while another value's are not
    (a majority-class model wins on accuracy when the labels are unbalanced). ``best``: the
    most held-out rows right, ties by the lower log-loss; ``one_se``: the strongest penalty
    within one standard error of that; ``nll``: the lowest held-out log-loss; ``nll_se``: the
    lowest log-loss among the values within one standard error of the best accuracy; ``smooth``: the
    best accuracy averaged with the grid's neighbours (half a decade either side), ties by the
    log-loss."""
    allowed = several | (not several.any())
    if rule == "nll":
        return int(np.argmin(np.where(allowed, nll, np.inf)))
    if rule == "nll_se":  # the lowest log-loss among values within one s.e. of the best accuracy
        top = correct[allowed].max()
        p = top / held_out
        near = allowed & (correct >= top - np.sqrt(p * (1 - p) * held_out))
        return int(np.argmin(np.where(near, nll, np.inf)))
    score = correct
    if rule == "smooth":
        padded = np.pad(correct, 1, mode="edge")
        score = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    best = max(range(len(score)), key=lambda j: (bool(allowed[j]), score[j], -nll[j]))
    if rule == "one_se":  # the strongest penalty within one standard error of the best
        p = correct[best] / held_out
        floor = correct[best] - np.sqrt(p * (1 - p) * held_out)
        best = min(j for j in range(len(score)) if allowed[j] and correct[j] >= floor)
    return best


def _stratified_subset(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``size`` row indices, the classes in proportion (spread through each class)."""
    if len(y) <= size:
        return np.arange(len(y))
    order = np.lexsort((rng.random(len(y)), y))  # by class, random within a class
    keep = np.zeros(len(y), dtype=bool)
    keep[order[np.linspace(0, len(y) - 1, size).astype(int)]] = True
    return np.flatnonzero(keep)


def _stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number per row; each class dealt round the folds from a random start."""
    order = np.lexsort((rng.random(len(y)), y))
    fold = np.empty(len(y), dtype=np.int64)
    fold[order] = (np.arange(len(y)) + int(rng.integers(folds))) % folds
    return fold
