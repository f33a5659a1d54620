"""Bad settings and bad new data are refused with messages that name the problem."""

import numpy as np
import pytest

from pss_bayes import SubgroupClassifier
from pss_bayes.errors import ClassifierError


@pytest.mark.parametrize("params, match", [
    ({"coverage": 1.5}, "coverage=1.5"),
    ({"panel_size": 0}, "panel_size=0"),
    ({"n_members": 2.5}, "n_members=2.5"),
    ({"C": -1.0}, "C=-1.0"),
    ({"panel": "interferon_01"}, "panel"),
    ({"panel": ["interferon_01", "interferon_01"]}, "distinct"),
    ({"panel": ["no_such_marker"]}, "no_such_marker"),
])
def test_bad_settings_are_refused_at_fit(tiny_fit, params, match):
    with pytest.raises(ClassifierError, match=match):
        SubgroupClassifier(**params).fit(tiny_fit)


def test_y_is_refused_with_a_fit(tiny_fit):
    with pytest.raises(ClassifierError, match="y must be None"):
        SubgroupClassifier().fit(tiny_fit, np.zeros(3))


def test_unknown_training_patients_are_refused(tiny_fit):
    with pytest.raises(ClassifierError, match="not patients of the fit"):
        SubgroupClassifier().fit(tiny_fit, patients=["P0001", "nobody"])


def test_a_fit_with_a_single_subgroup_is_refused(single_subgroup_fit):
    with pytest.raises(ClassifierError, match=r"single subgroup \(K = 1\).*nothing to classify"):
        SubgroupClassifier().fit(single_subgroup_fit)


def test_a_panel_too_few_patients_have_complete_is_refused(scattered_fit):
    every = list(scattered_fit.cohort.biomarker_names)
    with pytest.raises(ClassifierError, match="0 of 40 patients have every panel biomarker"):
        SubgroupClassifier(panel=every).fit(scattered_fit)


def test_missing_panel_values_name_the_subject_and_biomarker(tiny_classifier, new_patients):
    frame = new_patients.copy()
    marker = tiny_classifier.panel_[0]
    frame.loc[2, marker] = np.nan
    subject = frame.loc[2, "subject_id"]
    with pytest.raises(ClassifierError, match=f"column '{marker}', row 3 \\(subject '{subject}'\\): missing value"):
        tiny_classifier.predict(frame)


def test_absent_panel_columns_are_named(tiny_classifier, new_patients):
    marker = tiny_classifier.panel_[-1]
    with pytest.raises(ClassifierError, match=f"'{marker}' are missing"):
        tiny_classifier.predict(new_patients.drop(columns=marker))


def test_text_and_infinite_values_are_refused(tiny_classifier, new_patients):
    marker = tiny_classifier.panel_[0]
    frame = new_patients.astype({marker: object})
    frame.loc[0, marker] = "high"
    with pytest.raises(ClassifierError, match="'high' is not a number"):
        tiny_classifier.predict(frame)
    frame.loc[0, marker] = np.inf
    with pytest.raises(ClassifierError, match="is infinite"):
        tiny_classifier.predict(frame.astype({marker: float}))


def test_arrays_must_have_every_biomarker_of_the_fit(tiny_classifier):
    with pytest.raises(ValueError, match="expecting"):
        tiny_classifier.predict(np.zeros((2, 3)))
