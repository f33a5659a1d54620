"""A whole sensitivity analysis: run the grid, compare every variant with the reference, write the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import ResultFileError
from pss_bayes.model.spec import spec_from_dict
from pss_bayes.sensitivity import store
from pss_bayes.sensitivity.grid import DEFAULT_GRID, REFERENCE, SensitivityGrid, load_grid
from pss_bayes.sensitivity.psens import power_scaling
from pss_bayes.sensitivity.report import describe, summary_markdown, write_figures
from pss_bayes.sensitivity.runner import GridRun, run_grid
from pss_bayes.sensitivity.stability import (Comparison, FitTables, compare, membership_change_matrix,
                                             patient_stability)

STABILITY_COLUMNS = ["variant", "group", "kind", "description", "status", "error", "n_patients", "k_mode",
                     "p_k_mode", "p_k_reference", "ari_vs_reference", "n_changed", "max_membership_change",
                     "mean_membership_change", "max_effect_shift_sd", "worst_effect", "stable", "converged",
                     "note"]
#: Columns of :data:`STABILITY_COLUMNS` holding counts: integers, missing (empty in the CSV) for
#: variants that did not finish.
INTEGER_COLUMNS = ["n_patients", "k_mode", "n_changed"]


@dataclass(frozen=True)
class SensitivityResult:
    """The tables, summary and run record of a sensitivity analysis.

    Attributes
    ----------
    stability
        One row per fit (the reference first): ``variant``, ``status`` (``done``,
        ``failed`` or ``pending``), ``k_mode``, ``ari_vs_reference``,
        ``n_changed``, ``max_membership_change`` and more (see
        :data:`STABILITY_COLUMNS`).
    patients
        The reference's membership table with each patient's ``stability``.
    psens
        Prior and likelihood power-scaling sensitivity of the reported quantities.
    k_posterior
        ``variant``, ``k``, ``probability``: the posterior over K of every finished fit.
    membership_change
        Patients x variants: largest change of a membership probability.
    effect_shifts
        Per variant x matched subgroup x module: the module effect's shift in reference posterior SDs.
    summary
        Plain-language summary (Markdown).
    run
        What the last run computed, skipped and failed (``None`` when only re-analysed).
    """

    stability: pd.DataFrame
    patients: pd.DataFrame
    psens: pd.DataFrame
    k_posterior: pd.DataFrame
    membership_change: pd.DataFrame
    effect_shifts: pd.DataFrame
    summary: str
    run: GridRun | None = None

    def write(self, out: str | Path) -> list[Path]:
        """Write the tables, ``summary.md`` and the figures into ``out``."""
        out = Path(out)
        paths = []
        for name, frame in (("stability.csv", self.stability), ("patients_stability.csv", self.patients),
                            ("psens.csv", self.psens), ("k_posterior.csv", self.k_posterior),
                            ("effect_shifts.csv", self.effect_shifts)):
            frame.to_csv(out / name, index=False)
            paths.append(out / name)
        self.membership_change.to_csv(out / "membership_change.csv")
        paths.append(out / "membership_change.csv")
        (out / "summary.md").write_text(self.summary, encoding="utf-8")
        paths.append(out / "summary.md")
        return paths + write_figures(out, self.k_posterior, self.membership_change, self.patients)


def run_sensitivity(cohort: Cohort, out: str | Path, grid: SensitivityGrid | str | Path = DEFAULT_GRID, *,
                    model: str | None = None, seed: int | None = None, draws: int | None = None,
                    tune: int | None = None, chains: int | None = None, n_jobs: int | None = None,
                    scheduler: str | None = None, resume: bool = False, progress: bool = True
                    ) -> SensitivityResult:
    """Fit the grid's variants of a cohort, compare them with the reference fit and write the report.

    Parameters
    ----------
    cohort
        The cohort.
    out
        Output folder (see :mod:`pss_bayes.sensitivity.store` for its layout).
    grid
        A grid, the name of a shipped grid, or a path to a grid TOML file.
    model, seed, draws, tune, chains
        Override the grid's settings (reference model, seed, sampler settings).
    n_jobs
        Variants fitted at once with joblib (default: number of cores).
    scheduler
        Address of a Dask distributed scheduler; the fits then run on its workers.
    resume
        Continue an interrupted or failed run in ``out``: finished variants are kept.
    progress
        Show progress.

    Returns
    -------
    SensitivityResult
    """
    grid = grid if isinstance(grid, SensitivityGrid) else load_grid(grid)
    grid = grid.with_settings(model=model, seed=seed, draws=draws, tune=tune, chains=chains)
    run = run_grid(cohort, grid, out, n_jobs=n_jobs, scheduler=scheduler, resume=resume, progress=progress)
    result = replace(analyse(out), run=run)
    result.write(out)
    return result


def analyse(out: str | Path) -> SensitivityResult:
    """Compare every finished variant in a sensitivity folder with its reference fit.

    Raises
    ------
    ResultFileError
        If the folder holds no run or its reference fit did not finish.
    """
    out = Path(out)
    manifest = store.read_manifest(out)
    entries: dict[str, dict[str, Any]] = manifest["variants"]
    ref_dir = store.variant_dir(out, REFERENCE)
    if not store.is_done(ref_dir, entries[REFERENCE]["fingerprint"]):
        error = entries[REFERENCE].get("error") or "it has not finished"
        raise ResultFileError(f"the reference fit in '{ref_dir}' failed ({error}); nothing to compare with")
    reference = store.read_tables(ref_dir)
    k_ref = reference.k_mode
    comparisons: dict[str, Comparison] = {}
    rows = [_reference_row(entries[REFERENCE], reference, ref_dir)]
    k_rows = [reference.n_subgroups.assign(variant=REFERENCE)]
    for name, entry in entries.items():
        if name == REFERENCE:
            continue
        folder = store.variant_dir(out, name)
        if not store.is_done(folder, entry["fingerprint"]):
            status = "failed" if (folder / store.ERROR).exists() else "pending"
            rows.append({**_base(entry), "status": status, "error": entry.get("error") or ""})
            continue
        tables = store.read_tables(folder)
        comparison = compare(reference, tables)
        comparisons[name] = comparison
        k_rows.append(tables.n_subgroups.assign(variant=name))
        rows.append({**_base(entry), **_metrics(comparison, k_ref), "status": "done", "error": "",
                     "converged": _converged(folder)})
    stability = pd.DataFrame(rows).reindex(columns=STABILITY_COLUMNS).astype(dict.fromkeys(INTEGER_COLUMNS, "Int64"))
    patients = patient_stability(reference, comparisons)
    psens = _psens(ref_dir)
    shifts = [c.effect_shifts.assign(variant=name) for name, c in comparisons.items()]
    effect_shifts = (pd.concat(shifts, ignore_index=True) if shifts else
                     pd.DataFrame(columns=["subgroup", "module", "reference_mean", "reference_sd", "variant_mean",
                                           "shift_sd", "variant"]))
    summary = summary_markdown(stability, patients, psens, manifest.get("notes", []),
                               manifest["grid"]["model"])
    return SensitivityResult(
        stability=stability, patients=patients, psens=psens,
        k_posterior=pd.concat(k_rows, ignore_index=True)[["variant", "k", "probability"]],
        membership_change=membership_change_matrix(reference, comparisons),
        effect_shifts=effect_shifts[["variant"] + [c for c in effect_shifts if c != "variant"]],
        summary=summary)


def _base(entry: dict[str, Any]) -> dict[str, Any]:
    return {"variant": entry["name"], "group": entry["group"], "kind": entry["kind"],
            "description": entry["description"]}


def _metrics(c: Comparison, k_ref: int) -> dict[str, Any]:
    shifts = c.effect_shifts
    worst = ""
    if len(shifts):
        row = shifts.loc[shifts["shift_sd"].abs().idxmax()]
        worst = f"subgroup {row.subgroup}, {row.module}"
    return {"n_patients": c.n_shared, "k_mode": c.k_mode, "p_k_mode": c.p_k_mode, "p_k_reference": c.p_k_reference,
            "ari_vs_reference": c.ari, "n_changed": c.n_changed, "max_membership_change": c.max_change,
            "mean_membership_change": float(c.change.mean()) if c.n_shared else np.nan,
            "max_effect_shift_sd": c.max_shift, "worst_effect": worst, "stable": c.stable,
            "note": describe(c, k_ref)}


def _reference_row(entry: dict[str, Any], reference: FitTables, folder: Path) -> dict[str, Any]:
    k = reference.k_mode
    return {**_base(entry), "status": "done", "error": "", "n_patients": len(reference.membership), "k_mode": k,
            "p_k_mode": reference.k_probability(k), "p_k_reference": reference.k_probability(k),
            "ari_vs_reference": 1.0, "n_changed": 0, "max_membership_change": 0.0, "mean_membership_change": 0.0,
            "max_effect_shift_sd": 0.0, "worst_effect": "", "stable": True, "converged": _converged(folder),
            "note": "reference"}


def _converged(folder: Path) -> bool:
    return bool(json.loads((folder / "diagnostics.json").read_text())["converged"])


def _psens(ref_dir: Path) -> pd.DataFrame:
    idata = az.from_netcdf(str(ref_dir / "posterior.nc"), engine="h5netcdf")
    spec = spec_from_dict(json.loads(idata.posterior.attrs["spec"]), source=str(ref_dir / "posterior.nc"))
    return power_scaling(idata, spec)
