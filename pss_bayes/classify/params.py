"""Validation of ``SubgroupClassifier`` parameters, shared by ``fit`` and by reading a saved file."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pss_bayes.errors import ClassifierError

_OPEN_UNIT = ("coverage", "ood_quantile", "calibration_fraction", "interval")
_COUNTS = ("panel_size", "n_members")
_POSITIVE = ("C", "control_bayes_factor")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_params(params: Mapping[str, Any]) -> None:
    """Raise :class:`~pss_bayes.errors.ClassifierError` naming the first invalid parameter.

    Parameters
    ----------
    params
        The estimator's parameters (``get_params()``).
    """
    def bad(name: str, rule: str) -> ClassifierError:
        return ClassifierError(f"SubgroupClassifier: {name}={params[name]!r} {rule}")

    for name in _OPEN_UNIT:
        if not _number(params[name]) or not 0 < params[name] < 1:
            raise bad(name, "must be a number strictly between 0 and 1")
    for name in _COUNTS:
        if not isinstance(params[name], (int, np.integer)) or isinstance(params[name], bool) or params[name] < 1:
            raise bad(name, "must be a whole number of at least 1")
    for name in _POSITIVE:
        if not _number(params[name]) or not 0 < params[name] < np.inf:
            raise bad(name, "must be a positive number")
    if not _number(params["min_probability"]) or not 0 <= params["min_probability"] <= 1:
        raise bad("min_probability", "must lie between 0 and 1")
    panel = params["panel"]
    if panel is not None and (isinstance(panel, str) or len(panel) == 0 or len(set(panel)) != len(panel)):
        raise bad("panel", "must be a non-empty list of distinct biomarker names")
    for name in ("class_conditional", "abstain"):
        if not isinstance(params[name], (bool, np.bool_)):
            raise bad(name, "must be True or False")
