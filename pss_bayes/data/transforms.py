"""Declared transformations of biomarker values (the markers table's ``transform`` column).

Concentrations are usually analysed on a log scale: a skewed biomarker fitted as
given can make the model describe one subgroup by several. A transformation is
declared per biomarker in the markers table and applied by the control-referenced
scaling (:class:`~pss_bayes.data.scaling.ControlScaling`), so the cohort keeps the
values as given, and a fit directory and a classifier file apply the same
transformation to everyone they see, new patients included.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np

NONE = "none"


class Transform(NamedTuple):
    """A monotone map of biomarker values, its inverse, and the values it takes."""

    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    lower: float            # values must be above this (``-inf``: any number)
    domain: str             # plain words for messages


TRANSFORMS: dict[str, Transform] = {
    NONE: Transform(lambda x: x, lambda x: x, -np.inf, "any number"),
    "log": Transform(np.log, np.exp, 0.0, "positive values"),
    "log2": Transform(np.log2, np.exp2, 0.0, "positive values"),
    "log10": Transform(np.log10, lambda x: np.power(10.0, x), 0.0, "positive values"),
    "log1p": Transform(np.log1p, np.expm1, -1.0, "values above -1"),
}


def apply(values: np.ndarray, transforms: Sequence[str]) -> np.ndarray:
    """Each column of ``values`` (subjects x biomarkers) through its transformation; NaN stays NaN.

    Values outside a transformation's domain become NaN; loading a cohort refuses them
    first (:func:`first_outside`).
    """
    values = np.asarray(values, dtype=float)
    out = values.copy()
    for j, name in enumerate(transforms):
        if name != NONE:
            column = values[..., j]
            inside = ~outside_domain(column, name)
            out[..., j] = np.where(inside, TRANSFORMS[name].forward(np.where(inside, column, 1.0)), np.nan)
    return out


def invert(values: np.ndarray, transforms: Sequence[str]) -> np.ndarray:
    """The inverse of :func:`apply`, column by column."""
    out = np.asarray(values, dtype=float).copy()
    for j, name in enumerate(transforms):
        if name != NONE:
            out[..., j] = TRANSFORMS[name].inverse(out[..., j])
    return out


def outside_domain(values: np.ndarray, transform: str) -> np.ndarray:
    """Which observed values lie outside ``transform``'s domain (missing ones do not)."""
    return np.asarray(values, dtype=float) <= TRANSFORMS[transform].lower


def first_outside(column: np.ndarray, transform: str) -> int | None:
    """Position of the first observed value outside ``transform``'s domain, or ``None``."""
    outside = np.flatnonzero(outside_domain(column, transform))
    return int(outside[0]) if outside.size else None
