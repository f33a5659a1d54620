"""Binary biomarkers' coefficients: the Newton mode, and draws against a grid posterior."""

import numpy as np
from scipy import optimize
from scipy.special import expit

from pss_bayes.model.binary_laplace import draw_coefficients, posterior_mode


def _logistic_problem(seed, n=40, q=2, B=2):
    rng = np.random.default_rng(seed)
    design = np.column_stack([np.ones(n), rng.normal(0, 1, (n, q - 1))])
    truth = rng.normal([-1.5] + [0.8] * (q - 1), 0.3, (B, q))
    observed = (rng.uniform(size=(B, n)) > 0.1).astype(float)
    y = np.where(observed > 0, rng.uniform(size=(B, n)) < expit(truth @ design.T), 0).astype(float)
    prior_mean = np.zeros((B, q))
    prior_prec = np.full((B, q), 0.5)
    return design, y, observed, prior_mean, prior_prec


def _neg_log_post(beta, design, y, observed, mean, prec):
    eta = design @ beta
    return -(observed * (y * eta - np.logaddexp(0, eta))).sum() + 0.5 * (prec * (beta - mean) ** 2).sum()


def test_mode_is_the_optimum_from_any_start():
    design, y, observed, mean, prec = _logistic_problem(0, q=3)
    a, hess = posterior_mode(np.zeros((2, 3)), design, y, observed, mean, prec)
    b, _ = posterior_mode(np.full((2, 3), 5.0), design, y, observed, mean, prec)
    np.testing.assert_allclose(a, b, atol=1e-8)
    for j in range(2):
        res = optimize.minimize(_neg_log_post, np.zeros(3), args=(design, y[j], observed[j], mean[j], prec[j]),
                                method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(a[j], res.x, atol=1e-5)
        def grad(x):
            return -(observed[j] * (y[j] - expit(design @ x))) @ design + prec[j] * (x - mean[j])
        h = 1e-5
        numeric = np.array([(grad(a[j] + h * e) - grad(a[j] - h * e)) / (2 * h) for e in np.eye(3)])
        np.testing.assert_allclose(hess[j], numeric, rtol=1e-5, atol=1e-7)


def test_draws_follow_the_exact_posterior():
    """Chains of draws against posterior means and SDs computed on a grid (two coefficients)."""
    design, y, observed, mean, prec = _logistic_problem(1, n=25)
    rng = np.random.default_rng(2)
    beta = np.zeros((2, 2))
    draws = []
    for _ in range(6000):
        beta, _ = draw_coefficients(rng, beta, beta, design, y, observed, mean, prec)
        draws.append(beta)
    draws = np.asarray(draws)[500:]
    grid = np.linspace(-6, 6, 401)
    b0, b1 = np.meshgrid(grid, grid, indexing="ij")
    for j in range(2):
        eta = b0[..., None] + b1[..., None] * design[:, 1]
        log_post = ((observed[j] * (y[j] * eta - np.logaddexp(0, eta))).sum(-1)
                    - 0.5 * (prec[j, 0] * b0 ** 2 + prec[j, 1] * b1 ** 2))
        w = np.exp(log_post - log_post.max())
        w /= w.sum()
        for axis, values in enumerate((b0, b1)):
            exact_mean = (w * values).sum()
            exact_sd = np.sqrt((w * (values - exact_mean) ** 2).sum())
            got = draws[:, j, axis]
            # independence proposals near the mode: draws are close to independent
            assert abs(got.mean() - exact_mean) < 4 * exact_sd / np.sqrt(len(got) / 2)
            assert abs(got.std() / exact_sd - 1) < 0.05
