"""A fit on concentrations declared ``log`` equals a fit on their logarithms, classifier included."""

import json

import numpy as np
import pandas as pd
import pytest

from pss_bayes import SubgroupClassifier
from pss_bayes.classify.io import _checksum
from pss_bayes.classify.predictions import predict_file
from pss_bayes.data.io import cohort_from_frame
from pss_bayes.errors import ClassifierError
from pss_bayes.fit_dir import load_fit_dir, write_fit_dir
from pss_bayes.inference import fit

SAMPLER = dict(seed=3, draws=40, tune=40, chains=1, extensions=0, n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def pair(tiny_sim):
    """The tiny cohort as concentrations with ``transform = log``, and as the logarithms themselves."""
    cohort = tiny_sim.cohort
    continuous = [n for n, k in zip(cohort.markers.names, cohort.markers.kinds) if k == "continuous"]
    markers = cohort.markers.to_frame()
    logged = cohort_from_frame(cohort.to_frame(), markers, covariates=("age", "sex"), batch="centre")
    raw = cohort.to_frame()
    raw[continuous] = np.exp(raw[continuous])
    declared = markers.assign(transform=["log" if n in continuous else "" for n in markers["biomarker"]])
    concentrations = cohort_from_frame(raw, declared, covariates=("age", "sex"), batch="centre")
    return concentrations, logged, raw, continuous


def test_fit_and_classifier_on_declared_logarithms_match_the_logged_data(pair, tmp_path):
    concentrations, logged, raw, continuous = pair
    fits = fit(concentrations, "default", **SAMPLER), fit(logged, "default", **SAMPLER)
    a, b = (f.membership().set_index("subject_id") for f in fits)
    pd.testing.assert_frame_equal(a, b, atol=1e-6)
    effects = fits[0].effects()
    assert set(effects.loc[effects["biomarker"].isin(continuous), "scale"]) == {"control SD of log"}
    write_fit_dir(fits[0], tmp_path / "fit")
    reloaded = load_fit_dir(tmp_path / "fit")
    assert reloaded.scaling == fits[0].scaling and reloaded.cohort.markers == concentrations.markers
    models = [SubgroupClassifier(n_members=4, panel_size=4, random_state=0).fit(f) for f in fits]
    assert "log" in models[0].scaling_.transforms and set(models[1].scaling_.transforms) == {"none"}
    patients = raw[raw["group"] == "pSS"].dropna(subset=list(models[0].panel_)).reset_index(drop=True)
    logged_patients = patients.copy()
    panel_continuous = [b for b, t in zip(models[0].panel_, models[0].scaling_.transforms) if t == "log"]
    assert panel_continuous                               # the panel holds transformed biomarkers
    logged_patients[panel_continuous] = np.log(patients[panel_continuous])
    assert np.allclose(models[0].predict_proba(patients), models[1].predict_proba(logged_patients), atol=1e-6)
    loaded = SubgroupClassifier.load(models[0].save(tmp_path / "model.json"))
    assert loaded.scaling_.transforms == models[0].scaling_.transforms
    assert np.allclose(loaded.predict_proba(patients), models[0].predict_proba(patients))

    bad = patients.copy()
    bad.loc[2, panel_continuous[0]] = 0.0
    bad.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(ClassifierError, match=f"new.csv.*{panel_continuous[0]}.*line 4.*transform 'log'"):
        predict_file(loaded, tmp_path / "new.csv", tmp_path / "predictions.csv")
    with pytest.raises(ClassifierError, match="positive values"):
        models[0].predict_proba(bad)


def test_a_classifier_file_of_schema_1_reads_with_no_transforms(tiny_classifier, tmp_path):
    path = tiny_classifier.save(tmp_path / "model.json")
    content = json.loads(path.read_text())
    content.pop("sha256")
    content["schema_version"] = 1
    content["scaling"].pop("transforms")
    content["sha256"] = _checksum(content)
    path.write_text(json.dumps(content))
    loaded = SubgroupClassifier.load(path)
    assert set(loaded.scaling_.transforms) == {"none"}
    assert loaded.scaling_ == tiny_classifier.scaling_
