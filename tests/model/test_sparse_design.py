"""Sparse rows of a design and the weighted normal equations against dense algebra."""

import numpy as np

from pss_bayes.model.sparse_design import SparseRows, weighted_normal_equations


def _design(rng, n=50):
    batch = np.eye(3)[rng.integers(0, 3, n)][:, 1:]
    group = np.eye(4)[rng.integers(0, 4, n)] * (rng.uniform(size=n) < 0.7)[:, None]     # some rows without
    return np.column_stack([np.ones(n), rng.normal(0, 1, n), batch, group])


def test_sparse_rows_rebuild_the_design():
    design = _design(np.random.default_rng(0))
    indptr, indices, values = SparseRows.of(design)
    dense = np.zeros_like(design)
    for i in range(len(design)):
        dense[i, indices[indptr[i]:indptr[i + 1]]] = values[indptr[i]:indptr[i + 1]]
    np.testing.assert_array_equal(dense, design)
    assert len(values) == np.count_nonzero(design)


def test_normal_equations_match_dense_products():
    rng = np.random.default_rng(1)
    design = _design(rng)
    n, q, J = design.shape[0], design.shape[1], 5
    extra = rng.normal(0, 1, (n, J))
    weight = np.where(rng.uniform(size=(n, J)) < 0.8, rng.gamma(2.0, 1.0, (n, J)), 0.0)
    response = np.where(weight > 0, rng.normal(0, 1, (n, J)), np.nan)            # unobserved: skipped
    gram, moment = weighted_normal_equations(SparseRows.of(design), q, extra, weight, response)
    for j in range(J):
        x = np.column_stack([design, extra[:, j]])
        w = weight[:, j]
        np.testing.assert_allclose(gram[j], x.T @ (w[:, None] * x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(moment[j], x.T @ (w * np.nan_to_num(response[:, j])), rtol=1e-12, atol=1e-12)
