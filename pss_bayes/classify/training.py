"""What the classifier learns from: patients' panel values and their posterior soft labels.

Two sources give the same :class:`TrainingData`:

- a fitted mixture (:class:`~pss_bayes.result.FitResult` or a fit directory):
  the patients' biomarkers on the fit's control-referenced scale (``NaN`` where
  missing), the membership probabilities of every kept posterior draw, the
  posterior effect draws, the healthy controls (for the out-of-distribution
  flag) and the fit's scaling and data hash;
- arrays ``X, y`` (scikit-learn style): features used as given, ``y`` hard
  labels ``(n,)``, soft labels ``(n, K)`` or draws of soft labels ``(S, n, K)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from pss_bayes.data.scaling import ControlScaling
from pss_bayes.errors import ClassifierError
from pss_bayes.posterior.summaries import kept_draws

if TYPE_CHECKING:  # the fitting stack (ArviZ) is imported only when training on a fit
    from pss_bayes.result import FitResult


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Arrays the classifier is trained on.

    Attributes
    ----------
    X
        Patients x features, on the scale the classifier works on (``NaN`` where
        missing; only fits may have missing values).
    draws
        ``(S, n, K)`` soft labels per posterior draw (``S = 1`` for fixed labels).
    classes
        Label of each of the K columns.
    feature_names, is_binary
        Per feature.
    controls
        Healthy controls on the same scale, or ``None``.
    effects
        ``(S, K, p)`` posterior effect draws, or ``None``.
    scaling
        The fit's control-referenced scaling (raw units -> working scale), or
        ``None`` when features are used as given.
    data_hash, source
        Hash and file of the fitted cohort (``None`` for arrays).
    """

    X: np.ndarray
    draws: np.ndarray
    classes: np.ndarray
    feature_names: tuple[str, ...]
    is_binary: np.ndarray
    controls: np.ndarray | None = None
    effects: np.ndarray | None = None
    scaling: ControlScaling | None = None
    data_hash: str | None = None
    source: str | None = None

    @property
    def targets(self) -> np.ndarray:
        """Posterior mean membership probabilities, ``(n, K)``."""
        return self.draws.mean(0)


def from_result(result: FitResult, patients: Sequence[str] | None = None) -> TrainingData:
    """Training data from a fitted mixture, optionally restricted to some patients.

    Raises
    ------
    ClassifierError
        If the fit has a single subgroup, or ``patients`` names a subject that
        is not one of its patients.
    """
    posterior = result.idata.posterior
    if posterior.sizes["subgroup"] < 2:
        raise ClassifierError("the fit has a single subgroup (K = 1): every patient belongs to it, so there is "
                              "nothing to classify new patients into; a classifier needs a fit with at least two "
                              "subgroups")
    ids = posterior["subject"].to_numpy().astype(str)
    draws = kept_draws(posterior["membership"]).astype(float)
    if patients is not None:
        position = {s: i for i, s in enumerate(ids)}
        unknown = [p for p in patients if p not in position]
        if unknown:
            raise ClassifierError(f"patients {unknown[:5]} are not patients of the fit; give subject ids "
                                  "listed in its membership table")
        keep = np.array([position[p] for p in patients], dtype=int)
        ids, draws = ids[keep], draws[:, keep]
    cohort = result.cohort
    row = {s: i for i, s in enumerate(cohort.subject_ids)}
    scaled = result.scaling.transform(cohort.values, cohort.biomarker_names)
    effects = kept_draws(posterior["effect"]).astype(float)
    return TrainingData(
        X=scaled[[row[s] for s in ids]], draws=draws / draws.sum(2, keepdims=True),
        classes=posterior["subgroup"].to_numpy().astype(int), feature_names=cohort.biomarker_names,
        is_binary=np.asarray(cohort.markers.is_binary),
        controls=scaled[~np.asarray(cohort.is_patient)], effects=effects, scaling=result.scaling,
        data_hash=cohort.data_hash(), source=cohort.source)


def _soft_labels(y: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(draws, classes)`` from hard labels, soft labels or draws of soft labels."""
    array = np.asarray(y)
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
        array = array.ravel()
        check_classification_targets(array)
        classes, codes = np.unique(array, return_inverse=True)
        return np.eye(len(classes))[codes][None], classes
    array = np.asarray(array, dtype=float)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1] != n or array.shape[2] < 2:
        raise ClassifierError(f"y has shape {np.shape(y)}; expected labels (n,), soft labels (n, K) or "
                              f"draws of soft labels (S, n, K) with n = {n}")
    if not np.isfinite(array).all() or array.min() < 0 or not np.allclose(array.sum(2), 1.0, atol=1e-6):
        raise ClassifierError("soft labels must be finite, non-negative and sum to one over subgroups")
    return array, np.arange(1, array.shape[2] + 1)


def from_arrays(X: np.ndarray, y: Any, feature_names: Sequence[str] | None) -> TrainingData:
    """Training data from a validated feature matrix and labels (features used as given)."""
    draws, classes = _soft_labels(y, X.shape[0])
    if len(classes) < 2:
        raise ClassifierError(f"the labels hold only one class ({classes[0]!r}); a classifier needs at "
                              "least two")
    names = tuple(feature_names) if feature_names is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    is_binary = np.array([np.isin(np.unique(col), [0.0, 1.0]).all() for col in X.T], dtype=bool)
    return TrainingData(X=X, draws=draws, classes=classes, feature_names=names, is_binary=is_binary)


def panel_scaling(scaling: ControlScaling, names: Sequence[str]) -> ControlScaling:
    """The fit's control-referenced scaling restricted to the panel, in panel order."""
    return scaling.subset(tuple(names))


def training_data(estimator: BaseEstimator, X: Any, y: Any, patients: Sequence[str] | None) -> TrainingData:
    """Resolve ``fit``'s arguments into training data, setting the estimator's input attributes.

    A fit directory is loaded; a :class:`FitResult` gives its patients (``y``
    must be ``None``); arrays are validated as scikit-learn does (setting
    ``n_features_in_`` and, for tables, ``feature_names_in_``). ``biomarkers_``
    is set in every case.
    """
    from pss_bayes.fit_dir import load_fit_dir
    from pss_bayes.result import FitResult

    if isinstance(X, (str, Path)):
        X = load_fit_dir(X)
    if isinstance(X, FitResult):
        if y is not None:
            raise ClassifierError("y must be None when training on a fit: the soft labels are its "
                                  "posterior membership probabilities")
        data = from_result(X, patients)
        estimator.n_features_in_ = len(data.feature_names)
        estimator.feature_names_in_ = estimator.biomarkers_ = np.array(data.feature_names, dtype=object)
        return data
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    shape = np.shape(np.asarray(y))
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):     # labels (a column warns, as in sklearn)
        X, y = validate_data(estimator, X, y, reset=True, dtype=float)
    else:
        X = validate_data(estimator, X, reset=True, dtype=float)
    data = from_arrays(X, y, getattr(estimator, "feature_names_in_", None))
    estimator.biomarkers_ = np.array(data.feature_names, dtype=object)
    return data
