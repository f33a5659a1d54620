"""Metropolis-Hastings birth and death of single-patient subgroups.

With sparse Dirichlet weights, plain Gibbs sampling opens a new subgroup only when
an empty component's prior draw happens to fit some patient, and closes a
one-patient subgroup only when that patient drifts away: the number of non-empty
subgroups then mixes slowly. These moves propose it directly, with the mixture
weights integrated out (they are redrawn from their full conditional in the same
sweep before anything conditions on them, a partially collapsed Gibbs step):

- *birth*: move one patient from a subgroup of at least three into an empty
  component, with that component's continuous effects integrated out in the
  acceptance ratio and then drawn from their conditional given the patient; binary
  effects are drawn from their prior;
- *death*: move the patient of a one-patient subgroup into a subgroup of at least
  two, redrawing the emptied component's effects from their prior.

Each move is the exact reverse of the other, so the pair leaves the posterior
invariant. Activities and Student-t weights are conditioned on.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

LOG_2PI = float(np.log(2 * np.pi))


def _normal_logpdf(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    return float(-0.5 * (LOG_2PI + np.log(var) + (x - mean) ** 2 / var).sum())


def _bernoulli_logit(y: np.ndarray, eta: np.ndarray) -> float:
    return float((y * eta - np.logaddexp(0.0, eta)).sum())


class BirthDeath:
    """Birth/death proposals for one chain.

    Parameters
    ----------
    resid
        (n_patients, J) continuous data minus baseline, covariate, batch and activity
        terms (zero where unobserved or binary).
    prec
        (n_patients, J) precision of each continuous entry (0 where unobserved/binary).
    eta_binary, y_binary, obs_binary
        (n_patients, B) binary predictors without subgroup effect, outcomes, mask.
    module
        (J,) module index per biomarker; ``binary`` (J,) mask.
    """

    def __init__(self, resid, prec, eta_binary, y_binary, obs_binary, module, binary) -> None:
        self.resid, self.prec = resid, prec
        self.eta_b, self.y_b, self.obs_b = eta_binary, y_binary, obs_binary
        self.module, self.binary = module, binary

    def _log_ratio(self, i: int, k: int, l: int, delta: np.ndarray, theta: np.ndarray, tau2: np.ndarray,
                   delta_k_binary: np.ndarray) -> float:
        """log p(y_i | new subgroup k, effects integrated) - log p(y_i | subgroup l)."""
        obs = self.prec[i] > 0
        tau2_j = tau2[self.module]
        mean_k = theta[k, self.module]
        r, p = self.resid[i, obs], self.prec[i, obs]
        new = _normal_logpdf(r, mean_k[obs], 1.0 / p + tau2_j[obs])
        old = _normal_logpdf(r, delta[l, obs], 1.0 / p)
        ob = self.obs_b[i]
        if ob.any():
            eta = self.eta_b[i, ob]
            new += _bernoulli_logit(self.y_b[i, ob], eta + delta_k_binary[ob])
            old += _bernoulli_logit(self.y_b[i, ob], eta + delta[l, self.binary][ob])
        return new - old

    def step(self, rng: np.random.Generator, labels: np.ndarray, delta: np.ndarray, theta: np.ndarray,
             tau2: np.ndarray, e0: float) -> int:
        """Attempt one birth or death (each with probability 1/2); returns 1 if accepted.

        ``labels`` and ``delta`` are changed in place on acceptance.
        """
        K = delta.shape[0]
        counts = np.bincount(labels, minlength=K)
        big = np.flatnonzero(counts >= 2)
        binary = self.binary
        tau_b = np.sqrt(tau2[self.module[binary]])
        if rng.uniform() < 0.5:                                       # birth
            empties = np.flatnonzero(counts == 0)
            candidates = np.flatnonzero(counts[labels] >= 3)
            if not len(empties) or not len(candidates):
                return 0
            i, k = int(rng.choice(candidates)), int(rng.choice(empties))
            l = int(labels[i])
            new_binary = theta[k, self.module[binary]] + tau_b * rng.standard_normal(binary.sum())
            log_a = (self._log_ratio(i, k, l, delta, theta, tau2, new_binary)
                     + np.log(e0) - np.log(counts[l] - 1 + e0)
                     - np.log((counts == 1).sum() + 1) - np.log(len(big))
                     + np.log(len(candidates)) + np.log(len(empties)))
            if np.log(rng.uniform()) >= log_a:
                return 0
            labels[i] = k
            obs = self.prec[i] > 0
            tau2_j = tau2[self.module]
            post_prec = 1.0 / tau2_j + np.where(obs, self.prec[i], 0.0)
            post_mean = (theta[k, self.module] / tau2_j + self.prec[i] * self.resid[i]) / post_prec
            delta[k] = post_mean + rng.standard_normal(len(post_mean)) / np.sqrt(post_prec)
            delta[k, binary] = new_binary
            return 1
        singles = np.flatnonzero(counts == 1)                          # death
        if not len(singles) or not len(big):
            return 0
        k, l = int(rng.choice(singles)), int(rng.choice(big))
        i = int(np.flatnonzero(labels == k)[0])
        after = counts.copy()
        after[k], after[l] = 0, counts[l] + 1
        n_candidates = int(after[after >= 3].sum())
        log_a = -(self._log_ratio(i, k, l, delta, theta, tau2, delta[k, binary])
                  + np.log(e0) - np.log(counts[l] + e0)
                  - np.log(len(singles)) - np.log(len(big))
                  + np.log(n_candidates) + np.log((counts == 0).sum() + 1))
        if np.log(rng.uniform()) >= log_a:
            return 0
        labels[i] = l
        tau2_j = tau2[self.module]
        delta[k] = theta[k, self.module] + np.sqrt(tau2_j) * rng.standard_normal(len(tau2_j))
        return 1
