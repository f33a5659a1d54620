"""Resolving label switching after sampling.

Mixture components carry arbitrary labels that can swap between chains and
draws. For a sparse finite mixture we keep the draws whose number of non-empty
components equals the chosen K (the posterior mode, by default) and match their
non-empty components to a common set of subgroups with Stephens' (2000)
Kullback-Leibler relabelling on the per-draw membership probabilities: each
draw's permutation minimises the divergence from the current average membership
matrix, which is then recomputed until no permutation changes. Subgroups are
finally numbered by decreasing posterior mean weight.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

#: Above this many subgroups permutations are found by the Hungarian algorithm
#: per draw instead of by scoring every permutation at once.
_ENUMERATE_MAX_K = 6


@dataclass(frozen=True)
class Relabelling:
    """Which draws were kept and which component each subgroup is in each draw.

    Attributes
    ----------
    k
        Number of subgroups.
    selected
        (chain, draw) boolean mask of the draws kept.
    components
        (n_selected, k) component index of subgroup 1..k in each kept draw, in the
        order of ``np.flatnonzero(selected.ravel())``.
    iterations
        Number of Stephens iterations until no permutation changed.
    """

    k: int
    selected: np.ndarray
    components: np.ndarray
    iterations: int

    def gather(self, values: np.ndarray, axis: int) -> np.ndarray:
        """Reorder a per-component array into subgroups, NaN for draws not kept.

        ``values`` has leading (chain, draw) dimensions and its component dimension
        at ``axis`` (counting the leading two). Returns the same shape with the
        component dimension replaced by ``k`` subgroups.
        """
        chains, draws = self.selected.shape
        flat = values.reshape((chains * draws,) + values.shape[2:])
        comp_axis = axis - 1
        kept = flat[self.selected.ravel()]
        index_shape = [1] * kept.ndim
        index_shape[0], index_shape[comp_axis] = kept.shape[0], self.k
        index = self.components.reshape(index_shape)
        index = np.broadcast_to(index, kept.shape[:comp_axis] + (self.k,) + kept.shape[comp_axis + 1:])
        picked = np.take_along_axis(kept, index, axis=comp_axis)
        out_shape = (chains * draws,) + picked.shape[1:]
        out = np.full(out_shape, np.nan, dtype=float)
        out[self.selected.ravel()] = picked
        return out.reshape((chains, draws) + picked.shape[1:])


def occupied(counts: np.ndarray) -> np.ndarray:
    """Number of non-empty components per draw (counts: (..., K))."""
    return (counts > 0).sum(-1)


def k_posterior(counts: np.ndarray) -> dict[int, float]:
    """Posterior probability of each number of non-empty subgroups."""
    k = occupied(counts).ravel()
    values, freq = np.unique(k, return_counts=True)
    return {int(v): float(f) / k.size for v, f in zip(values, freq)}


def _best_permutations(cost: np.ndarray) -> np.ndarray:
    """For each draw, the assignment (subgroup -> component slot) of least cost.

    ``cost[s, a, b]`` is the cost of giving component slot ``a`` subgroup ``b``;
    returns (S, k) with, for each subgroup ``b``, the slot assigned to it.
    """
    S, k, _ = cost.shape
    if k <= _ENUMERATE_MAX_K:
        perms = np.array(list(itertools.permutations(range(k))))      # perm[b] = slot of subgroup b
        scores = cost[:, perms, np.arange(k)].sum(-1)                   # (S, n_perm)
        return perms[scores.argmin(1)]
    out = np.empty((S, k), dtype=int)
    for s in range(S):
        rows, cols = linear_sum_assignment(cost[s])
        out[s, cols] = rows
    return out


def stephens(resp: np.ndarray, start: int = 0, max_iter: int = 50) -> tuple[np.ndarray, int]:
    """Stephens' KL relabelling of per-draw membership matrices.

    Parameters
    ----------
    resp
        (S, n, k) membership probabilities per draw (rows sum to one).
    start
        Draw whose labelling is the initial reference.

    Returns
    -------
    (S, k) array: for each draw, the column of ``resp`` that is subgroup b; and
    the number of iterations used.
    """
    S, n, k = resp.shape
    perm = np.tile(np.arange(k), (S, 1))
    reference = resp[start]
    for iteration in range(1, max_iter + 1):
        log_q = np.log(np.clip(reference, 1e-12, None))
        cost = -np.einsum("sia,ib->sab", resp, log_q)
        new = _best_permutations(cost)
        if iteration > 1 and np.array_equal(new, perm):
            return perm, iteration
        perm = new
        reference = np.take_along_axis(resp, perm[:, None, :], axis=2).mean(0)
    return perm, max_iter


def relabel(responsibility: np.ndarray, counts: np.ndarray, weights: np.ndarray,
            log_lik_total: np.ndarray, k: int | None = None, keep_empty: bool = False) -> Relabelling:
    """Relabel a mixture's draws into ``k`` subgroups.

    Parameters
    ----------
    responsibility
        (chain, draw, n, K) per-draw membership probabilities over all components.
    counts
        (chain, draw, K) number of patients allocated to each component.
    weights
        (chain, draw, K) component weights.
    log_lik_total
        (chain, draw) total log-likelihood; the best draw is the initial reference.
    k
        Number of subgroups; default the posterior mode of the number of
        non-empty components.
    keep_empty
        Fixed-K fits: keep every draw and every component (``k`` must be K).

    Returns
    -------
    Relabelling
    """
    chains, draws, n, K = responsibility.shape
    if keep_empty:
        k = K
        selected = np.ones((chains, draws), dtype=bool)
        slots = np.tile(np.arange(K), (chains * draws, 1))
    else:
        n_occ = occupied(counts)
        if k is None:
            values, freq = np.unique(n_occ, return_counts=True)
            k = int(values[freq.argmax()])
        selected = n_occ == k
        if not selected.any():
            raise ValueError(f"no draw has {k} non-empty subgroups")
        flat_counts = counts.reshape(chains * draws, K)[selected.ravel()]
        slots = np.argsort(flat_counts == 0, axis=1, kind="stable")[:, :k]   # occupied components first
    flat_resp = responsibility.reshape(chains * draws, n, K)[selected.ravel()]
    sub = np.take_along_axis(flat_resp, slots[:, None, :], axis=2).astype(float)
    sub /= np.clip(sub.sum(2, keepdims=True), 1e-300, None)
    start = int(np.argmax(log_lik_total.ravel()[selected.ravel()]))
    perm, iterations = stephens(sub, start=start)
    components = np.take_along_axis(slots, perm, axis=1)
    # number subgroups by decreasing mean weight
    flat_w = weights.reshape(chains * draws, K)[selected.ravel()]
    w = np.take_along_axis(flat_w, components, axis=1)
    order = np.argsort(-(w / w.sum(1, keepdims=True)).mean(0), kind="stable")
    return Relabelling(k=k, selected=selected, components=components[:, order], iterations=iterations)
