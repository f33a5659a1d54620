"""Sensitivity grids: the shipped default, TOML validation, expansion on a cohort, seeds."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pss_bayes.data.io import MIN_SUBJECTS_PER_GROUP
from pss_bayes.errors import CohortError, SpecError
from pss_bayes.model.spec import load_spec
from pss_bayes.sensitivity.apply import variant_cohort
from pss_bayes.sensitivity.grid import (REFERENCE, ControlResampling, Variant, available_grids, grid_from_dict,
                                        load_grid, variant_seed)
from tests.sensitivity.conftest import few_patients_in_centre

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sensitivity", "sensitivity_demo"])
def test_shipped_grid_is_the_models_copy(name):
    assert name in available_grids()
    shipped = REPO / "pss_bayes" / "sensitivity" / f"{name}.toml"
    assert (REPO / "models" / f"{name}.toml").read_text() == shipped.read_text()
    assert load_grid(REPO / "models" / f"{name}.toml").rules == load_grid(name).rules


def test_demo_grid_is_small_with_short_chains(tiny_sim):
    grid = load_grid("sensitivity_demo")
    assert (grid.draws, grid.tune, grid.chains) == (300, 300, 2)
    variants = grid.expand(tiny_sim.cohort).variants
    assert [v.kind for v in variants] == ["reference", "likelihood", "covariation", "module", "seed"]
    assert variants[3].drop_module == "interferon"


def test_default_grid_derives_modules_and_centres_from_the_cohort(tiny_sim):
    cohort = tiny_sim.cohort
    expansion = load_grid().expand(cohort)
    names = [v.name for v in expansion.variants]
    assert names[0] == REFERENCE and len(names) == len(set(names))
    modules = [v.drop_module for v in expansion.variants if v.drop_module]
    centres = [v.drop_centre for v in expansion.variants if v.drop_centre]
    assert modules == list(cohort.markers.module_names)
    assert sorted(centres) == sorted(set(cohort.batch))
    assert 10 <= len(names) - 1 <= 20
    kinds = {v.kind for v in expansion.variants}
    assert {"reference", "mixture", "priors", "likelihood", "covariation", "patient_spread", "module", "centre",
            "controls", "seed"} <= kinds
    interferon = next(v for v in expansion.variants if v.drop_module == "interferon")
    assert interferon.name == "without_module_interferon"
    assert interferon.description == "without module 'interferon'"
    normal = next(v for v in expansion.variants if v.name == "normal")
    assert normal.spec(load_spec("default")).likelihood.family == "normal"
    equal = next(v for v in expansion.variants if v.name == "equal_spread")
    assert not equal.spec(load_spec("default")).patient_spread.enabled
    shared = next(v for v in expansion.variants if v.name == "shared_spread")
    assert not shared.spec(load_spec("default")).patient_spread.by_subgroup


def test_grid_without_batch_skips_centres_with_a_note(tiny_sim):
    cohort = tiny_sim.cohort
    no_batch = type(cohort)(subject_ids=cohort.subject_ids, is_patient=cohort.is_patient, values=cohort.values,
                            markers=cohort.markers, covariates=cohort.covariates.reset_index(drop=True))
    expansion = load_grid().expand(no_batch)
    assert not any(v.drop_centre for v in expansion.variants)
    assert any("no batch/centre column" in note for note in expansion.notes)


def test_repeat_and_settings_override(tiny_sim):
    grid = grid_from_dict({"grid": {"seed": 3, "draws": 50},
                           "variant": [{"name": "seed", "repeat": 3}]})
    names = [v.name for v in grid.expand(tiny_sim.cohort).variants]
    assert names == [REFERENCE, "seed_1", "seed_2", "seed_3"]
    changed = grid.with_settings(seed=7, tune=10, chains=None)
    assert (changed.seed, changed.draws, changed.tune, changed.chains) == (7, 50, 10, None)


def _renamed_modules(cohort, names):
    """The cohort with its modules renamed (old name -> new name)."""
    modules = tuple(names.get(m, m) for m in cohort.markers.modules)
    return dataclasses.replace(cohort, markers=dataclasses.replace(cohort.markers, modules=modules))


def test_each_gives_levels_that_clean_to_the_same_name_numbered_names(tiny_sim):
    cohort = _renamed_modules(tiny_sim.cohort, {"interferon": "IFN (type I)", "inflammation": "IFN type I",
                                                "b_cell": "IFN-type-I", "autoantibodies": "IFN_type_I_2"})
    first = np.asarray(cohort.batch) == sorted(set(cohort.batch))[0]
    cohort = dataclasses.replace(cohort, batch=np.where(first, "A B", "A_B"))
    grid = grid_from_dict({"variant": [{"name": "wm", "drop_module": "each"}, {"name": "wc", "drop_centre": "each"}]})
    variants = grid.expand(cohort).variants
    modules = {v.name: v.drop_module for v in variants if v.drop_module}
    assert modules == {"wm_IFN_type_I": "IFN (type I)", "wm_IFN_type_I_3": "IFN type I",
                       "wm_IFN-type-I": "IFN-type-I", "wm_IFN_type_I_2": "IFN_type_I_2"}
    assert [v.name for v in variants if v.drop_centre] == ["wc_A_B", "wc_A_B_2"]
    assert [v.drop_centre for v in variants if v.drop_centre] == ["A B", "A_B"]
    assert [v.name for v in grid.expand(cohort).variants] == [v.name for v in variants]     # deterministic
    with pytest.raises(SpecError, match=r"\['wm_IFN_type_I'\] occur more than once"):   # written names still checked
        grid_from_dict({"variant": [{"name": "wm", "drop_module": "each"},
                                    {"name": "wm_IFN_type_I"}]}).expand(cohort)


def test_seeds_depend_on_grid_seed_and_name_only():
    assert variant_seed(0, "normal") == variant_seed(0, "normal")
    seeds = {variant_seed(0, n) for n in ("normal", "reference", "another_seed")} | {variant_seed(1, "normal")}
    assert len(seeds) == 4


@pytest.mark.parametrize("data, message", [
    ({"grids": {}}, r"unknown top-level key\(s\) \['grids'\]"),
    ({"grid": {"sed": 1}}, r"unknown key\(s\) \['sed'\] in \[grid\]"),
    ({"grid": {"seed": -1}}, "seed = -1 must be a non-negative integer"),
    ({"grid": {"draws": 0}}, "draws = 0 must be an integer >= 1"),
    ({"variant": [{"description": "x"}]}, "give each variant a name"),
    ({"variant": [{"name": "reference"}]}, "reserved for the reference fit"),
    ({"variant": [{"name": "a", "sampler": {"draws": 5}}]}, "set for the whole grid"),
    ({"variant": [{"name": "a", "mixture": {"kmax": 5}}]}, r"variant 'a': .*unknown key\(s\) \['kmax'\]"),
    ({"variant": [{"name": "a", "likelihood": "normal"}]}, "'likelihood' must be a table"),
    ({"variant": [{"name": "a", "controls": {"method": "jackknife"}}]}, "controls.method = 'jackknife'"),
    ({"variant": [{"name": "a", "controls": {"method": "subsample", "fraction": 1.5}}]}, "must lie in"),
    ({"variant": [{"name": "a", "repeat": 0}]}, "repeat = 0 must be a positive integer"),
])
def test_bad_grids_are_refused(data, message):
    with pytest.raises(SpecError, match=message):
        grid_from_dict(data, source="g.toml")


def test_expansion_errors(tiny_sim, tmp_path):
    with pytest.raises(SpecError, match="drops module 'nope'.*modules:"):
        grid_from_dict({"variant": [{"name": "a", "drop_module": "nope"}]}).expand(tiny_sim.cohort)
    with pytest.raises(SpecError, match="drops centre 'nope'"):
        grid_from_dict({"variant": [{"name": "a", "drop_centre": "nope"}]}).expand(tiny_sim.cohort)
    with pytest.raises(SpecError, match=r"\['a'\] occur more than once"):
        grid_from_dict({"variant": [{"name": "a"}, {"name": "a"}]}).expand(tiny_sim.cohort)
    path = tmp_path / "grid.toml"
    path.write_text("[grid\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_grid(path)
    with pytest.raises(SpecError, match="no sensitivity grid named 'nope'"):
        load_grid("nope")


def test_variant_cohorts(tiny_sim):
    cohort = tiny_sim.cohort
    without = variant_cohort(cohort, Variant("m", "m", "", drop_module="interferon"), seed=0)
    assert "interferon" not in without.markers.module_names and without.n_subjects == cohort.n_subjects
    centre = sorted(set(cohort.batch))[0]
    no_centre = variant_cohort(cohort, Variant("c", "c", "", drop_centre=centre), seed=0)
    assert centre not in set(no_centre.batch)
    assert no_centre.n_subjects == int((cohort.batch != centre).sum())
    sub = variant_cohort(cohort, Variant("s", "s", "", controls=ControlResampling("subsample", 0.5)), seed=1)
    assert sub.n_controls == round(0.5 * cohort.n_controls)
    assert list(sub.patient_ids) == list(cohort.patient_ids)
    boot = variant_cohort(cohort, Variant("b", "b", "", controls=ControlResampling("bootstrap")), seed=1)
    assert boot.n_controls == cohort.n_controls and len(set(boot.subject_ids)) == boot.n_subjects
    assert any("#" in s for s in boot.subject_ids)
    again = variant_cohort(cohort, Variant("b", "b", "", controls=ControlResampling("bootstrap")), seed=1)
    np.testing.assert_array_equal(again.values, boot.values)


@pytest.mark.parametrize(("variant", "left"), [
    (Variant("c", "c", "without centre 'B'", drop_centre="B"), "without centre 'B' leaves 5 patients"),
    (Variant("s", "s", "", controls=ControlResampling("subsample", 0.3)), "s leaves 9 controls"),
])
def test_variant_cohort_refuses_fewer_subjects_than_a_cohort_needs(tiny_sim, variant, left):
    cohort = few_patients_in_centre(tiny_sim.cohort)
    assert cohort.n_controls == 30
    with pytest.raises(CohortError, match=f"{left}, fewer than the {MIN_SUBJECTS_PER_GROUP} patients"):
        variant_cohort(cohort, variant, seed=0)
