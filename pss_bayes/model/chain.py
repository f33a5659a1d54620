"""Running one chain of the Gibbs sampler and collecting its draws."""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.cluster import KMeans

from pss_bayes.model.design import ModelData
from pss_bayes.model.gibbs import GibbsSampler, State
from pss_bayes.model.spec import ModelSpec

#: Names and per-draw shapes (as functions of the data) of what a chain records.
TRACE_VARIABLES = ("fixed", "delta", "loading", "sigma2", "patient_scale", "subgroup_scale", "theta", "tau2",
                   "log_weights", "e0", "df", "counts", "responsibility", "log_lik")


def initial_labels(data: ModelData, n_components: int, seed: int) -> np.ndarray:
    """A k-means partition of the patients into ``n_components`` clusters (seeded), on their continuous
    markers (on the binary ones when there are none); fewer when the patients have fewer distinct values."""
    patients = data.is_patient
    columns = ~data.is_binary if (~data.is_binary).any() else data.is_binary
    x = np.where(data.observed[patients], data.y[patients], 0.0)[:, columns]
    k = min(n_components, len(np.unique(x, axis=0)))        # binary markers alone may take few distinct rows
    km = KMeans(n_clusters=k, n_init=1, random_state=seed % (2 ** 32)).fit(x)
    return km.labels_.astype(int)


def _snapshot(s: State, n_components: int) -> dict[str, np.ndarray]:
    return {"fixed": s.fixed.copy(), "delta": s.delta.copy(), "loading": s.loading.copy(),
            "sigma2": s.sigma2.copy(), "patient_scale": s.patient_scale.copy(),
            "subgroup_scale": s.subgroup_scale.copy(), "theta": s.theta.copy(),
            "tau2": s.tau2.copy(),
            "log_weights": s.log_weights.copy(), "e0": np.float64(s.e0),
            "df": np.float64(s.nu),
            "counts": np.bincount(s.labels, minlength=n_components)}


class Chain:
    """One chain of the Gibbs sampler that can be continued after its draws.

    The sampler and its state (random generator included) stay in the object, so
    :meth:`run` called again continues the same Markov chain: the draws of two calls
    joined are those one longer call would have given. The object pickles, so a chain
    run in another process can be sent back and continued there or here.

    Parameters
    ----------
    data, spec
        Prepared model inputs and the model specification.
    seed
        Seed of the chain's random generator and of its initial partition.
    start
        Initial component (0..n_components-1) of each patient; default: a k-means
        partition into ``n_components`` clusters (:func:`initial_labels`).
    """

    def __init__(self, data: ModelData, spec: ModelSpec, seed: int, start: np.ndarray | None = None) -> None:
        self.sampler = GibbsSampler(data, spec, seed)
        self.n_components = self.sampler.layout.n_components
        if start is None:
            start = initial_labels(data, self.n_components, seed)
        elif start.shape != (int(data.is_patient.sum()),) or not 0 <= start.min() <= start.max() < self.n_components:
            raise ValueError(f"start must give each of the {int(data.is_patient.sum())} patients a component "
                             f"in 0..{self.n_components - 1}")
        self.state = self.sampler.initial_state(np.asarray(start, dtype=int))
        #: Sweeps run so far, warm-up included.
        self.sweeps = 0

    def run(self, draws: int, *, tune: int = 0, thin: int = 1,
            progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """``tune`` warm-up sweeps, then ``draws * thin`` sweeps keeping every ``thin``-th.

        In the first half of the warm-up, components smaller than the sampler's
        ``min_size`` are emptied after each allocation, and step sizes adapt during
        all of it (warm-up devices only; kept draws come from the exact updates).
        Warm-up belongs before the first draws: continuing a chain passes ``tune=0``.
        ``progress`` receives the number of sweeps this call has run.

        Returns
        -------
        dict
            Arrays with a leading ``draw`` dimension (see :data:`TRACE_VARIABLES`).
            Responsibilities and log-likelihoods are those of the recorded parameter values.
        """
        sampler, state, K = self.sampler, self.state, self.n_components
        trace: dict[str, list[np.ndarray]] = {name: [] for name in TRACE_VARIABLES}
        for step in range(tune + draws * thin):
            keep = step >= tune and (step - tune) % thin == 0
            snap = _snapshot(state, K) if keep else None
            resp, loglik = sampler.sweep(state, record=keep, prune=step < tune // 2, adapt=step < tune)
            if keep:
                for name, value in snap.items():
                    trace[name].append(value)
                trace["responsibility"].append(resp.astype(np.float32))
                trace["log_lik"].append(loglik)
            self.sweeps += 1
            if progress is not None:
                progress(step + 1)
        return {name: np.stack(values) for name, values in trace.items()}


def run_chain(data: ModelData, spec: ModelSpec, *, seed: int, draws: int, tune: int, thin: int = 1,
              progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Run one chain from its start (see :meth:`Chain.run`) and return its draws."""
    return Chain(data, spec, seed).run(draws, tune=tune, thin=thin, progress=progress)


def join_traces(first: dict[str, np.ndarray], then: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The draws of a chain followed by those of its continuation."""
    return {name: np.concatenate([first[name], then[name]]) for name in first}
