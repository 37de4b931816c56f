"""Agreement is computed correctly on cases worked by hand and published reference cases."""

import math

import numpy as np
import pytest

from stream_al.annotation.agreement import (
    RunningAgreement,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    reliability_matrix,
)
from stream_al.labels.base import Label
from stream_al.simulate.annotators import SimulatedAnnotator, crowd_labels


def labels_of(table: dict[str, str]) -> list[Label]:
    """{annotator: one character per item, '.' for no label} as Label records."""
    return [Label(f"u{i}", v, a, 0.0) for a, row in table.items()
            for i, v in enumerate(row) if v != "."]


def test_two_annotators_four_items_by_hand():
    """A: a a b b, B: a b b b.

    Krippendorff: coincidences o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5, n = 8;
    alpha = 1 - (n - 1) * (o_ab + o_ba) / (2 * n_a * n_b) = 1 - 7 * 2 / 30 = 8/15.
    Cohen: p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2, kappa = (3/4 - 1/2) / (1/2) = 1/2.
    """
    labels = labels_of({"A": "aabb", "B": "abbb"})
    assert krippendorff_alpha(labels) == pytest.approx(8 / 15)
    assert cohen_kappa(labels, "A", "B") == pytest.approx(0.5)


def test_krippendorffs_own_nominal_example_with_missing_values():
    """Krippendorff (2011), 'Computing Krippendorff's Alpha-Reliability': 4 observers,
    12 units, missing values; nominal alpha = 0.743."""
    labels = labels_of({"A": "123321412...", "B": "1233224125.3",
                        "C": ".3332342251.", "D": "12332441251."})
    assert krippendorff_alpha(labels) == pytest.approx(0.743, abs=5e-4)


def test_fleiss_kappa_on_the_textbook_table():
    """Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories: 0.210."""
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                      [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                      [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_refuses_unequal_raters_and_names_the_alternative():
    with pytest.raises(ValueError, match="krippendorff_alpha"):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))


def test_perfect_agreement_is_one_and_single_labels_give_nan():
    assert krippendorff_alpha(labels_of({"A": "abab", "B": "abab"})) == pytest.approx(1.0)
    assert krippendorff_alpha(labels_of({"A": "aaaa", "B": "aaaa"})) == 1.0
    assert math.isnan(krippendorff_alpha(labels_of({"A": "ab..", "B": "..ab"})))


def test_the_reliability_matrix_has_annotators_as_rows_and_nan_for_missing():
    M, annotators, classes = reliability_matrix(labels_of({"A": "ab.", "B": ".bb"}))
    assert annotators == ["A", "B"] and classes == ["a", "b"]
    assert np.isnan(M[0, 2]) and np.isnan(M[1, 0]) and M[1, 2] == 1


def test_agreement_falls_as_annotators_get_noisier(ag_news):
    rng = np.random.default_rng(0)
    alphas = []
    for error in (0.05, 0.2, 0.4):
        pool = [SimulatedAnnotator(f"a{i}", error) for i in range(3)]
        labels = crowd_labels(pool, ag_news.ids[:500], ag_news.labels[:500], ag_news.classes,
                              3, rng)
        alphas.append(krippendorff_alpha(labels))
    assert alphas[0] > alphas[1] > alphas[2] > 0
    # honest annotators with error e over 4 classes: alpha is about (1 - 4/3 e)^2
    assert alphas[1] == pytest.approx((1 - 4 / 3 * 0.2) ** 2, abs=0.05)


def test_running_agreement_keeps_a_window_of_recent_items():
    window = RunningAgreement(max_items=4)
    assert math.isnan(window.alpha)
    window.add_many(labels_of({"A": "abab", "B": "baba"}))  # total disagreement
    assert window.alpha < 0
    window.add_many([Label(f"v{i}", y, a, 0.0) for i, y in enumerate("abab") for a in "AB"])
    assert window.n_items == 4 and window.alpha == pytest.approx(1.0)
