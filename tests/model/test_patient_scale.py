"""Patients' spread relative to the controls' (``GibbsSampler._draw_patient_scale`` and its use)."""

import copy

import numpy as np
import pytest
from scipy import stats

from tests.model.params import make_spec, warmed_up


def test_patient_scale_follows_its_inverse_gamma_conditional():
    """Draws from one state against the conditional written out entry by entry: the scale multiplies the
    variance of every patient's noise (sigma_j^2 / w_ij) and activity in its module."""
    sampler, start = warmed_up(make_spec("student_t"))
    data, lay, prior = sampler.data, sampler.layout, sampler.spec.patient_spread
    eta, _ = sampler._linear_parts(start)
    err = data.y - eta - sampler._activity_term(start)
    m = int(data.module[data.activity >= 0][0])                  # a module with an activity factor
    f = int(data.activity[data.module == m][0])
    shape, scale = prior.prior_shape, prior.prior_scale
    for i in np.flatnonzero(data.is_patient):
        for j in np.flatnonzero((data.module == m) & ~data.is_binary):
            if data.observed[i, j]:
                shape += 0.5
                scale += 0.5 * start.t_weights[i, j] * err[i, j] ** 2 / start.sigma2[j]
        shape += 0.5
        scale += 0.5 * start.activity[i, f] ** 2
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
    s.patient_scale = np.where(sampler.spread_modules, s.patient_scale * 2.0, 1.0)
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
    scale = np.where(data.is_patient[:, None], s.patient_scale[data.module], 1.0)
    obs = sampler.observed_continuous
    total = stats.norm.logpdf(data.y, mean, np.sqrt(s.sigma2 * scale / s.t_weights))[obs].sum()
    factor_scale = np.where(data.is_patient[:, None], s.patient_scale[sampler.factor_module], 1.0)
    total += stats.norm.logpdf(s.activity, 0.0, np.sqrt(factor_scale)).sum()
    cont = lay.continuous
    total += stats.invgamma.logpdf(s.sigma2[cont], p.noise_shape, scale=p.noise_scale).sum()
    total += stats.norm.logpdf(s.loading[lay.has_activity], 0.0, sampler.spec.covariation.loading_sd).sum()
    total += stats.invgamma.logpdf(s.patient_scale[sampler.spread_modules], spread.prior_shape,
                                   scale=spread.prior_scale).sum()
    return total


def test_spread_ridge_ratio_is_the_posterior_ratio_times_the_jacobian():
    sampler, s = warmed_up(make_spec("student_t"))
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
        expected = _log_posterior_terms(sampler, moved) - _log_posterior_terms(sampler, s) + dimension * log_t[m]
        assert sampler.spread_ridge_log_ratio(s, log_t)[m] == pytest.approx(expected, rel=1e-9, abs=1e-9)
