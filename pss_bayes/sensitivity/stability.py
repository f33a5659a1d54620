"""Stability of a fit's subgroups against a reference fit.

Subgroup labels are arbitrary across fits, so a variant's subgroups are first
matched to the reference's by the Hungarian algorithm on their expected overlap
(the co-assignment ``P_ref^T P_var`` of the posterior mean memberships of the
patients both fits share). Membership changes are then computed on aligned
columns: matched pairs, plus the subgroups of either fit without a counterpart
(where the other fit's probability is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

#: Adjusted Rand index from which a variant's subgroups count as the reference's.
ARI_STABLE = 0.8
#: Share of a reference subgroup's patients that must stay together for it to be recovered.
RETAINED = 0.5
#: A variant's extra subgroup smaller than this share of the patients is a minor change.
MINOR_SHARE = 0.05
#: Module-effect shift (in reference posterior SDs) reported as notable.
SHIFT_NOTABLE = 2.0


@dataclass(frozen=True)
class FitTables:
    """The result tables of one fit that stability needs (as in a fit directory's CSV files)."""

    membership: pd.DataFrame
    n_subgroups: pd.DataFrame
    module_effects: pd.DataFrame

    @property
    def k_mode(self) -> int:
        """Most probable number of subgroups (the K memberships are conditional on)."""
        return len(self.subgroups)

    @property
    def subgroups(self) -> list[int]:
        return [int(c[2:]) for c in self.membership.columns
                if c.startswith("p_") and c[2:].isdigit()]

    def probabilities(self) -> pd.DataFrame:
        """Posterior mean membership (patients x subgroups), indexed by subject id."""
        table = self.membership.set_index("subject_id")
        out = table[[f"p_{k}" for k in self.subgroups]]
        out.columns = self.subgroups
        out.index = out.index.astype(str)
        return out

    def labels(self) -> pd.Series:
        """Most probable subgroup of each patient."""
        return self.membership.set_index("subject_id")["subgroup"].rename(index=str).astype(int)

    def k_probability(self, k: int) -> float:
        table = self.n_subgroups.set_index("k")["probability"]
        return float(table.get(k, 0.0))


@dataclass(frozen=True)
class Matching:
    """Reference and variant memberships on common columns.

    Attributes
    ----------
    pairs
        Reference subgroup -> matched variant subgroup.
    new
        Variant subgroups without a reference counterpart.
    reference, variant
        (patients x columns) memberships; columns are the reference subgroups in
        order, then the unmatched variant subgroups.
    """

    pairs: dict[int, int]
    new: list[int]
    reference: np.ndarray
    variant: np.ndarray


def match_subgroups(p_ref: pd.DataFrame, p_var: pd.DataFrame) -> Matching:
    """Match subgroups by maximal expected overlap (Hungarian algorithm) on the same patients."""
    a, b = p_ref.to_numpy(float), p_var.to_numpy(float)
    overlap = a.T @ b
    rows, cols = linear_sum_assignment(-overlap)
    ref_ids, var_ids = list(p_ref.columns), list(p_var.columns)
    pairs = {int(ref_ids[r]): int(var_ids[c]) for r, c in zip(rows, cols)}
    new = [int(v) for i, v in enumerate(var_ids) if i not in set(cols)]
    var_col = {int(v): i for i, v in enumerate(var_ids)}
    n = len(a)
    aligned = np.zeros((n, len(ref_ids) + len(new)))
    for i, r in enumerate(ref_ids):
        if int(r) in pairs:
            aligned[:, i] = b[:, var_col[pairs[int(r)]]]
    for j, v in enumerate(new):
        aligned[:, len(ref_ids) + j] = b[:, var_col[v]]
    reference = np.concatenate([a, np.zeros((n, len(new)))], axis=1)
    return Matching(pairs=pairs, new=new, reference=reference, variant=aligned)


@dataclass(frozen=True)
class SubgroupFate:
    """What became of one reference subgroup in a variant."""

    subgroup: int
    size: int
    retained: float
    destination: str

    @property
    def recovered(self) -> bool:
        return self.retained >= RETAINED


@dataclass(frozen=True)
class Comparison:
    """A variant fit against the reference fit, on the patients both contain.

    Attributes
    ----------
    k_mode, p_k_mode, p_k_reference
        The variant's most probable K, its probability, and the probability it
        gives the reference's K.
    ari
        Adjusted Rand index of the most probable labels.
    change
        Per shared patient, the largest absolute change of a membership probability.
    changed
        Per shared patient, whether the most probable subgroup differs (after matching).
    fates
        Per reference subgroup, the share of its patients kept together and where
        the others went.
    new_subgroups
        Variant subgroups without a counterpart: (patients, reference subgroup most of them come from).
    effect_shifts
        Per matched subgroup x shared module: reference mean and SD, variant
        mean, and the shift in reference posterior SDs.
    """

    k_mode: int
    p_k_mode: float
    p_k_reference: float
    ari: float
    change: pd.Series
    changed: pd.Series
    fates: list[SubgroupFate]
    new_subgroups: list[tuple[int, int]]
    effect_shifts: pd.DataFrame

    @property
    def n_shared(self) -> int:
        return len(self.change)

    @property
    def n_changed(self) -> int:
        return int(self.changed.sum())

    @property
    def max_change(self) -> float:
        return float(self.change.max()) if len(self.change) else 0.0

    @property
    def max_shift(self) -> float:
        shifts = self.effect_shifts["shift_sd"].abs()
        return float(shifts.max()) if len(shifts) else 0.0

    @property
    def major_new_subgroups(self) -> list[tuple[int, int]]:
        """New subgroups holding at least :data:`MINOR_SHARE` of the shared patients."""
        return [(size, origin) for size, origin in self.new_subgroups if size >= MINOR_SHARE * self.n_shared]

    @property
    def stable(self) -> bool:
        """Every reference subgroup recovered, no sizeable new subgroup, and ARI >= :data:`ARI_STABLE`.

        A variant whose most probable K differs only because a small group of
        patients (under :data:`MINOR_SHARE`) splits off still counts as stable;
        its K and the split are reported all the same.
        """
        return (self.ari >= ARI_STABLE and all(f.recovered for f in self.fates)
                and not self.major_new_subgroups)


def compare(reference: FitTables, variant: FitTables) -> Comparison:
    """Compare a variant's subgroups, memberships and module effects with the reference's."""
    p_ref, p_var = reference.probabilities(), variant.probabilities()
    shared = p_ref.index.intersection(p_var.index, sort=False)
    p_ref, p_var = p_ref.loc[shared], p_var.loc[shared]
    matching = match_subgroups(p_ref, p_var)
    ref_labels = reference.labels().loc[shared].to_numpy()
    var_labels = variant.labels().loc[shared].to_numpy()
    column = {r: i for i, r in enumerate(p_ref.columns)}
    ref_aligned = np.array([column[r] for r in ref_labels])
    var_column = {v: column[r] for r, v in matching.pairs.items()}
    var_column.update({v: len(column) + j for j, v in enumerate(matching.new)})
    var_aligned = np.array([var_column[v] for v in var_labels])
    change = np.abs(matching.reference - matching.variant).max(1) if len(shared) else np.zeros(0)
    return Comparison(
        k_mode=variant.k_mode, p_k_mode=variant.k_probability(variant.k_mode),
        p_k_reference=variant.k_probability(reference.k_mode),
        ari=float(adjusted_rand_score(ref_labels, var_labels)) if len(shared) else float("nan"),
        change=pd.Series(change, index=shared, name="change"),
        changed=pd.Series(ref_aligned != var_aligned, index=shared, name="changed"),
        fates=_fates(list(p_ref.columns), ref_aligned, var_aligned),
        new_subgroups=[(int((var_aligned == len(column) + j).sum()),
                        _origin(list(p_ref.columns), ref_aligned[var_aligned == len(column) + j]))
                       for j in range(len(matching.new))],
        effect_shifts=_effect_shifts(reference.module_effects, variant.module_effects, matching.pairs))


def _fates(subgroups: list[int], ref_aligned: np.ndarray, var_aligned: np.ndarray) -> list[SubgroupFate]:
    fates = []
    for i, subgroup in enumerate(subgroups):
        members = ref_aligned == i
        size = int(members.sum())
        if size == 0:
            fates.append(SubgroupFate(subgroup, 0, 1.0, ""))
            continue
        retained = float((var_aligned[members] == i).mean())
        moved = var_aligned[members & (var_aligned != i)]
        destination = ""
        if len(moved):
            target = int(np.bincount(moved).argmax())
            destination = f"subgroup {subgroups[target]}" if target < len(subgroups) else "a new subgroup"
        fates.append(SubgroupFate(subgroup, size, retained, destination))
    return fates


def _origin(subgroups: list[int], ref_aligned: np.ndarray) -> int:
    if not len(ref_aligned):
        return 0
    return int(subgroups[int(np.bincount(ref_aligned).argmax())])


def _effect_shifts(ref: pd.DataFrame, var: pd.DataFrame, pairs: dict[int, int]) -> pd.DataFrame:
    columns = ["subgroup", "module", "reference_mean", "reference_sd", "variant_mean", "shift_sd"]
    rows = []
    var_by = var.set_index(["subgroup", "module"])
    for r in ref.itertuples():
        key = (pairs.get(int(r.subgroup)), r.module)
        if key[0] is None or key not in var_by.index:
            continue
        mean = float(var_by.loc[key, "mean"])
        rows.append((int(r.subgroup), r.module, float(r.mean), float(r.sd), mean,
                     (mean - float(r.mean)) / max(float(r.sd), 1e-12)))
    return pd.DataFrame(rows, columns=columns)


def patient_stability(reference: FitTables, comparisons: dict[str, Comparison]) -> pd.DataFrame:
    """The reference membership table with each patient's stability across variants.

    Added columns: ``stability`` (share of the variants containing the patient in
    which its most probable subgroup is unchanged; 1 when there is none),
    ``mean_membership_change`` and ``max_membership_change`` (largest change of a
    membership probability, averaged / maximised over variants), ``n_variants``
    and ``changed_in`` (the variants in which the patient changes subgroup).
    """
    table = reference.membership.copy()
    ids = table["subject_id"].astype(str)
    change = membership_change_matrix(reference, comparisons)
    changed = pd.DataFrame({name: c.changed for name, c in comparisons.items()}, index=ids,
                           columns=list(comparisons)).astype(float)
    present = change.notna()
    changed = changed.where(present)
    n = present.sum(axis=1)
    table["stability"] = (1.0 - changed.mean(axis=1)).fillna(1.0).to_numpy()
    table["mean_membership_change"] = change.mean(axis=1).fillna(0.0).to_numpy()
    table["max_membership_change"] = change.max(axis=1).fillna(0.0).to_numpy()
    table["n_variants"] = n.to_numpy().astype(int)
    table["changed_in"] = ["; ".join(c for c in changed.columns if row[c] == 1.0)
                           for _, row in changed.iterrows()]
    return table


def membership_change_matrix(reference: FitTables, comparisons: dict[str, Comparison]) -> pd.DataFrame:
    """Patients (reference order) x variants: largest membership change, NaN where a patient is absent."""
    ids = pd.Index(reference.membership["subject_id"].astype(str), name="subject_id")
    return pd.DataFrame({name: c.change.reindex(ids) for name, c in comparisons.items()}, index=ids,
                        columns=list(comparisons))
