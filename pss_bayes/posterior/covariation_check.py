"""Do the patients of each subgroup co-vary within their modules as the controls do?

The model gives a subgroup's patients the controls' covariance within each module, times
a variance multiple (their spread): one activity per module with the controls' loadings
and residual variances. Their within-module *correlations* are therefore the controls'.
Subgroups whose biomarkers co-vary more or less tightly than the controls' (an
interferon-high subgroup whose interferon genes move together more than in health, say)
break that assumption, and a posterior may then describe one such subgroup by several, or
merge subgroups that differ mainly in it. Loading cannot see this (the controls are one
group); a fit can: within each of its subgroups (patients by their most probable subgroup),
the biomarkers' residuals after covariates, batch and the subgroup's mean are compared with
the controls' residuals, module by module.

A module's co-variation is summarised by the mean of its pairwise correlations (averaged
on Fisher's z scale). A subgroup's mean is compared with the controls' by Fisher's z as if
each were one correlation over its subjects, which overstates its variance (a mean over
several pairs varies less), so the test is conservative. Modules are independent given the
subgroup in the model, so a subgroup's modules are also combined (Stouffer's z, the mean
difference over its modules): a subgroup whose every module co-varies a little less than the
controls' is found as well as one module that differs much. A difference is reported when it
is at least :data:`MIN_DIFFERENCE` and significant at family-wise level :data:`LEVEL`
(Bonferroni over every row, modules and combinations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from pss_bayes.data.assumptions import covariate_residuals, pairwise_correlation
from pss_bayes.data.cohort import Cohort

#: Smallest difference of mean within-module correlation (subgroup against controls) reported ...
MIN_DIFFERENCE = 0.2
#: ... when it is also significant at this family-wise level.
LEVEL = 0.01
#: Subgroups with fewer patients are not tested.
MIN_PATIENTS = 20
#: Pairs of biomarkers observed together in fewer subjects do not count towards a mean.
_MIN_PAIR_COUNT = 10
#: Modules named in a warning, per subgroup.
_MODULES_SHOWN = 3
#: The ``module`` of a subgroup's row that combines its modules.
ALL_MODULES = "all"

_COLUMNS = ["subgroup", "module", "r_subgroup", "r_controls", "n_patients", "n_controls", "z", "differs"]


def _fisher(r: np.ndarray | float) -> np.ndarray | float:
    """Fisher's z of correlations, kept finite at +-1."""
    return np.arctanh(np.clip(r, -0.999, 0.999))


def _mean_correlation(residuals: np.ndarray) -> tuple[float, float]:
    """Mean pairwise correlation of the columns (Fisher's z scale) and the median count of subjects
    per pair, over the pairs seen together at least :data:`_MIN_PAIR_COUNT` times (NaN if none)."""
    r, n = pairwise_correlation(residuals)
    upper = np.triu_indices(residuals.shape[1], k=1)
    r, n = r[upper], n[upper]
    kept = n >= _MIN_PAIR_COUNT
    if not kept.any():
        return float("nan"), 0.0
    return float(np.tanh(_fisher(r[kept]).mean())), float(np.median(n[kept]))


def subgroup_covariation(cohort: Cohort, subgroups: pd.Series, min_difference: float = MIN_DIFFERENCE,
                         level: float = LEVEL) -> pd.DataFrame:
    """Each subgroup's mean within-module correlation against the controls'.

    Parameters
    ----------
    cohort
        The cohort the subgroups come from.
    subgroups
        Each patient's subgroup, indexed by subject id (patients missing from it are left out).
    min_difference, level
        A difference is marked (``differs``) when it is at least ``min_difference`` and
        significant at family-wise level ``level`` (Bonferroni over the rows).

    Returns
    -------
    DataFrame with one row per subgroup of at least :data:`MIN_PATIENTS` patients and
    module of two or more continuous biomarkers: ``subgroup``, ``module``,
    ``r_subgroup``, ``r_controls`` (mean within-module correlations), ``n_patients``,
    ``n_controls`` (median subjects per pair), ``z`` (Fisher's z of the difference) and
    ``differs``; and, for subgroups with two or more such modules, a row with module
    ``all``: the means of its modules' correlations, the median counts and Stouffer's z.
    """
    continuous = np.flatnonzero(~np.asarray(cohort.markers.is_binary))
    modules = np.array(cohort.markers.modules)[continuous]
    tested = [m for m in dict.fromkeys(modules) if (modules == m).sum() >= 2]
    if not tested:
        return pd.DataFrame(columns=_COLUMNS)
    residuals, n_design = covariate_residuals(cohort, continuous)
    controls = residuals[~cohort.is_patient]
    ids = pd.Index(np.asarray(cohort.subject_ids)[cohort.is_patient])
    patients = residuals[cohort.is_patient]
    labels = subgroups.reindex(ids)
    reference = {m: _mean_correlation(controls[:, modules == m]) for m in tested}
    rows = []
    for subgroup in pd.unique(subgroups.dropna()):
        members = patients[(labels == subgroup).to_numpy()]
        if len(members) < MIN_PATIENTS:
            continue
        with np.errstate(invalid="ignore"):
            centred = members - np.nanmean(members, axis=0)          # around the subgroup's own mean
        for module in tested:
            r_k, n_k = _mean_correlation(centred[:, modules == module])
            r_c, n_c = reference[module]
            if np.isnan(r_k) or np.isnan(r_c):
                continue
            spread = np.sqrt(1.0 / max(n_k - 4.0, 1.0) + 1.0 / max(n_c - 3.0 - n_design, 1.0))
            z = (_fisher(r_k) - _fisher(r_c)) / spread
            rows.append({"subgroup": subgroup, "module": module, "r_subgroup": r_k, "r_controls": r_c,
                         "n_patients": int(n_k), "n_controls": int(n_c), "z": float(z)})
    return _combine_and_mark(pd.DataFrame(rows, columns=_COLUMNS[:-1]), min_difference, level)


def _combine_and_mark(table: pd.DataFrame, min_difference: float, level: float) -> pd.DataFrame:
    """Add each subgroup's combined row (module ``all``) and the ``differs`` column."""
    combined = [{"subgroup": subgroup, "module": ALL_MODULES, "r_subgroup": part["r_subgroup"].mean(),
                 "r_controls": part["r_controls"].mean(), "n_patients": int(part["n_patients"].median()),
                 "n_controls": int(part["n_controls"].median()), "z": part["z"].sum() / np.sqrt(len(part))}
                for subgroup, part in table.groupby("subgroup", sort=False) if len(part) >= 2]
    if combined:
        table = pd.concat([table, pd.DataFrame(combined)], ignore_index=True)
    critical = norm.ppf(1.0 - level / (2 * max(len(table), 1)))
    table["differs"] = ((table["r_subgroup"] - table["r_controls"]).abs() >= min_difference) & (
        table["z"].abs() >= critical)
    return table


def covariation_warnings(table: pd.DataFrame) -> list[str]:
    """One plain sentence per subgroup whose within-module co-variation differs from the controls'."""
    out = []
    for subgroup in sorted(set(table.loc[table["differs"], "subgroup"])):
        rows = table[(table["subgroup"] == subgroup) & (table["module"] != ALL_MODULES)]
        overall = table[(table["subgroup"] == subgroup) & (table["module"] == ALL_MODULES) & table["differs"]]
        if len(overall):                       # every module counts; the largest differences are named
            shown, lead = rows, (f"all modules {overall['r_subgroup'].item():.2f} against "
                                 f"{overall['r_controls'].item():.2f}; ")
        else:
            shown, lead = rows[rows["differs"]], ""
        shown = shown.reindex((shown["r_subgroup"] - shown["r_controls"]).abs().sort_values(ascending=False).index)
        basis = overall if len(overall) else shown
        more = basis["r_subgroup"] > basis["r_controls"]
        way = "more" if more.all() else "less" if not more.any() else "more or less"
        named = "; ".join(f"{r.module} {r.r_subgroup:.2f} against {r.r_controls:.2f}"
                          for r in shown.head(_MODULES_SHOWN).itertuples())
        others = f" and {len(shown) - _MODULES_SHOWN} more module(s)" if len(shown) > _MODULES_SHOWN else ""
        out.append(f"Subgroup {subgroup}'s biomarkers co-vary {way} tightly within their modules than the "
                   f"controls' do (mean within-module correlation, subgroup against controls: {lead}{named}"
                   f"{others}). "
                   "The model gives every subgroup the controls' within-module correlation, so it may describe "
                   "such a subgroup by several, or merge subgroups that differ mainly in it: read K and the "
                   "memberships with care.")
    return out
