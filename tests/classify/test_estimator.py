"""The scikit-learn estimator contract, and what a classifier trained on a fit holds and predicts.

scikit-learn's own checks run with ``abstain=False``. With the default
``abstain=True``, ``predict`` may answer ``"indeterminate"``, which is not one of
``classes_``; the checks that compare ``predict``'s output with the training
labels (or do arithmetic on it) cannot apply, and are listed in
:data:`ABSTENTION_FAILS` with that reason.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from pss_bayes import NotFittedError, SubgroupClassifier
from pss_bayes.classify import INDETERMINATE

_REASON = "predict may answer 'indeterminate', which is not one of classes_"
ABSTENTION_FAILS = {name: _REASON for name in (
    "check_fit_score_takes_y", "check_pipeline_consistency", "check_estimators_pickle",
    "check_classifier_data_not_an_array", "check_classifiers_train", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit_idempotent", "check_supervised_y_2d")}


def _expected_failures(estimator):
    return ABSTENTION_FAILS if estimator.abstain else {}


@parametrize_with_checks([SubgroupClassifier(n_members=3, abstain=False), SubgroupClassifier(n_members=3)],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_parameters_round_trip_and_clone():
    model = SubgroupClassifier(panel_size=4, coverage=0.8)
    assert model.get_params()["panel_size"] == 4
    assert model.set_params(coverage=0.95) is model and model.coverage == 0.95
    assert clone(model).get_params() == model.get_params()


def test_use_before_fit_is_refused():
    with pytest.raises(NotFittedError, match="not fitted"):
        SubgroupClassifier().predict(np.zeros((1, 3)))


def test_a_fit_trained_classifier_holds_its_learned_state(tiny_classifier, tiny_fit):
    model = tiny_classifier
    assert list(model.classes_) == list(range(1, tiny_fit.k + 1))
    assert 1 <= len(model.panel_) <= 10 and set(model.panel_) <= set(tiny_fit.cohort.biomarker_names)
    assert list(model.scaling_.biomarkers) == list(model.panel_)
    assert model.ensemble_.coef.shape == (8, tiny_fit.k, len(model.panel_))
    assert list(model.panel_curve_.columns) == ["size", "added", "agreement", "log_loss"]
    assert model.panel_curve_["added"].iloc[-1] == "all"
    assert model.temperature_ > 0 and model.conformal_thresholds_.shape == (tiny_fit.k,)
    assert model.training_["data_hash"] == tiny_fit.cohort.data_hash()


def test_predictions_are_probabilities_sets_and_flags(tiny_classifier, new_patients):
    model = tiny_classifier
    proba = model.predict_proba(new_patients)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    lo, hi = model.predict_interval(new_patients)
    assert np.all((lo <= proba + 1e-12) & (proba <= hi + 1e-12))
    table = model.predict_table(new_patients)
    k = len(model.classes_)
    assert list(table.columns) == ["subject_id", "subgroup"] + [
        f"p_{c}{s}" for c in range(1, k + 1) for s in ("", "_lo", "_hi")] + ["prediction_set", "ood"]
    assert table["subject_id"].tolist() == new_patients["subject_id"].tolist()
    sets = model.predict_sets(new_patients)
    assert sets.any(1).all()
    undecided = (sets.sum(1) > 1) | model.is_ood(new_patients) | (proba.max(1) < model.min_probability)
    assert ((table["subgroup"] == INDETERMINATE).to_numpy() == undecided).all()
    decided = ~undecided
    assert (table["subgroup"][decided].astype(int).to_numpy() == model.classes_[proba.argmax(1)][decided]).all()


def test_same_seed_same_classifier(tiny_fit, new_patients):
    a = SubgroupClassifier(n_members=4, random_state=3).fit(tiny_fit)
    b = SubgroupClassifier(n_members=4, random_state=3).fit(tiny_fit)
    pd.testing.assert_frame_equal(a.predict_table(new_patients), b.predict_table(new_patients))


def test_a_given_panel_is_used_as_is(tiny_fit, new_patients):
    panel = ["interferon_01", "inflammation_01", "b_cell_01"]
    model = SubgroupClassifier(panel=panel, n_members=4).fit(tiny_fit)
    assert sorted(model.panel_) == sorted(panel)
    assert model.predict_proba(new_patients[["subject_id", *panel]]).shape == (len(new_patients), tiny_fit.k)


def test_soft_labels_and_posterior_draws_are_accepted_as_y():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)) + np.repeat(np.eye(3, 4) * 3, 40, axis=0)
    soft = np.repeat(np.eye(3) * 0.8 + 0.2 / 3, 40, axis=0)
    model = SubgroupClassifier(n_members=3).fit(X, soft)
    assert list(model.classes_) == [1, 2, 3] and model.scaling_ is None
    draws = np.stack([soft, soft[::-1]])
    assert SubgroupClassifier(n_members=3).fit(X, draws).predict_proba(X).shape == (120, 3)


def test_ood_flag_fires_on_controls_and_shifted_subjects_more_than_on_patients(tiny_classifier, tiny_sim,
                                                                                new_patients):
    model = tiny_classifier
    frame = tiny_sim.cohort.to_frame()
    controls = frame[frame["group"] == "control"].dropna(subset=list(model.panel_))
    patients = model.is_ood(new_patients).mean()
    shifted = new_patients[list(model.panel_)] + 6 * np.asarray(model.scaling_.scale) * ~model.panel_is_binary_
    assert model.is_ood(controls).mean() > patients
    assert model.is_ood(shifted).mean() > max(patients, 0.9)
    table = model.predict_table(controls)
    assert (table.loc[table["ood"], "subgroup"] == INDETERMINATE).all()
