"""Settings and named scenarios (presets) of the cohort simulator.

Every number the simulator uses lives in :class:`SimulationSettings`, validated
once when the settings are built; :data:`PRESETS` names the scenarios used by the
demo, the tests and the benchmarks. See :mod:`pss_bayes.data.simulate` for the
generative model these settings feed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from pss_bayes.errors import SimulationError

#: Noise families of the continuous biomarkers.
NOISE_FAMILIES = ("normal", "student_t")
#: Smallest share of a marker's control variance left to measurement noise.
MIN_NOISE_VARIANCE = 0.05


def log_odds_shifts(control_prevalence: float, subgroup_prevalence: tuple[float, ...]
                    ) -> tuple[float, ...]:
    """Log-odds shifts that move a control prevalence to each subgroup's prevalence.

    Parameters
    ----------
    control_prevalence
        Positivity rate among healthy controls, in (0, 1).
    subgroup_prevalence
        Positivity rate wanted in each patient subgroup, each in (0, 1).

    Returns
    -------
    tuple of float
        ``logit(p_k) - logit(p_control)`` per subgroup, rounded to 2 decimals.
    """
    def logit(p: float) -> float:
        return float(np.log(p / (1.0 - p)))

    return tuple(round(logit(p) - logit(control_prevalence), 2) for p in subgroup_prevalence)


def _tuple2(value: Any, cast: type = float) -> tuple:
    return tuple(tuple(cast(v) for v in row) for row in value)


@dataclass(frozen=True)
class SimulationSettings:
    """Every parameter of a simulated cohort.

    Continuous effects are in control-SD units: each continuous marker has total
    control variance 1 on the latent scale (module activity + centre + age + noise)
    before it is mapped to raw units, so a true effect of 2 means "two control SDs
    above the average control".

    Parameters
    ----------
    n_patients, n_controls
        Numbers of pSS patients and healthy controls.
    subgroup_weights
        Relative subgroup sizes (normalised; sizes are allocated exactly by
        largest remainder, not drawn at random). Its length is the number of
        subgroups K.
    modules
        ``(module, number of continuous biomarkers)`` pairs, in column order.
    module_effects
        K x M matrix: effect of each subgroup on each module, control-SD units.
    effect_sd
        SD of the biomarker-level deviations added to the module effect of each
        subgroup x biomarker cell.
    module_covariation
        SD ``s`` of the subject-level latent activity per module (``N(0, s^2)``,
        for controls and patients alike); it makes biomarkers of one module
        co-vary within a subgroup.
    loading_range
        Range of the uniform draw of each biomarker's loading on its module activity.
    patient_spread
        Per subgroup, the SD of its patients' within-subgroup variation (module
        activity and noise) relative to the controls' (empty: 1 for all, patients
        as spread as controls). Centre and age effects are not scaled.
    noise, noise_df
        Measurement noise family (``"normal"`` or ``"student_t"``) and, for
        Student-t, its degrees of freedom (> 2; the noise is scaled to the
        variance the normal noise would have).
    n_centres, centre_sd, centre_concentration
        Number of recruiting centres, SD of the per-centre x biomarker offsets and
        the Dirichlet concentration of the centre proportions (shared by
        patients and controls).
    fraction_female
        Probability that a subject (patient or control) is female.
    age_mean_patients, age_sd_patients, age_mean_controls, age_sd_controls
        Normal age distributions (years) of patients and controls.
    age_range
        Ages are clipped to this range and rounded to whole years.
    age_reference
        Age at which the age effect is zero.
    age_effects
        ``(module, effect per decade)`` pairs: every biomarker of the module
        shifts by this many control SDs per decade of age.
    missing_fraction, binary_missing_fraction
        Probability that a continuous / binary value is missing (completely at
        random); ids, group, covariates and centre are never missing.
    binary_module
        Module name of the binary markers.
    binary_markers
        ``(name, control prevalence)`` pairs of the binary (autoantibody) markers.
    binary_shifts
        K x B matrix: log-odds shift of each subgroup's positivity over controls.
    serum_modules
        Modules measured in serum (log10 concentration scale); the others are
        gene expression (log2 scale).
    gene_baseline_range, gene_sd_range
        Ranges of the uniform draws of each gene's control mean and SD (log2 units).
    serum_baseline_range, serum_sd_range
        The same for serum markers (log10 pg/mL).
    """

    n_patients: int = 304
    n_controls: int = 330
    subgroup_weights: tuple[float, ...] = (0.30, 0.24, 0.26, 0.20)
    modules: tuple[tuple[str, int], ...] = (("interferon", 8), ("inflammation", 6), ("b_cell", 5),
                                            ("t_cell", 4), ("cytokines", 5))
    module_effects: tuple[tuple[float, ...], ...] = ((2.2, 0.3, 1.3, 0.0, 0.9),
                                                     (0.0, 0.0, 0.0, 0.0, 0.0),
                                                     (1.2, 2.0, 0.0, -0.4, 1.5),
                                                     (0.3, 0.0, 1.0, -1.8, 0.0))
    effect_sd: float = 0.25
    module_covariation: float = 0.6
    loading_range: tuple[float, float] = (0.7, 1.0)
    patient_spread: tuple[float, ...] = ()
    noise: str = "normal"
    noise_df: float = 5.0
    n_centres: int = 7
    centre_sd: float = 0.2
    centre_concentration: float = 5.0
    fraction_female: float = 0.94
    age_mean_patients: float = 55.0
    age_sd_patients: float = 13.0
    age_mean_controls: float = 53.0
    age_sd_controls: float = 13.0
    age_range: tuple[float, float] = (18.0, 85.0)
    age_reference: float = 50.0
    age_effects: tuple[tuple[str, float], ...] = (("inflammation", 0.12), ("t_cell", -0.10))
    missing_fraction: float = 0.03
    binary_missing_fraction: float = 0.01
    binary_module: str = "autoantibodies"
    binary_markers: tuple[tuple[str, float], ...] = (("anti_SSA_Ro", 0.03), ("anti_SSB_La", 0.01),
                                                     ("rheumatoid_factor", 0.05))
    binary_shifts: tuple[tuple[float, ...], ...] = tuple(zip(
        log_odds_shifts(0.03, (0.90, 0.45, 0.75, 0.65)),
        log_odds_shifts(0.01, (0.60, 0.20, 0.45, 0.35)),
        log_odds_shifts(0.05, (0.50, 0.20, 0.45, 0.35))))
    serum_modules: tuple[str, ...] = ("cytokines",)
    gene_baseline_range: tuple[float, float] = (5.0, 12.0)
    gene_sd_range: tuple[float, float] = (0.3, 1.0)
    serum_baseline_range: tuple[float, float] = (0.3, 2.5)
    serum_sd_range: tuple[float, float] = (0.15, 0.4)

    def __post_init__(self) -> None:
        try:
            normalised = self._normalised()
        except (TypeError, ValueError) as exc:
            raise SimulationError(f"invalid simulation settings: {exc}") from exc
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        self._validate()

    def _normalised(self) -> dict[str, Any]:
        """Sequence-valued fields as (nested) tuples of the right scalar types."""
        normalised = {
            "subgroup_weights": tuple(float(w) for w in self.subgroup_weights),
            "patient_spread": tuple(float(v) for v in self.patient_spread),
            "modules": tuple((str(m), int(n)) for m, n in self.modules),
            "module_effects": _tuple2(self.module_effects),
            "age_effects": tuple((str(m), float(e)) for m, e in self.age_effects),
            "binary_markers": tuple((str(b), float(p)) for b, p in self.binary_markers),
            "binary_shifts": _tuple2(self.binary_shifts),
            "serum_modules": tuple(str(m) for m in self.serum_modules),
        }
        for name in ("loading_range", "age_range", "gene_baseline_range", "gene_sd_range",
                     "serum_baseline_range", "serum_sd_range"):
            pair = tuple(float(v) for v in getattr(self, name))
            if len(pair) != 2:
                raise ValueError(f"{name} must be a (low, high) pair, got {pair}")
            normalised[name] = pair
        return normalised

    @property
    def n_subgroups(self) -> int:
        """Number of true patient subgroups K."""
        return len(self.subgroup_weights)

    @property
    def module_names(self) -> tuple[str, ...]:
        """Names of the continuous modules, in column order."""
        return tuple(m for m, _ in self.modules)

    def _validate(self) -> None:
        k, n_modules, n_binary = self.n_subgroups, len(self.modules), len(self.binary_markers)
        problems = []
        if self.n_patients < k:
            problems.append(f"n_patients={self.n_patients} is below the number of subgroups ({k})")
        if self.n_controls < 3:
            problems.append(f"n_controls={self.n_controls}; at least 3 controls are needed")
        if k == 0 or min(self.subgroup_weights) <= 0:
            problems.append("subgroup_weights must be one or more positive numbers")
        if self.patient_spread and (len(self.patient_spread) != k or min(self.patient_spread) <= 0):
            problems.append(f"patient_spread must be empty or {k} positive numbers (one per subgroup)")
        if not self.modules or min(n for _, n in self.modules) < 1:
            problems.append("modules must list at least one module, each with at least 1 biomarker")
        if len(set(self.module_names) | {self.binary_module}) != n_modules + 1:
            problems.append("module names (and binary_module) must be unique")
        if any(len(row) != n_modules for row in self.module_effects) or len(self.module_effects) != k:
            problems.append(f"module_effects must be {k} rows (subgroups) x {n_modules} columns (modules)")
        if any(len(row) != n_binary for row in self.binary_shifts) or len(self.binary_shifts) != k:
            problems.append(f"binary_shifts must be {k} rows (subgroups) x {n_binary} columns "
                            "(binary markers)")
        if any(not 0.0 < p < 1.0 for _, p in self.binary_markers):
            problems.append("binary_markers prevalences must lie strictly between 0 and 1")
        unknown = sorted(({m for m, _ in self.age_effects} | set(self.serum_modules))
                         - set(self.module_names))
        if unknown:
            problems.append(f"age_effects / serum_modules name unknown modules {unknown}; "
                            f"modules are {list(self.module_names)}")
        if self.noise not in NOISE_FAMILIES:
            problems.append(f"noise={self.noise!r}; expected one of {NOISE_FAMILIES}")
        if self.noise == "student_t" and self.noise_df <= 2:
            problems.append(f"noise_df={self.noise_df} must exceed 2 (finite variance)")
        if self.n_centres < 1 or self.centre_concentration <= 0:
            problems.append("n_centres must be >= 1 and centre_concentration > 0")
        for name in ("missing_fraction", "binary_missing_fraction"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                problems.append(f"{name}={getattr(self, name)} must lie in [0, 0.5]")
        if not 0.0 <= self.fraction_female <= 1.0:
            problems.append(f"fraction_female={self.fraction_female} must lie in [0, 1]")
        if min(self.effect_sd, self.module_covariation, self.centre_sd, self.age_sd_patients,
               self.age_sd_controls) < 0:
            problems.append("SDs (effect_sd, module_covariation, centre_sd, age SDs) must be >= 0")
        for name in ("loading_range", "age_range", "gene_baseline_range", "gene_sd_range",
                     "serum_baseline_range", "serum_sd_range"):
            low, high = getattr(self, name)
            if low > high:
                problems.append(f"{name}={(low, high)} must be a (low, high) pair with low <= high")
        if min(self.gene_sd_range[0], self.serum_sd_range[0]) <= 0:
            problems.append("gene_sd_range and serum_sd_range must be positive")
        if self.min_noise_variance() < MIN_NOISE_VARIANCE:
            problems.append("module_covariation, loading_range, centre_sd and age_effects leave "
                            f"{self.min_noise_variance():.3f} of the control variance to noise "
                            f"(need >= {MIN_NOISE_VARIANCE}); make them smaller")
        if problems:
            raise SimulationError("invalid simulation settings: " + "; ".join(problems))

    def min_noise_variance(self) -> float:
        """Smallest noise variance any continuous marker gets (total control variance is 1)."""
        largest_age = max((abs(e) for _, e in self.age_effects), default=0.0)
        return (1.0 - (self.loading_range[1] * self.module_covariation) ** 2 - self.centre_sd ** 2
                - (largest_age * self.age_sd_controls / 10.0) ** 2)


def setting_names() -> tuple[str, ...]:
    """Names of all fields of :class:`SimulationSettings` (the valid overrides)."""
    return tuple(f.name for f in fields(SimulationSettings))


_DEFAULT = SimulationSettings()

#: Named scenarios. ``default`` mirrors the published design (about 304 pSS vs 330
#: controls, four subgroups, one of them healthy-like); the others vary one aspect.
PRESETS: dict[str, SimulationSettings] = {
    "default": _DEFAULT,
    "tiny": SimulationSettings(
        n_patients=40, n_controls=30, subgroup_weights=(0.40, 0.35, 0.25),
        modules=(("interferon", 4), ("inflammation", 3), ("b_cell", 3)),
        module_effects=((2.5, 0.0, 1.5), (0.0, 0.0, 0.0), (0.5, 2.5, 0.0)),
        n_centres=3, age_effects=(("inflammation", 0.12),),
        binary_markers=(("anti_SSA_Ro", 0.03),),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.90, 0.45, 0.75)))),
        serum_modules=()),
    "overlap": replace(_DEFAULT, module_effects=tuple(
        tuple(round(0.5 * e, 2) for e in row) for row in _DEFAULT.module_effects)),
    "covariation": replace(_DEFAULT, module_covariation=0.9),
    "heavy_tails": replace(_DEFAULT, noise="student_t", noise_df=3.0),
    "missing": replace(_DEFAULT, missing_fraction=0.10, binary_missing_fraction=0.05),
    "patient_spread": replace(_DEFAULT, patient_spread=(1.4, 1.2, 1.4, 1.3)),
    "one_subgroup": replace(
        _DEFAULT, subgroup_weights=(1.0,), module_effects=((1.5, 0.8, 0.8, -0.5, 1.0),),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.70,)), log_odds_shifts(0.01, (0.40,)),
                                log_odds_shifts(0.05, (0.40,))))),
    "k2": replace(
        _DEFAULT, subgroup_weights=(0.55, 0.45),
        module_effects=((2.2, 0.3, 1.3, 0.0, 0.9), (0.0, 0.0, 0.0, 0.0, 0.0)),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.90, 0.45)), log_odds_shifts(0.01, (0.60, 0.20)),
                                log_odds_shifts(0.05, (0.50, 0.20))))),
    "k3": replace(
        _DEFAULT, subgroup_weights=(0.40, 0.30, 0.30), module_effects=_DEFAULT.module_effects[:3],
        binary_shifts=_DEFAULT.binary_shifts[:3]),
    "k5": replace(
        _DEFAULT, subgroup_weights=(0.26, 0.20, 0.22, 0.17, 0.15),
        module_effects=_DEFAULT.module_effects + ((0.0, -0.8, 0.0, 1.6, 1.6),),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.90, 0.45, 0.75, 0.65, 0.55)),
                                log_odds_shifts(0.01, (0.60, 0.20, 0.45, 0.35, 0.30)),
                                log_odds_shifts(0.05, (0.50, 0.20, 0.45, 0.35, 0.30))))),
}
