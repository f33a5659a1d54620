"""Declared transformations: the markers table's ``transform`` column, its checks and where it applies."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from pss_bayes.data.assumptions import skewed_biomarkers
from pss_bayes.data.cohort import Cohort, MarkerTable
from pss_bayes.data.io import CohortWarning, cohort_from_frame, load_cohort, write_markers
from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.data.transforms import TRANSFORMS, apply, invert
from pss_bayes.errors import CohortError, ResultFileError
from pss_bayes.model.design import prepare
from pss_bayes.model.spec import load_spec
from tests.data.factories import BINARY_MARKER

DECLARED = {"covariates": ("age", "sex"), "batch": "centre"}


def raises(*parts: str):
    return pytest.raises(CohortError, match=".*".join(re.escape(p) for p in parts))


@pytest.fixture
def concentrations(frame):
    """The fixture cohort with IFI44L and BAFF as positive concentrations (exp of the values)."""
    frame = frame.copy()
    for name in ("IFI44L", "BAFF"):
        frame[name] = np.exp(frame[name])
    return frame


@pytest.fixture
def logged(markers):
    markers = markers.copy()
    markers["transform"] = ["log" if name in ("IFI44L", "BAFF") else "" for name in markers["biomarker"]]
    return markers


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_and_inverse_round_trip_and_refuse_values_outside_the_domain(name):
    x = np.array([[0.5, 2.0], [3.0, np.nan]])
    back = invert(apply(x, [name, name]), [name, name])
    assert np.allclose(back, x, equal_nan=True)
    lower = TRANSFORMS[name].lower
    if np.isfinite(lower):
        assert np.isnan(apply(np.array([[lower]]), [name])).all()


def test_declared_log_leaves_the_values_as_given_and_scales_their_logarithms(write, concentrations, logged, frame):
    cohort = load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED)
    plain = load_cohort(write(frame, "plain.csv"), write(logged.drop(columns="transform"), "plain_markers.csv"),
                        **DECLARED)
    j = cohort.biomarker_names.index("IFI44L")
    assert np.allclose(cohort.values[:, j], np.exp(plain.values[:, j]))           # kept as given
    assert np.allclose(cohort.analysis_values, plain.values)                       # analysed as logarithms
    assert cohort.markers.transforms == tuple("log" if n in ("IFI44L", "BAFF") else "none"
                                              for n in cohort.biomarker_names)
    data, scaling, _ = prepare(cohort, load_spec("default"))
    plain_data, plain_scaling, _ = prepare(plain, load_spec("default"))
    assert np.allclose(data.y, plain_data.y, equal_nan=True)
    assert np.allclose(scaling.centre, plain_scaling.centre)
    assert np.allclose(scaling.inverse_transform(data.y), cohort.values, equal_nan=True)
    assert cohort.data_hash() != plain.data_hash()


def test_markers_file_round_trip_keeps_the_transforms(write, concentrations, logged, tmp_path):
    cohort = load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED)
    copy = write_markers(cohort, tmp_path / "copy.csv")
    again = load_cohort(write(concentrations, "again.csv"), copy, **DECLARED)
    assert again.markers == cohort.markers and again.data_hash() == cohort.data_hash()
    untransformed = load_cohort(write(concentrations, "untransformed.csv"),
                                write(logged.drop(columns="transform"), "m2.csv"), **DECLARED)
    assert "transform" not in untransformed.markers.to_frame().columns   # files without transforms unchanged


def test_scaling_dictionary_round_trip_and_older_files_without_transforms(write, concentrations, logged):
    scaling = ControlScaling.fit(load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED))
    assert ControlScaling.from_dict(scaling.to_dict()) == scaling
    older = {k: v for k, v in scaling.to_dict().items() if k != "transforms"}
    assert set(ControlScaling.from_dict(older).transforms) == {"none"}
    with pytest.raises(ResultFileError, match="unknown transform 'sqrt' for biomarker"):
        ControlScaling.from_dict({**scaling.to_dict(), "transforms": ["sqrt"] * len(scaling.biomarkers)})
    panel = scaling.subset(["BAFF", "MX1"])
    assert panel.transforms == ("log", "none") and panel.centre == (scaling.centre[2], scaling.centre[1])


def test_unknown_transform_names_the_markers_file_column_and_line(write, frame, logged):
    logged.loc[1, "transform"] = "sqrt"
    with raises("markers.csv", "transform", "line 3", "unknown transform 'sqrt'", "'log'", "'log1p'"):
        load_cohort(write(frame), write(logged, "markers.csv"), **DECLARED)


def test_a_binary_marker_takes_no_transform(write, frame, markers):
    markers["transform"] = ""
    markers.loc[markers["biomarker"] == BINARY_MARKER, "transform"] = "log"
    with raises("markers.csv", "transform", "line 6", f"binary marker '{BINARY_MARKER}'"):
        load_cohort(write(frame), write(markers, "markers.csv"), **DECLARED)
    inferred = markers.assign(kind="")                   # kind left to the values: 0/1, so binary
    with raises("markers.csv", "transform", "line 6", "read as a binary marker"):
        load_cohort(write(frame), write(inferred, "markers.csv"), **DECLARED)


def test_a_value_outside_the_transform_domain_names_file_column_line_and_subject(write, concentrations, logged):
    concentrations.loc[4, "BAFF"] = 0.0
    concentrations.loc[7, "BAFF"] = -1.0
    with raises("cohort.csv", "BAFF", "line 6", "P05", "value '0.0'", "'log'", "positive values", "log1p"):
        load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED)


def test_subset_and_summary_keep_the_transforms(write, concentrations, logged):
    cohort = load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED)
    assert cohort.subset(biomarkers=["BAFF", "MX1"]).markers.transforms == ("log", "none")
    summary = cohort.summary()
    assert summary.transforms == (("log", ("IFI44L", "BAFF")),)
    assert "Transforms: log (IFI44L, BAFF)" in str(summary)
    assert summary.to_dict()["transforms"] == {"log": ["IFI44L", "BAFF"]}


def test_objects_built_in_python_refuse_inconsistent_transforms(write, concentrations, logged):
    cohort = load_cohort(write(concentrations), write(logged, "markers.csv"), **DECLARED)
    values = np.array(cohort.values)
    values[3, cohort.biomarker_names.index("BAFF")] = -2.0
    with pytest.raises(ValueError, match="'BAFF' of subject .* outside the domain of its transform 'log'"):
        Cohort(cohort.subject_ids, cohort.is_patient, values, cohort.markers)
    with pytest.raises(ValueError, match="binary marker 'b' cannot take transform 'log'"):
        MarkerTable(("a", "b"), ("m", "m"), ("continuous", "binary"), ("none", "log"))
    scaling = ControlScaling.fit(cohort)
    with pytest.raises(ValueError, match="differ in length"):
        ControlScaling(scaling.biomarkers, scaling.centre, scaling.scale, scaling.method, ("log",))
    with pytest.raises(ValueError, match="binary marker 'anti_SSA' cannot take"):
        ControlScaling(scaling.biomarkers, scaling.centre, scaling.scale, scaling.method, ("log",) * 5)


def _skewed_frame():
    """The default simulated cohort with two B-cell biomarkers as log-normal concentrations."""
    sim = simulate_cohort(seed=0)
    frame = sim.cohort.to_frame()
    controls = frame["group"] == "control"
    for name in ("b_cell_01", "b_cell_02"):
        z = (frame[name] - frame.loc[controls, name].mean()) / frame.loc[controls, name].std()
        frame[name] = np.exp(0.8 * z)
    return sim, frame


def test_declaring_log_clears_the_skewness_warning_and_skew_left_after_it_gets_other_advice():
    sim, frame = _skewed_frame()
    markers = sim.cohort.markers.to_frame()
    declared = markers.assign(transform=np.where(markers["biomarker"].isin(["b_cell_01", "b_cell_02"]), "log", ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CohortWarning)
        cohort = cohort_from_frame(frame, declared, covariates=("age", "sex"), batch="centre")
    assert skewed_biomarkers(cohort).empty
    frame["b_cell_01"] = np.exp(frame["b_cell_01"])        # still skewed on the declared log scale
    with pytest.warns(CohortWarning, match="skewed after the transform declared for them"):
        cohort = cohort_from_frame(frame, declared, covariates=("age", "sex"), batch="centre")
    skewed = skewed_biomarkers(cohort)
    assert skewed["biomarker"].tolist() == ["b_cell_01"] and skewed["transform"].tolist() == ["log"]
    assert not skewed["all_positive"].any()
