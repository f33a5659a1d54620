"""pss_bayes: Bayesian subgroup discovery in primary Sjögren's syndrome."""

from pss_bayes.data.cohort import Cohort, MarkerTable
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.data.simulate import SimulatedCohort, SimulationSettings, simulate_cohort
from pss_bayes.errors import (CohortError, NotFittedError, PssBayesError, ResultFileError,
                              SimulationError, SpecError)

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "CohortError",
    "ControlScaling",
    "MarkerTable",
    "NotFittedError",
    "PssBayesError",
    "ResultFileError",
    "SimulatedCohort",
    "SimulationError",
    "SimulationSettings",
    "SpecError",
    "__version__",
    "simulate_cohort",
]
