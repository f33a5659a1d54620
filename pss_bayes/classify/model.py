"""``SubgroupClassifier``: assign new patients to the subgroups of a fitted mixture, honestly.

Training (:meth:`SubgroupClassifier.fit`) on a fit:

1. The fit's patients are split, stratified by most probable subgroup, into a
   training part and a held-out part (``calibration_fraction``).
2. A panel of at most ``panel_size`` biomarkers is chosen on the training part
   (:mod:`pss_bayes.classify.panel`), or the ``panel`` given is used.
3. An ensemble of ``n_members`` softmax regressions on the panel's
   control-referenced values is fitted to the posterior membership
   probabilities, one posterior draw per member with Bayesian-bootstrap weights
   (:mod:`pss_bayes.classify.ensemble`); missing training values are drawn at
   random per member from the patient's subgroup.
4. By 5-fold cross-fitting on the training part, with the panel chosen again
   inside each fold (:mod:`pss_bayes.classify.crossfit`): the panel curve
   (agreement with the full model by panel size) and a temperature that
   calibrates the probabilities.
5. On the held-out patients: the calibration is checked (ECE before and after),
   split-conformal thresholds are computed (:mod:`pss_bayes.classify.conformal`)
   and the thresholds of the out-of-distribution flag are set
   (:mod:`pss_bayes.classify.ood`).

New data are put on the fit's control-referenced scale with the fit's own
scaling. Missing panel values are refused (nothing is imputed at prediction):
the error names the subject and the biomarker. Covariates are not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array
from threadpoolctl import threadpool_limits

from pss_bayes.classify import panel as panels
from pss_bayes.classify.conformal import conformal_thresholds, expected_calibration_error, prediction_sets
from pss_bayes.classify.crossfit import cross_fit
from pss_bayes.classify.ensemble import fit_ensemble
from pss_bayes.classify.newdata import panel_values
from pss_bayes.classify.ood import fit_outlier_detector
from pss_bayes.classify.params import check_params
from pss_bayes.classify.splits import holdout_split
from pss_bayes.classify.training import TrainingData, panel_scaling, training_data
from pss_bayes.errors import ClassifierError, NotFittedError

#: Label ``predict`` returns when it declines to name a subgroup.
INDETERMINATE = "indeterminate"


class ClassifierNotFittedError(NotFittedError, SklearnNotFittedError):
    """A classifier used before ``fit`` or ``load``: both pss_bayes's and scikit-learn's NotFittedError."""


class SubgroupClassifier(ClassifierMixin, BaseEstimator):
    """Panel classifier with calibrated probabilities, conformal sets and an OOD flag.

    Parameters
    ----------
    panel_size : int, default=10
        Number of biomarkers to choose (fewer if fewer credibly separate the
        subgroups). Ignored when ``panel`` is given.
    panel : sequence of str, optional
        Biomarkers to use instead of choosing them.
    coverage : float, default=0.9
        Coverage level of the conformal prediction sets.
    class_conditional : bool, default=False
        One conformal threshold per subgroup (coverage within each subgroup).
    min_probability : float, default=0.5
        ``predict`` answers ``"indeterminate"`` when the top probability is below this.
    ood_quantile : float, default=0.99
        Quantile of held-out patients' atypicality used as its OOD threshold.
    control_bayes_factor : float, default=3.0
        Bayes factor (healthy controls vs patients) above which a subject is
        flagged as looking like a healthy control.
    n_members : int, default=30
        Ensemble members (posterior draws used).
    C : float, default=1.0
        Inverse L2 penalty strength of each softmax regression (standardised features).
    calibration_fraction : float, default=0.25
        Share of patients held out for the calibration check, conformal sets and OOD thresholds.
    interval : float, default=0.9
        Mass of the probability intervals (central range over members).
    abstain : bool, default=True
        Let ``predict`` answer ``"indeterminate"``; with ``False`` it returns the
        most probable subgroup for everyone (sets and flags are still available).
    random_state : int, RandomState instance or None, default=0
        Seed of the split, the draws chosen, the bootstrap weights and the folds.

    Attributes
    ----------
    classes_ : ndarray
        Subgroup labels (the fit's 1..K).
    n_features_in_, feature_names_in_
        Number and names of the fit's biomarkers (or of the features of ``X``;
        names only when ``X`` is a table).
    biomarkers_ : ndarray of str
        Names of all biomarkers (``x0, x1, ...`` for unnamed features).
    panel_ : ndarray of str
        The panel, in order of selection.
    panel_is_binary_ : ndarray of bool
        Whether each panel biomarker is binary (0/1).
    panel_curve_ : DataFrame
        Cross-fitted agreement with the full model per panel size
        (see :func:`pss_bayes.classify.crossfit.cross_fit`); NaN in a row that
        no patient has every biomarker of (null in the saved file).
    scaling_ : ControlScaling or None
        The fit's control-referenced scaling of the panel (``None``: ``X`` used as given).
    ensemble_ : Ensemble
        Coefficients of the members (on the control-referenced scale).
    temperature_ : float
        Calibration temperature.
    calibration_ : dict
        Held-out check: ``n_heldout``, ``ece_uncalibrated``, ``ece`` (soft labels).
    conformal_thresholds_ : ndarray
        Per subgroup threshold on ``1 - p_k``.
    ood_ : OutlierDetector
        Densities and thresholds of the OOD flag.
    training_ : dict
        ``data_hash`` and ``source`` of the fitted cohort, patient counts.

    Notes
    -----
    Trained on a fit, the classifier reads new values in the fit's raw units
    and applies the fit's control-referenced scaling. Trained on ``X, y`` it
    uses the features as given (no scaling, no control reference, so the OOD
    flag only tests atypicality); put ``X`` on the scale you will predict on.
    Missing panel values are refused at prediction, by subject and biomarker.

    scikit-learn's estimator checks pass with ``abstain=False``. With the
    default ``abstain=True``, ``predict`` may answer ``"indeterminate"``, which
    is not one of ``classes_``, so the checks that compare predictions with the
    training labels cannot apply (listed in ``tests/classify/test_estimator.py``).
    """

    def __init__(self, panel_size: int = 10, panel: Sequence[str] | None = None, coverage: float = 0.9,
                 class_conditional: bool = False, min_probability: float = 0.5, ood_quantile: float = 0.99,
                 control_bayes_factor: float = 3.0, n_members: int = 30, C: float = 1.0,
                 calibration_fraction: float = 0.25, interval: float = 0.9, abstain: bool = True,
                 random_state: Any = 0) -> None:
        self.panel_size = panel_size
        self.panel = panel
        self.coverage = coverage
        self.class_conditional = class_conditional
        self.min_probability = min_probability
        self.ood_quantile = ood_quantile
        self.control_bayes_factor = control_bayes_factor
        self.n_members = n_members
        self.C = C
        self.calibration_fraction = calibration_fraction
        self.interval = interval
        self.abstain = abstain
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, *, patients: Sequence[str] | None = None) -> "SubgroupClassifier":
        """Train from a fitted mixture (or from ``X, y``).

        Parameters
        ----------
        X : FitResult, str or Path, or array-like of shape (n_samples, n_features)
            A fit (or a fit directory): its patients' biomarkers and posterior
            memberships are used. Or features used as given (no scaling).
        y : None or array-like
            ``None`` with a fit. With arrays: labels ``(n,)``, membership
            probabilities ``(n, K)`` or per-draw probabilities ``(S, n, K)``.
        patients : sequence of str, optional
            With a fit: train on these patients only (e.g. to keep others aside).

        Returns
        -------
        SubgroupClassifier
            ``self``.
        """
        check_params(self.get_params())
        data = training_data(self, X, y, patients)
        if INDETERMINATE in [str(c) for c in data.classes]:
            raise ClassifierError(f"a class may not be called '{INDETERMINATE}'")
        rng = np.random.default_rng(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # hundreds of solves of tiny systems: threads would only contend
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit(data, rng)
        return self

    def _fit(self, data: TrainingData, rng: np.random.Generator) -> None:
        train, held = holdout_split(data.targets.argmax(1), self.calibration_fraction, rng)
        candidates, size = panels.candidate_columns(data, self.panel, self.panel_size)
        columns = panels.choose_panel(data, train, candidates, size, self.C, rng)
        x = data.X[:, columns]
        complete = np.isfinite(x).all(1)
        if not complete[train].any() or not complete[held].any():
            raise ClassifierError(f"{int(complete.sum())} of {len(x)} patients have every panel biomarker "
                                  f"({', '.join(data.feature_names[j] for j in columns)}) measured: too few to "
                                  "train on some and hold out a calibration set of others; use more patients, a "
                                  "panel of biomarkers measured together in more of them, or a larger "
                                  "calibration_fraction")
        complete_held = held[complete[held]]
        is_binary = data.is_binary[columns]
        draws = data.draws[:, train]
        self.ensemble_ = fit_ensemble(x[train], draws, is_binary, self.n_members, self.C, rng)
        self.panel_curve_, self.temperature_ = cross_fit(data, train, candidates, size, columns, self.n_members,
                                                         self.C, rng)
        held_targets = data.targets[complete_held]
        raw = self.ensemble_.member_proba(x[complete_held]).mean(0)
        proba = self.ensemble_.member_proba(x[complete_held], self.temperature_).mean(0)
        self.calibration_ = {"n_heldout": int(len(complete_held)),
                             "ece_uncalibrated": expected_calibration_error(raw, held_targets),
                             "ece": expected_calibration_error(proba, held_targets)}
        self.conformal_thresholds_ = conformal_thresholds(proba, held_targets, self.coverage,
                                                          self.class_conditional)
        controls = None if data.controls is None else data.controls[:, columns]
        self.ood_ = fit_outlier_detector(x[train], data.targets[train], is_binary, controls, x[held],
                                         self.ood_quantile, self.control_bayes_factor)
        self.classes_ = np.asarray(data.classes)
        self.panel_ = np.array([data.feature_names[j] for j in columns], dtype=object)
        self.panel_is_binary_ = is_binary
        self.scaling_ = None if data.scaling is None else panel_scaling(data.scaling, self.panel_)
        self.training_ = {"data_hash": data.data_hash, "source": data.source, "n_patients": int(len(x)),
                          "n_train": int(len(train)), "n_heldout": int(len(held)),
                          "n_draws": int(data.draws.shape[0])}

    # -------------------------------------------------------------- predict
    def _values(self, X: Any) -> np.ndarray:
        """Complete panel values of ``X`` on the working scale; refuses missing values by name."""
        if not hasattr(self, "ensemble_"):
            raise ClassifierNotFittedError("this SubgroupClassifier is not fitted yet; call fit() or load() first")
        panel, binary = list(self.panel_), self.panel_is_binary_
        transforms = None if self.scaling_ is None else self.scaling_.transforms
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            values = panel_values(X, panel, binary, transforms=transforms)
        else:
            X = check_array(X, dtype=float, ensure_all_finite=False)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but SubgroupClassifier is expecting "
                                 f"{self.n_features_in_} features as input")
            names = list(self.biomarkers_)
            frame = pd.DataFrame(X[:, [names.index(b) for b in panel]], columns=panel)
            values = panel_values(frame, panel, binary, ids=np.arange(1, len(X) + 1).astype(str),
                                  transforms=transforms)
            if not np.isfinite(X).all():
                raise ClassifierError("X holds NaN or infinite values outside the panel; pass finite values, "
                                      "or a table with the panel's columns only")
        return values if self.scaling_ is None else self.scaling_.transform(values)

    def _members(self, values: np.ndarray) -> np.ndarray:
        return self.ensemble_.member_proba(values, self.temperature_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probability of each subgroup (mean over ensemble members), ``(n, K)``."""
        return self._members(self._values(X)).mean(0)

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends of each probability's ``interval`` range over ensemble members.

        The range is widened where needed to contain the point probability.
        """
        return _interval(self._members(self._values(X)), self.interval)

    def predict_sets(self, X: Any) -> np.ndarray:
        """Conformal prediction sets as ``(n, K)`` booleans (columns in ``classes_`` order)."""
        return prediction_sets(self.predict_proba(X), self.conformal_thresholds_)

    def is_ood(self, X: Any) -> np.ndarray:
        """``True`` for subjects unlike every subgroup or more like the healthy controls."""
        return self.ood_.flag(self._values(X))

    def _decide(self, proba: np.ndarray, sets: np.ndarray, ood: np.ndarray) -> np.ndarray:
        top = self.classes_[proba.argmax(1)]
        if not self.abstain:
            return top
        undecided = (sets.sum(1) > 1) | (proba.max(1) < self.min_probability) | ood
        return np.where(undecided, INDETERMINATE, top.astype(object))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable subgroup, or ``"indeterminate"`` (with ``abstain``).

        Indeterminate when the subject is out of distribution, its prediction set
        holds more than one subgroup, or its top probability is below
        ``min_probability``.
        """
        values = self._values(X)
        proba = self._members(values).mean(0)
        return self._decide(proba, prediction_sets(proba, self.conformal_thresholds_), self.ood_.flag(values))

    def predict_table(self, X: Any, subject_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Everything at once: ``subject_id``, ``subgroup``, ``p_k``, ``p_k_lo``, ``p_k_hi``,
        ``prediction_set`` (labels joined by ``|``) and ``ood``.

        ``subject_ids`` default to the ``subject_id`` column of a table, else its
        index, else 1, 2, ...
        """
        values = self._values(X)
        members = self._members(values)
        proba = members.mean(0)
        lo, hi = _interval(members, self.interval)
        sets = prediction_sets(proba, self.conformal_thresholds_)
        ood = self.ood_.flag(values)
        if subject_ids is None:
            if isinstance(X, pd.DataFrame):
                subject_ids = X["subject_id"] if "subject_id" in X.columns else X.index
            else:
                subject_ids = range(1, len(proba) + 1)
        table = pd.DataFrame({"subject_id": [str(s) for s in subject_ids],
                              "subgroup": self._decide(proba, sets, ood)})
        for j, label in enumerate(self.classes_):
            table[f"p_{label}"], table[f"p_{label}_lo"], table[f"p_{label}_hi"] = proba[:, j], lo[:, j], hi[:, j]
        table["prediction_set"] = ["|".join(str(c) for c in self.classes_[row]) for row in sets]
        table["ood"] = ood
        return table

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write the trained classifier as JSON (see :mod:`pss_bayes.classify.io`)."""
        from pss_bayes.classify.io import save_classifier

        return save_classifier(self, path)

    @classmethod
    def load(cls, path: str | Path) -> "SubgroupClassifier":
        """Read a classifier written by :meth:`save`, refusing malformed or altered files."""
        from pss_bayes.classify.io import load_classifier

        return load_classifier(path)

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn hook
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


def _interval(members: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - mass) / 2
    lo, hi = np.quantile(members, [tail, 1 - tail], axis=0)
    mean = members.mean(0)
    return np.minimum(lo, mean), np.maximum(hi, mean)
