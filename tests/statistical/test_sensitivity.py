"""Acceptance of the sensitivity analysis on cohorts built to be stable and to be fragile."""

import pandas as pd
import pytest

from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.data.simulation_settings import SimulationSettings
from pss_bayes.sensitivity import run_sensitivity
from pss_bayes.sensitivity.grid import grid_from_dict

pytestmark = pytest.mark.statistical

GRID = grid_from_dict({"grid": {"seed": 1, "draws": 150, "tune": 150, "chains": 2},
                       "variant": [{"name": "without_module", "drop_module": "each"}, {"name": "another_seed"}]})


def two_subgroups(effects: tuple[float, float, float]) -> SimulationSettings:
    """A subgroup with these interferon, inflammation and B-cell effects, and a healthy-like one."""
    return SimulationSettings(n_patients=60, n_controls=40, subgroup_weights=(0.5, 0.5),
                              modules=(("interferon", 4), ("inflammation", 3), ("b_cell", 3)),
                              module_effects=(effects, (0.0, 0.0, 0.0)), n_centres=2, age_effects=(),
                              binary_markers=(), binary_shifts=((), ()), serum_modules=())


def analyse(effects, tmp_path):
    sim = simulate_cohort(two_subgroups(effects), seed=5)
    result = run_sensitivity(sim.cohort, tmp_path / "sens", GRID, n_jobs=2, progress=False)
    return result, result.stability.set_index("variant")


def test_clear_subgroups_are_reported_stable(tmp_path):
    result, table = analyse((3.0, 3.0, 3.0), tmp_path)
    assert (table["status"] == "done").all() and (table["k_mode"] == 2).all()
    assert table["stable"].all() and table["ari_vs_reference"].min() > 0.9
    assert "**The subgroups are stable.**" in result.summary
    assert pd.read_csv(tmp_path / "sens" / "patients_stability.csv")["stability"].mean() > 0.95


def test_subgroup_driven_by_one_module_is_reported_fragile_with_its_cause(tmp_path):
    result, table = analyse((3.5, 0.0, 0.0), tmp_path)
    assert table.loc["reference", "k_mode"] == 2
    lost = table.loc["without_module_interferon"]
    assert lost["k_mode"] == 1 and not lost["stable"] and lost["n_changed"] >= 20
    assert table.drop(index="without_module_interferon")["stable"].all()
    assert "**The subgroups are not stable** in 1 of 4" in result.summary
    assert "without module 'interferon' (`without_module_interferon`): K 2 → 1; subgroup" in result.summary
    assert "disappears" in result.summary
