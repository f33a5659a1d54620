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

from pss_bayes.model.numerics import contiguous_floats, jit
from pss_bayes.model.sparse_design import SparseRows

#: Degrees of freedom of the multivariate t proposal.
PROPOSAL_DF = 8.0
#: Proposals per sweep (the mode and Hessian are computed once).
PROPOSALS = 2
# Newton converges quadratically: after a step below 1e-6 the mode is exact to about 1e-12.
_NEWTON_TOL = 1e-6
_NEWTON_MAX = 100


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
    return _mode(start, SparseRows.of(design), *contiguous_floats(y, observed, prior_mean, prior_prec))


def _mode(start: np.ndarray, sparse: SparseRows, *problem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`posterior_mode` given the design's non-zero entries and the rest as contiguous float arrays."""
    beta = np.array(start, dtype=float, order="C")
    hessian = np.empty(beta.shape + beta.shape[1:])
    if not _newton(beta, *sparse, *problem, hessian, _NEWTON_TOL, _NEWTON_MAX):
        raise RuntimeError("the mode of a binary biomarker's coefficients was not found (Newton's method "
                           "did not converge)")
    return beta, hessian


@jit
def _log_posterior(beta, indptr, indices, values, y, observed, prior_mean, prior_prec):
    """(B,) log-likelihood plus log-prior, up to constants, of coefficients ``beta`` (B, q)."""
    out = np.empty(beta.shape[0])
    for b in range(beta.shape[0]):
        out[b] = _evaluate(beta[b], indptr, indices, values, y[b], observed[b], prior_mean[b], prior_prec[b],
                           None, None)
    return out


@jit
def _evaluate(beta, indptr, indices, values, y, observed, prior_mean, prior_prec, grad, hessian):
    """Log-posterior at ``beta``; with ``grad`` and ``hessian`` given, also its gradient and minus its Hessian.

    One pass over the data: the exponential serves both the log-likelihood and the
    fitted probability.
    """
    q = len(beta)
    derivatives = grad is not None
    if derivatives:
        for c in range(q):
            grad[c] = 0.0
            for d in range(q):
                hessian[c, d] = 0.0
    total = 0.0
    for i in range(len(indptr) - 1):
        if observed[i] == 0.0:
            continue
        eta = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            eta += values[e] * beta[indices[e]]
        tail = np.exp(-abs(eta))                          # exp(-|eta|): no overflow
        total += observed[i] * (y[i] * eta - (max(eta, 0.0) + np.log1p(tail)))
        if derivatives:
            prob = 1.0 / (1.0 + tail) if eta >= 0.0 else tail / (1.0 + tail)
            r, w = observed[i] * (y[i] - prob), observed[i] * prob * (1.0 - prob)
            for e in range(indptr[i], indptr[i + 1]):
                grad[indices[e]] += r * values[e]
                wv = w * values[e]
                for f in range(e, indptr[i + 1]):
                    hessian[indices[e], indices[f]] += wv * values[f]
    for c in range(q):
        total -= 0.5 * prior_prec[c] * (beta[c] - prior_mean[c]) ** 2
        if derivatives:
            for d in range(c + 1, q):   # a row's columns come in increasing order: only c <= d was summed
                hessian[d, c] = hessian[c, d]
            grad[c] -= prior_prec[c] * (beta[c] - prior_mean[c])
            hessian[c, c] += prior_prec[c]
    return total


@jit
def _newton(beta, indptr, indices, values, y, observed, prior_mean, prior_prec, hessian, tol, max_iter):
    """Newton's method with step halving for each row of ``beta`` (in place); false if one did not converge."""
    B, q = beta.shape
    grad, step, candidate = np.empty(q), np.empty(q), np.empty(q)
    chol = np.empty((q, q))
    for b in range(B):
        args = (indptr, indices, values, y[b], observed[b], prior_mean[b], prior_prec[b])
        value = _evaluate(beta[b], *args, grad, hessian[b])
        converged = False
        for _ in range(max_iter):
            _cholesky_solve(hessian[b], grad, chol, step)
            largest = 0.0
            for c in range(q):
                if not np.isfinite(step[c]):
                    return False
                largest = max(largest, abs(step[c]))
            if largest < tol:
                for c in range(q):
                    beta[b, c] += step[c]
                _evaluate(beta[b], *args, grad, hessian[b])
                converged = True
                break
            scale = 1.0
            for _ in range(60):
                for c in range(q):
                    candidate[c] = beta[b, c] + scale * step[c]
                new_value = _evaluate(candidate, *args, grad, hessian[b])
                if new_value >= value - 1e-12 * abs(value):
                    break
                scale *= 0.5
            for c in range(q):
                beta[b, c] = candidate[c]
            value = new_value
        if not converged:
            return False
    return True


@jit
def _cholesky_solve(matrix, rhs, chol, out):
    """``out = matrix^-1 rhs`` for a symmetric positive definite ``matrix``, through its Cholesky factor."""
    q = len(rhs)
    for c in range(q):
        for d in range(c + 1):
            total = matrix[c, d]
            for e in range(d):
                total -= chol[c, e] * chol[d, e]
            chol[c, d] = np.sqrt(total) if c == d else total / chol[d, d]
    for c in range(q):                       # L z = rhs
        total = rhs[c]
        for e in range(c):
            total -= chol[c, e] * out[e]
        out[c] = total / chol[c, c]
    for c in range(q - 1, -1, -1):           # L' x = z
        total = out[c]
        for e in range(c + 1, q):
            total -= chol[e, c] * out[e]
        out[c] = total / chol[c, c]


def draw_coefficients(rng: np.random.Generator, current: np.ndarray, start: np.ndarray, design: np.ndarray,
                      y: np.ndarray, observed: np.ndarray, prior_mean: np.ndarray,
                      prior_prec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:data:`PROPOSALS` independence Metropolis-Hastings steps from ``current`` (B, q).

    ``start`` is where Newton's method starts (e.g. the previous sweep's mode: fewer
    iterations; the mode found does not depend on it). Returns the new coefficients
    and the mode, both (B, q).
    """
    sparse = SparseRows.of(design)
    problem = contiguous_floats(y, observed, prior_mean, prior_prec)
    mode, hessian = _mode(start, sparse, *problem)
    chol = np.linalg.cholesky(hessian)                                        # H = L L'
    q = design.shape[1]

    def log_proposal(beta: np.ndarray) -> np.ndarray:
        z = np.einsum("bij,bi->bj", chol, beta - mode)                        # L'(beta - mode)
        return -0.5 * (PROPOSAL_DF + q) * np.log1p((z ** 2).sum(1) / PROPOSAL_DF)

    beta = np.array(current, dtype=float, order="C")
    log_target = _log_posterior(beta, *sparse, *problem)
    log_q = log_proposal(beta)
    for _ in range(PROPOSALS):
        normal = rng.standard_normal(beta.shape)
        scale = np.sqrt(PROPOSAL_DF / rng.chisquare(PROPOSAL_DF, size=(len(beta), 1)))
        # L' x = normal has covariance H^-1.
        offset = np.linalg.solve(chol.transpose(0, 2, 1), normal[:, :, None])[:, :, 0]
        candidate = mode + scale * offset
        cand_target = _log_posterior(candidate, *sparse, *problem)
        cand_q = log_proposal(candidate)
        take = np.log(rng.uniform(size=len(beta))) < (cand_target - log_target) - (cand_q - log_q)
        beta = np.where(take[:, None], candidate, beta)
        log_target = np.where(take, cand_target, log_target)
        log_q = np.where(take, cand_q, log_q)
    return beta, mode
