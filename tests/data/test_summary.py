"""CohortSummary: counts, missingness and positivity per group, text report, JSON form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pss_bayes.data.assumptions import (cross_module_pairs, one_factor_loadings, quantile_skewness,
                                        skewed_biomarkers, within_module_pairs)
from pss_bayes.data.io import CohortWarning, cohort_from_frame
from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.data.summary import CohortSummary, summarise
from tests.data.factories import BINARY_MARKER, make_frame, make_markers


@pytest.fixture
def summary(frame, markers) -> CohortSummary:
    frame = frame.astype({"BAFF": float, BINARY_MARKER: float})
    frame.loc[[0, 1, 2], "BAFF"] = np.nan          # 3 of 12 patients
    frame.loc[[12], "BAFF"] = np.nan               # 1 of 12 controls
    frame.loc[[13], BINARY_MARKER] = np.nan        # 1 control not tested
    frame.loc[5, "age"] = np.nan
    frame["notes"] = "text"
    cohort = cohort_from_frame(frame, markers, covariates=("age", "sex"), batch="centre",
                               drop_missing_covariates=True, source="cohort.csv")
    return cohort.summary()


def test_counts(summary):
    assert (summary.n_patients, summary.n_controls, summary.n_subjects) == (11, 12, 23)
    assert summary.kinds == {"continuous": 4, "binary": 1}
    assert summary.modules == (("interferon", 2), ("b_cell", 2), ("autoantibody", 1))
    assert summary.covariates == (("age", "numeric"), ("sex", "categorical"))
    assert summary.batch_name == "centre"
    assert summary.batch_counts.to_dict("list") == {"batch": ["Brest", "Oslo"], "patients": [6, 5],
                                                    "controls": [6, 6]}
    assert summary.ignored_columns == ("notes",)
    assert summary.dropped_subjects == (("P06", "missing covariate 'age'"),)


def test_missingness_per_group(summary):
    table = summary.missingness.set_index("biomarker")
    assert list(summary.missingness.columns) == ["biomarker", "module", "kind", "missing_patients",
                                                 "missing_controls"]
    assert table.loc["BAFF", "missing_patients"] == pytest.approx(3 / 11)
    assert table.loc["BAFF", "missing_controls"] == pytest.approx(1 / 12)
    assert table.loc[BINARY_MARKER, "missing_controls"] == pytest.approx(1 / 12)
    assert table.loc["MX1", ["missing_patients", "missing_controls"]].tolist() == [0.0, 0.0]
    assert table.loc["BAFF", "module"] == "b_cell"


def test_positivity_among_observed(frame, markers, summary):
    row = summary.positivity.set_index("biomarker").loc[BINARY_MARKER]
    patients = frame.loc[(frame["group"] == "pSS") & (frame.index != 5), BINARY_MARKER]
    assert row["positive_patients"] == pytest.approx(patients.mean())
    assert row["positive_controls"] == pytest.approx(1 / 11)


def test_text_report(summary):
    text = str(summary)
    assert "Cohort 'cohort.csv': 23 subjects, 11 patients ('pSS') and 12 healthy controls" in text
    assert "5 (4 continuous, 1 binary) in 3 modules" in text
    assert "Batch 'centre' (patients/controls): Brest 6/6, Oslo 5/6" in text
    assert "BAFF" in text and "27.3% / 8.3%" in text
    assert "Ignored columns: notes" in text
    assert "P06 (missing covariate 'age')" in text


def test_to_dict_is_json(summary):
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["n_patients"] == 11 and data["modules"]["b_cell"] == 2
    assert data["missingness"][2]["biomarker"] == "BAFF"
    assert data["dropped_subjects"] == [["P06", "missing covariate 'age'"]]


def test_warnings_for_binary_without_positive_controls_and_high_missingness(frame, markers):
    frame.loc[frame["group"] == "control", BINARY_MARKER] = 0
    frame.loc[:6, "MX1"] = np.nan
    with pytest.warns(CohortWarning):
        summary = summarise(cohort_from_frame(frame, markers))
    assert summary.warnings == ("binary marker 'anti_SSA': no healthy control is positive; its "
                                "control reference rests on the prior.",
                                "biomarker 'MX1' is missing for 58% of patients.")
    assert "Warnings:\n  - binary marker 'anti_SSA'" in str(summary)
    assert json.loads(json.dumps(summary.to_dict()))["positivity"][0]["positive_controls"] == 0.0


def test_report_stays_short_for_forty_biomarkers():
    rng = np.random.default_rng(1)
    frame = make_frame(n_patients=60, n_controls=30)
    names = [f"marker_{j:02d}" for j in range(40)]
    values = rng.normal(size=(len(frame), 40))
    values[rng.random(values.shape) < 0.1] = np.nan
    frame = pd.concat([frame[["subject_id", "group", "age", "sex", "centre"]],
                       pd.DataFrame(values, columns=names)], axis=1)
    markers = pd.DataFrame({"biomarker": names, "module": [f"module_{j // 5}" for j in range(40)]})
    summary = cohort_from_frame(frame, markers, covariates=("age", "sex"), batch="centre").summary()
    text = str(summary)
    assert len(text.splitlines()) <= 40
    assert "40 (40 continuous, 0 binary) in 8 modules" in text
    worst = summary.missingness.assign(
        most=summary.missingness[["missing_patients", "missing_controls"]].max(axis=1))
    assert worst.sort_values("most", ascending=False)["biomarker"].iloc[0] in text


def test_summary_of_markers_fixture_has_no_warnings():
    cohort = cohort_from_frame(make_frame(), make_markers(), covariates=("age",))
    assert cohort.summary().warnings == ()
    assert "Warnings" not in str(cohort.summary())


def test_warning_when_no_module_holds_two_continuous_biomarkers(frame):
    with pytest.warns(CohortWarning, match="every continuous biomarker is its own module"):
        cohort = cohort_from_frame(frame)
    assert any("declare the modules in a markers file" in w for w in cohort.summary().warnings)


def test_warning_for_a_batch_level_without_controls(frame, markers):
    frame.loc[frame["group"] == "pSS", "centre"] = frame.loc[frame["group"] == "pSS", "centre"].where(
        frame.loc[frame["group"] == "pSS"].index % 2 == 0, "Lund")
    with pytest.warns(CohortWarning, match="centre 'Lund': patients but no controls"):
        cohort = cohort_from_frame(frame, markers, batch="centre", drop_missing_covariates=True)
    assert any("'Lund'" in w for w in cohort.summary().warnings)


def test_warning_for_biomarkers_that_co_vary_across_modules():
    sim = simulate_cohort(seed=0)
    assert cross_module_pairs(sim.cohort).empty            # modules independent given covariates and centre
    frame = sim.cohort.to_frame()
    noise = np.random.default_rng(0).normal(0.0, 0.1, len(frame))
    frame["cytokines_01"] = frame["interferon_01"] + noise   # a cytokine that tracks an interferon gene
    markers = pd.DataFrame({"biomarker": list(sim.cohort.markers.names), "module": list(sim.cohort.markers.modules),
                            "kind": list(sim.cohort.markers.kinds)})
    with pytest.warns(CohortWarning, match="co-vary among the healthy controls"):
        cohort = cohort_from_frame(frame, markers, covariates=("age", "sex"), batch="centre")
    pairs = cross_module_pairs(cohort)
    assert pairs[["biomarker_a", "biomarker_b"]].values.tolist()[0] == ["interferon_01", "cytokines_01"]
    assert pairs["r"].iloc[0] > 0.9 and pairs["module_b"].iloc[0] == "cytokines"


def _markers_of(cohort) -> pd.DataFrame:
    return pd.DataFrame({"biomarker": list(cohort.markers.names), "module": list(cohort.markers.modules),
                         "kind": list(cohort.markers.kinds)})


def _control_z(frame: pd.DataFrame, name: str) -> pd.Series:
    controls = frame.loc[frame["group"] == "control", name]
    return (frame[name] - controls.mean()) / controls.std()


def test_quantile_skewness_is_zero_for_symmetric_and_positive_for_right_skew():
    rng = np.random.default_rng(0)
    assert abs(float(quantile_skewness(rng.standard_t(2, 20000)))) < 0.02       # heavy tails, symmetric
    lognormal = float(quantile_skewness(rng.lognormal(0.0, 0.7, 20000)))
    z = 1.2815515655446004                                                        # tenth percentile of N(0, 1)
    exact = (np.exp(0.7 * z) + np.exp(-0.7 * z) - 2) / (np.exp(0.7 * z) - np.exp(-0.7 * z))
    assert lognormal == pytest.approx(exact, abs=0.02)
    assert float(quantile_skewness(-rng.lognormal(0.0, 0.7, 20000))) == pytest.approx(-exact, abs=0.02)


def test_warning_for_skewed_biomarkers_advises_logarithms_of_concentrations():
    sim = simulate_cohort(seed=0)
    assert skewed_biomarkers(sim.cohort).empty                 # simulated values are symmetric
    frame = sim.cohort.to_frame()
    for name in ("b_cell_01", "b_cell_02"):                   # concentrations: log-normal, log-scale SD 0.8
        frame[name] = np.exp(0.8 * _control_z(frame, name))
    with pytest.warns(CohortWarning, match="skewed among the healthy controls") as caught:
        cohort = cohort_from_frame(frame, _markers_of(sim.cohort), covariates=("age", "sex"), batch="centre")
    text = " ".join(str(w.message) for w in caught)
    assert "'b_cell_01'" in text and "'b_cell_02'" in text and "logarithms" in text
    skewed = skewed_biomarkers(cohort)
    assert sorted(skewed["biomarker"]) == ["b_cell_01", "b_cell_02"]
    assert (skewed["skewness"] > 0.3).all() and skewed["all_positive"].all()


def test_no_skewness_warning_for_heavy_tails_and_no_log_advice_for_left_skew():
    assert skewed_biomarkers(simulate_cohort(preset="heavy_tails", seed=1).cohort).empty
    sim = simulate_cohort(seed=1)
    frame = sim.cohort.to_frame()
    frame["t_cell_01"] = -np.exp(0.8 * _control_z(frame, "t_cell_01"))
    with pytest.warns(CohortWarning, match="skewed among the healthy controls") as caught:
        cohort = cohort_from_frame(frame, _markers_of(sim.cohort), covariates=("age", "sex"), batch="centre")
    skewed = skewed_biomarkers(cohort)
    assert skewed["biomarker"].tolist() == ["t_cell_01"] and skewed["skewness"].iloc[0] < -0.3
    text = " ".join(str(w.message) for w in caught)
    assert "logarithms" not in text and "transformation that makes them symmetric" in text


def test_one_factor_loadings_recover_an_exact_one_factor_matrix():
    loadings = np.array([0.9, 0.8, 0.7, 0.5, 0.3])
    r = np.outer(loadings, loadings)
    np.fill_diagonal(r, 1.0)
    assert np.abs(one_factor_loadings(r)) == pytest.approx(loadings, abs=1e-4)


def _with_noise(sim, names, noise: np.ndarray) -> pd.DataFrame:
    """The simulated cohort's table with ``noise`` (subjects x names, in control SDs of each) added."""
    frame = sim.cohort.to_frame()
    for column, name in enumerate(names):
        frame[name] = frame[name] + noise[:, column] * frame.loc[frame["group"] == "control", name].std()
    return frame


def test_warning_for_a_module_whose_co_variation_is_not_one_activity():
    sim = simulate_cohort(seed=2)
    assert within_module_pairs(sim.cohort).empty        # the simulator's modules have one activity each
    names = [n for n in sim.cohort.markers.names if n.startswith("interferon")]
    two = np.random.default_rng(1).standard_normal((sim.cohort.n_subjects, 2))
    half = len(names) // 2                                # two groups of biomarkers, each with its own factor
    frame = _with_noise(sim, names, 1.5 * np.repeat(two, [half, len(names) - half], axis=1))
    with pytest.warns(CohortWarning, match="one module activity does not describe") as caught:
        cohort = cohort_from_frame(frame, _markers_of(sim.cohort), covariates=("age", "sex"), batch="centre")
    assert "'interferon'" in " ".join(str(w.message) for w in caught)
    pairs = within_module_pairs(cohort)
    assert set(pairs["module"]) == {"interferon"}
    assert ((pairs["r"] - pairs["one_activity"]).abs() >= 0.2).all()


def test_warning_for_a_factor_shared_across_modules():
    sim = simulate_cohort(seed=3)
    continuous = [n for n, kind in zip(sim.cohort.markers.names, sim.cohort.markers.kinds) if kind == "continuous"]
    shared = np.random.default_rng(2).standard_normal((sim.cohort.n_subjects, 1))
    frame = _with_noise(sim, continuous, np.repeat(0.8 * shared, len(continuous), axis=1))
    with pytest.warns(CohortWarning, match="different modules co-vary"):
        cohort = cohort_from_frame(frame, _markers_of(sim.cohort), covariates=("age", "sex"), batch="centre")
    pairs = cross_module_pairs(cohort)
    assert len(pairs) > 100 and (pairs["module_a"] != pairs["module_b"]).all()
    assert pairs["r"].between(0.2, 0.6).all()          # about 0.64 / 1.64 = 0.39 each


def _warnings_of(frame, markers, **options) -> tuple[str, ...]:
    with pytest.warns(CohortWarning):
        return summarise(cohort_from_frame(frame, markers, **options)).warnings


def test_warning_for_a_covariate_constant_among_controls(frame, markers):
    frame = frame.copy()
    frame.loc[frame["group"] == "control", "sex"] = "F"
    found = _warnings_of(frame, markers, covariates=("age", "sex"))
    assert any("covariate 'sex' takes one value among the healthy controls ('F')" in w for w in found)


def test_warning_for_covariate_levels_only_patients_have(frame, markers):
    frame = frame.copy()
    frame.loc[:2, "sex"] = "X"                                        # three patients
    found = _warnings_of(frame, markers, covariates=("sex",))
    assert any("covariate 'sex': level(s) 'X' only among patients" in w for w in found)


def test_warning_for_a_measurement_written_with_text(frame, markers):
    frame = frame.copy()
    frame["age"] = [f"{a:.0f} y" for a in frame["age"]]
    found = _warnings_of(frame, markers, covariates=("age",))
    assert any("covariate 'age' is read as categorical" in w and "plain number" in w for w in found)
    assert not any("only among patients" in w for w in found)     # one warning says it, not two


def test_warning_for_a_zero_one_marker_declared_continuous(frame, markers):
    markers = markers.copy()
    markers.loc[markers["biomarker"] == BINARY_MARKER, "kind"] = "continuous"
    found = _warnings_of(frame, markers)
    assert any(f"biomarker '{BINARY_MARKER}' is declared continuous but takes only the values 0 and 1" in w
               for w in found)


def test_no_covariate_warnings_on_simulated_cohorts():
    for preset in ("default", "tiny"):
        cohort = simulate_cohort(preset=preset, seed=1).cohort
        assert not [w for w in summarise(cohort).warnings if "covariate" in w or "declared continuous" in w]


def test_warning_for_a_biomarker_most_controls_share_one_value_of(frame, markers):
    frame = frame.copy()
    controls = np.flatnonzero(frame["group"] == "control")
    frame.loc[controls[:-1], "CXCL13"] = 0.5                        # all but one control at a detection limit
    found = _warnings_of(frame, markers)
    assert any("'CXCL13' (11 of 12 controls at 0.5): most healthy controls share one value" in w for w in found)


def test_assumption_checks_do_not_depend_on_the_units():
    """Values of the order of 1e200 (whose squares overflow) give the same warnings as the same data in plain units."""
    sim = simulate_cohort(preset="tiny", seed=2)
    frame, markers = sim.cohort.to_frame(), sim.cohort.markers.to_frame()
    first, second = [n for n, b in zip(sim.cohort.biomarker_names, sim.cohort.markers.is_binary) if not b][:2]
    controls = frame["group"] == "control"
    frame.loc[controls, second] = frame.loc[controls, first] + 0.05 * np.random.default_rng(0).normal(size=controls.sum())
    markers.loc[markers["biomarker"] == second, "module"] = "another"
    plain = summarise(cohort_from_frame(frame, markers)).warnings
    frame[first] = frame[first] * 1e200
    with np.errstate(all="raise"):
        huge = summarise(cohort_from_frame(frame, markers)).warnings
    assert any("co-vary among the healthy controls" in w for w in plain)
    assert [w for w in huge if "co-vary" in w] == [w for w in plain if "co-vary" in w]
