"""What a cohort holds: counts, missingness and positivity per group, and things worth a warning."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pss_bayes.data.assumptions import assumption_warnings
from pss_bayes.data.cohort import BINARY, CONTINUOUS, Cohort
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.data.transforms import NONE

#: A biomarker missing for more than this fraction of a group gets a warning.
HIGH_MISSINGNESS = 0.5
_SHOWN = 5
_WIDTH = 88


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


def data_warnings(cohort: Cohort) -> tuple[str, ...]:
    """Features of a valid cohort worth knowing before fitting.

    Binary markers that no healthy control (or every healthy control) is positive
    for, whose control reference then rests on the prior, biomarkers missing
    for more than :data:`HIGH_MISSINGNESS` of a group, several continuous
    biomarkers with no module holding two of them, controls' values that break the
    model's assumptions (:func:`pss_bayes.data.assumptions.assumption_warnings`:
    co-variation across modules or beyond one activity per module, skewness) and
    batch levels (centres) with patients but no controls (their offset is confounded
    with the subgroups); covariates whose effect the controls cannot measure (one value
    among them, or levels only patients have) or that look like numbers read as text
    (:func:`_covariate_warnings`), continuous biomarkers whose values are all 0 or 1, and
    those whose controls mostly share one value (:func:`_tied_controls_warnings`).
    """
    messages = []
    messages.extend(assumption_warnings(cohort))
    messages.extend(_covariate_warnings(cohort))
    messages.extend(_tied_controls_warnings(cohort))
    values = cohort.values[:, ~cohort.markers.is_binary]
    for name, column in zip(np.asarray(cohort.biomarker_names)[~cohort.markers.is_binary], values.T):
        observed = column[~np.isnan(column)]
        if len(observed) and np.isin(observed, (0.0, 1.0)).all():
            messages.append(f"biomarker '{name}' is declared continuous but takes only the values 0 and 1; "
                            "declare kind = binary for it in the markers file.")
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


def _tied_controls_warnings(cohort: Cohort) -> list[str]:
    """Continuous biomarkers whose controls' MAD and IQR are both zero (most controls share one value,
    as at a detection limit): their control SD then comes from the few other controls, and effects in
    control SDs can be very large."""
    scaling = ControlScaling.fit(cohort)
    controls = cohort.analysis_values[~cohort.is_patient]
    found = []
    for j, (name, method) in enumerate(zip(scaling.biomarkers, scaling.method)):
        if method in ("sd", "unit"):
            observed = controls[:, j][~np.isnan(controls[:, j])]
            tied = int((observed == scaling.centre[j]).sum())
            found.append(f"'{name}' ({tied} of {len(observed)} controls at {scaling.centre[j]:g})")
    if not found:
        return []
    return [f"biomarker(s) {', '.join(found)}: most healthy controls share one value (a detection limit?), so "
            "the controls' SD that scales the biomarker comes from the few others and its effects in control "
            "SDs can be very large; consider it as binary (above the limit or not), or leave it out."]


#: A categorical covariate with more levels than this, and than a fifth of the subjects, is said to
#: look like a measurement read as text.
_MANY_LEVELS = 10


def _covariate_warnings(cohort: Cohort) -> list[str]:
    """Covariates the controls cannot reference: constant among them, or categorical levels that only
    patients have (the effect is then confounded with the subgroups); and categorical covariates
    with so many levels that they are likely numbers written with text (e.g. '52 y')."""
    messages = []
    frame = cohort.covariate_frame()
    controls = ~cohort.is_patient
    for name in frame.columns:
        column = frame[name]
        among_controls = column[controls].dropna()
        if among_controls.nunique() == 1:
            messages.append(f"covariate '{name}' takes one value among the healthy controls "
                            f"('{among_controls.iloc[0]}'), so its effect cannot be measured on them and is "
                            "confounded with the patients' subgroups; consider leaving it out.")
        if pd.api.types.is_numeric_dtype(column):
            continue
        levels = column.nunique()
        if levels > max(_MANY_LEVELS, len(column) / 5):
            messages.append(f"covariate '{name}' is read as categorical with {levels} levels (e.g. "
                            f"'{column.dropna().iloc[0]}'); if it is a measurement, write every value as a "
                            "plain number so that it is read as one.")
            continue
        only_patients = sorted(set(column[~controls].dropna().astype(str)) - set(among_controls.astype(str)))
        if only_patients and among_controls.nunique() > 1:
            shown = ", ".join(f"'{v}'" for v in only_patients[:3]) + (
                f" ({len(only_patients)} in all)" if len(only_patients) > 3 else "")
            messages.append(f"covariate '{name}': level(s) {shown} only among patients, so their effect "
                            "cannot be measured on the controls and is confounded with the patients' subgroups.")
    return messages


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
    transforms
        (transform, biomarkers) of every transform declared in the markers table.
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
    transforms: tuple[tuple[str, tuple[str, ...]], ...] = ()

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
            "transforms": {t: list(names) for t, names in self.transforms},
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
        if self.transforms:
            lines += _wrap("Transforms: " + "; ".join(f"{t} ({', '.join(names)})" for t, names in self.transforms),
                           indent="")
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
        dropped_subjects=tuple(cohort.dropped_subjects), warnings=data_warnings(cohort),
        transforms=tuple((t, tuple(n for n, u in zip(cohort.markers.names, cohort.markers.transforms) if u == t))
                         for t in dict.fromkeys(cohort.markers.transforms) if t != NONE))
