"""pss_bayes: Bayesian subgroup discovery in primary Sjögren's syndrome."""

__version__ = "0.1.0"

from importlib import import_module
from typing import Any

# Public names and the module each lives in. They are imported on first use, so that light
# entry points (reading a cohort, applying a saved classifier) do not pay for PyMC and ArviZ.
_EXPORTS = {
    "Cohort": "pss_bayes.data.cohort",
    "CohortError": "pss_bayes.errors",
    "CohortSummary": "pss_bayes.data.summary",
    "Comparison": "pss_bayes.compare",
    "ControlScaling": "pss_bayes.data.scaling",
    "FitResult": "pss_bayes.result",
    "MarkerTable": "pss_bayes.data.cohort",
    "ModelSpec": "pss_bayes.model.spec",
    "NotFittedError": "pss_bayes.errors",
    "PssBayesError": "pss_bayes.errors",
    "ResultFileError": "pss_bayes.errors",
    "SensitivityGrid": "pss_bayes.sensitivity",
    "SensitivityResult": "pss_bayes.sensitivity",
    "SimulatedCohort": "pss_bayes.data.simulate",
    "SimulationError": "pss_bayes.errors",
    "SimulationSettings": "pss_bayes.data.simulate",
    "SpecError": "pss_bayes.errors",
    "SubgroupClassifier": "pss_bayes.classify",
    "available_specs": "pss_bayes.model.spec",
    "cohort_from_frame": "pss_bayes.data.io",
    "compare": "pss_bayes.compare",
    "fit": "pss_bayes.inference",
    "load_cohort": "pss_bayes.data.io",
    "load_fit_dir": "pss_bayes.fit_dir",
    "load_grid": "pss_bayes.sensitivity",
    "load_spec": "pss_bayes.model.spec",
    "read_table": "pss_bayes.data.io",
    "run_sensitivity": "pss_bayes.sensitivity",
    "simulate_cohort": "pss_bayes.data.simulate",
    "write_cohort": "pss_bayes.data.io",
    "write_fit_dir": "pss_bayes.fit_dir",
    "write_markers": "pss_bayes.data.io",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pss_bayes' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
