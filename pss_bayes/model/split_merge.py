"""Metropolis-Hastings split and merge of whole subgroups (sparse mixtures).

Gibbs allocation moves patients one at a time, and births/deaths open or close
one-patient subgroups; neither can close a subgroup of ten similar patients, nor
open one, except through long runs of unlikely single moves. A chain can then sit
for hundreds of sweeps with one subgroup split in two while the others do not,
which shows up as chains that disagree on the number of subgroups. These moves
(after the sequentially-allocated merge-split sampler of Dahl 2003, with an
allocation that does not depend on the order of the patients) propose such
changes in one step:

- two distinct patients ``i`` and ``j`` are drawn at random;
- if they share a subgroup ``k``, *split*: ``j`` moves to an empty component and each
  other member of ``k`` follows ``j`` independently with a probability that grows
  with how much closer it is to ``j`` than to ``i`` (a function of the data alone);
- otherwise *merge*: every member of ``j``'s subgroup moves to ``i``'s.

The acceptance ratio uses the patients' likelihood with the two components'
subgroup-by-module effects and biomarker effects integrated out (a Gaussian
integral, conditional on the baselines, activities, Student-t weights and, for
binary markers, Pólya-Gamma variables drawn for the move) and the mixture weights
integrated out (Dirichlet-multinomial). Whatever the outcome, the two components'
effects are then drawn from their conditional given the allocation, which makes the
move a partially collapsed Gibbs step that leaves the posterior invariant.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, log_expit


def log_marginal(P: np.ndarray, R: np.ndarray, tau2_j: np.ndarray, members: np.ndarray, s2: float) -> float:
    """Log-likelihood of a group's data with its effects integrated out, up to per-observation terms.

    Each biomarker ``j`` contributes ``exp(R_j d - P_j d^2 / 2)`` as a function of its
    effect ``d``; ``d ~ N(theta_m, tau2_j)`` and ``theta_m ~ N(0, s2)`` per module.

    Parameters
    ----------
    P, R
        (J,) sums over the group of precisions and of precision-weighted residuals.
    tau2_j
        (J,) within-module variance of each biomarker's module.
    members
        (M, J) module membership indicator.
    s2
        Prior variance of a subgroup-by-module effect.

    Returns
    -------
    float
    """
    shrink = 1.0 + P * tau2_j
    per_marker = 0.5 * R ** 2 * tau2_j / shrink - 0.5 * np.log(shrink)
    A = members @ (P / shrink)
    B = members @ (R / shrink)
    return float(per_marker.sum() + (-0.5 * np.log1p(s2 * A) + 0.5 * B ** 2 / (A + 1.0 / s2)).sum())


def draw_effects(rng: np.random.Generator, P: np.ndarray, R: np.ndarray, tau2_j: np.ndarray,
                 members: np.ndarray, module: np.ndarray, s2: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw (theta (M,), delta (J,)) of one component from their conditional given its group's sums."""
    shrink = 1.0 + P * tau2_j
    A = members @ (P / shrink)
    B = members @ (R / shrink)
    prec = A + 1.0 / s2
    theta = B / prec + rng.standard_normal(len(prec)) / np.sqrt(prec)
    post_prec = P + 1.0 / tau2_j
    mean = (R + theta[module] / tau2_j) / post_prec
    return theta, mean + rng.standard_normal(len(mean)) / np.sqrt(post_prec)


class SplitMerge:
    """Split/merge proposals for one chain, given the data terms that do not depend on the labels.

    Parameters
    ----------
    prec
        (n_patients, J) precision of each entry (Student-t weight over residual variance for
        continuous markers, Pólya-Gamma variable for binary ones; 0 where unobserved).
    resid
        (n_patients, J) data minus everything but the subgroup effect (for binary markers the
        Pólya-Gamma pseudo-observation ``(y - 1/2) / omega`` minus the predictor).
    distance_features, distance_observed
        (n_patients, D) data used to measure how close two patients are (continuous markers
        in residual SD units) and where they are observed.
    tau2, members, module, s2
        Within-module variances (M,), module indicator (M, J), module of each biomarker (J,),
        prior variance of subgroup-by-module effects.
    """

    def __init__(self, prec: np.ndarray, resid: np.ndarray, distance_features: np.ndarray,
                 distance_observed: np.ndarray, tau2: np.ndarray, members: np.ndarray, module: np.ndarray,
                 s2: float) -> None:
        self.stats = np.concatenate([prec, prec * resid], axis=1)     # per patient: precision, weighted residual
        self.n_markers = prec.shape[1]
        seen = distance_observed.astype(float)
        x = np.where(distance_observed, distance_features, 0.0)
        self.features, self.seen = x, seen
        self.distance_terms = np.concatenate([x ** 2, x, seen], axis=1)       # for squared distances by products
        self.tau2_j, self.members, self.module, self.s2 = tau2[module], members, module, s2

    def _sums(self, rows: np.ndarray) -> np.ndarray:
        """(2J,) sums over ``rows`` of precisions and weighted residuals."""
        return self.stats[rows].sum(0)

    def _log_ml(self, sums: np.ndarray) -> float:
        J = self.n_markers
        return log_marginal(sums[:J], sums[J:], self.tau2_j, self.members, self.s2)

    def _follow_j(self, rows: np.ndarray, i: int, j: int) -> np.ndarray:
        """Log-probabilities (follow j, stay with i) for each of ``rows`` (neither i nor j)."""
        # Mean over markers seen in both patients of (x - x_anchor)^2, for both anchors at once.
        anchors = np.array([i, j])
        x_a, seen_a = self.features[anchors].T, self.seen[anchors].T                       # (D, 2)
        weights = np.concatenate([seen_a, -2.0 * x_a * seen_a, x_a ** 2 * seen_a], axis=0)  # (3D, 2)
        mean = (self.distance_terms @ weights) / np.maximum(self.seen @ seen_a, 1.0)   # every patient: cheaper
        diff = mean[rows, 0] - mean[rows, 1]                                            # than indexing first
        scale = diff.std() if len(diff) > 1 and diff.std() > 0 else 1.0
        logit = 2.0 * diff / scale
        return np.stack([log_expit(logit), log_expit(-logit)])

    def step(self, rng: np.random.Generator, labels: np.ndarray, n_components: int,
             e0: float) -> list[tuple[int, np.ndarray]]:
        """Attempt one split or merge; changes ``labels`` in place when accepted.

        Returns
        -------
        list
            The two components whose effects must now be redrawn (whether or not the
            move was accepted), each with its group's sums (see :meth:`redraw`); empty
            when no move could be proposed.
        """
        n = len(labels)
        if n < 2:
            return []
        i, j = (int(v) for v in rng.choice(n, 2, replace=False))
        counts = np.bincount(labels, minlength=n_components)
        k = int(labels[i])
        if labels[j] == k:                                                   # split
            empties = np.flatnonzero(counts == 0)
            if not len(empties):
                return []
            new = int(rng.choice(empties))
            group = np.flatnonzero(labels == k)
            others = group[(group != i) & (group != j)]
            log_p = self._follow_j(others, i, j)
            follow = np.log(rng.uniform(size=len(others))) < log_p[0]
            log_q = float(np.where(follow, log_p[0], log_p[1]).sum())
            side_j = np.concatenate([[j], others[follow]])
            side_i = np.concatenate([[i], others[~follow]])
            sums_i, sums_j = self._sums(side_i), self._sums(side_j)
            log_a = self._log_ratio(sums_i, sums_j, len(side_i), len(side_j), e0) + np.log(len(empties)) - log_q
            if np.log(rng.uniform()) < log_a:
                labels[side_j] = new
                return [(k, sums_i), (new, sums_j)]
            return [(k, sums_i + sums_j), (new, np.zeros_like(sums_i))]
        l = int(labels[j])                                                   # merge
        side_i, side_j = np.flatnonzero(labels == k), np.flatnonzero(labels == l)
        group = np.concatenate([side_i, side_j])
        others = group[(group != i) & (group != j)]
        log_p = self._follow_j(others, i, j)
        follow = labels[others] == l
        log_q = float(np.where(follow, log_p[0], log_p[1]).sum())
        sums_i, sums_j = self._sums(side_i), self._sums(side_j)
        log_a = -(self._log_ratio(sums_i, sums_j, len(side_i), len(side_j), e0)
                  + np.log((counts == 0).sum() + 1) - log_q)
        if np.log(rng.uniform()) < log_a:
            labels[side_j] = k
            return [(k, sums_i + sums_j), (l, np.zeros_like(sums_i))]
        return [(k, sums_i), (l, sums_j)]

    def _log_ratio(self, sums_i: np.ndarray, sums_j: np.ndarray, n_i: int, n_j: int, e0: float) -> float:
        """log p(split) - log p(merged): integrated likelihood and Dirichlet-multinomial prior."""
        return (self._log_ml(sums_i) + self._log_ml(sums_j) - self._log_ml(sums_i + sums_j)
                + gammaln(n_i + e0) + gammaln(n_j + e0) - gammaln(n_i + n_j + e0) - gammaln(e0))

    def redraw(self, rng: np.random.Generator, updates: list[tuple[int, np.ndarray]], theta: np.ndarray,
               delta: np.ndarray) -> None:
        """Draw the effects of the components :meth:`step` returned from their conditional (in place)."""
        J = self.n_markers
        for c, sums in updates:
            theta[c], delta[c] = draw_effects(rng, sums[:J], sums[J:], self.tau2_j, self.members, self.module,
                                              self.s2)
