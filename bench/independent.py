"""Recovery on cohorts from a generator written apart from the package's simulator.

Every other recovery benchmark simulates with :func:`pss_bayes.simulate_cohort`,
whose design (one activity per module, Gaussian or Student-t noise, logit binary
markers) is the model's own. The cohorts here come from a separate generator in
this file, in raw units, with structures the model does not assume:

- ``equicorrelated``: within-module equicorrelation 0.5, 4 subgroups (one healthy-like),
  raw means 2-12 and SDs 0.3-1.5, age, sex and 3 centres, 5% missing, two binary markers
  thresholded from a latent normal (probit, not logit);
- ``ar1``: within-module AR(1) correlation 0.8 (not one factor per module);
- ``global_factor``: equicorrelation 0.3 within modules plus one factor across all
  biomarkers (correlation about 0.25 between modules);
- ``sparse_effects``: a subgroup shifts only a random half of an affected module's biomarkers;
- ``subgroup_correlation``: within-module correlation 0.2, 0.5 and 0.8 in the three
  subgroups, 0.5 in controls;
- ``uncorrelated``: no within-subject correlation at all;
- ``k5_unequal``: 5 subgroups of 35% down to 8%, effects 0.8-2 SD;
- ``k2_small``: 80 patients, 100 controls, 2 subgroups;
- ``skewed``: the ``equicorrelated`` design as log-normal concentrations (log-scale SD 0.7,
  skewness about 3), fitted as given (no log transform);
- ``two_blocks``: each module of four or more biomarkers is two groups, correlated 0.6 within
  a group and 0.2 between the groups;
- ``ar1_divided``, ``two_blocks_divided``, ``skewed_logged``: the ``ar1``, ``two_blocks`` and
  ``skewed`` cohorts after following the
  warning that loading them gives (modules of four or more biomarkers declared as two halves;
  ``transform = log`` declared for every continuous biomarker).

Each cohort is written to CSV, read back through ``load_cohort`` (markers file,
covariates ``age`` and ``sex``, batch ``centre``) and fitted with the default spec, as
``pss-bayes fit`` does. Columns as in ``bench/recovery.py`` (``cohort`` instead of
``preset``); baselines on the control-scaled patients as there.

Run::

    python bench/independent.py                       # all cohorts, seed 21
    python bench/independent.py --cohorts ar1 skewed --seeds 21 22
    python bench/independent.py --quick               # equicorrelated, 100 + 100 sweeps x 2 chains
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from _common import patients_of
from generality import cohort_main, cohort_row
from pss_bayes import Cohort, load_cohort

MODULES = (("ifn", 8), ("infl", 6), ("bcell", 5), ("tcell", 4), ("cyto", 5))
#: Correlation between the two halves of a module in the ``blocks`` design.
BLOCKS_BETWEEN = 0.2


@dataclass(frozen=True)
class Design:
    """One generating design (effects in control SDs; rows subgroups, columns modules)."""

    weights: tuple[float, ...] = (0.3, 0.25, 0.25, 0.2)
    effects: tuple[tuple[float, ...], ...] = ((2.0, 0.5, 1.2, 0.0, 0.8), (0.0, 0.0, 0.0, 0.0, 0.0),
                                              (0.8, 2.0, 0.0, -0.6, 1.6), (0.0, 0.4, 1.8, -1.6, 0.0))
    n_patients: int = 300
    n_controls: int = 330
    correlation: str = "equi"          # "equi", "ar1", "blocks" or "none"
    rho: float | tuple[float, ...] = 0.5   # one value, or one per subgroup (controls: the first)
    control_rho: float | None = None
    global_loading: float = 0.0
    sparse: bool = False
    missing: float = 0.05
    exponentiate: bool = False
    binary: bool = True
    divided: bool = False              # markers file: modules of four or more declared as two halves


COHORTS: dict[str, Design] = {
    "equicorrelated": Design(),
    "ar1": Design(correlation="ar1", rho=0.8),
    "global_factor": Design(rho=0.3, global_loading=0.5),
    "sparse_effects": Design(sparse=True, effects=((2.5, 0.0, 2.0, 0.0, 1.5), (0.0,) * 5,
                                                   (1.5, 2.5, 0.0, -2.0, 2.0), (0.0, 1.5, 2.5, -2.0, 0.0))),
    "subgroup_correlation": Design(weights=(0.35, 0.35, 0.3), rho=(0.2, 0.5, 0.8), control_rho=0.5,
                                   effects=((2.0, 0.5, 1.2, 0.0, 0.8), (0.0,) * 5, (0.5, 2.0, 0.0, -1.2, 1.6))),
    "uncorrelated": Design(correlation="none"),
    "k5_unequal": Design(weights=(0.35, 0.25, 0.18, 0.13, 0.09),
                         effects=((0.0,) * 5, (1.5, 0.0, 0.8, 0.0, 0.0), (0.0, 1.5, 0.0, 0.0, 1.2),
                                  (2.0, 0.0, 0.0, -1.5, 0.0), (0.0, 1.0, 2.0, 0.0, -1.0))),
    "k2_small": Design(weights=(0.55, 0.45), n_patients=80, n_controls=100,
                       effects=((1.8, 0.6, 1.2, 0.0, 0.8), (0.0,) * 5)),
    "skewed": Design(exponentiate=True),
    "ar1_divided": Design(correlation="ar1", rho=0.8, divided=True),
    "two_blocks": Design(correlation="blocks", rho=0.6),
    "two_blocks_divided": Design(correlation="blocks", rho=0.6, divided=True),
    "skewed_logged": Design(exponentiate=True),
}


def _correlation(size: int, kind: str, rho: float) -> np.ndarray:
    """Within-module correlation matrix of ``size`` biomarkers."""
    if kind == "none" or size == 1:
        return np.eye(size)
    if kind == "ar1":
        lags = np.abs(np.subtract.outer(np.arange(size), np.arange(size)))
        return rho ** lags
    if kind == "blocks" and size >= 4:      # two halves: rho within each, BLOCKS_BETWEEN between them
        half = np.arange(size) >= size // 2
        same = half[:, None] == half[None, :]
        return np.where(same, rho, BLOCKS_BETWEEN) + (1 - rho) * np.eye(size)
    return np.full((size, size), rho) + (1 - rho) * np.eye(size)


def _standard_noise(rng: np.random.Generator, n: int, design: Design, rho: float) -> np.ndarray:
    """Unit-variance within-subject noise of ``n`` subjects: module blocks plus an optional global factor."""
    blocks = [rng.multivariate_normal(np.zeros(size), _correlation(size, design.correlation, rho), size=n)
              for _, size in MODULES]
    z = np.hstack(blocks)
    g = design.global_loading
    return np.sqrt(1 - g ** 2) * z + g * rng.standard_normal((n, 1))


def generate(design: Design, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """A cohort table, its markers table and the patients' true subgroups (indexed by subject id)."""
    rng = np.random.default_rng(seed)
    names = [f"{m}_{i + 1:02d}" for m, size in MODULES for i in range(size)]
    module_of = np.array([m for m, size in MODULES for _ in range(size)])
    n_j = len(names)
    mean = rng.uniform(2, 12, n_j)
    sd = rng.uniform(0.3, 1.5, n_j)
    age_slope = np.where(np.isin(module_of, ["infl", "cyto"]), 0.012, 0.0) * sd
    sex_shift = np.where(module_of == "ifn", 0.25, 0.0) * sd
    centre_shift = rng.normal(0, 0.2, (3, n_j)) * sd

    k = len(design.weights)
    labels = rng.choice(k, size=design.n_patients, p=np.asarray(design.weights) / sum(design.weights))
    effects = np.zeros((k, n_j))
    for s in range(k):
        for m, (module, _) in enumerate(MODULES):
            cols = np.flatnonzero(module_of == module)
            shift = design.effects[s][m] + (rng.normal(0, 0.3, cols.size) if design.effects[s][m] else 0.0)
            if design.sparse and design.effects[s][m]:
                shift = shift * (rng.permutation(cols.size) < max(1, cols.size // 2))
            effects[s, cols] = shift

    rhos = design.rho if isinstance(design.rho, tuple) else (design.rho,) * k
    control_rho = design.control_rho if design.control_rho is not None else rhos[0]
    n = design.n_controls + design.n_patients
    z = np.empty((n, n_j))
    z[:design.n_controls] = _standard_noise(rng, design.n_controls, design, control_rho)
    for s in range(k):
        rows = design.n_controls + np.flatnonzero(labels == s)
        z[rows] = _standard_noise(rng, rows.size, design, rhos[s]) + effects[s]

    is_patient = np.arange(n) >= design.n_controls
    age = np.round(rng.uniform(20, 75, n))
    female = rng.random(n) < np.where(is_patient, 0.92, 0.75)
    centre = rng.integers(0, 3, n)
    x = (mean + sd * z + np.outer(age - 50, age_slope) + np.outer(female, sex_shift) + centre_shift[centre])
    if design.exponentiate:     # log-normal concentrations: log-scale SD 0.7 (skewness about 3)
        x = mean * np.exp(0.7 * (x - mean) / sd)
    x[rng.random(x.shape) < design.missing] = np.nan

    ids = [f"S{i:04d}" for i in range(n)]
    frame = pd.DataFrame({"subject_id": ids, "group": np.where(is_patient, "pSS", "control"), "age": age,
                          "sex": np.where(female, "F", "M"), "centre": [f"site_{c + 1}" for c in centre]})
    frame = pd.concat([frame, pd.DataFrame(np.round(x, 5), columns=names)], axis=1)
    declared = [f"{m}_{'ab'[i >= size // 2]}" if design.divided and size >= 4 else m
                for m, size in MODULES for i in range(size)]
    markers = pd.DataFrame({"biomarker": names, "module": declared, "kind": "continuous"})
    if design.binary:
        latent = np.zeros((n, 2))
        latent[is_patient] = np.column_stack([effects[labels, 0] * 0.8, effects[labels, 2] * 0.6])
        positive = latent + rng.standard_normal((n, 2)) > 1.8
        for b, name in enumerate(("anti_a", "anti_b")):
            frame[name] = positive[:, b].astype(int)
        markers = pd.concat([markers, pd.DataFrame({"biomarker": ["anti_a", "anti_b"], "module": "autoantibody",
                                                    "kind": "binary"})], ignore_index=True)
    order = rng.permutation(n)
    frame = frame.iloc[order].reset_index(drop=True)
    truth = pd.Series(labels + 1, index=[ids[i] for i in range(design.n_controls, n)], name="subgroup")
    return frame, markers, truth


def read_back(name: str, seed: int) -> tuple[Cohort, pd.Series]:
    """Generate one cohort, write it to CSV with its markers file and read it back (markers file,
    covariates ``age`` and ``sex``, batch ``centre``); the cohort and the patients' true subgroups."""
    frame, markers, truth = generate(COHORTS[name], seed)
    if name.endswith("_logged"):
        markers["transform"] = np.where(markers["kind"] == "continuous", "log", "")
    with tempfile.TemporaryDirectory() as folder:
        frame.to_csv(Path(folder) / "cohort.csv", index=False)
        markers.to_csv(Path(folder) / "markers.csv", index=False)
        cohort = load_cohort(Path(folder) / "cohort.csv", Path(folder) / "markers.csv",
                             covariates=("age", "sex"), batch="centre")
    return cohort, truth


def run_one(name: str, seed: int, quick: bool, model: str = "default") -> dict[str, Any]:
    """Generate, write and read back one cohort, fit it, run the baselines; one row of the table."""
    cohort, truth = read_back(name, seed)
    return cohort_row(name, seed, cohort, patients_of(cohort, truth), len(COHORTS[name].weights), quick, model)


def main(argv: Sequence[str] | None = None) -> int:
    return cohort_main(argv, __doc__, (21,), list(COHORTS), "equicorrelated", run_one, "Independently generated cohorts")


if __name__ == "__main__":
    sys.exit(main())
