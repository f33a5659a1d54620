"""Row- and value-level checks of a cohort table: ids, groups, covariates, batch, biomarkers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pss_bayes.data._markers import Selection
from pss_bayes.data._table import (NumericColumn, Origin, cell_text, is_missing, parse_numeric, quoted,
                                   shown)
from pss_bayes.data.cohort import BINARY
from pss_bayes.data.transforms import NONE, TRANSFORMS, first_outside
from pss_bayes.errors import CohortError

_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def check_ids(frame: pd.DataFrame, origin: Origin) -> np.ndarray:
    """Subject ids as stripped strings; each must be present and unique."""
    ids = cell_text(frame["subject_id"])
    missing = is_missing(ids)
    first: dict[str, int] = {}
    for pos, sid in enumerate(ids):
        if missing[pos]:
            raise CohortError(f"{origin.where('subject_id', pos)}: the subject id is missing "
                              f"({shown(sid)}); "
                              "every row needs a unique, non-empty subject_id.")
        if sid in first:
            raise CohortError(
                f"{origin.where('subject_id')}: subject id '{sid}' appears twice, on "
                f"{origin.row(first[sid])} and {origin.row(pos)}; subject ids must be unique. Fix "
                "or remove one of the rows.")
        first[sid] = pos
    return ids


def check_groups(frame: pd.DataFrame, ids: np.ndarray, origin: Origin, patient_label: str,
                 control_label: str) -> np.ndarray:
    """``True`` for patients, ``False`` for controls; labels compared ignoring case and spaces."""
    patient, control = patient_label.strip().casefold(), control_label.strip().casefold()
    if not patient or not control:
        raise CohortError("the patient and control labels must not be empty; pass the labels the group column "
                          "uses with --patient-label and --control-label.")
    if patient == control:
        raise CohortError(f"the patient and control labels are the same ('{patient_label}'); pass "
                          "different --patient-label and --control-label values.")
    labels = cell_text(frame["group"])
    keys = np.array([label.casefold() for label in labels], dtype=object)
    expected = f"'{patient_label}' (patients) or '{control_label}' (healthy controls)"
    unknown = ~np.isin(keys, [patient, control])
    if unknown.any():
        pos = int(np.flatnonzero(unknown)[0])
        where = origin.where("group", pos, ids[pos])
        if is_missing(labels[pos : pos + 1])[0]:
            problem = f"the group label is missing ({shown(labels[pos])})"
        else:
            problem = f"unknown group label '{labels[pos]}'"
        others = sorted({str(l) for l in labels[unknown]} - {labels[pos], ""})
        also = f" Other unknown labels: {quoted(others)}." if others else ""
        raise CohortError(
            f"{where}: {problem}; expected {expected}, compared ignoring case and surrounding "
            f"spaces.{also} Relabel the rows, or name the labels the file uses with --patient-label "
            "and --control-label (patient_label=/control_label= in Python).")
    return keys == patient


def check_group_sizes(is_patient: np.ndarray, origin: Origin, labels: tuple[str, str],
                      minimum: int, n_dropped: int = 0) -> None:
    """Both groups present, each with at least ``minimum`` subjects."""
    after = f" after dropping {n_dropped} subject(s) with missing covariates" if n_dropped else ""
    for name, label, n in (("patients", labels[0], int(is_patient.sum())),
                           ("healthy controls", labels[1], int((~is_patient).sum()))):
        option = "--patient-label" if name == "patients" else "--control-label"
        if n == 0:
            raise CohortError(
                f"{origin.where('group')}: no {name} (group label '{label}'){after}. The model "
                f"compares patients with healthy controls and needs both; check the labels "
                f"({option}).")
        if n < minimum:
            raise CohortError(
                f"{origin.where('group')}: only {n} {name} (group label '{label}'){after}; at least "
                f"{minimum} patients and {minimum} controls are needed. Add subjects or check the "
                f"labels ({option}).")


def read_covariates(frame: pd.DataFrame, names: tuple[str, ...], ids: np.ndarray, origin: Origin,
                    drop_missing: bool) -> tuple[pd.DataFrame, np.ndarray, list[tuple[str, str]]]:
    """Covariates (numeric if every present value is a number, else text), rows kept, rows dropped.

    A missing value is an error unless ``drop_missing``; then the subject is dropped.
    """
    columns: dict[str, pd.Series] = {}
    missing = np.zeros(len(frame), dtype=bool)
    reasons: dict[int, list[str]] = {}
    for name in names:
        parsed = parse_numeric(frame[name])
        if not parsed.bad.any() and parsed.n_numbers:
            _check_finite(parsed, name, ids, origin, "covariate")
            columns[name] = pd.Series(parsed.values, dtype=float)
        else:
            columns[name] = pd.Series(np.where(parsed.missing, None, parsed.text), dtype="str")
        for pos in np.flatnonzero(parsed.missing):
            if not drop_missing:
                raise CohortError(
                    f"{origin.where(name, pos, ids[pos])}: covariate '{name}' is missing "
                    f"({shown(parsed.text[pos])}); fill it in, leave '{name}' out of the covariates, or "
                    "drop such subjects with --drop-missing-covariates (drop_missing_covariates=True).")
            reasons.setdefault(int(pos), []).append(name)
        missing |= parsed.missing
    dropped = [(str(ids[pos]), "missing covariate " + quoted(cols)) for pos, cols in sorted(reasons.items())]
    table = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(len(frame)))
    return table, ~missing, dropped


def read_batch(frame: pd.DataFrame, name: str, ids: np.ndarray, origin: Origin) -> np.ndarray:
    """Batch labels as text; none may be missing."""
    labels = cell_text(frame[name])
    missing = is_missing(labels)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise CohortError(
            f"{origin.where(name, pos, ids[pos])}: the batch label is missing ({shown(labels[pos])}); "
            f"every subject needs one. Fill it in, or leave out --batch if '{name}' is not a batch column.")
    return labels


def check_values(selection: Selection, kinds: dict[str, str], ids: np.ndarray, origin: Origin,
                 declared: bool) -> None:
    """Every present biomarker value is a finite number; binary markers hold only 0 and 1."""
    for request in selection.requests:
        name, parsed = request.name, selection.columns[request.name]
        if parsed.bad.any():
            pos = int(np.flatnonzero(parsed.bad)[0])
            cell = parsed.text[pos]
            hint = ""
            if _DECIMAL_COMMA.fullmatch(cell):
                hint = " Use '.' as the decimal point."
            elif cell[:1] in "<>":
                hint = (" Write values beyond a detection limit as a number (e.g. the limit) or "
                        "leave them missing.")
            if not declared:
                hint += (f" If '{name}' is not a biomarker, give a markers file listing the "
                         "biomarkers to use.")
            raise CohortError(
                f"{origin.where(name, pos, ids[pos])}: biomarker value '{cell}' is not a number; "
                f"write numbers only and leave missing values empty (or NA).{hint}")
        _check_finite(parsed, name, ids, origin, "biomarker")
        if kinds[name] == BINARY:
            off = ~np.isnan(parsed.values) & ~np.isin(parsed.values, (0.0, 1.0))
            if off.any():
                pos = int(np.flatnonzero(off)[0])
                raise CohortError(
                    f"{origin.where(name, pos, ids[pos])}: binary marker '{name}' holds "
                    f"'{parsed.text[pos]}'; binary markers take 0 (negative) or 1 (positive), or "
                    "are missing. Recode the value, or declare the marker continuous in the "
                    "markers table.")


def check_transforms(selection: Selection, kinds: dict[str, str], ids: np.ndarray, origin: Origin,
                     marker_origin: Origin) -> None:
    """A declared transformation applies to a continuous biomarker and to every one of its values."""
    for request in selection.requests:
        transform = request.transform
        if transform == NONE:
            continue
        name, parsed = request.name, selection.columns[request.name]
        if kinds[name] == BINARY:
            raise CohortError(
                f"{marker_origin.where('transform', request.pos)}: '{name}' holds only 0 and 1, so it is "
                f"read as a binary marker, which cannot take transform '{transform}'; leave the cell "
                "empty, or declare the marker continuous in the kind column.")
        pos = first_outside(parsed.values, transform)
        if pos is not None:
            raise CohortError(
                f"{origin.where(name, pos, ids[pos])}: value '{parsed.text[pos]}' cannot take the "
                f"transform '{transform}' declared for '{name}' in {marker_origin.name}, which needs "
                f"{TRANSFORMS[transform].domain}. Use 'log1p' for counts that can be zero, leave a value "
                "below a detection limit missing or write the limit, or remove the transform.")


def check_reference(values: np.ndarray, is_patient: np.ndarray, names: tuple[str, ...],
                    kinds: tuple[str, ...], origin: Origin) -> None:
    """Every biomarker has a control reference: observed in controls, and varying if continuous."""
    controls = values[~is_patient]
    for j, (name, kind) in enumerate(zip(names, kinds)):
        observed = controls[:, j][~np.isnan(controls[:, j])]
        if observed.size == 0:
            raise CohortError(
                f"{origin.where(name)}: no healthy control has a value of {kind} biomarker "
                f"'{name}', so it has no control reference. Add control measurements or remove "
                "the biomarker (e.g. with a markers file that leaves it out).")
        if kind != BINARY and np.ptp(observed) == 0:
            raise CohortError(
                f"{origin.where(name)}: continuous biomarker '{name}' is constant among healthy "
                f"controls (all {observed.size} observed values are {observed[0]:g}), so the "
                "control spread is zero. Check the column (a placeholder value?) or remove the "
                "biomarker.")


def check_subjects_observed(values: np.ndarray, rows: np.ndarray, ids: np.ndarray,
                            origin: Origin) -> None:
    """Every subject has at least one biomarker value; ``rows`` are positions in the file."""
    empty = np.isnan(values).all(axis=1)
    if empty.any():
        pos = int(rows[np.flatnonzero(empty)[0]])
        raise CohortError(
            f"{origin.where(None, pos, ids[pos])}: every biomarker is missing for this subject; "
            "add its measurements or remove the row.")


def _check_finite(parsed: NumericColumn, name: str, ids: np.ndarray, origin: Origin, what: str) -> None:
    infinite = np.isinf(parsed.values)
    if infinite.any():
        pos = int(np.flatnonzero(infinite)[0])
        raise CohortError(
            f"{origin.where(name, pos, ids[pos])}: {what} value '{parsed.text[pos]}' is infinite; "
            "values must be finite numbers (leave missing values empty).")
