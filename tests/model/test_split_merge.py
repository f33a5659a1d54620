"""Split/merge moves: the integrated likelihood, the effects' conditional, and the bookkeeping."""

import numpy as np
from scipy.stats import multivariate_normal

from pss_bayes.model.split_merge import SplitMerge, draw_effects, log_marginal


def _setup(rng, n=12, modules=(0, 0, 0, 1, 1, 2)):
    module = np.array(modules)
    members = (module[None, :] == np.arange(module.max() + 1)[:, None]).astype(float)
    prec = rng.uniform(0.5, 2.0, (n, len(module))) * (rng.uniform(size=(n, len(module))) > 0.2)
    resid = rng.normal(0.0, 1.5, (n, len(module)))
    tau2 = rng.uniform(0.1, 0.6, members.shape[0])
    return module, members, prec, resid, tau2


def test_log_marginal_matches_the_dense_gaussian_integral():
    rng = np.random.default_rng(0)
    module, members, prec, resid, tau2 = _setup(rng)
    s2 = 2.5
    P, R = prec.sum(0), (prec * resid).sum(0)
    # Pseudo-observations x_j = R_j / P_j with variance 1/P_j; effects d = theta_m + N(0, tau2_m).
    x = R / P
    cov = np.diag(1.0 / P + tau2[module]) + s2 * (members.T @ members)
    dense = multivariate_normal(np.zeros(len(x)), cov).logpdf(x) + (R ** 2 / (2 * P) + 0.5 * np.log(2 * np.pi / P)).sum()
    assert np.isclose(log_marginal(P, R, tau2[module], members, s2), dense)


def test_log_marginal_of_no_data_is_zero():
    module = np.array([0, 0, 1])
    members = (module[None, :] == np.arange(2)[:, None]).astype(float)
    assert log_marginal(np.zeros(3), np.zeros(3), np.full(3, 0.3), members, 4.0) == 0.0


def test_drawn_effects_have_the_conditional_moments():
    rng = np.random.default_rng(1)
    module, members, prec, resid, tau2 = _setup(rng, n=3)
    s2 = 1.5
    P, R = prec.sum(0), (prec * resid).sum(0)
    draws = np.array([draw_effects(rng, P, R, tau2[module], members, module, s2)[1] for _ in range(40000)])
    # Posterior of d: prior N(0, s2 * members' blocks + diag(tau2)), Gaussian likelihood exp(R d - P d^2 / 2).
    prior_cov = s2 * (members.T @ members) + np.diag(tau2[module])
    post_cov = np.linalg.inv(np.linalg.inv(prior_cov) + np.diag(P))
    post_mean = post_cov @ R
    assert np.allclose(draws.mean(0), post_mean, atol=0.03)
    assert np.allclose(np.cov(draws.T), post_cov, atol=0.03)


def test_split_and_merge_change_only_the_two_components():
    rng = np.random.default_rng(2)
    module, members, prec, resid, tau2 = _setup(rng, n=30)
    resid[:15] += 3.0                                   # two clear groups in one component
    moves = SplitMerge(prec, resid, resid, prec > 0, tau2, members, module, 4.0)
    labels = np.zeros(30, dtype=int)
    labels[-1] = 2
    seen = set()
    for _ in range(200):
        before = labels.copy()
        updates = moves.step(rng, labels, 4, e0=1.0)
        if not updates:
            continue
        changed = np.flatnonzero(before != labels)
        assert set(before[changed]) | set(labels[changed]) <= {c for c, _ in updates}
        for c, sums in updates:                          # the sums handed back are the groups' after the move
            assert np.allclose(sums, moves.stats[labels == c].sum(0))
        seen.add(len(np.unique(labels)))
    assert max(seen) >= 3                                # the clear split was accepted at some point
