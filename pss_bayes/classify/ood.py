"""Out-of-distribution flag: a subject unlike every subgroup, or more like the healthy controls.

The panel of the training patients is described by a density per subgroup
(multivariate normal on the continuous markers, independent Bernoulli on the
binary ones, fitted with the patients' membership probabilities as weights)
mixed with the subgroups' shares; the healthy controls get a density of the
same form. A subject is flagged when either rule fires:

- atypical: ``-log p_patients(x)`` exceeds a threshold set on held-out
  patients who played no part in fitting the densities, the
  ``ceil(quantile * (n + 1))``-th smallest of their scores (the largest when
  ``n`` is too small). A new patient exchangeable with the held-out ones is
  flagged by this rule with probability at most ``1 - quantile`` (or
  ``1 / (n + 1)``); a subject far from every subgroup is flagged.
- control-like: the Bayes factor ``p_controls(x) / p_patients(x)`` exceeds
  ``control_bayes_factor`` (default 3, "substantial" evidence on Jeffreys'
  scale): the panel is clearly better explained by the healthy controls than
  by the patients. A threshold set on patients' own scores would not do: when
  the fit has a healthy-like subgroup, its patients look like controls and
  would set the bar above almost every control. Those patients' panels cannot
  be told apart from a control's, so the flag also fires on some of them;
  a higher factor spares more of them and catches fewer controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.special import logsumexp

#: Covariances are shrunk towards their diagonal by ``min(1, c / n_eff)``
#: (c continuous markers, n_eff weighted patients) and floored at this variance.
MIN_VARIANCE = 1e-4


@dataclass(frozen=True, eq=False)
class GroupDensity:
    """Normal density of the continuous markers times Bernoulli of the binary ones."""

    mean: np.ndarray
    cov: np.ndarray
    rate: np.ndarray

    def log_density(self, continuous: np.ndarray, binary: np.ndarray) -> np.ndarray:
        """Log density of each row (continuous and binary panel parts given separately)."""
        out = np.zeros(len(continuous))
        if self.mean.size:
            chol = np.linalg.cholesky(self.cov)
            solved = np.linalg.solve(chol, (continuous - self.mean).T)
            out += -0.5 * (solved ** 2).sum(0) - np.log(np.diag(chol)).sum() \
                - 0.5 * self.mean.size * np.log(2 * np.pi)
        if self.rate.size:
            out += (binary * np.log(self.rate) + (1 - binary) * np.log1p(-self.rate)).sum(1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "cov": self.cov.tolist(), "rate": self.rate.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GroupDensity":
        mean = np.asarray(data["mean"], dtype=float).reshape(-1)
        cov = np.asarray(data["cov"], dtype=float).reshape(mean.size, mean.size)
        rate = np.asarray(data["rate"], dtype=float).reshape(-1)
        if mean.size:
            np.linalg.cholesky(cov)  # raises LinAlgError unless positive definite
        if np.any((rate <= 0) | (rate >= 1)):
            raise ValueError("binary positivity rates must lie strictly between 0 and 1")
        return cls(mean, cov, rate)


def fit_density(continuous: np.ndarray, binary: np.ndarray, weights: np.ndarray) -> GroupDensity:
    """Weighted density of one group from complete rows."""
    n_eff = max(float(weights.sum()), 1e-9)
    w = weights / n_eff
    mean = w @ continuous
    centred = continuous - mean
    cov = (centred * w[:, None]).T @ centred
    shrink = min(1.0, continuous.shape[1] / n_eff)
    cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
    cov[np.diag_indices_from(cov)] = np.maximum(np.diag(cov), MIN_VARIANCE)
    rate = (weights @ binary + 0.5) / (n_eff + 1.0)
    return GroupDensity(mean, cov, rate)


def upper_quantile(scores: np.ndarray, quantile: float) -> float:
    """The ``ceil(quantile * (n + 1))``-th smallest score, capped at the largest."""
    ordered = np.sort(scores)
    rank = min(int(np.ceil(quantile * (len(ordered) + 1))), len(ordered))
    return float(ordered[rank - 1])


@dataclass(frozen=True, eq=False)
class OutlierDetector:
    """Densities of the subgroups (and controls) on the panel, with the two thresholds.

    Attributes
    ----------
    is_binary
        Per panel marker.
    subgroups, shares
        One density per subgroup and the subgroups' shares of patients.
    control
        Density of the healthy controls, or ``None`` when none were available
        (then only the atypicality rule applies).
    atypical_threshold
        Threshold of the atypicality score.
    control_log_bayes_factor
        Log Bayes factor (controls vs patients) above which a subject is control-like.
    """

    is_binary: np.ndarray
    subgroups: tuple[GroupDensity, ...]
    shares: np.ndarray
    control: GroupDensity | None
    atypical_threshold: float
    control_log_bayes_factor: float

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return X[:, ~self.is_binary], X[:, self.is_binary]

    def scores(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Atypicality and control-likeness of each row of complete panel values."""
        parts = self._parts(X)
        by_group = np.stack([g.log_density(*parts) for g in self.subgroups], axis=1)
        patients = logsumexp(by_group + np.log(self.shares), axis=1)
        control = None if self.control is None else self.control.log_density(*parts) - patients
        return -patients, control

    def flag(self, X: np.ndarray) -> np.ndarray:
        """``True`` where the subject is atypical of patients or more probably a healthy control."""
        atypical, control = self.scores(X)
        flagged = atypical > self.atypical_threshold
        if control is not None:
            flagged |= control > self.control_log_bayes_factor
        return flagged

    def to_dict(self) -> dict[str, Any]:
        return {"subgroups": [g.to_dict() for g in self.subgroups], "shares": self.shares.tolist(),
                "control": None if self.control is None else self.control.to_dict(),
                "atypical_threshold": self.atypical_threshold,
                "control_log_bayes_factor": self.control_log_bayes_factor}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], is_binary: np.ndarray) -> "OutlierDetector":
        """Rebuild from :meth:`to_dict` output (raises ``KeyError``/``ValueError`` on bad content)."""
        subgroups = tuple(GroupDensity.from_dict(g) for g in data["subgroups"])
        for g in subgroups + (() if data["control"] is None else (GroupDensity.from_dict(data["control"]),)):
            if g.mean.size != (~is_binary).sum() or g.rate.size != is_binary.sum():
                raise ValueError("a density does not match the panel's continuous and binary markers")
        shares = np.asarray(data["shares"], dtype=float)
        if shares.shape != (len(subgroups),) or np.any(shares <= 0):
            raise ValueError("'shares' must hold one positive share per subgroup")
        control = None if data["control"] is None else GroupDensity.from_dict(data["control"])
        thresholds = (float(data["atypical_threshold"]), float(data["control_log_bayes_factor"]))
        if not np.isfinite(thresholds).all():
            raise ValueError("the OOD thresholds must be finite numbers")
        return cls(is_binary, subgroups, shares, control, *thresholds)


def fit_outlier_detector(train: np.ndarray, targets: np.ndarray, is_binary: np.ndarray,
                         controls: np.ndarray | None, holdout: np.ndarray, quantile: float,
                         control_bayes_factor: float) -> OutlierDetector:
    """Fit the densities on training patients (and controls), thresholds on held-out patients.

    Rows with a missing panel value are left out of every step. ``holdout`` must
    hold at least one complete row.
    """
    complete = np.isfinite(train).all(1)
    cont, binary = train[complete][:, ~is_binary], train[complete][:, is_binary]
    subgroups = tuple(fit_density(cont, binary, targets[complete, k]) for k in range(targets.shape[1]))
    shares = np.clip(targets.mean(0), 1e-6, None)
    shares = shares / shares.sum()
    control = None
    if controls is not None:
        controls = controls[np.isfinite(controls).all(1)]
        if len(controls) >= 3:
            control = fit_density(controls[:, ~is_binary], controls[:, is_binary], np.ones(len(controls)))
    detector = OutlierDetector(is_binary, subgroups, shares, None, np.inf, np.inf)
    atypical, _ = detector.scores(holdout[np.isfinite(holdout).all(1)])
    return OutlierDetector(is_binary, subgroups, shares, control, upper_quantile(atypical, quantile),
                           float(np.log(control_bayes_factor)))
