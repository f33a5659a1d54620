"""compare() finds the true number of subgroups on small simulated cohorts (and no phantom ones)."""

import pytest

from pss_bayes.compare import compare
from pss_bayes.comparison_report import k_choices
from pss_bayes.data.simulate import simulate_cohort

pytestmark = pytest.mark.statistical


@pytest.mark.parametrize("preset, truth", [("one_subgroup", 1), ("k2", 2)])
def test_loo_and_k_posterior_find_the_true_k(preset, truth):
    sim = simulate_cohort(preset=preset, seed=5, n_patients=150, n_controls=100)
    assert sim.n_subgroups == truth
    result = compare(sim.cohort, [1, 2, 3], base="normal", seed=2, draws=300, tune=300, chains=2, n_jobs=2,
                     folds=0, progress=False)
    choice = k_choices(result.k_table)
    by_k = result.k_table.set_index("k")
    assert choice["loo"] == truth or by_k.loc[truth, "elpd_diff"] <= by_k.loc[truth, "dse"]
    assert choice["posterior"] == truth
    assert result.verdict.startswith(f"**Preferred: K = {truth}")
