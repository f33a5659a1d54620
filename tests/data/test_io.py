"""Reading and writing cohorts: formats, round trips, missing values, dtypes, markers inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pss_bayes.data.cohort import BINARY, CONTINUOUS
from pss_bayes.data.io import (MIN_SUBJECTS_PER_GROUP, NA_VALUES, CohortWarning, cohort_from_frame,
                               load_cohort, read_table, write_cohort, write_markers)
from tests.data.factories import BINARY_MARKER, MODULES

DECLARED = {"covariates": ("age", "sex"), "batch": "centre"}


def test_min_subjects_per_group_is_documented_bound():
    assert 1 < MIN_SUBJECTS_PER_GROUP <= 20


@pytest.mark.parametrize("name", ["cohort.csv", "cohort.tsv", "cohort.txt", "cohort.parquet", "cohort.pq"])
def test_every_format_reads_the_same_cohort(frame, write, name):
    path = write(frame, name) if not name.endswith(".pq") else _write_pq(frame, write)
    cohort = load_cohort(path, **DECLARED)
    assert cohort.n_patients == 12 and cohort.n_controls == 12
    assert cohort.biomarker_names == (*MODULES, BINARY_MARKER)
    np.testing.assert_allclose(cohort.values, frame[[*MODULES, BINARY_MARKER]].to_numpy(float))
    assert list(cohort.subject_ids) == list(frame["subject_id"])
    assert cohort.source == str(path)


def _write_pq(frame, write):
    path = write(frame, "cohort.parquet")
    return path.rename(path.with_suffix(".pq"))


def test_read_table_keeps_text_cells_as_text(frame, write):
    frame.loc[0, "CXCL13"] = np.nan
    table = read_table(write(frame))
    assert list(table.columns) == list(frame.columns)
    assert table.loc[0, "CXCL13"] == ""
    assert table.loc[1, "age"] == f"{frame.loc[1, 'age']}"
    assert all(pd.api.types.is_string_dtype(table[c]) for c in table.columns)


def test_read_table_skips_blank_lines_and_strips_header(write_text):
    table = read_table(write_text("\n subject_id ,group\n\nS1,pSS\n\n"))
    assert list(table.columns) == ["subject_id", "group"]
    assert table.to_dict("list") == {"subject_id": ["S1"], "group": ["pSS"]}


def test_utf8_byte_order_mark_is_ignored(frame, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(frame.to_csv(index=False).encode("utf-8-sig"))
    assert read_table(path).columns[0] == "subject_id"


def test_biomarkers_are_inferred_from_numeric_columns(frame, write):
    frame["notes"] = np.where(np.arange(len(frame)) % 2 == 0, "fatigue", "")
    frame["empty"] = ""
    cohort = load_cohort(write(frame), covariates=("age",))
    assert cohort.biomarker_names == (*MODULES, BINARY_MARKER)
    assert cohort.ignored_columns == ("sex", "centre", "notes", "empty")
    assert cohort.markers.modules == cohort.markers.names
    assert cohort.markers.kinds == (CONTINUOUS,) * 4 + (BINARY,)
    assert cohort.batch is None


def test_undeclared_numeric_column_is_a_biomarker(frame, write):
    cohort = load_cohort(write(frame))
    assert cohort.biomarker_names == ("age", *MODULES, BINARY_MARKER)
    assert cohort.covariate_names == ()


def test_unnamed_index_column_is_ignored(frame, tmp_path):
    path = tmp_path / "indexed.csv"
    frame.to_csv(path, index=True)
    cohort = load_cohort(path, **DECLARED)
    assert cohort.ignored_columns[0] == "Unnamed: 0"
    assert "Unnamed: 0" not in cohort.biomarker_names


def test_markers_file_sets_biomarkers_modules_and_kinds(frame, markers, write):
    markers = markers[markers["biomarker"] != "MX1"]
    cohort = load_cohort(write(frame), write(markers, "markers.csv"), **DECLARED)
    assert cohort.biomarker_names == ("IFI44L", "BAFF", "CXCL13", BINARY_MARKER)
    assert cohort.markers.modules == ("interferon", "b_cell", "b_cell", "autoantibody")
    assert cohort.markers.kinds == (CONTINUOUS,) * 3 + (BINARY,)
    assert cohort.ignored_columns == ("MX1",)


def test_markers_module_and_kind_default_when_absent_or_empty(frame, write):
    only_names = pd.DataFrame({"biomarker": ["MX1", BINARY_MARKER]})
    cohort = load_cohort(write(frame), write(only_names, "markers.csv"))
    assert cohort.markers.modules == ("MX1", BINARY_MARKER)
    assert cohort.markers.kinds == (CONTINUOUS, BINARY)
    blanks = pd.DataFrame({"biomarker": ["MX1", BINARY_MARKER], "module": ["", "ab"],
                           "kind": ["", " Binary "]})
    cohort = load_cohort(write(frame), write(blanks, "markers.tsv"))
    assert cohort.markers.modules == ("MX1", "ab") and cohort.markers.kinds == (CONTINUOUS, BINARY)


def test_binary_values_may_be_declared_continuous(frame, markers, write):
    markers.loc[markers["biomarker"] == BINARY_MARKER, "kind"] = "continuous"
    cohort = load_cohort(write(frame), write(markers, "markers.csv"))
    assert cohort.markers.kinds[-1] == CONTINUOUS


@pytest.mark.parametrize("spelling", NA_VALUES + ("na", "NULL", " n/a ", "nan"))
def test_missing_value_spellings_become_nan(frame, write, spelling):
    frame = frame.astype({"BAFF": object, BINARY_MARKER: object})
    frame.loc[2, "BAFF"] = spelling
    frame.loc[20, BINARY_MARKER] = spelling
    cohort = load_cohort(write(frame), **DECLARED)
    missing = np.argwhere(np.isnan(cohort.values))
    assert missing.tolist() == [[2, 2], [20, 4]]


def test_covariate_dtypes_numeric_and_categorical(frame, write):
    frame["centre_code"] = np.where(np.arange(len(frame)) < 6, "C1", "2")
    cohort = load_cohort(write(frame), covariates=("age", "sex", "centre_code"))
    table = cohort.covariate_frame()
    assert table["age"].dtype == np.float64
    assert pd.api.types.is_string_dtype(table["sex"]) and set(table["sex"]) == {"F", "M"}
    assert pd.api.types.is_string_dtype(table["centre_code"])
    np.testing.assert_array_equal(table["age"].to_numpy(), frame["age"].to_numpy())


def test_group_labels_ignore_case_and_spaces(frame, write):
    frame["group"] = np.where(frame["group"] == "pSS", " PSS ", "Control")
    cohort = load_cohort(write(frame))
    assert cohort.n_patients == 12 and cohort.group_labels == ("pSS", "control")


def test_custom_group_labels(frame, write):
    frame["group"] = np.where(frame["group"] == "pSS", "SjD", "HC")
    cohort = load_cohort(write(frame), patient_label="SjD", control_label="hc")
    assert cohort.n_controls == 12 and cohort.group_labels == ("SjD", "hc")


def test_drop_missing_covariates_drops_and_records(frame, write):
    frame.loc[1, "age"] = np.nan
    frame.loc[14, "sex"] = "NA"
    frame.loc[1, "sex"] = ""
    cohort = load_cohort(write(frame), covariates=("age", "sex"), drop_missing_covariates=True)
    assert cohort.n_subjects == 22 and "P02" not in cohort.subject_ids
    assert cohort.dropped_subjects == (("P02", "missing covariate 'age', 'sex'"),
                                       ("C03", "missing covariate 'sex'"))
    assert cohort.covariate_frame().index.tolist() == list(cohort.subject_ids)


def _round_trip_frame(frame):
    frame = frame.astype({"BAFF": float, BINARY_MARKER: float})
    frame.loc[[0, 5, 17], "BAFF"] = np.nan
    frame.loc[[3, 13], BINARY_MARKER] = np.nan
    frame.loc[7, "IFI44L"] = 1 / 3
    return frame


@pytest.mark.parametrize("first, second", [("a.csv", "b.parquet"), ("a.parquet", "b.tsv"),
                                           ("a.tsv", "b.csv")])
def test_round_trip_keeps_values_missingness_and_dtypes(frame, markers, write, tmp_path, first, second):
    markers_path = write(markers, "markers.csv")
    original = load_cohort(write(_round_trip_frame(frame), first), markers_path, **DECLARED)
    again = load_cohort(write_cohort(original, tmp_path / second), markers_path, **DECLARED)
    np.testing.assert_array_equal(again.values, original.values)  # NaN positions included
    assert np.isnan(again.values).sum() == 5
    assert again.data_hash() == original.data_hash()
    assert again.markers == original.markers
    pd.testing.assert_frame_equal(again.covariate_frame(), original.covariate_frame())
    assert list(again.batch) == list(original.batch)


def test_written_binary_markers_stay_integer(frame, write, tmp_path):
    cohort = load_cohort(write(_round_trip_frame(frame)))
    written = pd.read_parquet(write_cohort(cohort, tmp_path / "out.parquet"))
    assert str(written[BINARY_MARKER].dtype) == "Int64"
    text = (tmp_path / "out.csv")
    write_cohort(cohort, text)
    line = text.read_text().splitlines()[4]  # subject P04: anti_SSA missing
    assert line.endswith(",")


def test_write_markers_round_trip(frame, markers, write, tmp_path):
    cohort = load_cohort(write(frame), write(markers, "markers.csv"))
    for target in (cohort, cohort.markers):
        path = write_markers(target, tmp_path / "sub" / "markers.parquet")
        assert load_cohort(write(frame), path).markers == cohort.markers


def test_cohort_from_frame_accepts_numeric_frames(frame, markers):
    frame = frame.assign(anti_SSA=frame[BINARY_MARKER].astype(bool))
    cohort = cohort_from_frame(frame, markers.drop(columns="kind"), covariates=("age",))
    assert cohort.markers.kinds[-1] == BINARY
    assert cohort.source is None


def test_parquet_index_becomes_a_column(frame, tmp_path):
    path = tmp_path / "indexed.parquet"
    frame.set_index("subject_id").to_parquet(path)
    assert list(load_cohort(path).subject_ids) == list(frame["subject_id"])


def test_binary_marker_without_positive_controls_warns(frame, write):
    frame.loc[frame["group"] == "control", BINARY_MARKER] = 0
    with pytest.warns(CohortWarning, match="'anti_SSA': no healthy control is positive"):
        cohort = load_cohort(write(frame))
    assert cohort.markers.kinds[-1] == BINARY
