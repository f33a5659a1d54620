"""A classifier trained once on the shared tiny fit, and new-patient tables from the tiny cohort."""

import pytest

from pss_bayes.classify import SubgroupClassifier


@pytest.fixture(scope="session")
def tiny_classifier(tiny_fit):
    """Default classifier (few members) trained on the tiny fit."""
    return SubgroupClassifier(n_members=8, random_state=0).fit(tiny_fit)


@pytest.fixture(scope="session")
def new_patients(tiny_sim, tiny_classifier):
    """The tiny cohort's patients with complete panel values, as a table in the input layout."""
    frame = tiny_sim.cohort.to_frame()
    frame = frame[frame["group"] == "pSS"].dropna(subset=list(tiny_classifier.panel_))
    return frame.reset_index(drop=True)
