"""Out-of-distribution flag on synthetic subgroups and controls."""

import numpy as np

from pss_bayes.classify.ood import fit_outlier_detector, upper_quantile


def _population(rng, n, centres):
    labels = rng.integers(0, len(centres), n)
    return np.asarray(centres)[labels] + rng.normal(size=(n, 3)), np.eye(len(centres))[labels]


def test_threshold_is_the_finite_sample_quantile_capped_at_the_largest_score():
    scores = np.arange(1.0, 20.0)                   # 19 scores
    assert upper_quantile(scores, 0.9) == 18.0      # ceil(20 * 0.9) = 18th smallest
    assert upper_quantile(scores, 0.99) == 19.0


def test_flags_controls_and_shifted_subjects_but_few_patients():
    rng = np.random.default_rng(0)
    centres = [[3.0, 0.0, 0.0], [0.0, 3.0, 3.0]]
    train, targets = _population(rng, 400, centres)
    held, _ = _population(rng, 200, centres)
    controls = rng.normal(size=(300, 3))
    detector = fit_outlier_detector(train, targets, np.zeros(3, bool), controls, held, quantile=0.95,
                                    control_bayes_factor=3.0)
    new_patients, _ = _population(rng, 1000, centres)
    new_controls = rng.normal(size=(1000, 3))
    shifted = new_patients + 6.0
    assert detector.flag(new_patients).mean() < 0.12
    assert detector.flag(new_controls).mean() > 0.5
    assert detector.flag(shifted).mean() > 0.95


def test_without_controls_only_atypical_subjects_are_flagged():
    rng = np.random.default_rng(1)
    train, targets = _population(rng, 300, [[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    detector = fit_outlier_detector(train, targets, np.zeros(3, bool), None, train[:100], quantile=0.99,
                                    control_bayes_factor=3.0)
    assert detector.control is None
    assert detector.flag(np.array([[0.0, 9.0, 0.0]])).all()
