"""The classifier's JSON file: exact round trip, and refusal of malformed or altered files."""

import json

import pandas as pd
import pytest

from pss_bayes import ResultFileError, SubgroupClassifier
from pss_bayes.classify.io import _checksum


@pytest.fixture()
def saved(tiny_classifier, tmp_path):
    return tiny_classifier.save(tmp_path / "model.json")


def _rewrite(path, edit, resign=True):
    """Apply ``edit`` to the file's content; re-sign it so that only the content check can object."""
    content = json.loads(path.read_text())
    content.pop("sha256")
    edit(content)
    if resign:
        content["sha256"] = _checksum(content)
    path.write_text(json.dumps(content))
    return path


def test_round_trip_gives_identical_predictions(tiny_classifier, saved, new_patients):
    loaded = SubgroupClassifier.load(saved)
    pd.testing.assert_frame_equal(loaded.predict_table(new_patients), tiny_classifier.predict_table(new_patients))
    assert loaded.get_params() == tiny_classifier.get_params()
    pd.testing.assert_frame_equal(loaded.panel_curve_, tiny_classifier.panel_curve_)
    content = json.loads(saved.read_text())
    assert content["training"]["data_hash"] == tiny_classifier.training_["data_hash"]
    assert {"python", "numpy", "scikit-learn"} <= set(content["versions"])
    assert content["scaling"]["biomarkers"] == list(tiny_classifier.panel_)


def test_the_file_is_plain_json_not_pickle(saved):
    assert saved.read_bytes().lstrip().startswith(b"{")


@pytest.mark.parametrize("problem, write, match", [
    ("missing", None, "does not exist"),
    ("not json", "{not json", "is not a JSON classifier file"),
    ("other json", "[1, 2, 3]", "is not a pss_bayes classifier file"),
])
def test_unreadable_files_are_refused(tmp_path, problem, write, match):
    path = tmp_path / "model.json"
    if write is not None:
        path.write_text(write)
    with pytest.raises(ResultFileError, match=match):
        SubgroupClassifier.load(path)


def test_an_edited_file_is_refused(saved):
    _rewrite(saved, lambda c: c["conformal"].update(thresholds=[0.0] * len(c["classes"])), resign=False)
    with pytest.raises(ResultFileError, match="altered"):
        SubgroupClassifier.load(saved)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.update(schema_version=99), "schema version 99"),
    (lambda c: c.pop("ensemble"), "missing field 'ensemble'"),
    (lambda c: c["ensemble"].update(coef=[[[1.0]]]), "ensemble.coef"),
    (lambda c: c["calibration"].update(temperature=-1.0), "temperature"),
    (lambda c: c["features"].update(panel=["not_a_biomarker"]), "panel"),
    (lambda c: c["params"].update(coverage=2.0), "coverage"),
    (lambda c: c["params"].update(unknown=1), "unknown"),
    (lambda c: c["scaling"].update(scale=[0.0] * len(c["scaling"]["scale"])), "scale"),
    (lambda c: c["ood"]["subgroups"][0].update(cov=[[-1.0]]), "valid classifier file"),
])
def test_malformed_content_is_refused_even_with_a_valid_checksum(saved, edit, match):
    _rewrite(saved, edit)
    with pytest.raises(ResultFileError, match=match):
        SubgroupClassifier.load(saved)


@pytest.mark.parametrize("params", [{"panel_size": 4}, {"panel": ["interferon_01", "anti_SSA_Ro"]}])
def test_an_undefined_curve_row_is_stored_as_null(scattered_fit, tmp_path, params):
    model = SubgroupClassifier(n_members=4, random_state=0, **params).fit(scattered_fit)
    path = model.save(tmp_path / "model.json")
    last = json.loads(path.read_text())["panel_curve"][-1]
    assert last["added"] == "all" and last["agreement"] is None and last["log_loss"] is None
    pd.testing.assert_frame_equal(SubgroupClassifier.load(path).panel_curve_, model.panel_curve_)
