"""The joint log-density of the control-referenced mixture, in numpy.

An independent transcription of :func:`pss_bayes.model.pymc_model.build_model`'s
density, used to check the PyMC model (and through it the Gibbs engine's
conditionals). Parameters are given as in the PyMC model's untransformed space:
variances, ``tau2`` and ``concentration`` as positive numbers, ``weights`` on the
simplex and ``eta`` the standard-normal non-centred effects. Subgroup labels are
summed out; activities are explicit.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import stats
from scipy.special import gammaln, logsumexp

from pss_bayes.model.design import ModelData, continuous_modules, entry_scale
from pss_bayes.model.spec import ModelSpec


def subgroup_effects(data: ModelData, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """``delta = theta[:, module] + sqrt(tau2)[module] * eta`` (components x biomarkers)."""
    return params["theta"][:, data.module] + np.sqrt(params["tau2"])[data.module] * params["eta"]


def variance_multiple(data: ModelData, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """(K, n, J) variance multiple of every entry in each component: the component's patient scale of
    the marker's module for patients (``subgroup_scale``, else the shared ``patient_scale``), 1 otherwise."""
    K = len(params["weights"])
    module_scale = np.ones((K, data.n_modules))
    if "subgroup_scale" in params:
        module_scale[:, continuous_modules(data)] = params["subgroup_scale"]
    elif "patient_scale" in params:
        module_scale[:, continuous_modules(data)] = params["patient_scale"]
    return entry_scale(data, module_scale)


def linear_predictor(data: ModelData, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Subjects x biomarkers predictor without the subgroup effect and the activities."""
    eta0 = np.zeros(data.y.shape) + params["baseline"]
    if data.covariates.shape[1]:
        eta0 += data.covariates @ params["covariate_effect"].T
    if data.n_batches:
        eta0 += params["batch_effect"].T[data.batch]
    return eta0


def activity_term(data: ModelData, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, J) each subject's activity times the loading, at a control's spread (0 without activities)."""
    out = np.zeros(data.y.shape)
    loaded = np.flatnonzero(data.activity >= 0)
    if loaded.size:
        out[:, loaded] = params["activity"][:, data.activity[loaded]] * params["loading"]
    return out


def degrees_of_freedom(spec: ModelSpec, params: Mapping[str, np.ndarray]) -> float:
    """The Student-t degrees of freedom: the parameter ``df`` when estimated, else the spec's."""
    return float(params["df"]) if spec.likelihood.df_estimated else spec.likelihood.df


def pointwise_log_likelihood(data: ModelData, spec: ModelSpec, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """Log-likelihood of each subject's observed entries, labels summed out.

    Parameters
    ----------
    data
        Prepared model inputs.
    spec
        Model specification.
    params
        Parameter values by PyMC variable name (untransformed).

    Returns
    -------
    numpy.ndarray
        (n_subjects,): ``logsumexp_k(log w_k + sum_j log p(y_ij | k))`` for patients,
        ``sum_j log p(y_ij | no subgroup effect)`` for controls, given the activities.
    """
    continuous = ~data.is_binary
    root = np.sqrt(variance_multiple(data, params)).transpose(1, 0, 2)            # (n, K, J)
    mu = (linear_predictor(data, params)[:, None, :] + data.is_patient[:, None, None] * subgroup_effects(data, params)
          + activity_term(data, params)[:, None, :] * root)
    y = data.y[:, None, :]
    terms = np.zeros(mu.shape)
    if continuous.any():
        sigma = np.sqrt(params["sigma2"]) * root[..., continuous]
        loc, val = mu[..., continuous], y[..., continuous]
        if spec.likelihood.family == "student_t":
            terms[..., continuous] = stats.t.logpdf(val, degrees_of_freedom(spec, params), loc=loc, scale=sigma)
        else:
            terms[..., continuous] = stats.norm.logpdf(val, loc=loc, scale=sigma)
    if data.is_binary.any():
        logit = mu[..., data.is_binary]
        terms[..., data.is_binary] = y[..., data.is_binary] * logit - np.logaddexp(0.0, logit)
    component = np.where(data.observed[:, None, :], terms, 0.0).sum(-1)          # (n, K)
    mixture = logsumexp(component + np.log(params["weights"]), axis=1)
    return np.where(data.is_patient, mixture, component[:, 0])


def log_prior(data: ModelData, spec: ModelSpec, params: Mapping[str, np.ndarray]) -> float:
    """Sum of the prior log-densities of every free parameter (see :func:`joint_log_density`)."""
    p, mix = spec.priors, spec.mixture
    total = stats.norm.logpdf(params["baseline"], 0.0,
                              np.where(data.is_binary, p.binary_baseline_sd, p.baseline_sd)).sum()
    if data.covariates.shape[1]:
        total += stats.norm.logpdf(params["covariate_effect"], 0.0, p.covariate_sd).sum()
    if data.n_batches:
        total += stats.norm.logpdf(params["batch_effect"], 0.0, p.batch_sd).sum()
    if (data.activity >= 0).any():
        total += stats.norm.logpdf(params["loading"], 0.0, spec.covariation.loading_sd).sum()
        total += stats.norm.logpdf(params["activity"]).sum()
    if (~data.is_binary).any():
        total += stats.invgamma.logpdf(params["sigma2"], p.noise_shape, scale=p.noise_scale).sum()
        if "patient_scale" in params:
            spread = spec.patient_spread
            total += stats.invgamma.logpdf(params["patient_scale"], spread.prior_shape, scale=spread.prior_scale).sum()
            if "subgroup_scale" in params:
                a = spread.subgroup_shape
                total += stats.invgamma.logpdf(params["subgroup_scale"], a,
                                               scale=(a - 1.0) * params["patient_scale"]).sum()
        like = spec.likelihood
        if like.df_estimated:
            total += stats.gamma.logpdf(params["df"], like.df_prior_shape, scale=1.0 / like.df_prior_rate)
    total += stats.norm.logpdf(params["theta"], 0.0, p.module_effect_sd).sum()
    total += stats.invgamma.logpdf(params["tau2"], p.pooling_shape, scale=p.pooling_scale).sum()
    total += stats.norm.logpdf(params["eta"]).sum()
    K = mix.n_components
    if mix.sparse:
        alpha = float(params["concentration"])
        total += stats.gamma.logpdf(alpha, mix.e0_shape, scale=1.0 / (mix.e0_rate_per_k * mix.k_max))
    else:
        alpha = mix.fixed_concentration
    total += gammaln(K * alpha) - K * gammaln(alpha) + (alpha - 1.0) * np.log(params["weights"]).sum()
    return float(total)


def joint_log_density(data: ModelData, spec: ModelSpec, params: Mapping[str, np.ndarray]) -> float:
    """Joint log-density of parameters and data, labels summed out, activities explicit.

    Parameters
    ----------
    data
        Prepared model inputs.
    spec
        Model specification.
    params
        Untransformed values by PyMC variable name: ``baseline`` (J,),
        ``covariate_effect`` (J, P) and ``batch_effect`` (J, C) where present,
        ``sigma2`` (continuous markers), ``patient_scale`` (modules with continuous
        markers, when the spec enables it), ``subgroup_scale`` (K, those modules; when
        the spread is by subgroup), ``loading`` (markers with an activity
        factor) and ``activity`` (n, F) where present, ``df`` (Student-t degrees of
        freedom, when estimated), ``theta`` (K, M), ``tau2``
        (M,), ``eta`` (K, J), ``concentration`` (sparse mixture only) and
        ``weights`` (K,, on the simplex).

    Returns
    -------
    float
        Log prior plus log-likelihood, with every normalising constant.
    """
    return log_prior(data, spec, params) + float(pointwise_log_likelihood(data, spec, params).sum())
