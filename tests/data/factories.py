"""Small valid cohort tables to start tests from."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Continuous biomarkers of the fixture cohort and their modules.
MODULES = {"IFI44L": "interferon", "MX1": "interferon", "BAFF": "b_cell", "CXCL13": "b_cell"}
BINARY_MARKER = "anti_SSA"


def make_frame(n_patients: int = 12, n_controls: int = 12, seed: int = 0) -> pd.DataFrame:
    """A valid cohort table: ids, group, age/sex/centre, 4 continuous and 1 binary biomarker.

    Patients come first (``P01``...), then controls (``C01``...); row ``i`` of the
    frame is line ``i + 2`` of the CSV written from it.
    """
    rng = np.random.default_rng(seed)
    n = n_patients + n_controls
    is_patient = np.arange(n) < n_patients
    frame = pd.DataFrame({
        "subject_id": [f"P{i + 1:02d}" for i in range(n_patients)]
        + [f"C{i + 1:02d}" for i in range(n_controls)],
        "group": np.where(is_patient, "pSS", "control"),
        "age": rng.integers(25, 75, n).astype(float),
        "sex": np.where(np.arange(n) % 3 == 0, "M", "F"),
        "centre": np.where(np.arange(n) % 2 == 0, "Brest", "Oslo"),
    })
    for j, name in enumerate(MODULES):
        frame[name] = np.round(rng.normal(1.5 * is_patient * (j % 2), 1.0, n), 4)
    positive = np.where(is_patient, rng.random(n) < 0.7, False)
    positive[n_patients] = True
    frame[BINARY_MARKER] = positive.astype(int)
    return frame


def make_markers() -> pd.DataFrame:
    """The markers table of :func:`make_frame`."""
    return pd.DataFrame({"biomarker": [*MODULES, BINARY_MARKER],
                         "module": [*MODULES.values(), "autoantibody"],
                         "kind": ["continuous"] * len(MODULES) + ["binary"]})
