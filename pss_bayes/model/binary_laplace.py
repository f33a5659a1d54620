"""Independence Metropolis-Hastings draws of the binary biomarkers' coefficients.

Given the labels and the pooling hyperparameters, a binary biomarker's coefficients
(baseline, covariates, batch, and the effects of the occupied subgroups) have the
posterior of a logistic regression with a Gaussian prior: log-concave, with one mode.
Pólya-Gamma Gibbs updates of it mix slowly when events are rare (Johndrow et al. 2019):
with a few positive controls the baseline is weakly determined, and it trades off
against every subgroup's effect one small step per sweep. Here each biomarker's whole
coefficient vector is proposed at once from a multivariate t centred at the exact mode
(Newton's method iterated to convergence, so the proposal depends only on what is
conditioned on), scaled by the inverse Hessian there, and accepted with the exact
Metropolis-Hastings ratio; the heavy tails keep the ratio bounded where the logistic
likelihood is flatter than its Gaussian approximation (a subgroup with no positives).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

#: Degrees of freedom of the multivariate t proposal.
PROPOSAL_DF = 8.0
#: Proposals per sweep (the mode and Hessian are computed once).
PROPOSALS = 2
# Newton converges quadratically: after a step below 1e-6 the mode is exact to about 1e-12.
_NEWTON_TOL = 1e-6
_NEWTON_MAX = 100


def _log_posterior(beta: np.ndarray, design: np.ndarray, y: np.ndarray, observed: np.ndarray,
                   prior_mean: np.ndarray, prior_prec: np.ndarray) -> np.ndarray:
    """(B,) log-likelihood plus log-prior, up to constants, of coefficients ``beta`` (B, q)."""
    eta = beta @ design.T                                                     # (B, n)
    like = (observed * (y * eta - np.logaddexp(0.0, eta))).sum(1)
    return like - 0.5 * (prior_prec * (beta - prior_mean) ** 2).sum(1)


def _hessian(prob: np.ndarray, design: np.ndarray, observed: np.ndarray, prior_prec: np.ndarray) -> np.ndarray:
    """(B, q, q) minus the log-posterior's Hessian, given the (B, n) fitted probabilities."""
    hessian = (design.T[None] * (observed * prob * (1.0 - prob))[:, None, :]) @ design
    diagonal = np.arange(design.shape[1])
    hessian[:, diagonal, diagonal] += prior_prec
    return hessian


def posterior_mode(start: np.ndarray, design: np.ndarray, y: np.ndarray, observed: np.ndarray,
                   prior_mean: np.ndarray, prior_prec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode and Hessian (of minus the log-posterior) of each biomarker's logistic regression.

    Newton's method with step halving until the log-posterior increases, so it converges
    from any start (the log-posterior is strictly concave) to the same mode.

    Parameters
    ----------
    start
        (B, q) starting coefficients (the result does not depend on them).
    design
        (n, q) predictors shared by the biomarkers.
    y, observed
        (B, n) outcomes (0 where unobserved) and observed indicators (float).
    prior_mean, prior_prec
        (B, q) independent Gaussian priors.

    Returns
    -------
    (B, q) modes and (B, q, q) Hessians at them.

    Raises
    ------
    RuntimeError
        If Newton's method has not converged after many iterations.
    """
    beta = start.copy()
    value = None
    for _ in range(_NEWTON_MAX):
        prob = expit(beta @ design.T)
        grad = (observed * (y - prob)) @ design - prior_prec * (beta - prior_mean)
        step = np.linalg.solve(_hessian(prob, design, observed, prior_prec), grad[:, :, None])[:, :, 0]
        if np.abs(step).max() < _NEWTON_TOL:
            beta = beta + step
            return beta, _hessian(expit(beta @ design.T), design, observed, prior_prec)
        if value is None:
            value = _log_posterior(beta, design, y, observed, prior_mean, prior_prec)
        scale = np.ones(len(beta))
        for _ in range(60):
            candidate = beta + scale[:, None] * step
            new_value = _log_posterior(candidate, design, y, observed, prior_mean, prior_prec)
            worse = new_value < value - 1e-12 * np.abs(value)
            if not worse.any():
                break
            scale = np.where(worse, 0.5 * scale, scale)
        beta, value = candidate, new_value
    raise RuntimeError("the mode of a binary biomarker's coefficients was not found (Newton's method "
                       "did not converge)")


def draw_coefficients(rng: np.random.Generator, current: np.ndarray, start: np.ndarray, design: np.ndarray,
                      y: np.ndarray, observed: np.ndarray, prior_mean: np.ndarray,
                      prior_prec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:data:`PROPOSALS` independence Metropolis-Hastings steps from ``current`` (B, q).

    ``start`` is where Newton's method starts (e.g. the previous sweep's mode: fewer
    iterations; the mode found does not depend on it). Returns the new coefficients
    and the mode, both (B, q).
    """
    mode, hessian = posterior_mode(start, design, y, observed, prior_mean, prior_prec)
    chol = np.linalg.cholesky(hessian)                                        # H = L L'
    q = design.shape[1]

    def log_proposal(beta: np.ndarray) -> np.ndarray:
        z = np.einsum("bij,bi->bj", chol, beta - mode)                        # L'(beta - mode)
        return -0.5 * (PROPOSAL_DF + q) * np.log1p((z ** 2).sum(1) / PROPOSAL_DF)

    beta = current.copy()
    log_target = _log_posterior(beta, design, y, observed, prior_mean, prior_prec)
    log_q = log_proposal(beta)
    for _ in range(PROPOSALS):
        normal = rng.standard_normal(beta.shape)
        scale = np.sqrt(PROPOSAL_DF / rng.chisquare(PROPOSAL_DF, size=(len(beta), 1)))
        # L' x = normal has covariance H^-1.
        offset = np.linalg.solve(chol.transpose(0, 2, 1), normal[:, :, None])[:, :, 0]
        candidate = mode + scale * offset
        cand_target = _log_posterior(candidate, design, y, observed, prior_mean, prior_prec)
        cand_q = log_proposal(candidate)
        take = np.log(rng.uniform(size=len(beta))) < (cand_target - log_target) - (cand_q - log_q)
        beta = np.where(take[:, None], candidate, beta)
        log_target = np.where(take, cand_target, log_target)
        log_q = np.where(take, cand_q, log_q)
    return beta, mode
