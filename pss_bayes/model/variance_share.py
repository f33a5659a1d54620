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
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.collapsed import ModuleBlocks

#: Acceptance rate the warm-up adaptation aims at.
TARGET_ACCEPTANCE = 0.44
#: Step of the warm-up adaptation of a log step size per proposal.
ADAPTATION_RATE = 0.05


def _log_share_jacobian(rho: np.ndarray, one_minus_rho: np.ndarray) -> np.ndarray:
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
        index, mask = self.blocks.index.T, self.blocks.mask.T                 # (W, F)
        accepted = np.zeros(len(loading), dtype=bool)
        if not mask.any():
            return accepted
        # Per slot of every factor: (W, F) parameters, (W, F, n) data. Padding slots have a
        # zero loading, so they add nothing to the sums, and their proposals are rejected.
        w, r = weights.T[index], resid.T[index]
        wr = w * r
        n_obs, wr2 = (w > 0).sum(2), (wr * r).sum(2)
        lam_all = np.where(mask, loading[index], 0.0)
        sig2_all = np.where(mask, sigma2[index], 1.0)
        t = np.einsum("wfn,wf->fn", w, lam_all ** 2 / sig2_all)                # (F, n)
        s = np.einsum("wfn,wf->fn", wr, lam_all / sig2_all)
        log_one_plus_t, quad = np.log(1.0 + t), s ** 2 / (1.0 + t)
        noise = np.exp(self.log_step[index]) * rng.standard_normal(index.shape)
        log_u = np.log(rng.uniform(size=index.shape))
        for slot in range(index.shape[0]):
            lam, sig2, valid = lam_all[slot], sig2_all[slot], mask[slot]
            v = lam ** 2 + sig2
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                logit = np.log(lam ** 2) - np.log(sig2) + noise[slot]
                rho_new = 1.0 / (1.0 + np.exp(-logit))
                lam_new = np.where(lam < 0, -1.0, 1.0) * np.sqrt(rho_new * v)
                sig2_new = v / (1.0 + np.exp(logit))
                t_new = t + w[slot] * (lam_new ** 2 / sig2_new - lam ** 2 / sig2)[:, None]
                s_new = s + wr[slot] * (lam_new / sig2_new - lam / sig2)[:, None]
                log_one_plus_t_new = np.log(1.0 + t_new)
                quad_new = s_new ** 2 / (1.0 + t_new)
                log_ratio = (
                    0.5 * ((log_one_plus_t - log_one_plus_t_new) + (quad_new - quad)).sum(1)
                    - (0.5 * n_obs[slot] + self.noise_shape + 1.0) * (np.log(sig2_new) - np.log(sig2))
                    - (0.5 * wr2[slot] + self.noise_scale) * (1.0 / sig2_new - 1.0 / sig2)
                    - 0.5 * self.loading_prec * (lam_new ** 2 - lam ** 2)
                    + _log_share_jacobian(rho_new, sig2_new / v) - _log_share_jacobian(lam ** 2 / v, sig2 / v))
            log_ratio = np.where(valid & ~np.isnan(log_ratio), log_ratio, -np.inf)
            cols = index[slot]
            if adapt:
                self.log_step[cols[valid]] += ADAPTATION_RATE * (
                    np.exp(np.minimum(log_ratio[valid], 0.0)) - TARGET_ACCEPTANCE)
            take = log_u[slot] < log_ratio
            if not take.any():
                continue
            loading[cols[take]], sigma2[cols[take]] = lam_new[take], sig2_new[take]
            t[take], s[take] = t_new[take], s_new[take]
            log_one_plus_t[take], quad[take] = log_one_plus_t_new[take], quad_new[take]
            accepted[cols[take]] = True
        return accepted
