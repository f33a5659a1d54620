"""Calibration and conformal coverage of the classifier where the true memberships are known.

Patients come from a three-subgroup Gaussian model, so each one's exact
membership probabilities are known; the classifier is trained on them as soft
labels (as it is on a fit's posterior memberships) and judged on fresh patients
whose subgroup is drawn from those probabilities.
"""

import numpy as np
import pytest
from scipy.special import softmax

from pss_bayes import SubgroupClassifier
from pss_bayes.classify import INDETERMINATE
from pss_bayes.classify.conformal import expected_calibration_error

pytestmark = pytest.mark.statistical

CENTRES = np.array([[1.5, 0.0, 0.0, 0.0], [0.0, 1.5, 0.0, 0.0], [0.0, 0.0, 1.5, 0.0]])


def _cohort(rng, n):
    labels = rng.integers(0, 3, n)
    X = CENTRES[labels] + rng.normal(size=(n, 4))
    memberships = softmax(-0.5 * ((X[:, None, :] - CENTRES[None]) ** 2).sum(2), axis=1)
    drawn = (rng.random(n)[:, None] > np.cumsum(memberships, 1)).sum(1)
    return X, memberships, drawn


def test_probabilities_are_calibrated_and_sets_cover_over_repeated_splits():
    rows = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X, memberships, _ = _cohort(rng, 600)
        model = SubgroupClassifier(n_members=10, random_state=seed).fit(X, memberships)
        X_new, memberships_new, drawn = _cohort(rng, 2000)
        proba = model.predict_proba(X_new)
        label = model.predict(X_new)
        decided = label != INDETERMINATE
        rows.append({"coverage": model.predict_sets(X_new)[np.arange(2000), drawn].mean(),
                     "ece": expected_calibration_error(proba, np.eye(3)[drawn]),
                     "agreement": (proba.argmax(1) == memberships_new.argmax(1)).mean(),
                     "accuracy": (proba.argmax(1) == drawn).mean(),
                     "decided_accuracy": (label[decided].astype(int) - 1 == drawn[decided]).mean(),
                     "ood": model.is_ood(X_new).mean(), "ood_shifted": model.is_ood(X_new + 5.0).mean()})
    mean = {key: np.mean([row[key] for row in rows]) for key in rows[0]}
    assert mean["coverage"] >= 0.9 - 0.02
    assert max(row["ece"] for row in rows) <= 0.05
    assert mean["agreement"] >= 0.97                       # with the Bayes-optimal (most probable) subgroup
    assert mean["decided_accuracy"] >= mean["accuracy"] + 0.05
    assert mean["ood"] <= 0.05 and mean["ood_shifted"] >= 0.95
