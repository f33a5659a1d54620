"""Metropolis-Hastings split and merge of whole subgroups (sparse mixtures).

Gibbs allocation moves patients one at a time, and births/deaths open or close
one-patient subgroups; neither can close a subgroup of ten similar patients, nor
open one, except through long runs of unlikely single moves. A chain can then sit
for hundreds of sweeps with one subgroup split in two while the others do not,
which shows up as chains that disagree on the number of subgroups. These moves
(after the sequentially-allocated merge-split sampler of Dahl 2003, with an
allocation that does not depend on the order of the patients) propose such
changes in one step:

- two distinct patients ``i`` and ``j`` are drawn: in half the proposals both uniformly, in
  the other half ``i`` through a uniformly chosen subgroup (so that a subgroup of three is
  proposed for a merge about as often as one of a hundred; the probability of the pair in
  the state before and after the move enters the acceptance ratio) and ``j`` uniformly;
- if they share a subgroup ``k``, *split*: ``j`` moves to an empty component and each
  other member of ``k`` follows ``j`` independently;
- otherwise *merge*: every member of ``j``'s subgroup moves to ``i``'s.

Half the proposals are *informed*: a few 2-means iterations from the two anchors divide
the group; each patient then follows ``j`` with the probability the model gives it of
belonging to ``j``'s side rather than ``i``'s, each side's effects set to their
posterior mean given that division (the patient's likelihood with its module activity
integrated out, so co-variation, missing entries and binary markers count as in the
model). All of it is a function of the data, the group and the anchors alone. They
find real divisions, and merge subgroups that such a division separates. The other half
are *uniform*: a fraction ``phi ~ U(0, 1)`` is drawn and each patient follows with
probability ``phi``. Their probability of any
one split matches the cost the Dirichlet-multinomial prior puts on it, so they merge
two subgroups whenever splitting them gains little likelihood, however the patients
happen to be divided (two components describing the same subgroup, or a small
offshoot of a large one): informed proposals almost never recreate such a division,
so their merges of it are almost never accepted. The kind is chosen independently
of the state, so each kind is a reversible move on its own.

The acceptance ratio uses the patients' likelihood with the two components'
subgroup-by-module effects, biomarker effects and the patients' module activities
integrated out (a Gaussian integral, :mod:`pss_bayes.model.collapsed`, conditional
on the baselines, Student-t weights and, for binary markers, Pólya-Gamma variables
drawn for the move) and the mixture weights integrated out (Dirichlet-multinomial).
After an accepted move the two components' effects are drawn from their conditional
given the new allocation: this is a Metropolis-Hastings move of allocation and
effects together, whose ratio is the one with the effects integrated out, and which
leaves the posterior invariant (a rejection keeps both).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, log_expit

from pss_bayes.model.collapsed import EffectIntegral, Information, loglik_given


class SplitMerge:
    """Split/merge proposals for one chain, given the data terms that do not depend on the labels.

    Parameters
    ----------
    info
        Each patient's Gaussian factor in its subgroup's effects, activities integrated out.
    integral
        The integral over a component's effects (module layout and priors).
    distance_features, distance_observed
        (n_patients, D) data the 2-means division of a group works on (continuous markers
        in residual SD units) and where they are observed.
    """

    #: Share of the proposals that are informed; the others are uniform.
    INFORMED_SHARE = 0.5
    #: Lloyd iterations that move the two anchors to the centroids of the sides they attract.
    LLOYD_ITERATIONS = 3
    #: Share of the proposals whose first anchor is drawn through a uniformly chosen subgroup
    #: (then uniformly within it), so that a small subgroup is proposed for a merge about as
    #: often as a large one; the others draw both anchors uniformly among the patients.
    BY_SUBGROUP_SHARE = 0.5

    def __init__(self, info: Information, integral: EffectIntegral, distance_features: np.ndarray,
                 distance_observed: np.ndarray) -> None:
        self.info, self.integral = info, integral
        seen = distance_observed.astype(float)
        x = np.where(distance_observed, distance_features, 0.0)
        self.features, self.seen = x, seen

    def _sums(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed information (Q, h) of the patients in ``rows``."""
        return self.info.group(rows)

    def _side_log_odds(self, rows: np.ndarray, c_i: np.ndarray, c_j: np.ndarray) -> np.ndarray:
        """Half the difference of squared distances to ``c_i`` and ``c_j`` over each row's observed markers."""
        x, seen = self.features[rows], self.seen[rows]
        return 0.5 * (x @ (2.0 * (c_j - c_i)) - seen @ (c_j ** 2 - c_i ** 2))

    def _centroid(self, rows: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        count = self.seen[rows].sum(0)
        return np.where(count > 0, self.features[rows].sum(0) / np.maximum(count, 1.0), fallback)

    def _follow_j(self, group: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """The other members of ``group`` and their log-probabilities (follow j, stay with i).

        A function of the set ``group`` and the two anchors alone (not of how the group is
        currently split), so a merge can evaluate the probability that a split of the merged
        group recreates the two subgroups it merges. Starting from the anchors' own values, a
        few Lloyd (2-means) iterations move the two centres to the means of the patients each
        attracts, so that the proposal follows the main division within the group rather than
        the noise of two single patients; the log-odds are then the model's: each patient's
        likelihood (activities integrated out) under the two sides' posterior mean effects.
        """
        others = _without(group, i, j)
        overall = self._centroid(group, np.zeros(self.features.shape[1]))
        c_i = np.where(self.seen[i] > 0, self.features[i], overall)
        c_j = np.where(self.seen[j] > 0, self.features[j], overall)
        for _ in range(self.LLOYD_ITERATIONS):
            toward_j = self._side_log_odds(others, c_i, c_j) > 0
            c_i = self._centroid(np.append(others[~toward_j], i), c_i)
            c_j = self._centroid(np.append(others[toward_j], j), c_j)
        toward_j = self._side_log_odds(others, c_i, c_j) > 0
        sums = [self._sums(np.append(others[side], anchor)) for side, anchor in ((~toward_j, i), (toward_j, j))]
        means = self.integral.posterior_mean(*(np.stack(parts) for parts in zip(*sums)))
        fit = loglik_given(self.info.take(others), means)                     # (len(others), 2)
        logit = fit[:, 1] - fit[:, 0]
        return others, np.stack([log_expit(logit), log_expit(-logit)])

    def _proposal(self, group: np.ndarray, i: int, j: int,
                  informed: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The other members of ``group`` and, for an informed proposal, their log-probabilities
        (see :meth:`_follow_j`); ``None`` for a uniform one."""
        if informed:
            return self._follow_j(group, i, j)
        return _without(group, i, j), None

    def step(self, rng: np.random.Generator, labels: np.ndarray, n_components: int,
             e0: float) -> list[tuple[int, np.ndarray]]:
        """Attempt one split or merge; changes ``labels`` in place when accepted.

        Returns
        -------
        list
            After an accepted move, the two components whose effects must now be
            redrawn, each with its group's sums (see :meth:`redraw`); empty when the
            move was rejected or none could be proposed. A rejected move keeps the
            effects: proposing new labels together with effects drawn from their
            conditional given them, the joint Metropolis-Hastings ratio is the one
            computed here with the effects integrated out, and a rejection keeps both.
        """
        n = len(labels)
        if n < 2:
            return []
        counts = np.bincount(labels, minlength=n_components)
        by_subgroup = rng.uniform() < self.BY_SUBGROUP_SHARE
        if by_subgroup:
            occupied = np.flatnonzero(counts > 0)
            members = np.flatnonzero(labels == occupied[rng.integers(len(occupied))])
            i = int(members[rng.integers(len(members))])
        else:
            i = int(rng.integers(n))
        j = int(rng.integers(n - 1))                                         # uniform among the others
        j += j >= i
        informed = rng.uniform() < self.INFORMED_SHARE
        n_occupied = int((counts > 0).sum())
        k = int(labels[i])
        if labels[j] == k:                                                   # split
            empties = np.flatnonzero(counts == 0)
            if not len(empties):
                return []
            new = int(empties[rng.integers(len(empties))])
            group = np.flatnonzero(labels == k)
            others, log_p = self._proposal(group, i, j, informed)
            if log_p is not None:
                follow = np.log(rng.uniform(size=len(others))) < log_p[0]
            else:
                follow = rng.uniform(size=len(others)) < rng.uniform()
            log_q = _log_q(follow, log_p)
            side_j = np.concatenate([[j], others[follow]])
            side_i = np.concatenate([[i], others[~follow]])
            sums_i, sums_j = self._sums(side_i), self._sums(side_j)
            log_a = self._log_ratio(sums_i, sums_j, len(side_i), len(side_j), e0) + np.log(len(empties)) - log_q
            if by_subgroup:                      # anchor pair's probability: after (merge back) / before
                log_a += np.log(n_occupied * counts[k]) - np.log((n_occupied + 1) * len(side_i))
            if np.log(rng.uniform()) < log_a:
                labels[side_j] = new
                return [(k, sums_i), (new, sums_j)]
            return []
        l = int(labels[j])                                                   # merge
        side_i, side_j = np.flatnonzero(labels == k), np.flatnonzero(labels == l)
        group = np.concatenate([side_i, side_j])
        others, log_p = self._proposal(group, i, j, informed)
        log_q = _log_q(labels[others] == l, log_p)
        sums_i, sums_j = self._sums(side_i), self._sums(side_j)
        log_a = -(self._log_ratio(sums_i, sums_j, len(side_i), len(side_j), e0)
                  + np.log((counts == 0).sum() + 1) - log_q)
        if by_subgroup:                          # anchor pair's probability: after (split again) / before
            log_a += np.log(n_occupied * counts[k]) - np.log((n_occupied - 1) * (counts[k] + counts[l]))
        if np.log(rng.uniform()) < log_a:
            labels[side_j] = k
            return [(k, _add(sums_i, sums_j)), (l, _empty(sums_i))]
        return []

    def _log_ratio(self, sums_i: np.ndarray, sums_j: np.ndarray, n_i: int, n_j: int, e0: float) -> float:
        """log p(split) - log p(merged): integrated likelihood and Dirichlet-multinomial prior."""
        merged = _add(sums_i, sums_j)
        log_ml = self.integral.log_marginal(*(np.stack(parts) for parts in zip(sums_i, sums_j, merged)))
        return (log_ml[0] + log_ml[1] - log_ml[2]
                + gammaln(n_i + e0) + gammaln(n_j + e0) - gammaln(n_i + n_j + e0) - gammaln(e0))

    def redraw(self, rng: np.random.Generator, updates: list, theta: np.ndarray, delta: np.ndarray) -> None:
        """Draw the effects of the components :meth:`step` returned from their conditional (in place)."""
        for c, (Q, h) in updates:
            theta[c], delta[c] = self.integral.draw(rng, Q, h, delta.shape[1])


def _without(group: np.ndarray, i: int, j: int) -> np.ndarray:
    """The members of ``group`` other than the anchors ``i`` and ``j``."""
    return group[(group != i) & (group != j)]


def _log_q(follow: np.ndarray, log_p: np.ndarray | None) -> float:
    """Log-probability that a split proposal sends exactly ``follow`` of the others to ``j``'s side.

    ``log_p`` (follow, stay) per patient for the informed proposal; ``None`` for the
    uniform one, whose fraction ``phi ~ U(0, 1)`` integrates to a Beta function.
    """
    if log_p is not None:
        return float(np.where(follow, log_p[0], log_p[1]).sum())
    a = int(follow.sum())
    return float(gammaln(a + 1) + gammaln(len(follow) - a + 1) - gammaln(len(follow) + 2))


def _add(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return a[0] + b[0], a[1] + b[1]


def _empty(a: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros_like(a[0]), np.zeros_like(a[1])
