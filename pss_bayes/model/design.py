"""Numerical inputs of the model: control-scaled biomarkers and covariate design.

:func:`prepare` turns a :class:`~pss_bayes.data.cohort.Cohort` into a
:class:`ModelData` of plain arrays that both the Gibbs engine and the PyMC model
read. The covariate design is a fitted, serialisable transform so that new
subjects are encoded exactly as the fit's subjects were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from pss_bayes.data.cohort import Cohort
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.errors import CohortError
from pss_bayes.model.spec import ModelSpec


@dataclass(frozen=True)
class CovariateDesign:
    """Encoding of covariates: numeric ones standardised, categorical ones dummy-coded.

    Numeric covariates are centred and divided by their SD over all subjects;
    categorical ones get one indicator column per level except the first (sorted)
    level, the reference.
    """

    numeric: tuple[tuple[str, float, float], ...]
    categorical: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def fit(cls, covariates: pd.DataFrame) -> "CovariateDesign":
        numeric, categorical = [], []
        for name in covariates.columns:
            column = covariates[name]
            if pd.api.types.is_numeric_dtype(column):
                values = column.to_numpy(dtype=float)
                sd = float(np.std(values)) or 1.0
                numeric.append((str(name), float(np.mean(values)), sd))
            else:
                levels = tuple(sorted(str(v) for v in pd.unique(column.astype(str))))
                categorical.append((str(name), levels))
        return cls(tuple(numeric), tuple(categorical))

    @property
    def column_names(self) -> list[str]:
        names = [name for name, _, _ in self.numeric]
        for name, levels in self.categorical:
            names += [f"{name}[{level}]" for level in levels[1:]]
        return names

    def transform(self, covariates: pd.DataFrame, source: str = "covariates") -> np.ndarray:
        """Design matrix (subjects x columns); unknown categorical levels are an error."""
        blocks = []
        for name, mean, sd in self.numeric:
            if name not in covariates:
                raise CohortError(f"{source}: covariate column '{name}' is missing")
            blocks.append(((covariates[name].to_numpy(dtype=float) - mean) / sd)[:, None])
        for name, levels in self.categorical:
            if name not in covariates:
                raise CohortError(f"{source}: covariate column '{name}' is missing")
            values = covariates[name].astype(str).to_numpy()
            unknown = sorted(set(values) - set(levels))
            if unknown:
                raise CohortError(f"{source}: column '{name}' has level(s) {unknown} not seen in the "
                                  f"fitted cohort (known levels: {list(levels)})")
            blocks.append(np.stack([values == level for level in levels[1:]], axis=1).astype(float)
                          if len(levels) > 1 else np.zeros((len(values), 0)))
        if not blocks:
            return np.zeros((len(covariates), 0))
        return np.concatenate(blocks, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": [list(item) for item in self.numeric],
                "categorical": [[name, list(levels)] for name, levels in self.categorical]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CovariateDesign":
        return cls(tuple((str(n), float(m), float(s)) for n, m, s in data["numeric"]),
                   tuple((str(n), tuple(str(v) for v in levels)) for n, levels in data["categorical"]))


@dataclass(frozen=True, eq=False)
class ModelData:
    """Arrays the samplers read (all on the control-referenced scale).

    Attributes
    ----------
    y
        Subjects x biomarkers, control-scaled continuous markers and 0/1 binary
        markers, with missing entries set to 0 (see ``observed``).
    observed
        ``True`` where a value was observed.
    is_binary
        Per biomarker.
    is_patient
        Per subject.
    covariates
        Covariate design (subjects x P).
    batch
        Batch level index per subject (``n_batches == 0`` when there is none).
    module
        Module index per biomarker; ``modules`` holds the names.
    activity
        Index of the activity factor each biomarker loads on, or -1 for none.
    """

    y: np.ndarray
    observed: np.ndarray
    is_binary: np.ndarray
    is_patient: np.ndarray
    covariates: np.ndarray
    batch: np.ndarray
    n_batches: int
    module: np.ndarray
    modules: tuple[str, ...]
    activity: np.ndarray
    n_activity: int
    biomarkers: tuple[str, ...]
    subject_ids: np.ndarray
    batch_levels: tuple[str, ...]
    covariate_columns: tuple[str, ...]

    @property
    def n_subjects(self) -> int:
        return self.y.shape[0]

    @property
    def n_biomarkers(self) -> int:
        return self.y.shape[1]

    @property
    def n_modules(self) -> int:
        return len(self.modules)


def activity_factors(cohort: Cohort, spec: ModelSpec) -> np.ndarray:
    """Activity-factor index per biomarker (-1 where the biomarker loads on none)."""
    activity = np.full(len(cohort.markers), -1, dtype=int)
    if not spec.covariation.enabled:
        return activity
    module = cohort.markers.module_index
    continuous = ~cohort.markers.is_binary
    factor = 0
    for m in range(len(cohort.markers.module_names)):
        members = np.flatnonzero((module == m) & continuous)
        if len(members) >= spec.covariation.min_markers:
            activity[members] = factor
            factor += 1
    return activity


def continuous_modules(data: ModelData) -> np.ndarray:
    """(M,) bool: the modules with at least one continuous biomarker."""
    return np.isin(np.arange(data.n_modules), data.module[~data.is_binary])


def spread_modules(data: ModelData, spec: ModelSpec) -> np.ndarray:
    """(M,) bool: the modules with a patient scale (continuous biomarkers, and the spec enables it)."""
    return continuous_modules(data) & spec.patient_spread.enabled


def entry_scale(data: ModelData, module_scale: np.ndarray) -> np.ndarray:
    """(..., n, J) variance multiple of every entry: its module's patient scale for patients, 1 for controls.

    ``module_scale`` is (..., M), 1 where a module has none.
    """
    per_marker = module_scale[..., data.module]                                # (..., J)
    return np.where(data.is_patient[:, None], per_marker[..., None, :], 1.0)


def prepare(cohort: Cohort, spec: ModelSpec, scaling: ControlScaling | None = None,
            design: CovariateDesign | None = None) -> tuple[ModelData, ControlScaling, CovariateDesign]:
    """Scale the cohort on its controls and encode covariates for the samplers."""
    scaling = scaling or ControlScaling.fit(cohort)
    design = design or CovariateDesign.fit(cohort.covariate_frame())
    scaled = scaling.transform(cohort.values, cohort.biomarker_names)
    observed = np.isfinite(scaled)
    if cohort.batch is None:
        batch, levels = np.zeros(cohort.n_subjects, dtype=int), ()
    else:
        levels = tuple(sorted(set(cohort.batch)))
        lookup = {level: i for i, level in enumerate(levels)}
        batch = np.array([lookup[b] for b in cohort.batch], dtype=int)
    activity = activity_factors(cohort, spec)
    data = ModelData(
        y=np.where(observed, scaled, 0.0), observed=observed, is_binary=cohort.markers.is_binary,
        is_patient=np.array(cohort.is_patient), covariates=design.transform(cohort.covariate_frame()),
        batch=batch, n_batches=len(levels), module=cohort.markers.module_index,
        modules=cohort.markers.module_names, activity=activity, n_activity=int(activity.max() + 1),
        biomarkers=cohort.biomarker_names, subject_ids=np.array(cohort.subject_ids),
        batch_levels=levels, covariate_columns=tuple(design.column_names))
    return data, scaling, design
