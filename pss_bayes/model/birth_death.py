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
from pss_bayes.model.numerics import jit

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
    scale
        (K, M) each component's variance multiple per module (``info`` is at multiple 1);
        the moves condition on it: a patient born into an empty component takes that
        component's multiple, and a component emptied by a death keeps its own.
    labels
        The patients' components when the moves start.
    """

    def __init__(self, info: Information, integral: EffectIntegral, delta: np.ndarray,
                 theta: np.ndarray, scale: np.ndarray, labels: np.ndarray) -> None:
        self.info, self.integral = info, integral
        self.delta, self.theta, self.scale = delta, theta, scale
        #: (n, K) log-likelihood of each patient in each component, given its effects.
        self.fit_in = np.ascontiguousarray(loglik_given(info, integral.blocks.gather(delta), scale))
        #: (n, K) the same alone in each component with its effects integrated out, for the
        #: components a birth may fill or a death may empty (empty or holding one patient; -inf
        #: elsewhere); components with the same multiples share one evaluation.
        counts = np.bincount(labels, minlength=len(scale))
        self.fit_new = np.full(self.fit_in.shape, -np.inf)
        done: dict[bytes, int] = {}
        for k in np.flatnonzero(counts <= 1):
            key = scale[k].tobytes()
            if key in done:
                self.fit_new[:, k] = self.fit_new[:, done[key]]
            else:
                self.fit_new[:, k] = info.const_at(scale[k]) + integral.log_marginal_each(info, scale[k])
                done[key] = k

    def _refresh(self, k: int) -> None:
        self.fit_in[:, k] = loglik_given(self.info, self.integral.blocks.gather(self.delta[k:k + 1]),
                                         self.scale[k:k + 1])[:, 0]

    def log_birth_ratio(self, labels: np.ndarray, i: int, k: int, e0: float) -> float:
        """Log Metropolis-Hastings ratio of moving patient ``i`` into empty component ``k``.

        Target ratio (component ``k``'s effects integrated, weights integrated) times
        the probability of the reverse death over that of this birth. The death of
        the same patient back to its subgroup has exactly minus this ratio, evaluated
        on the state after the death.
        """
        return _log_birth_ratio(self.fit_in, self.fit_new, labels, i, k, e0)

    def _draw_component(self, rng: np.random.Generator, i: int | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Effects (theta, delta) of component ``k`` holding patient ``i`` alone (or no one), from their conditional."""
        rows = np.array([] if i is None else [i], dtype=int)
        return self.integral.draw(rng, *self.info.group(rows, self.scale[k]), self.delta.shape[1])

    def step(self, rng: np.random.Generator, labels: np.ndarray, e0: float) -> int:
        """Attempt one birth or death (each with probability 1/2); returns 1 if accepted.

        ``labels`` and the effects are changed in place on acceptance.
        """
        move, i, k, l = _propose(rng.uniform(size=4), self.fit_in, self.fit_new, labels, e0)
        if move == _REJECTED:
            return 0
        if move == _BIRTH:
            labels[i] = k
            self.theta[k], self.delta[k] = self._draw_component(rng, i, k)
        else:
            labels[i] = l
            self.theta[k], self.delta[k] = self._draw_component(rng, None, k)
        self._refresh(k)
        return 1


_REJECTED, _BIRTH, _DEATH = 0, 1, 2


@jit
def _birth_logits(fit_in, fit_new, labels, counts, k):
    """Unnormalised log-probability of proposing each patient for a birth into ``k`` (from subgroups of
    three or more)."""
    out = np.empty(len(labels))
    for i in range(len(labels)):
        l = labels[i]
        out[i] = INFORMED_POWER * (fit_new[i, k] - fit_in[i, l]) if counts[l] >= 3 else -np.inf
    return out


@jit
def _death_logits(fit_in, i, counts):
    """Unnormalised log-probability of each receiving subgroup (of two or more) when patient ``i`` dies."""
    out = np.empty(len(counts))
    for c in range(len(counts)):
        out[c] = INFORMED_POWER * fit_in[i, c] if counts[c] >= 2 else -np.inf
    return out


@jit
def _log_sum_exp(x):
    top = -np.inf
    for v in x:
        top = max(top, v)
    if not np.isfinite(top):
        return top
    total = 0.0
    for v in x:
        total += np.exp(v - top)
    return top + np.log(total)


@jit
def _draw(u, logits):
    """Index drawn with probability proportional to ``exp(logits)``, by inversion of the uniform ``u``."""
    log_total = _log_sum_exp(logits)
    cumulative, last = 0.0, -1
    for index in range(len(logits)):
        weight = np.exp(logits[index] - log_total)
        if weight > 0.0:
            cumulative += weight
            last = index
            if cumulative > u:
                return index
    return last                                  # only where rounding left the total just below u


@jit
def _counts(labels, n_components):
    counts = np.zeros(n_components, dtype=np.int64)
    for l in labels:
        counts[l] += 1
    return counts


@jit
def _how_many(counts, size):
    """Number of components holding exactly ``size`` patients."""
    total = 0
    for c in counts:
        total += c == size
    return total


@jit
def _pick(counts, size, u):
    """A component with exactly ``size`` patients, chosen uniformly by the uniform ``u`` (-1 if none)."""
    wanted = int(u * _how_many(counts, size))
    for c in range(len(counts)):
        if counts[c] == size:
            if wanted == 0:
                return c
            wanted -= 1
    return -1


@jit
def _largest(counts):
    top = 0
    for c in counts:
        top = max(top, c)
    return top


@jit
def _log_birth_ratio(fit_in, fit_new, labels, i, k, e0):
    counts = _counts(labels, fit_in.shape[1])
    l = labels[i]
    log_target = fit_new[i, k] - fit_in[i, l] + np.log(e0) - np.log(counts[l] - 1 + e0)
    logits = _birth_logits(fit_in, fit_new, labels, counts, k)
    log_forward = -np.log(_how_many(counts, 0)) + logits[i] - _log_sum_exp(logits)
    counts[l] -= 1                                                      # after the birth
    counts[k] = 1
    death = _death_logits(fit_in, i, counts)
    log_reverse = -np.log(_how_many(counts, 1)) + death[l] - _log_sum_exp(death)
    return log_target + log_reverse - log_forward


@jit
def _propose(u, fit_in, fit_new, labels, e0):
    """One birth or death proposal and its Metropolis-Hastings decision, from four uniforms ``u``.

    Returns the move (:data:`_REJECTED`, :data:`_BIRTH` or :data:`_DEATH`), the patient,
    the component born or dying, and the subgroup a dying patient joins. ``labels`` is
    left as it was.
    """
    counts = _counts(labels, fit_in.shape[1])
    if u[0] < 0.5:                                                      # birth
        k = _pick(counts, 0, u[1])
        if k < 0 or _largest(counts) < 3:
            return _REJECTED, -1, -1, -1
        i = _draw(u[2], _birth_logits(fit_in, fit_new, labels, counts, k))
        if np.log(u[3]) >= _log_birth_ratio(fit_in, fit_new, labels, i, k, e0):
            return _REJECTED, -1, -1, -1
        return _BIRTH, i, k, -1
    k = _pick(counts, 1, u[1])                                          # death
    if k < 0 or _largest(counts) < 2:
        return _REJECTED, -1, -1, -1
    i = 0
    while labels[i] != k:
        i += 1
    l = _draw(u[2], _death_logits(fit_in, i, counts))
    labels[i] = l                                                       # the state after the death
    log_ratio = -_log_birth_ratio(fit_in, fit_new, labels, i, k, e0)
    labels[i] = k
    if np.log(u[3]) >= log_ratio:
        return _REJECTED, -1, -1, -1
    return _DEATH, i, k, l
