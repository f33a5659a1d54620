"""Metropolis-Hastings birth and death of single-patient subgroups, with informed proposals.

With sparse Dirichlet weights, plain Gibbs sampling opens a new subgroup only when
an empty component's prior draw happens to fit some patient, and closes a
one-patient subgroup only when that patient drifts away: the number of non-empty
subgroups then mixes slowly. These moves propose it directly, with the mixture
weights integrated out (they are redrawn from their full conditional in the same
sweep before anything conditions on them, a partially collapsed Gibbs step):

- *birth*: pick an empty component, then a patient from a subgroup of at least
  three, with probability growing with how much better the patient fits a
  subgroup of its own than its current one; move it there. The new component's
  subgroup-by-module and biomarker effects are integrated out in the acceptance
  ratio and then drawn from their conditional given the patient;
- *death*: move the patient of a one-patient subgroup into a subgroup of at least
  two, picked with probability growing with how well the patient fits it,
  redrawing the emptied component's effects from their prior.

Binary markers enter through their Pólya-Gamma augmentation (drawn for the move,
as in :mod:`pss_bayes.model.split_merge`) and module activities are integrated out
(:mod:`pss_bayes.model.collapsed`), so every integral is Gaussian. The
proposals are locally balanced (Zanella 2020): weights are the square root of the
likelihood ratio. A cohort usually holds a handful of
patients who could form a subgroup of their own; a uniform choice finds them once
in hundreds of proposals, an informed one at once, which makes the number of
subgroups mix in a few sweeps instead of hundreds. Each move is the exact reverse
of the other, and both acceptance ratios come from one function evaluated on the
two states, so the pair leaves the posterior invariant. Student-t
weights and Pólya-Gamma variables are conditioned on.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.collapsed import EffectIntegral, Information, loglik_given
from pss_bayes.model.numerics import logsumexp, sample_logits

#: Exponent of the likelihood ratio in the informed proposal weights (1/2: locally balanced).
INFORMED_POWER = 0.5


class BirthDeath:
    """Birth/death proposals for one chain.

    Parameters
    ----------
    info
        Each patient's Gaussian factor in its subgroup's effects, activities integrated out.
    integral
        The integral over a component's effects (module layout and priors).
    delta, theta
        Current subgroup effects (K, J) and subgroup-by-module effects (K, M), changed in
        place by accepted moves.
    """

    def __init__(self, info: Information, integral: EffectIntegral, delta: np.ndarray,
                 theta: np.ndarray) -> None:
        self.info, self.integral = info, integral
        self.delta, self.theta = delta, theta
        #: (n, K) log-likelihood of each patient in each component, given its effects.
        self.fit_in = loglik_given(info, integral.blocks.gather(delta))
        #: (n,) the same alone in a new component, its effects integrated out.
        self.fit_new = info.const + integral.log_marginal_each(info)

    def _refresh(self, k: int) -> None:
        self.fit_in[:, k] = loglik_given(self.info, self.integral.blocks.gather(self.delta[k:k + 1]))[:, 0]

    def birth_logits(self, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Unnormalised log-probability of proposing each patient for a birth."""
        ratio = self.fit_new - self.fit_in[np.arange(len(labels)), labels]
        return np.where(counts[labels] >= 3, INFORMED_POWER * ratio, -np.inf)

    def death_logits(self, i: int, counts: np.ndarray) -> np.ndarray:
        """Unnormalised log-probability of each receiving subgroup when patient ``i`` dies."""
        return np.where(counts >= 2, INFORMED_POWER * self.fit_in[i], -np.inf)

    def log_birth_ratio(self, labels: np.ndarray, i: int, k: int, e0: float,
                        logits: np.ndarray | None = None) -> float:
        """Log Metropolis-Hastings ratio of moving patient ``i`` into empty component ``k``.

        Target ratio (component ``k``'s effects integrated, weights integrated) times
        the probability of the reverse death over that of this birth. The death of
        the same patient back to its subgroup has exactly minus this ratio, evaluated
        on the state after the death. ``logits`` are :meth:`birth_logits` of ``labels``
        when already at hand.
        """
        counts = np.bincount(labels, minlength=self.delta.shape[0])
        l = int(labels[i])
        log_target = self.fit_new[i] - self.fit_in[i, l] + np.log(e0) - np.log(counts[l] - 1 + e0)
        if logits is None:
            logits = self.birth_logits(labels, counts)
        log_forward = -np.log((counts == 0).sum()) + logits[i] - logsumexp(logits)
        after = counts.copy()
        after[l] -= 1
        after[k] = 1
        death = self.death_logits(i, after)
        log_reverse = -np.log((after == 1).sum()) + death[l] - logsumexp(death)
        return float(log_target + log_reverse - log_forward)

    def _draw_component(self, rng: np.random.Generator, i: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Effects (theta, delta) of a component holding patient ``i`` alone (or no one), from their conditional."""
        rows = np.array([] if i is None else [i], dtype=int)
        return self.integral.draw(rng, *self.info.group(rows), self.delta.shape[1])

    def step(self, rng: np.random.Generator, labels: np.ndarray, e0: float) -> int:
        """Attempt one birth or death (each with probability 1/2); returns 1 if accepted.

        ``labels`` and the effects are changed in place on acceptance.
        """
        delta, theta = self.delta, self.theta
        K = delta.shape[0]
        counts = np.bincount(labels, minlength=K)
        if rng.uniform() < 0.5:                                       # birth
            empties = np.flatnonzero(counts == 0)
            if not len(empties) or not (counts >= 3).any():
                return 0
            k = int(empties[rng.integers(len(empties))])
            logits = self.birth_logits(labels, counts)
            i = sample_logits(rng, logits)
            if np.log(rng.uniform()) >= self.log_birth_ratio(labels, i, k, e0, logits):
                return 0
            labels[i] = k
            theta[k], delta[k] = self._draw_component(rng, i)
            self._refresh(k)
            return 1
        singles = np.flatnonzero(counts == 1)                          # death
        if not len(singles) or not (counts >= 2).any():
            return 0
        k = int(singles[rng.integers(len(singles))])
        i = int(np.flatnonzero(labels == k)[0])
        l = sample_logits(rng, self.death_logits(i, counts))
        after = labels.copy()
        after[i] = l
        if np.log(rng.uniform()) >= -self.log_birth_ratio(after, i, k, e0):
            return 0
        labels[i] = l
        theta[k], delta[k] = self._draw_component(rng, None)
        self._refresh(k)
        return 1
