"""Running one chain of the Gibbs sampler and collecting its draws."""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.cluster import KMeans

from pss_bayes.model.design import ModelData
from pss_bayes.model.gibbs import GibbsSampler, State
from pss_bayes.model.spec import ModelSpec

#: Names and per-draw shapes (as functions of the data) of what a chain records.
TRACE_VARIABLES = ("fixed", "delta", "loading", "sigma2", "theta", "tau2", "log_weights", "e0", "df",
                   "counts", "responsibility", "log_lik")


def initial_labels(data: ModelData, n_components: int, seed: int) -> np.ndarray:
    """A k-means partition of the patients into ``n_components`` clusters (seeded)."""
    patients = data.is_patient
    x = np.where(data.observed[patients], data.y[patients], 0.0)[:, ~data.is_binary]
    k = min(n_components, int(patients.sum()))
    km = KMeans(n_clusters=k, n_init=1, random_state=seed % (2 ** 32)).fit(x)
    return km.labels_.astype(int)


def _snapshot(s: State, n_components: int) -> dict[str, np.ndarray]:
    return {"fixed": s.fixed.copy(), "delta": s.delta.copy(), "loading": s.loading.copy(),
            "sigma2": s.sigma2.copy(), "theta": s.theta.copy(), "tau2": s.tau2.copy(),
            "log_weights": s.log_weights.copy(), "e0": np.float64(s.e0),
            "df": np.float64(s.nu),
            "counts": np.bincount(s.labels, minlength=n_components)}


def run_chain(data: ModelData, spec: ModelSpec, *, seed: int, draws: int, tune: int, thin: int = 1,
              progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Run one chain: ``tune`` warm-up sweeps, then ``draws * thin`` sweeps keeping every ``thin``-th.

    In the first half of the warm-up, components smaller than ``sampler.min_size``
    are emptied after each allocation (a warm-up device only; the kept draws come
    from the exact Gibbs updates).

    Returns a dictionary of arrays with a leading ``draw`` dimension (see
    :data:`TRACE_VARIABLES`). Responsibilities and log-likelihoods are those of the
    recorded parameter values.
    """
    sampler = GibbsSampler(data, spec, seed)
    K = sampler.layout.n_components
    state = sampler.initial_state(initial_labels(data, K, seed))
    trace: dict[str, list[np.ndarray]] = {name: [] for name in TRACE_VARIABLES}
    total = tune + draws * thin
    for step in range(total):
        keep = step >= tune and (step - tune) % thin == 0
        snap = _snapshot(state, K) if keep else None
        resp, loglik = sampler.sweep(state, record=keep, prune=step < tune // 2, adapt=step < tune)
        if keep:
            for name, value in snap.items():
                trace[name].append(value)
            trace["responsibility"].append(resp.astype(np.float32))
            trace["log_lik"].append(loglik)
        if progress is not None:
            progress(step + 1)
    return {name: np.stack(values) for name, values in trace.items()}
