"""Metropolis moves of a module's baselines against its subgroup and module effects.

Adding ``c`` to the baseline of every biomarker of module ``m`` while subtracting it
from every subgroup's effects on them and from the subgroup-by-module effects
``theta_km`` leaves every patient's predictor, and the pooling of effects around
``theta``, unchanged: only the controls' predictors and the priors of the baselines
and of ``theta`` move. For a module of rare binary markers (a few positive controls)
the baselines are weakly determined, and the blocked updates, each conditional on
``theta``, trade them against the effects and ``theta`` one small step per sweep;
this was the least mixed direction of the binary markers. ``c`` is drawn by a
random-walk Metropolis step on its exact conditional:

    sum_controls, binary j [y c - log(1 + exp(eta + c)) + log(1 + exp(eta))]
      - sum_controls, continuous j p_ij ((r_ij - c)^2 - r_ij^2) / 2
      - sum_j s_j ((mu_j + c)^2 - mu_j^2) / 2 - sum_k ((theta_km - c)^2 - theta_km^2) / (2 s_theta^2),

(``r``: residuals given the activities, ``p``: precisions, ``s_j``: prior precision of a
baseline). Only modules with a binary biomarker are moved (a continuous module's
baselines are pinned by the controls); all of them at once, being independent given
the rest. Step sizes are adapted during warm-up towards an acceptance rate of 0.44.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.variance_share import ADAPTATION_RATE, TARGET_ACCEPTANCE

#: Random-walk proposals per sweep.
ROUNDS = 3


class ModuleShift:
    """Module-wide baseline-against-effects moves of one chain.

    Parameters
    ----------
    module
        (J,) module of each biomarker.
    is_binary
        (J,) true for binary biomarkers.
    baseline_prec
        (J,) prior precision of each baseline (prior mean 0).
    theta_prec
        Prior precision of a subgroup-by-module effect (prior mean 0).
    """

    def __init__(self, module: np.ndarray, is_binary: np.ndarray, baseline_prec: np.ndarray,
                 theta_prec: float) -> None:
        self.modules = np.unique(module[is_binary])
        self.columns = np.flatnonzero(np.isin(module, self.modules))
        self.member = (module[self.columns][:, None] == self.modules[None, :]).astype(float)   # (J_m, M_b)
        self.binary = is_binary[self.columns]
        self.baseline_prec = baseline_prec[self.columns]
        self.theta_prec = theta_prec
        self.log_step = np.zeros(len(self.modules))

    def step(self, rng: np.random.Generator, eta: np.ndarray, y: np.ndarray, precision: np.ndarray,
             observed: np.ndarray, baseline: np.ndarray, theta: np.ndarray, adapt: bool) -> np.ndarray:
        """The shift of each moved module (see :attr:`modules`; 0 where every proposal was rejected).

        Parameters
        ----------
        rng
            The chain's random generator.
        eta, y
            (n_controls, len(columns)) controls' predictors (activities included) and outcomes
            (0 where unobserved) of the biomarkers of the moved modules (:attr:`columns`).
        precision
            Same shape: precision of each observed continuous entry, 0 elsewhere.
        observed
            Same shape: observed indicator.
        baseline
            (len(columns),) baselines.
        theta
            (K, len(modules)) subgroup-by-module effects of the moved modules.
        adapt
            Adapt the step sizes (warm-up only).

        Returns
        -------
        (len(modules),) shift to add to the modules' baselines and subtract from their
        subgroup and module effects.
        """
        binary_obs = np.where(self.binary, observed, 0.0)
        resid = y - eta

        def log_target(c: np.ndarray) -> np.ndarray:
            per_marker = self.member @ c                                           # (J_m,)
            binary = (binary_obs * (y * per_marker - np.logaddexp(0.0, eta + per_marker))).sum(0)
            gaussian = -0.5 * (precision * (resid - per_marker) ** 2).sum(0)
            baseline_prior = -0.5 * self.baseline_prec * (baseline + per_marker) ** 2
            return ((binary + gaussian + baseline_prior) @ self.member
                    - 0.5 * self.theta_prec * ((theta - c) ** 2).sum(0))

        shift = np.zeros(len(self.modules))
        current = log_target(shift)
        for _ in range(ROUNDS):
            proposal = shift + np.exp(self.log_step) * rng.standard_normal(len(shift))
            candidate = log_target(proposal)
            log_ratio = candidate - current
            take = np.log(rng.uniform(size=len(shift))) < log_ratio
            if adapt:
                self.log_step += ADAPTATION_RATE * (np.exp(np.minimum(log_ratio, 0.0)) - TARGET_ACCEPTANCE)
            shift = np.where(take, proposal, shift)
            current = np.where(take, candidate, current)
        return shift
