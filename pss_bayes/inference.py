"""Fitting: run the Gibbs chains (in parallel), relabel, assemble a :class:`FitResult`."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import arviz as az
import numpy as np
from threadpoolctl import threadpool_limits
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pss_bayes import __version__
from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import SpecError
from pss_bayes.model.chain import Chain, join_traces
from pss_bayes.model.design import prepare, spread_modules
from pss_bayes.model.spec import ModelSpec, load_spec
from pss_bayes.posterior.assemble import build_inference_data, relabel_traces, stack_chains
from pss_bayes.posterior.relabel import k_posterior
from pss_bayes.result import FitResult, diagnose_fit

_PROGRESS_EVERY = 25
# Each chain runs single-threaded: its matrices are small, and BLAS threads competing with the
# other chains' processes slow everything down.


def _chain_worker(args: tuple) -> tuple[dict[str, np.ndarray], Chain]:
    """Run (or continue) one chain in a worker process; the chain comes back with its draws."""
    chain, draws, tune, thin, queue, index, done = args

    def report(step: int) -> None:
        if queue is not None and (step % _PROGRESS_EVERY == 0 or step == tune + draws * thin):
            queue.put((index, done + step))

    with threadpool_limits(1):
        return chain.run(draws, tune=tune, thin=thin, progress=report), chain


def chain_seeds(seed: int, chains: int) -> list[int]:
    """Independent per-chain seeds derived from one user seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(chains)]


def check_settings(spec: ModelSpec, *, seed: int, draws: int, tune: int, chains: int, thin: int,
                   extensions: int, k: int | None) -> None:
    """Refuse sampler settings no fit can run with, before any sampling.

    Raises
    ------
    SpecError
        Naming the setting (and its command-line option) and the values it accepts.
    """
    for name, value, least in (("seed", seed, 0), ("draws", draws, 1), ("tune", tune, 0),
                               ("chains", chains, 1), ("thin", thin, 1), ("extensions", extensions, 0)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise SpecError(f"{name} (--{name}) must be a whole number of at least {least}, not {value!r}")
    if k is None:
        return
    mixture = spec.mixture
    if mixture.sparse and not 1 <= k <= mixture.k_max:
        raise SpecError(f"k (--k) must be between 1 and the spec's mixture.k_max ({mixture.k_max}), not {k}")
    if not mixture.sparse and k != mixture.fixed_k:
        raise SpecError(f"k (--k) = {k}, but the spec fixes the number of subgroups at {mixture.fixed_k}: "
                        "leave --k out, or fit a spec with a sparse mixture")


def fit(cohort: Cohort, spec: ModelSpec | str = "default", *, seed: int = 0, draws: int | None = None,
        tune: int | None = None, chains: int | None = None, thin: int | None = None,
        extensions: int | None = None, n_jobs: int | None = None, k: int | None = None,
        progress: bool = True) -> FitResult:
    """Fit the control-referenced mixture to a cohort.

    Parameters
    ----------
    cohort
        The validated cohort.
    spec
        A :class:`ModelSpec`, the name of a shipped spec, or a path to a TOML file.
    seed
        Seed of every random choice; the same seed gives the same tables.
    draws, tune, chains, thin, extensions
        Override the spec's sampler settings. When the convergence checks fail after
        ``draws`` draws per chain, every chain continues by another ``draws`` draws
        and the checks run again on all of them, at most ``extensions`` times
        (0: never). ``run_info`` records how many continuations ran and why.
    n_jobs
        Chains run in parallel processes (default: as many as cores, at most one per chain).
    k
        Report subgroups conditional on this number of non-empty components instead
        of the posterior mode (sparse mixtures only). When no draw has ``k``, the
        posterior mode is reported instead and ``run_info`` says so
        (``k_requested``, ``k_note``).
    progress
        Show a progress bar, and say on the terminal when chains are continued.

    Returns
    -------
    FitResult

    Raises
    ------
    SpecError
        When a sampler setting or ``k`` is out of range (before any sampling).
    """
    spec = load_spec(spec) if isinstance(spec, (str, os.PathLike)) else spec
    s = spec.sampler
    draws, tune = s.draws if draws is None else draws, s.tune if tune is None else tune
    chains, thin = s.chains if chains is None else chains, s.thin if thin is None else thin
    extensions = s.extensions if extensions is None else extensions
    check_settings(spec, seed=seed, draws=draws, tune=tune, chains=chains, thin=thin, extensions=extensions, k=k)
    data, scaling, design = prepare(cohort, spec)
    n_jobs = max(1, min(chains, n_jobs or os.cpu_count() or 1))
    attrs = {"spec": json.dumps(spec.to_dict()), "pss_bayes_version": __version__,
             "data_hash": cohort.data_hash(), "seed": str(seed), "engine": "gibbs"}
    started = time.perf_counter()
    runner = _ChainRunner(data, spec, chain_seeds(seed, chains), thin, n_jobs, progress)
    traces = runner.start(draws, tune)
    continued: list[dict[str, Any]] = []
    kept = draws
    while True:
        k_note = _k_unavailable(traces, k) if spec.mixture.sparse else None
        idata = _posterior(traces, data, spec, attrs, None if k_note else k)
        diag = diagnose_fit(idata, spec)
        if diag.converged or len(continued) == extensions:
            break
        continued.append({"after_draws": kept, "warnings": diag.warnings})
        runner.say(f"Convergence checks failed after {kept} draws per chain ({diag.warnings[0]}); "
                   f"continuing every chain by {draws} draws ({len(continued)} of at most {extensions}).")
        traces = [join_traces(old, new) for old, new in zip(traces, runner.extend(draws))]
        kept += draws
    sampling_seconds = runner.seconds
    run_info: dict[str, Any] = {"seed": seed, "draws": kept, "draws_requested": draws,
                                "tune": tune, "chains": chains, "thin": thin, "extensions": extensions,
                                "continued": continued, "n_jobs": n_jobs, "engine": "gibbs",
                                "timings": {"sampling_seconds": round(sampling_seconds, 2),
                                            "total_seconds": round(time.perf_counter() - started, 2)}}
    if k is not None:
        run_info["k_requested"] = k
    if k_note:
        run_info["k_note"] = k_note
    result = FitResult(idata=idata, cohort=cohort, spec=spec, scaling=scaling, design=design, run_info=run_info)
    result._diagnostics = diag            # the checks just run on these draws (a cached property)
    return result


def _k_unavailable(traces: list[dict[str, np.ndarray]], k: int | None) -> str | None:
    """Why the subgroups cannot be reported conditional on ``k`` (no draw has it), or ``None``."""
    if k is None:
        return None
    probability = k_posterior(np.stack([t["counts"] for t in traces]))
    if probability.get(k, 0.0) > 0.0:
        return None
    seen = ", ".join(f"{value} ({p:.2f})" for value, p in sorted(probability.items()))
    return (f"No posterior draw has K={k} non-empty subgroups (draws by K: {seen}), so the subgroups are "
            f"reported at the posterior mode instead of K={k}. Fit a spec with mixture.fixed_k = {k} to "
            "force that number.")


def _posterior(traces: list[dict[str, np.ndarray]], data, spec: ModelSpec, attrs: dict[str, str],
               k: int | None) -> az.InferenceData:
    """Relabelled InferenceData of the chains' draws."""
    stacked = stack_chains(traces)
    labels = relabel_traces(stacked, fixed_k=not spec.mixture.sparse, k=k)
    return build_inference_data(stacked, data, labels, {**attrs, "k_reported": str(labels.k)},
                                estimated_df=spec.likelihood.df_estimated and not data.is_binary.all(),
                                spread=spread_modules(data, spec), by_subgroup=spec.patient_spread.by_subgroup)


class _ChainRunner:
    """The chains of one fit: started, then possibly continued, in parallel processes, with a progress bar."""

    def __init__(self, data, spec: ModelSpec, seeds: list[int], thin: int, n_jobs: int, progress: bool) -> None:
        self.chains = [Chain(data, spec, chain_seed) for chain_seed in seeds]
        self.thin, self.n_jobs, self.show = thin, n_jobs, progress
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} sweeps"),
                   TimeElapsedColumn(), TimeRemainingColumn())
        self.bar = Progress(*columns, disable=not progress, transient=False, console=Console(stderr=True))
        self.tasks = [self.bar.add_task(f"chain {c + 1}", total=0) for c in range(len(seeds))]
        self.seconds = 0.0

    def say(self, message: str) -> None:
        if self.show:
            self.bar.console.print(message, style="yellow", markup=False, highlight=False)

    def start(self, draws: int, tune: int) -> list[dict[str, np.ndarray]]:
        return self._run(draws, tune)

    def extend(self, draws: int) -> list[dict[str, np.ndarray]]:
        return self._run(draws, 0)

    def _run(self, draws: int, tune: int) -> list[dict[str, np.ndarray]]:
        done = [chain.sweeps for chain in self.chains]
        for task, before in zip(self.tasks, done):
            self.bar.update(task, total=before + tune + draws * self.thin, completed=before)
        started = time.perf_counter()
        with self.bar:
            if self.n_jobs == 1:
                with threadpool_limits(1):
                    traces = [chain.run(draws, tune=tune, thin=self.thin,
                                        progress=lambda step, c=c: self.bar.update(self.tasks[c],
                                                                                   completed=done[c] + step))
                              for c, chain in enumerate(self.chains)]
            else:
                traces = self._in_processes(draws, tune, done)
        self.seconds += time.perf_counter() - started
        return traces

    def _in_processes(self, draws: int, tune: int, done: list[int]) -> list[dict[str, np.ndarray]]:
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with context.Manager() as manager:
            queue = manager.Queue()
            with ProcessPoolExecutor(max_workers=self.n_jobs, mp_context=context) as pool:
                futures = [pool.submit(_chain_worker, (chain, draws, tune, self.thin, queue, c, done[c]))
                           for c, chain in enumerate(self.chains)]
                while not all(f.done() for f in futures):
                    self._drain(queue)
                    time.sleep(0.1)
                self._drain(queue)
                results = [f.result() for f in futures]
        self.chains = [chain for _, chain in results]
        return [trace for trace, _ in results]

    def _drain(self, queue) -> None:
        while not queue.empty():
            chain, step = queue.get()
            self.bar.update(self.tasks[chain], completed=step)
