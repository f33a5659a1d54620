"""Nested cross-fitting: the panel curve and the temperature, on synthetic soft labels."""

import numpy as np
import pytest

from pss_bayes.classify.crossfit import cross_fit
from pss_bayes.classify.training import from_arrays
from pss_bayes.errors import ClassifierError


def test_curve_has_every_size_and_all_markers_and_a_positive_temperature():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    X = np.column_stack([labels * 3.0 + rng.normal(size=200), rng.normal(size=(200, 2))])
    X[:5, 1] = np.nan                                            # missing values are completed in training only
    soft = np.where(np.eye(2)[labels] == 1, 0.9, 0.1)
    data = from_arrays(X, soft, ["a", "b", "c"])
    curve, temperature = cross_fit(data, np.arange(200), candidates=[0, 1, 2], size=2, order=[0, 1],
                                   n_members=3, C=1.0, rng=rng)
    assert curve["size"].tolist() == [1, 2, 3] and curve["added"].tolist() == ["a", "b", "all"]
    assert curve["agreement"].iloc[0] > 0.9 and (curve["log_loss"] > 0).all()
    assert 0.05 < temperature < 20


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_row_no_patient_has_every_biomarker_of_is_undefined():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 60)
    X = np.column_stack([labels * 3.0 + rng.normal(size=60), rng.normal(size=(60, 2))])
    X[np.arange(60), 1 + np.arange(60) % 2] = np.nan             # every patient misses b or c
    data = from_arrays(X, np.eye(2)[labels], ["a", "b", "c"])
    curve, temperature = cross_fit(data, np.arange(60), candidates=[0], size=1, order=[0], n_members=3, C=1.0,
                                   rng=rng)
    assert curve["added"].tolist() == ["a", "all"]
    assert curve["agreement"].iloc[0] > 0.9 and curve[["agreement", "log_loss"]].iloc[1].isna().all()
    assert 0.05 < temperature < 20


def test_a_panel_no_patient_has_complete_is_refused():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 60)
    X = labels[:, None] * 3.0 + rng.normal(size=(60, 2))
    X[np.arange(60), np.arange(60) % 2] = np.nan
    data = from_arrays(X, np.eye(2)[labels], ["a", "b"])
    with pytest.raises(ClassifierError, match="none of the 60 training patients has every biomarker"):
        cross_fit(data, np.arange(60), candidates=[0, 1], size=2, order=[0, 1], n_members=3, C=1.0, rng=rng)
