"""Metropolis-Hastings split and merge of whole subgroups (sparse mixtures).

Gibbs allocation moves patients one at a time, and births/deaths open or close
one-patient subgroups; neither can close a subgroup of ten similar patients, nor
open one, except through long runs of unlikely single moves. A chain can then sit
for hundreds of sweeps with one subgroup split in two while the others do not,
which shows up as chains that disagree on the number of subgroups. These moves
(after the merge-split samplers of Jain & Neal 2004 and Dahl 2003) propose such
changes in one step:

- two distinct patients ``i`` and ``j`` are drawn: in half the proposals both uniformly, in
  the other half ``i`` through a uniformly chosen subgroup (so that a subgroup of three is
  proposed for a merge about as often as one of a hundred; the probability of the pair in
  the state before and after the move enters the acceptance ratio) and ``j`` uniformly;
- if they share a subgroup ``k``, *split*: ``j`` moves to an empty component and each
  other member of ``k`` follows ``j`` or stays, as the kind of proposal below divides it;
- otherwise *merge*: every member of ``j``'s subgroup moves to ``i``'s.

Three kinds of proposal divide the group, the kind drawn independently of the state (so
each kind is a reversible move on its own):

- *informed* (35%): a few 2-means iterations from the two anchors divide the group; each
  patient then follows ``j`` with the probability the model gives it of belonging to
  ``j``'s side rather than ``i``'s, each side's effects set to their posterior mean given
  that division (the patient's likelihood with its module activity integrated out, so
  co-variation, missing entries and binary markers count as in the model). All of it is
  a function of the data, the group and the anchors alone. They find real divisions, and
  merge subgroups that such a division separates.
- *uniform* (35%): a fraction ``phi ~ U(0, 1)`` is drawn and each patient follows with
  probability ``phi``. Their probability of any one split matches the cost the
  Dirichlet-multinomial prior puts on it, so they merge two subgroups whenever splitting
  them gains little likelihood, however the patients happen to be divided (two
  components describing the same subgroup, or a small offshoot of a large one).
- *sequential* (30%, Dahl 2003): in a random order, each patient joins one side or the
  other with probability proportional to the side's size times the patient's predictive
  likelihood given the patients the side already holds (effects and activities
  integrated out); the order is drawn with the move, and the acceptance ratio uses the
  division's probability given it. A subgroup whose members resemble each other more
  than the rest is recreated by such an allocation with a probability far higher than
  by the other two kinds, so its merge is accepted when the model prefers it merged: on
  the default cohort, offshoots of 10 to 30 patients that the model disfavoured by a
  median of 16 nats had kept chains at one subgroup too many for hundreds of sweeps,
  because the other kinds recreate such a division with a probability of about exp(-37).

The acceptance ratio uses the patients' likelihood with the two components'
subgroup-by-module effects, biomarker effects and the patients' module activities
integrated out (a Gaussian integral, :mod:`pss_bayes.model.collapsed`, conditional
on the baselines, Student-t weights and, for binary markers, Pólya-Gamma variables
drawn for the move) and the mixture weights integrated out (Dirichlet-multinomial).
Each component's variance multiples (the patients' spread) enter every
likelihood: the side of ``i`` and a merged subgroup keep those of ``i``'s
subgroup, and the divisions are proposed with them on both sides. Shared by the
subgroups, the multiples are conditioned on. When each subgroup has its own
(:class:`SpreadPrior`), a split also proposes the new side's multiples, from
their inverse-gamma conditional given its patients at their posterior mean
effects, and a merge returns the emptied component's to a draw from their prior;
both densities enter the ratio: the prior draw of an empty component fits a real
subgroup of tens of patients only when it happens to be close to its spread.
After an accepted move the two components' effects are drawn from their conditional
given the new allocation: this is a Metropolis-Hastings move of allocation and
effects together, whose ratio is the one with the effects integrated out, and which
leaves the posterior invariant (a rejection keeps both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, log_expit

from pss_bayes.model.collapsed import EffectIntegral, Information, loglik_given
from pss_bayes.model.numerics import contiguous_floats, jit


@dataclass(frozen=True)
class SpreadPrior:
    """Prior of each component's patient scale when the subgroups have their own:
    ``c_km ~ InverseGamma(shape, (shape - 1) level_m)`` in the modules ``modules``."""

    level: np.ndarray       # (M,) the modules' typical scale
    shape: float
    modules: np.ndarray     # (M,) bool, modules with a patient scale

    def log_density(self, scale: np.ndarray) -> float:
        """Log prior density of one component's scales (M,)."""
        rate = (self.shape - 1.0) * self.level
        return float(_log_inverse_gamma(scale, self.shape, rate)[self.modules].sum())

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One component's scales from the prior (1 outside ``modules``)."""
        draw = (self.shape - 1.0) * self.level / rng.gamma(self.shape, size=len(self.level))
        return np.where(self.modules, draw, 1.0)


def _log_inverse_gamma(x: np.ndarray, shape: np.ndarray | float, rate: np.ndarray) -> np.ndarray:
    return shape * np.log(rate) - gammaln(shape) - (shape + 1.0) * np.log(x) - rate / x


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
    scale
        (K, M) each component's variance multiple per module (``info`` is at multiple 1);
        changed in place when a move proposes new ones.
    spread
        The prior of each component's own multiples, when the subgroups have their own
        (``None``: the multiples are conditioned on).
    """

    #: Shares of the proposals that are informed and uniform; the others are sequential.
    INFORMED_SHARE = 0.35
    UNIFORM_SHARE = 0.35
    #: Lloyd iterations that move the two anchors to the centroids of the sides they attract.
    LLOYD_ITERATIONS = 3
    #: Share of the proposals whose first anchor is drawn through a uniformly chosen subgroup
    #: (then uniformly within it), so that a small subgroup is proposed for a merge about as
    #: often as a large one; the others draw both anchors uniformly among the patients.
    BY_SUBGROUP_SHARE = 0.5

    def __init__(self, info: Information, integral: EffectIntegral, distance_features: np.ndarray,
                 distance_observed: np.ndarray, scale: np.ndarray, spread: SpreadPrior | None = None) -> None:
        self.info, self.integral, self.scale, self.spread = info, integral, scale, spread
        seen = distance_observed.astype(float)
        x = np.where(distance_observed, distance_features, 0.0)
        self.features, self.seen = x, seen

    def _sums(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed information (Q, h) of the patients in ``rows``, at variance multiple 1."""
        return self.info.group(rows)

    def _side_log_odds(self, rows: np.ndarray, c_i: np.ndarray, c_j: np.ndarray) -> np.ndarray:
        """Half the difference of squared distances to ``c_i`` and ``c_j`` over each row's observed markers."""
        x, seen = self.features[rows], self.seen[rows]
        return 0.5 * (x @ (2.0 * (c_j - c_i)) - seen @ (c_j ** 2 - c_i ** 2))

    def _centroid(self, rows: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        count = self.seen[rows].sum(0)
        return np.where(count > 0, self.features[rows].sum(0) / np.maximum(count, 1.0), fallback)

    def _follow_j(self, group: np.ndarray, i: int, j: int, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The other members of ``group`` and their log-probabilities (follow j, stay with i).

        A function of the set ``group`` and the two anchors alone (not of how the group is
        currently split), and of the two sides' variance multiples ``scales`` (2, M), so a
        merge can evaluate the probability that a split of the merged group recreates the
        two subgroups it merges. Starting from the anchors' own values, a
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
        sums = [self.info.rescale(self._sums(np.append(others[side], anchor)), scale)
                for (side, anchor), scale in zip(((~toward_j, i), (toward_j, j)), scales)]
        means = self.integral.posterior_mean(*(np.stack(parts) for parts in zip(*sums)))
        fit = loglik_given(self.info.take(others), means, scales)            # (len(others), 2)
        logit = fit[:, 1] - fit[:, 0]
        return others, np.stack([log_expit(logit), log_expit(-logit)])

    def _sequential(self, rng: np.random.Generator, group: np.ndarray, i: int, j: int, e0: float,
                    scales: np.ndarray, follow: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Sequentially allocated division of ``group`` (Dahl 2003): the other members, in a random
        order, each join ``j``'s or ``i``'s side with probability proportional to the side's size
        plus ``e0`` times the patient's predictive likelihood given the patients the side holds
        so far (effects and activities integrated out; each side with its variance multiples,
        ``scales`` (2, M): ``i``'s side first).

        Returns the other members, which of them follow ``j`` and the log-probability of that
        division given the order. With ``follow`` given (one flag per other member, in the
        order of ``_without(group, i, j)``), nothing is drawn: its log-probability is returned.
        """
        others = _without(group, i, j)
        order = rng.permutation(len(others))
        forced = follow is not None
        flags = follow[order] if forced else np.zeros(len(others), dtype=bool)
        uniforms = np.zeros(len(others)) if forced else rng.uniform(size=len(others))
        info = self.info
        log_q = _allocate(*contiguous_floats(info.p, info.u, info.h, info.count, info.quad, scales,
                                             info.slot_scale(scales), self.integral.prior_precision),
                          others[order], i, j, e0, uniforms, forced, flags)
        drawn = np.empty(len(others), dtype=bool)
        drawn[order] = flags
        return others, drawn, log_q

    def _proposal(self, group: np.ndarray, i: int, j: int, informed: bool,
                  scales: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The other members of ``group`` and, for an informed proposal, their log-probabilities
        (see :meth:`_follow_j`); ``None`` for a uniform one."""
        if informed:
            return self._follow_j(group, i, j, scales)
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
        kind = rng.uniform()
        sequential = kind >= self.INFORMED_SHARE + self.UNIFORM_SHARE
        informed = kind < self.INFORMED_SHARE
        n_occupied = int((counts > 0).sum())
        k = int(labels[i])
        if labels[j] == k:                                                   # split
            empties = np.flatnonzero(counts == 0)
            if not len(empties):
                return []
            new = int(empties[rng.integers(len(empties))])
            group = np.flatnonzero(labels == k)
            scales = self.scale[[k, k]]                                      # of the divided subgroup
            if sequential:
                others, follow, log_q = self._sequential(rng, group, i, j, e0, scales)
            else:
                others, log_p = self._proposal(group, i, j, informed, scales)
                if log_p is not None:
                    follow = np.log(rng.uniform(size=len(others))) < log_p[0]
                else:
                    follow = rng.uniform(size=len(others)) < rng.uniform()
                log_q = _log_q(follow, log_p)
            side_j = np.concatenate([[j], others[follow]])
            side_i = np.concatenate([[i], others[~follow]])
            sums_i, sums_j = self._sums(side_i), self._sums(side_j)
            scale_j, proposal = self.scale[new], None
            if self.spread is not None:
                proposal = self._scale_proposal(sums_j, side_j)
                scale_j = proposal.draw(rng, self.spread.modules)
            scales = np.stack([self.scale[k], scale_j])
            log_a = (self._log_ratio(sums_i, sums_j, side_i, side_j, scales, e0, proposal) + np.log(len(empties))
                     - log_q)
            if by_subgroup:                      # anchor pair's probability: after (merge back) / before
                log_a += np.log(n_occupied * counts[k]) - np.log((n_occupied + 1) * len(side_i))
            if np.log(rng.uniform()) < log_a:
                labels[side_j] = new
                self.scale[new] = scale_j
                return [(k, self.info.rescale(sums_i, scales[0])), (new, self.info.rescale(sums_j, scales[1]))]
            return []
        l = int(labels[j])                                                   # merge
        side_i, side_j = np.flatnonzero(labels == k), np.flatnonzero(labels == l)
        group = np.concatenate([side_i, side_j])
        scales = self.scale[[k, k]]
        if sequential:
            others = _without(group, i, j)
            log_q = self._sequential(rng, group, i, j, e0, scales, follow=labels[others] == l)[2]
        else:
            others, log_p = self._proposal(group, i, j, informed, scales)
            log_q = _log_q(labels[others] == l, log_p)
        sums_i, sums_j = self._sums(side_i), self._sums(side_j)
        log_a = -(self._log_ratio(sums_i, sums_j, side_i, side_j, self.scale[[k, l]], e0)
                  + np.log((counts == 0).sum() + 1) - log_q)
        if by_subgroup:                          # anchor pair's probability: after (split again) / before
            log_a += np.log(n_occupied * counts[k]) - np.log((n_occupied - 1) * (counts[k] + counts[l]))
        if np.log(rng.uniform()) < log_a:
            labels[side_j] = k
            if self.spread is not None:
                self.scale[l] = self.spread.draw(rng)
            return [(k, self.info.rescale(_add(sums_i, sums_j), scales[0])), (l, _empty(sums_i))]
        return []

    def _log_ratio(self, sums_i: tuple[np.ndarray, np.ndarray], sums_j: tuple[np.ndarray, np.ndarray],
                   side_i: np.ndarray, side_j: np.ndarray, scales: np.ndarray, e0: float,
                   proposal: "_InverseGamma | None" = None) -> float:
        """log p(split) - log p(merged): integrated likelihood and Dirichlet-multinomial prior.

        The split has ``i``'s side with variance multiples ``scales[0]`` and ``j``'s with
        ``scales[1]``; the merged group has ``scales[0]``. Sums are at multiple 1. With a
        prior of each subgroup's own multiples, ``j``'s side's prior density over their
        proposal density (:meth:`_scale_proposal`) is added: a split proposes them, and a
        merge returns the emptied component's to a prior draw, whose density cancels
        (``proposal``: that proposal, when the caller has it already).
        """
        merged = _add(sums_i, sums_j)
        parts = [self.info.rescale(sums, scale) for sums, scale in ((sums_i, scales[0]), (sums_j, scales[1]),
                                                                     (merged, scales[0]))]
        log_ml = self.integral.log_marginal(*(np.stack(part) for part in zip(*parts)))
        n_i, n_j = len(side_i), len(side_j)
        moved = float((self.info.const_at(scales[1], side_j) - self.info.const_at(scales[0], side_j)).sum())
        if self.spread is not None:
            if proposal is None:
                proposal = self._scale_proposal(sums_j, side_j)
            moved += self.spread.log_density(scales[1]) - proposal.log_density(scales[1], self.spread.modules)
        return (log_ml[0] + log_ml[1] - log_ml[2] + moved
                + gammaln(n_i + e0) + gammaln(n_j + e0) - gammaln(n_i + n_j + e0) - gammaln(e0))

    def _scale_proposal(self, sums: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> "_InverseGamma":
        """Proposal of a new side's scales: their inverse-gamma conditional given its patients ``rows``
        (summed information ``sums`` at multiple 1) at their posterior mean effects, under the prior."""
        info, spread = self.info, self.spread
        mean = np.where(info.scalable, self.integral.posterior_mean(*sums), 0.0)           # (M, W)
        Q, h = sums
        fit = (info.quad[rows].sum(0) - 2.0 * (h * mean).sum(-1)
               + np.einsum("mw,mwv,mv->m", mean, Q, mean))                                  # (M,)
        return _InverseGamma(spread.shape + 0.5 * info.count[rows].sum(0),
                             (spread.shape - 1.0) * spread.level + 0.5 * np.maximum(fit, 0.0))

    def redraw(self, rng: np.random.Generator, updates: list, theta: np.ndarray, delta: np.ndarray) -> None:
        """Draw the effects of the components :meth:`step` returned from their conditional (in place)."""
        for c, (Q, h) in updates:
            theta[c], delta[c] = self.integral.draw(rng, Q, h, delta.shape[1])


@dataclass(frozen=True)
class _InverseGamma:
    """Independent inverse-gamma distributions of a component's scales, one per module."""

    shape: np.ndarray
    rate: np.ndarray

    def draw(self, rng: np.random.Generator, modules: np.ndarray) -> np.ndarray:
        return np.where(modules, self.rate / rng.gamma(self.shape), 1.0)

    def log_density(self, scale: np.ndarray, modules: np.ndarray) -> float:
        return float(_log_inverse_gamma(scale, self.shape, self.rate)[modules].sum())


@jit
def _allocate(p, u, h, count, quad, scales, slot_scales, prior_precision, order, i, j, e0, uniforms, forced,
              flags):
    """The sequential allocation of :meth:`SplitMerge._sequential`: patients ``order`` join side 1
    (``j``'s) or side 0 (``i``'s) in turn; ``flags`` receives (or, when ``forced``, gives) their
    sides. Returns the log-probability of the allocation. Each side's log marginal likelihood
    is kept up to date: one small Cholesky factorisation per module and side for each patient.
    Side ``s``'s continuous covariances are ``scales[s]`` (M,) times those of ``p``, ``u``, ``h``
    (``slot_scales[s]`` (M, W) per slot; a patient's ``count`` and ``quad`` give its likelihood
    terms that change with them).
    """
    M, W = p.shape[1], p.shape[2]
    Q = np.zeros((2, M, W, W))
    lin = np.zeros((2, M, W))
    current = np.zeros(2)
    trial = np.zeros((2, M, W, W))
    trial_lin = np.zeros((2, M, W))
    joined = np.zeros(2)
    own = np.zeros(2)
    scaled_u = np.zeros(W)
    chol = np.zeros((W, W))
    z = np.zeros(W)
    for side, anchor in ((0, i), (1, j)):
        _add_patient(Q[side], lin[side], p[anchor], u[anchor], h[anchor], slot_scales[side], Q[side], lin[side],
                     scaled_u)
        current[side] = _log_marginal(Q[side], lin[side], prior_precision, chol, z)
    size = np.ones(2)
    log_q = 0.0
    for t in range(len(order)):
        k = order[t]
        for side in range(2):
            _add_patient(Q[side], lin[side], p[k], u[k], h[k], slot_scales[side], trial[side], trial_lin[side],
                         scaled_u)
            joined[side] = _log_marginal(trial[side], trial_lin[side], prior_precision, chol, z)
            own[side] = 0.0                        # the patient's terms that change with the multiples
            for m in range(M):
                own[side] -= 0.5 * (count[k, m] * np.log(scales[side, m]) + quad[k, m] / scales[side, m])
        score0 = np.log(size[0] + e0) + joined[0] - current[0] + own[0]
        score1 = np.log(size[1] + e0) + joined[1] - current[1] + own[1]
        top = max(score0, score1)
        norm = top + np.log(np.exp(score0 - top) + np.exp(score1 - top))
        if not forced:
            flags[t] = np.log(uniforms[t]) < score1 - norm
        side = 1 if flags[t] else 0
        log_q += (score1 if side == 1 else score0) - norm
        Q[side, :, :, :] = trial[side]
        lin[side, :, :] = trial_lin[side]
        current[side] = joined[side]
        size[side] += 1.0
    return log_q


@jit
def _add_patient(Q, lin, p, u, h, slot_scale, out_Q, out_lin, scaled_u):
    """``out = (Q, lin)`` plus one patient's factor (diag(p) - u u' and h per module), the
    covariance of slot ``(m, a)`` times ``slot_scale[m, a]`` (``scaled_u``: scratch of size W)."""
    M, W = p.shape
    for m in range(M):
        for a in range(W):
            scaled_u[a] = u[m, a] / np.sqrt(slot_scale[m, a])
        for a in range(W):
            out_lin[m, a] = lin[m, a] + h[m, a] / slot_scale[m, a]
            for b in range(W):
                out_Q[m, a, b] = Q[m, a, b] - scaled_u[a] * scaled_u[b]
            out_Q[m, a, a] += p[m, a] / slot_scale[m, a]


@jit
def _log_marginal(Q, lin, prior_precision, chol, z):
    """:meth:`EffectIntegral.log_marginal` of one group, without its prior's log-determinant
    (a constant that cancels wherever this is used: differences between groups' values)."""
    M, W = lin.shape
    total = 0.0
    for m in range(M):
        for a in range(W):
            for b in range(a + 1):
                value = Q[m, a, b] + prior_precision[m, a, b]
                for c in range(b):
                    value -= chol[a, c] * chol[b, c]
                chol[a, b] = np.sqrt(value) if a == b else value / chol[b, b]
        for a in range(W):
            value = lin[m, a]
            for c in range(a):
                value -= chol[a, c] * z[c]
            z[a] = value / chol[a, a]
            total += 0.5 * z[a] * z[a] - np.log(chol[a, a])
    return total


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
