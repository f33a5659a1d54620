"""Variance-share moves: acceptance decisions against dense Gaussian algebra, and the Jacobian."""

import numpy as np
from scipy import stats

from pss_bayes.model.variance_share import VarianceShare

FACTOR = np.array([0, 0, 0, -1, 1, 1, 1, 1])
LOADING_SD, NOISE_SHAPE, NOISE_SCALE = 1.0, 2.0, 1.0


def _log_posterior(loading, sigma2, weights, resid, factor):
    """Brute force: each subject's observed entries of one factor are N(0, diag(sigma2 / w) + lambda lambda').

    Unobserved entries get variance 1, no loading and value 0: a constant, which cancels in ratios.
    """
    cols = np.flatnonzero(FACTOR == factor)
    obs = weights[:, cols] > 0
    lam = np.where(obs, loading[cols], 0.0)
    noise = np.where(obs, sigma2[cols] / np.where(obs, weights[:, cols], 1.0), 1.0)
    cov = noise[:, :, None] * np.eye(len(cols)) + lam[:, :, None] * lam[:, None, :]
    r = np.where(obs, resid[:, cols], 0.0)
    _, logdet = np.linalg.slogdet(cov)
    quad = (r * np.linalg.solve(cov, r[:, :, None])[:, :, 0]).sum(1)
    total = (-0.5 * (logdet + quad)).sum()
    total += stats.norm(0, LOADING_SD).logpdf(loading[cols]).sum()
    total += stats.invgamma(NOISE_SHAPE, scale=NOISE_SCALE).logpdf(sigma2[cols]).sum()
    return total


def _log_share_density(lam, sig2):
    """Density of logit(rho) given v = lam^2 + sig2, up to a constant: rho^(1/2) (1 - rho)."""
    rho = lam ** 2 / (lam ** 2 + sig2)
    return 0.5 * np.log(rho) + np.log1p(-rho)


def _problem(seed, n=12):
    rng = np.random.default_rng(seed)
    J = len(FACTOR)
    observed = (rng.uniform(size=(n, J)) > 0.15) & (FACTOR >= 0)
    weights = np.where(observed, rng.gamma(3.0, 1.0 / 3.0, (n, J)), 0.0)
    activity = rng.standard_normal((n, 2))
    true_loading = np.array([0.9, 0.6, -0.4, 0.0, 0.8, 0.3, 0.5, 0.7])
    resid = np.where(FACTOR >= 0, activity[:, FACTOR] * true_loading, 0.0) + rng.normal(0, 0.7, (n, J))
    resid = np.where(observed, resid, 0.0)
    loading = np.where(FACTOR >= 0, rng.normal(0.5, 0.3, J), 0.0)
    sigma2 = rng.uniform(0.2, 1.5, J)
    return weights, resid, loading, sigma2


def test_accepts_exactly_where_the_dense_metropolis_hastings_ratio_says():
    decisions = []
    for seed in range(100):
        weights, resid, loading, sigma2 = _problem(seed)
        moves = VarianceShare(FACTOR, 2, LOADING_SD, NOISE_SHAPE, NOISE_SCALE)
        moves.log_step[:] = np.log(1.5)
        # Replay the proposal's random numbers to compute the expected decisions by brute force.
        replay = np.random.default_rng(100 + seed)
        index, mask = moves.blocks.index.T, moves.blocks.mask.T
        noise = 1.5 * replay.standard_normal(index.shape)
        log_u = np.log(replay.uniform(size=index.shape))
        lam_exp, sig_exp = loading.copy(), sigma2.copy()
        for slot in range(index.shape[0]):
            for f in np.flatnonzero(mask[slot]):
                j = index[slot, f]
                lam, sig2 = lam_exp[j], sig_exp[j]
                v = lam ** 2 + sig2
                logit = np.log(lam ** 2 / sig2) + noise[slot, f]
                new_lam, new_sig = np.sign(lam) * np.sqrt(v / (1 + np.exp(-logit))), v / (1 + np.exp(logit))
                prop_lam, prop_sig = lam_exp.copy(), sig_exp.copy()
                prop_lam[j], prop_sig[j] = new_lam, new_sig
                log_ratio = (_log_posterior(prop_lam, prop_sig, weights, resid, f)
                             - _log_posterior(lam_exp, sig_exp, weights, resid, f)
                             + _log_share_density(new_lam, new_sig) - _log_share_density(lam, sig2))
                decisions.append(log_u[slot, f] < log_ratio)
                if decisions[-1]:
                    lam_exp, sig_exp = prop_lam, prop_sig
        lam_got, sig_got = loading.copy(), sigma2.copy()
        moves.step(np.random.default_rng(100 + seed), lam_got, sig_got, weights, resid, adapt=False)
        np.testing.assert_allclose(lam_got, lam_exp, rtol=1e-10)
        np.testing.assert_allclose(sig_got, sig_exp, rtol=1e-10)
        assert lam_got[3] == loading[3] and sig_got[3] == sigma2[3]      # no factor: untouched
    assert 0.2 < np.mean(decisions) < 0.9                               # both outcomes exercised


def test_share_given_the_total_follows_prior_and_jacobian_when_the_data_cannot_tell():
    """One biomarker alone on its factor: the data see only lambda^2 + sigma^2, so given that total
    the share's stationary law is the priors times the Jacobian, computed here on a grid."""
    rng = np.random.default_rng(3)
    n = 50
    weights = np.ones((n, 1))
    resid = rng.normal(0, 1.2, (n, 1))
    moves = VarianceShare(np.array([0]), 1, LOADING_SD, NOISE_SHAPE, NOISE_SCALE)
    loading, sigma2 = np.array([0.8]), np.array([0.8])
    v = loading[0] ** 2 + sigma2[0]
    for _ in range(500):
        moves.step(rng, loading, sigma2, weights, resid, adapt=True)
    shares = []
    for _ in range(20000):
        moves.step(rng, loading, sigma2, weights, resid, adapt=False)
        shares.append(loading[0] ** 2 / v)
    np.testing.assert_allclose(loading[0] ** 2 + sigma2[0], v, rtol=1e-12)
    grid = np.linspace(1e-4, 1 - 1e-4, 20001)
    lam, sig2 = np.sqrt(grid * v), (1 - grid) * v
    # density of rho given v: priors times |d(lambda, sigma2)/d(v, rho)| ~ rho^(-1/2)
    log_density = (stats.norm(0, LOADING_SD).logpdf(lam) + stats.invgamma(NOISE_SHAPE, scale=NOISE_SCALE).logpdf(sig2)
                   - 0.5 * np.log(grid))
    density = np.exp(log_density - log_density.max())
    cdf = np.cumsum(density) / density.sum()
    expected_mean = (grid * density).sum() / density.sum()
    shares = np.asarray(shares)
    assert abs(shares.mean() - expected_mean) < 0.02
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(shares, q) - grid[np.searchsorted(cdf, q)]) < 0.03


def test_ridge_map_is_a_group_with_unit_jacobian_that_keeps_the_covariance():
    from pss_bayes.model.variance_share import ridge_map

    lam, sig2 = np.array([0.7, -0.4]), np.array([0.5, 0.9])
    a = ridge_map(*ridge_map(lam, sig2, 1.3), 0.6)
    b = ridge_map(lam, sig2, 1.3 * 0.6)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])
    lam2, sig22 = ridge_map(lam, sig2, 1.3)
    assert np.allclose(lam2 ** 2 + sig22, lam ** 2 + sig2) and np.isclose(lam2.prod(), lam.prod())

    def flat(x):
        out = ridge_map(x[:2], x[2:], 1.3)
        return np.concatenate(out)

    x, h = np.concatenate([lam, sig2]), 1e-6
    jac = np.stack([(flat(x + h * e) - flat(x - h * e)) / (2 * h) for e in np.eye(4)], axis=1)
    assert np.isclose(np.linalg.det(jac), 1.0)


def test_ridge_move_accepts_where_the_dense_posterior_ratio_says():
    """A two-biomarker factor: the move's decision equals the brute-force Metropolis-Hastings decision
    (unit Jacobian), Student-t weights and missing values included."""
    from pss_bayes.model.variance_share import ridge_map

    pair_factor = np.array([0, 0, -1])
    decisions = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        n = 15
        observed = np.column_stack([rng.uniform(size=(n, 2)) > 0.1, np.zeros(n, dtype=bool)])
        weights = np.where(observed, rng.gamma(3.0, 1.0 / 3.0, (n, 3)), 0.0)
        resid = np.where(observed, rng.standard_normal((n, 1)) * [0.8, 0.6, 0.0] + rng.normal(0, 0.6, (n, 3)), 0.0)
        loading, sigma2 = np.array([0.6, 0.5, 0.0]), np.array([0.5, 0.7, 1.0])
        moves = VarianceShare(pair_factor, 1, LOADING_SD, NOISE_SHAPE, NOISE_SCALE)
        moves.log_ridge_step[:] = np.log(0.8)
        replay = np.random.default_rng(1000 + seed)
        c = np.exp(0.8 * replay.standard_normal())
        lam_new, sig2_new = ridge_map(loading[:2], sigma2[:2], c)
        expected = False
        if np.all(sig2_new > 0):
            new_loading, new_sigma2 = loading.copy(), sigma2.copy()
            new_loading[:2], new_sigma2[:2] = lam_new, sig2_new
            ratio = (_dense_pair(new_loading, new_sigma2, weights, resid)
                     - _dense_pair(loading, sigma2, weights, resid))
            expected = np.log(replay.uniform()) < ratio
        before = loading.copy()
        moved = moves._ridge_move(np.random.default_rng(1000 + seed), 0, np.array([0, 1]), loading, sigma2,
                                  weights, resid, adapt=False)
        assert moved == expected and (moved or np.array_equal(loading, before))
        decisions.append(moved)
    assert 5 < sum(decisions) < 55                       # both outcomes occur


def test_with_unit_weights_the_likelihood_is_flat_along_the_ridge():
    from pss_bayes.model.variance_share import pair_loglik, ridge_map

    rng = np.random.default_rng(3)
    observed = rng.uniform(size=(20, 2)) > 0.1
    resid = np.where(observed, rng.normal(0, 1, (20, 2)), 0.0)
    ones = observed.astype(float)
    lam, sig2 = np.array([0.6, 0.5]), np.array([0.5, 0.7])
    for c in (0.8, 1.1, 1.25):
        moved = ridge_map(lam, sig2, c)
        assert np.isclose(pair_loglik(*moved, ones, resid), pair_loglik(lam, sig2, ones, resid))
    t_weights = np.where(observed, rng.gamma(3.0, 1 / 3.0, (20, 2)), 0.0)     # not flat with Student-t weights
    assert not np.isclose(pair_loglik(*ridge_map(lam, sig2, 1.25), t_weights, resid),
                          pair_loglik(lam, sig2, t_weights, resid))


def _dense_pair(loading, sigma2, weights, resid):
    """Brute-force log posterior of the two-biomarker factor 0 (dense covariance per subject, priors)."""
    cols = np.array([0, 1])
    obs = weights[:, cols] > 0
    lam = np.where(obs, loading[cols], 0.0)
    noise = np.where(obs, sigma2[cols] / np.where(obs, weights[:, cols], 1.0), 1.0)
    cov = noise[:, :, None] * np.eye(2) + lam[:, :, None] * lam[:, None, :]
    r = np.where(obs, resid[:, cols], 0.0)
    _, logdet = np.linalg.slogdet(cov)
    quad = (r * np.linalg.solve(cov, r[:, :, None])[:, :, 0]).sum(1)
    return ((-0.5 * (logdet + quad)).sum() + stats.norm(0, LOADING_SD).logpdf(loading[cols]).sum()
            + stats.invgamma(NOISE_SHAPE, scale=NOISE_SCALE).logpdf(sigma2[cols]).sum())
