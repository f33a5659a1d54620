"""The check of each subgroup's within-module co-variation against the controls', on constructed cohorts."""

import numpy as np
import pandas as pd
import pytest

from pss_bayes.data.io import cohort_from_frame
from pss_bayes.posterior.covariation_check import MIN_PATIENTS, covariation_warnings, subgroup_covariation

MODULES = {"ifn": 5, "bcell": 4, "single": 1}


def _cohort(correlations: dict[int, float], sizes: dict[int, int], n_controls: int = 200, seed: int = 0):
    """A cohort whose controls have within-module correlation 0.5 and whose subgroup ``k`` has
    ``correlations[k]`` in module ``ifn`` (0.5 elsewhere), with age and centre effects; and its labels."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([[0] * n_controls] + [[k] * n for k, n in sizes.items()])
    rows = []
    for label in labels:
        values = []
        for module, width in MODULES.items():
            rho = correlations.get(label, 0.5) if module == "ifn" else 0.5
            shared = rng.normal() * np.sqrt(rho)
            values += list(shared + rng.normal(0, np.sqrt(1 - rho), width) + 2.0 * (label == 1))
        rows.append(values)
    names = [f"{m}_{i}" for m, w in MODULES.items() for i in range(w)]
    frame = pd.DataFrame(np.array(rows) * 3.0 + 10.0, columns=names)
    ids = [f"S{i:04d}" for i in range(len(labels))]
    age = rng.uniform(20, 70, len(labels))
    centre = rng.integers(0, 3, len(labels))
    frame += np.outer(age - 45, np.full(len(names), 0.05)) + np.outer(centre, np.full(len(names), 0.8))
    frame.insert(0, "subject_id", ids)
    frame.insert(1, "group", np.where(labels > 0, "pSS", "control"))
    frame.insert(2, "age", age.round(1))
    frame.insert(3, "centre", [f"c{c}" for c in centre])
    markers = pd.DataFrame({"biomarker": names, "module": [m for m, w in MODULES.items() for _ in range(w)],
                            "kind": "continuous"})
    cohort = cohort_from_frame(frame, markers, covariates=("age",), batch="centre")
    return cohort, pd.Series(labels[labels > 0], index=[i for i, lab in zip(ids, labels) if lab > 0])


def test_a_subgroup_that_co_varies_more_tightly_is_found():
    cohort, labels = _cohort({1: 0.9, 2: 0.5}, {1: 150, 2: 150})
    table = subgroup_covariation(cohort, labels)
    assert set(table["module"]) == {"ifn", "bcell", "all"}          # a one-biomarker module has no pairs
    flagged = table[table["differs"] & (table["module"] != "all")]
    assert flagged[["subgroup", "module"]].values.tolist() == [[1, "ifn"]]
    both = table[table["module"] == "all"].set_index("subgroup")
    module_rows = table[table["module"] != "all"]
    assert both.loc[1, "r_subgroup"] == pytest.approx(module_rows.loc[module_rows["subgroup"] == 1, "r_subgroup"].mean())
    assert both.loc[1, "z"] == pytest.approx(module_rows.loc[module_rows["subgroup"] == 1, "z"].sum() / np.sqrt(2))
    assert not both.loc[2, "differs"]
    row = flagged.iloc[0]
    assert row.r_subgroup == pytest.approx(0.9, abs=0.05) and row.r_controls == pytest.approx(0.5, abs=0.08)
    assert row.n_patients == 150 and row.n_controls == 200 and row.z > 4
    said = covariation_warnings(table)
    assert len(said) == 1 and said[0].startswith("Subgroup 1's biomarkers co-vary more tightly")
    assert "ifn 0.9" in said[0] and "controls' within-module correlation" in said[0]


def test_less_tight_co_variation_is_found_and_named_so():
    cohort, labels = _cohort({1: 0.5, 2: 0.05}, {1: 150, 2: 150}, seed=1)
    said = covariation_warnings(subgroup_covariation(cohort, labels))
    assert len(said) == 1 and said[0].startswith("Subgroup 2's biomarkers co-vary less tightly")


def test_subgroups_that_co_vary_as_the_controls_do_give_no_warning():
    for seed in range(3):
        cohort, labels = _cohort({}, {1: 120, 2: 60, 3: 40}, seed=seed)
        table = subgroup_covariation(cohort, labels)
        assert len(table) == 9 and not table["differs"].any()          # 3 subgroups x (2 modules + all)
        assert covariation_warnings(table) == []


def test_a_subgroup_whose_every_module_co_varies_a_little_less_is_found_by_combining_them():
    """Each module's difference alone falls short of significance; together (Stouffer) they do not."""
    rng = np.random.default_rng(4)
    table = pd.DataFrame({"subgroup": [1] * 5 + [2] * 5, "module": [f"m{i}" for i in range(5)] * 2,
                          "r_subgroup": [0.25] * 5 + [0.5] * 5, "r_controls": [0.5] * 10,
                          "n_patients": 100, "n_controls": 300, "z": np.r_[np.full(5, -2.5), rng.normal(0, 1, 5)]})
    from pss_bayes.posterior import covariation_check

    combined = covariation_check._combine_and_mark(table, covariation_check.MIN_DIFFERENCE, covariation_check.LEVEL)
    marked = combined[combined["differs"]]
    assert marked[["subgroup", "module"]].values.tolist() == [[1, "all"]]
    said = covariation_warnings(combined)
    assert len(said) == 1 and "all modules 0.25 against 0.50" in said[0] and "less tightly" in said[0]


def test_small_subgroups_and_unlabelled_patients_are_left_out():
    cohort, labels = _cohort({1: 0.95, 2: 0.95}, {1: 150, 2: MIN_PATIENTS - 1}, seed=2)
    table = subgroup_covariation(cohort, labels.drop(labels.index[:5]))     # five patients without a label
    assert set(table["subgroup"]) == {1} and table.loc[table["module"] == "ifn", "n_patients"].item() == 145
    assert table["differs"].any()
