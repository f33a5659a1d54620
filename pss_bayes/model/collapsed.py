"""Subgroup effects' likelihood with the patients' module activities integrated out.

Given the baselines, Student-t weights and Pólya-Gamma variables, a patient's
residuals ``r`` (data minus everything but the subgroup effect and the activity)
satisfy, within module ``m``, ``r_j = delta_j + lambda_j a + e_j`` with
``e_j ~ N(0, 1/p_j)`` and activity ``a ~ N(0, 1)``. Integrating ``a`` leaves, as a
function of the module's effects, the Gaussian factor

    exp(c - (r - delta)' Q (r - delta) / 2),   Q = D - D lambda lambda' D / (1 + lambda' D lambda),

with ``D = diag(p)``. Sums of ``Q`` and ``h = Q r`` over a group of patients are
sufficient for its effects, and with ``delta_j = theta_m + u_j``,
``u_j ~ N(0, tau2_m)``, ``theta_m ~ N(0, s2)`` a whole component's effects
integrate in closed form, one small dense Gaussian integral per module.

The label moves (:mod:`~pss_bayes.model.birth_death`,
:mod:`~pss_bayes.model.split_merge`) use this so that a patient's activity, which
adapts to the subgroup it is in, does not hold it there: conditioning the moves on
the activities made them reject almost every proposal out of a state the
activities had settled into.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pss_bayes.model.numerics import LOG_2PI, contiguous_floats, jit


@dataclass(frozen=True)
class ModuleBlocks:
    """Biomarkers grouped by module, padded to the largest module's width ``W``."""

    index: np.ndarray   # (M, W) biomarker in each slot (0 in padding)
    mask: np.ndarray    # (M, W) bool, true where a slot holds a biomarker

    @classmethod
    def from_modules(cls, module: np.ndarray, n_modules: int) -> "ModuleBlocks":
        members = [np.flatnonzero(module == m) for m in range(n_modules)]
        width = max(1, max((len(m) for m in members), default=0))
        index = np.zeros((n_modules, width), dtype=int)
        mask = np.zeros((n_modules, width), dtype=bool)
        for m, cols in enumerate(members):
            index[m, :len(cols)] = cols
            mask[m, :len(cols)] = True
        return cls(index, mask)

    @property
    def sizes(self) -> np.ndarray:
        return self.mask.sum(1)

    def gather(self, x: np.ndarray) -> np.ndarray:
        """(..., J) -> (..., M, W), zero in padding."""
        return np.where(self.mask, x[..., self.index], 0.0)

    def scatter(self, blocks: np.ndarray, n_biomarkers: int) -> np.ndarray:
        """(..., M, W) -> (..., J), dropping the padding."""
        out = np.zeros(blocks.shape[:-2] + (n_biomarkers,))
        out[..., self.index[self.mask]] = blocks[..., self.mask]
        return out


@dataclass(frozen=True)
class Information:
    """Per-patient Gaussian factors of the subgroup effects, activities integrated out.

    Patient ``i``'s precision in module ``m`` is ``diag(p[i, m]) - u[i, m] u[i, m]'``
    (the activity makes it diagonal minus rank one) and its linear term ``h[i, m]``;
    ``const + h.delta - delta'Q delta / 2`` is its exact log-likelihood given effects
    ``delta``. All arrays are (n, M, W) but ``const`` (n,).
    """

    p: np.ndarray
    u: np.ndarray
    h: np.ndarray
    const: np.ndarray

    def group(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed precision (M, W, W) and linear term (M, W) of the patients in ``rows``."""
        u = self.u[rows].transpose(1, 0, 2)                                    # (M, n, W)
        Q = self.p[rows].sum(0)[..., :, None] * np.eye(u.shape[-1]) - np.swapaxes(u, 1, 2) @ u
        return Q, self.h[rows].sum(0)

    def take(self, rows: np.ndarray) -> "Information":
        """The factors of the patients in ``rows``."""
        return Information(self.p[rows], self.u[rows], self.h[rows], self.const[rows])


def patient_information(prec: np.ndarray, resid: np.ndarray, loading: np.ndarray,
                        blocks: ModuleBlocks) -> Information:
    """Each patient's factor in its subgroup's effects.

    Parameters
    ----------
    prec
        (n, J) precision of each entry, 0 where it is not part of the likelihood.
    resid
        (n, J) data minus everything but the subgroup effect and the activity.
    loading
        (J,) activity loadings (0 for biomarkers without an activity).
    blocks
        Module layout; every biomarker with a loading must share one activity per module.
    """
    n, (M, W) = len(prec), blocks.index.shape
    p, u, h, const = np.zeros((n, M, W)), np.zeros((n, M, W)), np.zeros((n, M, W)), np.zeros(n)
    _patient_information(*contiguous_floats(prec, resid, loading), blocks.index, blocks.mask, p, u, h, const)
    return Information(p, u, h, const)


@jit
def _patient_information(prec, resid, loading, index, mask, p, u, h, const):
    """:func:`patient_information` into the zeroed (n, M, W) arrays ``p``, ``u``, ``h`` and (n,) ``const``."""
    M, W = index.shape
    for i in range(prec.shape[0]):
        total = 0.0
        for m in range(M):
            t, ur = 0.0, 0.0
            for w in range(W):
                if mask[m, w] and prec[i, index[m, w]] > 0.0:
                    j = index[m, w]
                    p[i, m, w] = prec[i, j]
                    t += prec[i, j] * loading[j] ** 2
                    total += np.log(prec[i, j]) - LOG_2PI
            scale = 1.0 / np.sqrt(1.0 + t)
            for w in range(W):
                if p[i, m, w] > 0.0:
                    u[i, m, w] = p[i, m, w] * loading[index[m, w]] * scale
                    ur += u[i, m, w] * resid[i, index[m, w]]
            for w in range(W):
                if p[i, m, w] > 0.0:
                    r = resid[i, index[m, w]]
                    h[i, m, w] = p[i, m, w] * r - u[i, m, w] * ur
                    total -= h[i, m, w] * r
            total -= np.log1p(t)
        const[i] = 0.5 * total


def loglik_given(info: Information, delta_blocks: np.ndarray) -> np.ndarray:
    """(n, K) log-likelihood of each patient given each component's effects ``delta_blocks`` (K, M, W)."""
    n, (K, M, W) = len(info.const), delta_blocks.shape
    flat = delta_blocks.reshape(K, M * W).T                                      # (M W, K)
    linear = info.h.reshape(n, M * W) @ flat
    diagonal = info.p.reshape(n, M * W) @ (flat ** 2)
    along_u = info.u.transpose(1, 0, 2) @ delta_blocks.transpose(1, 2, 0)        # (M, n, K)
    return info.const[:, None] + linear - 0.5 * (diagonal - (along_u ** 2).sum(0))


class EffectIntegral:
    """Closed-form integral over one component's effects, given its group's summed information.

    Parameters
    ----------
    blocks
        Module layout.
    tau2
        (M,) within-module variance of biomarker effects.
    s2
        Prior variance of a subgroup-by-module effect.
    """

    def __init__(self, blocks: ModuleBlocks, tau2: np.ndarray, s2: float) -> None:
        self.blocks, self.tau2, self.s2 = blocks, tau2, s2
        size = blocks.sizes.astype(float)
        width = blocks.mask.shape[1]
        mask = blocks.mask.astype(float)
        # Prior covariance per module: tau2 I + s2 11' on its slots; its inverse by Sherman-Morrison,
        # with the identity in padded slots (which then contribute nothing).
        c = s2 / (tau2 + size * s2)
        inverse = (np.eye(width) - c[:, None, None] * mask[:, :, None] * mask[:, None, :]) / tau2[:, None, None]
        self.prior_precision = np.where(mask[:, :, None] * mask[:, None, :] > 0, inverse, np.eye(width))
        self.log_det_prior = (size - 1) * np.log(tau2) + np.log(tau2 + size * s2)
        self._prior_diagonal = np.where(blocks.mask, 1.0 / tau2[:, None], 1.0)            # (M, W)
        self._prior_rank_one = np.sqrt(c / tau2)[:, None] * mask                          # (M, W)

    def log_marginal_each(self, info: Information) -> np.ndarray:
        """(n,) :meth:`log_marginal` of every patient alone, by the Woodbury identity.

        Each patient's ``Q + prior precision`` is diagonal minus rank two per module, so
        its determinant and inverse need only 2 x 2 algebra.
        """
        inv_diag = 1.0 / (info.p + self._prior_diagonal)                       # (n, M, W)
        v, u = self._prior_rank_one, info.u                                    # B = [v, u], A = D - B B'
        sv, su = v * inv_diag, u * inv_diag                                    # D^-1 B
        a, b, c = 1.0 - (v * sv).sum(-1), -(v * su).sum(-1), 1.0 - (u * su).sum(-1)  # I - B' D^-1 B
        det = a * c - b * b
        log_det_a = -np.log(inv_diag).sum(-1) + np.log(det)
        pv, pu = (sv * info.h).sum(-1), (su * info.h).sum(-1)                  # B' D^-1 h
        quad = (info.h ** 2 * inv_diag).sum(-1) + (c * pv ** 2 - 2.0 * b * pv * pu + a * pu ** 2) / det
        return (-0.5 * (self.log_det_prior + log_det_a) + 0.5 * quad).sum(-1)

    def log_marginal(self, Q: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Log of the integral of ``exp(h.delta - delta'Q delta / 2)`` over the effects' prior.

        ``Q`` (..., M, W, W), ``h`` (..., M, W); returns (...,). Add the patients'
        ``const`` to get the group's log marginal likelihood; zero for no data.
        """
        A = Q + self.prior_precision
        chol = np.linalg.cholesky(A)
        log_det_a = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        z = np.linalg.solve(chol, h[..., None])[..., 0]
        return (-0.5 * (self.log_det_prior + log_det_a) + 0.5 * (z ** 2).sum(-1)).sum(-1)

    def posterior_mean(self, Q: np.ndarray, h: np.ndarray) -> np.ndarray:
        """(..., M, W) posterior mean of a component's biomarker effects given its group's ``Q``, ``h``."""
        mean = np.linalg.solve(Q + self.prior_precision, h[..., None])[..., 0]
        return np.where(self.blocks.mask, mean, 0.0)

    def draw(self, rng: np.random.Generator, Q: np.ndarray, h: np.ndarray,
             n_biomarkers: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw (theta (M,), delta (J,)) of one component from their conditional given ``Q``, ``h``."""
        A = Q + self.prior_precision
        chol = np.linalg.cholesky(A)
        mean = np.linalg.solve(A, h[..., None])[..., 0]
        noise = np.linalg.solve(np.swapaxes(chol, -1, -2), rng.standard_normal(h.shape)[..., None])[..., 0]
        delta_blocks = np.where(self.blocks.mask, mean + noise, 0.0)
        prec = 1.0 / self.s2 + self.blocks.sizes / self.tau2
        theta_mean = delta_blocks.sum(-1) / self.tau2 / prec
        theta = theta_mean + rng.standard_normal(len(prec)) / np.sqrt(prec)
        return theta, self.blocks.scatter(delta_blocks, n_biomarkers)
