"""Model specifications: a small frozen dataclass, declared as TOML.

The shipped specifications live in ``pss_bayes/specs/`` (mirrored in the
repository's ``models/`` folder) and are found by name (``--model default``); a
path to any TOML file with the same layout works too. Every field has a default,
so a spec file only states what it changes. Unknown sections or keys are errors,
never silently ignored.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from pss_bayes.errors import SpecError

FAMILIES = ("normal", "student_t")


@dataclass(frozen=True)
class MixtureSpec:
    """Mixture weights and the number of subgroups.

    ``fixed_k = 0`` fits a sparse finite mixture with ``k_max`` components and a
    Gamma(``e0_shape``, ``e0_rate_per_k`` * k_max) hyperprior on the Dirichlet
    concentration (Malsiner-Walli, Frühwirth-Schnatter & Grün 2016), giving a
    posterior over the number of non-empty subgroups. ``fixed_k > 0`` fits exactly
    that many components with a symmetric Dirichlet(``fixed_concentration``).
    """

    k_max: int = 10
    fixed_k: int = 0
    e0_shape: float = 10.0
    e0_rate_per_k: float = 100.0
    fixed_concentration: float = 4.0

    @property
    def n_components(self) -> int:
        return self.fixed_k if self.fixed_k > 0 else self.k_max

    @property
    def sparse(self) -> bool:
        return self.fixed_k == 0


@dataclass(frozen=True)
class LikelihoodSpec:
    """Observation model of continuous biomarkers (binary ones are Bernoulli-logit).

    For the Student-t family the degrees of freedom ``nu`` are either estimated
    (``estimate_df``, one ``nu`` shared by every continuous marker, prior
    ``Gamma(df_prior_shape, rate=df_prior_rate)``, Juárez & Steel 2010; ``df`` is
    then the starting value) or fixed at ``df``. A spec file that sets ``df``
    without saying ``estimate_df`` fixes it.
    """

    family: str = "student_t"
    df: float = 4.0
    estimate_df: bool = True
    df_prior_shape: float = 2.0
    df_prior_rate: float = 0.1

    @property
    def df_estimated(self) -> bool:
        """Whether the degrees of freedom are a parameter of the model."""
        return self.family == "student_t" and self.estimate_df


@dataclass(frozen=True)
class CovariationSpec:
    """Subject-level module activity: within-subgroup co-variation of a module's markers.

    For each module with at least ``min_markers`` continuous biomarkers, every
    subject has an activity ``a ~ N(0, 1)`` and marker ``j`` loads on it with
    ``lambda_j ~ N(0, loading_sd^2)``.
    """

    enabled: bool = True
    min_markers: int = 2
    loading_sd: float = 1.0


@dataclass(frozen=True)
class PatientSpreadSpec:
    """Patients' within-subgroup spread relative to the controls', per module.

    When enabled, a patient's deviations from its subgroup's mean in module ``m``
    (noise and module activity alike) have ``c_m`` times the variance a
    control's have around the control baseline, with
    ``c_m ~ InverseGamma(prior_shape, prior_scale)`` (default: prior mean 1, 95%
    of its mass between about 0.2 and 3.2), one multiple per module with
    continuous biomarkers. Patients are often more (or less) heterogeneous than
    healthy controls; a model that gives them the controls' spread explains the
    excess by extra subgroups. Disabled, ``c_m = 1``.

    With ``by_subgroup`` (the default), each subgroup ``k`` has its own multiple per module,
    ``c_km ~ InverseGamma(subgroup_shape, (subgroup_shape - 1) c_m)`` (mean ``c_m``,
    coefficient of variation ``1 / sqrt(subgroup_shape - 2)``): subgroups may
    differ in spread among themselves, partially pooled towards the module's
    typical multiple ``c_m`` (which keeps the prior above), as component-specific
    covariances are in sparse finite mixtures (Malsiner-Walli, Frühwirth-Schnatter
    & Grün 2016). Without it, ``c_m`` is shared by all subgroups, and subgroups that
    differ in spread among themselves make the model split the more spread ones.
    """

    enabled: bool = True
    prior_shape: float = 3.0
    prior_scale: float = 2.0
    by_subgroup: bool = True
    subgroup_shape: float = 10.0


@dataclass(frozen=True)
class PriorSpec:
    """Prior scales, all on the control-referenced scale (control SD units).

    Inverse-gamma priors are on variances: ``noise`` for the residual variance
    sigma_j^2, ``pooling`` for the within-module spread tau_m^2 of biomarker
    effects around the subgroup-by-module effect.
    """

    baseline_sd: float = 1.0
    binary_baseline_sd: float = 3.0
    covariate_sd: float = 1.0
    batch_sd: float = 0.5
    module_effect_sd: float = 2.0
    pooling_shape: float = 2.0
    pooling_scale: float = 0.5
    noise_shape: float = 2.0
    noise_scale: float = 1.0


@dataclass(frozen=True)
class SamplerSpec:
    """Default sampler settings (the CLI can override draws, tune, chains and extensions).

    ``extensions``: when the convergence checks fail after ``draws`` draws per chain,
    every chain continues by another ``draws`` draws and the checks run again, at most
    this many times (0: never).
    """

    draws: int = 1000
    tune: int = 500
    chains: int = 4
    thin: int = 1
    extensions: int = 3


@dataclass(frozen=True)
class ModelSpec:
    """A complete, declarative description of one model variant."""

    name: str = "default"
    description: str = ""
    mixture: MixtureSpec = field(default_factory=MixtureSpec)
    likelihood: LikelihoodSpec = field(default_factory=LikelihoodSpec)
    covariation: CovariationSpec = field(default_factory=CovariationSpec)
    patient_spread: PatientSpreadSpec = field(default_factory=PatientSpreadSpec)
    priors: PriorSpec = field(default_factory=PriorSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)

    def __post_init__(self) -> None:
        _check(self)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dictionary (TOML/JSON-able)."""
        return dataclasses.asdict(self)

    def replace(self, **sections: Mapping[str, Any] | str) -> "ModelSpec":
        """A copy with some fields changed, e.g. ``spec.replace(mixture={"fixed_k": 3})``.

        As in a spec file, ``likelihood={"df": 6}`` without ``estimate_df`` fixes the
        degrees of freedom.
        """
        likelihood = sections.get("likelihood")
        if isinstance(likelihood, Mapping):
            sections = {**sections, "likelihood": _fixed_df_rule(likelihood)}
        return spec_from_dict(_merge(self.to_dict(), sections), source=f"{self.name} (modified)")

    @classmethod
    def from_toml(cls, path: str | Path) -> "ModelSpec":
        return load_spec(path)


_SECTIONS = {"mixture": MixtureSpec, "likelihood": LikelihoodSpec, "covariation": CovariationSpec,
             "patient_spread": PatientSpreadSpec, "priors": PriorSpec, "sampler": SamplerSpec}


def _fixed_df_rule(likelihood: Mapping[str, Any]) -> dict[str, Any]:
    """Giving ``df`` without ``estimate_df`` means a fixed number of degrees of freedom."""
    values = dict(likelihood)
    if "df" in values and "estimate_df" not in values:
        values["estimate_df"] = False
    return values


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _check(spec: ModelSpec) -> None:
    problems = []
    m = spec.mixture
    if m.k_max < 2:
        problems.append("mixture.k_max must be at least 2")
    if m.fixed_k < 0:
        problems.append("mixture.fixed_k must be 0 (sparse mixture) or a positive number of subgroups")
    for name in ("e0_shape", "e0_rate_per_k", "fixed_concentration"):
        if getattr(m, name) <= 0:
            problems.append(f"mixture.{name} must be positive")
    if spec.likelihood.family not in FAMILIES:
        problems.append(f"likelihood.family is '{spec.likelihood.family}'; use one of {FAMILIES}")
    for name in ("df", "df_prior_shape", "df_prior_rate"):
        if getattr(spec.likelihood, name) <= 0:
            problems.append(f"likelihood.{name} must be positive")
    if spec.covariation.min_markers < 2:
        problems.append("covariation.min_markers must be at least 2")
    if spec.covariation.loading_sd <= 0:
        problems.append("covariation.loading_sd must be positive")
    for name in ("prior_shape", "prior_scale"):
        if getattr(spec.patient_spread, name) <= 0:
            problems.append(f"patient_spread.{name} must be positive")
    if spec.patient_spread.subgroup_shape <= 2:
        problems.append("patient_spread.subgroup_shape must be above 2 (a finite prior variance)")
    for name, value in dataclasses.asdict(spec.priors).items():
        if value <= 0:
            problems.append(f"priors.{name} must be positive")
    s = spec.sampler
    if s.draws < 1 or s.tune < 0 or s.chains < 1 or s.thin < 1 or s.extensions < 0:
        problems.append("sampler: draws, chains and thin must be >= 1, tune and extensions >= 0")
    if problems:
        raise SpecError(f"model spec '{spec.name}': " + "; ".join(problems))


def spec_from_dict(data: Mapping[str, Any], source: str = "spec") -> ModelSpec:
    """Build a :class:`ModelSpec` from a nested mapping, refusing unknown keys."""
    unknown = sorted(set(data) - {"name", "description", *_SECTIONS})
    if unknown:
        raise SpecError(f"{source}: unknown top-level key(s) {unknown}; "
                        f"allowed: name, description, {', '.join(_SECTIONS)}")
    kwargs: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            kwargs[key] = str(data[key])
    for section, cls in _SECTIONS.items():
        values = data.get(section, {})
        if not isinstance(values, Mapping):
            raise SpecError(f"{source}: [{section}] must be a table of settings")
        if section == "likelihood":
            values = _fixed_df_rule(values)
        allowed = {f.name: f for f in dataclasses.fields(cls)}
        bad = sorted(set(values) - set(allowed))
        if bad:
            raise SpecError(f"{source}: unknown key(s) {bad} in [{section}]; allowed: {sorted(allowed)}")
        typed = {}
        for key, value in values.items():
            default = getattr(cls(), key)
            try:
                typed[key] = type(default)(value) if not isinstance(default, bool) else _as_bool(value)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{source}: [{section}] {key} = {value!r} is not a valid "
                                f"{type(default).__name__}") from exc
        kwargs[section] = cls(**typed)
    return ModelSpec(**kwargs)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(value)


def available_specs() -> list[str]:
    """Names of the specifications shipped with the package."""
    folder = resources.files("pss_bayes") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(name_or_path: str | Path = "default") -> ModelSpec:
    """Load a shipped specification by name, or any TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SpecError(f"model spec file '{path}' does not exist; shipped specs: "
                            f"{', '.join(available_specs())}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = resources.files("pss_bayes") / "specs" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise SpecError(f"no model spec named '{name_or_path}'; shipped specs: "
                            f"{', '.join(available_specs())}, or give a path to a .toml file")
        text, source = resource.read_text(encoding="utf-8"), f"{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"model spec file '{source}' is not valid TOML: {exc}") from exc
    data.setdefault("name", Path(source).stem)
    return spec_from_dict(data, source=source)
