"""The birth/death and split/merge moves leave the posterior invariant (checked where the answer is known)."""

import dataclasses

import numpy as np
import pytest

from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.model import gibbs
from pss_bayes.model.chain import run_chain
from pss_bayes.model.design import prepare
from pss_bayes.model.spec import load_spec

pytestmark = pytest.mark.statistical


def prior_occupied(n_patients: int, spec, draws: int, rng) -> np.ndarray:
    """Number of non-empty components implied by the sparse mixture's prior."""
    mix = spec.mixture
    out = np.empty(draws, dtype=int)
    for d in range(draws):
        e0 = rng.gamma(mix.e0_shape, 1.0 / (mix.e0_rate_per_k * mix.k_max))
        log_g = np.log(rng.gamma(e0 + 1, size=mix.k_max)) + np.log(rng.uniform(size=mix.k_max)) / e0
        p = np.exp(log_g - log_g.max())
        out[d] = len(np.unique(rng.choice(mix.k_max, n_patients, p=p / p.sum())))
    return out


def test_without_patient_data_the_k_posterior_is_the_prior():
    """With every patient value unobserved, the posterior over K must equal its prior; a
    mistake in the moves' proposal probabilities or weight terms would shift it."""
    sim = simulate_cohort(preset="tiny", seed=3)
    spec = load_spec("default").replace(mixture={"e0_rate_per_k": 10.0})
    data, _, _ = prepare(sim.cohort, spec)
    observed = data.observed.copy()
    observed[data.is_patient] = False
    data = dataclasses.replace(data, observed=observed)
    trace = run_chain(data, spec, seed=1, draws=6000, tune=300)
    sampled = np.bincount((trace["counts"] > 0).sum(1), minlength=11)[1:7] / 6000
    expected = np.bincount(prior_occupied(int(data.is_patient.sum()), spec, 20000,
                                          np.random.default_rng(0)), minlength=11)[1:7] / 20000
    assert np.abs(sampled - expected).max() < 0.05


def test_moves_agree_with_plain_gibbs_on_a_small_cohort(monkeypatch):
    """On a cohort small enough for plain Gibbs to mix, the samplers with and without the
    birth/death and split/merge moves give the same K posterior."""
    sim = simulate_cohort(preset="tiny", seed=3, n_patients=16, n_controls=20)
    cohort = sim.cohort.subset(biomarkers=sim.cohort.biomarker_names[:4] + sim.cohort.biomarker_names[-1:])
    spec = load_spec("default").replace(mixture={"e0_rate_per_k": 10.0, "k_max": 5})
    data, _, _ = prepare(cohort, spec)
    results = {}
    for moves in (0, 1):
        monkeypatch.setattr(gibbs.GibbsSampler, "BIRTH_DEATH_MOVES", 10 * moves)
        monkeypatch.setattr(gibbs.GibbsSampler, "SPLIT_MERGE_MOVES", 5 * moves)
        trace = run_chain(data, spec, seed=4, draws=8000, tune=300)
        results[moves] = np.bincount((trace["counts"] > 0).sum(1), minlength=6)[1:6] / 8000
    assert np.abs(results[0] - results[1]).max() < 0.08
