"""The classifier's portable file: plain JSON, checked when read, never pickle.

Layout (``schema_version`` 1)::

    format, schema_version, versions (Python and packages that wrote it),
    params (the estimator's parameters; a random_state that is not a number
    is stored as null), classes, features {names, named, panel,
    panel_is_binary}, scaling (control-referenced centre/scale of the panel,
    or null), ensemble {coef (M x K x p), intercept (M x K)}, calibration
    {temperature, n_heldout, ece_uncalibrated, ece}, conformal {thresholds},
    ood {subgroups, shares, control, atypical_threshold,
    control_log_bayes_factor}, panel_curve [{size, added, agreement,
    log_loss}] (null agreement and log loss for a row no patient could be
    judged on), training {data_hash, source, n_patients, n_train, n_heldout,
    n_draws}, sha256.

``sha256`` is the hash of everything else (canonical JSON: sorted keys, no
spaces), so an edited or truncated file is refused. It detects accidents and
casual edits, not a determined forger (anyone can recompute it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pss_bayes.classify.ensemble import Ensemble
from pss_bayes.classify.model import SubgroupClassifier
from pss_bayes.classify.ood import OutlierDetector
from pss_bayes.classify.params import check_params
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.errors import PssBayesError, ResultFileError

FORMAT = "pss_bayes.SubgroupClassifier"
#: Version written. Version 2 added the scaling's declared transforms; a version-1 file has none, and
#: a reader of version 1 refuses version 2 (it would apply log-scale centres to values as given).
SCHEMA_VERSION = 2
#: Versions read.
READABLE_SCHEMAS = (1, 2)


def _checksum(content: dict[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as plain JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _curve_records(curve: pd.DataFrame) -> list[dict[str, Any]]:
    """The panel curve as JSON records; an undefined statistic (NaN) becomes null."""
    return [{k: None if pd.isna(v) else _plain(v) for k, v in row.items()} for row in curve.to_dict("records")]


def classifier_to_dict(model: SubgroupClassifier) -> dict[str, Any]:
    """The file's content (without the checksum) for a fitted classifier."""
    from pss_bayes.fit_dir import versions

    params = {k: _plain(list(v) if isinstance(v, tuple) else v) for k, v in model.get_params().items()}
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    return {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "versions": versions(), "params": params,
        "classes": _plain(model.classes_),
        "features": {"names": [str(n) for n in model.biomarkers_], "named": hasattr(model, "feature_names_in_"),
                     "panel": [str(b) for b in model.panel_],
                     "panel_is_binary": [bool(b) for b in model.panel_is_binary_]},
        "scaling": None if model.scaling_ is None else model.scaling_.to_dict(),
        "ensemble": {"coef": model.ensemble_.coef.tolist(), "intercept": model.ensemble_.intercept.tolist()},
        "calibration": {"temperature": model.temperature_, **model.calibration_},
        "conformal": {"thresholds": model.conformal_thresholds_.tolist()},
        "ood": model.ood_.to_dict(),
        "panel_curve": _curve_records(model.panel_curve_),
        "training": dict(model.training_),
    }


def save_classifier(model: SubgroupClassifier, path: str | Path) -> Path:
    """Write a fitted classifier to ``path`` as JSON (with its checksum)."""
    content = classifier_to_dict(model)
    content["sha256"] = _checksum(content)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _array(value: Any, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """A finite numeric array of the given shape (``None`` = any length); raises ValueError otherwise."""
    array = np.asarray(value, dtype=float)
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise ValueError(f"'{what}' has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"'{what}' holds a value that is not a finite number")
    return array


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ResultFileError(f"classifier file '{path}' does not exist")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"'{path}' is not a JSON classifier file ({exc})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ResultFileError(f"'{path}' is not a pss_bayes classifier file (its 'format' is not '{FORMAT}'); "
                              "write one with `pss-bayes classify train`")
    if content.get("schema_version") not in READABLE_SCHEMAS:
        raise ResultFileError(f"'{path}' has schema version {content.get('schema_version')!r}; this version of "
                              f"pss_bayes reads versions {', '.join(map(str, READABLE_SCHEMAS))}. Retrain the "
                              "classifier.")
    stored = content.pop("sha256", None)
    try:
        actual = _checksum(content)
    except ValueError as exc:
        raise ResultFileError(f"'{path}' holds values JSON does not allow ({exc})") from None
    if stored != actual:
        raise ResultFileError(f"'{path}' was altered after it was written (its sha256 checksum does not match "
                              "its content); retrain it or restore the original file")
    return content


def _rebuild(content: dict[str, Any]) -> SubgroupClassifier:
    model = SubgroupClassifier(**content["params"])
    check_params(model.get_params())
    features = content["features"]
    names, panel = [str(n) for n in features["names"]], [str(b) for b in features["panel"]]
    binary = np.array([bool(b) for b in features["panel_is_binary"]])
    if not set(panel) <= set(names) or len(set(panel)) != len(panel) or len(binary) != len(panel):
        raise ValueError("'features' is inconsistent: the panel must be distinct biomarkers of 'names', "
                         "with one 'panel_is_binary' entry each")
    classes = np.asarray(content["classes"])
    k, p = len(classes), len(panel)
    if classes.ndim != 1 or k < 2 or len(set(classes.tolist())) != k:
        raise ValueError("'classes' must list at least two distinct labels")
    coef = _array(content["ensemble"]["coef"], (None, k, p), "ensemble.coef")
    intercept = _array(content["ensemble"]["intercept"], (coef.shape[0], k), "ensemble.intercept")
    temperature = float(content["calibration"]["temperature"])
    thresholds = _array(content["conformal"]["thresholds"], (k,), "conformal.thresholds")
    if not (np.isfinite(temperature) and temperature > 0) or np.any((thresholds < 0) | (thresholds > 1)):
        raise ValueError("the temperature must be positive and conformal thresholds between 0 and 1")
    scaling = None
    if content["scaling"] is not None:
        scaling = ControlScaling.from_dict(content["scaling"], source="'scaling'")
        if list(scaling.biomarkers) != panel:
            raise ValueError("'scaling' does not cover exactly the panel's biomarkers")
    model.classes_, model.n_features_in_ = classes, len(names)
    model.biomarkers_ = np.array(names, dtype=object)
    if features["named"]:
        model.feature_names_in_ = model.biomarkers_
    model.panel_, model.panel_is_binary_, model.scaling_ = np.array(panel, dtype=object), binary, scaling
    model.ensemble_ = Ensemble(coef, intercept)
    model.temperature_ = temperature
    model.calibration_ = {key: value for key, value in content["calibration"].items() if key != "temperature"}
    model.conformal_thresholds_ = thresholds
    model.ood_ = OutlierDetector.from_dict(content["ood"], binary)
    curve = pd.DataFrame(content["panel_curve"], columns=["size", "added", "agreement", "log_loss"])
    model.panel_curve_ = curve.astype({"agreement": float, "log_loss": float})   # null: undefined (NaN)
    model.training_ = dict(content["training"])
    return model


def load_classifier(path: str | Path) -> SubgroupClassifier:
    """Read a classifier file, refusing missing, malformed, foreign or altered files.

    Raises
    ------
    ResultFileError
        With the file's name and what is wrong with it.
    """
    path = Path(path)
    content = _read(path)
    try:
        return _rebuild(content)
    except (PssBayesError, KeyError, TypeError, ValueError, IndexError, np.linalg.LinAlgError) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ResultFileError(f"'{path}' is not a valid classifier file: {problem}") from None
