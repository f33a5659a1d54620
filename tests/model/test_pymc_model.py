"""The PyMC model: it compiles, and its density is the numpy one and the Gibbs engine's."""

from __future__ import annotations

import itertools

import arviz as az
import numpy as np
import pymc as pm
import pytensor
from pytensor.compile.mode import Mode
import pytest
from scipy import stats

from pss_bayes.model.density import joint_log_density, pointwise_log_likelihood
from pss_bayes.model.gibbs import GibbsSampler
from pss_bayes.model.pymc_model import build_model
from tests.model.params import gibbs_state, make_data, make_spec, random_params

# Python-linked graphs without rewrites compile in a fraction of a second; the data are tiny.
FAST = Mode(linker="py", optimizer=None)

# Each switch of the model is on in some variant and off in another.
VARIANTS = {
    "full": dict(family="normal", fixed_k=0, covariation=True, binary=True, batch=True, covariates=True,
                 by_subgroup=True),
    "bare": dict(family="student_t", fixed_k=3, covariation=False, binary=False, batch=False, covariates=False,
                 estimate_df=False),
    "normal_fixed": dict(family="normal", fixed_k=3, covariation=True, binary=True, batch=False, covariates=True),
    "student_sparse": dict(family="student_t", fixed_k=0, covariation=False, binary=True, batch=True,
                           covariates=False, by_subgroup=True),
}


def build_variant(family: str, fixed_k: int, covariation: bool, estimate_df: bool = True, by_subgroup: bool = False,
                  **parts: bool):
    spec = make_spec(family, fixed_k, covariation, estimate_df, by_subgroup)
    data = make_data(spec, **parts)
    return data, spec, build_model(data, spec)


@pytest.fixture(scope="module", params=list(VARIANTS))
def compiled(request):
    """A model variant and one compiled function of its value variables giving
    ``[logp, logp without Jacobian, *gradient of logp]``."""
    data, spec, model = build_variant(**VARIANTS[request.param])
    logp = model.logp()
    outs = [logp, model.logp(jacobian=False), *pytensor.grad(logp, model.value_vars)]
    return request.param, data, spec, model, model.compile_fn(outs=outs, mode=FAST)


def test_model_compiles_with_finite_logp_and_gradient(compiled):
    variant, data, spec, model, fn = compiled
    settings = VARIANTS[variant]
    point = model.initial_point()
    logp, _, *gradient = fn(point)
    assert np.isfinite(logp)
    assert [g.shape for g in gradient] == [point[v.name].shape for v in model.value_vars]
    assert all(np.isfinite(g).all() for g in gradient)

    dims = model.named_vars_to_dims
    assert dims["delta"] == ("component", "biomarker")
    assert dims["y"] == ("subject", "biomarker")
    assert len(model.coords["component"]) == spec.mixture.n_components
    assert ("batch_effect" in model.named_vars) == settings["batch"]
    assert ("covariate_effect" in model.named_vars) == settings["covariates"]
    assert ("activity" in model.named_vars) == settings["covariation"]
    assert ("concentration" in model.named_vars) == (settings["fixed_k"] == 0)
    assert ("df" in model.named_vars) == (settings["family"] == "student_t" and settings.get("estimate_df", True))
    assert ("subgroup_scale" in model.named_vars) == settings.get("by_subgroup", False)
    if settings["covariation"]:
        assert dims["activity"] == ("subject", "factor")
        assert tuple(model.coords["factor"]) == ("interferon", "inflammation", "b_cell")


def test_logp_without_jacobian_equals_numpy_joint_density(compiled):
    _, data, spec, model, fn = compiled
    rng = np.random.default_rng(11)
    for _ in range(2):
        params = random_params(model, rng)
        transformed = {}
        for rv in model.free_RVs:
            transform = model.rvs_to_transforms[rv]
            transformed[model.rvs_to_values[rv].name] = (
                params[rv.name] if transform is None
                else transform.forward(params[rv.name], *rv.owner.inputs).eval(mode=FAST))
        _, logp, *_ = fn(transformed)
        assert logp == pytest.approx(joint_log_density(data, spec, params), rel=1e-10)


def test_pointwise_log_likelihood_has_one_value_per_subject():
    data, spec, model = build_variant(**VARIANTS["normal_fixed"])
    rng = np.random.default_rng(2)
    draws = [random_params(model, rng) for _ in range(2)]
    posterior = {name: np.stack([d[name] for d in draws])[None] for name in draws[0]}
    idata = az.from_dict(posterior=posterior, coords=model.coords,
                         dims={name: list(model.named_vars_to_dims.get(name, ())) for name in posterior})
    pm.compute_log_likelihood(idata, model=model, progressbar=False, compile_kwargs={"mode": FAST})
    log_lik = idata.log_likelihood["y"]
    assert log_lik.dims == ("chain", "draw", "subject")
    for i, params in enumerate(draws):
        np.testing.assert_allclose(log_lik.values[0, i], pointwise_log_likelihood(data, spec, params),
                                   rtol=1e-10)


@pytest.mark.parametrize("by_subgroup", [False, True])
def test_gibbs_component_loglik_equals_dense_multivariate_normal(by_subgroup):
    spec = make_spec("normal", fixed_k=3, by_subgroup=by_subgroup)
    data = make_data(spec)
    sampler = GibbsSampler(data, spec, seed=0)
    lay, rng = sampler.layout, np.random.default_rng(4)
    n, J = data.y.shape
    state = gibbs_state(sampler, random_params(build_model(data, spec), rng))
    state.t_weights = rng.gamma(2.0, 0.5, (n, J))     # as under the Student-t scale mixture
    rows = np.concatenate([lay.patients[:4], np.flatnonzero(~data.is_patient)[:2]])
    assert (~data.observed[rows]).any()
    got = sampler.loglik_components(state, rows, state.delta)

    base = lay.base_design[rows] @ state.fixed.T
    factor_loadings = state.loading[:, None] * lay.activity_map              # (J, F)
    for r, i in enumerate(rows):
        for k in range(spec.mixture.n_components):
            mean = base[r] + state.delta[k]
            cont = data.observed[i] & ~data.is_binary
            scale = state.subgroup_scale[k][data.module] if data.is_patient[i] else np.ones(J)
            cov = scale[cont] * (np.diag(state.sigma2[cont] / state.t_weights[i, cont])
                                 + factor_loadings[cont] @ factor_loadings[cont].T)
            expected = stats.multivariate_normal.logpdf(data.y[i, cont], mean[cont], cov)
            binary = data.observed[i] & data.is_binary
            expected += stats.bernoulli.logpmf(data.y[i, binary], 1.0 / (1.0 + np.exp(-mean[binary]))).sum()
            assert got[r, k] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("min_markers, by_subgroup", [(4, False), (None, False), (4, True)])
def test_gibbs_likelihood_is_model_likelihood_with_activities_integrated(min_markers, by_subgroup):
    """Gibbs pointwise log-likelihood = log of the PyMC model's likelihood averaged over N(0, 1) activities."""
    covariation = {"enabled": min_markers is not None, "min_markers": min_markers or 2}
    spec = make_spec("normal", fixed_k=3, by_subgroup=by_subgroup).replace(covariation=covariation)
    data = make_data(spec)
    assert data.n_activity == (1 if min_markers else 0)
    model = build_model(data, spec)
    params = random_params(model, np.random.default_rng(8))
    sampler = GibbsSampler(data, spec, seed=0)
    _, gibbs = sampler.pointwise(gibbs_state(sampler, params))

    nodes, weights = np.polynomial.hermite_e.hermegauss(200)              # for the N(0, 1) weight
    log_terms = []
    for index in itertools.product(range(len(nodes)), repeat=data.n_activity):
        params["activity"] = np.broadcast_to(nodes[list(index)], (data.n_subjects, data.n_activity))
        log_terms.append(pointwise_log_likelihood(data, spec, params)
                         + np.log(weights[list(index)] / np.sqrt(2 * np.pi)).sum())
    integrated = np.logaddexp.reduce(np.stack(log_terms), axis=0)
    np.testing.assert_allclose(gibbs, integrated, rtol=1e-9)
