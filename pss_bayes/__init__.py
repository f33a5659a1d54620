"""pss_bayes: Bayesian subgroup discovery in primary Sjögren's syndrome."""

__version__ = "0.1.0"

from pss_bayes.data.cohort import Cohort, MarkerTable  # noqa: E402
from pss_bayes.data.io import cohort_from_frame, load_cohort, read_table, write_cohort, write_markers  # noqa: E402
from pss_bayes.data.scaling import ControlScaling  # noqa: E402
from pss_bayes.data.simulate import SimulatedCohort, SimulationSettings, simulate_cohort  # noqa: E402
from pss_bayes.data.summary import CohortSummary  # noqa: E402
from pss_bayes.errors import (CohortError, NotFittedError, PssBayesError, ResultFileError,  # noqa: E402
                              SimulationError, SpecError)
from pss_bayes.model.spec import ModelSpec, available_specs, load_spec  # noqa: E402
from pss_bayes.inference import fit  # noqa: E402
from pss_bayes.result import FitResult  # noqa: E402
from pss_bayes.fit_dir import load_fit_dir, write_fit_dir  # noqa: E402
from pss_bayes.compare import Comparison, compare  # noqa: E402
from pss_bayes.sensitivity import SensitivityGrid, SensitivityResult, load_grid, run_sensitivity  # noqa: E402
from pss_bayes.classify import SubgroupClassifier  # noqa: E402

__all__ = [
    "Cohort",
    "CohortError",
    "Comparison",
    "CohortSummary",
    "ControlScaling",
    "FitResult",
    "MarkerTable",
    "ModelSpec",
    "NotFittedError",
    "PssBayesError",
    "ResultFileError",
    "SensitivityGrid",
    "SensitivityResult",
    "SimulatedCohort",
    "SimulationError",
    "SimulationSettings",
    "SpecError",
    "SubgroupClassifier",
    "__version__",
    "available_specs",
    "cohort_from_frame",
    "compare",
    "fit",
    "load_cohort",
    "load_fit_dir",
    "load_grid",
    "load_spec",
    "read_table",
    "run_sensitivity",
    "simulate_cohort",
    "write_cohort",
    "write_fit_dir",
    "write_markers",
]
