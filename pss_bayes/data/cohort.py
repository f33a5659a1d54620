"""The immutable :class:`Cohort`: subjects, group, covariates, batch, biomarkers, markers.

A ``Cohort`` is built only from data that has already been validated (see
:mod:`pss_bayes.data.io`); its constructor checks internal consistency, not user
input. All arrays it holds are read-only and every table it hands out is a copy,
so nothing downstream can change the data a result was computed from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from pss_bayes.data.transforms import NONE, TRANSFORMS, apply, first_outside

CONTINUOUS = "continuous"
BINARY = "binary"
KINDS = (CONTINUOUS, BINARY)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class MarkerTable:
    """Biomarker metadata: name, module, kind (``continuous`` or ``binary``) and declared
    transformation (:mod:`pss_bayes.data.transforms`; default ``none`` for all) per biomarker."""

    names: tuple[str, ...]
    modules: tuple[str, ...]
    kinds: tuple[str, ...]
    transforms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.transforms:
            object.__setattr__(self, "transforms", (NONE,) * len(self.names))
        if not (len(self.names) == len(self.modules) == len(self.kinds) == len(self.transforms)):
            raise ValueError("names, modules, kinds and transforms must have the same length")
        unknown = sorted(set(self.transforms) - set(TRANSFORMS))
        if unknown:
            raise ValueError(f"unknown transforms {unknown}; expected one of {tuple(TRANSFORMS)}")
        for name, kind, transform in zip(self.names, self.kinds, self.transforms):
            if kind == BINARY and transform != NONE:
                raise ValueError(f"binary marker '{name}' cannot take transform '{transform}'")
        if len(set(self.names)) != len(self.names):
            raise ValueError("biomarker names must be unique")
        bad = sorted(set(self.kinds) - set(KINDS))
        if bad:
            raise ValueError(f"unknown marker kinds {bad}; expected one of {KINDS}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def module_names(self) -> tuple[str, ...]:
        """Modules in order of first appearance."""
        return tuple(dict.fromkeys(self.modules))

    @property
    def module_index(self) -> np.ndarray:
        """Integer module code of each biomarker (index into :attr:`module_names`)."""
        lookup = {m: i for i, m in enumerate(self.module_names)}
        return np.array([lookup[m] for m in self.modules], dtype=int)

    @property
    def is_binary(self) -> np.ndarray:
        return np.array([k == BINARY for k in self.kinds], dtype=bool)

    @property
    def transformed(self) -> bool:
        """Whether any biomarker has a declared transformation."""
        return any(t != NONE for t in self.transforms)

    def to_frame(self) -> pd.DataFrame:
        """The markers table (a ``transform`` column only when some biomarker has one)."""
        frame = pd.DataFrame({"biomarker": list(self.names), "module": list(self.modules),
                              "kind": list(self.kinds)})
        if self.transformed:
            frame["transform"] = list(self.transforms)
        return frame

    def subset(self, names: Sequence[str]) -> "MarkerTable":
        position = {n: i for i, n in enumerate(self.names)}
        idx = [position[n] for n in names]
        return MarkerTable(tuple(self.names[i] for i in idx), tuple(self.modules[i] for i in idx),
                           tuple(self.kinds[i] for i in idx), tuple(self.transforms[i] for i in idx))


@dataclass(frozen=True, eq=False)
class Cohort:
    """A validated cohort of patients and healthy controls.

    Parameters
    ----------
    subject_ids
        Unique subject identifiers (strings), one per row.
    is_patient
        ``True`` for patients, ``False`` for healthy controls.
    values
        Biomarker matrix (subjects x biomarkers) as given, ``NaN`` where missing.
    markers
        Name, module, kind and declared transformation of each biomarker column of
        ``values`` (:attr:`analysis_values` applies the transformations).
    covariates
        Declared covariates (numeric or categorical), one row per subject, in
        subject order; may have no columns.
    batch
        Batch / recruiting-centre label per subject, or ``None``.
    batch_name
        Name of the batch column in the source file.
    group_labels
        The (patient, control) labels used in the source file.
    source
        File the cohort was read from, if any.
    ignored_columns
        Columns of the source that were neither biomarkers nor declared.
    dropped_subjects
        Subjects dropped on request (e.g. for missing covariates), with the reason.
    """

    subject_ids: np.ndarray
    is_patient: np.ndarray
    values: np.ndarray
    markers: MarkerTable
    covariates: pd.DataFrame = field(default_factory=pd.DataFrame)
    batch: np.ndarray | None = None
    batch_name: str | None = None
    group_labels: tuple[str, str] = ("pSS", "control")
    source: str | None = None
    ignored_columns: tuple[str, ...] = ()
    dropped_subjects: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        ids = np.asarray(self.subject_ids, dtype=object).astype(str).astype(object)
        n = len(ids)
        values = np.asarray(self.values, dtype=float)
        if values.shape != (n, len(self.markers)):
            raise ValueError(f"values has shape {values.shape}, expected {(n, len(self.markers))}")
        for j, transform in enumerate(self.markers.transforms):
            pos = first_outside(values[:, j], transform) if transform != NONE else None
            if pos is not None:
                raise ValueError(f"biomarker '{self.markers.names[j]}' of subject '{ids[pos]}' is {values[pos, j]}, "
                                 f"outside the domain of its transform '{transform}' "
                                 f"({TRANSFORMS[transform].domain})")
        is_patient = np.asarray(self.is_patient, dtype=bool)
        if is_patient.shape != (n,):
            raise ValueError("is_patient must have one entry per subject")
        covariates = pd.DataFrame(self.covariates).copy()
        if len(covariates.columns) == 0:
            covariates = pd.DataFrame(index=pd.RangeIndex(n))
        if len(covariates) != n:
            raise ValueError("covariates must have one row per subject")
        covariates.index = pd.Index(ids, name="subject_id")
        object.__setattr__(self, "subject_ids", _readonly(ids))
        object.__setattr__(self, "is_patient", _readonly(is_patient))
        object.__setattr__(self, "values", _readonly(values))
        object.__setattr__(self, "covariates", covariates)
        if self.batch is not None:
            batch = np.asarray(self.batch, dtype=object).astype(str).astype(object)
            if batch.shape != (n,):
                raise ValueError("batch must have one entry per subject")
            object.__setattr__(self, "batch", _readonly(batch))

    # --- sizes and names -------------------------------------------------
    @property
    def n_subjects(self) -> int:
        return len(self.subject_ids)

    @property
    def n_patients(self) -> int:
        return int(self.is_patient.sum())

    @property
    def n_controls(self) -> int:
        return int((~self.is_patient).sum())

    @property
    def biomarker_names(self) -> tuple[str, ...]:
        return self.markers.names

    @property
    def analysis_values(self) -> np.ndarray:
        """Biomarker values after each one's declared transformation (:attr:`values` when none has one)."""
        if not self.markers.transformed:
            return self.values
        return _readonly(apply(self.values, self.markers.transforms))

    @property
    def covariate_names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.covariates.columns)

    @property
    def patient_ids(self) -> np.ndarray:
        return self.subject_ids[self.is_patient]

    # --- tables handed out (always copies) -------------------------------
    def covariate_frame(self) -> pd.DataFrame:
        """Declared covariates indexed by subject id (a copy)."""
        return self.covariates.copy()

    def biomarker_frame(self) -> pd.DataFrame:
        """Biomarker values indexed by subject id (a copy; ``NaN`` where missing)."""
        return pd.DataFrame(np.array(self.values), index=pd.Index(self.subject_ids, name="subject_id"),
                            columns=list(self.biomarker_names))

    def to_frame(self, group_column: str = "group") -> pd.DataFrame:
        """The cohort as one table in the input contract's layout.

        Columns: ``subject_id``, ``group`` (original labels), covariates, the batch
        column (if any), then biomarkers. Binary markers are nullable integers.
        """
        patient_label, control_label = self.group_labels
        frame = pd.DataFrame({"subject_id": pd.array(self.subject_ids, dtype="string"),
                              group_column: np.where(self.is_patient, patient_label, control_label)})
        frame[group_column] = frame[group_column].astype("string")
        for name in self.covariate_names:
            frame[name] = self.covariates[name].to_numpy()
        if self.batch is not None:
            frame[self.batch_name or "batch"] = pd.array(self.batch, dtype="string")
        for j, name in enumerate(self.biomarker_names):
            column = self.values[:, j]
            if self.markers.kinds[j] == BINARY:
                frame[name] = pd.array([pd.NA if np.isnan(v) else int(v) for v in column], dtype="Int64")
            else:
                frame[name] = column
        return frame

    # --- derived cohorts -------------------------------------------------
    def subset(self, subjects: np.ndarray | Sequence[str] | None = None,
               biomarkers: Iterable[str] | None = None) -> "Cohort":
        """A new cohort restricted to some subjects (boolean mask or ids) and/or biomarkers."""
        if subjects is None:
            rows = np.arange(self.n_subjects)
        else:
            subjects = np.asarray(subjects)
            if subjects.dtype == bool:
                rows = np.flatnonzero(subjects)
            else:
                position = {s: i for i, s in enumerate(self.subject_ids)}
                missing = [s for s in subjects if s not in position]
                if missing:
                    raise KeyError(f"unknown subject ids: {missing[:5]}")
                rows = np.array([position[s] for s in subjects], dtype=int)
        names = list(self.biomarker_names) if biomarkers is None else list(biomarkers)
        unknown = [b for b in names if b not in self.biomarker_names]
        if unknown:
            raise KeyError(f"unknown biomarkers: {unknown}")
        cols = [self.biomarker_names.index(b) for b in names]
        return Cohort(
            subject_ids=self.subject_ids[rows], is_patient=self.is_patient[rows],
            values=self.values[np.ix_(rows, cols)], markers=self.markers.subset(names),
            covariates=self.covariates.iloc[rows].reset_index(drop=True),
            batch=None if self.batch is None else self.batch[rows], batch_name=self.batch_name,
            group_labels=self.group_labels, source=self.source,
            ignored_columns=self.ignored_columns, dropped_subjects=self.dropped_subjects)

    def data_hash(self) -> str:
        """SHA-256 of the cohort's content (ids, groups, covariates, batch, values, markers)."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.subject_ids).encode())
        digest.update(self.is_patient.tobytes())
        digest.update(np.ascontiguousarray(self.values).tobytes())
        digest.update(self.markers.to_frame().to_csv(index=False).encode())
        for name in self.covariate_names:
            column = self.covariates[name]
            digest.update(f"covariate:{name}".encode())
            if pd.api.types.is_numeric_dtype(column):
                digest.update(column.to_numpy(dtype=float).tobytes())
            else:
                digest.update("\x1f".join(column.astype(str)).encode())
        if self.batch is not None:
            digest.update(("batch:" + str(self.batch_name) + "\x1f".join(self.batch)).encode())
        return digest.hexdigest()

    def summary(self) -> "CohortSummary":
        """Counts, missingness per biomarker and group, binary positivity rates and data warnings
        (computed once: a cohort does not change)."""
        from pss_bayes.data.summary import summarise

        if "_summary" not in self.__dict__:
            object.__setattr__(self, "_summary", summarise(self))
        return self.__dict__["_summary"]
