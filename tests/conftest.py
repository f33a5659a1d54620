"""Shared fixtures: a tiny simulated cohort, one small fit and one quick demo run reused across tests."""

import io
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from rich.console import Console  # noqa: E402

from pss_bayes.data.simulate import simulate_cohort  # noqa: E402


@pytest.fixture(scope="session")
def tiny_sim():
    """The 'tiny' simulated cohort (70 subjects, 3 subgroups)."""
    return simulate_cohort(preset="tiny", seed=11)


@pytest.fixture(scope="session")
def tiny_fit(tiny_sim):
    """A short fit of the tiny cohort (2 chains, few draws) shared by result tests."""
    from pss_bayes.inference import fit

    return fit(tiny_sim.cohort, "default", seed=5, draws=150, tune=150, chains=2, extensions=0, n_jobs=1,
               progress=False)


class DemoRun(NamedTuple):
    """What a demo run left: its report (in its output folder) and what it printed."""

    report: Path
    printed: str

    @property
    def out(self) -> Path:
        return self.report.parent


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """The whole demo on the tiny preset with short chains, in one process, run once."""
    from pss_bayes.demo import run_demo

    buffer = io.StringIO()
    report = run_demo(tmp_path_factory.mktemp("demo") / "demo", seed=2, console=Console(file=buffer, width=100),
                      preset="tiny", draws=40, tune=40, chains=2, n_jobs=1)
    return DemoRun(report, buffer.getvalue())
