"""Design matrices by their non-zero entries, and the weighted normal equations built from them.

The sampler's regressions share one design across biomarkers: intercept, covariates,
batch indicators and subgroup indicators. All but a handful of a row's entries are
zero, so the compiled loops here visit only the others.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.numerics import contiguous_floats, jit


class SparseRows(tuple):
    """The non-zero entries of a design matrix by row: ``(indptr, indices, values)`` as in CSR.

    Within a row, column indices increase.
    """

    @classmethod
    def of(cls, design: np.ndarray) -> "SparseRows":
        return cls(_sparse_rows(*contiguous_floats(design)))


@jit
def _sparse_rows(design):
    n, q = design.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices = np.empty(n * q, dtype=np.int64)
    values = np.empty(n * q)
    e = 0
    for i in range(n):
        for c in range(q):
            if design[i, c] != 0.0:
                indices[e], values[e] = c, design[i, c]
                e += 1
        indptr[i + 1] = e
    return indptr, indices[:e].copy(), values[:e].copy()


def weighted_normal_equations(design: SparseRows, n_columns: int, extra: np.ndarray, weight: np.ndarray,
                              response: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X_j' W_j X_j`` and ``X_j' W_j y_j`` for every response column ``j``.

    Parameters
    ----------
    design
        The shared design (n, q), by its non-zero entries.
    n_columns
        ``q``.
    extra
        (n, J) one more predictor per response column (placed last, column ``q``).
    weight
        (n, J) weights; entries with weight 0 are skipped (their response may be NaN).
    response
        (n, J) responses.

    Returns
    -------
    (J, q + 1, q + 1) and (J, q + 1) arrays.
    """
    J = weight.shape[1]
    gram = np.zeros((J, n_columns + 1, n_columns + 1))
    moment = np.zeros((J, n_columns + 1))
    _normal_equations(*design, *contiguous_floats(extra, weight, response), gram, moment)
    return gram, moment


@jit
def _normal_equations(indptr, indices, values, extra, weight, response, gram, moment):
    q = gram.shape[1] - 1
    J = weight.shape[1]
    width = 0
    for i in range(len(indptr) - 1):
        width = max(width, indptr[i + 1] - indptr[i])
    # One row's pairs of non-zero entries (upper triangle): their cells and products.
    rows, cols = np.empty(width * (width + 1) // 2, np.int64), np.empty(width * (width + 1) // 2, np.int64)
    products = np.empty(width * (width + 1) // 2)
    for i in range(len(indptr) - 1):
        start, stop = indptr[i], indptr[i + 1]
        n_pairs = 0
        for e in range(start, stop):
            for f in range(e, stop):
                rows[n_pairs], cols[n_pairs], products[n_pairs] = indices[e], indices[f], values[e] * values[f]
                n_pairs += 1
        for j in range(J):
            w = weight[i, j]
            if w == 0.0:
                continue
            a, wy = extra[i, j], w * response[i, j]
            for p in range(n_pairs):
                gram[j, rows[p], cols[p]] += w * products[p]
            wa = w * a
            for e in range(start, stop):
                gram[j, indices[e], q] += wa * values[e]
                moment[j, indices[e]] += wy * values[e]
            gram[j, q, q] += wa * a
            moment[j, q] += wy * a
    for j in range(J):
        for c in range(q + 1):
            for d in range(c + 1, q + 1):      # only the upper triangle was summed
                gram[j, d, c] = gram[j, c, d]
