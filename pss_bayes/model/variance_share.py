"""Metropolis moves of how a biomarker's variance splits between its activity loading and its noise.

Within a module, ``y_ij = eta_ij + lambda_j a_i + e_ij`` with ``a_i ~ N(0, 1)`` and
``e_ij ~ N(0, sigma_j^2 / w_ij)``. Given the activities, the loading and the residual
variance are each well determined, but the data pin down mainly their sum
``lambda_j^2 + sigma_j^2``: Gibbs updates alternating between ``a``, ``lambda`` and
``sigma^2`` then trade the two against each other slowly (this was the least mixed
direction of the whole sampler, on small modules in particular).

These moves integrate the activities out. For one biomarker, with
``v = lambda^2 + sigma^2`` held fixed, the share ``rho = lambda^2 / v`` moves by a
random walk on ``logit(rho)`` (the sign of the loading is kept); the activities are
redrawn from their conditional right after, so together they form a blocked update
of loading, residual variance and activities. With ``p_ij = w_ij / sigma_j^2`` and,
per subject, ``T_i = sum_j p_ij lambda_j^2`` and ``S_i = sum_j p_ij lambda_j r_ij``,
a subject's log-likelihood in one module, activity integrated out, is

    sum_j [log p_ij - log 2 pi - p_ij r_ij^2] / 2 - log(1 + T_i) / 2 + S_i^2 / (2 (1 + T_i)),

so a proposal for one biomarker costs a few operations per subject. Biomarkers of one
module are updated in turn, one biomarker of every module at a time. During warm-up
each biomarker's step size is adapted towards an acceptance rate of 0.44 (the usual
target of a one-dimensional random walk); it is fixed while draws are kept.

A factor with exactly two biomarkers is not identified: its covariance
``diag(sigma^2) + lambda lambda'`` has three distinct entries for four parameters,
and ``(lambda_1, lambda_2) -> (c lambda_1, lambda_2 / c)`` with each ``sigma_j^2``
taking up the change of ``lambda_j^2`` leaves it unchanged. The posterior along
that ridge is set by the priors, and one-biomarker moves cross it only slowly (on a
cohort with a two-biomarker module, bulk ESS of about 300 per 16,000 draws for the
ratio of the two loadings against 6,000 for their product). A *ridge move* proposes
``log c`` from a normal random walk; the map is a one-parameter group with unit
Jacobian, so the Metropolis-Hastings ratio is that of the posterior (Liu & Sabatti
2000). With Student-t weights the likelihood is not exactly constant along the
ridge and enters the ratio.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.collapsed import ModuleBlocks
from pss_bayes.model.numerics import jit

#: Acceptance rate the warm-up adaptation aims at.
TARGET_ACCEPTANCE = 0.44
#: Step of the warm-up adaptation of a log step size per proposal.
ADAPTATION_RATE = 0.05


@jit
def _log_share_jacobian(rho: float, one_minus_rho: float) -> float:
    """Log-density factor of ``logit(rho)`` given ``v``: ``rho^(1/2) (1 - rho)``, up to terms in ``v``.

    From ``d(lambda, sigma^2) / d(v, rho) = sqrt(v) / (2 sqrt(rho))`` and
    ``d rho / d logit(rho) = rho (1 - rho)``.
    """
    return 0.5 * np.log(rho) + np.log(one_minus_rho)


class VarianceShare:
    """Share moves for one chain; holds the per-biomarker step sizes.

    Parameters
    ----------
    factor
        (J,) index of the activity factor of each biomarker, -1 where none.
    n_factors
        Number of activity factors.
    loading_sd
        Prior SD of a loading, ``lambda_j ~ N(0, loading_sd^2)``.
    noise_shape, noise_scale
        Inverse-gamma prior of a residual variance.
    """

    def __init__(self, factor: np.ndarray, n_factors: int, loading_sd: float, noise_shape: float,
                 noise_scale: float) -> None:
        self.blocks = ModuleBlocks.from_modules(factor, n_factors)
        self.loading_prec = loading_sd ** -2
        self.noise_shape, self.noise_scale = noise_shape, noise_scale
        self.log_step = np.zeros(len(factor))
        #: The two biomarkers of each two-biomarker factor, and the log step size of its ridge move.
        self.pairs = self.blocks.index[self.blocks.sizes == 2][:, :2]
        self.log_ridge_step = np.zeros(len(self.pairs))

    def step(self, rng: np.random.Generator, loading: np.ndarray, sigma2: np.ndarray, weights: np.ndarray,
             resid: np.ndarray, adapt: bool) -> np.ndarray:
        """One proposal per biomarker with an activity factor; updates ``loading`` and ``sigma2`` in place.

        Parameters
        ----------
        rng
            The chain's random generator.
        loading, sigma2
            (J,) current loadings and residual variances.
        weights
            (n, J) Student-t weights of observed continuous entries, 0 elsewhere.
        resid
            (n, J) data minus the predictor without activity (0 where unobserved).
        adapt
            Adapt the step sizes (warm-up only).

        Returns
        -------
        (J,) bool, true for the biomarkers whose proposal was accepted.
        """
        index, mask = self.blocks.index.T, self.blocks.mask.T                 # (W, F): slot, factor
        accepted = np.zeros(len(loading), dtype=bool)
        if not mask.any():
            return accepted
        noise = np.exp(self.log_step[index]) * rng.standard_normal(index.shape)
        log_u = np.log(rng.uniform(size=index.shape))
        _share_moves(index, mask, weights, resid, loading, sigma2,
                     self.log_step, noise, log_u, self.loading_prec, self.noise_shape, self.noise_scale, adapt,
                     accepted)
        for p, pair in enumerate(self.pairs):
            if self._ridge_move(rng, p, pair, loading, sigma2, weights, resid, adapt):
                accepted[pair] = True
        return accepted

    def _ridge_move(self, rng: np.random.Generator, p: int, pair: np.ndarray, loading: np.ndarray,
                    sigma2: np.ndarray, weights: np.ndarray, resid: np.ndarray, adapt: bool) -> bool:
        """One ridge move of the two-biomarker factor ``pair`` (module docstring); True if accepted."""
        lam, sig2 = loading[pair], sigma2[pair]
        c = np.exp(np.exp(self.log_ridge_step[p]) * rng.standard_normal())
        lam_new, sig2_new = ridge_map(lam, sig2, c)
        log_ratio = -np.inf
        if np.all(sig2_new > 0):
            w, r = weights[:, pair], resid[:, pair]
            log_ratio = (pair_loglik(lam_new, sig2_new, w, r) - pair_loglik(lam, sig2, w, r)
                         + self._log_prior(lam_new, sig2_new) - self._log_prior(lam, sig2))
        if adapt:
            self.log_ridge_step[p] += ADAPTATION_RATE * (np.exp(min(log_ratio, 0.0)) - TARGET_ACCEPTANCE)
        if np.log(rng.uniform()) < log_ratio:
            loading[pair], sigma2[pair] = lam_new, sig2_new
            return True
        return False

    def _log_prior(self, lam: np.ndarray, sig2: np.ndarray) -> float:
        return float(-0.5 * self.loading_prec * (lam ** 2).sum()
                     - ((self.noise_shape + 1.0) * np.log(sig2) + self.noise_scale / sig2).sum())


def ridge_map(lam: np.ndarray, sig2: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """The ridge move's map: loadings times ``(c, 1/c)``, each ``sigma^2`` keeping ``lambda^2 + sigma^2``."""
    lam_new = lam * np.array([c, 1.0 / c])
    return lam_new, sig2 + lam ** 2 - lam_new ** 2


def pair_loglik(lam: np.ndarray, sig2: np.ndarray, weights: np.ndarray, resid: np.ndarray) -> float:
    """Log-likelihood of a two-biomarker factor's residuals (n, 2), activity integrated out (up to a
    constant); ``weights`` are the Student-t weights, 0 where a value is unobserved."""
    prec = weights / sig2
    observed = prec > 0
    t = (prec * lam ** 2).sum(1)
    s = (prec * lam * resid).sum(1)
    own = np.where(observed, np.log(np.where(observed, prec, 1.0)) - prec * resid ** 2, 0.0).sum(1)
    return float(0.5 * (own - np.log1p(t) + s ** 2 / (1.0 + t)).sum())


@jit
def _share_moves(index, mask, weights, resid, loading, sigma2, log_step, noise, log_u, loading_prec,
                 noise_shape, noise_scale, adapt, accepted):
    """The proposals of :meth:`VarianceShare.step`, factor by factor.

    Per factor and subject, ``T_i``, ``S_i`` (module docstring), ``log(1 + T_i)`` and
    ``S_i^2 / (1 + T_i)`` are kept up to date as proposals are accepted; a proposal
    for biomarker ``j`` changes only its own terms.
    """
    n_slots, n_factors = index.shape
    n = weights.shape[0]
    t, s = np.empty(n), np.empty(n)
    log_opt, quad = np.empty(n), np.empty(n)
    for f in range(n_factors):
        for i in range(n):
            t[i], s[i] = 0.0, 0.0
        for slot in range(n_slots):
            if mask[slot, f]:
                j = index[slot, f]
                _add_terms(t, s, weights, resid, j, loading[j] ** 2 / sigma2[j], loading[j] / sigma2[j])
        for i in range(n):
            log_opt[i], quad[i] = np.log1p(t[i]), s[i] ** 2 / (1.0 + t[i])
        for slot in range(n_slots):
            if not mask[slot, f]:
                continue
            j = index[slot, f]
            lam, sig2 = loading[j], sigma2[j]
            v = lam ** 2 + sig2
            logit = np.log(lam ** 2) - np.log(sig2) + noise[slot, f]
            rho_new = 1.0 / (1.0 + np.exp(-logit))
            lam_new = (-1.0 if lam < 0 else 1.0) * np.sqrt(rho_new * v)
            sig2_new = v / (1.0 + np.exp(logit))
            da = lam_new ** 2 / sig2_new - lam ** 2 / sig2
            db = lam_new / sig2_new - lam / sig2
            like, n_obs, wr2 = 0.0, 0, 0.0
            for i in range(n):
                w = weights[i, j]
                if w == 0.0:
                    continue
                wr = w * resid[i, j]
                n_obs += 1
                wr2 += wr * resid[i, j]
                opt_new, s_new = 1.0 + t[i] + w * da, s[i] + wr * db
                like += (log_opt[i] - np.log(opt_new)) + (s_new ** 2 / opt_new - quad[i])
            log_ratio = (0.5 * like
                         - (0.5 * n_obs + noise_shape + 1.0) * (np.log(sig2_new) - np.log(sig2))
                         - (0.5 * wr2 + noise_scale) * (1.0 / sig2_new - 1.0 / sig2)
                         - 0.5 * loading_prec * (lam_new ** 2 - lam ** 2)
                         + _log_share_jacobian(rho_new, sig2_new / v) - _log_share_jacobian(lam ** 2 / v, sig2 / v))
            if np.isnan(log_ratio):
                log_ratio = -np.inf
            if adapt:
                log_step[j] += ADAPTATION_RATE * (np.exp(min(log_ratio, 0.0)) - TARGET_ACCEPTANCE)
            if log_u[slot, f] < log_ratio:
                loading[j], sigma2[j] = lam_new, sig2_new
                accepted[j] = True
                _add_terms(t, s, weights, resid, j, da, db)
                for i in range(n):
                    if weights[i, j] != 0.0:
                        log_opt[i], quad[i] = np.log1p(t[i]), s[i] ** 2 / (1.0 + t[i])


@jit
def _add_terms(t, s, weights, resid, j, a, b):
    """Add biomarker ``j``'s terms to ``T`` and ``S``, with ``a = lambda^2 / sigma^2``, ``b = lambda / sigma^2``."""
    for i in range(len(t)):
        t[i] += weights[i, j] * a
        s[i] += weights[i, j] * resid[i, j] * b
