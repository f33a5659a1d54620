"""Cross-fitting on the training patients: the panel curve and the calibration temperature.

The training patients are split into folds. For each fold the whole procedure
is run on the other folds (panel chosen greedily, softmax regressions and an
ensemble fitted) and the fold's patients are predicted. Because the panel is
chosen again inside each fold, neither estimate profits from having chosen the
panel on the patients it is judged on:

- the curve: for each panel size, the share of patients whose most probable
  subgroup under the full model the panel classifier predicts, and the soft
  log loss (one softmax regression per size on the posterior mean
  memberships), plus the same with every biomarker;
- the temperature ``T`` that minimises the soft log loss of the ensemble's
  out-of-fold probabilities ``mean_m softmax(logits_m / T)``.

Held-out patients with a missing value in the columns at hand are left out of
that estimate (nothing is imputed for a patient being predicted). A curve row
that no patient has every biomarker of cannot be estimated (NaN): with missing
values scattered over the patients, this is typically the row of every
biomarker.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import softmax

from pss_bayes.classify.ensemble import class_statistics, fit_ensemble, fit_softmax, impute_draw, soft_log_loss
from pss_bayes.classify.panel import greedy_order
from pss_bayes.classify.splits import stratified_folds
from pss_bayes.classify.training import TrainingData
from pss_bayes.errors import ClassifierError

#: Number of folds of the cross-fitting.
N_FOLDS = 5


def fit_temperature(member_logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature ``T`` minimising the soft log loss of ``mean_m softmax(logits_m / T)``.

    ``T > 1`` softens over-confident probabilities, ``T < 1`` sharpens
    under-confident ones; searched over ``[1/20, 20]``.
    """
    def loss(log_t: float) -> float:
        return soft_log_loss(softmax(member_logits / np.exp(log_t), axis=2).mean(0), targets)

    return float(np.exp(minimize_scalar(loss, bounds=(-np.log(20), np.log(20)), method="bounded",
                                        options={"xatol": 1e-4}).x))


def _predict(X_fit: np.ndarray, targets: np.ndarray, X_test: np.ndarray, C: float) -> np.ndarray:
    """Probabilities for the complete rows of ``X_test`` (NaN rows elsewhere)."""
    coef, intercept = fit_softmax(X_fit, targets, C=C)
    out = np.full((len(X_test), targets.shape[1]), np.nan)
    complete = np.isfinite(X_test).all(1)
    out[complete] = softmax(X_test[complete] @ coef.T + intercept, axis=1)
    return out


def cross_fit(data: TrainingData, rows: np.ndarray, candidates: Sequence[int], size: int, order: Sequence[int],
              n_members: int, C: float, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    """Panel curve and calibration temperature from nested cross-fitting over ``rows``.

    Parameters
    ----------
    data, rows
        Training data and the rows (patients) to cross-fit over.
    candidates, size
        Columns the greedy selection may choose from, and how many it keeps.
    order
        The panel chosen on all ``rows``, to name the marker added at each size.
    n_members, C
        Ensemble size and inverse penalty strength.
    rng
        Random generator.

    Returns
    -------
    curve : pandas.DataFrame
        ``size``, ``added`` (``all`` for the last row, every biomarker),
        ``agreement`` and ``log_loss`` (soft, nats), out of fold; both NaN in
        a row that no patient has every biomarker of.
    temperature : float

    Raises
    ------
    ClassifierError
        If no patient has every biomarker of its fold's panel, so that the
        temperature cannot be fitted.
    """
    targets, k = data.targets[rows], data.draws.shape[2]
    folds = stratified_folds(targets.argmax(1), min(N_FOLDS, len(rows)), rng)
    proba = np.full((len(order) + 1, len(rows), k), np.nan)
    logits = np.full((n_members, len(rows), k), np.nan)
    for f in np.unique(folds):
        fit, test = rows[folds != f], folds == f
        completed = impute_draw(data.X[fit], data.targets[fit], data.is_binary,
                                class_statistics(data.X[fit], data.targets[fit]), rng)
        chosen = greedy_order(completed, data.targets[fit], candidates, size, C)
        x_test = data.X[rows[test]]
        for s in range(1, len(order) + 1):
            proba[s - 1, test] = _predict(completed[:, chosen[:s]], data.targets[fit], x_test[:, chosen[:s]], C)
        proba[-1, test] = _predict(completed, data.targets[fit], x_test, C)
        complete = np.flatnonzero(test)[np.isfinite(x_test[:, chosen]).all(1)]
        ensemble = fit_ensemble(data.X[fit][:, chosen], data.draws[:, fit], data.is_binary[chosen], n_members, C, rng)
        logits[:, complete] = ensemble.logits(data.X[rows[complete]][:, chosen])
    names = [data.feature_names[j] for j in order] + ["all"]
    curve = [{"size": s + 1 if added != "all" else data.X.shape[1], "added": added, **_judged(proba[s], targets)}
             for s, added in enumerate(names)]
    kept = np.isfinite(logits[0]).all(1)
    if not kept.any():
        raise ClassifierError(f"none of the {len(rows)} training patients has every biomarker of the panel "
                              "measured, so the probabilities cannot be calibrated; choose a panel of "
                              "biomarkers measured together in more patients")
    return pd.DataFrame(curve), fit_temperature(logits[:, kept], targets[kept])


def _judged(proba: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Agreement and soft log loss over the patients with probabilities (rows without NaN).

    Both are NaN when no patient has them: the statistic is undefined, not zero.
    """
    kept = np.isfinite(proba).all(1)
    if not kept.any():
        return {"agreement": np.nan, "log_loss": np.nan}
    return {"agreement": float((proba[kept].argmax(1) == targets[kept].argmax(1)).mean()),
            "log_loss": soft_log_loss(proba[kept], targets[kept])}
