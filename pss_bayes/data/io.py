"""Reading, validating and writing cohorts.

The input contract: one row per subject with a unique ``subject_id``, a
``group`` (patient or healthy-control label, compared ignoring case and
surrounding spaces), optional declared covariate columns (numeric if every
present value is a number, else categorical text), an optional batch column
(text, never missing) and biomarker columns. Without a markers table, every
other column whose values are numbers is a biomarker (its module is its own
name; its kind is binary if it only holds 0 and 1, else continuous); other
columns are ignored and listed. With a markers table (``biomarker`` and
optionally ``module``, ``kind``), exactly its biomarkers are used.

Missing values are empty cells or one of :data:`NA_VALUES` (ignoring case);
missing biomarker values are kept as ``NaN``. Every broken rule raises a
:class:`~pss_bayes.errors.CohortError` naming the file, column and row (line
number in CSV/TSV files, header = line 1; row number in Parquet files and
in-memory frames).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from pss_bayes.data import _checks
from pss_bayes.data._markers import parse_markers, resolve, select_biomarkers
from pss_bayes.data._table import NA_VALUES, Origin, normalise_columns, quoted, require_columns
from pss_bayes.data.cohort import Cohort, MarkerTable
from pss_bayes.errors import CohortError

__all__ = ["MIN_SUBJECTS_PER_GROUP", "NA_VALUES", "CohortWarning", "cohort_from_frame", "load_cohort",
           "read_table", "write_cohort", "write_markers"]

#: Minimum number of patients, and of healthy controls, a cohort must hold. The
#: control reference (centre and spread of every biomarker) is estimated from the
#: controls, so fewer would leave it to the priors. Kept at 20 or below.
MIN_SUBJECTS_PER_GROUP = 10

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_PARQUET = (".parquet", ".pq")
_FORMATS = "CSV (.csv), TSV (.tsv, .txt) or Parquet (.parquet, .pq)"


class CohortWarning(UserWarning):
    """A cohort is valid but has a feature worth knowing (e.g. a binary marker no control has)."""


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SEPARATORS and suffix not in _PARQUET:
        raise CohortError(f"file '{path}': unknown file type '{path.suffix}'; use {_FORMATS}.")
    return suffix


def _sniff(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(8192)
    if head.startswith(b"PAR1"):
        raise CohortError(f"file '{path}' is a Parquet file; rename it to end in .parquet.")
    if head.startswith(b"PK\x03\x04") or b"\x00" in head:
        raise CohortError(f"file '{path}' is not a text file (a spreadsheet or other binary file?); "
                          "export it as CSV or TSV.")


def _read_text(path: Path, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    _sniff(path)
    records, lines, end = [], [], 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep)
            for record in reader:
                if any(cell.strip() for cell in record):
                    records.append(record)
                    lines.append(end + 1)
                end = reader.line_num
    except UnicodeDecodeError as exc:
        raise CohortError(f"file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8 CSV or TSV.") from None
    except csv.Error as exc:
        raise CohortError(f"file '{path}', line {end + 1}: cannot be parsed ({exc}); check the "
                          "quoting.") from None
    if not records:
        raise CohortError(f"file '{path}' is empty; it needs a header and data rows.")
    header, width = records[0], len(records[0])
    for record, line in zip(records[1:], lines[1:]):
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            raise CohortError(
                f"file '{path}', line {line}: {len(record)} fields but the header has {width}; "
                "check the delimiter and quoting of that line.")
    rows = [(record + [""] * width)[:width] for record in records[1:]]
    frame = pd.DataFrame(rows, columns=header, dtype="str") if rows else pd.DataFrame(columns=header)
    return frame, np.array(lines[1:], dtype=int)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CohortError(f"file '{path}' could not be read as Parquet ({exc}); check that it is a "
                          "complete Parquet file.") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame


def _read(path: str | Path) -> tuple[pd.DataFrame, Origin]:
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise CohortError(f"file '{path}' {problem}; give the path of a {_FORMATS} file.")
    if path.stat().st_size == 0:
        raise CohortError(f"file '{path}' is empty; it needs a header and data rows.")
    try:
        if suffix in _PARQUET:
            frame, origin = _read_parquet(path), Origin(str(path))
        else:
            frame, lines = _read_text(path, _SEPARATORS[suffix])
            origin = Origin(str(path), lines)
    except PermissionError:
        raise CohortError(f"file '{path}' cannot be opened (permission denied).") from None
    frame = normalise_columns(frame, origin)
    if frame.shape[1] == 0:
        raise CohortError(f"file '{path}' has no columns.")
    if len(frame) == 0:
        raise CohortError(f"file '{path}' has a header but no data rows.")
    return frame, origin


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table, chosen by the file extension.

    Text files are read with every column as text (nothing converted, nothing
    treated as missing yet), so that values can be checked cell by cell. They
    are read with the :mod:`csv` module rather than :func:`pandas.read_csv` so
    that each row's line number is exact (blank lines are skipped, quoted line
    breaks counted). Column names are stripped; empty ones become ``Unnamed: i``.

    Parameters
    ----------
    path
        ``.csv`` (comma-separated), ``.tsv`` / ``.txt`` (tab-separated) or
        ``.parquet`` / ``.pq``; text files in UTF-8.

    Returns
    -------
    pandas.DataFrame
        One row per data row of the file, with a default index.

    Raises
    ------
    CohortError
        If the file is missing, empty, header-only, not text, corrupt or of an
        unknown type.
    """
    return _read(path)[0]


def cohort_from_frame(frame: pd.DataFrame, markers: pd.DataFrame | None = None, *,
                      covariates: Sequence[str] = (), batch: str | None = None,
                      patient_label: str = "pSS", control_label: str = "control",
                      drop_missing_covariates: bool = False, source: str | None = None,
                      markers_source: str | None = None) -> Cohort:
    """Validate a cohort table and build a :class:`Cohort` from it.

    Parameters
    ----------
    frame
        One row per subject (see the module docstring for the contract). Cells
        may be text (as :func:`read_table` gives) or already numeric.
    markers
        Optional markers table: ``biomarker`` and optionally ``module`` and
        ``kind`` (``continuous`` / ``binary``; empty cells are inferred).
    covariates
        Names of the covariate columns.
    batch
        Name of the batch (e.g. recruiting centre) column, if any.
    patient_label, control_label
        Labels of patients and healthy controls in ``group``.
    drop_missing_covariates
        Drop subjects with a missing covariate (recorded in
        ``Cohort.dropped_subjects``) instead of raising.
    source, markers_source
        Names of the files the tables came from, used in messages; rows are
        then named by their 1-based position.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        On the first broken rule, checked in the order structure, subject ids,
        groups, covariates and batch, biomarker values.
    """
    return _build(frame, Origin(source), markers, Origin(markers_source), tuple(covariates), batch,
                  patient_label, control_label, drop_missing_covariates)


def load_cohort(path: str | Path, markers: str | Path | None = None, *,
                covariates: Sequence[str] = (), batch: str | None = None,
                patient_label: str = "pSS", control_label: str = "control",
                drop_missing_covariates: bool = False) -> Cohort:
    """Read and validate a cohort file (and optionally a markers file).

    Parameters
    ----------
    path
        Cohort table (CSV, TSV or Parquet; see :func:`read_table`).
    markers
        Markers table file, or ``None`` to infer the biomarkers from the values.
    covariates, batch, patient_label, control_label, drop_missing_covariates
        As in :func:`cohort_from_frame`.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        If a file is unreadable or breaks the input contract; the message names
        the file, column and line, and says how to fix it.
    """
    frame, origin = _read(path)
    marker_frame, marker_origin = _read(markers) if markers is not None else (None, Origin(None))
    return _build(frame, origin, marker_frame, marker_origin, tuple(covariates), batch,
                  patient_label, control_label, drop_missing_covariates)


def _declared_roles(frame: pd.DataFrame, covariates: tuple[str, ...], batch: str | None,
                    origin: Origin) -> dict[str, str]:
    roles = {"subject_id": "subject id", "group": "group"}
    for name, role, option in [(c, "covariate", "--covariates") for c in covariates] + \
            ([(batch, "batch", "--batch")] if batch is not None else []):
        if name in roles:
            already = "listed twice" if roles[name] == role else f"already the {roles[name]} column"
            raise CohortError(f"{origin.name}: the {role} column '{name}' is {already}; fix {option}.")
        if name not in frame.columns:
            raise CohortError(f"{origin.name}: the {role} column '{name}' does not exist; columns "
                              f"found: {quoted(frame.columns)}. Fix {option}.")
        roles[name] = role
    return roles


def _build(frame: pd.DataFrame, origin: Origin, markers: pd.DataFrame | None, marker_origin: Origin,
           covariates: tuple[str, ...], batch: str | None, patient_label: str, control_label: str,
           drop_missing: bool) -> Cohort:
    frame = normalise_columns(frame, origin)
    require_columns(frame, ("subject_id", "group"), origin, "cohort table")
    if len(frame) == 0:
        raise CohortError(f"{origin.name}: the cohort table has no rows; add one row per subject.")
    roles = _declared_roles(frame, covariates, batch, origin)
    requests = parse_markers(markers, marker_origin) if markers is not None else None
    selection = select_biomarkers(frame, origin, roles, requests, marker_origin)

    labels = (patient_label, control_label)
    ids = _checks.check_ids(frame, origin)
    is_patient = _checks.check_groups(frame, ids, origin, patient_label, control_label)
    _checks.check_group_sizes(is_patient, origin, labels, MIN_SUBJECTS_PER_GROUP)
    covariate_table, keep, dropped = _checks.read_covariates(frame, covariates, ids, origin, drop_missing)
    batch_labels = _checks.read_batch(frame, batch, ids, origin) if batch is not None else None
    if dropped:
        _checks.check_group_sizes(is_patient[keep], origin, labels, MIN_SUBJECTS_PER_GROUP, len(dropped))

    modules, kinds = zip(*(resolve(r, selection.columns[r.name]) for r in selection.requests))
    names = tuple(r.name for r in selection.requests)
    _checks.check_values(selection, dict(zip(names, kinds)), ids, origin, requests is not None)
    _checks.check_transforms(selection, dict(zip(names, kinds)), ids, origin, marker_origin)
    rows = np.flatnonzero(keep)
    values = np.column_stack([selection.columns[n].values for n in names])[rows]
    _checks.check_reference(values, is_patient[rows], names, kinds, origin)
    _checks.check_subjects_observed(values, rows, ids, origin)

    cohort = Cohort(
        subject_ids=ids[rows], is_patient=is_patient[rows], values=values,
        markers=MarkerTable(names, tuple(modules), tuple(kinds), tuple(r.transform for r in selection.requests)),
        covariates=covariate_table.iloc[rows].reset_index(drop=True),
        batch=None if batch_labels is None else batch_labels[rows], batch_name=batch,
        group_labels=labels, source=origin.path, ignored_columns=selection.ignored,
        dropped_subjects=tuple(dropped))
    for message in cohort.summary().warnings:
        warnings.warn(message, CohortWarning, stacklevel=3)
    return cohort


def _write(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in _PARQUET:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep=_SEPARATORS[suffix], index=False)
    return path


def write_cohort(cohort: Cohort, path: str | Path) -> Path:
    """Write a cohort in the input contract's layout (see :meth:`Cohort.to_frame`).

    Parameters
    ----------
    cohort
        The cohort to write.
    path
        Target file; the format follows the extension (as in :func:`read_table`).

    Returns
    -------
    pathlib.Path
        The file written. Missing values are written as empty cells.
    """
    return _write(cohort.to_frame(), path)


def write_markers(markers: Cohort | MarkerTable, path: str | Path) -> Path:
    """Write a markers table (``biomarker``, ``module``, ``kind``, and ``transform`` when any is declared).

    Parameters
    ----------
    markers
        A cohort (its markers are written) or a :class:`MarkerTable`.
    path
        Target file; the format follows the extension (as in :func:`read_table`).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    table = markers.markers if isinstance(markers, Cohort) else markers
    return _write(table.to_frame(), path)
