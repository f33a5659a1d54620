"""Shared fixtures: a tiny simulated cohort and one small fit reused across tests."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from pss_bayes.data.simulate import simulate_cohort  # noqa: E402


@pytest.fixture(scope="session")
def tiny_sim():
    """The 'tiny' simulated cohort (70 subjects, 3 subgroups)."""
    return simulate_cohort(preset="tiny", seed=11)


@pytest.fixture(scope="session")
def tiny_fit(tiny_sim):
    """A short fit of the tiny cohort (2 chains, few draws) shared by result tests."""
    from pss_bayes.inference import fit

    return fit(tiny_sim.cohort, "default", seed=5, draws=150, tune=150, chains=2, n_jobs=1,
               progress=False)
