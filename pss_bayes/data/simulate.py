"""Simulated pSS cohorts with known subgroups (the package's embedded default cohort).

The data made here are SIMULATED: no value comes from a real person. The default
scenario borrows the *design* of the published PRECISESADO analysis (Soret et
al., Nat Commun 2021: about 304 pSS patients vs 330 healthy controls, four
patient subgroups, one of them close to the controls), not its numbers; effect
sizes were chosen so that the subgroups are learnable but overlap.

Generative model, per subject ``i`` and continuous biomarker ``j`` of module ``m``
(latent scale, in control-SD units)::

    z_ij = delta_{k(i), j}                       (0 for controls)
         + s_k * (loading_j * a_{i, m}           a_{i, m} ~ N(0, module_covariation^2)
                  + sqrt(v_j) * e_ij)            e ~ N(0, 1) or unit-variance Student-t
         + b_{centre(i), j}                      b ~ N(0, centre_sd^2)
         + age_j * (age_i - age_reference) / 10

    delta_{k, j} = module_effects[k, m] + d_{k, j},   d ~ N(0, effect_sd^2)

``s_k`` is subgroup ``k``'s ``patient_spread`` (1 for controls and by default).
``v_j`` is chosen so that a control's latent value has variance 1, which makes
``delta`` the true subject-average deviation from controls in control SDs (given
age). Raw values are ``baseline_j + raw_sd_j * z_ij``: genes on a log2
expression-like scale (baselines 5-12, SDs 0.3-1.0), serum cytokines already on a
log10 pg/mL scale; different markers thus have different units and
control-referenced scaling is needed to compare them. Binary autoantibodies are
Bernoulli with ``logit p = logit(control prevalence) + binary_shifts[k]``
(shift 0 for controls). Subgroup sizes are allocated exactly from the weights;
membership, centre, age and sex are drawn independently; values are then blanked
completely at random and the rows shuffled.

What it does NOT model: subgroup membership depending on age, sex or centre;
centres that recruit patients and controls in different proportions; any effect
of sex; non-linear age effects; correlation between modules or between
autoantibodies and the continuous markers beyond the shared subgroup; patients'
co-variation differing from the controls' other than by one ``patient_spread`` factor
per subgroup; disease activity, treatment, time; limits of detection, censoring or
missingness that depends on the value.

Every draw comes from ``numpy.random.default_rng(seed)`` (split into independent
streams), so the same seed and settings give the same cohort and byte-identical
files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pss_bayes.data.cohort import BINARY, CONTINUOUS, Cohort, MarkerTable
from pss_bayes.data.simulation_settings import PRESETS, SimulationSettings, setting_names
from pss_bayes.errors import SimulationError

__all__ = ["PRESETS", "SimulatedCohort", "SimulationSettings", "simulate_cohort"]

#: Format of every float written by :meth:`SimulatedCohort.write`.
FLOAT_FORMAT = "%.6g"


@dataclass(frozen=True, eq=False)
class SimulatedCohort:
    """A simulated cohort and the truth it was drawn from.

    Attributes
    ----------
    cohort
        The data: covariates ``age`` (years) and ``sex`` (``"F"``/``"M"``), batch
        ``centre``, groups ``"pSS"`` and ``"control"``.
    truth
        ``subject_id`` and true ``subgroup`` (1..K) of every patient.
    effects
        ``subgroup, biomarker, module, kind, effect``: the true deviation from
        controls in control SDs (continuous) or the log-odds shift (binary).
    module_effects
        ``subgroup, module, effect``: the module-level effects (continuous modules).
    settings
        The settings used.
    preset
        Name of the preset used, or ``"custom"`` for settings passed directly.
    seed
        The random seed.
    """

    cohort: Cohort
    truth: pd.DataFrame
    effects: pd.DataFrame
    module_effects: pd.DataFrame
    settings: SimulationSettings
    preset: str
    seed: int

    @property
    def n_subgroups(self) -> int:
        """Number of true patient subgroups."""
        return self.settings.n_subgroups

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the cohort, the truth and a description of the simulation.

        Parameters
        ----------
        out_dir
            Folder to write to (created if needed; files in it are replaced).

        Returns
        -------
        list of Path
            ``cohort.csv``, ``markers.csv``, ``truth.csv``, ``truth_effects.csv``,
            ``truth_module_effects.csv``, ``simulation.json`` and ``README.txt``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tables = {"cohort.csv": self.cohort.to_frame(), "markers.csv": self.cohort.markers.to_frame(),
                  "truth.csv": self.truth, "truth_effects.csv": self.effects,
                  "truth_module_effects.csv": self.module_effects}
        paths = []
        for name, frame in tables.items():
            frame.to_csv(out / name, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
            paths.append(out / name)
        description = {"simulated": True, "preset": self.preset, "seed": self.seed,
                       "settings": asdict(self.settings)}
        (out / "simulation.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
        (out / "README.txt").write_text(self._readme(), encoding="utf-8")
        return paths + [out / "simulation.json", out / "README.txt"]

    def new_patients(self, n_patients: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Further patients of the same simulated population, e.g. to try a classifier on.

        They share this cohort's biomarkers, subgroups, effects, measurement
        scales and centre offsets (all drawn from this cohort's seed); who they
        are and their values are drawn afresh from ``seed``. A second cohort
        simulated with another seed would not do: its biomarkers would have
        other baselines and scales. Their values are complete, as a panel
        measured in the clinic would be.

        Parameters
        ----------
        n_patients
            Number of new patients (at least the number of subgroups).
        seed
            Non-negative seed of the new patients (other than this cohort's seed).

        Returns
        -------
        table, truth
            ``table``: one row per new patient with the columns of
            ``cohort.csv`` (``subject_id`` ``N0001``, ``N0002``, ...; ``group``,
            covariates, centre, biomarkers); ``truth``: ``subject_id`` and
            true ``subgroup``.

        Raises
        ------
        SimulationError
            For a bad number of patients or seed, or the cohort's own seed.
        """
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
        if seed == self.seed:
            raise SimulationError(f"new patients need another seed than the cohort's ({self.seed})")
        settings = replace(self.settings, n_patients=n_patients, missing_fraction=0.0, binary_missing_fraction=0.0)
        drawn = _simulate(settings, self.preset, self.seed, subject_seed=int(seed))
        table = drawn.cohort.to_frame()
        table = table[table["group"] == drawn.cohort.group_labels[0]].sort_values("subject_id")
        new_ids = {old: "N" + old[1:] for old in table["subject_id"]}
        table["subject_id"] = table["subject_id"].map(new_ids)
        truth = drawn.truth.assign(subject_id=drawn.truth["subject_id"].map(new_ids))
        return table.reset_index(drop=True), truth

    def _readme(self) -> str:
        c, s = self.cohort, self.settings
        n_binary = int(c.markers.is_binary.sum())
        weights = ", ".join(f"{w / sum(s.subgroup_weights):.2f}" for w in s.subgroup_weights)
        if self.preset == "custom":
            again = ("simulate_cohort(SimulationSettings(**settings), seed=...) with the settings "
                     "and seed in simulation.json")
        else:
            again = (f"`pss-bayes simulate --preset {self.preset} --seed {self.seed} --out DIR` "
                     "(apply any settings in simulation.json that differ from the preset)")
        return (
            "SIMULATED DATA - these values do not come from real patients or controls.\n\n"
            f"Written by pss_bayes.data.simulate with preset '{self.preset}' and seed {self.seed}.\n"
            f"{c.n_patients} pSS patients and {c.n_controls} healthy controls from {s.n_centres} "
            f"centres; {len(c.markers) - n_binary} continuous and {n_binary} binary biomarkers; "
            f"{s.n_subgroups} true patient subgroups (weights {weights}).\n"
            "Genes are on a log2 expression-like scale, serum markers on a log10 pg/mL scale, "
            "binary markers are 0/1.\n\n"
            "Files:\n"
            "  cohort.csv                 subject_id, group, age, sex, centre, biomarkers\n"
            "  markers.csv                biomarker, module, kind\n"
            "  truth.csv                  true subgroup of each patient\n"
            "  truth_effects.csv          true effect per subgroup and biomarker (control SDs; "
            "log-odds for binary)\n"
            "  truth_module_effects.csv   true effect per subgroup and module (control SDs)\n"
            "  simulation.json            preset, seed and every setting\n\n"
            f"To make it again: {again}.\n")


def simulate_cohort(settings: SimulationSettings | None = None, *, preset: str | None = None,
                    seed: int = 0, **overrides: object) -> SimulatedCohort:
    """Simulate a cohort of pSS patients and healthy controls with known subgroups.

    Parameters
    ----------
    settings
        Settings to use; if ``None``, those of ``preset``.
    preset
        Name of a scenario in :data:`PRESETS` (``"default"`` when neither
        ``settings`` nor ``preset`` is given); not allowed together with ``settings``.
    seed
        Non-negative random seed; the same seed gives the same cohort.
    **overrides
        Settings fields to replace, e.g. ``n_patients=100``.

    Returns
    -------
    SimulatedCohort

    Raises
    ------
    SimulationError
        For an unknown preset or setting, both ``settings`` and ``preset``, a bad
        seed, or settings that fail validation.
    """
    if settings is not None and preset is not None:
        raise SimulationError("pass either settings or preset, not both")
    name = "custom" if settings is not None else (preset or "default")
    if settings is None:
        if name not in PRESETS:
            raise SimulationError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
        settings = PRESETS[name]
    unknown = sorted(set(overrides) - set(setting_names()))
    if unknown:
        raise SimulationError(f"unknown simulation setting(s) {unknown}; valid settings: "
                              f"{', '.join(setting_names())}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
    settings = replace(settings, **overrides)
    return _simulate(settings, name, int(seed))


def _allocate(n: int, weights: tuple[float, ...]) -> np.ndarray:
    """Split ``n`` into counts proportional to ``weights`` (largest remainder)."""
    share = np.asarray(weights) / np.sum(weights) * n
    counts = np.floor(share).astype(int)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _markers(s: SimulationSettings) -> MarkerTable:
    names = [f"{m}_{i:02d}" for m, n in s.modules for i in range(1, n + 1)]
    modules = [m for m, n in s.modules for _ in range(n)]
    kinds = [CONTINUOUS] * len(names) + [BINARY] * len(s.binary_markers)
    return MarkerTable(tuple(names + [b for b, _ in s.binary_markers]),
                       tuple(modules + [s.binary_module] * len(s.binary_markers)), tuple(kinds))


def _simulate(s: SimulationSettings, preset: str, seed: int, subject_seed: int | None = None) -> SimulatedCohort:
    """The cohort of ``seed``; with ``subject_seed``, other subjects of the same population."""
    marker_rng, subject_rng, value_rng, mask_rng, order_rng = np.random.default_rng(seed).spawn(5)
    if subject_seed is not None:
        subject_rng, value_rng, mask_rng, order_rng = np.random.default_rng([seed, subject_seed]).spawn(4)
    markers = _markers(s)
    module_of = np.repeat(np.arange(len(s.modules)), [n for _, n in s.modules])
    n_cont, n_bin, k = len(module_of), len(s.binary_markers), s.n_subgroups
    module_names = np.array(s.module_names)

    # Marker-level truth and measurement scale (independent of the cohort size).
    delta = np.asarray(s.module_effects)[:, module_of] + marker_rng.normal(0, s.effect_sd, (k, n_cont))
    loading = marker_rng.uniform(*s.loading_range, n_cont)
    serum = np.isin(module_names[module_of], s.serum_modules)
    baseline = np.where(serum, marker_rng.uniform(*s.serum_baseline_range, n_cont),
                        marker_rng.uniform(*s.gene_baseline_range, n_cont))
    raw_sd = np.where(serum, marker_rng.uniform(*s.serum_sd_range, n_cont),
                      marker_rng.uniform(*s.gene_sd_range, n_cont))
    centre_offset = marker_rng.normal(0, s.centre_sd, (s.n_centres, n_cont))
    age_slope = np.array([dict(s.age_effects).get(m, 0.0) for m in module_names[module_of]])
    noise_var = (1.0 - (loading * s.module_covariation) ** 2 - s.centre_sd ** 2
                 - (age_slope * s.age_sd_controls / 10.0) ** 2)

    # Subjects: patients first (ids P...), then controls (ids C...); rows shuffled at the end.
    n_p, n = s.n_patients, s.n_patients + s.n_controls
    is_patient = np.arange(n) < n_p
    subgroup = subject_rng.permutation(np.repeat(np.arange(k), _allocate(n_p, s.subgroup_weights)))
    centre = subject_rng.choice(s.n_centres, size=n,
                                p=subject_rng.dirichlet(np.full(s.n_centres, s.centre_concentration)))
    age = np.where(is_patient, subject_rng.normal(s.age_mean_patients, s.age_sd_patients, n),
                   subject_rng.normal(s.age_mean_controls, s.age_sd_controls, n))
    age = np.round(np.clip(age, *s.age_range))
    female = subject_rng.random(n) < s.fraction_female

    # Continuous values on the latent scale, then raw units.
    activity = value_rng.normal(0, s.module_covariation, (n, len(s.modules)))
    if s.noise == "student_t":
        noise = value_rng.standard_t(s.noise_df, (n, n_cont)) * np.sqrt((s.noise_df - 2) / s.noise_df)
    else:
        noise = value_rng.standard_normal((n, n_cont))
    within = activity[:, module_of] * loading + noise * np.sqrt(noise_var)
    if s.patient_spread:
        within[:n_p] *= np.asarray(s.patient_spread)[subgroup][:, None]
    z = within + centre_offset[centre] + np.outer((age - s.age_reference) / 10.0, age_slope)
    z[:n_p] += delta[subgroup]
    continuous = baseline + raw_sd * z

    # Binary markers.
    prevalence = np.array([p for _, p in s.binary_markers])
    log_odds = np.tile(np.log(prevalence / (1 - prevalence)), (n, 1))
    log_odds[:n_p] += np.asarray(s.binary_shifts).reshape(k, n_bin)[subgroup]
    binary = (value_rng.random((n, n_bin)) < 1.0 / (1.0 + np.exp(-log_odds))).astype(float)

    values = np.hstack([continuous, binary])
    values[_missing_mask(s, mask_rng, is_patient, n_cont, n_bin)] = np.nan

    width = max(4, len(str(max(n_p, s.n_controls))))
    ids = np.array([f"P{i + 1:0{width}d}" for i in range(n_p)]
                   + [f"C{i + 1:0{width}d}" for i in range(s.n_controls)], dtype=object)
    centre_width = len(str(s.n_centres))
    order = order_rng.permutation(n)
    cohort = Cohort(
        subject_ids=ids[order], is_patient=is_patient[order], values=values[order], markers=markers,
        covariates=pd.DataFrame({"age": age[order], "sex": np.where(female, "F", "M")[order]}),
        batch=np.array([f"centre_{c + 1:0{centre_width}d}" for c in centre[order]]),
        batch_name="centre", group_labels=("pSS", "control"))
    truth = pd.DataFrame({"subject_id": ids[:n_p], "subgroup": subgroup + 1})
    return SimulatedCohort(cohort=cohort, truth=truth, effects=_effects_table(s, markers, delta),
                           module_effects=_module_effects_table(s), settings=s, preset=preset,
                           seed=seed)


def _missing_mask(s: SimulationSettings, rng: np.random.Generator, is_patient: np.ndarray,
                  n_cont: int, n_bin: int) -> np.ndarray:
    """MCAR mask that leaves every subject one value and every continuous marker 3 control values."""
    n = len(is_patient)
    mask = np.hstack([rng.random((n, n_cont)) < s.missing_fraction,
                      rng.random((n, n_bin)) < s.binary_missing_fraction])
    for i in np.flatnonzero(mask.all(axis=1)):
        mask[i, rng.integers(n_cont)] = False
    controls = np.flatnonzero(~is_patient)
    for j in range(n_cont):
        observed = controls[~mask[controls, j]]
        if observed.size < 3:
            hidden = np.setdiff1d(controls, observed)
            mask[rng.choice(hidden, 3 - observed.size, replace=False), j] = False
    return mask


def _effects_table(s: SimulationSettings, markers: MarkerTable, delta: np.ndarray) -> pd.DataFrame:
    effect = np.hstack([delta, np.asarray(s.binary_shifts).reshape(s.n_subgroups, -1)])
    k, n_markers = effect.shape
    return pd.DataFrame({"subgroup": np.repeat(np.arange(1, k + 1), n_markers),
                         "biomarker": np.tile(markers.names, k), "module": np.tile(markers.modules, k),
                         "kind": np.tile(markers.kinds, k), "effect": effect.ravel()})


def _module_effects_table(s: SimulationSettings) -> pd.DataFrame:
    k, n_modules = s.n_subgroups, len(s.modules)
    return pd.DataFrame({"subgroup": np.repeat(np.arange(1, k + 1), n_modules),
                         "module": np.tile(s.module_names, k),
                         "effect": np.asarray(s.module_effects, dtype=float).ravel()})
