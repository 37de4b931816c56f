"""The in-house Dawid-Skene EM gives crowd-kit's answers, without crowd-kit's dependencies.

Real items (AG News, 4 classes; Banking77, 77 classes) labelled three times each by simulated
annotators of varied accuracy: four honest ones (10%, 20%, 30%, 40% wrong) and a spammer or an
adversary. crowd-kit stays in the ``dev`` extra for this comparison only.
"""

import doctest
import warnings

import numpy as np
import pytest

from stream_al.annotation import dawid_skene
from stream_al.annotation.adjudication import dawid_skene_many
from stream_al.annotation.dawid_skene import fit_many
from stream_al.simulate.annotators import SimulatedAnnotator, crowd_labels
from tests.data import rows

HONEST = [SimulatedAnnotator(f"honest-{e}", e) for e in (0.1, 0.2, 0.3, 0.4)]
SPAMMER = SimulatedAnnotator("spammer", kind="spammer")
ADVERSARY = SimulatedAnnotator("adversary", 0.8, kind="adversarial")


def crowd(dataset: str, n: int, last: SimulatedAnnotator, seed: int = 0):
    data = rows(dataset, n)
    ids, truth = [f"{dataset}-{i}" for i in range(n)], [y for _, y in data]
    labels = crowd_labels([*HONEST, last], ids, truth, sorted(set(truth)), 3,
                          np.random.default_rng(seed))
    return labels, dict(zip(ids, truth, strict=True))


def crowd_kit_fit(labels, gold, one_coin):
    """crowd-kit's model fitted as adjudication.py fitted it before the in-house EM."""
    pd = pytest.importorskip("pandas")
    aggregation = pytest.importorskip("crowdkit.aggregation")
    data = pd.DataFrame([(x.item_id, x.annotator_id, x.label) for x in labels],
                        columns=["task", "worker", "label"])
    with warnings.catch_warnings():  # crowd-kit 1.4 uses pandas APIs pandas 3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        if one_coin:
            return aggregation.OneCoinDawidSkene(n_iter=100).fit(data)
        true = pd.Series(gold, dtype=object) if gold else None
        return aggregation.DawidSkene(n_iter=100).fit(data, true)


def crowd_kit_accuracy(model) -> dict[str, float]:
    out: dict[str, float] = {}
    for (worker, said), row in model.errors_.iterrows():
        out[worker] = out.get(worker, 0.0) + float(model.priors_[said] * row[said])
    return out


CASES = {
    "full model, a spammer": ("ag_news", 1200, SPAMMER, 0, False),
    "full model, an adversary, 60 gold items": ("ag_news", 1200, ADVERSARY, 60, False),
    "one-coin, 77 classes": ("banking77", 1500, SPAMMER, 0, True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_verdicts_agree_with_crowd_kit(case):
    dataset, n, last, n_gold, one_coin = case
    labels, truth = crowd(dataset, n, last)
    gold = dict(list(truth.items())[:n_gold])
    model = crowd_kit_fit(labels, gold, one_coin)
    ours = dawid_skene_many(labels, gold, one_coin=one_coin)

    theirs = model.probas_.to_numpy()
    row = {str(t): i for i, t in enumerate(model.probas_.index)}
    classes = [str(c) for c in model.probas_.columns]
    crowd_items = [i for i in ours.verdicts if i not in gold]
    same = np.mean([ours.verdicts[i].label == classes[theirs[row[i]].argmax()]
                    for i in crowd_items])
    conf = np.array([(ours.verdicts[i].confidence, theirs[row[i]].max()) for i in crowd_items])
    assert same >= 0.99
    assert np.abs(conf[:, 0] - conf[:, 1]).max() < 1e-6
    assert ours.accuracy == pytest.approx(crowd_kit_accuracy(model), abs=1e-6)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_em_takes_crowd_kits_steps(case):
    """Same posteriors for every class, same number of rounds, same lower bound each round."""
    dataset, n, last, n_gold, one_coin = case
    labels, truth = crowd(dataset, n, last, seed=1)
    gold = dict(list(truth.items())[:n_gold])
    model = crowd_kit_fit(labels, gold, one_coin)
    fit = fit_many(((x.item_id, x.annotator_id, x.label) for x in labels),
                   gold, one_coin=one_coin)

    theirs = model.probas_.loc[fit.items, fit.classes].to_numpy()
    assert np.abs(fit.probas - theirs).max() < 1e-6
    assert fit.priors == pytest.approx(model.priors_[fit.classes].to_numpy(), abs=1e-9)
    assert fit.loss_history == pytest.approx(model.loss_history_, abs=1e-9)


def test_gold_items_are_clamped_to_their_known_label():
    labels = [("a", "w1", "x"), ("a", "w2", "x"), ("b", "w1", "y"), ("b", "w2", "x")]
    fit = fit_many(labels, gold={"a": "y", "unseen": "x", "b": "never-said"})
    assert fit.probas[fit.items.index("a")] == pytest.approx([0.0, 1.0], abs=1e-9)


def test_one_class_only_gives_certain_posteriors_and_no_nan():
    for one_coin in (False, True):
        fit = fit_many([("a", "w1", "x"), ("a", "w2", "x"), ("b", "w1", "x")], one_coin=one_coin)
        assert fit.classes == ["x"] and np.all(fit.probas == 1.0)
        assert all(np.isfinite(list(fit.accuracy().values())))


def test_no_labels_no_fit():
    fit = fit_many([])
    assert fit.items == [] and fit.probas.shape == (0, 0) and fit.accuracy() == {}


def test_the_module_example_runs():
    assert doctest.testmod(dawid_skene).failed == 0
