"""Reference points of a comparison: the prior on K of a sparse mixture, and EM's BIC and ICL."""

import numpy as np
import pytest

from pss_bayes.comparison_reference import _n_subgroups_given_e0, em_criteria, prior_n_subgroups
from pss_bayes.model.spec import MixtureSpec


@pytest.mark.parametrize("e0, n", [(0.01, 40), (0.5, 30), (3.0, 25)])
def test_prior_given_e0_matches_simulation(e0, n):
    exact = _n_subgroups_given_e0(n, 10, e0)
    assert exact.sum() == pytest.approx(1.0, abs=1e-10)
    rng = np.random.default_rng(0)
    draws = 40_000
    log_gamma = np.log(rng.gamma(e0 + 1, size=(draws, 10))) + np.log(rng.uniform(size=(draws, 10))) / e0
    weights = np.exp(log_gamma - log_gamma.max(1, keepdims=True))
    counts = rng.multinomial(n, weights / weights.sum(1, keepdims=True))
    simulated = np.bincount((counts > 0).sum(1), minlength=11)[1:] / draws
    np.testing.assert_allclose(exact, simulated, atol=0.01)


def test_sparse_prior_favours_few_subgroups():
    prior = prior_n_subgroups(300, MixtureSpec())
    assert list(prior["k"]) == list(range(1, 11))
    assert prior["probability"].sum() == pytest.approx(1.0, abs=1e-9)
    assert prior["probability"].idxmax() == 0 and prior["probability"].iloc[5:].sum() < 0.01
    more = prior_n_subgroups(300, MixtureSpec(e0_rate_per_k=1.0))       # prior mean e0 = 1
    assert (more["k"] * more["probability"]).sum() > (prior["k"] * prior["probability"]).sum() + 3


def test_em_criteria_use_the_mclust_convention(tiny_sim):
    table = em_criteria(tiny_sim.cohort, [1, 2, 3], seed=0)
    assert list(table.columns) == ["k", "bic", "icl"] and list(table["k"]) == [1, 2, 3]
    assert table.loc[0, "icl"] == pytest.approx(table.loc[0, "bic"])     # one component: no entropy
    assert (table["icl"] <= table["bic"] + 1e-9).all()
    assert table["bic"].idxmax() != 0                                     # higher is better; K=1 is worst here
