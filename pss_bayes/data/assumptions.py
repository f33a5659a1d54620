"""Checks of the model's assumptions on the healthy controls, one homogeneous group.

Within a subgroup the model describes each biomarker as symmetric about its mean
(Normal or Student-t), the biomarkers of a module as co-varying through one
subject-level activity, and biomarkers of different modules as independent (given
covariates and batch). A cohort that breaks these assumptions can make the posterior
describe one subgroup by several, so loading it warns. The controls show whether
the assumptions hold without knowing any subgroup: every check here looks at their
values after covariates and batch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from pss_bayes.data.cohort import CONTINUOUS, Cohort
from pss_bayes.data.transforms import NONE

#: Controls' correlation (after covariates and batch) from which two biomarkers of different modules
#: are said to co-vary across modules (one factor shared by all biomarkers that gives them 0.25
#: made a default-size cohort's posterior pick 8 subgroups instead of 4: bench/independent.py) ...
CROSS_MODULE_CORRELATION = 0.2
#: ... when it is also significant at this family-wise level over all pairs of different modules.
_CROSS_MODULE_LEVEL = 0.01
#: Pairs named in the warning.
_PAIRS_SHOWN = 3
#: Quantile skewness (tenth and ninetieth percentiles about the median) of the controls' values
#: from which a continuous biomarker is said to be skewed (a log-normal with log-scale SD 0.5 has
#: about 0.3) ...
SKEWNESS = 0.3
#: ... when it is also significant at this family-wise level over the continuous biomarkers.
_SKEWNESS_LEVEL = 0.01
#: Resamples of the symmetrised bootstrap that gives the skewness its standard error.
_SKEWNESS_RESAMPLES = 400
#: Biomarkers named in the warning.
_SKEWED_SHOWN = 4
#: Departure of two biomarkers' correlation among the controls from the one their module's single
#: activity gives them, from which the module is said to need more than one activity ...
WITHIN_MODULE_DEPARTURE = 0.2
#: ... when it is also significant at this family-wise level over all pairs within modules.
_WITHIN_MODULE_LEVEL = 0.01


def covariate_residuals(cohort: Cohort, columns: np.ndarray) -> tuple[np.ndarray, int]:
    """Every subject's values of ``columns`` minus the controls' least-squares fit on covariates and
    batch (NaN kept), and the number of columns of that fit's design (intercept included).

    Values are taken after any declared transform and divided by the controls' median
    absolute deviation (the checks are scale-free). Each biomarker is fitted on the
    controls where it is observed; subjects with a missing covariate are left out (all NaN).
    """
    controls = ~cohort.is_patient
    parts = [np.ones((cohort.n_subjects, 1))]
    frame = cohort.covariate_frame()
    if len(frame.columns):
        parts.append(pd.get_dummies(frame, drop_first=True, dtype=float).to_numpy(dtype=float))
    if cohort.batch is not None:
        parts.append(pd.get_dummies(pd.Series(cohort.batch), drop_first=True, dtype=float).to_numpy())
    design = np.concatenate(parts, axis=1)
    values = cohort.analysis_values[:, columns]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                  # all-missing columns
        deviation = np.abs(values[controls] - np.nanmedian(values[controls], axis=0))
        spread = np.nanmedian(deviation, axis=0)
        spread = np.where(spread > 0, spread, np.nanmax(deviation, axis=0))
    values = values / np.where(spread > 0, spread, 1.0)    # 1e200 would overflow
    out = np.full(values.shape, np.nan)
    usable = np.isfinite(design).all(1)
    for c in range(values.shape[1]):
        rows = usable & np.isfinite(values[:, c])
        if (rows & controls).sum() > design.shape[1] + 2:
            coef, *_ = np.linalg.lstsq(design[rows & controls], values[rows & controls, c], rcond=None)
            out[rows, c] = values[rows, c] - design[rows] @ coef
    return out, design.shape[1]


def _control_residuals(cohort: Cohort, columns: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`covariate_residuals` of the controls alone."""
    residuals, n_design = covariate_residuals(cohort, columns)
    return residuals[~cohort.is_patient], n_design


def _fisher_root_df(n: np.ndarray, n_design: int) -> np.ndarray:
    """Root of the degrees of freedom of Fisher's z for a correlation of residuals after ``n_design``
    fitted columns (intercept included) over ``n`` subjects: ``sqrt(n - 2 - n_design)``, at least 0."""
    return np.sqrt(np.maximum(np.asarray(n, dtype=float) - 2 - n_design, 0.0))


def cross_module_pairs(cohort: Cohort, threshold: float = CROSS_MODULE_CORRELATION,
                       level: float = _CROSS_MODULE_LEVEL) -> pd.DataFrame:
    """Continuous biomarkers of different modules that co-vary among the healthy controls.

    The model's within-subgroup co-variation is one activity per module, so it takes
    biomarkers of different modules to be independent given subgroup, covariates and
    batch; the controls, one homogeneous group, show whether they are. Correlations
    are computed on the controls' residuals after covariates and batch, over the
    controls that have both values; a pair is listed when ``|r| >= threshold`` and
    the correlation is significant (Fisher's z) at family-wise level ``level``
    (Bonferroni over all pairs of different modules).

    Returns
    -------
    DataFrame with columns ``biomarker_a``, ``module_a``, ``biomarker_b``,
    ``module_b``, ``r``, ``n_controls``, strongest first.
    """
    columns = np.flatnonzero(~cohort.markers.is_binary)
    modules = np.array(cohort.markers.modules)[columns]
    names = np.array(cohort.markers.names)[columns]
    empty = pd.DataFrame(columns=["biomarker_a", "module_a", "biomarker_b", "module_b", "r", "n_controls"])
    different = np.triu(modules[:, None] != modules[None, :], k=1)
    if not different.any():
        return empty
    residuals, n_design = _control_residuals(cohort, columns)
    r, n = pairwise_correlation(residuals)
    critical = norm.ppf(1.0 - level / (2 * different.sum()))
    with np.errstate(invalid="ignore"):
        z = np.arctanh(np.clip(np.abs(r), 0.0, 1.0 - 1e-12)) * _fisher_root_df(n, n_design)
        flagged = different & (n >= 10) & (np.abs(r) >= threshold) & (z >= critical)
    a, b = np.nonzero(flagged)
    if not len(a):
        return empty
    found = pd.DataFrame({"biomarker_a": names[a], "module_a": modules[a], "biomarker_b": names[b],
                          "module_b": modules[b], "r": r[a, b], "n_controls": n[a, b].astype(int)})
    return found.reindex(found["r"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def quantile_skewness(x: np.ndarray, tail: float = 0.1) -> np.ndarray:
    """Hinkley's quantile skewness along the last axis: ``(q_hi + q_lo - 2 median) / (q_hi - q_lo)``.

    ``q_lo`` and ``q_hi`` are the ``tail`` and ``1 - tail`` quantiles. It lies in
    [-1, 1], is 0 for a symmetric distribution and, unlike the moment skewness, stays
    near 0 for heavy-tailed symmetric ones.
    """
    lo, mid, hi = np.quantile(x, [tail, 0.5, 1.0 - tail], axis=-1)
    spread = hi - lo
    return np.divide(hi + lo - 2.0 * mid, spread, out=np.zeros_like(spread), where=spread > 0)


def skewed_biomarkers(cohort: Cohort, threshold: float = SKEWNESS, level: float = _SKEWNESS_LEVEL,
                      seed: int = 0) -> pd.DataFrame:
    """Continuous biomarkers whose healthy controls' values are skewed, after covariates and batch.

    Within a subgroup the model takes a biomarker's values as symmetric about the
    subgroup's mean (Normal or Student-t), and it may describe a skewed group by several
    subgroups. The controls, one homogeneous group, show the shape of each biomarker.
    The statistic is :func:`quantile_skewness` of the controls' residuals; a biomarker
    is listed when ``|skewness| >= threshold`` and the skewness is significant at
    family-wise level ``level`` (Bonferroni over the biomarkers tested), its standard
    error coming from a bootstrap of the residuals made symmetric about their median
    (``seed`` fixes it, so the same cohort always gets the same answer). Biomarkers with
    fewer than 20 controls observed are not tested.

    Values are taken after any declared transformation (``transform`` in the markers table).

    Returns
    -------
    DataFrame with columns ``biomarker``, ``module``, ``skewness``, ``n_controls``,
    ``transform`` (the one declared) and ``all_positive`` (no transform declared and every
    observed value, patients' included, above 0: a log scale is then available),
    strongest first.
    """
    columns = np.flatnonzero(~cohort.markers.is_binary)
    residuals, _ = _control_residuals(cohort, columns)
    rng = np.random.default_rng(seed)
    rows = []
    for position, column in enumerate(columns):
        x = residuals[:, position]
        x = x[np.isfinite(x)]
        if x.size < 20:
            continue
        stat = float(quantile_skewness(x))
        deviations = np.abs(x - np.median(x))
        resampled = rng.choice(deviations, size=(_SKEWNESS_RESAMPLES, x.size)) * rng.choice([-1.0, 1.0], size=(
            _SKEWNESS_RESAMPLES, x.size))
        rows.append((column, stat, float(np.std(quantile_skewness(resampled))), x.size))
    empty = pd.DataFrame(columns=["biomarker", "module", "skewness", "n_controls", "transform", "all_positive"])
    if not rows:
        return empty
    critical = norm.ppf(1.0 - level / (2 * len(rows)))
    flagged = [(c, stat, n) for c, stat, se, n in rows if abs(stat) >= threshold and abs(stat) >= critical * se]
    if not flagged:
        return empty
    values, transforms = cohort.values, cohort.markers.transforms
    found = pd.DataFrame({
        "biomarker": [cohort.markers.names[c] for c, _, _ in flagged],
        "module": [cohort.markers.modules[c] for c, _, _ in flagged],
        "skewness": [stat for _, stat, _ in flagged],
        "n_controls": [n for _, _, n in flagged],
        "transform": [transforms[c] for c, _, _ in flagged],
        "all_positive": [transforms[c] == NONE and bool(np.nanmin(values[:, c]) > 0) for c, _, _ in flagged]})
    return found.reindex(found["skewness"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def _skewness_message(skewed: pd.DataFrame) -> str:
    shown = ", ".join(f"'{r.biomarker}' ({r.skewness:+.2f})" for r in skewed.head(_SKEWED_SHOWN).itertuples())
    more = f" ({len(skewed)} biomarkers in all)" if len(skewed) > _SKEWED_SHOWN else ""
    if (skewed["all_positive"] & (skewed["skewness"] > 0)).all():
        advice = ("they are positive and skewed to the right, as concentrations usually are: consider fitting "
                  "their logarithms (transform 'log' in the markers table)")
    elif (skewed["transform"] != NONE).any():
        advice = ("some are skewed after the transform declared for them: consider another transform, or "
                  "one that makes them symmetric before loading")
    else:
        advice = "consider a transformation that makes them symmetric before loading"
    return (f"biomarkers skewed among the healthy controls (after covariates and batch; quantile skewness "
            f"in brackets): {shown}{more}. The model takes a subgroup's values as symmetric about its "
            f"mean and may split a skewed subgroup into several; {advice}.")


def pairwise_correlation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of every pair of columns over the rows where both are finite, and that row count."""
    observed = np.isfinite(x).astype(float)
    filled = np.where(observed > 0, x, 0.0)
    n = observed.T @ observed
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (filled.T @ observed) / n                     # [a, b]: mean of a where b is observed too
        square = (filled.T ** 2 @ observed) / n
        cross = (filled.T @ filled) / n
        var = square - mean ** 2
        r = (cross - mean * mean.T) / np.sqrt(var * var.T)
    return np.where(np.isfinite(r), r, 0.0), n


def one_factor_loadings(r: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Loadings ``l`` of the one-factor model ``r ~ l l' + diag`` of a correlation matrix.

    Principal-axis factoring: the diagonal is replaced by the communalities ``l**2``
    (started at each row's largest absolute correlation, kept below 1) and ``l`` is
    the leading eigenvector scaled by the root of its eigenvalue, until it settles.
    """
    off = r - np.diag(np.diag(r))
    communality = np.abs(off).max(axis=1)
    loadings = np.sqrt(communality)
    for _ in range(iterations):
        values, vectors = np.linalg.eigh(off + np.diag(communality))
        loadings = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
        updated = np.minimum(loadings ** 2, 0.999)
        if np.allclose(updated, communality, atol=1e-8):
            break
        communality = updated
    return loadings


def within_module_pairs(cohort: Cohort, threshold: float = WITHIN_MODULE_DEPARTURE,
                        level: float = _WITHIN_MODULE_LEVEL) -> pd.DataFrame:
    """Biomarkers of one module whose co-variation among the controls one module activity does not describe.

    The model gives the biomarkers of a module one shared activity, so their
    correlations among the controls should follow a one-factor model, ``r_ab = l_a
    l_b``. For each module of four or more continuous biomarkers (with three, one
    factor fits any correlations), the loadings are fitted to the controls' residual
    correlations (:func:`one_factor_loadings`) and a pair is listed when its
    correlation departs from ``l_a l_b`` by ``threshold`` or more and the departure is
    significant (Fisher's z) at family-wise level ``level`` (Bonferroni over every such
    pair). Within-module correlation that decays along a chain of biomarkers, or two
    groups of biomarkers in one module, show this way.

    Returns
    -------
    DataFrame with columns ``module``, ``biomarker_a``, ``biomarker_b``, ``r``,
    ``one_activity`` (the one-factor value ``l_a l_b``) and ``n_controls``, largest
    departure first.
    """
    columns = np.flatnonzero(np.array(cohort.markers.kinds) == CONTINUOUS)
    modules = np.array(cohort.markers.modules)[columns]
    names = np.array(cohort.markers.names)[columns]
    residuals, n_design = _control_residuals(cohort, columns)
    found = []
    tested = 0
    for module in dict.fromkeys(modules):
        inside = np.flatnonzero(modules == module)
        if inside.size < 4:
            continue
        r, n = pairwise_correlation(residuals[:, inside])
        loadings = one_factor_loadings(r)
        fitted = np.outer(loadings, loadings)
        a, b = np.triu_indices(inside.size, k=1)
        tested += a.size
        for i, j in zip(a, b):
            found.append((module, names[inside[i]], names[inside[j]], r[i, j], fitted[i, j], n[i, j]))
    empty = pd.DataFrame(columns=["module", "biomarker_a", "biomarker_b", "r", "one_activity", "n_controls"])
    if not found:
        return empty
    table = pd.DataFrame(found, columns=list(empty.columns))
    critical = norm.ppf(1.0 - level / (2 * tested))
    clip = 1.0 - 1e-12
    z = (np.abs(np.arctanh(np.clip(table["r"], -clip, clip)) - np.arctanh(np.clip(table["one_activity"], -clip, clip)))
         * _fisher_root_df(table["n_controls"].to_numpy(), n_design))
    departure = (table["r"] - table["one_activity"]).abs()
    flagged = table[(table["n_controls"] >= 10) & (departure >= threshold) & (z >= critical)].copy()
    flagged["n_controls"] = flagged["n_controls"].astype(int)
    order = (flagged["r"] - flagged["one_activity"]).abs().sort_values(ascending=False).index
    return flagged.reindex(order).reset_index(drop=True)


def assumption_warnings(cohort: Cohort) -> list[str]:
    """Plain sentences for the checks of this module that a cohort fails (empty when none does)."""
    messages = []
    continuous = [m for m, kind in zip(cohort.markers.modules, cohort.markers.kinds) if kind == CONTINUOUS]
    if len(continuous) >= 2 and len(set(continuous)) == len(continuous):
        messages.append("every continuous biomarker is its own module (no markers file?): the model then has "
                        "no within-subgroup co-variation and may split a subgroup whose biomarkers move "
                        "together; declare the modules in a markers file.")
    else:
        pairs = cross_module_pairs(cohort)
        if len(pairs):
            shown = "; ".join(f"'{r.biomarker_a}' ({r.module_a}) and '{r.biomarker_b}' ({r.module_b}) r = {r.r:+.2f}"
                              for r in pairs.head(_PAIRS_SHOWN).itertuples())
            more = f" ({len(pairs)} pairs in all)" if len(pairs) > _PAIRS_SHOWN else ""
            messages.append(f"biomarkers of different modules co-vary among the healthy controls (after "
                            f"covariates and batch): {shown}{more}. The model describes co-variation within "
                            "modules only and may split a subgroup along it; consider putting such biomarkers "
                            "in one module.")
        inside = within_module_pairs(cohort)
        if len(inside):
            shown = "; ".join(f"'{r.biomarker_a}' and '{r.biomarker_b}' ({r.module}) r = {r.r:+.2f}, one activity "
                              f"gives {r.one_activity:+.2f}" for r in inside.head(_PAIRS_SHOWN).itertuples())
            more = f" ({len(inside)} pairs in all)" if len(inside) > _PAIRS_SHOWN else ""
            which = ", ".join(f"'{m}'" for m in dict.fromkeys(inside["module"]))
            messages.append(f"module(s) {which}: the biomarkers co-vary among the healthy controls (after "
                            f"covariates and batch) in a way one module activity does not describe: {shown}{more}. "
                            "The model may split a subgroup along it; consider dividing the module into groups "
                            "of biomarkers that move together.")
    skewed = skewed_biomarkers(cohort)
    if len(skewed):
        messages.append(_skewness_message(skewed))
    return messages
