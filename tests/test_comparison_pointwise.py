"""The per-subject marginal log-likelihood recomputed from posterior draws."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import t as student_t

from pss_bayes.comparison_pointwise import (MARGINAL, pointwise_loglik, student_component_loglik, thinned_draws,
                                            with_marginal_loglik)
from pss_bayes.inference import fit
from pss_bayes.model.likelihood import component_loglik
from pss_bayes.model.numerics import LOG_2PI
from pss_bayes.model.spec import load_spec


def _problem(rng, loading_sd=0.8, n=12, K=3):
    J, F = 8, 2
    activity_map = np.zeros((J, F))
    activity_map[[0, 4, 2], 0] = 1          # factors need not be contiguous columns
    activity_map[[3, 5, 6], 1] = 1          # marker 1 and 7 load on no factor
    observed = rng.uniform(size=(n, J)) > 0.15
    resid0 = np.where(observed, 1.5 * rng.standard_t(4, (n, J)), 0.0)
    return dict(resid0=resid0, observed=observed, sigma=rng.uniform(0.5, 1.2, J),
                loading=rng.normal(0, loading_sd, J) * activity_map.any(1), activity_map=activity_map,
                delta=rng.normal(0, 1, (K, J)))


def _dense_reference(p, nu):
    """The same densities integrated over the activities on a fine grid."""
    grid = np.linspace(-10, 10, 20001)
    n, K = p["resid0"].shape[0], p["delta"].shape[0]
    out = np.zeros((n, K))
    free = ~p["activity_map"].any(1)
    for i in range(n):
        for k in range(K):
            r = p["resid0"][i] - p["delta"][k]
            obs = p["observed"][i]
            total = student_t.logpdf(r[obs & free], nu, scale=p["sigma"][obs & free]).sum()
            for f in range(p["activity_map"].shape[1]):
                m = obs & (p["activity_map"][:, f] > 0)
                log_f = student_t.logpdf(r[m][:, None] - p["loading"][m][:, None] * grid, nu,
                                         scale=p["sigma"][m][:, None]).sum(0) - 0.5 * grid ** 2 - 0.5 * LOG_2PI
                total += logsumexp(log_f) + np.log(grid[1] - grid[0])
            out[i, k] = total
    return out


def test_student_quadrature_matches_dense_integration():
    p = _problem(np.random.default_rng(1))
    np.testing.assert_allclose(student_component_loglik(**p, nu=4.0), _dense_reference(p, 4.0), atol=1e-5)


def test_student_with_large_df_is_the_normal_closed_form():
    p = _problem(np.random.default_rng(2))
    prec = np.where(p["observed"], p["sigma"] ** -2, 0.0)
    empty = np.zeros((len(prec), 0))
    module = np.array([0, 2, 0, 1, 0, 1, 1, 3])          # each factor's markers, and one module per other marker
    normal = component_loglik(p["resid0"], prec, p["loading"], module, np.ones((len(p["delta"]), 4)), p["delta"],
                              empty, empty, empty, p["delta"][:, :0])
    np.testing.assert_allclose(student_component_loglik(**p, nu=1e8), normal, atol=1e-4)


def test_screened_pairs_leave_the_mixture_unchanged():
    p = _problem(np.random.default_rng(3), K=4)
    p["delta"][3] += 6.0                                   # a component far from every row
    log_w = np.log([0.5, 0.3, 0.2 - 1e-9, 1e-9])
    offset = np.broadcast_to(log_w, (p["resid0"].shape[0], 4))
    full = logsumexp(student_component_loglik(**p, nu=4.0) + log_w, axis=1)
    screened = logsumexp(student_component_loglik(**p, nu=4.0, offset=offset) + log_w, axis=1)
    np.testing.assert_allclose(screened, full, atol=1e-12)


def test_thinned_draws():
    assert list(thinned_draws(10, 2, None)) == list(range(10))
    assert list(thinned_draws(10, 2, 40)) == list(range(10))
    kept = thinned_draws(100, 4, 40)
    assert len(kept) == 10 and kept[0] == 0 and kept[-1] == 99


def test_held_out_rows_match_in_sample_rows(tiny_fit, tiny_sim):
    every = pointwise_loglik(tiny_fit, max_draws=20)
    some = tiny_sim.cohort.subset(subjects=tiny_sim.cohort.subject_ids[[0, 3, 40, 41, 69]])
    rows = pointwise_loglik(tiny_fit, some, max_draws=20)
    assert rows.dims == ("chain", "draw", "subject") and rows.sizes["draw"] == 10
    np.testing.assert_allclose(rows.to_numpy(), every.sel(subject=rows.coords["subject"]).to_numpy(), rtol=1e-10)


def test_marginal_term_replaces_the_student_t_conditional_one(tiny_fit):
    marginal = with_marginal_loglik(tiny_fit, max_draws=30)
    group = marginal.idata.log_likelihood
    assert group.attrs["pointwise"] == MARGINAL and "quadrature" in group.attrs["pointwise_method"]
    assert group["y"].sizes["draw"] == 15 and np.isfinite(group["y"]).all()
    assert with_marginal_loglik(marginal) is marginal
    assert tiny_fit.idata.log_likelihood.attrs.get("pointwise") != MARGINAL      # the input is unchanged


@pytest.mark.parametrize("by_subgroup", [False, True])
def test_normal_family_recomputation_equals_the_samplers_values(tiny_sim, by_subgroup):
    spec = load_spec("normal").replace(patient_spread={"by_subgroup": by_subgroup})
    result = fit(tiny_sim.cohort, spec, seed=4, draws=15, tune=15, chains=1, extensions=0, progress=False)
    assert ("component_spread" in result.idata.posterior) == by_subgroup
    np.testing.assert_allclose(pointwise_loglik(result).to_numpy(),
                               result.idata.log_likelihood["y"].to_numpy(), atol=1e-9)
    kept = with_marginal_loglik(result, max_draws=5).idata.log_likelihood
    assert kept["y"].sizes["draw"] == 15 and "exact" in kept.attrs["pointwise_method"]


def test_estimated_df_enters_per_draw(tiny_fit):
    """Each draw's own degrees of freedom are used: setting them to 7 everywhere gives the fixed-df answer."""
    import dataclasses

    assert "df" in tiny_fit.idata.posterior
    idata = tiny_fit.idata.copy()
    idata.posterior["df"][:] = 7.0
    as_seven = dataclasses.replace(tiny_fit, idata=idata)
    fixed_idata = tiny_fit.idata.copy()
    fixed_idata.posterior = fixed_idata.posterior.drop_vars("df")
    fixed = dataclasses.replace(tiny_fit, idata=fixed_idata, spec=tiny_fit.spec.replace(likelihood={"df": 7.0}))
    seven = pointwise_loglik(as_seven, max_draws=6).to_numpy()
    np.testing.assert_allclose(seven, pointwise_loglik(fixed, max_draws=6).to_numpy(), rtol=1e-12)
    assert not np.allclose(seven, pointwise_loglik(tiny_fit, max_draws=6).to_numpy())
