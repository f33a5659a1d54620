"""Sensitivity analyses: variant grids, a resumable parallel runner, stability metrics, power-scaling."""

from pss_bayes.sensitivity.analysis import SensitivityResult, analyse, run_sensitivity
from pss_bayes.sensitivity.grid import SensitivityGrid, Variant, available_grids, load_grid
from pss_bayes.sensitivity.psens import power_scaling
from pss_bayes.sensitivity.stability import FitTables, compare

__all__ = ["FitTables", "SensitivityGrid", "SensitivityResult", "Variant", "analyse", "available_grids",
           "compare", "load_grid", "power_scaling", "run_sensitivity"]
