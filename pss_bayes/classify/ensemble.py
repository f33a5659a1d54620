"""Multinomial logistic regression on soft labels, and ensembles of it over posterior draws.

The classifier's probabilities come from an ensemble of ``M`` softmax
regressions. Member ``m`` is fitted to the membership probabilities of one
posterior draw (the soft labels of that draw) with Bayesian-bootstrap weights on
the patients, so the members differ as much as the mixture's posterior and the
finite training sample allow; their spread gives the probability intervals.
The soft cross-entropy is a proper scoring rule, so a member estimates
``P(subgroup | panel)`` rather than a hard decision rule.

Arrays: ``X`` is patients x panel markers, ``targets`` patients x subgroups
(rows sum to one). Coefficients act on ``X`` as given (no internal scaling is
exposed): ``logits = X @ coef.T + intercept``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax

from pss_bayes.classify.splits import stratified_folds

#: Ridge on the intercepts, relative to the ridge on the weights; keeps the
#: intercept of a subgroup absent from a training subset finite.
INTERCEPT_RIDGE = 1e-3
#: Upper bound on Newton iterations (convergence takes about ten).
MAX_NEWTON_STEPS = 50


def fit_softmax(X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None, C: float = 1.0,
                start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fit one L2-penalised multinomial logistic regression to soft labels (Newton's method).

    Parameters
    ----------
    X
        Features (n x p), finite. Standardised internally, so the penalty treats
        every feature alike; the coefficients returned act on ``X`` as given.
    targets
        Soft labels (n x K), rows summing to one (one-hot rows for hard labels).
    weights
        Non-negative weight per row, as scikit-learn's ``sample_weight`` (default all one).
    C
        Inverse penalty strength, as in scikit-learn: the objective is
        ``sum_i w_i CE_i + ||W||^2 / (2 C)`` on standardised features.
    start
        ``(coef, intercept)`` of a nearby solution to start from (e.g. another
        ensemble member); the optimum does not depend on it.

    Returns
    -------
    coef, intercept
        ``(K, p)`` and ``(K,)``.
    """
    n, p = X.shape
    k = targets.shape[1]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    mean, sd = X.mean(0), X.std(0)
    sd[sd <= 1e-12] = 1.0
    z = np.column_stack([(X - mean) / sd, np.ones(n)])
    wt = w[:, None] * targets
    penalty = np.tile(np.r_[np.full(p, 1.0 / C), INTERCEPT_RIDGE / C], k)

    outer = (z[:, :, None] * z[:, None, :]).reshape(n, -1)
    diagonal = np.arange(k)

    def loss(theta: np.ndarray) -> float:
        logp = _log_softmax(z @ theta.reshape(k, p + 1).T)
        return float(-(wt * logp).sum() + 0.5 * (penalty * theta ** 2).sum())

    theta = np.zeros(k * (p + 1)) if start is None else \
        np.column_stack([start[0] * sd, start[1] + start[0] @ mean]).ravel()
    current = loss(theta)
    for _ in range(MAX_NEWTON_STEPS):
        prob = np.exp(_log_softmax(z @ theta.reshape(k, p + 1).T))
        wp = w[:, None] * prob
        grad = ((wp - wt).T @ z).ravel() + penalty * theta
        curvature = -wp[:, :, None] * prob[:, None, :]
        curvature[:, diagonal, diagonal] += wp
        hess = (curvature.reshape(n, k * k).T @ outer).reshape(k, k, p + 1, p + 1)
        hess = hess.transpose(0, 2, 1, 3).reshape(k * (p + 1), k * (p + 1)) + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-4:
            proposal = loss(theta - size * step)
            if proposal <= current:
                break
            size /= 2
        theta, change = theta - size * step, current - proposal
        current = proposal
        if np.abs(size * step).max() < 1e-8 or change < 1e-10 * max(1.0, abs(current)):
            break
    theta = theta.reshape(k, p + 1)
    coef = theta[:, :p] / sd
    intercept = theta[:, p] - coef @ mean
    return coef, intercept


def _log_softmax(eta: np.ndarray) -> np.ndarray:
    shifted = eta - eta.max(1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Softmax-regression members sharing one panel.

    Attributes
    ----------
    coef
        ``(M, K, p)`` coefficients.
    intercept
        ``(M, K)`` intercepts.
    """

    coef: np.ndarray
    intercept: np.ndarray

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Per-member logits, ``(M, n, K)``."""
        return np.einsum("np,mkp->mnk", X, self.coef) + self.intercept[:, None, :]

    def member_proba(self, X: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Per-member probabilities after temperature scaling, ``(M, n, K)``."""
        return softmax(self.logits(X) / temperature, axis=2)


def class_statistics(X: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Membership-weighted mean and SD of each observed feature in each subgroup, ``(K, p)`` each."""
    observed = np.isfinite(X)
    values = np.where(observed, X, 0.0)
    mass = targets.T @ observed + 1e-9
    mean = (targets.T @ values) / mass
    second = (targets.T @ values ** 2) / mass
    return mean, np.sqrt(np.clip(second - mean ** 2, 1e-6, None))


def impute_draw(X: np.ndarray, targets: np.ndarray, is_binary: np.ndarray, stats: tuple[np.ndarray, np.ndarray],
                rng: np.random.Generator) -> np.ndarray:
    """One random completion of the missing training values (training only; never at prediction).

    For each patient with a missing value a subgroup is drawn from its soft
    label, then each missing value from that subgroup's distribution of the
    marker (normal with the subgroup's mean and SD; Bernoulli with its
    positivity rate for binary markers). Repeating the draw across members
    carries the uncertainty of the missing values into the ensemble.
    """
    missing = ~np.isfinite(X)
    if not missing.any():
        return X
    mean, sd = stats
    rows = np.flatnonzero(missing.any(1))
    group = np.zeros(len(X), dtype=int)
    cum = np.cumsum(targets[rows], axis=1)
    group[rows] = (rng.random(len(rows))[:, None] > cum).sum(1).clip(max=targets.shape[1] - 1)
    r, c = np.nonzero(missing)
    g = group[r]
    draw = rng.normal(mean[g, c], sd[g, c])
    binary = is_binary[c]
    draw[binary] = (rng.random(binary.sum()) < np.clip(mean[g[binary], c[binary]], 0, 1)).astype(float)
    out = X.copy()
    out[r, c] = draw
    return out


def fit_ensemble(X: np.ndarray, draws: np.ndarray, is_binary: np.ndarray, n_members: int, C: float,
                 rng: np.random.Generator) -> Ensemble:
    """Fit ``n_members`` members, each to one posterior draw of the soft labels.

    Parameters
    ----------
    X
        Patients x panel markers; ``NaN`` where missing (completed at random per
        member, see :func:`impute_draw`).
    draws
        ``(S, n, K)`` soft labels per posterior draw (``S = 1`` for fixed labels).
        Draws are used without replacement while they last.
    is_binary
        Per panel marker.
    n_members, C
        Ensemble size and inverse penalty strength.
    rng
        Random generator (draw choice, bootstrap weights, completions).
    """
    n = X.shape[0]
    stats = class_statistics(X, draws.mean(0))
    picks = rng.permutation(draws.shape[0])[:n_members] if draws.shape[0] >= n_members else \
        rng.integers(0, draws.shape[0], n_members)
    coefs, intercepts = [], []
    for s in picks:
        weights = rng.dirichlet(np.ones(n)) * n
        completed = impute_draw(X, draws[s], is_binary, stats, rng)
        start = (coefs[0], intercepts[0]) if coefs else None
        coef, intercept = fit_softmax(completed, draws[s], weights, C, start)
        coefs.append(coef)
        intercepts.append(intercept)
    return Ensemble(np.stack(coefs), np.stack(intercepts))


def soft_log_loss(proba: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy of predicted probabilities against soft labels (nats)."""
    return float(-(targets * np.log(np.clip(proba, 1e-12, 1.0))).sum(1).mean())


def fit_temperature(member_logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature ``T`` minimising the soft log loss of ``mean_m softmax(logits_m / T)``.

    ``T > 1`` softens over-confident probabilities, ``T < 1`` sharpens
    under-confident ones; searched over ``[1/20, 20]``.
    """
    def loss(log_t: float) -> float:
        return soft_log_loss(softmax(member_logits / np.exp(log_t), axis=2).mean(0), targets)

    return float(np.exp(minimize_scalar(loss, bounds=(-np.log(20), np.log(20)), method="bounded",
                                        options={"xatol": 1e-4}).x))


def cross_fitted_temperature(X: np.ndarray, draws: np.ndarray, is_binary: np.ndarray, n_members: int,
                             C: float, rng: np.random.Generator, n_folds: int = 5) -> float:
    """Temperature fitted on out-of-fold ensemble logits of the training patients.

    Each fold's patients are predicted by an ensemble fitted on the other folds,
    so the temperature corrects the over- (or under-) confidence the ensemble
    shows on patients it has not seen. Patients with a missing panel value are
    predicted by no one and left out.
    """
    targets = draws.mean(0)
    folds = stratified_folds(targets.argmax(1), min(n_folds, len(X)), rng)
    complete = np.isfinite(X).all(1)
    logits = np.zeros((n_members, len(X), targets.shape[1]))
    for f in np.unique(folds):
        test = folds == f
        members = fit_ensemble(X[~test], draws[:, ~test], is_binary, n_members, C, rng)
        logits[:, test & complete] = members.logits(X[test & complete])
    return fit_temperature(logits[:, complete], targets[complete])
