"""Subgroup effects' likelihood with activities integrated: checked against dense Gaussian algebra."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from pss_bayes.model.birth_death import BirthDeath
from pss_bayes.model.collapsed import EffectIntegral, ModuleBlocks, loglik_given, patient_information
from pss_bayes.model.likelihood import component_loglik

MODULE = np.array([0, 0, 0, 1, 1, 2, 0])


def _problem(rng, n=4):
    J = len(MODULE)
    prec = rng.uniform(0.5, 2.0, (n, J)) * (rng.uniform(size=(n, J)) > 0.2)
    resid = np.where(prec > 0, rng.normal(0.0, 1.5, (n, J)), 0.0)
    loading = np.array([0.8, -0.5, 0.3, 0.6, 0.9, 0.0, 0.4])
    tau2 = np.array([0.3, 0.5, 0.2])
    return prec, resid, loading, tau2, ModuleBlocks.from_modules(MODULE, 3)


def _dense_cov(prec_rows, loading, tau2, s2):
    """Joint covariance of a group's observed entries: own activity per patient, shared effects."""
    entries = [(i, j) for i in range(prec_rows.shape[0]) for j in range(prec_rows.shape[1]) if prec_rows[i, j] > 0]
    cov = np.zeros((len(entries), len(entries)))
    for a, (i, j) in enumerate(entries):
        for b, (i2, j2) in enumerate(entries):
            if MODULE[j] == MODULE[j2]:
                cov[a, b] += s2 + (tau2[MODULE[j]] if j == j2 else 0.0)
                if i == i2:
                    cov[a, b] += loading[j] * loading[j2]
            if (i, j) == (i2, j2):
                cov[a, b] += 1.0 / prec_rows[i, j]
    return entries, cov


def test_group_marginal_matches_the_dense_gaussian():
    rng = np.random.default_rng(0)
    prec, resid, loading, tau2, blocks = _problem(rng)
    s2 = 2.5
    info = patient_information(prec, resid, loading, blocks)
    integral = EffectIntegral(blocks, tau2, s2)
    ours = info.const.sum() + integral.log_marginal(*info.group(np.arange(len(prec))))
    entries, cov = _dense_cov(prec, loading, tau2, s2)
    x = np.array([resid[i, j] for i, j in entries])
    assert ours == pytest.approx(multivariate_normal(np.zeros(len(x)), cov).logpdf(x), rel=1e-10)


def test_single_patient_marginals_match_the_dense_route():
    rng = np.random.default_rng(5)
    prec, resid, loading, tau2, blocks = _problem(rng, n=5)
    info = patient_information(prec, resid, loading, blocks)
    integral = EffectIntegral(blocks, tau2, 2.0)
    dense = [integral.log_marginal(*info.group(np.array([i]))) for i in range(5)]
    assert np.allclose(integral.log_marginal_each(info), dense, rtol=1e-10)


def test_no_data_integrates_to_one():
    _, _, _, tau2, blocks = _problem(np.random.default_rng(1))
    integral = EffectIntegral(blocks, tau2, 4.0)
    W = blocks.mask.shape[1]
    assert integral.log_marginal(np.zeros((3, W, W)), np.zeros((3, W))) == pytest.approx(0.0, abs=1e-12)


def test_likelihood_given_effects_matches_the_sampler():
    rng = np.random.default_rng(2)
    prec, resid, loading, tau2, blocks = _problem(rng, n=6)
    delta = rng.normal(0, 1, (3, len(MODULE)))
    info = patient_information(prec, resid, loading, blocks)
    none = np.zeros((6, 0))
    expected = component_loglik(resid, prec, loading, MODULE, np.ones((3, 3)), delta, none, none, none,
                                np.zeros((3, 0)))
    assert np.allclose(loglik_given(info, blocks.gather(delta)), expected)
    scale = rng.uniform(0.5, 2.0, (3, 3))                      # each component's multiple per module
    expected = component_loglik(resid, prec, loading, MODULE, scale, delta, none, none, none, np.zeros((3, 0)))
    assert np.allclose(loglik_given(info, blocks.gather(delta), scale), expected)
    assert not np.allclose(loglik_given(info, blocks.gather(delta)), expected)


def _dense_loglik(prec_row, resid_row, delta_row, loading, scale, scalable):
    """A row's log-density with covariance scale[m] (diag(1 / p) + lambda lambda') on scalable entries."""
    cols = np.flatnonzero(prec_row > 0)
    cov = np.diag(1.0 / prec_row[cols])
    same = MODULE[cols][:, None] == MODULE[cols][None, :]
    cov += same * np.outer(loading[cols], loading[cols])
    root = np.sqrt(np.where(scalable[cols], scale[MODULE[cols]], 1.0))
    cov = cov * np.outer(root, root)
    return multivariate_normal(delta_row[cols], cov).logpdf(resid_row[cols])


def test_scaled_information_is_the_dense_gaussian_with_scaled_covariance():
    """A module's continuous covariance times a multiple: likelihood given effects, the group
    marginal and the scale term all agree with dense algebra; other (binary) entries keep theirs."""
    rng = np.random.default_rng(8)
    prec, resid, loading, tau2, blocks = _problem(rng, n=5)
    continuous = np.array([True, True, True, True, True, True, False])    # last: a binary marker's slot
    loading = np.where(continuous, loading, 0.0)
    info = patient_information(prec, resid, loading, blocks, continuous)
    scale = np.array([1.7, 0.6, 2.2])
    delta = rng.normal(0, 1, (2, len(MODULE)))
    both = np.stack([np.ones(3), scale])
    ours = loglik_given(info, blocks.gather(delta), both)
    for i in range(5):
        for k in range(2):
            dense = _dense_loglik(prec[i], resid[i], delta[k], loading, both[k], continuous)
            assert ours[i, k] == pytest.approx(dense, rel=1e-10)
    # The same covariance written directly: precisions over the multiple, loadings times its root.
    entry = np.where(continuous, scale[MODULE], 1.0)
    scaled = patient_information(prec / entry, resid, loading * np.sqrt(entry), blocks, continuous)
    assert np.allclose(loglik_given(scaled, blocks.gather(delta[1:]))[:, 0], ours[:, 1])
    assert np.allclose(info.const_at(scale), scaled.const)
    rows = np.array([0, 2, 3])
    assert np.allclose(info.const_at(scale, rows), scaled.const[rows])
    integral = EffectIntegral(blocks, tau2, 2.0)
    Q, h = info.group(rows, scale)
    Qs, hs = scaled.group(rows)
    assert np.allclose(Q, Qs) and np.allclose(h, hs)
    assert np.allclose(integral.log_marginal_each(info, scale), integral.log_marginal_each(scaled))
    assert np.allclose(integral.log_marginal_each(scaled)[rows],
                       [integral.log_marginal(*info.group(np.array([i]), scale)) for i in rows])


def test_drawn_effects_have_the_conditional_moments():
    rng = np.random.default_rng(3)
    prec, resid, loading, tau2, blocks = _problem(rng, n=3)
    s2 = 1.5
    info = patient_information(prec, resid, loading, blocks)
    integral = EffectIntegral(blocks, tau2, s2)
    Q, h = info.group(np.arange(3))
    draws = [integral.draw(rng, Q, h, len(MODULE)) for _ in range(40000)]
    delta = np.array([d for _, d in draws])
    theta = np.array([t for t, _ in draws])
    # Dense posterior of (delta, theta): prior delta = theta[module] + N(0, tau2), theta ~ N(0, s2);
    # the likelihood of delta is exp(h.d - d'Qd/2) with Q, h scattered back to biomarkers.
    J, M = len(MODULE), 3
    Qd = np.zeros((J, J))
    hd = blocks.scatter(h, J)
    for m in range(M):
        cols = blocks.index[m][blocks.mask[m]]
        Qd[np.ix_(cols, cols)] = Q[m][np.ix_(blocks.mask[m], blocks.mask[m])]
    loading_matrix = np.zeros((J, M))
    loading_matrix[np.arange(J), MODULE] = 1.0
    prior_cov = np.block([[np.diag(tau2[MODULE]) + s2 * loading_matrix @ loading_matrix.T, s2 * loading_matrix],
                          [s2 * loading_matrix.T, s2 * np.eye(M)]])
    like = np.zeros((J + M, J + M))
    like[:J, :J] = Qd
    post_cov = np.linalg.inv(np.linalg.inv(prior_cov) + like)
    post_mean = post_cov @ np.concatenate([hd, np.zeros(M)])
    joint = np.concatenate([delta, theta], axis=1)
    assert np.allclose(joint.mean(0), post_mean, atol=0.03)
    assert np.allclose(np.cov(joint.T), post_cov, atol=0.03)
    assert np.allclose(blocks.scatter(integral.posterior_mean(Q, h), J), post_mean[:J])


def test_birth_and_death_ratios_are_exact_reverses():
    """The birth's log ratio is the target ratio times reverse-over-forward proposal probabilities;
    the death reuses it with the sign flipped, on the state after the death. Each component has its
    own variance multiples."""
    rng = np.random.default_rng(4)
    n = 12
    prec, resid, loading, tau2, blocks = _problem(rng, n=n)
    info = patient_information(prec, resid, loading, blocks)
    integral = EffectIntegral(blocks, tau2, 3.0)
    delta, theta = rng.normal(0, 1, (4, len(MODULE))), rng.normal(0, 1, (4, 3))
    scale = rng.uniform(0.6, 1.6, (4, 3))
    labels = np.array([0] * 5 + [1] * 4 + [2] * 3)
    moves = BirthDeath(info, integral, delta, theta, scale, labels)
    forward = moves.log_birth_ratio(labels, 4, 3, e0=0.05)
    # the same quantity recomputed from scratch: target ratio, proposal probabilities by hand
    counts = np.bincount(labels, minlength=4)
    alone = info.const_at(scale[3])[4] + integral.log_marginal(*info.group(np.array([4]), scale[3]))
    assert moves.fit_new[4, 3] == pytest.approx(alone)
    assert moves.fit_in[4, 0] == pytest.approx(loglik_given(info, blocks.gather(delta[:1]), scale[:1])[4, 0])
    ratio = alone - moves.fit_in[4, 0]
    log_target = ratio + np.log(0.05) - np.log(counts[0] - 1 + 0.05)
    w = 0.5 * (moves.fit_new[:, 3] - moves.fit_in[np.arange(n), labels])
    w = np.where(counts[labels] >= 3, w, -np.inf)
    log_forward = np.log(1.0) + w[4] - np.log(np.exp(w[np.isfinite(w)]).sum())      # one empty component
    d = 0.5 * moves.fit_in[4, :3]                                                     # receivers of >= 2 after
    log_reverse = np.log(1.0) + d[0] - np.log(np.exp(d).sum())                       # one singleton after
    assert forward == pytest.approx(log_target + log_reverse - log_forward)
