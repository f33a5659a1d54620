"""Choosing a small biomarker panel that separates the subgroups.

Two steps, both on the training patients only (the held-out patients stay
untouched for calibration and conformal sets):

1. Screen (fits only): a biomarker is a candidate when the posterior says it
   differs between at least two subgroups, i.e. for some pair of subgroups the
   posterior probability that its effect is larger in one than in the other is
   at least :data:`CREDIBLE`. Markers that no subgroup pair credibly differs
   on cannot separate subgroups and are not considered.
2. Greedy forward selection: starting from the empty panel, add the candidate
   that most improves the softmax regression on the posterior membership
   probabilities (largest score statistic, i.e. expected drop in soft log
   loss), until the panel has the size asked. Redundant markers (e.g. a second
   gene of a module already represented) add little and are passed over.

The curve reports, for each panel size along the greedy path and for all
biomarkers together, how well a classifier on that panel agrees with the full
model, estimated by cross-validation on the training patients.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import softmax

from pss_bayes.classify.ensemble import class_statistics, fit_softmax, impute_draw, soft_log_loss
from pss_bayes.classify.splits import stratified_folds
from pss_bayes.classify.training import TrainingData
from pss_bayes.errors import ClassifierError

#: Posterior probability of an ordered difference that makes a marker a candidate.
CREDIBLE = 0.95
#: Folds of the cross-validation behind the panel curve.
CURVE_FOLDS = 5


def credible_markers(effects: np.ndarray, prob: float = CREDIBLE) -> np.ndarray:
    """Markers on which some pair of subgroups credibly differs.

    Parameters
    ----------
    effects
        ``(S, K, p)`` posterior draws of the subgroup effects.
    prob
        Posterior probability of ``effect_k > effect_l`` (or ``<``) required.

    Returns
    -------
    numpy.ndarray
        ``(p,)`` booleans.
    """
    k = effects.shape[1]
    found = np.zeros(effects.shape[2], dtype=bool)
    for a in range(k):
        for b in range(a + 1, k):
            above = (effects[:, a] > effects[:, b]).mean(0)
            found |= np.maximum(above, 1 - above) >= prob
    return found


def score_statistics(X: np.ndarray, targets: np.ndarray, chosen: Sequence[int], candidates: Sequence[int],
                     C: float) -> np.ndarray:
    """Score (Rao) statistic of adding each candidate column to the softmax regression on ``chosen``.

    ``g' (I + 1/C)^-1 g`` with ``g`` the gradient of the soft log loss with
    respect to the candidate's K new coefficients at the current fit and ``I``
    their Fisher information: about twice the drop in log loss the candidate
    would bring, without refitting for every candidate.
    """
    coef, intercept = fit_softmax(X[:, list(chosen)], targets, C=C)
    proba = softmax(X[:, list(chosen)] @ coef.T + intercept, axis=1)
    z = X[:, list(candidates)]
    z = (z - z.mean(0)) / np.where(z.std(0) > 1e-12, z.std(0), 1.0)
    grad = z.T @ (proba - targets)                                            # (candidates, K)
    k = targets.shape[1]
    curvature = -proba[:, :, None] * proba[:, None, :]
    curvature[:, np.arange(k), np.arange(k)] += proba
    info = np.einsum("ic,ikl->ckl", z ** 2, curvature) + np.eye(k) / C
    return np.einsum("ck,ck->c", grad, np.linalg.solve(info, grad[..., None])[..., 0])


def greedy_order(X: np.ndarray, targets: np.ndarray, candidates: Sequence[int], size: int,
                 C: float) -> list[int]:
    """Columns chosen one at a time, each the one with the largest score statistic given those before."""
    chosen: list[int] = []
    remaining = list(candidates)
    while remaining and len(chosen) < size:
        best = int(np.argmax(score_statistics(X, targets, chosen, remaining, C)))
        chosen.append(remaining.pop(best))
    return chosen


def cross_validated(X: np.ndarray, targets: np.ndarray, folds: np.ndarray, C: float) -> tuple[float, float]:
    """Agreement with the most probable subgroup and soft log loss, out of fold."""
    proba = np.empty_like(targets)
    for f in np.unique(folds):
        test = folds == f
        coef, intercept = fit_softmax(X[~test], targets[~test], C=C)
        proba[test] = softmax(X[test] @ coef.T + intercept, axis=1)
    agreement = float((proba.argmax(1) == targets.argmax(1)).mean())
    return agreement, soft_log_loss(proba, targets)


def panel_curve(X: np.ndarray, targets: np.ndarray, order: Sequence[int], names: Sequence[str], C: float,
                rng: np.random.Generator) -> pd.DataFrame:
    """Cross-validated agreement and log loss for each prefix of ``order`` and for all columns.

    Returns
    -------
    pandas.DataFrame
        ``size``, ``added`` (the marker added at that size; ``all`` for the
        last row, every biomarker of the fit), ``agreement`` (share of training
        patients whose most probable subgroup under the full model the panel
        classifier predicts, out of fold) and ``log_loss`` (soft, nats).
    """
    folds = stratified_folds(targets.argmax(1), min(CURVE_FOLDS, len(targets)), rng)
    rows = []
    for size in range(1, len(order) + 1):
        agreement, loss = cross_validated(X[:, list(order[:size])], targets, folds, C)
        rows.append({"size": size, "added": names[order[size - 1]], "agreement": agreement, "log_loss": loss})
    agreement, loss = cross_validated(X, targets, folds, C)
    rows.append({"size": X.shape[1], "added": "all", "agreement": agreement, "log_loss": loss})
    return pd.DataFrame(rows)


def choose_panel(data: TrainingData, rows: np.ndarray, requested: Sequence[str] | None, size: int, C: float,
                 rng: np.random.Generator) -> tuple[list[int], pd.DataFrame]:
    """Columns of the panel in order of selection, and its curve, from the training ``rows`` only.

    With ``requested`` biomarkers the greedy order runs over them alone and
    keeps them all; otherwise over the screened candidates (every biomarker
    when the data carry no posterior effects, or when none passes the screen)
    up to ``size``. Missing training values are completed once at random (see
    :func:`pss_bayes.classify.ensemble.impute_draw`).
    """
    names = list(data.feature_names)
    if requested is not None:
        unknown = [b for b in requested if b not in names]
        if unknown:
            raise ClassifierError(f"panel biomarker(s) {unknown} are not in the fit; its biomarkers are {names}")
        candidates, size = [names.index(b) for b in requested], len(requested)
    else:
        screened = np.ones(len(names), bool) if data.effects is None else credible_markers(data.effects)
        candidates = [int(j) for j in np.flatnonzero(screened)] or list(range(len(names)))
    targets = data.targets[rows]
    completed = impute_draw(data.X[rows], targets, data.is_binary, class_statistics(data.X[rows], targets), rng)
    order = greedy_order(completed, targets, candidates, size, C)
    return order, panel_curve(completed, targets, order, names, C, rng)
