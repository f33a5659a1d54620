"""The data side of a variant: the cohort without a module, without a centre, or with resampled controls."""

from __future__ import annotations

import dataclasses

import numpy as np

from pss_bayes.data.cohort import Cohort
from pss_bayes.data.io import MIN_SUBJECTS_PER_GROUP
from pss_bayes.errors import CohortError
from pss_bayes.sensitivity.grid import Variant


def variant_cohort(cohort: Cohort, variant: Variant, seed: int) -> Cohort:
    """The cohort a variant is fitted to.

    Parameters
    ----------
    cohort
        The whole cohort (the reference fit's data).
    variant
        The variant; ``drop_module`` removes that module's biomarkers,
        ``drop_centre`` removes that centre's patients and controls, and
        ``controls`` resamples the healthy controls (patients are kept).
    seed
        Seed of the control resampling.

    Returns
    -------
    Cohort
        Bootstrapped controls drawn more than once get ids ``ID#2``, ``ID#3``...

    Raises
    ------
    CohortError
        If leaving out a centre or resampling the controls leaves fewer patients
        or controls than a cohort needs (:data:`~pss_bayes.data.io.MIN_SUBJECTS_PER_GROUP`);
        the runner records the variant as failed with this reason, without fitting it.
    """
    out = cohort
    if variant.drop_module is not None:
        keep = [b for b, m in zip(out.biomarker_names, out.markers.modules) if m != variant.drop_module]
        out = out.subset(biomarkers=keep)
    if variant.drop_centre is not None:
        out = out.subset(subjects=np.asarray(out.batch) != variant.drop_centre)
    if variant.controls is not None:
        out = _resample_controls(out, variant.controls.method, variant.controls.fraction, seed)
    if variant.drop_centre is not None or variant.controls is not None:
        _check_group_sizes(out, variant)
    return out


def _check_group_sizes(cohort: Cohort, variant: Variant) -> None:
    """Refuse a variant's cohort with fewer patients or controls than loading a cohort requires."""
    for n, group in ((cohort.n_patients, "patients"), (cohort.n_controls, "controls")):
        if n < MIN_SUBJECTS_PER_GROUP:
            raise CohortError(f"{variant.description or variant.name} leaves {n} {group}, fewer than the "
                              f"{MIN_SUBJECTS_PER_GROUP} patients and {MIN_SUBJECTS_PER_GROUP} controls a cohort "
                              "needs, so it is not fitted")


def _resample_controls(cohort: Cohort, method: str, fraction: float, seed: int) -> Cohort:
    rng = np.random.default_rng(seed)
    controls = np.flatnonzero(~cohort.is_patient)
    size = max(1, int(round(fraction * len(controls))))
    if method == "subsample":
        chosen = np.sort(rng.choice(controls, size=size, replace=False))
    else:
        chosen = np.sort(rng.choice(controls, size=size, replace=True))
    rows = np.concatenate([np.flatnonzero(cohort.is_patient), chosen])
    resampled = cohort.subset(subjects=np.asarray(cohort.subject_ids)[rows])
    return dataclasses.replace(resampled, subject_ids=_unique_ids(resampled.subject_ids))


def _unique_ids(ids: np.ndarray) -> np.ndarray:
    seen: dict[str, int] = {}
    out = []
    for subject in ids:
        seen[subject] = seen.get(subject, 0) + 1
        out.append(subject if seen[subject] == 1 else f"{subject}#{seen[subject]}")
    return np.array(out, dtype=object)
