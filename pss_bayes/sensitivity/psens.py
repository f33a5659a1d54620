"""Prior and likelihood power-scaling sensitivity of the reported quantities, without refitting.

Power-scaling (Kallioinen et al. 2023, *Statistics and Computing*) raises the
prior or the likelihood to a power close to 1 and measures, by Pareto-smoothed
importance sampling of the existing draws, how much each posterior quantity
moves (cumulative Jensen-Shannon distance per unit of log-power; ArviZ's
``psens``). A value of at least 0.05 flags a sensitive quantity.

The likelihood is the one the Gibbs engine records per subject (subgroup labels
summed out, module activities integrated out; conditional on the Student-t
scale-mixture weights where that family is used). The log prior is computed
here from the stored draws. As Kallioinen et al. recommend for hierarchical
models, only the priors of the top-level parameters are power-scaled: baselines,
covariate and centre effects (Normal), residual variances, patients' spread
multiples and within-module spreads (inverse-gamma), loadings (Normal), every component's subgroup-by-module
effects (Normal) and the Dirichlet concentration (Gamma; sparse mixtures). The
hierarchical levels below them are not: biomarker effects given their module
effect and spread, mixture weights given the concentration, and the module
activities (``N(0, 1)``, not stored). Power-scaling the weights' Dirichlet
density would not work anyway: the weights of empty components are so small that
its log density varies by hundreds of units between draws, which leaves
importance sampling a single effective draw.

Quantities: the number of non-empty subgroups (all draws); subgroup weights and
module effects (relabelled draws of the reported K, so conditional on K as in the
result tables): ArviZ's ``psens``. Memberships are probabilities piled up near 0
or 1, for which the distance between distributions reacts to relative changes of
a tiny tail; for them the table gives instead the change of the reported
(posterior mean) membership of each patient in its most probable subgroup per
doubling of the prior's or likelihood's power (first order, from the same
importance weights), flagged from 0.05. ``prior_block`` names the prior whose
power-scaling alone moves a flagged quantity most.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import gamma, invgamma, norm

from pss_bayes.model.spec import ModelSpec

#: Sensitivity from which a quantity is flagged (Kallioinen et al. 2023).
THRESHOLD = 0.05
#: Groups of log-prior terms power-scaled one at a time to say which prior matters.
PRIOR_BLOCKS = {"baseline": ("baseline", "covariate_effect", "batch_effect"), "noise": ("sigma2",),
                "loading": ("loading",), "patient_spread": ("patient_scale", "subgroup_scale"), "pooling": ("tau2",),
                "module_effect": ("module_effect",),
                "concentration": ("concentration",), "degrees_of_freedom": ("df",)}
_CD = ("chain", "draw")


def log_prior(idata: az.InferenceData, spec: ModelSpec) -> xr.Dataset:
    """Log prior density of the top-level parameters per draw, one variable per parameter block."""
    post, const = idata.posterior, idata.constant_data
    p, mix = spec.priors, spec.mixture
    is_binary = const["is_binary"].to_numpy().astype(bool)
    has_loading = const["activity_factor"].to_numpy() >= 0
    terms = {
        "baseline": norm.logpdf(post["baseline"].to_numpy(), 0.0,
                                np.where(is_binary, p.binary_baseline_sd, p.baseline_sd)).sum(-1),
        "covariate_effect": norm.logpdf(post["covariate_effect"].to_numpy(), 0.0, p.covariate_sd).sum((-2, -1)),
        "batch_effect": norm.logpdf(post["batch_effect"].to_numpy(), 0.0, p.batch_sd).sum((-2, -1)),
        "sigma2": invgamma.logpdf(post["sigma"].to_numpy()[..., ~is_binary] ** 2, p.noise_shape,
                                  scale=p.noise_scale).sum(-1),
        "loading": norm.logpdf(post["loading"].to_numpy()[..., has_loading], 0.0,
                               spec.covariation.loading_sd).sum(-1),
        "tau2": invgamma.logpdf(post["tau"].to_numpy() ** 2, p.pooling_shape, scale=p.pooling_scale).sum(-1),
        "module_effect": norm.logpdf(post["component_module_effect"].to_numpy(), 0.0,
                                     p.module_effect_sd).sum((-2, -1)),
    }
    if mix.sparse:
        terms["concentration"] = gamma.logpdf(post["concentration"].to_numpy(), mix.e0_shape,
                                              scale=1.0 / (mix.e0_rate_per_k * mix.k_max))
    if "patient_spread" in post and spec.patient_spread.enabled:
        scale = post["patient_spread"].to_numpy() ** 2
        has_scale = np.isfinite(scale).all(axis=(0, 1))
        spread = spec.patient_spread
        terms["patient_scale"] = invgamma.logpdf(scale[..., has_scale], spread.prior_shape,
                                                 scale=spread.prior_scale).sum(-1)
        if "component_spread" in post:            # each subgroup's scale around its module's
            shape = spread.subgroup_shape
            own = post["component_spread"].to_numpy()[..., has_scale] ** 2
            terms["subgroup_scale"] = invgamma.logpdf(own, shape, scale=(shape - 1.0)
                                                      * scale[..., None, has_scale]).sum((-2, -1))
    if "df" in post:
        like = spec.likelihood
        terms["df"] = gamma.logpdf(post["df"].to_numpy(), like.df_prior_shape, scale=1.0 / like.df_prior_rate)
    coords = {"chain": post["chain"].to_numpy(), "draw": post["draw"].to_numpy()}
    return xr.Dataset({name: (_CD, np.asarray(value, dtype=float)) for name, value in terms.items()},
                      coords=coords)


def power_scaling(idata: az.InferenceData, spec: ModelSpec, delta: float = 0.01) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of the reported quantities.

    Parameters
    ----------
    idata
        A fit's InferenceData (posterior with ``component_module_effect``,
        log_likelihood, sample_stats with ``relabelled``, constant_data).
    spec
        The model spec the fit used (its priors).
    delta
        Power-scaling step: powers ``1 / (1 + delta)`` and ``1 + delta``.

    Returns
    -------
    DataFrame
        One row per quantity: ``quantity`` (a readable label), ``variable``,
        ``subgroup``, ``module``, ``subject_id`` (empty where not applicable),
        ``measure`` (``psens`` or ``mean shift``), ``prior`` and ``likelihood``
        (sensitivities), ``prior_sensitive`` and ``likelihood_sensitive`` (at
        least :data:`THRESHOLD`), ``prior_block`` and ``diagnosis``
        ("prior-data conflict", "strong prior / weak likelihood" or "-").
    """
    with _quiet_arviz():
        return _power_scaling(idata, spec, delta)


@contextmanager
def _quiet_arviz() -> Iterator[None]:
    """Silence ArviZ's shape warning: relabelled draws are passed as one chain, which PSIS does not mind."""
    logger = logging.getLogger("arviz")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _power_scaling(idata: az.InferenceData, spec: ModelSpec, delta: float) -> pd.DataFrame:
    post = idata.posterior
    lp = log_prior(idata, spec)
    ll = idata.log_likelihood[["y"]]
    rows = [_psens(xr.Dataset({"n_subgroups": post["n_subgroups"].astype(float)}), lp, ll, delta)
            .assign(quantity="number of subgroups")]
    kept = idata.sample_stats["relabelled"].to_numpy().ravel()
    if kept.any():
        lp_kept, ll_kept = _subset(lp, kept), _subset(ll, kept)
        effects = _subset(xr.Dataset({"weight": post["weight"], "module_effect": post["module_effect"]}), kept)
        table = _psens(effects, lp_kept, ll_kept, delta)
        rows.append(table.assign(quantity=[_label(r) for r in table.itertuples()]))
        rows.append(_membership_shift(_subset(post[["membership"]], kept)["membership"], lp_kept, ll_kept, delta))
    out = pd.concat(rows, ignore_index=True)
    out["prior_sensitive"] = out["prior"].abs() >= THRESHOLD
    out["likelihood_sensitive"] = out["likelihood"].abs() >= THRESHOLD
    out["prior_block"] = out["prior_block"].where(out["prior_sensitive"], "")
    out["diagnosis"] = np.where(out["prior_sensitive"] & out["likelihood_sensitive"], "prior-data conflict",
                                np.where(out["prior_sensitive"], "strong prior / weak likelihood", "-"))
    columns = ["quantity", "variable", "subgroup", "module", "subject_id", "measure", "prior", "likelihood",
               "prior_sensitive", "likelihood_sensitive", "prior_block", "diagnosis"]
    return out.reindex(columns=columns).fillna({"subgroup": "", "module": "", "subject_id": ""})


def _subset(ds: xr.Dataset, kept: np.ndarray) -> xr.Dataset:
    """Selected draws as one chain (ArviZ wants chain and draw dimensions)."""
    ds = ds.stack(sample=_CD).isel(sample=kept)
    ds = ds.drop_vars(["sample", "chain", "draw"]).rename({"sample": "draw"}).expand_dims("chain")
    return ds.transpose("chain", "draw", ...)


def _psens(quantities: xr.Dataset, lp: xr.Dataset, ll: xr.Dataset, delta: float) -> pd.DataFrame:
    """ArviZ ``psens`` of each quantity: joint prior, likelihood, and each prior block alone."""
    data = az.InferenceData(posterior=quantities, log_prior=lp, log_likelihood=ll)
    runs = {"prior": None, **{block: [v for v in names if v in lp] for block, names in PRIOR_BLOCKS.items()}}
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")     # constant quantities give 0/0 (replaced by 0 below)
        values = {name: az.psens(data, component="prior", component_var_names=names, delta=delta)
                  for name, names in runs.items() if names != []}
        values["likelihood"] = az.psens(data, component="likelihood", delta=delta)
    frames = []
    for name in quantities.data_vars:
        draws = quantities[name]
        constant = draws.max(_CD) == draws.min(_CD)
        scaled = xr.Dataset({c: values[c][name].where(~constant, 0.0) for c in values}).reset_coords(drop=True)
        frame = (scaled.to_dataframe().reset_index() if scaled["prior"].ndim else
                 pd.DataFrame({c: [float(scaled[c])] for c in values}))
        frames.append(frame.assign(variable=name))
    out = pd.concat(frames, ignore_index=True)
    blocks = [b for b in PRIOR_BLOCKS if b in out]
    out["prior_block"] = out[blocks].idxmax(axis=1)
    return out.drop(columns=blocks).assign(measure="psens")


def _membership_shift(membership: xr.DataArray, lp: xr.Dataset, ll: xr.Dataset, delta: float) -> pd.DataFrame:
    """Change of each patient's mean membership in its most probable subgroup per doubling of a power."""
    reported = membership.mean(_CD).argmax("subgroup").to_numpy()
    draws = membership.stack(sample=_CD).transpose("sample", ...).to_numpy().astype(float)
    own = draws[:, np.arange(draws.shape[1]), reported]                     # (S, n)
    components = {"prior": _total(lp, list(lp.data_vars)), "likelihood": _total(ll, ["y"])}
    components.update({b: _total(lp, [v for v in names if v in lp]) for b, names in PRIOR_BLOCKS.items()})
    shifts = {name: _mean_shift(own, c, delta) for name, c in components.items()}
    blocks = pd.DataFrame({b: np.abs(shifts[b]) for b in PRIOR_BLOCKS})
    subjects = membership["subject"].to_numpy().astype(str)
    return pd.DataFrame({"quantity": [f"membership of {s} in its subgroup" for s in subjects],
                         "variable": "membership", "subject_id": subjects,
                         "subgroup": membership["subgroup"].to_numpy().astype(str)[reported],
                         "measure": "mean shift", "prior": shifts["prior"], "likelihood": shifts["likelihood"],
                         "prior_block": blocks.idxmax(axis=1).to_numpy()})


def _total(ds: xr.Dataset, names: list[str]) -> np.ndarray:
    """Per-draw sum of some variables (over every dimension but chain and draw)."""
    total = np.zeros(ds.sizes["chain"] * ds.sizes["draw"])
    for name in names:
        da = ds[name]
        total += da.sum([d for d in da.dims if d not in _CD]).stack(sample=_CD).to_numpy()
    return total


def _mean_shift(values: np.ndarray, component: np.ndarray, delta: float) -> np.ndarray:
    """d E[values] / d log2(power) by finite differences with Pareto-smoothed importance weights."""
    weights = []
    for alpha in (1.0 / (1.0 + delta), 1.0 + delta):
        log_w, _ = az.psislw((alpha - 1.0) * (component - component.max()))
        w = np.exp(log_w - log_w.max())
        weights.append(w / w.sum())
    return (weights[1] - weights[0]) @ values / (2.0 * np.log2(1.0 + delta))


def _label(row: Any) -> str:
    if row.variable == "weight":
        return f"weight of subgroup {row.subgroup}"
    return f"module effect: subgroup {row.subgroup}, {row.module}"
