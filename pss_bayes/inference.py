"""Fitting: run the Gibbs chains (in parallel), relabel, assemble a :class:`FitResult`."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pss_bayes import __version__
from pss_bayes.data.cohort import Cohort
from pss_bayes.model.chain import run_chain
from pss_bayes.model.design import prepare
from pss_bayes.model.spec import ModelSpec, load_spec
from pss_bayes.posterior.assemble import build_inference_data, relabel_traces, stack_chains
from pss_bayes.result import FitResult

_PROGRESS_EVERY = 25
# Each chain runs single-threaded: its matrices are small, and BLAS threads competing with the
# other chains' processes slow everything down.


def _chain_worker(args: tuple) -> dict[str, np.ndarray]:
    data, spec, seed, draws, tune, thin, queue, chain = args

    def report(step: int) -> None:
        if queue is not None and (step % _PROGRESS_EVERY == 0 or step == tune + draws * thin):
            queue.put((chain, step))

    with threadpool_limits(1):
        return run_chain(data, spec, seed=seed, draws=draws, tune=tune, thin=thin, progress=report)


def chain_seeds(seed: int, chains: int) -> list[int]:
    """Independent per-chain seeds derived from one user seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(chains)]


def fit(cohort: Cohort, spec: ModelSpec | str = "default", *, seed: int = 0, draws: int | None = None,
        tune: int | None = None, chains: int | None = None, thin: int | None = None,
        n_jobs: int | None = None, k: int | None = None, progress: bool = True) -> FitResult:
    """Fit the control-referenced mixture to a cohort.

    Parameters
    ----------
    cohort
        The validated cohort.
    spec
        A :class:`ModelSpec`, the name of a shipped spec, or a path to a TOML file.
    seed
        Seed of every random choice; the same seed gives the same tables.
    draws, tune, chains, thin
        Override the spec's sampler settings.
    n_jobs
        Chains run in parallel processes (default: as many as cores, at most one per chain).
    k
        Report subgroups conditional on this number of non-empty components instead
        of the posterior mode (sparse mixtures only).
    progress
        Show a progress bar.

    Returns
    -------
    FitResult
    """
    spec = load_spec(spec) if isinstance(spec, (str, os.PathLike)) else spec
    s = spec.sampler
    draws, tune = draws or s.draws, s.tune if tune is None else tune
    chains, thin = chains or s.chains, thin or s.thin
    data, scaling, design = prepare(cohort, spec)
    seeds = chain_seeds(seed, chains)
    n_jobs = max(1, min(chains, n_jobs or os.cpu_count() or 1))
    started = time.perf_counter()
    traces = _run_chains(data, spec, seeds, draws, tune, thin, n_jobs, progress)
    sampling_seconds = time.perf_counter() - started
    stacked = stack_chains(traces)
    labels = relabel_traces(stacked, fixed_k=not spec.mixture.sparse, k=k)
    attrs = {"spec": json.dumps(spec.to_dict()), "pss_bayes_version": __version__,
             "data_hash": cohort.data_hash(), "seed": str(seed), "engine": "gibbs",
             "k_reported": str(labels.k)}
    idata = build_inference_data(stacked, data, labels, attrs,
                                 estimated_df=spec.likelihood.df_estimated and not data.is_binary.all())
    run_info: dict[str, Any] = {"seed": seed, "draws": draws, "tune": tune, "chains": chains, "thin": thin,
                                "n_jobs": n_jobs, "engine": "gibbs",
                                "timings": {"sampling_seconds": round(sampling_seconds, 2),
                                            "total_seconds": round(time.perf_counter() - started, 2)}}
    return FitResult(idata=idata, cohort=cohort, spec=spec, scaling=scaling, design=design,
                     run_info=run_info)


def _run_chains(data, spec, seeds, draws, tune, thin, n_jobs, progress) -> list[dict[str, np.ndarray]]:
    total = tune + draws * thin
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} sweeps"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        tasks = [bar.add_task(f"chain {c + 1}", total=total) for c in range(len(seeds))]
        if n_jobs == 1:
            with threadpool_limits(1):
                return [run_chain(data, spec, seed=chain_seed, draws=draws, tune=tune, thin=thin,
                                  progress=lambda step, c=c: bar.update(tasks[c], completed=step))
                        for c, chain_seed in enumerate(seeds)]
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with context.Manager() as manager:
            queue = manager.Queue()
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
                futures = [pool.submit(_chain_worker, (data, spec, sd, draws, tune, thin, queue, c))
                           for c, sd in enumerate(seeds)]
                while not all(f.done() for f in futures):
                    _drain(queue, bar, tasks)
                    time.sleep(0.1)
                _drain(queue, bar, tasks)
                return [f.result() for f in futures]


def _drain(queue, bar, tasks) -> None:
    while not queue.empty():
        chain, step = queue.get()
        bar.update(tasks[chain], completed=step)
