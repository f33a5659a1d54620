"""Readers for the optional inputs of the report: model comparison, sensitivity analysis, classifier.

Each reader checks only what the report needs, so that the files written by
``pss-bayes compare``, ``pss-bayes sensitivity`` and ``pss-bayes classify
train`` render whatever else they carry; problems raise
:class:`~pss_bayes.errors.ResultFileError` naming the file and the fix. Each
also returns the hash of the data the input was made from, where the input
records it, so that :func:`check_same_data` can refuse inputs of another cohort.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import h5netcdf
import numpy as np
import pandas as pd

from pss_bayes.errors import ResultFileError

#: Columns of comparison.csv, in the order shown.
COMPARISON_COLUMNS = ("model", "k", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "n_pareto_k_bad",
                      "stacking_weight", "pseudo_bma_weight", "bic", "icl", "method")
#: Columns of stability.csv, in the order shown.
STABILITY_COLUMNS = ("variant", "status", "k_mode", "ari_vs_reference", "n_changed", "max_membership_change")
#: Columns of comparison.csv and stability.csv that hold counts (read as integers, empty where missing).
INTEGER_COLUMNS = ("k", "n_pareto_k_bad", "k_mode", "n_changed")
_PREDICTED = ("predicted", "mean_predicted", "prob_pred", "confidence")
_OBSERVED = ("observed", "fraction_positive", "prob_true", "accuracy")
_COUNT = ("count", "counts", "n")
_LABEL = ("label", "subgroup", "class", "name")
#: Bookkeeping entries of a classifier file that are not shown as facts.
_NOT_FACTS = ("format", "schema_version", "sha256")
#: Entries of a ``pss-bayes classify train`` file shown as facts: (section, key, label).
_CLASSIFIER_FACTS = (("params", "coverage", "coverage of the prediction sets"),
                     ("calibration", "temperature", "calibration temperature"),
                     ("calibration", "ece_uncalibrated", "calibration error (ECE) before calibration"),
                     ("calibration", "ece", "calibration error (ECE) after calibration"),
                     ("calibration", "n_heldout", "held-out patients (calibration, sets, OOD thresholds)"),
                     ("training", "n_patients", "patients of the fit"))
#: Columns of a classifier file's panel curve, in the order shown.
PANEL_CURVE_COLUMNS = ("size", "added", "agreement", "log_loss")


@dataclass(frozen=True)
class Comparison:
    """comparison.csv (documented columns, in order), comparison.md (if present), the folder, and the
    hash of the data its fits were made from (``None`` when the folder does not record it)."""

    table: pd.DataFrame
    text: str | None
    source: str = ""
    data_hash: str | None = None


@dataclass(frozen=True)
class Sensitivity:
    """stability.csv (documented columns, in order), summary.md (if present), the folder, and the
    hash of the data the analysis was run on (``None`` when the folder does not record it)."""

    table: pd.DataFrame
    text: str | None
    source: str = ""
    data_hash: str | None = None


@dataclass(frozen=True)
class CalibrationCurve:
    """One reliability curve: mean predicted probability and observed frequency per bin."""

    label: str
    predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray | None = None


@dataclass(frozen=True)
class Classifier:
    """What the report shows of a classifier file: its panel, calibration curves, scalar facts and
    panel curve (agreement with the full model by panel size, ``None`` when the file has none), and
    the hash of the data it was trained on (``None`` when the file does not record it)."""

    source: str
    panel: tuple[str, ...]
    curves: tuple[CalibrationCurve, ...]
    calibration_unreadable: bool
    facts: dict[str, Any] = field(default_factory=dict)
    panel_curve: pd.DataFrame | None = None
    data_hash: str | None = None


def _folder(path: str | Path, what: str, command: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ResultFileError(f"{what} folder '{path}' does not exist (write one with `{command} --out DIR`)")
    return path


def _csv(path: Path, key: str, columns: tuple[str, ...], command: str) -> pd.DataFrame:
    if not path.is_file():
        raise ResultFileError(f"'{path}' is missing (write it with `{command} --out {path.parent}`)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"'{path}' is not a readable CSV file ({exc})") from exc
    if key not in frame.columns:
        raise ResultFileError(f"'{path}' has no column '{key}' (columns: {', '.join(map(str, frame.columns))}); "
                              f"was it written by `{command}`?")
    frame = frame[[c for c in columns if c in frame.columns]]
    return frame.astype({c: "Int64" for c in INTEGER_COLUMNS if c in frame.columns and _counts(frame[c])})


def _counts(column: pd.Series) -> bool:
    """Whether a column holds whole numbers only (missing cells aside): an integer column read with gaps."""
    values = column.dropna()
    return pd.api.types.is_numeric_dtype(column) and bool((values == values.round()).all())


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _recorded_hash(data: Any, section: str) -> str | None:
    """``data[section]["data_hash"]`` of a JSON record, or ``None`` when it is not there."""
    entry = data.get(section) if isinstance(data, dict) else None
    value = entry.get("data_hash") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def _comparison_hash(folder: Path) -> str | None:
    """The data hash stored with the comparison's fits (``fits/*.nc``), or ``None`` without fits."""
    for path in sorted((folder / "fits").glob("*.nc")):
        try:
            with h5netcdf.File(path, "r") as handle:
                value = handle["posterior"].attrs.get("data_hash")
        except (OSError, KeyError) as exc:
            raise ResultFileError(f"'{path}' is not a readable posterior file ({exc}); rerun "
                                  f"`pss-bayes compare ... --out {folder}`") from exc
        if isinstance(value, str):
            return value
    return None


def _sensitivity_hash(folder: Path) -> str | None:
    """The data hash recorded in the analysis's manifest.json, or ``None`` without one."""
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"'{path}' is not valid JSON ({exc})") from exc
    return _recorded_hash(manifest, "cohort")


def read_comparison(folder: str | Path) -> Comparison:
    """Read the folder written by ``pss-bayes compare`` (comparison.csv, optional comparison.md, and the
    data hash stored with its fits)."""
    folder = _folder(folder, "comparison", "pss-bayes compare")
    table = _csv(folder / "comparison.csv", "model", COMPARISON_COLUMNS, "pss-bayes compare")
    return Comparison(table=table, text=_text(folder / "comparison.md"), source=str(folder),
                      data_hash=_comparison_hash(folder))


def read_sensitivity(folder: str | Path) -> Sensitivity:
    """Read the folder written by ``pss-bayes sensitivity`` (stability.csv, optional summary.md, and the
    data hash of its manifest.json)."""
    folder = _folder(folder, "sensitivity", "pss-bayes sensitivity")
    table = _csv(folder / "stability.csv", "variant", STABILITY_COLUMNS, "pss-bayes sensitivity")
    return Sensitivity(table=table, text=_text(folder / "summary.md"), source=str(folder),
                       data_hash=_sensitivity_hash(folder))


def check_same_data(data_hash: str, fit: str, inputs: Iterable[tuple[str, str | None]]) -> None:
    """Refuse optional inputs made from other data than the fit.

    Parameters
    ----------
    data_hash
        Hash of the fit's cohort (:meth:`~pss_bayes.data.cohort.Cohort.data_hash`).
    fit
        The fit as named in the message, e.g. ``fit folder 'out/fit'``.
    inputs
        Each input as named in the message and the data hash it records; ``None``
        (a file that records none, e.g. an older one) is accepted.

    Raises
    ------
    ResultFileError
        If an input records another data hash than the fit's.
    """
    for name, recorded in inputs:
        if recorded is not None and recorded != data_hash:
            raise ResultFileError(
                f"{name} and {fit} were made from different data (data hash {recorded[:12]}… vs "
                f"{data_hash[:12]}…); pass the output of a run on the fit's own cohort (the same file, "
                "covariates and batch column)")


def _first(mapping: dict, keys: tuple[str, ...]) -> Any:
    return next((mapping[k] for k in keys if k in mapping), None)


def _curve(label: str, entry: Any) -> CalibrationCurve | None:
    if not isinstance(entry, dict):
        return None
    predicted, observed, count = (_first(entry, keys) for keys in (_PREDICTED, _OBSERVED, _COUNT))
    try:
        x = np.asarray(predicted, dtype=float)
        y = np.asarray(observed, dtype=float)
        n = None if count is None else np.asarray(count, dtype=float)
    except (TypeError, ValueError):
        return None
    if x.ndim != 1 or x.shape != y.shape or x.size == 0 or (n is not None and n.shape != x.shape):
        return None
    return CalibrationCurve(label=str(_first(entry, _LABEL) or label), predicted=x, observed=y, count=n)


def calibration_curves(data: Any) -> tuple[tuple[CalibrationCurve, ...], bool]:
    """Reliability curves from a classifier's ``calibration`` entry, read defensively.

    Accepted: one curve (a mapping with predicted/observed lists, e.g.
    ``{"predicted": [...], "observed": [...], "count": [...]}``; ``mean_predicted``
    / ``prob_pred`` and ``fraction_positive`` / ``prob_true`` are synonyms), a
    mapping of label to curve, or a list of curves with a ``label``.

    Returns
    -------
    curves, unreadable
        The curves found, and whether something was there that could not be read.
    """
    if data is None:
        return (), False
    if isinstance(data, dict) and _first(data, _PREDICTED) is not None:
        single = _curve("all", data)
        return ((single,), False) if single else ((), True)
    if isinstance(data, dict):
        entries = list(data.items())
    elif isinstance(data, list):
        entries = [(str(i + 1), e) for i, e in enumerate(data)]
    else:
        return (), True
    curves = [c for c in (_curve(str(label), e) for label, e in entries) if c is not None]
    return tuple(curves), len(curves) < len(entries) or not curves


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _panel_curve(data: Any) -> pd.DataFrame | None:
    """The panel curve of a classifier file (records with ``size`` and ``agreement``), or ``None``."""
    if not isinstance(data, list) or not data or not all(isinstance(row, dict) for row in data):
        return None
    frame = pd.DataFrame(data)
    if not {"size", "agreement"} <= set(frame.columns):
        return None
    return frame[[c for c in PANEL_CURVE_COLUMNS if c in frame.columns]]


def read_classifier(path: str | Path) -> Classifier:
    """Read a classifier file: the one ``pss-bayes classify train`` writes, or generic keys.

    The panel is ``panel`` or ``features.panel``; calibration curves come from
    ``calibration`` (see :func:`calibration_curves`), whose scalar entries
    (temperature, calibration errors) are facts; facts are the other top-level
    scalars and the coverage, calibration and training counts of a ``classify
    train`` file; ``panel_curve`` is the agreement with the full model by panel size;
    ``training.data_hash`` is the hash of the data the classifier was trained on.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"classifier file '{path}' does not exist "
                              "(write one with `pss-bayes classify train FIT_DIR --out model.json`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"classifier file '{path}' is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultFileError(f"classifier file '{path}' should hold a JSON object, not {type(data).__name__}")
    features = data.get("features")
    panel = data.get("panel", features.get("panel") if isinstance(features, dict) else None)
    panel = tuple(str(p) for p in panel) if isinstance(panel, list) else ()
    calibration = data.get("calibration")
    if isinstance(calibration, dict) and _first(calibration, _PREDICTED) is None:
        calibration = {k: v for k, v in calibration.items() if not _scalar(v)} or None
    curves, unreadable = calibration_curves(calibration)
    facts = {k: v for k, v in data.items() if k not in {"panel", "calibration", *_NOT_FACTS} and _scalar(v)}
    for section, key, label in _CLASSIFIER_FACTS:
        entries = data.get(section)
        if isinstance(entries, dict) and _scalar(entries.get(key)):
            facts[label] = entries[key]
    return Classifier(source=str(path), panel=panel, curves=curves, calibration_unreadable=unreadable, facts=facts,
                      panel_curve=_panel_curve(data.get("panel_curve")), data_hash=_recorded_hash(data, "training"))
