"""Soft-label softmax regression, its ensemble and the temperature, on synthetic data."""

import numpy as np
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from pss_bayes.classify.ensemble import fit_ensemble, fit_softmax, fit_temperature, impute_draw, class_statistics


def _blobs(rng, n=200, k=3, p=4):
    labels = rng.integers(0, k, n)
    X = rng.normal(size=(n, p)) + 1.5 * np.eye(k, p)[labels]
    return X, labels


def test_hard_labels_match_scikit_learn_logistic_regression():
    X, labels = _blobs(np.random.default_rng(0))
    Z = StandardScaler().fit_transform(X)
    reference = LogisticRegression(C=0.5, tol=1e-10).fit(Z, labels).predict_proba(Z)
    coef, intercept = fit_softmax(Z, np.eye(3)[labels], C=0.5)
    np.testing.assert_allclose(softmax(Z @ coef.T + intercept, axis=1), reference, atol=1e-3)


def test_soft_labels_equal_weighted_duplicated_rows():
    rng = np.random.default_rng(1)
    X, _ = _blobs(rng, n=60)
    soft = rng.dirichlet(np.ones(3), size=60)
    coef, intercept = fit_softmax(X, soft)
    rows = np.repeat(np.arange(60), 3)
    coef2, intercept2 = fit_softmax(X[rows], np.tile(np.eye(3), (60, 1)), weights=soft.ravel())
    np.testing.assert_allclose(X @ coef.T + intercept, X @ coef2.T + intercept2, atol=1e-5)


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=2.0, size=(1, 4000, 3))
    proba = softmax(logits[0], axis=1)
    labels = (rng.random(4000)[:, None] > np.cumsum(proba, 1)).sum(1)
    assert abs(fit_temperature(3.0 * logits, np.eye(3)[labels]) - 3.0) < 0.3


def test_members_follow_their_posterior_draws():
    rng = np.random.default_rng(3)
    X, labels = _blobs(rng, n=90)
    draws = np.stack([np.eye(3)[labels], np.eye(3)[(labels + 1) % 3]])      # two disagreeing draws
    ensemble = fit_ensemble(X, draws, np.zeros(4, bool), n_members=2, C=1.0, rng=rng)
    predicted = ensemble.member_proba(X).argmax(2)
    agreement = sorted((predicted == labels).mean(1))
    assert agreement[0] < 0.3 < 0.6 < agreement[1]


def test_missing_training_values_are_drawn_from_the_patients_subgroup():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.r_[np.zeros(50), np.full(50, 10.0)], np.r_[np.zeros(50), np.ones(50)]])
    targets = np.eye(2)[np.r_[np.zeros(50, int), np.ones(50, int)]]
    X[[0, 99], 0] = np.nan
    X[99, 1] = np.nan
    done = impute_draw(X, targets, np.array([False, True]), class_statistics(X, targets), rng)
    assert np.isfinite(done).all()
    assert abs(done[0, 0]) < 1 and abs(done[99, 0] - 10) < 1 and done[99, 1] == 1.0
