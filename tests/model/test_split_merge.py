"""Split/merge moves: the bookkeeping."""

import numpy as np
import pytest

from pss_bayes.model.collapsed import EffectIntegral, ModuleBlocks, loglik_given, patient_information
from pss_bayes.model.split_merge import SplitMerge


def _setup(rng, n=12, modules=(0, 0, 0, 1, 1, 2)):
    module = np.array(modules)
    members = (module[None, :] == np.arange(module.max() + 1)[:, None]).astype(float)
    prec = rng.uniform(0.5, 2.0, (n, len(module))) * (rng.uniform(size=(n, len(module))) > 0.2)
    resid = rng.normal(0.0, 1.5, (n, len(module)))
    tau2 = rng.uniform(0.1, 0.6, members.shape[0])
    return module, members, prec, resid, tau2


def test_split_and_merge_change_only_the_two_components():
    rng = np.random.default_rng(2)
    module, members, prec, resid, tau2 = _setup(rng, n=30)
    resid[:15] += 3.0                                   # two clear groups in one component
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    info = patient_information(prec, resid, np.zeros(len(module)), blocks)
    scale = np.random.default_rng(0).uniform(0.7, 1.4, (4, 3))      # each component's own multiples
    moves = SplitMerge(info, EffectIntegral(blocks, tau2, 4.0), resid, prec > 0, scale)
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
        for c, (Q, h) in updates:                        # the sums handed back are the groups' after the move
            group_q, group_h = info.group(np.flatnonzero(labels == c), scale[c])
            assert np.allclose(Q, group_q) and np.allclose(h, group_h)
        seen.add(len(np.unique(labels)))
    assert max(seen) >= 3                                # the clear split was accepted at some point


def test_split_proposals_are_distributions_over_divisions():
    """Both kinds of split proposal give probabilities summing to one over every division."""
    from itertools import product

    from pss_bayes.model.split_merge import _log_q

    rng = np.random.default_rng(3)
    module, members, prec, resid, tau2 = _setup(rng, n=9)
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    info = patient_information(prec, resid, np.zeros(len(module)), blocks)
    moves = SplitMerge(info, EffectIntegral(blocks, tau2, 4.0), resid, prec > 0, np.ones((4, 3)))
    group = np.arange(9)
    scales = np.array([[1.3, 0.7, 1.0], [0.8, 1.5, 2.0]])
    others, log_p = moves._follow_j(group, 0, 1, scales)
    masks = [np.array(m, dtype=bool) for m in product([False, True], repeat=len(others))]
    for kind in (log_p, None):
        assert np.isclose(sum(np.exp(_log_q(m, kind)) for m in masks), 1.0)
    total = 0.0                                          # sequential: given the order (same seed), over divisions
    for m in masks:
        again_others, drawn, log_q = moves._sequential(np.random.default_rng(7), group, 0, 1, 0.3, scales, follow=m)
        assert np.array_equal(again_others, others) and np.array_equal(drawn, m)
        total += np.exp(log_q)
    assert np.isclose(total, 1.0)
    # the informed proposal depends on the merged group and the anchors, not on the order
    again, log_p_again = moves._follow_j(group[::-1].copy(), 0, 1, scales)
    order = np.argsort(again)
    assert np.allclose(log_p_again[:, order], log_p[:, np.argsort(others)])


def test_sequential_allocation_probabilities():
    """The compiled sequential allocation gives the probabilities the model's integrals give, each side
    with its own variance multiples."""
    rng = np.random.default_rng(4)
    module, members, prec, resid, tau2 = _setup(rng, n=8)
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    info = patient_information(prec, resid, rng.uniform(0, 0.8, len(module)), blocks)
    integral = EffectIntegral(blocks, tau2, 4.0)
    moves = SplitMerge(info, integral, resid, prec > 0, np.ones((4, 3)))
    e0 = 0.5
    scales = np.array([[1.3, 0.7, 1.0], [0.8, 1.5, 2.0]])
    others, drawn, log_q = moves._sequential(np.random.default_rng(9), np.arange(8), 2, 5, e0, scales)
    order = np.random.default_rng(9).permutation(len(others))
    sides = [[2], [5]]
    expected = 0.0
    for position in order:
        k = others[position]
        score = [np.log(len(side) + e0) + integral.log_marginal(*info.group(np.array(side + [k]), scale))
                 - integral.log_marginal(*info.group(np.array(side), scale)) + info.const_at(scale, [k])[0]
                 for side, scale in zip(sides, scales)]
        chosen = int(drawn[position])
        expected += score[chosen] - np.logaddexp(*score)
        sides[chosen].append(k)
    assert np.isclose(log_q, expected)


def test_small_offshoot_of_a_subgroup_is_merged_back():
    """Five patients of a homogeneous group, split off at random, are merged back within a few moves.

    Informed proposals alone almost never recreate such a division, so they rarely merge it
    (on three of these five seeds not within 400 moves); the uniform ones do.
    """
    for seed in range(5):
        rng = np.random.default_rng(seed)
        module, members, prec, resid, tau2 = _setup(rng, n=60)
        prec, resid = np.ones_like(prec), 1.0 + rng.normal(0.0, 1.0, resid.shape)   # one subgroup, unit noise
        blocks = ModuleBlocks.from_modules(module, members.shape[0])
        info = patient_information(prec, resid, np.zeros(len(module)), blocks)
        moves = SplitMerge(info, EffectIntegral(blocks, tau2, 4.0), resid, prec > 0, np.ones((4, 3)))
        labels = np.zeros(60, dtype=int)
        labels[rng.choice(60, 5, replace=False)] = 1
        for _ in range(50):
            moves.step(rng, labels, 4, e0=0.01)
            if len(np.unique(labels)) == 1:
                break
        assert len(np.unique(labels)) == 1, f"seed {seed}: the offshoot was not merged in 50 moves"


def test_split_ratio_uses_each_side_s_variance_multiples():
    """log p(split) - log p(merged), the merged group at i's side's multiples, from scaled factors."""
    from scipy.special import gammaln

    rng = np.random.default_rng(6)
    module, members, prec, resid, tau2 = _setup(rng, n=10)
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    loading = rng.uniform(0, 0.8, len(module))
    info = patient_information(prec, resid, loading, blocks)
    integral = EffectIntegral(blocks, tau2, 4.0)
    moves = SplitMerge(info, integral, resid, prec > 0, np.ones((4, 3)))
    side_i, side_j = np.arange(6), np.arange(6, 10)
    scales = np.array([[1.3, 0.7, 1.0], [0.8, 1.5, 2.0]])
    e0 = 0.4

    def log_ml(rows, scale):                       # the scaled covariance written directly
        entry = scale[module]
        scaled = patient_information(prec / entry, resid, loading * np.sqrt(entry), blocks)
        return scaled.const[rows].sum() + integral.log_marginal(*scaled.group(rows))

    expected = (log_ml(side_i, scales[0]) + log_ml(side_j, scales[1]) - log_ml(np.arange(10), scales[0])
                + gammaln(6 + e0) + gammaln(4 + e0) - gammaln(10 + e0) - gammaln(e0))
    ours = moves._log_ratio(info.group(side_i), info.group(side_j), side_i, side_j, scales, e0)
    assert np.isclose(ours, expected)


def test_new_side_scale_proposal_is_the_conditional_at_the_posterior_mean_effects():
    """The proposal of a new side's scales is proportional to its patients' likelihood at their posterior
    mean effects times the prior: their ratio is the same at every scale."""
    from pss_bayes.model.split_merge import SpreadPrior

    rng = np.random.default_rng(7)
    module, members, prec, resid, tau2 = _setup(rng, n=10)
    continuous = np.array([True, True, True, True, True, False])           # one binary marker's slot
    loading = np.where(continuous, rng.uniform(0, 0.8, len(module)), 0.0)
    blocks = ModuleBlocks.from_modules(module, members.shape[0])
    info = patient_information(prec, resid, loading, blocks, continuous)
    integral = EffectIntegral(blocks, tau2, 4.0)
    modules = np.array([True, True, False])                                # the last module has no scale
    spread = SpreadPrior(np.array([1.2, 0.8, 1.0]), 6.0, modules)
    moves = SplitMerge(info, integral, resid, prec > 0, np.ones((4, 3)), spread)
    rows = np.arange(3, 9)
    sums = info.group(rows)
    proposal = moves._scale_proposal(sums, rows)
    mean = integral.posterior_mean(*sums)[None]
    values = []
    for _ in range(5):
        scale = np.where(modules, rng.uniform(0.4, 3.0, 3), 1.0)
        likelihood = loglik_given(info.take(rows), mean, scale[None]).sum()
        values.append(likelihood + spread.log_density(scale) - proposal.log_density(scale, modules))
    assert np.allclose(values, values[0])


@pytest.mark.statistical
def test_split_merge_with_own_multiples_leaves_the_partition_posterior_invariant():
    """Split/merge moves with each subgroup's own multiples (a split proposes the new side's, a merge
    returns the emptied component's to a prior draw), alternated with random-walk updates of the
    occupied components' multiples and prior draws of the empty ones' (no single-patient moves), give
    the number of subgroups and every pair's probability of sharing one of the exact posterior of six
    patients: labelled allocations into three components, effects integrated in closed form, each
    component's multiple (one scaled module, a wide prior so that it matters) integrated on a grid."""
    from itertools import product

    from scipy.special import gammaln

    from pss_bayes.model.split_merge import SpreadPrior

    rng = np.random.default_rng(11)
    n, n_components, e0 = 6, 3, 0.6
    module = np.array([0, 0, 0, 0, 0, 1])
    blocks = ModuleBlocks.from_modules(module, 2)
    shift = np.array([[1.0, 0.8, 1.0, 0.0, 0.0, 0.0]]) * (np.arange(n) < 3)[:, None]
    spread_of = np.where(np.arange(n) < 3, 1.0, 2.0)[:, None]      # the second group twice as spread
    resid = rng.normal(0.0, 1.0, (n, 6)) * np.sqrt(spread_of) + shift
    prec = np.full((n, 6), 1.5)
    info = patient_information(prec, resid, np.array([0.5, 0.5, 0.4, 0.3, 0.5, 0.0]), blocks)
    integral = EffectIntegral(blocks, np.array([0.3, 0.3]), 2.0)
    spread = SpreadPrior(np.array([1.0, 1.0]), 3.0, np.array([True, False]))

    def log_component(rows, c):                      # collapsed likelihood times the multiple's prior
        scale = np.array([c, 1.0])
        return (info.const_at(scale, rows).sum() + integral.log_marginal(*info.group(rows, scale))
                + spread.log_density(scale))

    grid = np.linspace(np.log(0.02), np.log(30.0), 600)
    integrated = {}                                   # log of the integral over the multiple, per group
    for members in product([False, True], repeat=n):
        rows = np.flatnonzero(members)
        if len(rows):
            values = np.array([log_component(rows, np.exp(u)) + u for u in grid])
            top = values.max()
            integrated[tuple(rows)] = top + np.log(np.trapezoid(np.exp(values - top), grid))
    exact = {}
    for labels in product(range(n_components), repeat=n):
        labels = np.array(labels)
        counts = np.bincount(labels, minlength=n_components)
        exact[tuple(labels)] = (gammaln(n_components * e0) - gammaln(n + n_components * e0)
                                + (gammaln(counts + e0) - gammaln(e0)).sum()
                                + sum(integrated[tuple(np.flatnonzero(labels == k))] for k in np.flatnonzero(counts)))
    log_z = np.logaddexp.reduce(list(exact.values()))
    expected = np.zeros(n_components + 1)
    expected_together = np.zeros((n, n))                # posterior probability that two patients share one
    for labels, log_p in exact.items():
        expected[len(set(labels))] += np.exp(log_p - log_z)
        expected_together += np.exp(log_p - log_z) * np.equal.outer(labels, labels)

    scale = np.ones((n_components, 2))
    moves = SplitMerge(info, integral, resid, prec > 0, scale, spread)
    labels = np.zeros(n, dtype=int)
    visits = np.zeros(n_components + 1)
    together = np.zeros((n, n))
    for sweep in range(12000):
        counts = np.bincount(labels, minlength=n_components)
        for k in range(n_components):
            if counts[k] == 0:
                scale[k] = spread.draw(rng)
                continue
            rows = np.flatnonzero(labels == k)
            proposed = scale[k, 0] * np.exp(0.5 * rng.normal())
            log_a = (log_component(rows, proposed) + np.log(proposed)
                     - log_component(rows, scale[k, 0]) - np.log(scale[k, 0]))
            if np.log(rng.uniform()) < log_a:
                scale[k, 0] = proposed
        for _ in range(3):
            moves.step(rng, labels, n_components, e0)
        if sweep >= 500:
            visits[len(np.unique(labels))] += 1
            together += np.equal.outer(labels, labels)
    observed = visits / visits.sum()
    assert expected[1:].min() > 0.05                      # every number of subgroups is visited often
    assert np.abs(observed - expected).max() < 0.02, (observed, expected)
    assert np.abs(together / visits.sum() - expected_together).max() < 0.02
