"""What a cohort holds: counts, missingness and positivity per group, and things worth a warning."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from pss_bayes.data.cohort import BINARY, CONTINUOUS, Cohort

#: A biomarker missing for more than this fraction of a group gets a warning.
HIGH_MISSINGNESS = 0.5
_SHOWN = 5
_WIDTH = 88
#: Controls' correlation (after covariates and batch) from which two biomarkers of different modules
#: are said to co-vary across modules ...
CROSS_MODULE_CORRELATION = 0.5
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


def _fraction(count: float, total: int) -> float:
    return float(count) / total if total else float("nan")


def _missingness(cohort: Cohort) -> pd.DataFrame:
    missing = np.isnan(cohort.values)
    patients, controls = cohort.is_patient, ~cohort.is_patient
    return pd.DataFrame({
        "biomarker": list(cohort.markers.names), "module": list(cohort.markers.modules),
        "kind": list(cohort.markers.kinds),
        "missing_patients": [_fraction(c, patients.sum()) for c in missing[patients].sum(axis=0)],
        "missing_controls": [_fraction(c, controls.sum()) for c in missing[controls].sum(axis=0)],
    })


def _positivity(cohort: Cohort) -> pd.DataFrame:
    rows = []
    for j in np.flatnonzero(cohort.markers.is_binary):
        column = cohort.values[:, j]
        row = {"biomarker": cohort.markers.names[j], "module": cohort.markers.modules[j]}
        for group, mask in (("patients", cohort.is_patient), ("controls", ~cohort.is_patient)):
            observed = column[mask][~np.isnan(column[mask])]
            row[f"positive_{group}"] = _fraction(observed.sum(), observed.size)
        rows.append(row)
    return pd.DataFrame(rows, columns=["biomarker", "module", "positive_patients", "positive_controls"])


def _batch_counts(cohort: Cohort) -> pd.DataFrame:
    if cohort.batch is None:
        return pd.DataFrame(columns=["batch", "patients", "controls"])
    table = pd.crosstab(pd.Series(cohort.batch, name="batch"),
                        pd.Series(np.where(cohort.is_patient, "patients", "controls"), name="group"))
    table = table.reindex(columns=["patients", "controls"], fill_value=0)
    return table.reset_index().rename_axis(columns=None)


def _control_residuals(cohort: Cohort, columns: np.ndarray) -> np.ndarray:
    """Controls' values of ``columns`` minus their least-squares fit on covariates and batch (NaN kept).

    Each biomarker is fitted on the controls where it is observed; controls with a
    missing covariate are left out (all NaN).
    """
    controls = ~cohort.is_patient
    parts = [np.ones((cohort.n_subjects, 1))]
    frame = cohort.covariate_frame()
    if len(frame.columns):
        parts.append(pd.get_dummies(frame, drop_first=True, dtype=float).to_numpy(dtype=float))
    if cohort.batch is not None:
        parts.append(pd.get_dummies(pd.Series(cohort.batch), drop_first=True, dtype=float).to_numpy())
    design = np.concatenate(parts, axis=1)[controls]
    values = cohort.values[np.ix_(controls, columns)]
    out = np.full(values.shape, np.nan)
    usable = np.isfinite(design).all(1)
    for c in range(values.shape[1]):
        rows = usable & np.isfinite(values[:, c])
        if rows.sum() > design.shape[1] + 2:
            coef, *_ = np.linalg.lstsq(design[rows], values[rows, c], rcond=None)
            out[rows, c] = values[rows, c] - design[rows] @ coef
    return out


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
    r, n = _pairwise_correlation(_control_residuals(cohort, columns))
    critical = norm.ppf(1.0 - level / (2 * different.sum()))
    with np.errstate(invalid="ignore"):
        z = np.arctanh(np.clip(np.abs(r), 0.0, 1.0 - 1e-12)) * np.sqrt(np.maximum(n - 3, 0))
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

    Returns
    -------
    DataFrame with columns ``biomarker``, ``module``, ``skewness``, ``n_controls`` and
    ``all_positive`` (every observed value, patients' included, above 0: a log scale is
    then available), strongest first.
    """
    columns = np.flatnonzero(~cohort.markers.is_binary)
    residuals = _control_residuals(cohort, columns)
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
    empty = pd.DataFrame(columns=["biomarker", "module", "skewness", "n_controls", "all_positive"])
    if not rows:
        return empty
    critical = norm.ppf(1.0 - level / (2 * len(rows)))
    flagged = [(c, stat, n) for c, stat, se, n in rows if abs(stat) >= threshold and abs(stat) >= critical * se]
    if not flagged:
        return empty
    values = cohort.values
    found = pd.DataFrame({
        "biomarker": [cohort.markers.names[c] for c, _, _ in flagged],
        "module": [cohort.markers.modules[c] for c, _, _ in flagged],
        "skewness": [stat for _, stat, _ in flagged],
        "n_controls": [n for _, _, n in flagged],
        "all_positive": [bool(np.nanmin(values[:, c]) > 0) for c, _, _ in flagged]})
    return found.reindex(found["skewness"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def _skewness_message(skewed: pd.DataFrame) -> str:
    shown = ", ".join(f"'{r.biomarker}' ({r.skewness:+.2f})" for r in skewed.head(_SKEWED_SHOWN).itertuples())
    more = f" ({len(skewed)} biomarkers in all)" if len(skewed) > _SKEWED_SHOWN else ""
    advice = ("they are positive and skewed to the right, as concentrations usually are: consider fitting their "
              "logarithms (log-transform the columns before loading)"
              if (skewed["all_positive"] & (skewed["skewness"] > 0)).all()
              else "consider a transformation that makes them symmetric before loading")
    return (f"biomarkers skewed among the healthy controls (after covariates and batch; quantile skewness "
            f"in brackets): {shown}{more}. The model takes a subgroup's values as symmetric about its "
            f"mean and may split a skewed subgroup into several; {advice}.")


def _pairwise_correlation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def data_warnings(cohort: Cohort) -> tuple[str, ...]:
    """Features of a valid cohort worth knowing before fitting.

    Binary markers that no healthy control (or every healthy control) is positive
    for, whose control reference then rests on the prior, biomarkers missing
    for more than :data:`HIGH_MISSINGNESS` of a group, several continuous
    biomarkers with no module holding two of them (the model's within-subgroup
    co-variation is per module, so it then has none), biomarkers of different
    modules that co-vary among the controls (:func:`cross_module_pairs`; the model
    has no such co-variation), biomarkers skewed among the controls
    (:func:`skewed_biomarkers`; the model's subgroups are symmetric) and batch levels (centres) with patients but no
    controls (their offset is confounded with the subgroups).
    """
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
    skewed = skewed_biomarkers(cohort)
    if len(skewed):
        messages.append(_skewness_message(skewed))
    positivity = _positivity(cohort)
    for row in positivity.itertuples(index=False):
        if row.positive_controls in (0.0, 1.0):
            which = "no healthy control is" if row.positive_controls == 0.0 else "every healthy control is"
            messages.append(f"binary marker '{row.biomarker}': {which} positive; its control "
                            "reference rests on the prior.")
    counts = _batch_counts(cohort)
    without = counts.loc[(counts["patients"] > 0) & (counts["controls"] == 0), "batch"]
    if len(without):
        messages.append(f"{cohort.batch_name} {', '.join(repr(str(b)) for b in without)}: patients but no "
                        "controls, so the offset of the batch cannot be measured on controls and is "
                        "confounded with its patients' subgroups.")
    for row in _missingness(cohort).itertuples(index=False):
        for group, fraction in (("patients", row.missing_patients), ("controls", row.missing_controls)):
            if fraction > HIGH_MISSINGNESS:
                messages.append(f"biomarker '{row.biomarker}' is missing for {fraction:.0%} of {group}.")
    return tuple(messages)


@dataclass(frozen=True, eq=False)
class CohortSummary:
    """Counts, missingness and binary positivity of a :class:`Cohort`.

    Attributes
    ----------
    source
        File the cohort was read from, if any.
    group_labels
        (patient, control) labels.
    n_patients, n_controls
        Subjects per group.
    kinds
        Number of biomarkers of each kind (``continuous``, ``binary``).
    modules
        (module, number of biomarkers) in order of first appearance.
    covariates
        (name, ``numeric`` or ``categorical``) of each declared covariate.
    batch_name
        Batch column, if any.
    batch_counts
        Columns ``batch``, ``patients``, ``controls``: subjects per batch level and group.
    missingness
        Columns ``biomarker``, ``module``, ``kind``, ``missing_patients``,
        ``missing_controls``: fraction of each group with the value missing.
    positivity
        Columns ``biomarker``, ``module``, ``positive_patients``,
        ``positive_controls``: fraction positive among those observed (binary markers).
    ignored_columns
        Source columns that are neither biomarkers nor declared.
    dropped_subjects
        (subject id, reason) of subjects dropped while reading.
    warnings
        Things worth knowing before fitting (see :func:`data_warnings`).
    """

    source: str | None
    group_labels: tuple[str, str]
    n_patients: int
    n_controls: int
    kinds: dict[str, int]
    modules: tuple[tuple[str, int], ...]
    covariates: tuple[tuple[str, str], ...]
    batch_name: str | None
    batch_counts: pd.DataFrame
    missingness: pd.DataFrame
    positivity: pd.DataFrame
    ignored_columns: tuple[str, ...]
    dropped_subjects: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]

    @property
    def n_subjects(self) -> int:
        return self.n_patients + self.n_controls

    @property
    def n_biomarkers(self) -> int:
        return len(self.missingness)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-able types (missing fractions as ``None``)."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and np.isnan(v) else
                         v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
                    for row in frame.to_dict(orient="records")]

        return {
            "source": self.source, "group_labels": list(self.group_labels),
            "n_subjects": self.n_subjects, "n_patients": self.n_patients,
            "n_controls": self.n_controls, "n_biomarkers": self.n_biomarkers,
            "kinds": dict(self.kinds), "modules": dict(self.modules),
            "covariates": dict(self.covariates), "batch_name": self.batch_name,
            "batch_counts": records(self.batch_counts), "missingness": records(self.missingness),
            "positivity": records(self.positivity), "ignored_columns": list(self.ignored_columns),
            "dropped_subjects": [list(d) for d in self.dropped_subjects],
            "warnings": list(self.warnings),
        }

    def __str__(self) -> str:
        patient, control = self.group_labels
        name = f"'{self.source}'" if self.source else "(in memory)"
        lines = [f"Cohort {name}: {self.n_subjects} subjects, {self.n_patients} patients "
                 f"('{patient}') and {self.n_controls} healthy controls ('{control}')"]
        lines.append(f"Biomarkers: {self.n_biomarkers} ({self.kinds[CONTINUOUS]} continuous, "
                     f"{self.kinds[BINARY]} binary) in {len(self.modules)} modules")
        if any(count > 1 for _, count in self.modules):
            lines += _wrap(", ".join(f"{m} ({c})" for m, c in self.modules))
        covariates = ", ".join(f"{n} ({k})" for n, k in self.covariates) or "none"
        lines.append(f"Covariates: {covariates}")
        if self.batch_name is not None:
            levels = ", ".join(f"{r.batch} {r.patients}/{r.controls}"
                               for r in self.batch_counts.itertuples(index=False))
            lines += _wrap(f"Batch '{self.batch_name}' (patients/controls): {levels}", indent="")
        lines += self._missing_lines()
        if len(self.positivity):
            lines.append("Binary markers, positive among observed (patients / controls):")
            lines += [_row(r.biomarker, r.positive_patients, r.positive_controls, indent="  ")
                      for r in self.positivity.head(2 * _SHOWN).itertuples(index=False)]
            if len(self.positivity) > 2 * _SHOWN:
                lines.append(f"  ... and {len(self.positivity) - 2 * _SHOWN} more")
        if self.ignored_columns:
            lines += _wrap("Ignored columns: " + ", ".join(self.ignored_columns), indent="")
        if self.dropped_subjects:
            dropped = self.dropped_subjects
            shown = ", ".join(f"{s} ({why})" for s, why in dropped[:_SHOWN])
            more = f", ... and {len(dropped) - _SHOWN} more" if len(dropped) > _SHOWN else ""
            lines += _wrap(f"Dropped subjects ({len(dropped)}): {shown}{more}", indent="")
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  - {w}" for w in self.warnings[:_SHOWN]]
            if len(self.warnings) > _SHOWN:
                lines.append(f"  ... and {len(self.warnings) - _SHOWN} more")
        return "\n".join(lines)

    def _missing_lines(self) -> list[str]:
        table = self.missingness
        if not len(table):
            return []
        patients, controls = table["missing_patients"].mean(), table["missing_controls"].mean()
        worst = table.assign(most=table[["missing_patients", "missing_controls"]].max(axis=1))
        worst = worst[worst["most"] > 0].sort_values("most", ascending=False, kind="stable")
        lines = [f"Missing values: {_pct(patients)} of patient values, {_pct(controls)} of control "
                 f"values; {len(worst)} of {len(table)} biomarkers have some"]
        if len(worst):
            lines.append("  Most missing (patients / controls):")
            lines += [_row(r.biomarker, r.missing_patients, r.missing_controls)
                      for r in worst.head(_SHOWN).itertuples(index=False)]
        return lines


def _row(name: str, patients: float, controls: float, indent: str = "    ") -> str:
    return f"{indent}{name:<20} {_pct(patients):>6} / {_pct(controls)}"


def _pct(fraction: float) -> str:
    return "n/a" if np.isnan(fraction) else f"{fraction:.1%}"


def _wrap(text: str, indent: str = "  ") -> list[str]:
    lines = textwrap.wrap(text, width=_WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                          break_on_hyphens=False)
    if len(lines) > 3:
        lines = lines[:3] + [f"{indent}  ..."]
    return lines


def summarise(cohort: Cohort) -> CohortSummary:
    """Summarise a cohort (see :class:`CohortSummary`).

    Parameters
    ----------
    cohort
        A validated cohort.

    Returns
    -------
    CohortSummary
    """
    kinds = {kind: int(sum(k == kind for k in cohort.markers.kinds)) for kind in (CONTINUOUS, BINARY)}
    modules = tuple((m, int(sum(x == m for x in cohort.markers.modules)))
                    for m in cohort.markers.module_names)
    covariates = tuple((name, "numeric" if pd.api.types.is_numeric_dtype(cohort.covariates[name])
                        else "categorical") for name in cohort.covariate_names)
    return CohortSummary(
        source=cohort.source, group_labels=tuple(cohort.group_labels), n_patients=cohort.n_patients,
        n_controls=cohort.n_controls, kinds=kinds, modules=modules, covariates=covariates,
        batch_name=cohort.batch_name if cohort.batch is not None else None,
        batch_counts=_batch_counts(cohort), missingness=_missingness(cohort),
        positivity=_positivity(cohort), ignored_columns=tuple(cohort.ignored_columns),
        dropped_subjects=tuple(cohort.dropped_subjects), warnings=data_warnings(cohort))
