"""Stability metrics on hand-made result tables (no sampler)."""

import numpy as np
import pandas as pd
import pytest

from pss_bayes.sensitivity.report import describe
from pss_bayes.sensitivity.stability import (FitTables, compare, match_subgroups, membership_change_matrix,
                                             patient_stability)


def tables(probabilities, ids=None, k_probs=None, effects=None) -> FitTables:
    """FitTables from a (patients x subgroups) membership matrix."""
    p = np.asarray(probabilities, dtype=float)
    ids = ids or [f"P{i:02d}" for i in range(len(p))]
    membership = pd.DataFrame({"subject_id": ids, "subgroup": p.argmax(1) + 1, "p_max": p.max(1),
                               "entropy": 0.0})
    for k in range(p.shape[1]):
        membership[f"p_{k + 1}"] = p[:, k]
        membership[f"p_{k + 1}_lo"] = p[:, k]
        membership[f"p_{k + 1}_hi"] = p[:, k]
    k_probs = k_probs or {p.shape[1]: 1.0}
    n_subgroups = pd.DataFrame({"k": list(k_probs), "probability": list(k_probs.values())})
    effects = effects if effects is not None else pd.DataFrame(
        {"subgroup": np.repeat(np.arange(1, p.shape[1] + 1), 2), "module": ["ifn", "bcell"] * p.shape[1],
         "mean": 0.0, "sd": 1.0})
    return FitTables(membership, n_subgroups, effects)


def one_hot(labels, k):
    return np.eye(k)[labels]


def test_relabelled_identical_fit_is_perfectly_stable():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    ref = tables(one_hot(labels, 3))
    var = tables(one_hot(labels, 3)[:, [2, 0, 1]])          # same partition, other labels
    c = compare(ref, var)
    assert c.ari == pytest.approx(1.0) and c.n_changed == 0 and c.max_change == 0.0
    assert c.stable and all(f.recovered for f in c.fates)
    assert describe(c, 3).startswith("same subgroups")


def test_merged_subgroup_is_named_with_its_destination():
    ref = tables(one_hot(np.array([0, 0, 0, 1, 1, 1, 2, 2]), 3))
    var = tables(one_hot(np.array([0, 0, 0, 1, 1, 1, 1, 1]), 2), k_probs={2: 0.8, 3: 0.2})
    c = compare(ref, var)
    assert c.k_mode == 2 and c.p_k_reference == pytest.approx(0.2) and not c.stable
    assert c.n_changed == 2 and c.max_change == 1.0
    lost = [f for f in c.fates if not f.recovered]
    assert [(f.subgroup, f.size, f.destination) for f in lost] == [(3, 2, "subgroup 2")]
    text = describe(c, 3)
    assert "K 3 → 2" in text and "subgroup 3 (2 patients) disappears (most of its patients join subgroup 2)" in text


def test_new_subgroup_from_a_split():
    ref = tables(one_hot(np.array([0, 0, 0, 1, 1, 1, 1, 1]), 2))
    var = tables(one_hot(np.array([0, 0, 0, 1, 1, 1, 2, 2]), 3))
    c = compare(ref, var)
    assert c.new_subgroups == [(2, 2)]
    assert c.changed.tolist() == [False] * 6 + [True] * 2
    assert c.change.tolist() == [0.0] * 6 + [1.0] * 2
    assert all(f.recovered for f in c.fates) and c.major_new_subgroups == [(2, 2)] and not c.stable
    assert "K 2 → 3; a new subgroup of 2 patients appears (mostly from subgroup 2)" in describe(c, 2)


def test_a_small_split_is_a_minor_change():
    ref = tables(one_hot(np.array([0] * 30 + [1] * 30), 2))
    var = tables(one_hot(np.array([0] * 29 + [2] + [1] * 30), 3))
    c = compare(ref, var)
    assert c.k_mode == 3 and c.new_subgroups == [(1, 1)] and c.major_new_subgroups == [] and c.stable
    assert "a small new subgroup of 1 patient appears" in describe(c, 2)


def test_soft_membership_changes_on_aligned_columns():
    ref = tables([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    var = tables([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])        # labels swapped; patient 2 moves
    c = compare(ref, var)
    np.testing.assert_allclose(c.change.to_numpy(), [0.1, 0.2, 0.1])
    assert c.changed.tolist() == [False, True, False]


def test_only_shared_patients_are_compared():
    ref = tables(one_hot(np.array([0, 0, 1, 1]), 2), ids=["a", "b", "c", "d"])
    var = tables(one_hot(np.array([1, 1, 0]), 2), ids=["c", "d", "a"])   # b left out, order differs
    c = compare(ref, var)
    assert c.n_shared == 3 and c.n_changed == 0 and c.ari == pytest.approx(1.0)
    patients = patient_stability(ref, {"v": c})
    assert patients.set_index("subject_id").loc["b", "n_variants"] == 0
    assert patients["stability"].tolist() == [1.0] * 4
    assert np.isnan(membership_change_matrix(ref, {"v": c}).loc["b", "v"])


def test_match_subgroups_by_expected_overlap():
    p_ref = pd.DataFrame([[1.0, 0.0], [0.6, 0.4], [0.0, 1.0]], columns=[1, 2])
    p_var = pd.DataFrame([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]], columns=[1, 2])
    m = match_subgroups(p_ref, p_var)
    assert m.pairs == {1: 2, 2: 1} and m.new == []
    np.testing.assert_allclose(m.variant, [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


def test_effect_shifts_use_matched_subgroups_and_reference_sd():
    labels = np.array([0, 0, 1, 1])
    ref_effects = pd.DataFrame({"subgroup": [1, 1, 2, 2], "module": ["ifn", "bcell"] * 2,
                                "mean": [2.0, 0.0, 0.0, 1.0], "sd": [0.5, 0.5, 0.5, 0.25]})
    var_effects = pd.DataFrame({"subgroup": [1, 2], "module": ["ifn", "ifn"], "mean": [0.0, 1.0],
                                "sd": [0.5, 0.5]})   # labels swapped, module bcell left out
    ref = tables(one_hot(labels, 2), effects=ref_effects)
    var = tables(one_hot(labels, 2)[:, [1, 0]], effects=var_effects)
    shifts = compare(ref, var).effect_shifts.set_index(["subgroup", "module"])
    assert list(shifts.index) == [(1, "ifn"), (2, "ifn")]
    assert shifts.loc[(1, "ifn"), "shift_sd"] == pytest.approx((1.0 - 2.0) / 0.5)


def test_patient_stability_counts_variants():
    ref = tables(one_hot(np.array([0, 0, 1, 1]), 2))
    same = compare(ref, tables(one_hot(np.array([0, 0, 1, 1]), 2)))
    moved = compare(ref, tables(one_hot(np.array([0, 1, 1, 1]), 2)))
    patients = patient_stability(ref, {"same": same, "moved": moved})
    assert patients["stability"].tolist() == [1.0, 0.5, 1.0, 1.0]
    assert patients["changed_in"].tolist() == ["", "moved", "", ""]
    assert patients["n_variants"].tolist() == [2, 2, 2, 2]
    assert {"subject_id", "subgroup", "p_1", "max_membership_change"} <= set(patients)
