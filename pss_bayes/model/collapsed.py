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
    ``delta``. ``p``, ``u``, ``h`` are (n, M, W). The continuous entries of a module
    (slots where ``scalable``, (M, W)) may have their covariance multiplied by a
    patient scale (the ``scale`` arguments below); for them ``log_det`` (the
    log-determinant of their precision less ``count log 2 pi``), ``quad`` (``r'Q r``)
    and ``count`` (entries) are kept per module (n, M), and ``fixed`` (n,) holds the
    other entries' (binary markers') part of ``const``.
    """

    p: np.ndarray
    u: np.ndarray
    h: np.ndarray
    log_det: np.ndarray
    quad: np.ndarray
    count: np.ndarray
    fixed: np.ndarray
    scalable: np.ndarray

    @property
    def const(self) -> np.ndarray:
        """(n,) the part of each patient's log-likelihood that does not involve the effects."""
        return 0.5 * (self.log_det - self.quad).sum(-1) + self.fixed

    def slot_scale(self, scale: np.ndarray) -> np.ndarray:
        """(..., M, W) the variance multiple of each slot for module multiples ``scale`` (..., M)."""
        return np.where(self.scalable, np.asarray(scale, dtype=float)[..., None], 1.0)

    def const_at(self, scale: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """:attr:`const` of the patients in ``rows`` (all by default) when each module's continuous
        covariance is times ``scale``: (M,) gives (n,); (K, M), one row per component, gives (n, K)."""
        scale = np.asarray(scale, dtype=float)
        c = scale.reshape(-1, scale.shape[-1])                                   # (K, M)
        out = (0.5 * (self.log_det[rows].sum(-1)[:, None] - self.count[rows] @ np.log(c).T
                      - self.quad[rows] @ (1.0 / c).T) + self.fixed[rows][:, None])
        return out[:, 0] if scale.ndim == 1 else out

    def group(self, rows: np.ndarray, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Summed precision (M, W, W) and linear term (M, W) of the patients in ``rows``,
        each module's continuous covariance times ``scale`` (M,) when given."""
        u = self.u[rows].transpose(1, 0, 2)                                    # (M, n, W)
        Q = self.p[rows].sum(0)[..., :, None] * np.eye(u.shape[-1]) - np.swapaxes(u, 1, 2) @ u
        return self.rescale((Q, self.h[rows].sum(0)), scale)

    def rescale(self, sums: tuple[np.ndarray, np.ndarray],
                scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Group sums ``(Q, h)`` at multiple 1 when each module's continuous covariance is times ``scale`` (M,)."""
        if scale is None:
            return sums
        slot = self.slot_scale(scale)
        root = 1.0 / np.sqrt(slot)
        return sums[0] * root[:, :, None] * root[:, None, :], sums[1] / slot

    def take(self, rows: np.ndarray) -> "Information":
        """The factors of the patients in ``rows``."""
        return Information(self.p[rows], self.u[rows], self.h[rows], self.log_det[rows], self.quad[rows],
                           self.count[rows], self.fixed[rows], self.scalable)


def patient_information(prec: np.ndarray, resid: np.ndarray, loading: np.ndarray, blocks: ModuleBlocks,
                        continuous: np.ndarray | None = None) -> Information:
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
    continuous
        (J,) true for the biomarkers whose covariance a patient scale multiplies (all when omitted).
    """
    n, (M, W) = len(prec), blocks.index.shape
    continuous = np.ones(prec.shape[1], dtype=bool) if continuous is None else np.asarray(continuous, dtype=bool)
    scalable = blocks.mask & continuous[blocks.index]
    p, u, h = np.zeros((n, M, W)), np.zeros((n, M, W)), np.zeros((n, M, W))
    log_det, quad, count, fixed = np.zeros((n, M)), np.zeros((n, M)), np.zeros((n, M)), np.zeros(n)
    _patient_information(*contiguous_floats(prec, resid, loading), blocks.index, blocks.mask, scalable, p, u, h,
                         log_det, quad, count, fixed)
    return Information(p, u, h, log_det, quad, count, fixed, scalable)


@jit
def _patient_information(prec, resid, loading, index, mask, scalable, p, u, h, log_det, quad, count, fixed):
    """:func:`patient_information` into the zeroed (n, M, W) arrays ``p``, ``u``, ``h``, (n, M)
    ``log_det``, ``quad``, ``count`` and (n,) ``fixed``."""
    M, W = index.shape
    for i in range(prec.shape[0]):
        for m in range(M):
            t, ur = 0.0, 0.0
            for w in range(W):
                if mask[m, w] and prec[i, index[m, w]] > 0.0:
                    j = index[m, w]
                    p[i, m, w] = prec[i, j]
                    t += prec[i, j] * loading[j] ** 2
                    if scalable[m, w]:
                        log_det[i, m] += np.log(prec[i, j]) - LOG_2PI
                        count[i, m] += 1.0
                    else:
                        fixed[i] += 0.5 * (np.log(prec[i, j]) - LOG_2PI)
            scale = 1.0 / np.sqrt(1.0 + t)
            for w in range(W):
                if p[i, m, w] > 0.0:
                    u[i, m, w] = p[i, m, w] * loading[index[m, w]] * scale
                    ur += u[i, m, w] * resid[i, index[m, w]]
            for w in range(W):
                if p[i, m, w] > 0.0:
                    r = resid[i, index[m, w]]
                    h[i, m, w] = p[i, m, w] * r - u[i, m, w] * ur
                    if scalable[m, w]:
                        quad[i, m] += h[i, m, w] * r
                    else:
                        fixed[i] -= 0.5 * h[i, m, w] * r
            log_det[i, m] -= np.log1p(t)


def loglik_given(info: Information, delta_blocks: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """(n, K) log-likelihood of each patient given each component's effects ``delta_blocks`` (K, M, W),
    each module's continuous covariance in component ``k`` times ``scale[k]`` ((K, M); 1 when omitted)."""
    n, (K, M, W) = len(info.quad), delta_blocks.shape
    const = info.const[:, None]
    linear_delta, square_delta, along_delta = delta_blocks, delta_blocks ** 2, delta_blocks
    if scale is not None:
        c = np.broadcast_to(np.asarray(scale, dtype=float), (K, M))
        slot = info.slot_scale(c)                                                # (K, M, W)
        linear_delta, square_delta, along_delta = delta_blocks / slot, square_delta / slot, delta_blocks / np.sqrt(slot)
        const = info.const_at(c)
    linear = info.h.reshape(n, M * W) @ linear_delta.reshape(K, M * W).T
    diagonal = info.p.reshape(n, M * W) @ square_delta.reshape(K, M * W).T
    along_u = info.u.transpose(1, 0, 2) @ along_delta.transpose(1, 2, 0)       # (M, n, K)
    return const + linear - 0.5 * (diagonal - (along_u ** 2).sum(0))


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

    def log_marginal_each(self, info: Information, scale: np.ndarray | None = None) -> np.ndarray:
        """(n,) :meth:`log_marginal` of every patient alone, by the Woodbury identity.

        Each patient's ``Q + prior precision`` is diagonal minus rank two per module, so
        its determinant and inverse need only 2 x 2 algebra. With ``scale`` (M,), each
        module's continuous covariance is multiplied by it.
        """
        M = info.quad.shape[1]
        scale = np.ones(M) if scale is None else np.asarray(scale, dtype=float)
        out = np.empty(len(info.quad))
        _log_marginal_each(*contiguous_floats(info.p, info.u, info.h), info.scalable, *contiguous_floats(
            scale, self._prior_diagonal, self._prior_rank_one, self.log_det_prior), out)
        return out

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


@jit
def _log_marginal_each(p, u, h, scalable, scale, prior_diagonal, prior_rank_one, log_det_prior, out):
    """:meth:`EffectIntegral.log_marginal_each` into ``out``: per patient and module, with
    ``A = D - B B'`` (``D`` diagonal, ``B = [v, u]``), ``log det A`` and ``h' A^-1 h`` from the
    2 x 2 matrix ``I - B' D^-1 B``."""
    n, M, W = p.shape
    for i in range(n):
        total = 0.0
        for m in range(M):
            log_inverse, vv, vu, uu, pv, pu, hh = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            for w in range(W):
                c = scale[m] if scalable[m, w] else 1.0
                pi, ui, hi = p[i, m, w] / c, u[i, m, w] / np.sqrt(c), h[i, m, w] / c
                inverse = 1.0 / (pi + prior_diagonal[m, w])
                v = prior_rank_one[m, w]
                log_inverse += np.log(inverse)
                vv += v * v * inverse
                vu += v * ui * inverse
                uu += ui * ui * inverse
                pv += v * inverse * hi
                pu += ui * inverse * hi
                hh += hi * hi * inverse
            a, b, d = 1.0 - vv, -vu, 1.0 - uu
            det = a * d - b * b
            quad = hh + (d * pv * pv - 2.0 * b * pv * pu + a * pu * pu) / det
            total += -0.5 * (log_det_prior[m] - log_inverse + np.log(det)) + 0.5 * quad
        out[i] = total
