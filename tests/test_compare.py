"""compare() on the tiny cohort: the table, weights, files, K-fold fallback and reuse of fits."""

import numpy as np
import pandas as pd
import pytest

import pss_bayes.comparison_fits as comparison_fits
from pss_bayes.compare import TABLE_COLUMNS, candidates, compare
from pss_bayes.comparison_kfold import assign_folds, kfold_jobs
from pss_bayes.errors import SpecError
from pss_bayes.model.spec import load_spec

REQUIRED = ["model", "k", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "n_pareto_k_bad", "stacking_weight",
            "pseudo_bma_weight", "bic", "icl", "method"]
SAMPLER = dict(seed=3, draws=25, tune=25, chains=2, n_jobs=1, progress=False)


def test_candidates_names_roles_and_duplicates():
    found = candidates([2, 1, "normal", "default", load_spec("normal").replace(description="same model?")], "default")
    assert [(c.name, c.role, c.k) for c in found] == [
        ("default_k1", "k_sweep", 1), ("default_k2", "k_sweep", 2), ("default", "sparse", None),
        ("normal", "variant", None), ("normal_2", "variant", None)]
    assert found[1].spec.mixture.fixed_k == 2 and found[1].spec.likelihood.family == "student_t"
    with pytest.raises(SpecError, match="at least 1"):
        candidates([0, 2], "default")


@pytest.fixture(scope="module")
def cross_validated(tiny_sim, tmp_path_factory):
    """Normal-family K sweep, every model scored by 2-fold CV (max_bad_pareto=-1 sends all to K-fold)."""
    cache = tmp_path_factory.mktemp("compare")
    result = compare(tiny_sim.cohort, [1, 2], base="normal", folds=2, max_bad_pareto=-1, cache_dir=cache, **SAMPLER)
    return result, cache


def test_table_columns_and_weights(cross_validated):
    result, _ = cross_validated
    table = result.table
    assert list(table.columns) == list(TABLE_COLUMNS) and set(REQUIRED) <= set(table.columns)
    assert list(table["model"]) == list(table.sort_values("elpd_loo", ascending=False)["model"])
    assert sorted(table["model"]) == ["normal", "normal_k1", "normal_k2"]
    assert table.set_index("model")["k"].astype(object).fillna(0).to_dict() == {
        "normal_k1": 1, "normal_k2": 2, "normal": 0}
    assert (table["elpd_diff"] >= 0).all() and table["elpd_diff"].iloc[0] == 0
    assert table["stacking_weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert table["pseudo_bma_weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert table.loc[table["k"].notna(), "bic"].notna().all() and table.loc[table["k"].isna(), "bic"].isna().all()
    k = result.k_table
    assert k["prior"].sum() == pytest.approx(1.0, abs=1e-6) and k["posterior"].sum() == pytest.approx(1.0)
    assert k["stacking_weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert result.verdict.startswith("**Preferred: K = ")


def test_kfold_fallback(cross_validated, tiny_sim):
    result, cache = cross_validated
    assert (result.table["method"] == "kfold").all() and (result.k_table["method"].dropna() != "psis-loo").all()
    assert "2-fold cross-validation" in result.verdict
    for name, elpd in result.elpd.items():
        pointwise = elpd["loo_i"].to_numpy()
        assert pointwise.shape == (tiny_sim.cohort.n_subjects,) and np.isfinite(pointwise).all()
        assert elpd["elpd_loo"] == pytest.approx(pointwise.sum())
        assert len(list((cache / "kfold" / name).glob("fold_*.nc"))) == 2


def _no_refit(*args, **kwargs):
    raise AssertionError("a saved fit was refitted")


def test_saved_fits_and_folds_are_reused(cross_validated, tiny_sim, monkeypatch):
    first, cache = cross_validated
    monkeypatch.setattr(comparison_fits, "fit", _no_refit)
    fold = assign_folds(tiny_sim.cohort, 2, seed=SAMPLER["seed"])
    job = kfold_jobs(tiny_sim.cohort, "normal_k1", first.fits["normal_k1"].spec, fold, cache)[1]
    settings = comparison_fits.FitSettings(seed=3, draws=25, tune=25, chains=2)
    held_out = comparison_fits.run_job(job, settings)
    assert held_out.sizes["subject"] == (fold == 1).sum()
    loo = compare(tiny_sim.cohort, [1, 2], base="normal", folds=0, cache_dir=cache, **SAMPLER)
    assert (loo.table["method"] == "psis-loo").all()
    unreliable = loo.table[loo.table["n_pareto_k_bad"] > 5]
    assert all(f"`{m}`" in loo.verdict for m in unreliable["model"])
    with pytest.raises(AssertionError, match="refitted"):
        comparison_fits.run_job(job, comparison_fits.FitSettings(seed=4, draws=25, tune=25, chains=2))


def test_written_files(cross_validated):
    result, cache = cross_validated
    written = {p.name for p in result.write(cache, command=["pss-bayes", "compare"])}
    assert {"comparison.csv", "k_summary.csv", "comparison.md", "comparison.png", "run.json", "cohort.parquet",
            "markers.csv", "normal_k1.nc", "normal_k2.nc", "normal.nc"} <= written
    table = pd.read_csv(cache / "comparison.csv")
    assert set(REQUIRED) <= set(table.columns)
    assert sorted(table["k"].dropna()) == [1, 2] and table["k"].isna().sum() == 1
    assert set(table["method"]) == {"kfold"}
    assert "## Verdict" in (cache / "comparison.md").read_text()


def test_one_unreliable_model_sends_every_model_to_the_same_folds(cross_validated, tiny_sim, monkeypatch):
    """K-fold elpd is lower than PSIS-LOO's, so one model's fallback moves every row to the same folds."""
    import pss_bayes.compare as compare_module

    _, cache = cross_validated
    calls = iter(range(100))
    monkeypatch.setattr(compare_module, "n_bad_pareto", lambda elpd: 10 if next(calls) == 0 else 0)
    result = compare(tiny_sim.cohort, [1, 2], base="normal", folds=2, max_bad_pareto=5, cache_dir=cache, **SAMPLER)
    assert (result.table["method"] == "kfold").all()
    assert "by 2-fold cross-validation" in result.verdict or "2-fold cross-validation ranks" in result.verdict
    assert "so every model's elpd comes from the same 2-fold cross-validation" in result.verdict
    assert "PSIS-LOO ranks" not in result.verdict


@pytest.mark.parametrize("options, message", [
    ({"folds": 1}, "folds (--folds) must be 0"), ({"folds": -2}, "folds (--folds) must be 0"),
    ({"loo_draws": 0}, "loo_draws (--loo-draws)"), ({"draws": 0}, "draws (--draws)"),
])
def test_impossible_options_refused_before_any_fit(tiny_sim, monkeypatch, options, message):
    monkeypatch.setattr(comparison_fits, "fit", _no_refit)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare(tiny_sim.cohort, [1], base="normal", **{**SAMPLER, **options})


def test_spec_names_become_safe_file_names(tmp_path):
    spec = tmp_path / "odd.toml"
    spec.write_text('name = "../../escaped <b>spec</b>"\n[likelihood]\nfamily = "normal"\n')
    found = candidates([1, str(spec)], "default")
    assert [c.name for c in found] == ["default_k1", "default", "escaped_b_spec_b"]
    assert all("/" not in c.name and not c.name.startswith(".") for c in found)
