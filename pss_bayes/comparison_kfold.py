"""K-fold cross-validation of a comparison's models when PSIS-LOO is unreliable for one of them.

Subjects are split into ``folds`` groups, each subject's whole row in one
group, patients and controls stratified so that every training set keeps both.
For every fold the model is refitted to the other subjects with the same spec,
seed and sampler settings; a held-out subject's log predictive density is the
log of its marginal likelihood averaged over the refit's draws, with its
biomarkers scaled by the training subjects' controls and its covariates encoded
by the training design. The split is the same for every model of a comparison,
so their pointwise differences stay paired.

K-fold estimates are pessimistic next to LOO (each model learns from
``(folds - 1) / folds`` of the subjects; with few folds and small cohorts by tens
of units), which favours no model when all are cross-validated the same way, as
:func:`pss_bayes.compare.compare` does, but would penalise the cross-validated
ones next to PSIS-LOO rows.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr
from scipy.special import logsumexp

from pss_bayes.comparison_fits import FitJob
from pss_bayes.data.cohort import Cohort
from pss_bayes.model.spec import ModelSpec


def assign_folds(cohort: Cohort, folds: int, seed: int) -> np.ndarray:
    """Fold index (0..folds-1) of every subject, stratified by patient/control, seeded."""
    rng = np.random.default_rng(seed)
    fold = np.empty(cohort.n_subjects, dtype=int)
    for group in (cohort.is_patient, ~cohort.is_patient):
        members = np.flatnonzero(group)
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    return fold


def kfold_jobs(cohort: Cohort, name: str, spec: ModelSpec, fold: np.ndarray,
               cache_dir: Path | None) -> list[FitJob]:
    """One job per fold: fit on the other folds, evaluate this one."""
    return [FitJob(cohort=cohort.subset(subjects=fold != f), spec=spec, held_out=cohort.subset(subjects=fold == f),
                   cache=None if cache_dir is None else Path(cache_dir) / "kfold" / name / f"fold_{f + 1:02d}.nc")
            for f in range(int(fold.max()) + 1)]


def _log_mean_exp(loglik: xr.DataArray) -> np.ndarray:
    values = loglik.to_numpy().reshape(-1, loglik.sizes["subject"])
    return logsumexp(values, axis=0) - np.log(values.shape[0])


def kfold_elpd(held_out: list[xr.DataArray], full: az.ELPDData, full_loglik: xr.DataArray) -> az.ELPDData:
    """Combine the folds' held-out log-likelihoods into an ``ELPDData`` that ``az.compare`` accepts.

    Parameters
    ----------
    held_out
        Per fold, the held-out subjects' pointwise log-likelihood (chain, draw, subject).
    full
        PSIS-LOO of the fit to all subjects (its Pareto shapes are kept for the record).
    full_loglik
        The full fit's pointwise log-likelihood, for the effective number of
        parameters ``p = lppd - elpd_kfold``.

    Returns
    -------
    ELPDData labelled like PSIS-LOO's (``elpd_loo``, ``loo_i``, ...), so that it
    can be compared with PSIS-LOO results; the elpd is the K-fold estimate.
    """
    subjects = full_loglik.coords["subject"].to_numpy()
    pointwise = {}
    for fold in held_out:
        pointwise.update(zip(fold.coords["subject"].to_numpy(), _log_mean_exp(fold)))
    elpd_i = np.array([pointwise[s] for s in subjects])
    lppd = float(_log_mean_exp(full_loglik).sum())
    n = len(elpd_i)
    return az.ELPDData(
        data=[float(elpd_i.sum()), float(np.sqrt(n * np.var(elpd_i))), lppd - float(elpd_i.sum()), full["n_samples"],
              n, False, xr.DataArray(elpd_i, dims=("subject",), coords={"subject": subjects}, name="loo_i"),
              full["pareto_k"], "log", full["good_k"]],
        index=["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning", "loo_i", "pareto_k", "scale",
               "good_k"])
