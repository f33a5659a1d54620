"""The sparse mixture's Dirichlet concentration: its update given the component sizes."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import gammaln

from pss_bayes.model.gibbs import GibbsSampler
from tests.model.params import make_data, make_spec


def _exact_cdf(counts: np.ndarray, shape: float, rate: float, grid: np.ndarray) -> np.ndarray:
    """CDF on ``grid`` of e0 given the sizes: Dirichlet-multinomial allocation times the Gamma prior."""
    K, n = len(counts), counts.sum()
    log_density = ((shape - 1) * np.log(grid) - rate * grid + gammaln(K * grid) - gammaln(n + K * grid)
                   + (gammaln(counts[:, None] + grid) - gammaln(grid)).sum(0))
    density = np.exp(log_density - log_density.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return cdf / cdf[-1]


def test_concentration_update_draws_from_its_conditional_given_the_sizes():
    spec = make_spec("normal").replace(mixture={"e0_shape": 2.0, "e0_rate_per_k": 10.0})
    sampler = GibbsSampler(make_data(spec), spec, seed=5)
    counts = np.array([40, 12, 3, 0])
    e0, draws = 0.05, []
    for _ in range(6000):
        e0 = sampler._update_e0(e0, counts)
        draws.append(e0)
    grid = np.linspace(1e-5, 3.0, 60_000)
    cdf = _exact_cdf(counts, 2.0, 10.0 * len(counts), grid)
    assert stats.kstest(draws[::3], lambda x: np.interp(x, grid, cdf)).pvalue > 1e-3
