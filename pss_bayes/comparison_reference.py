"""Reference points of a model comparison: EM-fitted Gaussian mixtures and the prior on K.

- :func:`em_criteria`: BIC and ICL of maximum-likelihood Gaussian mixtures
  (scikit-learn ``GaussianMixture``, diagonal covariances, EM) for each K, in
  mclust's sign convention (higher is better), so that reviewers who know
  mclust can read them.
- :func:`prior_n_subgroups`: the prior the sparse finite mixture puts on the
  number of non-empty subgroups among ``n`` patients, computed exactly as the R
  package fipp does (Greve et al. 2022), so that the posterior over K can be
  set against it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import gamma
from sklearn.mixture import GaussianMixture

from pss_bayes.data.cohort import Cohort
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.model.spec import MixtureSpec

#: Equal-probability nodes of the Dirichlet concentration's Gamma hyperprior.
_E0_NODES = 128


def em_criteria(cohort: Cohort, ks: Iterable[int], *, seed: int = 0, n_init: int = 5) -> pd.DataFrame:
    """BIC and ICL of diagonal Gaussian mixtures fitted by EM to the patients.

    The data are the patients' continuous biomarkers on the control-referenced
    scale; missing values are set to 0, the controls' median (binary markers,
    covariates, centres and controls are not used).

    Parameters
    ----------
    cohort
        The cohort.
    ks
        Numbers of components.
    seed
        Seed of the EM initialisations.
    n_init
        EM restarts per K (the best is kept).

    Returns
    -------
    DataFrame with columns ``k``, ``bic`` (``2 log L - p log n``) and ``icl``
    (``bic - 2 * sum_i sum_k -z_ik log z_ik``, the classification entropy of the
    fitted memberships); higher is better for both.
    """
    scaled = ControlScaling.fit(cohort).transform(cohort.values, cohort.biomarker_names)
    x = np.nan_to_num(scaled[cohort.is_patient][:, ~cohort.markers.is_binary], nan=0.0)
    rows = []
    for k in ks:
        gm = GaussianMixture(k, covariance_type="diag", n_init=n_init, random_state=seed).fit(x)
        z = gm.predict_proba(x)
        entropy = float(-(z * np.log(np.clip(z, 1e-300, None))).sum())
        bic = -float(gm.bic(x))
        rows.append({"k": int(k), "bic": bic, "icl": bic - 2.0 * entropy})
    return pd.DataFrame(rows, columns=["k", "bic", "icl"])


def _n_subgroups_given_e0(n: int, k_max: int, e0: float) -> np.ndarray:
    """P(K+ = k | e0) for k = 1..k_max: n draws from a symmetric Dirichlet(e0)-multinomial.

    The probability of the counts (n_1..n_K) is multinomial-Dirichlet; summing over
    the counts with exactly k positive entries gives
    ``C(K, k) n! G(K e0) / G(n + K e0) * f_k(n)``, where ``f_k(n)`` sums
    ``prod_i G(n_i + e0) / (G(e0) n_i!)`` over the compositions of n into k
    positive parts (a k-fold convolution).
    """
    sizes = np.arange(1, n + 1)
    log_g = gammaln(sizes + e0) - gammaln(e0) - gammaln(sizes + 1)
    top = log_g.max()
    g = np.r_[0.0, np.exp(log_g - top)]                 # index = part size
    conv = g.copy()
    log_f = np.empty(k_max)
    for k in range(1, k_max + 1):
        log_f[k - 1] = np.log(conv[n]) + k * top if conv[n] > 0 else -np.inf
        conv = np.convolve(conv, g)[:n + 1]
    ks = np.arange(1, k_max + 1)
    log_choose = gammaln(k_max + 1) - gammaln(ks + 1) - gammaln(k_max - ks + 1)
    log_p = log_choose + gammaln(n + 1) + gammaln(k_max * e0) - gammaln(n + k_max * e0) + log_f
    return np.exp(log_p)


def prior_n_subgroups(n_patients: int, mixture: MixtureSpec) -> pd.DataFrame:
    """Prior distribution of the number of non-empty subgroups of a sparse finite mixture.

    Weights ~ Dirichlet(e0) over ``k_max`` components with e0 ~ Gamma(``e0_shape``,
    rate ``e0_rate_per_k * k_max``), and ``n_patients`` allocations; e0 is
    integrated over equal-probability quantiles of its Gamma prior.

    Returns
    -------
    DataFrame with columns ``k`` (1..k_max) and ``probability``.
    """
    k_max = mixture.k_max
    rate = mixture.e0_rate_per_k * k_max
    levels = (np.arange(_E0_NODES) + 0.5) / _E0_NODES
    e0s = gamma.ppf(levels, mixture.e0_shape, scale=1.0 / rate)
    probability = np.mean([_n_subgroups_given_e0(n_patients, k_max, e0) for e0 in e0s], axis=0)
    return pd.DataFrame({"k": np.arange(1, k_max + 1), "probability": probability})
