"""K-fold split and the combination of held-out log-likelihoods."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from pss_bayes.comparison_kfold import assign_folds, kfold_elpd


def test_folds_are_stratified_balanced_and_seeded(tiny_sim):
    cohort = tiny_sim.cohort
    fold = assign_folds(cohort, 4, seed=2)
    assert set(fold) == {0, 1, 2, 3}
    for f in range(4):
        assert cohort.is_patient[fold == f].any() and (~cohort.is_patient[fold == f]).any()
    sizes = np.bincount(fold[cohort.is_patient])
    assert sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(fold, assign_folds(cohort, 4, seed=2))
    assert not np.array_equal(fold, assign_folds(cohort, 4, seed=3))


def _loglik(rng, subjects, shift=0.0):
    values = rng.normal(-5.0 + shift, 0.3, (2, 50, len(subjects)))
    return xr.DataArray(values, dims=("chain", "draw", "subject"), coords={"subject": subjects})


def test_kfold_elpd_combines_folds_and_compares_with_loo():
    rng = np.random.default_rng(0)
    subjects = [f"S{i}" for i in range(12)]
    full = _loglik(rng, subjects)
    loo = az.loo(az.InferenceData(log_likelihood=xr.Dataset({"y": full})), pointwise=True, reff=1.0)
    folds = [_loglik(rng, subjects[i::3], shift=-0.2) for i in range(3)]
    result = kfold_elpd(folds, loo, full)
    by_subject = {}
    for fold in folds:
        values = fold.to_numpy().reshape(-1, fold.sizes["subject"])
        by_subject.update(zip(fold.coords["subject"].to_numpy(),
                              np.log(np.exp(values).mean(0))))
    expected = np.array([by_subject[s] for s in subjects])
    np.testing.assert_allclose(result["loo_i"].to_numpy(), expected)
    assert result["elpd_loo"] == pytest.approx(expected.sum())
    assert result["p_loo"] > 0                                    # held-out fits worse than in-sample
    table = az.compare({"cv": result, "psis": loo}, ic="loo")
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table.loc["cv", "elpd_diff"] > 0
