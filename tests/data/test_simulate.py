"""Tests of the cohort simulator: reproducibility, shapes, truth, errors and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pss_bayes.cli import main
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.data.simulate import PRESETS, SimulatedCohort, SimulationSettings, simulate_cohort
from pss_bayes.errors import PssBayesError, SimulationError

FILES = ["cohort.csv", "markers.csv", "truth.csv", "truth_effects.csv", "truth_module_effects.csv",
         "simulation.json", "README.txt"]


def scaled_frame(sim: SimulatedCohort) -> pd.DataFrame:
    """Control-referenced values indexed by subject id."""
    cohort = sim.cohort
    scaled = ControlScaling.fit(cohort).transform(cohort.values)
    return pd.DataFrame(scaled, index=cohort.subject_ids, columns=list(cohort.biomarker_names))


def module_correlation(sim: SimulatedCohort, module: str) -> float:
    """Mean pairwise correlation of one module's biomarkers among controls."""
    frame = sim.cohort.biomarker_frame()[~sim.cohort.is_patient]
    columns = [b for b, m in zip(sim.cohort.biomarker_names, sim.cohort.markers.modules) if m == module]
    corr = frame[columns].corr().to_numpy()
    return float(corr[np.triu_indices_from(corr, k=1)].mean())


# --- reproducibility ----------------------------------------------------------
def test_same_seed_writes_identical_files(tmp_path):
    first = simulate_cohort(preset="tiny", seed=5).write(tmp_path / "a")
    second = simulate_cohort(preset="tiny", seed=5).write(tmp_path / "b")
    assert [p.name for p in first] == FILES == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_different_seeds_differ(tmp_path):
    simulate_cohort(preset="tiny", seed=1).write(tmp_path / "a")
    simulate_cohort(preset="tiny", seed=2).write(tmp_path / "b")
    assert (tmp_path / "a" / "cohort.csv").read_bytes() != (tmp_path / "b" / "cohort.csv").read_bytes()


def test_global_numpy_state_is_not_used():
    np.random.seed(0)
    first = simulate_cohort(preset="tiny", seed=4).cohort.data_hash()
    np.random.seed(99)
    assert simulate_cohort(preset="tiny", seed=4).cohort.data_hash() == first


# --- every preset gives a valid cohort ----------------------------------------
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_produces_valid_cohort(preset):
    settings = PRESETS[preset]
    sim = simulate_cohort(preset=preset, seed=11)
    cohort = sim.cohort
    n_continuous = sum(n for _, n in settings.modules)
    assert (cohort.n_patients, cohort.n_controls) == (settings.n_patients, settings.n_controls)
    assert len(cohort.markers) == n_continuous + len(settings.binary_markers)
    assert cohort.group_labels == ("pSS", "control")
    assert cohort.covariate_names == ("age", "sex")
    assert cohort.batch_name == "centre"
    assert len(set(cohort.batch)) <= settings.n_centres
    assert set(cohort.covariates["sex"]) <= {"F", "M"}
    age = cohort.covariates["age"].to_numpy(dtype=float)
    assert age.min() >= settings.age_range[0] and age.max() <= settings.age_range[1]
    # ids: P/C prefixes matching the group, unique, rows interleaved
    ids = cohort.subject_ids.astype(str)
    assert len(set(ids)) == cohort.n_subjects
    assert all(i.startswith("P") == p for i, p in zip(ids, cohort.is_patient))
    assert not cohort.is_patient[: settings.n_patients].all()
    # no subject without values, every continuous marker varies among controls
    assert not np.isnan(cohort.values).all(axis=1).any()
    controls = cohort.values[~cohort.is_patient][:, ~cohort.markers.is_binary]
    assert (np.nanstd(controls, axis=0) > 0).all()
    binary = cohort.values[:, cohort.markers.is_binary]
    assert set(np.unique(binary[~np.isnan(binary)])) <= {0.0, 1.0}
    # truth tables
    assert sim.n_subgroups == settings.n_subgroups == len(settings.subgroup_weights)
    assert sorted(sim.truth["subject_id"]) == sorted(cohort.patient_ids)
    assert set(sim.truth["subgroup"]) == set(range(1, sim.n_subgroups + 1))
    assert len(sim.effects) == sim.n_subgroups * len(cohort.markers)
    assert list(sim.effects.columns) == ["subgroup", "biomarker", "module", "kind", "effect"]
    assert len(sim.module_effects) == sim.n_subgroups * len(settings.modules)


def test_subgroup_sizes_follow_weights():
    sim = simulate_cohort(seed=0)
    counts = sim.truth["subgroup"].value_counts().sort_index().to_numpy()
    weights = np.array(sim.settings.subgroup_weights) / sum(sim.settings.subgroup_weights)
    assert counts.sum() == 304
    assert np.all(np.abs(counts - weights * 304) < 1)


def test_presets_have_their_key_parameters():
    assert PRESETS["one_subgroup"].n_subgroups == 1
    assert [PRESETS[p].n_subgroups for p in ("k2", "k3", "default", "k5")] == [2, 3, 4, 5]
    assert PRESETS["heavy_tails"].noise == "student_t"
    assert PRESETS["missing"].missing_fraction == pytest.approx(0.10)
    tiny = PRESETS["tiny"]
    assert tiny.n_patients <= 50 and tiny.n_controls <= 40 and tiny.n_subgroups == 3
    default_effects = np.abs(PRESETS["default"].module_effects)
    assert np.abs(PRESETS["overlap"].module_effects).max() < default_effects.max()


def test_default_truth_matches_published_design():
    settings = PRESETS["default"]
    effects = np.array(settings.module_effects)
    weights = np.array(settings.subgroup_weights) / sum(settings.subgroup_weights)
    assert (settings.n_patients, settings.n_controls, settings.n_subgroups) == (304, 330, 4)
    assert len(set(np.round(weights, 3))) == 4
    assert np.any(np.all(effects == 0, axis=1)), "one subgroup is healthy-like"
    ifn = settings.module_names.index("interferon")
    assert weights[effects[:, ifn] >= 1].sum() > 0.5, "over half the patients are IFN-high"
    assert 1.0 <= np.abs(effects).max() <= 2.5


# --- the truth matches the data -----------------------------------------------
def test_truth_consistent_with_data():
    sim = simulate_cohort(seed=2, n_patients=2000, n_controls=2000)
    scaled = scaled_frame(sim)
    markers = sim.cohort.markers.to_frame()
    continuous = markers.loc[markers["kind"] == "continuous"]
    patient_values = scaled.loc[sim.truth["subject_id"].to_numpy(), continuous["biomarker"]]
    true_effects = sim.effects.loc[sim.effects["kind"] == "continuous"]
    module_truth = sim.module_effects.set_index(["subgroup", "module"])["effect"]
    for k in range(1, sim.n_subgroups + 1):
        observed = patient_values[(sim.truth["subgroup"] == k).to_numpy()].mean()
        observed = observed.groupby(continuous.set_index("biomarker")["module"]).mean()
        expected = true_effects.loc[true_effects["subgroup"] == k].groupby("module")["effect"].mean()
        np.testing.assert_allclose(observed[expected.index], expected, atol=0.25)
        np.testing.assert_allclose(expected, module_truth.loc[k][expected.index], atol=0.3)


def test_autoantibody_positivity_higher_in_patients():
    sim = simulate_cohort(seed=3, n_patients=1000, n_controls=1000)
    column = sim.cohort.biomarker_names.index("anti_SSA_Ro")
    ssa = sim.cohort.values[:, column]
    patients = np.nanmean(ssa[sim.cohort.is_patient])
    controls = np.nanmean(ssa[~sim.cohort.is_patient])
    assert 0.6 < patients < 0.8 and controls < 0.06


def test_raw_units_differ_between_markers():
    sim = simulate_cohort(seed=0)
    centre = np.array(ControlScaling.fit(sim.cohort).centre)
    modules = np.array(sim.cohort.markers.modules)
    genes = centre[np.isin(modules, ["interferon", "inflammation", "b_cell", "t_cell"])]
    serum = centre[modules == "cytokines"]
    assert genes.min() > 4 and genes.max() < 13 and np.ptp(genes) > 2
    assert serum.max() < 3


def test_missing_fraction_close_to_setting():
    sim = simulate_cohort(preset="missing", seed=0, n_patients=1000, n_controls=1000)
    continuous = sim.cohort.values[:, ~sim.cohort.markers.is_binary]
    assert np.isnan(continuous).mean() == pytest.approx(0.10, abs=0.01)
    covariates = sim.cohort.covariate_frame()
    assert not covariates.isna().any().any()
    none = simulate_cohort(preset="tiny", seed=0, missing_fraction=0.0, binary_missing_fraction=0.0)
    assert not np.isnan(none.cohort.values).any()


def test_one_subgroup_is_homogeneous_but_differs_from_controls():
    sim = simulate_cohort(preset="one_subgroup", seed=0)
    assert sim.n_subgroups == 1 and set(sim.truth["subgroup"]) == {1}
    scaled = scaled_frame(sim)
    ifn = [b for b in scaled.columns if b.startswith("interferon")]
    assert scaled.loc[sim.cohort.is_patient, ifn].mean().mean() > 1.0


def test_covariation_and_heavy_tails_presets_change_the_data():
    default = simulate_cohort(seed=0, n_controls=1000)
    strong = simulate_cohort(preset="covariation", seed=0, n_controls=1000)
    assert module_correlation(strong, "interferon") > module_correlation(default, "interferon") + 0.15
    heavy = simulate_cohort(preset="heavy_tails", seed=0, n_controls=1000)
    extreme = [(np.abs(scaled_frame(s)[~s.cohort.is_patient]) > 4).to_numpy().mean()
               for s in (default, heavy)]
    assert extreme[1] > 3 * extreme[0]



def test_patient_spread_scales_each_subgroups_within_variation_only():
    plain = simulate_cohort(seed=0, n_patients=2000, n_controls=50)
    wide = simulate_cohort(seed=0, n_patients=2000, n_controls=50, patient_spread=(2.0, 1.0, 1.0, 0.5))
    scaled = [scaled_frame(s).loc[s.truth["subject_id"]] for s in (plain, wide)]
    continuous = [b for b, binary in zip(plain.cohort.biomarker_names, plain.cohort.markers.is_binary) if not binary]
    subgroup = plain.truth["subgroup"].to_numpy()
    means, sds = [], []
    for frame in scaled:
        grouped = frame[continuous].groupby(subgroup)
        means.append(grouped.mean().to_numpy())
        sds.append(grouped.std().to_numpy())
    ratio = np.median(sds[1] / sds[0], axis=1)            # per subgroup (centre and age effects are not scaled)
    assert 1.6 < ratio[0] < 2.0 and ratio[1] == pytest.approx(1.0) and 0.5 < ratio[3] < 0.65
    np.testing.assert_allclose(means[1], means[0], atol=0.15)
    with pytest.raises(SimulationError, match="patient_spread"):
        simulate_cohort(seed=0, patient_spread=(1.0, 2.0))

# --- new patients of the same population ---------------------------------------
def test_new_patients_come_from_the_cohorts_population():
    sim = simulate_cohort(preset="tiny", seed=3, n_patients=400)
    table, truth = sim.new_patients(400, seed=4)
    assert table["subject_id"].tolist() == truth["subject_id"].tolist() == [f"N{i:04d}" for i in range(1, 401)]
    assert (table["group"] == "pSS").all() and list(table.columns) == list(sim.cohort.to_frame().columns)
    names = list(sim.cohort.biomarker_names)
    assert not table[names].isna().any().any()
    assert truth["subgroup"].value_counts().sort_index().tolist() == [160, 140, 100]
    scaling = ControlScaling.fit(sim.cohort)
    old = scaled_frame(sim).loc[sim.truth["subject_id"]].assign(subgroup=sim.truth["subgroup"].to_numpy())
    new = pd.DataFrame(scaling.transform(table[names].to_numpy(dtype=float)), columns=names)
    new["subgroup"] = truth["subgroup"].to_numpy()
    continuous = [n for n, kind in zip(names, sim.cohort.markers.kinds) if kind == "continuous"]
    gap = (old.groupby("subgroup")[continuous].mean() - new.groupby("subgroup")[continuous].mean()).abs()
    assert gap.to_numpy().max() < 0.6                     # same effects and measurement scales
    other = simulate_cohort(preset="tiny", seed=4, n_patients=400)
    assert not np.allclose(ControlScaling.fit(other.cohort).centre, scaling.centre, atol=0.3)


def test_new_patients_are_reproducible_and_need_another_seed():
    sim = simulate_cohort(preset="tiny", seed=3)
    first, _ = sim.new_patients(12, seed=8)
    assert first.equals(sim.new_patients(12, seed=8)[0]) and not first.equals(sim.new_patients(12, seed=9)[0])
    with pytest.raises(SimulationError, match="another seed"):
        sim.new_patients(12, seed=3)
    with pytest.raises(SimulationError, match="n_patients=1"):
        sim.new_patients(1, seed=8)


# --- settings, overrides and errors -------------------------------------------
def test_overrides_replace_settings():
    sim = simulate_cohort(preset="tiny", seed=0, n_patients=50, n_centres=2)
    assert sim.cohort.n_patients == 50 and sim.settings.n_centres == 2
    assert sim.settings.n_controls == PRESETS["tiny"].n_controls
    custom = simulate_cohort(PRESETS["tiny"], seed=0)
    assert custom.preset == "custom"


def test_unknown_preset_lists_valid_names():
    with pytest.raises(SimulationError, match="unknown preset 'nope'.*default.*tiny"):
        simulate_cohort(preset="nope")


def test_unknown_override_lists_valid_settings():
    with pytest.raises(PssBayesError, match=r"unknown simulation setting\(s\) \['n_patient'\].*n_patients"):
        simulate_cohort(preset="tiny", n_patient=10)


@pytest.mark.parametrize("overrides, message", [
    ({"subgroup_weights": (0.5, 0.5)}, "module_effects must be 2 rows"),
    ({"noise": "cauchy"}, "noise='cauchy'"),
    ({"noise": "student_t", "noise_df": 2.0}, "noise_df"),
    ({"missing_fraction": 0.9}, "missing_fraction"),
    ({"module_covariation": 1.2}, "module_covariation"),
    ({"age_range": (18, 50, 85)}, "age_range must be a"),
])
def test_invalid_settings_are_refused(overrides, message):
    with pytest.raises(SimulationError, match=message):
        simulate_cohort(preset="tiny", **overrides)


def test_settings_and_preset_together_or_bad_seed_are_refused():
    with pytest.raises(SimulationError, match="either settings or preset"):
        simulate_cohort(SimulationSettings(), preset="tiny")
    with pytest.raises(SimulationError, match="seed"):
        simulate_cohort(preset="tiny", seed=-1)


# --- files and the command line -----------------------------------------------
def test_written_files_describe_the_simulation(tmp_path):
    sim = simulate_cohort(preset="tiny", seed=7)
    sim.write(tmp_path)
    frame = pd.read_csv(tmp_path / "cohort.csv")
    assert list(frame.columns[:5]) == ["subject_id", "group", "age", "sex", "centre"]
    assert len(frame) == sim.cohort.n_subjects
    assert "SIMULATED" in (tmp_path / "README.txt").read_text()
    description = json.loads((tmp_path / "simulation.json").read_text())
    assert description["simulated"] is True
    assert (description["preset"], description["seed"]) == ("tiny", 7)
    rebuilt = SimulationSettings(**description["settings"])
    assert rebuilt == sim.settings
    assert simulate_cohort(rebuilt, seed=7).cohort.data_hash() == sim.cohort.data_hash()
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert list(truth.columns) == ["subject_id", "subgroup"] and len(truth) == sim.cohort.n_patients


def test_cli_simulate_writes_files(tmp_path):
    main(["simulate", "--out", str(tmp_path), "--seed", "3", "--preset", "tiny", "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert len(pd.read_csv(tmp_path / "truth.csv")) == PRESETS["tiny"].n_patients


def test_cli_unknown_preset_exits_with_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--out", str(tmp_path), "--preset", "nope"])
    assert exit_info.value.code == 2
    assert "unknown preset" in capsys.readouterr().err


def test_cli_refuses_a_cohort_too_small_to_load(tmp_path, capsys):
    for option in ("--n-patients", "--n-controls"):
        with pytest.raises(SystemExit) as exit_info:
            main(["simulate", "--out", str(tmp_path / "small"), "--preset", "tiny", option, "5"])
        assert exit_info.value.code == 2
        assert f"{option} 5: a cohort needs at least 10" in capsys.readouterr().err
    assert not (tmp_path / "small").exists()
