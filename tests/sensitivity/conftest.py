"""A small grid on the tiny cohort (read from its files, as the CLI does), run once and shared."""

import dataclasses

import numpy as np
import pytest

from pss_bayes.data.io import load_cohort
from pss_bayes.sensitivity import run_sensitivity

#: Reference + 4 variants with very short chains: a check of the machinery, not of statistics.
SMALL_GRID = """
[grid]
seed = 4
draws = 20
tune = 20
chains = 1

[[variant]]
name = "normal"
likelihood = { family = "normal" }

[[variant]]
name = "no_interferon"
drop_module = "interferon"

[[variant]]
name = "bootstrap"
controls = { method = "bootstrap" }

[[variant]]
name = "another_seed"
"""

OUTPUTS = ("stability.csv", "patients_stability.csv", "psens.csv", "k_posterior.csv", "membership_change.csv",
           "effect_shifts.csv", "summary.md")
NAMES = ["reference", "normal", "no_interferon", "bootstrap", "another_seed"]


def few_patients_in_centre(cohort, n=5):
    """The cohort with two centres: 'A' holds every control and ``n`` patients, 'B' the other patients."""
    centre = np.where(cohort.is_patient, "B", "A")
    centre[np.flatnonzero(cohort.is_patient)[:n]] = "A"
    return dataclasses.replace(cohort, batch=centre, batch_name="centre")


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory, tiny_sim):
    """The tiny cohort's files and the small grid's TOML."""
    folder = tmp_path_factory.mktemp("cohort")
    tiny_sim.write(folder)
    (folder / "grid.toml").write_text(SMALL_GRID)
    return folder


@pytest.fixture(scope="session")
def file_cohort(cohort_dir):
    """The cohort as `pss-bayes sensitivity cohort.csv --markers ... --covariates age,sex --batch centre` reads it."""
    return load_cohort(cohort_dir / "cohort.csv", markers=cohort_dir / "markers.csv", covariates=("age", "sex"),
                       batch="centre")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, file_cohort, cohort_dir):
    """The small grid run in-process (joblib, one worker): the uninterrupted run other tests compare with."""
    out = tmp_path_factory.mktemp("sensitivity") / "run"
    result = run_sensitivity(file_cohort, out, cohort_dir / "grid.toml", n_jobs=1, progress=False)
    return out, result
