"""The fits of a model comparison: run in parallel, saved as they finish, reused when they match.

Every fit of a sweep (and every fold of K-fold cross-validation) is an
independent job; :func:`run_jobs` runs them over ``n_jobs`` worker processes
(joblib) with one progress bar. Each chain of a fit then runs single-threaded in
its worker. With a cache folder, a finished job is written there and a later
comparison with the same data, spec, seed and sampler settings reads it back
instead of refitting.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import xarray as xr
from joblib import Parallel, delayed
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pss_bayes.comparison_pointwise import pointwise_loglik, with_marginal_loglik
from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import ResultFileError
from pss_bayes.inference import fit
from pss_bayes.model.spec import ModelSpec
from pss_bayes.result import FitResult

#: Pareto shape above which PSIS-LOO's importance weights are unreliable for a subject.
PARETO_K_BAD = 0.7


@dataclass(frozen=True)
class FitSettings:
    """Settings shared by every fit of a comparison.

    Attributes
    ----------
    seed
        Seed of every fit.
    draws, tune, chains
        Sampler settings (``None``: each spec's own).
    max_draws
        Draws (in all chains) on which recomputed pointwise terms are evaluated.
    """

    seed: int = 0
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    max_draws: int | None = 1000

    def resolved(self, spec: ModelSpec) -> dict[str, Any]:
        """The settings a fit of ``spec`` actually uses."""
        s = spec.sampler
        return {"seed": self.seed, "draws": self.draws or s.draws, "tune": s.tune if self.tune is None else self.tune,
                "chains": self.chains or s.chains, "max_draws": self.max_draws}


@dataclass(frozen=True, eq=False)
class FitJob:
    """One fit: ``spec`` on ``cohort``, optionally evaluated on held-out subjects.

    Without ``held_out`` the job returns the :class:`FitResult` with its marginal
    pointwise log-likelihood; with it, the held-out subjects' pointwise
    log-likelihood (chain, draw, subject) under the fit.
    """

    cohort: Cohort
    spec: ModelSpec
    cache: Path | None = None
    held_out: Cohort | None = None


def _fit(job: FitJob, settings: FitSettings) -> FitResult:
    # Every compared fit runs the same number of draws: most of a K sweep is the wrong K, whose
    # chains may never pass the checks, and continuing them would only multiply the run time.
    return fit(job.cohort, job.spec, seed=settings.seed, draws=settings.draws, tune=settings.tune,
               chains=settings.chains, extensions=0, n_jobs=1, progress=False)


def _load_fit(job: FitJob, settings: FitSettings) -> FitResult | None:
    if job.cache is None or not job.cache.is_file():
        return None
    try:
        result = FitResult.load(job.cache, job.cohort, spec=job.spec)
    except ResultFileError:
        return None
    wanted = settings.resolved(job.spec)
    ran = {**result.run_info, "max_draws": json.loads(result.idata.log_likelihood.attrs.get("max_draws", "null"))}
    return result if all(ran.get(key) == value for key, value in wanted.items()) else None


def _held_out_attrs(job: FitJob, settings: FitSettings) -> dict[str, str]:
    return {"spec": json.dumps(job.spec.to_dict()), "settings": json.dumps(settings.resolved(job.spec)),
            "training_data_hash": job.cohort.data_hash(), "held_out_data_hash": job.held_out.data_hash()}


def _run_held_out(job: FitJob, settings: FitSettings) -> xr.DataArray:
    attrs = _held_out_attrs(job, settings)
    if job.cache is not None and job.cache.is_file():
        with xr.open_dataarray(job.cache, engine="h5netcdf") as saved:
            if {key: saved.attrs.get(key) for key in attrs} == attrs:
                return saved.load()
    loglik = pointwise_loglik(_fit(job, settings), job.held_out, max_draws=settings.max_draws)
    loglik.attrs.update(attrs)
    if job.cache is not None:
        job.cache.parent.mkdir(parents=True, exist_ok=True)
        loglik.to_netcdf(job.cache, engine="h5netcdf")
    return loglik


def run_job(job: FitJob, settings: FitSettings) -> FitResult | xr.DataArray:
    """Run (or read back) one job; see :class:`FitJob` for what it returns."""
    if job.held_out is not None:
        return _run_held_out(job, settings)
    result = _load_fit(job, settings)
    if result is None:
        result = with_marginal_loglik(_fit(job, settings), max_draws=settings.max_draws)
        if job.cache is not None:
            result.save(job.cache)
    return result


def run_jobs(jobs: list[FitJob], settings: FitSettings, *, n_jobs: int = 1, progress: bool = True,
             label: str = "fits") -> list[FitResult | xr.DataArray]:
    """Run independent jobs over ``n_jobs`` processes, in order of ``jobs``, with a progress bar."""
    results: list[Any] = [None] * len(jobs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(label, total=len(jobs))
        runner = Parallel(n_jobs=min(n_jobs, len(jobs)) or 1, return_as="generator_unordered")
        for index, result in runner(delayed(_indexed)(i, job, settings) for i, job in enumerate(jobs)):
            results[index] = result
            bar.advance(task)
    return results


def _indexed(index: int, job: FitJob, settings: FitSettings) -> tuple[int, Any]:
    return index, run_job(job, settings)


def relative_efficiency(loglik: np.ndarray) -> float:
    """Mean relative effective sample size of the subjects' likelihood values (chain, draw, subject)."""
    chains, draws, _ = loglik.shape
    if chains < 2:
        return 1.0
    lik = np.exp(loglik - loglik.max(axis=(0, 1), keepdims=True))
    ess = az.ess(xr.Dataset({"lik": (("chain", "draw", "subject"), lik)}), method="mean")["lik"].to_numpy()
    return float(np.clip(np.nanmean(ess) / (chains * draws), 0.01, 1.0))


def elpd_loo(result: FitResult) -> az.ELPDData:
    """PSIS-LOO of a fit's (marginal) pointwise log-likelihood, pointwise values included."""
    loglik = result.idata.log_likelihood["y"]
    idata = az.InferenceData(log_likelihood=xr.Dataset({"y": loglik}))
    with warnings.catch_warnings():          # bad Pareto shapes are counted and reported instead
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, var_name="y", pointwise=True, reff=relative_efficiency(loglik.to_numpy()))


def n_bad_pareto(elpd: az.ELPDData) -> int:
    """Number of subjects whose Pareto shape exceeds :data:`PARETO_K_BAD`."""
    return int((np.asarray(elpd.pareto_k) > PARETO_K_BAD).sum())
