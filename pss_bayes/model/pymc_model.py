"""The control-referenced mixture as a PyMC model.

:func:`build_model` writes down exactly the model that
:class:`~pss_bayes.model.gibbs.GibbsSampler` samples (see :mod:`pss_bayes.model.gibbs`
for the notation), for gradient-based samplers (PyMC's NUTS, nutpie) and for
PyMC's tooling (log-likelihood, prior and posterior log-densities). Subgroup labels
are summed out; the subject-level module activities stay explicit latent variables
(the Gibbs engine integrates them out when it draws labels). The non-centred
subgroup effects are ``delta = theta[:, module] + sqrt(tau2)[module] * eta``.

The likelihood is one multivariate observation per subject: the observed
variable ``y`` has dims ``(subject, biomarker)`` and a support of one row, so its
pointwise log-likelihood (``pm.compute_log_likelihood``) has one value per
subject, as PSIS-LOO over subjects needs. It is the mixture's log-density of
the subject's observed entries given the activities: for patients
``logsumexp_k(log w_k + sum_j log p(y_ij | k))``, for controls the same sum with
no subgroup effect. Unobserved entries contribute nothing. Because it is
conditional on the subject's own activities, LOO computed from it judges the
model with those activities held at their posterior values. ``y`` has a
log-density but no random generator, so PyMC cannot draw it in prior or
posterior predictive sampling.

Variables and dims
------------------
``baseline`` (biomarker), ``covariate_effect`` (biomarker, covariate; absent
without covariates), ``batch_effect`` (biomarker, batch; absent without a batch),
``sigma2`` (continuous_biomarker; absent when every marker is binary),
``loading`` (loaded_biomarker) and ``activity`` (subject, factor) when markers
load on activity factors, ``patient_scale`` (spread_module: modules with continuous
biomarkers, when the spec's ``patient_spread`` is enabled; a patient's noise and
activity in module ``m`` have ``patient_scale[m]`` times a control's variance) and,
with ``patient_spread.by_subgroup``, ``subgroup_scale`` (component, spread_module;
then a patient's multiple is its component's, inverse gamma around ``patient_scale``),
``df`` (scalar; Student-t with estimated degrees of freedom), ``theta`` (component, module), ``tau2`` (module),
``eta`` (component, biomarker), deterministic ``delta`` (component, biomarker),
``concentration`` (sparse mixture only), ``weights`` (component) and the
observed ``y`` (subject, biomarker).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from pss_bayes.model.design import ModelData, spread_modules
from pss_bayes.model.spec import ModelSpec


def model_coords(data: ModelData, spec: ModelSpec) -> dict[str, list]:
    """Coordinates of every named dimension of :func:`build_model`'s model.

    Parameters
    ----------
    data
        Prepared model inputs.
    spec
        Model specification.

    Returns
    -------
    dict
        Dimension name to coordinate values, for the dimensions this data has
        (no ``covariate``, ``batch`` or ``factor`` entry without covariates, batch
        or activity factors). Activity factors are named after the module of the
        biomarkers that load on them.
    """
    biomarkers = np.array(data.biomarkers)
    factors = [data.modules[data.module[np.flatnonzero(data.activity == f)[0]]]
               for f in range(data.n_activity)]
    coords = {
        "biomarker": list(data.biomarkers),
        "continuous_biomarker": list(biomarkers[~data.is_binary]),
        "loaded_biomarker": list(biomarkers[data.activity >= 0]),
        "module": list(data.modules),
        "component": list(range(spec.mixture.n_components)),
        "covariate": list(data.covariate_columns),
        "batch": list(data.batch_levels),
        "subject": [str(s) for s in data.subject_ids],
        "factor": factors,
        "spread_module": list(np.array(data.modules)[spread_modules(data, spec)]),
    }
    return {name: values for name, values in coords.items() if values}


def _mixture_logp(family: str) -> Callable[..., pt.TensorVariable]:
    """Log-density of subjects' rows under the mixture, labels summed out.

    The returned function takes ``(value, eta0, activity, delta, log_weights, scale, root,
    df, binary, observed, patient)`` with shapes ``(n, J), (n, J), (n, J), (K, J), (K,), (J,),
    (K, J), (), (J,), (n, J), (n,)`` and returns ``(n,)``: ``eta0`` is the predictor
    without subgroup effect and activity term, ``activity`` the activity term at a
    control's spread, ``scale`` each marker's residual scale (1 for binary markers) and
    ``root`` the square root of each component's variance multiple for patients (a
    patient's activity term and residual scale are multiplied by it; ``df``, the
    Student-t degrees of freedom, is unused for the Normal family). Both the continuous and the Bernoulli-logit density
    are evaluated at every entry (each is finite there) and the marker's kind
    selects one; masks rather than index arrays keep the gradient free of
    advanced-indexing updates, which numba (nutpie) would run in object mode.
    """

    def logp(value: pt.TensorVariable, eta0: pt.TensorVariable, activity: pt.TensorVariable,
             delta: pt.TensorVariable, log_weights: pt.TensorVariable, scale: pt.TensorVariable,
             root: pt.TensorVariable, df: pt.TensorVariable, binary: pt.TensorVariable,
             observed: pt.TensorVariable, patient: pt.TensorVariable) -> pt.TensorVariable:
        is_patient = patient[..., None, None]
        multiple = 1.0 + is_patient * (root - 1.0)                      # (n, K, J) root of the variance multiple
        mu = eta0[..., None, :] + is_patient * delta + activity[..., None, :] * multiple
        y = value[..., None, :]
        sigma = scale[..., None, :] * multiple
        if family == "student_t":
            continuous = pm.logp(pm.StudentT.dist(nu=df, mu=mu, sigma=sigma), y)
        else:
            continuous = pm.logp(pm.Normal.dist(mu=mu, sigma=sigma), y)
        bernoulli = y * mu - pt.softplus(mu)
        entries = pt.switch(binary[..., None, :] > 0, bernoulli, continuous)
        component = (entries * observed[..., None, :]).sum(-1)         # (n, K)
        mixture = pt.logsumexp(component + log_weights, axis=-1)
        return pt.switch(patient > 0, mixture, component[..., 0])

    return logp


def _indicator(index: np.ndarray, size: int) -> np.ndarray:
    """``(len(index), size)`` one-hot rows: ``x @ _indicator(i, n)`` places x[:, r] at column i[r]."""
    out = np.zeros((len(index), size))
    out[np.arange(len(index)), index] = 1.0
    return out


def build_model(data: ModelData, spec: ModelSpec) -> pm.Model:
    """The control-referenced mixture of ``data`` under ``spec`` as a PyMC model.

    Parameters
    ----------
    data
        Prepared model inputs (:func:`pss_bayes.model.design.prepare`).
    spec
        Model specification: priors, mixture (sparse or fixed K), likelihood family
        and activity loadings.

    Returns
    -------
    pymc.Model
        The model, with named dims (see the module docstring). Its observed
        variable ``y`` gives one log-likelihood value per subject.
    """
    # Spec numbers enter as float64: PyTensor makes float32 constants of Python floats
    # that float32 represents exactly, and would then evaluate e.g. log(2.0) in float32.
    p = {name: np.float64(value) for name, value in dataclasses.asdict(spec.priors).items()}
    mix = spec.mixture
    n, J = data.y.shape
    K = mix.n_components
    continuous = np.flatnonzero(~data.is_binary)
    loaded = np.flatnonzero(data.activity >= 0)
    module = _indicator(data.module, data.n_modules).T                  # (M, J)
    # Placement by products with indicator matrices, not advanced indexing (see _mixture_logp).
    with pm.Model(coords=model_coords(data, spec)) as model:
        baseline = pm.Normal("baseline", 0.0, np.where(data.is_binary, p["binary_baseline_sd"], p["baseline_sd"]),
                             dims="biomarker")
        eta0 = pt.zeros((n, J)) + baseline
        if data.covariates.shape[1]:
            beta = pm.Normal("covariate_effect", 0.0, p["covariate_sd"], dims=("biomarker", "covariate"))
            eta0 = eta0 + pt.dot(data.covariates, beta.T)
        if data.n_batches:
            batch_effect = pm.Normal("batch_effect", 0.0, p["batch_sd"], dims=("biomarker", "batch"))
            eta0 = eta0 + pt.dot(_indicator(data.batch, data.n_batches), batch_effect.T)
        # Each component's variance multiple of every marker for patients (controls: 1).
        multiple = pt.ones((K, J))
        spread = np.flatnonzero(spread_modules(data, spec))
        if spread.size:
            prior = spec.patient_spread
            patient_scale = pm.InverseGamma("patient_scale", alpha=np.float64(prior.prior_shape),
                                            beta=np.float64(prior.prior_scale), dims="spread_module")
            component_scale = pt.ones((K, 1)) * patient_scale
            if prior.by_subgroup:
                shape = np.float64(prior.subgroup_shape)
                component_scale = pm.InverseGamma("subgroup_scale", alpha=shape, beta=(shape - 1.0) * patient_scale,
                                                  dims=("component", "spread_module"))
            multiple = 1.0 + pt.dot(component_scale - 1.0, _indicator(spread, data.n_modules) @ module)  # (K, J)
        activity_term = pt.zeros((n, J))
        if loaded.size:
            loading = pm.Normal("loading", 0.0, np.float64(spec.covariation.loading_sd), dims="loaded_biomarker")
            activity = pm.Normal("activity", 0.0, 1.0, dims=("subject", "factor"))
            factor_of = _indicator(data.activity[loaded], data.n_activity).T @ _indicator(loaded, J)  # (F, J)
            activity_term = pt.dot(activity, factor_of) * pt.dot(loading, _indicator(loaded, J))
        scale = data.is_binary.astype(float) + pt.zeros(J)
        if continuous.size:
            sigma2 = pm.InverseGamma("sigma2", alpha=p["noise_shape"], beta=p["noise_scale"],
                                     dims="continuous_biomarker")
            scale = scale + pt.dot(pt.sqrt(sigma2), _indicator(continuous, J))
        like = spec.likelihood
        df = np.float64(like.df)
        if like.df_estimated and continuous.size:
            df = pm.Gamma("df", alpha=np.float64(like.df_prior_shape), beta=np.float64(like.df_prior_rate))

        theta = pm.Normal("theta", 0.0, p["module_effect_sd"], dims=("component", "module"))
        tau2 = pm.InverseGamma("tau2", alpha=p["pooling_shape"], beta=p["pooling_scale"], dims="module")
        eta = pm.Normal("eta", 0.0, 1.0, dims=("component", "biomarker"))
        delta = pm.Deterministic("delta", pt.dot(theta, module) + pt.dot(pt.sqrt(tau2), module) * eta,
                                 dims=("component", "biomarker"))

        if mix.sparse:
            concentration = pm.Gamma("concentration", alpha=np.float64(mix.e0_shape),
                                     beta=np.float64(mix.e0_rate_per_k * mix.k_max))
            weights = pm.Dirichlet("weights", a=concentration * pt.ones(K), dims="component")
        else:
            weights = pm.Dirichlet("weights", a=np.full(K, np.float64(mix.fixed_concentration)), dims="component")

        pm.CustomDist(
            "y", eta0, activity_term, delta, pt.log(weights), scale, pt.sqrt(multiple), df,
            data.is_binary.astype(float), data.observed.astype(float), data.is_patient.astype(float),
            logp=_mixture_logp(like.family),
            signature="(j),(j),(k,j),(k),(j),(k,j),(),(j),(j),()->(j)",
            observed=data.y, dims=("subject", "biomarker"))
    return model
