"""Model comparison: how many subgroups, and which model variant, by PSIS-LOO and stacking.

:func:`compare` fits, on one cohort, the base model with a fixed number of
subgroups K for every K asked for, the base model as a sparse mixture (whose
posterior over the number of non-empty subgroups it reports next to the prior
that mixture implies), and any other model variants. Each fit's pointwise
log-likelihood is per subject with the subgroup label, the module activities
and (Student-t) the scale-mixture weights integrated out
(:mod:`pss_bayes.comparison_pointwise`), so that leave-one-out compares subjects.

For every model the table gives PSIS-LOO elpd and its standard error, the
difference to the best model and its standard error, p_loo, the number of
subjects with Pareto k above 0.7, stacking and pseudo-BMA+ weights, and for
fixed-K models the BIC and ICL of EM-fitted Gaussian mixtures with the same K.
When any model has more than ``max_bad_pareto`` unreliable subjects, every
model is scored by K-fold cross-validation on one split instead
(:mod:`pss_bayes.comparison_kfold`): K-fold elpd is lower than PSIS-LOO's for
the same model (each fold's fit sees fewer subjects), so rows of the two kinds
cannot be ranked against each other.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import arviz as az
import numpy as np
import pandas as pd

from pss_bayes.comparison_fits import FitJob, FitSettings, elpd_loo, n_bad_pareto, run_jobs
from pss_bayes.comparison_kfold import assign_folds, kfold_elpd, kfold_jobs
from pss_bayes.comparison_reference import em_criteria, prior_n_subgroups
from pss_bayes.comparison_report import comparison_figure, comparison_markdown, verdict_text
from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import SpecError
from pss_bayes.inference import check_settings
from pss_bayes.model.spec import ModelSpec, load_spec
from pss_bayes.result import FitResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Columns of :attr:`Comparison.table`, in order.
TABLE_COLUMNS = ("model", "k", "role", "family", "covariation", "elpd_loo", "se", "elpd_diff", "dse", "p_loo",
                 "n_pareto_k_bad", "pareto_k_max", "stacking_weight", "pseudo_bma_weight", "bic", "icl",
                 "method", "converged")
#: Columns of :attr:`Comparison.k_table`, in order.
K_COLUMNS = ("k", "elpd_loo", "se", "elpd_diff", "dse", "stacking_weight", "bic", "icl", "method",
             "prior", "posterior")


@dataclass(frozen=True)
class Candidate:
    """A model of the comparison: its row name, spec and role.

    ``role`` is ``k_sweep`` (the base model with a fixed K), ``sparse`` (the base
    model as a sparse mixture, which gives the posterior over K) or ``variant``.
    """

    name: str
    spec: ModelSpec
    role: str

    @property
    def k(self) -> int | None:
        """The fixed number of subgroups, or ``None`` for a sparse mixture."""
        return self.spec.mixture.fixed_k or None


@dataclass(eq=False)
class Comparison:
    """The outcome of :func:`compare`.

    Attributes
    ----------
    table
        One row per model (see :data:`TABLE_COLUMNS`), best elpd first.
    k_table
        The question "how many subgroups": per K, the fixed-K fits compared among
        themselves (elpd difference to the best K, stacking weights), BIC and ICL,
        and the sparse mixture's prior and posterior probability of K non-empty
        subgroups.
    verdict
        A few plain-language sentences: what is preferred, how clearly, where the
        criteria disagree.
    fits
        The fits, by model name (their ``log_likelihood`` group holds the
        pointwise terms that were compared).
    elpd
        The ``ELPDData`` of every model (PSIS-LOO or K-fold).
    settings
        Seed, sampler and cross-validation settings.
    fit_files
        Where each fit was saved while comparing (with a cache folder).
    """

    table: pd.DataFrame
    k_table: pd.DataFrame
    verdict: str
    fits: dict[str, FitResult]
    elpd: dict[str, az.ELPDData]
    settings: dict[str, Any] = field(default_factory=dict)
    fit_files: dict[str, Path] = field(default_factory=dict)

    def figure(self) -> Figure:
        """elpd ± SE over K, the difference to the best K ± its SE, and the posterior over K against
        its prior (a matplotlib Figure)."""
        return comparison_figure(self.table, self.k_table)

    def write(self, out: str | Path, command: list[str] | None = None) -> list[Path]:
        """Write the comparison into ``out`` and return the paths written.

        Files: ``comparison.csv`` (:attr:`table`), ``k_summary.csv`` (:attr:`k_table`),
        ``comparison.md`` (verdict, tables, how to read them), ``comparison.png``,
        ``run.json`` (command, settings, versions), ``fits/<model>.nc`` (each fit's
        posterior, with the pointwise log-likelihood that was compared) and
        ``cohort.parquet`` / ``markers.csv`` (the data, to load the fits with).
        """
        import matplotlib.pyplot as plt

        from pss_bayes.data.io import write_cohort, write_markers
        from pss_bayes.fit_dir import versions

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / name for name in ("comparison.csv", "k_summary.csv", "comparison.md", "comparison.png",
                                           "run.json", "cohort.parquet", "markers.csv")]
        self.table.to_csv(written[0], index=False)
        self.k_table.to_csv(written[1], index=False)
        written[2].write_text(comparison_markdown(self.table, self.k_table, self.verdict, self.settings))
        fig = self.figure()
        fig.savefig(written[3], dpi=120, bbox_inches="tight")
        plt.close(fig)
        run = {"command": command if command is not None else sys.argv, **self.settings, "versions": versions()}
        written[4].write_text(json.dumps(run, indent=2, default=str) + "\n")
        cohort = next(iter(self.fits.values())).cohort
        write_cohort(cohort, written[5])
        write_markers(cohort, written[6])
        for name, result in self.fits.items():
            path = out / "fits" / f"{name}.nc"
            saved = self.fit_files.get(name)
            if saved is None or not path.is_file() or not path.samefile(saved):
                result.save(path)
            written.append(path)
        return written


def model_name(spec: ModelSpec) -> str:
    """A spec's name as a comparison names its row and files: letters, digits, ``_``, ``.`` and ``-``
    only (a name such as ``../x`` must not write outside the output folder)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name).strip("._-") or "model"


def candidates(models: Iterable[int | str | os.PathLike | ModelSpec],
               base: str | os.PathLike | ModelSpec) -> list[Candidate]:
    """The models of a comparison: fixed-K fits of ``base`` for every integer in ``models``, ``base``
    as a sparse mixture, and every other entry of ``models`` as declared (duplicates dropped); each
    named by :func:`model_name`."""
    base_spec = base if isinstance(base, ModelSpec) else load_spec(base)
    base_name = model_name(base_spec)
    sparse = base_spec.replace(mixture={"fixed_k": 0})
    items = list(models)
    ks = sorted({int(m) for m in items if isinstance(m, (int, np.integer)) and not isinstance(m, bool)})
    if any(k < 1 for k in ks):
        raise SpecError(f"compare: numbers of subgroups must be at least 1 (got {ks})")
    out = [Candidate(f"{base_name}_k{k}", sparse.replace(name=f"{base_name}_k{k}", mixture={"fixed_k": k}),
                     "k_sweep") for k in ks]
    out.append(Candidate(base_name, sparse, "sparse"))
    for item in items:
        if isinstance(item, (int, np.integer)):
            continue
        spec = item if isinstance(item, ModelSpec) else load_spec(item)
        if any(c.spec.to_dict() == spec.to_dict() for c in out):
            continue
        name, taken = model_name(spec), {c.name for c in out}
        suffix = 2
        while name in taken:
            name, suffix = f"{model_name(spec)}_{suffix}", suffix + 1
        out.append(Candidate(name, spec, "variant"))
    return out


def compare(cohort: Cohort, models: Iterable[int | str | os.PathLike | ModelSpec] = range(1, 7), *,
            base: str | os.PathLike | ModelSpec = "default", seed: int = 0, draws: int | None = None,
            tune: int | None = None, chains: int | None = None, n_jobs: int | None = None, folds: int = 10,
            max_bad_pareto: int = 5, loo_draws: int | None = 1000, cache_dir: str | Path | None = None,
            progress: bool = True) -> Comparison:
    """Compare numbers of subgroups and model variants on one cohort.

    Parameters
    ----------
    cohort
        The validated cohort.
    models
        Integers K (fit ``base`` with exactly K subgroups) and/or model specs
        (names of shipped specs, TOML paths or :class:`ModelSpec`), e.g.
        ``range(1, 7)`` or ``[1, 2, 3, 4, "normal", "diagonal"]``. ``base`` as a
        sparse mixture is always included.
    base
        The model whose number of subgroups is in question.
    seed
        Seed of every fit, the fold split and the pseudo-BMA+ bootstrap.
    draws, tune, chains
        Sampler settings of every fit (default: each spec's own).
    n_jobs
        Fits run in parallel worker processes (default: the number of cores).
    folds
        Folds of the K-fold cross-validation that replaces PSIS-LOO for every
        model when one has more than ``max_bad_pareto`` subjects whose Pareto k
        exceeds 0.7; 0 turns the fallback off (such rows are then flagged in the
        verdict).
    max_bad_pareto
        See ``folds``.
    loo_draws
        Draws (in all chains, evenly thinned) on which pointwise terms that must
        be recomputed are evaluated: Student-t fits and held-out subjects.
    cache_dir
        Folder where each fit is saved as it finishes (``fits/<model>.nc``,
        ``kfold/<model>/fold_NN.nc``) and read back by a later comparison with the
        same data, spec, seed and sampler settings.
    progress
        Show progress bars.

    Returns
    -------
    Comparison
    """
    cands = candidates(models, base)
    _check_options(cands, seed=seed, draws=draws, tune=tune, chains=chains, folds=folds, loo_draws=loo_draws)
    too_many = [c.k for c in cands if c.k is not None and c.k > cohort.n_patients]
    if too_many:
        raise SpecError(f"compare: K = {too_many} exceeds the cohort's {cohort.n_patients} patients")
    if folds >= 2 and folds > min(cohort.n_patients, cohort.n_controls):
        raise SpecError(f"compare: {folds} folds need at least {folds} patients and {folds} controls")
    settings = FitSettings(seed=seed, draws=draws, tune=tune, chains=chains, max_draws=loo_draws)
    n_jobs = max(1, n_jobs or os.cpu_count() or 1)
    cache = None if cache_dir is None else Path(cache_dir)
    files = {c.name: None if cache is None else cache / "fits" / f"{c.name}.nc" for c in cands}
    jobs = [FitJob(cohort, c.spec, cache=files[c.name]) for c in cands]
    fits = dict(zip(files, run_jobs(jobs, settings, n_jobs=n_jobs, progress=progress,
                                    label=f"fitting {len(jobs)} models")))
    elpd = {name: elpd_loo(result) for name, result in fits.items()}
    n_bad = {name: n_bad_pareto(e) for name, e in elpd.items()}
    pareto_max = {name: float(np.max(e.pareto_k)) for name, e in elpd.items()}
    unreliable = folds >= 2 and any(n_bad[c.name] > max_bad_pareto for c in cands)
    refit = cands if unreliable else []             # one criterion for every row: all by the same folds
    if refit:
        elpd.update(_cross_validate(cohort, refit, fits, elpd, settings, folds, n_jobs, cache, progress))
    methods = {name: "kfold" if any(c.name == name for c in refit) else "psis-loo" for name in fits}
    sweep_ks = sorted({c.k for c in cands if c.k is not None})
    em = em_criteria(cohort, sweep_ks, seed=seed).set_index("k") if sweep_ks else None
    table = _table(cands, fits, elpd, n_bad, pareto_max, methods, em, seed)
    sparse = next(c for c in cands if c.role == "sparse")
    k_table = _k_table(cands, elpd, methods, em, fits[sparse.name], sparse.spec, cohort.n_patients)
    record = {**dataclasses.asdict(settings), "folds": folds, "max_bad_pareto": max_bad_pareto, "n_jobs": n_jobs,
              "base": sparse.name, "n_patients": cohort.n_patients, "n_controls": cohort.n_controls}
    return Comparison(table=table, k_table=k_table, verdict=verdict_text(table, k_table, record), fits=fits,
                      elpd=elpd, settings=record, fit_files={n: f for n, f in files.items() if f is not None})


def _check_options(cands: list[Candidate], *, seed: int, draws: int | None, tune: int | None,
                   chains: int | None, folds: int, loo_draws: int | None) -> None:
    """Refuse settings no comparison can run with, before any fit (:class:`SpecError` naming the option)."""
    if folds == 1 or folds < 0:
        raise SpecError(f"folds (--folds) must be 0 (no K-fold fallback) or at least 2, not {folds}")
    if loo_draws is not None and loo_draws < 1:
        raise SpecError(f"loo_draws (--loo-draws) must be at least 1, not {loo_draws}")
    for c in cands:
        s = c.spec.sampler
        check_settings(c.spec, seed=seed, draws=s.draws if draws is None else draws,
                       tune=s.tune if tune is None else tune, chains=s.chains if chains is None else chains,
                       thin=s.thin, extensions=s.extensions, k=None)


def _cross_validate(cohort: Cohort, refit: list[Candidate], fits: dict[str, FitResult],
                    elpd: dict[str, az.ELPDData], settings: FitSettings, folds: int, n_jobs: int,
                    cache: Path | None, progress: bool) -> dict[str, az.ELPDData]:
    """K-fold elpd of the models in ``refit`` (one split shared by all of them)."""
    fold = assign_folds(cohort, folds, settings.seed)
    jobs = [job for c in refit for job in kfold_jobs(cohort, c.name, c.spec, fold, cache)]
    held_out = run_jobs(jobs, settings, n_jobs=n_jobs, progress=progress,
                        label=f"{folds}-fold CV of {len(refit)} model(s)")
    return {c.name: kfold_elpd(held_out[i * folds:(i + 1) * folds], elpd[c.name],
                               fits[c.name].idata.log_likelihood["y"]) for i, c in enumerate(refit)}


def _az_compare(elpd: dict[str, az.ELPDData], seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """ArviZ's comparison with stacking weights, and pseudo-BMA+ (Bayesian bootstrap) weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacking = az.compare(elpd, ic="loo", method="stacking")
        bma = az.compare(elpd, ic="loo", method="BB-pseudo-BMA", seed=seed)
    return stacking, bma["weight"]


def _table(cands: list[Candidate], fits: dict[str, FitResult], elpd: dict[str, az.ELPDData],
           n_bad: dict[str, int], pareto_max: dict[str, float], methods: dict[str, str],
           em: pd.DataFrame | None, seed: int) -> pd.DataFrame:
    stacking, bma = _az_compare(elpd, seed)
    by_name = {c.name: c for c in cands}
    rows = []
    for name, row in stacking.iterrows():
        c = by_name[name]
        spec = c.spec
        reference = em.loc[c.k] if em is not None and c.k in em.index else None
        rows.append({"model": name, "k": c.k, "role": c.role, "family": spec.likelihood.family,
                     "covariation": spec.covariation.enabled, "elpd_loo": row["elpd_loo"], "se": row["se"],
                     "elpd_diff": row["elpd_diff"], "dse": row["dse"], "p_loo": row["p_loo"],
                     "n_pareto_k_bad": n_bad[name], "pareto_k_max": pareto_max[name],
                     "stacking_weight": row["weight"], "pseudo_bma_weight": float(bma[name]),
                     "bic": np.nan if reference is None else reference["bic"],
                     "icl": np.nan if reference is None else reference["icl"],
                     "method": methods[name], "converged": fits[name].diagnostics().converged})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table["k"] = table["k"].astype("Int64")
    return table


def _k_table(cands: list[Candidate], elpd: dict[str, az.ELPDData], methods: dict[str, str],
             em: pd.DataFrame | None, sparse_fit: FitResult, sparse_spec: ModelSpec, n_patients: int) -> pd.DataFrame:
    prior = prior_n_subgroups(n_patients, sparse_spec.mixture).set_index("k")["probability"]
    posterior = sparse_fit.n_subgroups().set_index("k")["probability"]
    sweep = {c.k: c.name for c in cands if c.role == "k_sweep"}
    ks = sorted(set(prior.index) | set(posterior.index) | set(sweep))
    frame = pd.DataFrame({"k": ks})
    if sweep:
        stacking, _ = _az_compare({name: elpd[name] for name in sweep.values()}, seed=0)
        by_k = {k: stacking.loc[name] for k, name in sweep.items()}
        for column, source in (("elpd_loo", "elpd_loo"), ("se", "se"), ("elpd_diff", "elpd_diff"), ("dse", "dse"),
                               ("stacking_weight", "weight")):
            frame[column] = [by_k[k][source] if k in by_k else np.nan for k in ks]
        frame["bic"] = [em.loc[k, "bic"] if k in sweep else np.nan for k in ks]
        frame["icl"] = [em.loc[k, "icl"] if k in sweep else np.nan for k in ks]
        frame["method"] = [methods[sweep[k]] if k in sweep else "" for k in ks]
    frame["prior"] = [float(prior.get(k, 0.0)) for k in ks]
    frame["posterior"] = [float(posterior.get(k, 0.0)) for k in ks]
    return frame.reindex(columns=list(K_COLUMNS))
