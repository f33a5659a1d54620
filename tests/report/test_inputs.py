"""Readers of the optional report inputs: documented columns, defensive classifier parsing, errors."""

import json

import pandas as pd
import pytest

from pss_bayes.errors import ResultFileError
from pss_bayes.report.html import table
from pss_bayes.report.inputs import (calibration_curves, check_same_data, read_classifier, read_comparison,
                                     read_sensitivity)


def test_comparison_keeps_documented_columns_in_order(tmp_path):
    pd.DataFrame({"extra": [1], "elpd_loo": [-3.0], "model": ["default"], "k": [2]}).to_csv(
        tmp_path / "comparison.csv", index=False)
    comparison = read_comparison(tmp_path)
    assert list(comparison.table.columns) == ["model", "k", "elpd_loo"] and comparison.text is None


def test_sensitivity_reads_summary(tmp_path):
    pd.DataFrame({"variant": ["a"], "status": ["ok"]}).to_csv(tmp_path / "stability.csv", index=False)
    (tmp_path / "summary.md").write_text("stable")
    sensitivity = read_sensitivity(tmp_path)
    assert sensitivity.text == "stable" and list(sensitivity.table.columns) == ["variant", "status"]


def test_counts_stay_integers_where_a_variant_failed(tmp_path):
    (tmp_path / "stability.csv").write_text("variant,status,n_patients,k_mode,n_changed\n"
                                            "reference,done,40,3,0\nwithout_B,failed,,,\n")
    frame = read_sensitivity(tmp_path).table
    assert str(frame["k_mode"].dtype) == "Int64" and str(frame["n_changed"].dtype) == "Int64"
    html = table(frame)
    assert '<td class="num">3</td>' in html and "3.00" not in html and "&lt;NA&gt;" not in html


def test_inputs_give_the_data_hash_they_record(tmp_path, tiny_fit):
    data_hash = tiny_fit.cohort.data_hash()
    tiny_fit.save(tmp_path / "fits" / "default.nc")
    pd.DataFrame({"model": ["default"]}).to_csv(tmp_path / "comparison.csv", index=False)
    pd.DataFrame({"variant": ["reference"]}).to_csv(tmp_path / "stability.csv", index=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"cohort": {"data_hash": "b" * 64}}))
    (tmp_path / "model.json").write_text(json.dumps({"training": {"data_hash": "c" * 64}}))
    assert read_comparison(tmp_path).data_hash == data_hash
    assert read_sensitivity(tmp_path).data_hash == "b" * 64
    assert read_classifier(tmp_path / "model.json").data_hash == "c" * 64
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "model.json").write_text(json.dumps({"training": {"n_patients": 40}}))
    assert read_sensitivity(tmp_path).data_hash is None and read_classifier(tmp_path / "model.json").data_hash is None


def test_check_same_data_accepts_the_fits_data_and_files_without_a_hash():
    check_same_data("a" * 64, "fit folder 'fit'", [("comparison folder 'c'", "a" * 64), ("classifier file 'm'", None)])
    with pytest.raises(ResultFileError, match="sensitivity folder 's' and fit folder 'fit' were made from different "
                                              "data \\(data hash bbbbbbbbbbbb… vs aaaaaaaaaaaa…\\)"):
        check_same_data("a" * 64, "fit folder 'fit'", [("sensitivity folder 's'", "b" * 64)])


@pytest.mark.parametrize(("data", "labels", "unreadable"), [
    (None, [], False),
    ({"prob_pred": [0.2, 0.8], "prob_true": [0.25, 0.7]}, ["all"], False),
    ({"1": {"predicted": [0.5], "observed": [0.4]}, "2": "oops"}, ["1"], True),
    ([{"label": "a", "confidence": [0.3], "accuracy": [0.35]}], ["a"], False),
    ({"predicted": [0.1, 0.2], "observed": [0.1]}, [], True),
    ("not a curve", [], True),
])
def test_calibration_curves_are_read_defensively(data, labels, unreadable):
    curves, bad = calibration_curves(data)
    assert [c.label for c in curves] == labels and bad is unreadable
    for curve in curves:
        assert curve.predicted.shape == curve.observed.shape


def test_classifier_generic_keys(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"panel": "IFI27", "accuracy": 0.9, "nested": {"a": 1}}))
    classifier = read_classifier(path)
    assert classifier.panel == () and classifier.curves == () and not classifier.calibration_unreadable
    assert classifier.facts == {"accuracy": 0.9}
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ResultFileError, match="should hold a JSON object"):
        read_classifier(path)
    with pytest.raises(ResultFileError, match="classify train"):
        read_classifier(tmp_path / "missing.json")


def test_classifier_file_of_classify_train(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({
        "format": "pss_bayes.SubgroupClassifier", "schema_version": 1, "features": {"panel": ["IFI27", "CXCL10"]},
        "params": {"coverage": 0.9}, "calibration": {"temperature": 0.8, "ece": 0.03},
        "panel_curve": [{"size": 1, "added": "IFI27", "agreement": 0.8, "log_loss": 0.5}], "sha256": "0a1b"}))
    classifier = read_classifier(path)
    assert classifier.panel == ("IFI27", "CXCL10")
    assert classifier.curves == () and not classifier.calibration_unreadable
    assert classifier.facts == {"coverage of the prediction sets": 0.9, "calibration temperature": 0.8,
                                "calibration error (ECE) after calibration": 0.03}
    assert classifier.panel_curve.to_dict("records") == [{"size": 1, "added": "IFI27", "agreement": 0.8,
                                                          "log_loss": 0.5}]


def test_unreadable_csv(tmp_path):
    (tmp_path / "stability.csv").write_bytes(b"")
    with pytest.raises(ResultFileError, match="not a readable CSV"):
        read_sensitivity(tmp_path)


def test_classifier_section_explains_a_panel_curve_row_no_patient_could_judge(tmp_path):
    from pss_bayes.report.optional import classifier_section

    path = tmp_path / "model.json"
    curve = [{"size": 1, "added": "IFI27", "agreement": 0.8, "log_loss": 0.5},
             {"size": 9, "added": "all", "agreement": None, "log_loss": None}]
    path.write_text(json.dumps({"format": "pss_bayes.SubgroupClassifier", "schema_version": 2,
                                "features": {"panel": ["IFI27"]}, "panel_curve": curve, "sha256": "0a1b"}))
    body = classifier_section(read_classifier(path), {"IFI27": "interferon"}).body
    assert "An empty cell: no patient had every biomarker of that row measured" in body
    curve[1].update(agreement=0.9, log_loss=0.3)
    path.write_text(json.dumps({"format": "pss_bayes.SubgroupClassifier", "schema_version": 2,
                                "features": {"panel": ["IFI27"]}, "panel_curve": curve, "sha256": "0a1b"}))
    assert "An empty cell" not in classifier_section(read_classifier(path), {"IFI27": "interferon"}).body
