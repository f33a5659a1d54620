"""Shifts of module activities against subgroup effects and baselines (``GibbsSampler._shift_activity``)."""

import copy

import numpy as np
from scipy import stats

from tests.model.params import make_spec, warmed_up


def _predictor(sampler, s, onehot):
    lay = sampler.layout
    return lay.base_design @ s.fixed.T + onehot @ s.delta + (s.activity @ lay.activity_map.T) * s.loading


def test_shifts_leave_every_predictor_unchanged():
    sampler, s = warmed_up(make_spec("normal"))
    _, onehot = sampler._linear_parts(s)
    before = _predictor(sampler, s, onehot)
    sampler._shift_activity(s, onehot)
    np.testing.assert_allclose(_predictor(sampler, s, onehot), before, atol=1e-10)


def test_shifts_follow_their_exact_conditionals():
    """From one state, many draws: a subgroup's shift (a patient's change minus a control's)
    against its Gaussian conditional written out per factor, then everyone's shift (a control's
    change) against its conditional given the state the subgroup shift left."""
    sampler, start = warmed_up(make_spec("normal"))
    data, lay, p = sampler.data, sampler.layout, sampler.spec.priors
    _, onehot = sampler._linear_parts(start)
    k = int(np.argmax(onehot.sum(0)))
    in_k = np.flatnonzero(onehot[:, k] > 0)
    control = int(np.flatnonzero(~data.is_patient)[0])
    subgroup_shift, everyone_shift, between = [], [], []
    for rep in range(3000):
        s = copy.deepcopy(start)
        sampler.rng = np.random.default_rng(rep)
        sampler._shift_activity(s, onehot)
        change = s.activity - start.activity
        subgroup_shift.append(change[in_k[0]] - change[control])
        everyone_shift.append(change[control])
        # the state between the two shifts: activities and baselines before everyone's shift
        between.append((s.activity - change[control], s.fixed[:, 0] + (lay.activity_map @ change[control]) * s.loading))
    subgroup_shift, everyone_shift = np.array(subgroup_shift), np.array(everyone_shift)
    base_prec = p.baseline_sd ** -2
    z_everyone = []
    for f in range(data.n_activity):
        members = lay.activity_map[:, f] > 0
        lam, m = start.loading[members], data.module[members][0]
        tau2, c = start.tau2[m], start.patient_scale[m]
        assert c != 1.0                                                # the patient scale is exercised
        # N(a_i + t; 0, c) for the subgroup's patients, N(delta_kj - lam_j t; theta_km, tau2) for its effects
        prec = len(in_k) / c + (lam ** 2).sum() / tau2
        dev = start.delta[k, members] - start.theta[k, m]
        mean = (-start.activity[in_k, f].sum() / c + (dev * lam).sum() / tau2) / prec
        z = (subgroup_shift[:, f] - mean) * np.sqrt(prec)
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert 0.9 < z.var() < 1.1
        # N(a_i + t; 0, 1) for controls and N(a_i + t; 0, c) for patients,
        # N(mu_j - lam_j t; 0, baseline_sd^2) for the baselines
        prior_prec = np.where(data.is_patient, 1.0 / c, 1.0)
        prec = prior_prec.sum() + (lam ** 2).sum() * base_prec
        for shift, (activity, baseline) in zip(everyone_shift[:, f], between):
            mean = (-(prior_prec * activity[:, f]).sum() + (lam * baseline[members]).sum() * base_prec) / prec
            z_everyone.append((shift - mean) * np.sqrt(prec))
    assert stats.kstest(z_everyone, "norm").pvalue > 1e-3
    assert 0.95 < np.var(z_everyone) < 1.05
