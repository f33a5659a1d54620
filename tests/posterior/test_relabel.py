"""Relabelling recovers a common labelling from draws with switched labels."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from pss_bayes.posterior.relabel import k_posterior, occupied, relabel, stephens


def _switched_draws(rng, chains=3, draws=40, n=25, k=3, K=6, noise=0.05):
    truth = rng.dirichlet(np.full(k, 0.3), size=n)
    resp = np.zeros((chains, draws, n, K))
    counts = np.zeros((chains, draws, K), dtype=int)
    slots = np.zeros((chains, draws, k), dtype=int)
    for c in range(chains):
        for d in range(draws):
            s = rng.choice(K, k, replace=False)
            p = np.clip(truth + rng.normal(0, noise, truth.shape), 1e-3, None)
            resp[c, d][:, s] = p / p.sum(1, keepdims=True)
            counts[c, d, s] = rng.integers(1, 10, k)
            slots[c, d] = s
    weights = (counts + 1e-3) / (counts + 1e-3).sum(-1, keepdims=True)
    return truth, resp, counts, weights, slots


def test_relabel_undoes_random_switching():
    rng = np.random.default_rng(1)
    truth, resp, counts, weights, _ = _switched_draws(rng)
    labels = relabel(resp, counts, weights, rng.normal(size=counts.shape[:2]))
    assert labels.k == 3
    gathered = labels.gather(resp, 3)                      # (chain, draw, n, k)
    mean = gathered.mean((0, 1))
    # same partition as the truth up to one permutation, identical in every draw
    spread = np.abs(gathered - mean).max()
    assert spread < 0.25
    assert adjusted_rand_score(truth.argmax(1), mean.argmax(1)) == 1.0


def test_draws_with_other_k_are_excluded_and_nan():
    rng = np.random.default_rng(2)
    _, resp, counts, weights, slots = _switched_draws(rng, chains=2, draws=10)
    counts[0, :3] = 0
    counts[0, :3, :4] = 5                                   # four occupied components in 3 draws
    labels = relabel(resp, counts, weights, np.zeros(counts.shape[:2]))
    assert labels.k == 3
    assert not labels.selected[0, :3].any() and labels.selected[0, 3:].all()
    gathered = labels.gather(weights, 2)
    assert np.isnan(gathered[0, :3]).all()
    assert np.isfinite(gathered[labels.selected]).all()


def test_subgroups_numbered_by_decreasing_weight():
    rng = np.random.default_rng(3)
    _, resp, counts, _, slots = _switched_draws(rng, chains=2, draws=20)
    weights = np.zeros(counts.shape)
    for c in range(2):
        for d in range(20):
            weights[c, d, slots[c, d]] = [0.2, 0.5, 0.3]
    labels = relabel(resp, counts, weights, np.zeros(counts.shape[:2]))
    w = labels.gather(weights, 2)
    means = np.nanmean(w.reshape(-1, 3), 0)
    assert np.all(np.diff(means) <= 0)


def test_fixed_k_keeps_every_draw_and_component():
    rng = np.random.default_rng(4)
    _, resp, counts, weights, _ = _switched_draws(rng, chains=2, draws=5, K=3)
    labels = relabel(resp, counts, weights, np.zeros((2, 5)), keep_empty=True)
    assert labels.k == 3 and labels.selected.all()


def test_stephens_many_components_uses_assignment():
    rng = np.random.default_rng(5)
    truth = np.eye(8)[rng.integers(0, 8, 40)] * 0.9 + 0.1 / 8
    draws = np.stack([truth[:, rng.permutation(8)] for _ in range(12)])
    perm, _ = stephens(draws)
    aligned = np.take_along_axis(draws, perm[:, None, :], axis=2)
    assert np.allclose(aligned, aligned[0])


def test_k_posterior_and_occupied():
    counts = np.array([[[3, 0, 2], [1, 1, 1]], [[0, 0, 5], [2, 2, 0]]])
    assert occupied(counts).tolist() == [[2, 3], [1, 2]]
    assert k_posterior(counts) == pytest.approx({1: 0.25, 2: 0.5, 3: 0.25})


def test_relabel_refuses_impossible_k():
    counts = np.ones((1, 2, 3), dtype=int)
    with pytest.raises(ValueError, match="no draw has 2"):
        relabel(np.full((1, 2, 4, 3), 1 / 3), counts, np.full((1, 2, 3), 1 / 3), np.zeros((1, 2)), k=2)
