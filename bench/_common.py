"""Helpers shared by the benchmark scripts: data matrices, baselines, metrics, tables.

Baselines see the patients' control-scaled biomarkers (the ``y`` of
:func:`pss_bayes.model.design.prepare`). Missing values are imputed with 0, which
on that scale is the controls' median (for binary markers: negative, the
controls' usual value). The Gaussian-mixture baselines use the continuous
markers only: a diagonal Gaussian on 0/1 columns collapses a component's variance
to the regularisation floor whenever its members agree on a binary marker, and
BIC then rewards splitting on binary patterns.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pss_bayes import Cohort, FitResult, ModelSpec, fit, load_spec
from pss_bayes.data.simulate import SimulatedCohort
from pss_bayes.model.design import prepare

#: Settings of the quick mode: a smoke test of the script, not a measurement.
QUICK_SAMPLER = {"draws": 100, "tune": 100, "chains": 2}
GMM_K_MAX = 8
GMM_SEED = 0


@dataclass(frozen=True)
class PatientData:
    """Control-scaled patient matrix (missing imputed with 0) and true labels in the same order."""

    y: np.ndarray
    observed: np.ndarray
    is_binary: np.ndarray
    subject_ids: np.ndarray
    truth: np.ndarray

    @property
    def imputed(self) -> np.ndarray:
        return np.where(self.observed, self.y, 0.0)

    @property
    def continuous(self) -> np.ndarray:
        """Imputed continuous markers only (the Gaussian-mixture baselines' input)."""
        return self.imputed[:, ~self.is_binary]


def patients_of(cohort: Cohort, truth: pd.Series) -> PatientData:
    """A cohort's patients on the model's control-referenced scale, with their true group
    (``truth``: indexed by subject id)."""
    data, _, _ = prepare(cohort, load_spec("default"))
    ids = data.subject_ids[data.is_patient]
    return PatientData(y=data.y[data.is_patient], observed=data.observed[data.is_patient],
                       is_binary=np.asarray(data.is_binary), subject_ids=ids, truth=truth.loc[ids].to_numpy())


def patient_data(sim: SimulatedCohort) -> PatientData:
    """The simulated patients on the model's control-referenced scale, with their true subgroup."""
    return patients_of(sim.cohort, sim.truth.set_index("subject_id")["subgroup"])


def gmm_bic(x: np.ndarray, k_max: int = GMM_K_MAX, seed: int = GMM_SEED,
            covariance_type: str = "diag") -> tuple[int, np.ndarray]:
    """GaussianMixture (diagonal unless ``covariance_type`` says otherwise, 5 restarts) with K chosen
    by BIC over 1..k_max: (K, labels)."""
    best: tuple[float, int, np.ndarray] | None = None
    for k in range(1, k_max + 1):
        gmm = GaussianMixture(k, covariance_type=covariance_type, n_init=5, random_state=seed).fit(x)
        bic = gmm.bic(x)
        if best is None or bic < best[0]:
            best = (bic, k, gmm.predict(x))
    assert best is not None
    return best[1], best[2]


def lda_cv_labels(x: np.ndarray, truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels from a linear discriminant trained on the truth, by 5-fold cross-validation."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return cross_val_predict(LinearDiscriminantAnalysis(), x, truth, cv=folds)


def matched_correct(fitted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per subject, whether its fitted label is right after Hungarian matching of labels to the truth.

    Fitted subgroups left unmatched (more fitted than true subgroups) count as wrong.
    """
    fitted_levels, f = np.unique(fitted, return_inverse=True)
    true_levels, t = np.unique(truth, return_inverse=True)
    confusion = np.zeros((len(fitted_levels), len(true_levels)))
    np.add.at(confusion, (f, t), 1)
    rows, cols = linear_sum_assignment(-confusion)
    mapping = np.full(len(fitted_levels), -1)
    mapping[rows] = cols
    return mapping[f] == t


def expected_calibration_error(p_max: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: over equal-width bins of p_max, |mean p_max - accuracy| weighted by the bin's share."""
    which = np.minimum((p_max * bins).astype(int), bins - 1)
    ece = 0.0
    for b in np.unique(which):
        in_bin = which == b
        ece += in_bin.mean() * abs(p_max[in_bin].mean() - correct[in_bin].mean())
    return float(ece)


def timed_fit(sim: SimulatedCohort, spec: ModelSpec | str, seed: int, quick: bool) -> tuple[FitResult, float]:
    """Fit with the spec's sampler settings (or the quick ones); returns the result and wall seconds."""
    started = time.perf_counter()
    result = fit(sim.cohort, spec, seed=seed, progress=False, **({**QUICK_SAMPLER, "extensions": 0} if quick else {}))
    return result, time.perf_counter() - started


def fit_summary(result: FitResult, patients: PatientData) -> dict[str, Any]:
    """Posterior mode of K and its probability, ARI, ECE of p_max, and convergence of one fit."""
    k_table = result.n_subgroups()
    mode = k_table.loc[k_table["probability"].idxmax()]
    membership = result.membership().set_index("subject_id").loc[patients.subject_ids]
    labels = membership["subgroup"].to_numpy()
    correct = matched_correct(labels, patients.truth)
    diag = result.diagnostics()
    return {"k_mode": int(mode["k"]), "p_k_mode": float(mode["probability"]),
            "ari": adjusted_rand_score(patients.truth, labels),
            "ece": expected_calibration_error(membership["p_max"].to_numpy(), correct),
            "max_rhat": diag.max_rhat, "min_ess_bulk": diag.min_ess_bulk, "converged": bool(diag.converged),
            "draws": result.run_info.get("draws")}


def parser(doc: str | None, default_seeds: Sequence[int]) -> argparse.ArgumentParser:
    """Argument parser with the options every script shares (--quick, --seeds, --out)."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke-test sizes (a check that the script runs, not a measurement)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(default_seeds),
                   help=f"simulation and fit seeds (default: {' '.join(map(str, default_seeds))})")
    p.add_argument("--out", type=Path, help="also write the per-run rows to this CSV file")
    return p


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "nan"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of ``rows`` (floats rounded for reading, ``None`` shown as a dash)."""
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def write_csv(rows: Sequence[dict[str, Any]], path: Path | None) -> None:
    """Write the rows to ``path`` (if given) with full precision."""
    if path is None or not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nrows written to {path}", file=sys.stderr)


def run_grid(presets: Sequence[str], seeds: Sequence[int], run: Callable[[str, int], dict[str, Any]],
             doing: str) -> list[dict[str, Any]]:
    """``run(preset, seed)`` for every preset x seed, announcing each on stderr; the rows in order."""
    rows = []
    for preset in presets:
        for seed in seeds:
            print(f"{doing} {preset}, seed {seed} ...", file=sys.stderr, flush=True)
            rows.append(run(preset, seed))
    return rows


def count(rows: Sequence[dict[str, Any]], test: Any) -> str:
    """``"x/y"``: how many rows pass ``test``."""
    return f"{sum(bool(test(r)) for r in rows)}/{len(rows)}"
