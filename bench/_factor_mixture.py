"""A Gaussian mixture whose components share one low-rank-plus-diagonal covariance, fitted by EM.

The maximum-likelihood counterpart of a mixture with a few factors loading on every
biomarker, shared by all subgroups (``Sigma = L L' + diag(d)``, ``L`` of rank ``R``): the
model change real data with co-variation across modules seem to ask for. Used as a
baseline by ``bench/real_data.py`` to measure, before building it, what such a
covariance would change. The M-step for ``Sigma`` runs a few factor-analysis EM
iterations on the pooled within-component scatter (an ECM algorithm: every step raises
the likelihood).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import KMeans

#: EM iterations of the mixture, and factor-analysis iterations per M-step.
ITERATIONS, FACTOR_STEPS = 100, 20


def _factor_covariance(scatter: np.ndarray, loading: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor-analysis EM steps (Rubin & Thayer 1982) towards the ML fit of ``L L' + diag(d)`` to ``scatter``."""
    rank = loading.shape[1]
    for _ in range(FACTOR_STEPS):
        beta = loading.T @ np.linalg.inv(loading @ loading.T + np.diag(noise))      # (R, J)
        moment = np.eye(rank) - beta @ loading + beta @ scatter @ beta.T
        loading = scatter @ beta.T @ np.linalg.inv(moment)
        noise = np.maximum(np.diag(scatter - loading @ beta @ scatter), 1e-6)
    return loading, noise


def _log_densities(x: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(n, K) Gaussian log-densities of the rows of ``x`` under each mean with the shared ``cov``."""
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x[:, None, :] - means[None]).reshape(-1, x.shape[1]).T)
    maha = (z ** 2).sum(0).reshape(len(x), len(means))
    return -0.5 * (maha + x.shape[1] * np.log(2 * np.pi)) - np.log(np.diag(chol)).sum()


def fit_shared_factor_mixture(x: np.ndarray, k: int, rank: int, seed: int) -> tuple[float, np.ndarray]:
    """EM from a k-means start: (log-likelihood, labels)."""
    n, J = x.shape
    labels = KMeans(k, n_init=1, random_state=seed).fit_predict(x)
    resp = np.eye(k)[labels]
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred / n)
    loading = vectors[:, -rank:] * np.sqrt(np.maximum(values[-rank:], 1e-6))
    noise = np.maximum(np.diag(centred.T @ centred / n) - (loading ** 2).sum(1), 1e-3)
    loglik = -np.inf
    for _ in range(ITERATIONS):
        size = resp.sum(0) + 1e-12
        means = resp.T @ x / size[:, None]
        scatter = sum((resp[:, c, None] * (x - means[c])).T @ (x - means[c]) for c in range(k)) / n
        loading, noise = _factor_covariance(scatter, loading, noise)
        log_p = _log_densities(x, means, loading @ loading.T + np.diag(noise)) + np.log(size / n)
        total = logsumexp(log_p, axis=1)
        resp = np.exp(log_p - total[:, None])
        if total.sum() - loglik < 1e-6 * n:
            loglik = total.sum()
            break
        loglik = total.sum()
    return float(loglik), resp.argmax(1)


def shared_factor_gmm_bic(x: np.ndarray, k_max: int, ranks: tuple[int, ...] = (1, 2, 3), restarts: int = 5,
                          seed: int = 0) -> tuple[int, int, np.ndarray]:
    """Number of components and rank chosen by BIC over ``1..k_max`` x ``ranks``: (K, rank, labels)."""
    n, J = x.shape
    best: tuple[float, int, int, np.ndarray] | None = None
    for rank in ranks:
        for k in range(1, k_max + 1):
            loglik, labels = max((fit_shared_factor_mixture(x, k, rank, seed + r) for r in range(restarts)),
                                 key=lambda fitted: fitted[0])
            n_parameters = k * J + (k - 1) + J * rank - rank * (rank - 1) / 2 + J
            bic = -2.0 * loglik + n_parameters * np.log(n)
            if best is None or bic < best[0]:
                best = (bic, k, rank, labels)
    assert best is not None
    return best[1], best[2], best[3]
