"""Panel selection: the posterior screen, the greedy order and the curve, on synthetic data."""

import numpy as np

from pss_bayes.classify.panel import credible_markers, greedy_order, panel_curve


def test_only_markers_with_a_credible_subgroup_difference_are_candidates():
    rng = np.random.default_rng(0)
    effects = rng.normal(size=(500, 3, 2)) * 0.3
    effects[:, 0, 0] += 2.0                        # marker 0: subgroup 1 clearly above the others
    assert credible_markers(effects).tolist() == [True, False]


def test_greedy_selection_prefers_informative_markers_and_skips_redundant_ones():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 300)
    a = (labels == 1) * 2.0 + rng.normal(size=300)
    b = (labels == 2) * 2.0 + rng.normal(size=300)
    X = np.column_stack([rng.normal(size=300), a, a + 0.05 * rng.normal(size=300), b])
    order = greedy_order(X, np.eye(3)[labels], candidates=[0, 1, 2, 3], size=2, C=1.0)
    assert sorted(order) in ([1, 3], [2, 3])


def test_the_curve_reports_each_size_and_all_markers():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    X = np.column_stack([labels * 3.0 + rng.normal(size=200), rng.normal(size=(200, 2))])
    curve = panel_curve(X, np.eye(2)[labels], [0, 1], ["a", "b", "c"], 1.0, rng)
    assert curve["size"].tolist() == [1, 2, 3] and curve["added"].tolist() == ["a", "b", "all"]
    assert curve["agreement"].iloc[0] > 0.9
