"""Power-scaling sensitivity: the log prior of the stored draws and the sensitivity table."""

import numpy as np
import pytest
from scipy.stats import gamma, invgamma, norm

from pss_bayes.sensitivity.psens import PRIOR_BLOCKS, THRESHOLD, _mean_shift, log_prior, power_scaling


def test_log_prior_matches_the_spec_priors(tiny_fit):
    post, spec = tiny_fit.idata.posterior, tiny_fit.spec
    lp = log_prior(tiny_fit.idata, spec)
    assert set(lp.data_vars) == {v for block in PRIOR_BLOCKS.values() for v in block}
    assert dict(lp.sizes) == {"chain": post.sizes["chain"], "draw": post.sizes["draw"]}
    d = post.isel(chain=1, draw=7)
    p = spec.priors
    binary = tiny_fit.idata.constant_data["is_binary"].to_numpy()
    expected = {
        "baseline": norm.logpdf(d["baseline"].to_numpy(), 0, np.where(binary, p.binary_baseline_sd,
                                                                       p.baseline_sd)).sum(),
        "sigma2": invgamma.logpdf(d["sigma"].to_numpy()[~binary] ** 2, p.noise_shape, scale=p.noise_scale).sum(),
        "tau2": invgamma.logpdf(d["tau"].to_numpy() ** 2, p.pooling_shape, scale=p.pooling_scale).sum(),
        "module_effect": norm.logpdf(d["component_module_effect"].to_numpy(), 0, p.module_effect_sd).sum(),
        "concentration": gamma.logpdf(float(d["concentration"]), spec.mixture.e0_shape,
                                      scale=1 / (spec.mixture.e0_rate_per_k * spec.mixture.k_max)),
    }
    for name, value in expected.items():
        assert float(lp[name].isel(chain=1, draw=7)) == pytest.approx(value), name
    assert np.isfinite(lp.to_array().to_numpy()).all()
    fixed = log_prior(tiny_fit.idata, spec.replace(mixture={"fixed_k": 3}))
    assert "concentration" not in fixed


def test_power_scaling_table(tiny_fit):
    table = power_scaling(tiny_fit.idata, tiny_fit.spec)
    k, n_modules = tiny_fit.k, tiny_fit.idata.posterior.sizes["module"]
    n_patients = tiny_fit.idata.posterior.sizes["subject"]
    assert list(table["variable"].value_counts().sort_index().items()) == [
        ("membership", n_patients), ("module_effect", k * n_modules), ("n_subgroups", 1), ("weight", k)]
    assert list(table.columns) == ["quantity", "variable", "subgroup", "module", "subject_id", "measure", "prior",
                                   "likelihood", "prior_sensitive", "likelihood_sensitive", "prior_block",
                                   "diagnosis"]
    assert np.isfinite(table[["prior", "likelihood"]].to_numpy()).all()
    assert (table.loc[table["measure"] == "psens", ["prior", "likelihood"]] >= 0).all().all()
    assert set(table.loc[table["variable"] == "membership", "measure"]) == {"mean shift"}
    assert (table["prior_sensitive"] == (table["prior"].abs() >= THRESHOLD)).all()
    conflict = table["prior_sensitive"] & table["likelihood_sensitive"]
    assert (table.loc[conflict, "diagnosis"] == "prior-data conflict").all()
    assert (table.loc[~table["prior_sensitive"], "diagnosis"] == "-").all()
    assert set(table.loc[table["prior_sensitive"], "prior_block"]) <= set(PRIOR_BLOCKS)
    assert (table.loc[~table["prior_sensitive"], "prior_block"] == "").all()
    members = tiny_fit.membership().set_index("subject_id")["subgroup"].astype(str)
    rows = table[table["variable"] == "membership"].set_index("subject_id")
    assert (rows["subgroup"] == members.loc[rows.index]).all()


def test_constant_quantity_is_not_sensitive(tiny_fit):
    idata = tiny_fit.idata.copy()
    idata.posterior["n_subgroups"][:] = tiny_fit.k
    row = power_scaling(idata, tiny_fit.spec).iloc[0]
    assert row["variable"] == "n_subgroups" and row["prior"] == 0.0 and row["likelihood"] == 0.0


def test_mean_shift_is_the_first_order_derivative():
    rng = np.random.default_rng(0)
    component = rng.normal(size=4000)
    values = 0.5 * component[:, None] + rng.normal(size=(4000, 2))
    expected = np.cov(values.T, component)[-1, :2] * np.log(2)      # d E[f] / d log2(power) = Cov(f, log p) ln 2
    np.testing.assert_allclose(_mean_shift(values, component, 0.01), expected, rtol=0.05)
    np.testing.assert_allclose(_mean_shift(values, np.zeros(4000), 0.01), 0.0, atol=1e-12)


def test_log_prior_of_subgroup_scales(tiny_sim):
    """With a spread per subgroup, each component's scale has its inverse-gamma prior around its module's."""
    from pss_bayes.inference import fit
    from pss_bayes.model.spec import load_spec

    spec = load_spec("default").replace(patient_spread={"by_subgroup": True})
    result = fit(tiny_sim.cohort, spec, seed=2, draws=10, tune=10, chains=1, extensions=0, progress=False)
    lp = log_prior(result.idata, spec)
    d = result.idata.posterior.isel(chain=0, draw=4)
    level = d["patient_spread"].to_numpy() ** 2
    has = np.isfinite(level)
    own = d["component_spread"].to_numpy()[:, has] ** 2
    a = spec.patient_spread.subgroup_shape
    expected = invgamma.logpdf(own, a, scale=(a - 1.0) * level[has]).sum()
    assert float(lp["subgroup_scale"].isel(chain=0, draw=4)) == pytest.approx(expected)
    assert "subgroup_scale" in PRIOR_BLOCKS["patient_spread"]
