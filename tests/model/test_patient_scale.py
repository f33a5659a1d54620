"""Patients' spread relative to the controls' (``GibbsSampler._draw_patient_scale`` and its use)."""

import copy

import numpy as np
import pytest
from scipy import stats

from pss_bayes.model.gibbs import update_spread_level
from tests.model.params import make_spec, warmed_up


def _scale_terms(sampler, state, rows):
    """The residuals, a module with an activity factor, and what the patients ``rows`` add to the shape
    and scale of its patient scale's inverse-gamma conditional, written out entry by entry: the scale
    multiplies the variance of every patient's noise (sigma_j^2 / w_ij) and activity in its module."""
    data = sampler.data
    eta, _ = sampler._linear_parts(state)
    err = data.y - eta - sampler._activity_term(state)
    m = int(data.module[data.activity >= 0][0])
    f = int(data.activity[data.module == m][0])
    shape, scale = 0.0, 0.0
    for i in rows:
        for j in np.flatnonzero((data.module == m) & ~data.is_binary):
            if data.observed[i, j]:
                shape += 0.5
                scale += 0.5 * state.t_weights[i, j] * err[i, j] ** 2 / state.sigma2[j]
        shape += 0.5
        scale += 0.5 * state.activity[i, f] ** 2
    return err, m, shape, scale


def test_patient_scale_follows_its_inverse_gamma_conditional():
    """Draws from one state against the conditional written out entry by entry (shared by the subgroups)."""
    sampler, start = warmed_up(make_spec("student_t"))
    prior = sampler.spec.patient_spread
    err, m, shape, scale = _scale_terms(sampler, start, np.flatnonzero(sampler.data.is_patient))
    shape, scale = shape + prior.prior_shape, scale + prior.prior_scale
    draws = []
    for rep in range(2000):
        s = copy.deepcopy(start)
        sampler.rng = np.random.default_rng(rep)
        sampler._draw_patient_scale(s, err)
        draws.append(s.patient_scale[m])
        assert (s.patient_scale[~sampler.spread_modules] == 1.0).all()
    assert stats.kstest(draws, stats.invgamma(shape, scale=scale).cdf).pvalue > 1e-3


def test_without_patient_spread_the_scale_stays_one():
    spec = make_spec("normal").replace(patient_spread={"enabled": False})
    sampler, state = warmed_up(spec)
    assert not sampler.spread_modules.any()
    assert (state.patient_scale == 1.0).all()


def test_patient_and_control_rows_of_the_likelihood_use_their_own_spread():
    """Rows given together or apart get the same values; a patient's row changes with the scale."""
    sampler, s = warmed_up(make_spec("normal"))
    data, lay = sampler.data, sampler.layout
    rows = np.concatenate([lay.patients[:3], sampler.controls[:3]])
    together = sampler.loglik_components(s, rows, s.delta)
    apart = np.concatenate([sampler.loglik_components(s, rows[:3], s.delta),
                            sampler.loglik_components(s, rows[3:], s.delta)])
    np.testing.assert_allclose(together, apart)
    s.subgroup_scale = s.subgroup_scale * np.where(sampler.spread_modules, 2.0, 1.0)
    changed = sampler.loglik_components(s, rows, s.delta)
    assert not np.isclose(changed[:3], together[:3]).any()
    np.testing.assert_allclose(changed[3:], together[3:])


def _log_posterior_terms(sampler, s):
    """Every log-density term the ridge map can change, written out entry by entry: all subjects'
    continuous likelihood given activities and Student-t weights, the activities' priors, and the
    priors of sigma^2, loadings and patient scales."""
    data, lay, p, spread = sampler.data, sampler.layout, sampler.spec.priors, sampler.spec.patient_spread
    eta, _ = sampler._linear_parts(s)
    mean = eta + sampler._activity_term(s)
    component = np.zeros(data.n_subjects, dtype=int)
    component[lay.patients] = s.labels
    own = s.subgroup_scale[component]                                            # (n, M)
    scale = np.where(data.is_patient[:, None], own[:, data.module], 1.0)
    obs = sampler.observed_continuous
    total = stats.norm.logpdf(data.y, mean, np.sqrt(s.sigma2 * scale / s.t_weights))[obs].sum()
    factor_scale = np.where(data.is_patient[:, None], own[:, sampler.factor_module], 1.0)
    total += stats.norm.logpdf(s.activity, 0.0, np.sqrt(factor_scale)).sum()
    cont = lay.continuous
    total += stats.invgamma.logpdf(s.sigma2[cont], p.noise_shape, scale=p.noise_scale).sum()
    total += stats.norm.logpdf(s.loading[lay.has_activity], 0.0, sampler.spec.covariation.loading_sd).sum()
    spread_modules = sampler.spread_modules
    total += stats.invgamma.logpdf(s.patient_scale[spread_modules], spread.prior_shape,
                                   scale=spread.prior_scale).sum()
    if spread.by_subgroup:
        a = spread.subgroup_shape
        total += stats.invgamma.logpdf(s.subgroup_scale[:, spread_modules], a,
                                       scale=(a - 1.0) * s.patient_scale[spread_modules]).sum()
    return total


@pytest.mark.parametrize("by_subgroup", [False, True])
def test_spread_ridge_ratio_is_the_posterior_ratio_times_the_jacobian(by_subgroup):
    """By subgroup, every component's scale moves too; their Jacobian is part of ``dimension`` below."""
    spec = make_spec("student_t").replace(patient_spread={"by_subgroup": by_subgroup})
    sampler, s = warmed_up(spec)
    data, lay = sampler.data, sampler.layout
    rng = np.random.default_rng(1)
    for m in np.flatnonzero(sampler.spread_modules):
        log_t = np.zeros(data.n_modules)
        log_t[m] = rng.normal(0.0, 0.3)
        moved = copy.deepcopy(s)
        sampler.spread_ridge_map(moved, log_t)
        # the patients' likelihood is unchanged
        before, after = sampler.pointwise(s)[1], sampler.pointwise(moved)[1]
        np.testing.assert_allclose(after[data.is_patient], before[data.is_patient], rtol=1e-10)
        members = (data.module == m) & lay.continuous
        loaded = members & lay.has_activity
        has_factor = loaded.any()
        dimension = members.sum() + 0.5 * loaded.sum() - 1.0 - 0.5 * data.is_patient.sum() * has_factor
        dimension -= len(s.subgroup_scale) if by_subgroup else 0.0
        expected = _log_posterior_terms(sampler, moved) - _log_posterior_terms(sampler, s) + dimension * log_t[m]
        assert sampler.spread_ridge_log_ratio(s, log_t)[m] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_subgroup_scales_follow_their_inverse_gamma_conditionals():
    """By subgroup, component k's scale in module m is inverse gamma given its own patients' terms
    and the module's typical scale; an empty component's is its prior draw."""
    spec = make_spec("student_t").replace(patient_spread={"by_subgroup": True, "subgroup_shape": 6.0})
    sampler, start = warmed_up(spec)
    counts = np.bincount(start.labels, minlength=sampler.layout.n_components)
    k, empty = int(counts.argmax()), int(np.argmin(np.where(counts > 0, counts, -1)))
    start.labels[start.labels == empty] = k                       # the conditional holds in any state
    err, m, shape, scale = _scale_terms(sampler, start, sampler.layout.patients[start.labels == k])
    a = sampler.spec.patient_spread.subgroup_shape
    shape, scale = shape + a, scale + (a - 1.0) * start.patient_scale[m]
    own, prior_draws = [], []
    for rep in range(2000):
        s = copy.deepcopy(start)
        sampler.rng = np.random.default_rng(rep)
        sampler._draw_patient_scale(s, err)
        own.append(s.subgroup_scale[k, m])
        prior_draws.append(s.subgroup_scale[empty, m])
    assert stats.kstest(own, stats.invgamma(shape, scale=scale).cdf).pvalue > 1e-3
    prior_scale = (a - 1.0) * start.patient_scale[m]
    assert stats.kstest(prior_draws, stats.invgamma(a, scale=prior_scale).cdf).pvalue > 1e-3


def test_spread_level_follows_its_conditional_given_the_subgroup_scales():
    """The module's typical scale given the components' scales: its Metropolis-Hastings updates leave its
    density, normalised on a grid, invariant (a chain of them, started far out, is distributed so)."""
    rng = np.random.default_rng(3)
    scales = rng.uniform(0.6, 2.0, (6, 1))
    a, a0, b0 = 8.0, 3.0, 2.0
    level, draws = np.array([5.0]), []
    for _ in range(3000):
        level = update_spread_level(rng, level, scales, a, a0, b0)
        draws.append(level[0])
    draws = np.array(draws[10:])
    grid = np.linspace(1e-3, 6.0, 60001)
    log_density = ((len(scales) * a - a0 - 1.0) * np.log(grid) - b0 / grid
                   - (a - 1.0) * grid * (1.0 / scales[:, 0]).sum())
    density = np.exp(log_density - log_density.max())
    cdf = np.cumsum(density) / density.sum()
    assert stats.kstest(draws, lambda x: np.interp(x, grid, cdf)).pvalue > 1e-3
