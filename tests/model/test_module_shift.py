"""Module-wide baseline shifts: the shift's stationary law against the model's density on a grid."""

import numpy as np
from scipy import stats

from pss_bayes.model.module_shift import ModuleShift

# modules: 0 = two binary markers and one continuous, 1 = continuous only (never moved)
MODULE = np.array([0, 0, 0, 1, 1])
BINARY = np.array([True, True, False, False, False])
BASELINE_SD = np.array([3.0, 3.0, 1.0, 1.0, 1.0])
THETA_SD = 2.0


def test_only_modules_with_binary_markers_move():
    moves = ModuleShift(MODULE, BINARY, BASELINE_SD ** -2, THETA_SD ** -2)
    np.testing.assert_array_equal(moves.modules, [0])
    np.testing.assert_array_equal(moves.columns, [0, 1, 2])


def test_shift_follows_its_exact_conditional():
    rng = np.random.default_rng(0)
    n, K = 40, 3
    moves = ModuleShift(MODULE, BINARY, BASELINE_SD ** -2, THETA_SD ** -2)
    cols = moves.columns
    other = rng.normal(0, 0.5, (n, len(cols)))            # controls' predictors minus their baselines
    baseline = np.array([-2.5, -3.0, 0.2])
    theta = rng.normal(1.0, 0.5, (K, 1))
    observed = (rng.uniform(size=(n, len(cols))) > 0.1).astype(float)
    y = np.where(observed > 0, np.column_stack([rng.uniform(size=(n, 2)) < 0.08, rng.normal(0, 1, n)]), 0.0)
    precision = np.where(~BINARY[cols], observed * 1.5, 0.0)

    def log_density(c):
        """The model's log-density as a function of a shift ``c`` of the state (binary markers'
        Bernoulli likelihood, continuous marker's Gaussian one, baseline and theta priors)."""
        eta = other + baseline + c
        binary = (observed[:, :2] * (y[:, :2] * eta[:, :2] - np.logaddexp(0, eta[:, :2]))).sum()
        gaussian = (observed[:, 2] * stats.norm.logpdf(y[:, 2], eta[:, 2], 1 / np.sqrt(1.5))).sum()
        priors = (stats.norm.logpdf(baseline + c, 0, BASELINE_SD[cols]).sum()
                  + stats.norm.logpdf(theta - c, 0, THETA_SD).sum())
        return binary + gaussian + priors

    total, totals = 0.0, []
    for step in range(8000):
        shift = moves.step(rng, other + baseline + total, y, precision, observed, baseline + total,
                           theta - total, adapt=step < 500)
        total += shift[0]
        if step >= 500:
            totals.append(total)
    grid = np.linspace(-3, 3, 3001)
    log_p = np.array([log_density(c) for c in grid])
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    exact_mean = (p * grid).sum()
    exact_sd = np.sqrt((p * (grid - exact_mean) ** 2).sum())
    totals = np.asarray(totals)
    assert abs(totals.mean() - exact_mean) < 0.1 * exact_sd
    assert abs(totals.std() / exact_sd - 1) < 0.08
