"""Test helpers: model variants, random parameter points, and the Gibbs engine's view of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
from pymc.logprob.transforms import LogTransform, SimplexTransform
from pymc.model.transform.conditioning import remove_value_transforms

from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.model.design import ModelData, continuous_modules, prepare
from pss_bayes.model.chain import initial_labels
from pss_bayes.model.gibbs import GibbsSampler, State
from pss_bayes.model.spec import ModelSpec, load_spec


def make_data(spec: ModelSpec, *, seed: int = 3, binary: bool = True, batch: bool = True,
              covariates: bool = True) -> ModelData:
    """Model inputs from a tiny simulated cohort, optionally without some of its parts."""
    data, _, _ = prepare(simulate_cohort(preset="tiny", seed=seed).cohort, spec)
    n = data.n_subjects
    if not batch:
        data = dataclasses.replace(data, batch=np.zeros(n, dtype=int), n_batches=0, batch_levels=())
    if not covariates:
        data = dataclasses.replace(data, covariates=np.zeros((n, 0)), covariate_columns=())
    if not binary:
        keep = ~data.is_binary
        data = dataclasses.replace(
            data, y=data.y[:, keep], observed=data.observed[:, keep], is_binary=data.is_binary[keep],
            module=data.module[keep], activity=data.activity[keep],
            biomarkers=tuple(np.array(data.biomarkers)[keep]))
    return data


def make_spec(family: str = "normal", fixed_k: int = 0, covariation: bool = True,
              estimate_df: bool = True, by_subgroup: bool = False) -> ModelSpec:
    """The default spec with the likelihood family, mixture, co-variation, df estimation and the
    patients' spread (shared or by subgroup) changed."""
    return load_spec("default").replace(likelihood={"family": family, "estimate_df": estimate_df},
                                        mixture={"fixed_k": fixed_k, "k_max": 4},
                                        covariation={"enabled": covariation},
                                        patient_spread={"by_subgroup": by_subgroup})


def random_params(model: pm.Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random point of ``model``'s free variables, untransformed (positive, simplex or real)."""
    shapes = {name: np.shape(value) for name, value in remove_value_transforms(model).initial_point().items()}
    params = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms[rv]
        shape = shapes[rv.name]
        if isinstance(transform, LogTransform):
            params[rv.name] = np.exp(rng.normal(0.0, 0.5, shape))
        elif isinstance(transform, SimplexTransform):
            params[rv.name] = rng.dirichlet(np.full(shape[-1], 2.0))
        else:
            params[rv.name] = rng.normal(0.0, 1.0, shape)
    return params


def gibbs_state(sampler: GibbsSampler, params: dict[str, np.ndarray]) -> State:
    """The Gibbs engine's state holding the PyMC-named parameters ``params``.

    Labels, activities and Student-t weights are placeholders: the engine's
    pointwise log-likelihood sums out labels and integrates out activities.
    """
    data, spec = sampler.data, sampler.spec
    n, J = data.y.shape
    blocks = [params["baseline"][:, None]]
    if data.covariates.shape[1]:
        blocks.append(params["covariate_effect"])
    if data.n_batches:
        blocks.append(params["batch_effect"])
    loading = np.zeros(J)
    if "loading" in params:
        loading[data.activity >= 0] = params["loading"]
    sigma2 = np.ones(J)
    sigma2[~data.is_binary] = params["sigma2"]
    delta = params["theta"][:, data.module] + np.sqrt(params["tau2"])[data.module] * params["eta"]
    patient_scale = np.ones(data.n_modules)
    if "patient_scale" in params:
        patient_scale[continuous_modules(data)] = params["patient_scale"]
    return State(fixed=np.concatenate(blocks, axis=1), delta=delta, loading=loading, sigma2=sigma2,
                 theta=params["theta"], tau2=params["tau2"], log_weights=np.log(params["weights"]),
                 e0=float(params.get("concentration", spec.mixture.fixed_concentration)),
                 labels=np.zeros(int(data.is_patient.sum()), dtype=int),
                 activity=np.zeros((n, data.n_activity)), t_weights=np.ones((n, J)),
                 patient_scale=patient_scale, subgroup_scale=_subgroup_scale(data, params, patient_scale),
                 nu=float(params.get("df", spec.likelihood.df)))


def _subgroup_scale(data: ModelData, params: dict[str, np.ndarray], patient_scale: np.ndarray) -> np.ndarray:
    """(K, M) each component's patient scale: PyMC's ``subgroup_scale`` where it has one, else the shared one."""
    K = len(params["weights"])
    out = np.tile(patient_scale, (K, 1))
    if "subgroup_scale" in params:
        out[:, continuous_modules(data)] = params["subgroup_scale"]
    return out


def warmed_up(spec: ModelSpec, sweeps: int = 20) -> tuple[GibbsSampler, State]:
    """A sampler of the tiny cohort under ``spec`` and its state after a few sweeps from k-means."""
    data = make_data(spec)
    sampler = GibbsSampler(data, spec, seed=0)
    state = sampler.initial_state(initial_labels(data, sampler.layout.n_components, 0))
    for _ in range(sweeps):
        sampler.sweep(state, record=False)
    return sampler, state
