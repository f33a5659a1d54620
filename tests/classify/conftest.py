"""A classifier trained once on the shared tiny fit, new-patient tables from the tiny cohort, and variants
of the tiny fit (patients each missing a biomarker; a single subgroup)."""

import dataclasses

import numpy as np
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


@pytest.fixture(scope="session")
def scattered_fit(tiny_fit):
    """The tiny fit with one more biomarker missing for every patient (in turn), so none has them all."""
    cohort = tiny_fit.cohort
    values = cohort.values.copy()
    patients = np.flatnonzero(cohort.is_patient)
    values[patients, patients % values.shape[1]] = np.nan
    return dataclasses.replace(tiny_fit, cohort=dataclasses.replace(cohort, values=values))


@pytest.fixture(scope="session")
def single_subgroup_fit(tiny_fit):
    """The tiny fit's posterior cut down to its first subgroup (K = 1)."""
    return dataclasses.replace(tiny_fit, idata=tiny_fit.idata.isel(subgroup=[0]))
