"""``pss-bayes validate``: prints the summary of a valid cohort, a clear message otherwise."""

from __future__ import annotations

import pytest

from pss_bayes.cli import main
from tests.data.factories import make_frame, make_markers


@pytest.fixture
def files(tmp_path):
    cohort, markers = tmp_path / "cohort.csv", tmp_path / "markers.csv"
    make_frame().to_csv(cohort, index=False)
    make_markers().to_csv(markers, index=False)
    return cohort, markers


def test_valid_cohort_prints_summary(files, capsys):
    cohort, markers = files
    main(["validate", str(cohort), "--markers", str(markers), "--covariates", "age, sex",
          "--batch", "centre"])
    out = capsys.readouterr().out
    assert f"Cohort '{cohort}': 24 subjects, 12 patients ('pSS') and 12 healthy controls" in out
    assert "Covariates: age (numeric), sex (categorical)" in out
    assert "interferon (2), b_cell (2), autoantibody (1)" in out
    assert "The cohort is valid." in out


def test_dropped_subjects_are_reported(tmp_path, capsys):
    frame = make_frame()
    frame.loc[0, "age"] = None
    path = tmp_path / "cohort.tsv"
    frame.to_csv(path, sep="\t", index=False)
    main(["validate", str(path), "--covariates", "age", "--batch", "centre",
          "--drop-missing-covariates"])
    assert "Dropped subjects (1): P01 (missing covariate 'age')" in capsys.readouterr().out


def test_custom_labels(tmp_path, capsys):
    frame = make_frame()
    frame["group"] = frame["group"].map({"pSS": "SjD", "control": "HC"})
    path = tmp_path / "cohort.parquet"
    frame.to_parquet(path)
    main(["validate", str(path), "--patient-label", "SjD", "--control-label", "HC",
          "--covariates", "age"])
    assert "12 patients ('SjD') and 12 healthy controls ('HC')" in capsys.readouterr().out


def test_invalid_cohort_exits_2_with_message(files, capsys):
    cohort, markers = files
    text = cohort.read_text().replace("P03,pSS", "P03,SjD")
    cohort.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(cohort), "--markers", str(markers)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "column 'group', line 4 (subject 'P03'): unknown group label 'SjD'" in captured.err
    assert "--patient-label" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "The cohort is valid" not in captured.out


def test_missing_file_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(tmp_path / "absent.csv")])
    assert exit_info.value.code == 2
    assert "absent.csv' does not exist" in capsys.readouterr().err
