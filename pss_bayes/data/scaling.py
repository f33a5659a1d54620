"""Control-referenced scaling of biomarkers.

Each continuous biomarker is taken through its declared transformation (e.g. a
logarithm; :mod:`pss_bayes.data.transforms`), then centred on the healthy controls'
median and divided by a robust estimate of their standard deviation, so that
"+1.8" reads as "1.8 control SDs above the typical healthy control" (on the
transformed scale). The scaling is fitted on controls only, applied to everyone,
invertible, and serialisable to plain JSON so that a classifier applies exactly the
same scaling to new patients' values as given. Binary markers pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from pss_bayes.data.cohort import BINARY, Cohort
from pss_bayes.data.transforms import NONE, TRANSFORMS, apply, invert
from pss_bayes.errors import ResultFileError

#: Factor that turns a median absolute deviation into a normal-consistent SD.
MAD_TO_SD = 1.482602218505602
#: Factor that turns an interquartile range into a normal-consistent SD.
IQR_TO_SD = 1.0 / 1.3489795003921634


def robust_scale(x: np.ndarray) -> tuple[float, float, str]:
    """Robust centre and scale of one sample (missing values ignored).

    Returns ``(centre, scale, method)``: the median and the MAD-based SD; when the
    MAD is zero (over half the values tie), the IQR-based SD; then the plain SD;
    and finally 1.0 so that the transform stays defined.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0, 1.0, "unit"
    centre = float(np.median(x))
    mad = float(np.median(np.abs(x - centre))) * MAD_TO_SD
    if mad > 0:
        return centre, mad, "mad"
    q75, q25 = np.percentile(x, [75, 25])
    iqr = float(q75 - q25) * IQR_TO_SD
    if iqr > 0:
        return centre, iqr, "iqr"
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    if sd > 0:
        return centre, sd, "sd"
    return centre, 1.0, "unit"


@dataclass(frozen=True)
class ControlScaling:
    """Per-biomarker robust centre and scale estimated from healthy controls.

    Attributes
    ----------
    biomarkers
        Biomarker names, in column order.
    centre, scale
        Control median and robust SD per biomarker (0 and 1 for binary markers).
    method
        How each scale was obtained (``mad``, ``iqr``, ``sd``, ``unit`` or ``binary``).
    transforms
        Declared transformation of each biomarker, applied before centring (default ``none`` for all).
    """

    biomarkers: tuple[str, ...]
    centre: tuple[float, ...]
    scale: tuple[float, ...]
    method: tuple[str, ...]
    transforms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.transforms:
            object.__setattr__(self, "transforms", (NONE,) * len(self.biomarkers))
        n = len(self.biomarkers)
        if not (len(self.centre) == len(self.scale) == len(self.method) == len(self.transforms) == n):
            raise ValueError("control scaling: biomarkers, centre, scale, method and transforms differ in length")
        for name, method, transform in zip(self.biomarkers, self.method, self.transforms):
            if transform not in TRANSFORMS:
                raise ValueError(f"control scaling: unknown transform '{transform}' for biomarker '{name}'; "
                                 f"known: {sorted(TRANSFORMS)}")
            if method == "binary" and transform != NONE:
                raise ValueError(f"control scaling: binary marker '{name}' cannot take transform '{transform}'")

    @classmethod
    def fit(cls, cohort: Cohort) -> "ControlScaling":
        """Estimate the scaling from the cohort's healthy controls (after declared transformations)."""
        controls = cohort.analysis_values[~cohort.is_patient]
        centres, scales, methods = [], [], []
        for j, kind in enumerate(cohort.markers.kinds):
            if kind == BINARY:
                c, s, m = 0.0, 1.0, "binary"
            else:
                c, s, m = robust_scale(controls[:, j])
            centres.append(c)
            scales.append(s)
            methods.append(m)
        return cls(cohort.biomarker_names, tuple(centres), tuple(scales), tuple(methods), cohort.markers.transforms)

    def subset(self, biomarkers: list[str] | tuple[str, ...]) -> "ControlScaling":
        """The scaling of some biomarkers, in the order given."""
        idx = self._columns(biomarkers)
        return ControlScaling(tuple(biomarkers), tuple(self.centre[i] for i in idx), tuple(self.scale[i] for i in idx),
                              tuple(self.method[i] for i in idx), tuple(self.transforms[i] for i in idx))

    def _columns(self, biomarkers: tuple[str, ...] | list[str] | None) -> np.ndarray:
        if biomarkers is None:
            return np.arange(len(self.biomarkers))
        position = {b: i for i, b in enumerate(self.biomarkers)}
        unknown = [b for b in biomarkers if b not in position]
        if unknown:
            raise KeyError(f"the scaling has no biomarker(s) {unknown}")
        return np.array([position[b] for b in biomarkers], dtype=int)

    def transform(self, values: np.ndarray, biomarkers: list[str] | tuple[str, ...] | None = None
                  ) -> np.ndarray:
        """Scale values as given (columns in ``biomarkers`` order, default all); NaN stays NaN."""
        idx = self._columns(biomarkers)
        values = apply(values, [self.transforms[i] for i in idx])
        return (values - np.asarray(self.centre)[idx]) / np.asarray(self.scale)[idx]

    def inverse_transform(self, scaled: np.ndarray,
                          biomarkers: list[str] | tuple[str, ...] | None = None) -> np.ndarray:
        """Map control-referenced values back to the original units."""
        idx = self._columns(biomarkers)
        scaled = np.asarray(scaled, dtype=float)
        return invert(scaled * np.asarray(self.scale)[idx] + np.asarray(self.centre)[idx],
                      [self.transforms[i] for i in idx])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {"biomarkers": list(self.biomarkers), "centre": list(self.centre),
                "scale": list(self.scale), "method": list(self.method), "transforms": list(self.transforms)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "scaling") -> "ControlScaling":
        """Rebuild from :meth:`to_dict` output, refusing malformed content."""
        try:
            names = tuple(str(b) for b in data["biomarkers"])
            centre = tuple(float(v) for v in data["centre"])
            scale = tuple(float(v) for v in data["scale"])
            method = tuple(str(v) for v in data["method"])
            transforms = tuple(str(v) for v in data.get("transforms", [NONE] * len(names)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"{source}: malformed control scaling ({exc!r}); expected lists "
                                  "'biomarkers', 'centre', 'scale', 'method' and optionally 'transforms'") from exc
        if not all(np.isfinite(centre)) or not all(np.isfinite(s) and s > 0 for s in scale):
            raise ResultFileError(f"{source}: control scaling has a non-finite centre or a "
                                  "scale that is not positive")
        try:
            return cls(names, centre, scale, method, transforms)
        except ValueError as exc:
            raise ResultFileError(f"{source}: {exc}") from None
