"""Estimated Student-t degrees of freedom: the slice sampler and the df update of the Gibbs engine."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pss_bayes.model.gibbs import GibbsSampler, slice_sample
from pss_bayes.model.spec import load_spec
from tests.model.params import make_data, make_spec


def test_slice_sampler_draws_from_its_target():
    rng = np.random.default_rng(0)
    x, draws = 3.0, []
    for _ in range(4000):
        x = slice_sample(lambda v: stats.gamma.logpdf(np.exp(v), 3.0) + v, x, rng)
        draws.append(np.exp(x))
    assert np.mean(draws) == pytest.approx(3.0, abs=0.15)
    assert np.var(draws) == pytest.approx(3.0, abs=0.4)
    assert stats.kstest(draws[::5], stats.gamma(3.0).cdf).pvalue > 1e-3


def _df_chain(z: np.ndarray, sweeps: int = 300) -> np.ndarray:
    spec = make_spec("student_t")
    sampler = GibbsSampler(make_data(spec), spec, seed=1)
    nu, out = 4.0, []
    for _ in range(sweeps):
        nu = sampler._draw_df(nu, z ** 2)
        out.append(nu)
    return np.array(out[50:])


def test_df_is_recovered_from_student_residuals():
    z = stats.t.rvs(5.0, size=20_000, random_state=np.random.default_rng(1))
    nu = _df_chain(z)
    assert 4.0 < np.median(nu) < 6.5


def test_df_is_large_for_normal_residuals():
    z = np.random.default_rng(2).standard_normal(20_000)
    assert np.median(_df_chain(z)) > 25


def test_df_is_fixed_when_a_spec_file_sets_it(tmp_path):
    path = tmp_path / "fixed.toml"
    path.write_text('[likelihood]\nfamily = "student_t"\ndf = 6\n')
    assert not load_spec(path).likelihood.df_estimated
    assert load_spec("default").likelihood.df_estimated
    assert not load_spec("default").replace(likelihood={"df": 5}).likelihood.df_estimated
    assert not load_spec("normal").likelihood.df_estimated


def test_fit_reports_df_and_psens_sees_its_prior():
    from pss_bayes import fit, simulate_cohort
    from pss_bayes.sensitivity.psens import log_prior

    spec = make_spec("student_t", fixed_k=0)
    result = fit(simulate_cohort(preset="tiny", seed=4).cohort, spec, seed=3, draws=30, tune=30, chains=2,
                 extensions=0, progress=False)
    df = result.idata.posterior["df"]
    assert df.dims == ("chain", "draw") and bool((df > 0).all()) and float(df.std()) > 0
    assert "df" in log_prior(result.idata, spec)
    assert "Student-t degrees of freedom:" in result.summary()
