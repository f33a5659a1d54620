"""Split-conformal thresholds and sets, and the calibration error, on synthetic probabilities."""

import numpy as np
import pytest

from pss_bayes.classify.conformal import (conformal_quantile, conformal_thresholds, expected_calibration_error,
                                          prediction_sets)


def test_hard_labels_give_the_textbook_split_conformal_quantile():
    rng = np.random.default_rng(0)
    scores = rng.random(19)
    # ceil((19 + 1) * 0.9) = 18th smallest score
    assert conformal_quantile(scores, np.ones(19), 0.9) == np.sort(scores)[17]


def test_too_few_held_out_patients_give_the_full_set():
    assert conformal_quantile(np.array([0.1, 0.2, 0.3]), np.ones(3), 0.9) == 1.0
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    thresholds = conformal_thresholds(proba, np.eye(2)[[0, 1, 0]], 0.9, class_conditional=False)
    assert prediction_sets(proba, thresholds).all()


def test_soft_labels_weigh_every_subgroup_by_its_membership():
    scores = np.array([[0.1, 0.9], [0.3, 0.7]])
    # one-hot rows: only the labelled subgroup's score counts
    assert conformal_quantile(scores, np.array([[1.0, 0.0], [1.0, 0.0]]), 0.5) == 0.3
    # half the mass on the high scores moves the quantile up
    assert conformal_quantile(scores, np.full((2, 2), 0.5), 0.5) == 0.7


def test_sets_always_hold_the_most_probable_subgroup():
    proba = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33]])
    sets = prediction_sets(proba, np.zeros(3))
    assert sets.tolist() == [[True, False, False], [True, False, False]]


def _calibrated_sample(rng, n, k=3):
    proba = rng.dirichlet(np.full(k, 0.7), size=n)
    labels = (rng.random(n)[:, None] > np.cumsum(proba, 1)).sum(1)
    return proba, labels


@pytest.mark.parametrize("class_conditional", [False, True])
def test_coverage_holds_over_repeated_splits(class_conditional):
    rng = np.random.default_rng(1)
    covered, per_class = [], {k: [] for k in range(3)}
    for _ in range(300):
        proba, labels = _calibrated_sample(rng, 120)
        thresholds = conformal_thresholds(proba[:80], np.eye(3)[labels[:80]], 0.9, class_conditional)
        sets = prediction_sets(proba[80:], thresholds)
        hit = sets[np.arange(40), labels[80:]]
        covered.append(hit.mean())
        for k in range(3):
            per_class[k].extend(hit[labels[80:] == k])
    assert np.mean(covered) >= 0.9 - 0.01
    if class_conditional:
        assert min(np.mean(v) for v in per_class.values()) >= 0.9 - 0.02


def test_soft_label_conformal_covers_labels_drawn_from_the_memberships():
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(300):
        proba, labels = _calibrated_sample(rng, 120)
        thresholds = conformal_thresholds(proba[:80], proba[:80], 0.9, class_conditional=False)
        covered.append(prediction_sets(proba[80:], thresholds)[np.arange(40), labels[80:]].mean())
    assert np.mean(covered) >= 0.9 - 0.01


def test_calibration_error_is_small_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(3)
    proba, labels = _calibrated_sample(rng, 5000)
    assert expected_calibration_error(proba, np.eye(3)[labels]) < 0.02
    sharp = proba ** 4 / (proba ** 4).sum(1, keepdims=True)
    assert expected_calibration_error(sharp, np.eye(3)[labels]) > 0.1
