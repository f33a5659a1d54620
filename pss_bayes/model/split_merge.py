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
subgroup-by-module effects, biomarker effects and the patients' module activities
integrated out (a Gaussian integral, :mod:`pss_bayes.model.collapsed`, conditional
on the baselines, Student-t weights and, for binary markers, Pólya-Gamma variables
drawn for the move) and the mixture weights integrated out (Dirichlet-multinomial). Whatever the outcome, the two components'
effects are then drawn from their conditional given the allocation, which makes the
move a partially collapsed Gibbs step that leaves the posterior invariant.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, log_expit

from pss_bayes.model.collapsed import EffectIntegral, Information


class SplitMerge:
    """Split/merge proposals for one chain, given the data terms that do not depend on the labels.

    Parameters
    ----------
    info
        Each patient's Gaussian factor in its subgroup's effects, activities integrated out.
    integral
        The integral over a component's effects (module layout and priors).
    distance_features, distance_observed
        (n_patients, D) data used to measure how close two patients are (continuous markers
        in residual SD units) and where they are observed.
    """

    def __init__(self, info: Information, integral: EffectIntegral, distance_features: np.ndarray,
                 distance_observed: np.ndarray) -> None:
        self.info, self.integral = info, integral
        seen = distance_observed.astype(float)
        x = np.where(distance_observed, distance_features, 0.0)
        self.features, self.seen = x, seen
        self.distance_terms = np.concatenate([x ** 2, x, seen], axis=1)       # for squared distances by products

    def _sums(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed information (Q, h) of the patients in ``rows``."""
        return self.info.group(rows)

    def _log_ml(self, sums: tuple[np.ndarray, np.ndarray]) -> float:
        return float(self.integral.log_marginal(*sums))

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
            return [(k, _add(sums_i, sums_j)), (new, _empty(sums_i))]
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
            return [(k, _add(sums_i, sums_j)), (l, _empty(sums_i))]
        return [(k, sums_i), (l, sums_j)]

    def _log_ratio(self, sums_i: np.ndarray, sums_j: np.ndarray, n_i: int, n_j: int, e0: float) -> float:
        """log p(split) - log p(merged): integrated likelihood and Dirichlet-multinomial prior."""
        return (self._log_ml(sums_i) + self._log_ml(sums_j) - self._log_ml(_add(sums_i, sums_j))
                + gammaln(n_i + e0) + gammaln(n_j + e0) - gammaln(n_i + n_j + e0) - gammaln(e0))

    def redraw(self, rng: np.random.Generator, updates: list, theta: np.ndarray, delta: np.ndarray) -> None:
        """Draw the effects of the components :meth:`step` returned from their conditional (in place)."""
        for c, (Q, h) in updates:
            theta[c], delta[c] = self.integral.draw(rng, Q, h, delta.shape[1])


def _add(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return a[0] + b[0], a[1] + b[1]


def _empty(a: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros_like(a[0]), np.zeros_like(a[1])
