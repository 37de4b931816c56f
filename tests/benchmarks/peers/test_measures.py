"""The measures every run is read with, on hand-made curves and label sequences."""

from benchmarks.peers.measures import Point, area_under_curve, labels_to_reach, labels_until_first


def curve(*points):
    return [Point(10 * (i + 1), labels, acc, acc) for i, (labels, acc) in enumerate(points)]


def test_labels_to_reach_is_the_labels_at_the_first_checkpoint_at_or_over_the_target():
    c = curve((5, 0.50), (10, 0.79), (15, 0.80), (20, 0.78), (25, 0.90))
    assert labels_to_reach(c, 0.80) == 15
    assert labels_to_reach(c, 0.85) == 25
    assert labels_to_reach(c, 0.50) == 5


def test_labels_to_reach_is_none_when_the_curve_never_gets_there():
    assert labels_to_reach(curve((5, 0.5), (10, 0.6)), 0.9) is None
    assert labels_to_reach([], 0.1) is None


def test_labels_until_the_first_label_of_a_class_counts_that_label():
    bought = ["World", "Sports", "World", "Business", "Sports"]
    assert labels_until_first(bought, "World") == 1
    assert labels_until_first(bought, "Business") == 4
    assert labels_until_first(bought, "Sci/Tech") is None


def test_area_under_curve_is_mean_accuracy_over_the_span_of_the_checkpoints():
    c = [Point(25, 1, 0.4, 0), Point(50, 2, 0.6, 0), Point(100, 4, 0.6, 0)]
    # trapezoids: (0.4+0.6)/2 * 0.25 + 0.6 * 0.5 = 0.425, over a span of 0.75
    assert abs(area_under_curve(c, 100) - 0.425 / 0.75) < 1e-12
