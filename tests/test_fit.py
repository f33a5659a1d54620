"""fit() on a tiny cohort: result structure, tables, files, round trips, errors."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from pss_bayes.errors import ResultFileError
from pss_bayes.fit_dir import load_fit_dir, write_fit_dir
from pss_bayes.inference import fit
from pss_bayes.result import FitResult


def test_posterior_has_named_dims(tiny_fit, tiny_sim):
    post = tiny_fit.idata.posterior
    assert post["effect"].dims == ("chain", "draw", "subgroup", "biomarker")
    assert post["module_effect"].dims == ("chain", "draw", "subgroup", "module")
    assert post["membership"].dims == ("chain", "draw", "subject", "subgroup")
    assert post.sizes["subject"] == tiny_sim.cohort.n_patients
    assert tiny_fit.idata.log_likelihood["y"].sizes["subject"] == tiny_sim.cohort.n_subjects
    assert np.isfinite(tiny_fit.idata.log_likelihood["y"].to_numpy()).all()


def test_tables(tiny_fit, tiny_sim):
    k = tiny_fit.n_subgroups()
    assert list(k.columns) == ["k", "probability"] and k["probability"].sum() == pytest.approx(1)
    members = tiny_fit.membership()
    K = tiny_fit.k
    assert len(members) == tiny_sim.cohort.n_patients
    assert set(members["subgroup"]) <= set(range(1, K + 1))
    probs = members[[f"p_{i}" for i in range(1, K + 1)]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(members["p_max"], probs.max(1))
    effects = tiny_fit.effects()
    assert len(effects) == K * len(tiny_sim.cohort.markers)
    assert (effects["hdi_lo"] <= effects["mean"]).all() and (effects["mean"] <= effects["hdi_hi"]).all()
    modules = tiny_fit.module_effects()
    assert set(modules["module"]) == set(tiny_sim.cohort.markers.module_names)
    co = tiny_fit.coclustering()
    assert co.shape == (len(members), len(members))
    spread = tiny_fit.patient_spread()
    assert list(spread["subgroup"].unique()) == ["all"] + [str(k) for k in range(1, K + 1)]  # typical, then own
    assert list(spread.loc[spread["subgroup"] == "all", "module"]) == [m for m in tiny_sim.cohort.markers.module_names if m != "autoantibodies"]
    assert (spread["hdi_lo"] <= spread["mean"]).all() and (spread["mean"] <= spread["hdi_hi"]).all()
    assert "Posterior over the number of subgroups" in tiny_fit.summary()
    assert "Patients' within-subgroup SD / controls' SD" in tiny_fit.summary()


def test_same_seed_same_tables(tiny_sim, tiny_fit):
    again = fit(tiny_sim.cohort, "default", seed=5, draws=150, tune=150, chains=2, extensions=0, n_jobs=1,
                progress=False)
    pd.testing.assert_frame_equal(again.membership(), tiny_fit.membership())
    pd.testing.assert_frame_equal(again.module_effects(), tiny_fit.module_effects())


def test_summary_gives_the_monte_carlo_error_of_the_k_posterior(tiny_fit, monkeypatch):
    diag = dataclasses.replace(tiny_fit.diagnostics(), k_probability_mcse={"2": 0.043, "3": 0.031})
    monkeypatch.setattr(tiny_fit, "_diagnostics", diag)
    assert "(Monte Carlo standard error up to 0.04)" in tiny_fit.summary()
    monkeypatch.setattr(tiny_fit, "_diagnostics", dataclasses.replace(diag, k_probability_mcse={"2": 0.0}))
    assert "Monte Carlo" not in tiny_fit.summary()


def test_report_gives_the_monte_carlo_error_of_the_most_probable_k(tiny_fit, monkeypatch):
    from pss_bayes.report.sections import k_section

    k_table = tiny_fit.n_subgroups()
    mode = str(int(k_table.loc[k_table["probability"].idxmax(), "k"]))
    diag = dataclasses.replace(tiny_fit.diagnostics(), k_probability_mcse={mode: 0.043})
    monkeypatch.setattr(tiny_fit, "_diagnostics", diag)
    assert ", Monte Carlo standard error 0.04)" in k_section(tiny_fit).body
    monkeypatch.setattr(tiny_fit, "_diagnostics", dataclasses.replace(diag, k_probability_mcse={mode: 0.0}))
    assert "Monte Carlo" not in k_section(tiny_fit).body


def test_subgroups_co_variation_is_checked_against_the_controls(tiny_fit, monkeypatch):
    table = tiny_fit.covariation_check()
    assert list(table.columns) == ["subgroup", "module", "r_subgroup", "r_controls", "n_patients", "n_controls",
                                   "z", "differs"]
    assert set(table["subgroup"]) <= set(tiny_fit.membership()["subgroup"])
    said = "Subgroup 2's biomarkers co-vary more tightly within their modules than the controls' do."
    monkeypatch.setattr(tiny_fit, "_covariation_warnings", [said])
    diag = tiny_fit.diagnostics()
    assert diag.model_warnings[-1] == said and diag.converged == tiny_fit._diagnostics.converged
    assert said in tiny_fit.summary()


def test_parallel_chains_match_serial(tiny_sim):
    serial = fit(tiny_sim.cohort, "diagonal", seed=2, draws=30, tune=20, chains=2, n_jobs=1, progress=False)
    parallel = fit(tiny_sim.cohort, "diagonal", seed=2, draws=30, tune=20, chains=2, n_jobs=2, progress=False)
    np.testing.assert_array_equal(serial.idata.posterior["component_effect"].to_numpy(),
                                  parallel.idata.posterior["component_effect"].to_numpy())


def test_failed_checks_continue_the_chains(tiny_sim):
    settings = dict(seed=4, draws=25, tune=20, chains=2, n_jobs=1, progress=False)
    short = fit(tiny_sim.cohort, "default", extensions=0, **settings)
    longer = fit(tiny_sim.cohort, "default", extensions=2, **settings)
    assert not short.diagnostics().converged and short.run_info["continued"] == []
    continued = longer.run_info["continued"]            # 75 draws of 2 chains cannot reach an ESS of 400
    assert [c["after_draws"] for c in continued] == [25, 50]
    assert continued[0]["warnings"] == short.diagnostics().warnings
    assert longer.run_info["draws"] == 75 and longer.run_info["draws_requested"] == 25
    assert longer.idata.posterior.sizes["draw"] == 75
    assert "Chains continued 2 time(s)" in longer.summary() and "continued" not in short.summary()
    # the chains continue where they stopped: the first draws are the short fit's
    np.testing.assert_array_equal(longer.idata.sample_stats["log_likelihood"].to_numpy()[:, :25],
                                  short.idata.sample_stats["log_likelihood"].to_numpy())


def test_converged_fit_is_not_continued(tiny_sim, monkeypatch):
    import pss_bayes.inference as inference
    from pss_bayes.posterior.diagnostics import Diagnostics

    passed = Diagnostics(converged=True, max_rhat=1.0, min_ess_bulk=1000.0, divergences=0, chains_agree=True)
    monkeypatch.setattr(inference, "diagnose_fit", lambda idata, spec: passed)
    result = fit(tiny_sim.cohort, "default", seed=4, draws=20, tune=20, chains=2, n_jobs=1, progress=False)
    assert result.run_info["continued"] == [] and result.idata.posterior.sizes["draw"] == 20


@pytest.mark.parametrize("setting, message", [
    ({"extensions": -1}, "extensions"), ({"draws": 0}, "draws"), ({"chains": 0}, "chains"),
    ({"tune": -1}, "tune"), ({"thin": 0}, "thin"), ({"seed": -1}, "seed"),
    ({"k": 0}, "between 1 and"), ({"k": 11}, "between 1 and"),
])
def test_impossible_settings_refused_before_sampling(tiny_sim, setting, message, monkeypatch):
    from pss_bayes.errors import SpecError
    from pss_bayes.inference import _ChainRunner

    monkeypatch.setattr(_ChainRunner, "start", lambda *a, **k: pytest.fail("sampling started"))
    with pytest.raises(SpecError, match=message):
        fit(tiny_sim.cohort, "default", **{"draws": 5, "tune": 5, "chains": 1, **setting}, progress=False)


def test_k_other_than_a_fixed_k_refused(tiny_sim):
    from pss_bayes.errors import SpecError
    from pss_bayes.model.spec import load_spec

    with pytest.raises(SpecError, match="fixes the number of subgroups at 2"):
        fit(tiny_sim.cohort, load_spec("default").replace(mixture={"fixed_k": 2}), k=3, draws=5, tune=5,
            chains=1, progress=False)


def test_requested_k_without_draws_falls_back_to_the_mode(tiny_sim, tmp_path):
    """No draw has ten subgroups: the fit reports the posterior mode and says so instead of failing."""
    import json

    from pss_bayes.fit_dir import write_fit_dir

    result = fit(tiny_sim.cohort, "default", seed=2, draws=20, tune=20, chains=1, extensions=0, k=10,
                 progress=False)
    mode = int(result.n_subgroups().set_index("k")["probability"].idxmax())
    assert result.k == mode != 10
    assert result.run_info["k_requested"] == 10 and "No posterior draw has K=10" in result.run_info["k_note"]
    assert "No posterior draw has K=10" in result.summary()
    write_fit_dir(result, tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["k_requested"] == 10 and "posterior mode" in run["membership_note"]


def test_requested_k_is_named_in_the_membership_note(tiny_sim, tmp_path):
    import json

    from pss_bayes.fit_dir import write_fit_dir

    result = fit(tiny_sim.cohort, "default", seed=2, draws=30, tune=30, chains=1, extensions=0, progress=False)
    k_table = result.n_subgroups().set_index("k")["probability"]
    other = int(k_table.drop(k_table.idxmax()).idxmax()) if len(k_table) > 1 else int(k_table.idxmax())
    chosen = fit(tiny_sim.cohort, "default", seed=2, draws=30, tune=30, chains=1, extensions=0, k=other,
                 progress=False)
    assert chosen.k == other and "k_note" not in chosen.run_info
    write_fit_dir(chosen, tmp_path)
    note = json.loads((tmp_path / "run.json").read_text())["membership_note"]
    assert (f"conditional on K={other}, the number of non-empty subgroups requested" in note) == (len(k_table) > 1)


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")   # k-means on few distinct rows
def test_binary_markers_alone_fit(tiny_sim):
    """A cohort of binary markers only starts its chains from a partition of those markers."""
    cohort = tiny_sim.cohort
    binary = [name for name, b in zip(cohort.biomarker_names, cohort.markers.is_binary) if b]
    assert binary
    from pss_bayes import cohort_from_frame

    frame = cohort.to_frame()
    markers = cohort.markers.to_frame()
    only = cohort_from_frame(frame.drop(columns=[c for c in cohort.biomarker_names if c not in binary]),
                             markers[markers["biomarker"].isin(binary)], covariates=("age", "sex"),
                             batch="centre")
    result = fit(only, "default", seed=1, draws=20, tune=20, chains=1, extensions=0, progress=False)
    assert np.isfinite(result.idata.sample_stats["log_likelihood"].to_numpy()).all()
    assert set(result.effects()["biomarker"]) == set(binary)


@pytest.mark.parametrize("spec", ["normal", "diagonal"])
def test_variants_fit(tiny_sim, spec):
    result = fit(tiny_sim.cohort, spec, seed=1, draws=20, tune=20, chains=1, extensions=0, progress=False)
    assert np.isfinite(result.idata.sample_stats["log_likelihood"].to_numpy()).all()
    assert not result.diagnostics().converged        # one short chain cannot pass the checks


def test_fixed_k_reports_k_subgroups(tiny_sim):
    from pss_bayes.model.spec import load_spec

    spec = load_spec("default").replace(mixture={"fixed_k": 2})
    result = fit(tiny_sim.cohort, spec, seed=1, draws=30, tune=30, chains=2, extensions=0, n_jobs=1,
                 progress=False)
    assert result.k == 2
    assert result.idata.sample_stats["relabelled"].to_numpy().all()


def test_save_load_round_trip_and_mismatch(tiny_fit, tiny_sim, tmp_path):
    path = tiny_fit.save(tmp_path / "posterior.nc")
    loaded = FitResult.load(path, tiny_sim.cohort)
    pd.testing.assert_frame_equal(loaded.membership(), tiny_fit.membership())
    assert loaded.scaling == tiny_fit.scaling and loaded.spec == tiny_fit.spec
    other = tiny_sim.cohort.subset(biomarkers=tiny_sim.cohort.biomarker_names[:-1])
    with pytest.raises(ResultFileError, match="fitted to other data"):
        FitResult.load(path, other)
    from pss_bayes.model.spec import load_spec

    with pytest.raises(ResultFileError, match="differs from the spec 'normal'"):
        FitResult.load(path, tiny_sim.cohort, spec=load_spec("normal"))
    same_name = load_spec("default").replace(mixture={"k_max": 6})          # another spec under the same name
    with pytest.raises(ResultFileError, match=r"given in mixture.k_max \(saved 10, given 6\)"):
        FitResult.load(path, tiny_sim.cohort, spec=same_name)
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(ResultFileError, match="not a pss_bayes posterior"):
        FitResult.load(bad, tiny_sim.cohort)


def test_fit_dir_is_self_contained(tiny_fit, tmp_path):
    written = write_fit_dir(tiny_fit, tmp_path / "fit", command=["pss-bayes", "fit"])
    names = {p.name for p in written}
    assert {"membership.csv", "n_subgroups.csv", "effects.csv", "module_effects.csv", "diagnostics.json",
            "posterior.nc", "run.json", "cohort.parquet", "markers.csv"} <= names
    run = json.loads((tmp_path / "fit" / "run.json").read_text())
    assert run["k_reported"] == tiny_fit.k and "scaling" in run and run["command"] == ["pss-bayes", "fit"]
    diag = json.loads((tmp_path / "fit" / "diagnostics.json").read_text())
    assert {"converged", "max_rhat", "min_ess_bulk", "divergences", "chains_agree", "warnings"} <= set(diag)
    assert (tmp_path / "fit" / "NOT_CONVERGED.txt").exists() == (not diag["converged"])
    loaded = load_fit_dir(tmp_path / "fit")
    pd.testing.assert_frame_equal(loaded.membership(), tiny_fit.membership())


def test_load_fit_dir_errors(tmp_path):
    with pytest.raises(ResultFileError, match="not a fit directory"):
        load_fit_dir(tmp_path)
