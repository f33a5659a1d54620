"""Reading new patients' panel values, refusing anything the classifier cannot use.

A table of new patients needs ``subject_id`` (in a file; in memory the index
serves when the column is absent) and one column per panel biomarker, in the
fit's raw units. Other columns (``group``, covariates, notes) are ignored, so a
table of patients only is normal. Every value of a panel column must be a
number (0 or 1 for binary markers); missing values are refused, not imputed.
Errors name the file, the column, the line (or row) and the subject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pss_bayes.data._checks import check_ids
from pss_bayes.data._table import Origin, normalise_columns, parse_numeric, quoted, require_columns, shown
from pss_bayes.data.io import _read
from pss_bayes.data.transforms import NONE, TRANSFORMS, outside_domain
from pss_bayes.errors import ClassifierError


def panel_values(frame: pd.DataFrame, panel: Sequence[str], is_binary: Sequence[bool],
                 origin: Origin = Origin(None), ids: np.ndarray | None = None,
                 transforms: Sequence[str] | None = None) -> np.ndarray:
    """The panel columns of ``frame`` as a float matrix (subjects x panel), raw units.

    Parameters
    ----------
    frame
        One row per subject.
    panel, is_binary
        Panel biomarkers and whether each is binary.
    origin
        Where the table came from (for messages).
    ids
        Subject ids (default: the ``subject_id`` column, else the index).
    transforms
        Each panel biomarker's declared transformation (default: none), whose domain
        its values must lie in.

    Raises
    ------
    ClassifierError
        If a panel column is absent, or a value is missing, not a number,
        infinite, not 0/1 for a binary marker, or outside its transformation's domain.
    """
    if ids is None:
        ids = frame["subject_id"].astype(str).to_numpy() if "subject_id" in frame.columns \
            else frame.index.astype(str).to_numpy()
    absent = [b for b in panel if b not in frame.columns]
    if absent:
        raise ClassifierError(f"{origin.name}: the classifier's panel biomarker column(s) {quoted(absent)} "
                              f"are missing; the table needs subject_id and {quoted(panel)}.")
    out = np.empty((len(frame), len(panel)))
    for j, (name, binary) in enumerate(zip(panel, is_binary)):
        parsed = parse_numeric(frame[name])
        problems = [(parsed.missing, "missing value ({cell}); the classifier does not impute missing (NaN) "
                     "panel values: measure it or leave the subject out"),
                    (parsed.bad, "{cell} is not a number"),
                    (np.isinf(parsed.values), "{cell} is infinite")]
        if binary:
            problems.append((~parsed.missing & ~parsed.bad & ~np.isin(parsed.values, [0.0, 1.0]),
                             "{cell} is not 0 or 1, and this biomarker is binary"))
        transform = NONE if transforms is None else transforms[j]
        if transform != NONE:
            problems.append((~parsed.missing & ~parsed.bad & outside_domain(parsed.values, transform),
                             "{cell} is outside the domain of the transform '" + transform + "' this biomarker "
                             "was fitted with, which needs " + TRANSFORMS[transform].domain))
        for mask, text in problems:
            if mask.any():
                pos = int(np.flatnonzero(mask)[0])
                more = f" ({int(mask.sum()) - 1} more row(s) like it)" if mask.sum() > 1 else ""
                raise ClassifierError(f"{origin.where(name, pos, ids[pos])}: "
                                      f"{text.format(cell=shown(parsed.text[pos]))}{more}.")
        out[:, j] = parsed.values
    return out


def read_new_patients(path: str | Path, panel: Sequence[str], is_binary: Sequence[bool],
                      transforms: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV, TSV or Parquet table of new patients: ``(subject ids, panel values)`` as given."""
    frame, origin = _read(path)
    frame = normalise_columns(frame, origin)
    require_columns(frame, ("subject_id",), origin, "table of new patients")
    ids = check_ids(frame, origin)
    return ids, panel_values(frame, panel, is_binary, origin, ids, transforms)
