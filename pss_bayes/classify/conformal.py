"""Split-conformal prediction sets from soft labels, and a calibration check.

The nonconformity score of subgroup ``k`` for a patient is ``1 - p_k`` (the
calibrated probability the classifier gives ``k``). On held-out patients whose
label is known only as posterior membership probabilities ``w_ik``, every
subgroup contributes its score with weight ``w_ik``: the weighted empirical
distribution is the expectation, over labels drawn from the posterior, of the
usual empirical distribution of true-label scores. With one-hot weights it is
exactly standard split conformal prediction: the threshold is the
``ceil((n + 1) * coverage)``-th smallest held-out score, and a new patient
exchangeable with the held-out ones gets a set containing its label with
probability at least ``coverage``.

The class-conditional variant computes one threshold per subgroup from the
held-out patients of that subgroup (weights ``w_ik``, effective size
``sum_i w_ik``), so coverage holds within each subgroup, not only on average.
When too few patients are held out for the level asked, the threshold is 1 and
the set holds every subgroup: the honest answer with that little data.
"""

from __future__ import annotations

import numpy as np

#: Tolerance on cumulative weights (soft labels are sums of floats).
_EPS = 1e-9


def conformal_quantile(scores: np.ndarray, weights: np.ndarray, coverage: float) -> float:
    """Finite-sample conformal quantile of weighted scores.

    Parameters
    ----------
    scores
        Nonconformity scores, any shape.
    weights
        Non-negative weights, same shape; their sum is the (effective) number
        of held-out patients ``n``.
    coverage
        Target coverage in (0, 1).

    Returns
    -------
    float
        The smallest score ``s`` whose weighted count of scores ``<= s`` reaches
        ``coverage * (n + 1)``, or 1.0 (the largest possible score) when the
        held-out weight is too small to reach it.
    """
    scores, weights = np.ravel(scores), np.ravel(weights)
    n = weights.sum()
    needed = coverage * (n + 1)
    if needed > n + _EPS:
        return 1.0
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    position = int(np.searchsorted(cumulative, needed - _EPS))
    return float(scores[order][min(position, len(order) - 1)])


def conformal_thresholds(proba: np.ndarray, weights: np.ndarray, coverage: float,
                         class_conditional: bool) -> np.ndarray:
    """One score threshold per subgroup from held-out patients.

    Parameters
    ----------
    proba
        Calibrated probabilities of the held-out patients, ``(n, K)``.
    weights
        Their posterior membership probabilities (or one-hot labels), ``(n, K)``.
    coverage
        Target coverage.
    class_conditional
        One threshold per subgroup (``True``) or one shared threshold.

    Returns
    -------
    numpy.ndarray
        ``(K,)`` thresholds on ``1 - p_k``.
    """
    scores = 1.0 - proba
    k = proba.shape[1]
    if class_conditional:
        return np.array([conformal_quantile(scores[:, j], weights[:, j], coverage) for j in range(k)])
    return np.full(k, conformal_quantile(scores, weights, coverage))


def prediction_sets(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Membership of each subgroup in each patient's prediction set, ``(n, K)`` booleans.

    A subgroup is in the set when its score ``1 - p_k`` is at most its
    threshold. The most probable subgroup is always included, so no set is
    empty (this can only raise coverage).
    """
    inside = (1.0 - proba) <= thresholds[None, :] + _EPS
    inside[np.arange(len(proba)), proba.argmax(1)] = True
    return inside


def expected_calibration_error(proba: np.ndarray, targets: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top-class probability.

    Over equal-width bins of the top probability, the bin's share times the
    absolute gap between its mean top probability and its accuracy; accuracy
    of a patient is ``targets[i, top]`` (1/0 for hard labels, the posterior
    probability of the predicted subgroup for soft labels).
    """
    top = proba.argmax(1)
    confidence = proba[np.arange(len(proba)), top]
    accuracy = targets[np.arange(len(proba)), top]
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum((which == b).mean() * abs(confidence[which == b].mean() - accuracy[which == b].mean())
                     for b in np.unique(which)))
