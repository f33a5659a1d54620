"""pss_bayes: Bayesian subgroup discovery in primary Sjögren's syndrome."""

from pss_bayes.data.cohort import Cohort, MarkerTable
from pss_bayes.data.io import cohort_from_frame, load_cohort, read_table, write_cohort, write_markers
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.data.summary import CohortSummary
from pss_bayes.errors import CohortError, NotFittedError, PssBayesError, ResultFileError, SpecError

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "CohortError",
    "CohortSummary",
    "ControlScaling",
    "MarkerTable",
    "NotFittedError",
    "PssBayesError",
    "ResultFileError",
    "SpecError",
    "__version__",
    "cohort_from_frame",
    "load_cohort",
    "read_table",
    "write_cohort",
    "write_markers",
]
