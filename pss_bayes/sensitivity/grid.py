"""Declarative sensitivity grids: which refits of a cohort to compare with the reference fit.

A grid is a TOML file (the default one is ``models/sensitivity.toml``, shipped as
``pss_bayes/sensitivity/sensitivity.toml``) with a ``[grid]`` table (reference
model, seed, sampler settings) and ``[[variant]]`` tables. A variant changes
model-spec sections (``mixture``, ``likelihood``, ``covariation``,
``patient_spread``, ``priors``) and/or the data (``drop_module``, ``drop_centre``, ``controls``). ``"each"``
expands one declared variant into one per module or centre of the cohort, and
``repeat = N`` into ``N`` copies with their own seeds, so that one grid runs on
any cohort; expanded names that coincide (levels that differ only in characters a
name cannot hold) get ``_2``, ``_3``, ... in the order of the levels. Unknown keys
are errors, as in model specs.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import SpecError
from pss_bayes.model.spec import ModelSpec

#: Model-spec sections a variant may change (sampler settings belong to the whole grid).
SPEC_SECTIONS = ("mixture", "likelihood", "covariation", "patient_spread", "priors")
CONTROL_METHODS = ("subsample", "bootstrap")
#: Value of ``drop_module`` / ``drop_centre`` that expands into one variant per level.
EACH = "each"
#: Name of the reference fit (reserved).
REFERENCE = "reference"
DEFAULT_GRID = "sensitivity"
_GRID_KEYS = ("model", "seed", "draws", "tune", "chains")
_VARIANT_KEYS = ("name", "description", *SPEC_SECTIONS, "drop_module", "drop_centre", "controls", "repeat")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ControlResampling:
    """Refit with resampled healthy controls.

    ``subsample`` keeps ``fraction`` of the controls, drawn without replacement;
    ``bootstrap`` draws ``fraction`` times as many controls with replacement.
    """

    method: str
    fraction: float = 1.0

    def describe(self) -> str:
        if self.method == "subsample":
            return f"{self.fraction:.0%} of the healthy controls (subsample)"
        return "bootstrap sample of the healthy controls" + (
            f" ({self.fraction:.0%} of their number)" if self.fraction != 1.0 else "")


@dataclass(frozen=True)
class Variant:
    """One fit of the grid.

    Attributes
    ----------
    name
        Unique name, also the folder name of its results.
    group
        Name of the declared variant it was expanded from (its own name otherwise).
    description
        Plain-language description used in the summary.
    changes
        Model-spec changes, e.g. ``{"mixture": {"k_max": 6}}``.
    drop_module, drop_centre
        Module left out, centre (batch level) left out, or ``None``.
    controls
        Resampling of the healthy controls, or ``None``.
    """

    name: str
    group: str
    description: str
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    drop_module: str | None = None
    drop_centre: str | None = None
    controls: ControlResampling | None = None

    @property
    def kind(self) -> str:
        """``reference``, ``module``, ``centre``, ``controls``, ``seed`` or the spec sections changed."""
        if self.name == REFERENCE:
            return REFERENCE
        kinds = [k for k, v in (("module", self.drop_module), ("centre", self.drop_centre),
                                ("controls", self.controls)) if v is not None]
        kinds += sorted(self.changes)
        return "+".join(kinds) or "seed"

    def spec(self, reference: ModelSpec) -> ModelSpec:
        """The reference spec with this variant's changes."""
        if not self.changes:
            return reference
        return reference.replace(name=f"{reference.name}+{self.name}", **self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "kind": self.kind, "description": self.description,
                "changes": {k: dict(v) for k, v in self.changes.items()}, "drop_module": self.drop_module,
                "drop_centre": self.drop_centre,
                "controls": None if self.controls is None else
                {"method": self.controls.method, "fraction": self.controls.fraction}}


@dataclass(frozen=True)
class VariantRule:
    """A ``[[variant]]`` table as declared (before expansion on a cohort)."""

    name: str
    description: str = ""
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    drop_module: str | None = None
    drop_centre: str | None = None
    controls: ControlResampling | None = None
    repeat: int = 1


@dataclass(frozen=True)
class Expansion:
    """The variants of a grid on one cohort (reference first) and notes on what was skipped."""

    variants: list[Variant]
    notes: list[str]


@dataclass(frozen=True)
class SensitivityGrid:
    """A declarative sensitivity grid.

    Attributes
    ----------
    rules
        The declared variants.
    model
        Reference model: a shipped spec name or a path to a TOML spec.
    seed
        Seed from which every fit's seed is derived (with the variant's name).
    draws, tune, chains
        Sampler settings of every fit (``None``: the model's).
    source
        Where the grid was read from.
    """

    rules: tuple[VariantRule, ...]
    model: str = "default"
    seed: int = 0
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    source: str = "grid"

    def with_settings(self, **settings: Any) -> "SensitivityGrid":
        """A copy with some of ``model, seed, draws, tune, chains`` replaced (``None`` keeps them)."""
        unknown = sorted(set(settings) - set(_GRID_KEYS))
        if unknown:
            raise TypeError(f"unknown grid settings {unknown}")
        grid = replace(self, **{k: v for k, v in settings.items() if v is not None})
        _check_settings(grid)
        return grid

    def expand(self, cohort: Cohort) -> Expansion:
        """The reference and every variant on ``cohort``; ``"each"`` uses its modules and centres.

        Raises
        ------
        SpecError
            If a variant names a module or centre the cohort lacks, would leave no
            biomarker, or two variants get the same name.
        """
        variants = [Variant(REFERENCE, REFERENCE, f"reference fit (model '{self.model}')")]
        notes: list[str] = []
        for rule in self.rules:
            for variant in _expand_rule(rule, cohort, notes, self.source):
                variants.append(variant)
        names = [v.name for v in variants]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SpecError(f"{self.source}: variant name(s) {duplicated} occur more than once "
                            "(after expanding 'each' and 'repeat'); rename the variants")
        return Expansion(variants, notes)

    def settings(self) -> dict[str, Any]:
        return {"model": self.model, "seed": self.seed, "draws": self.draws, "tune": self.tune,
                "chains": self.chains, "source": self.source}


def variant_seed(grid_seed: int, name: str) -> int:
    """Seed of one fit, derived from the grid's seed and the variant's name (stable across runs)."""
    words = np.frombuffer(hashlib.sha256(name.encode()).digest()[:16], dtype=np.uint32)
    return int(np.random.SeedSequence([grid_seed, *words.tolist()]).generate_state(1)[0])


def _level_name(level: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", level).strip("_") or "level"


def _unique(names: list[str]) -> list[str]:
    """``names`` with ``_2``, ``_3``, ... appended to later repeats of a name (skipping taken names).

    Names made from levels (modules, centres) can coincide when their levels differ only in
    characters a name cannot hold, e.g. ``IFN (type I)`` and ``IFN type I``.
    """
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            number = 2
            while f"{name}_{number}" in taken:
                number += 1
            taken.add(f"{name}_{number}")
            out.append(f"{name}_{number}")
        else:
            seen.add(name)
            out.append(name)
    return out


def _expand_rule(rule: VariantRule, cohort: Cohort, notes: list[str], source: str) -> list[Variant]:
    base = Variant(rule.name, rule.name, rule.description, rule.changes, rule.drop_module, rule.drop_centre,
                   rule.controls)
    expanded = [base]
    if rule.drop_module is not None:
        modules = cohort.markers.module_names
        if rule.drop_module == EACH:
            if len(modules) < 2:
                notes.append(f"'{rule.name}': no leave-one-module-out variants (the cohort has one module)")
                return []
            names = _unique([f"{rule.name}_{_level_name(m)}" for m in modules])
            expanded = [replace(base, name=name, drop_module=m,
                                description=_join(f"without module '{m}'", rule.description))
                        for name, m in zip(names, modules)]
        elif rule.drop_module not in modules:
            raise SpecError(f"{source}: variant '{rule.name}' drops module '{rule.drop_module}', which the "
                            f"cohort does not have; modules: {list(modules)}")
        elif len(modules) < 2:
            raise SpecError(f"{source}: variant '{rule.name}' would leave no biomarker")
        else:
            expanded = [replace(base, description=rule.description or f"without module '{rule.drop_module}'")]
    if rule.drop_centre is not None:
        centres = () if cohort.batch is None else tuple(sorted(set(cohort.batch)))
        if rule.drop_centre == EACH:
            if len(centres) < 2:
                notes.append(f"'{rule.name}': no leave-one-centre-out variants (the cohort has "
                             + ("no batch/centre column)" if cohort.batch is None else "one centre)"))
                return []
            pairs = [(v, c) for v in expanded for c in centres]
            names = _unique([f"{v.name}_{_level_name(c)}" for v, c in pairs])
            expanded = [replace(v, name=name, drop_centre=c,
                                description=_join(v.description, f"without centre '{c}'"))
                        for name, (v, c) in zip(names, pairs)]
        elif rule.drop_centre not in centres:
            raise SpecError(f"{source}: variant '{rule.name}' drops centre '{rule.drop_centre}', which the "
                            f"cohort does not have; centres: {list(centres)}")
        else:
            expanded = [replace(v, description=v.description or f"without centre '{rule.drop_centre}'")
                        for v in expanded]
    expanded = [replace(v, description=v.description or _describe(v)) for v in expanded]
    if rule.repeat > 1:
        expanded = [replace(v, name=f"{v.name}_{i}", description=f"{v.description} (copy {i})")
                    for v in expanded for i in range(1, rule.repeat + 1)]
    return expanded


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _describe(variant: Variant) -> str:
    parts = [f"{section}.{key} = {value!r}" for section, values in variant.changes.items()
             for key, value in values.items()]
    if variant.controls is not None:
        parts.append(variant.controls.describe())
    return "; ".join(parts) or "the reference model with another seed"


# ---------------------------------------------------------------- reading
def available_grids() -> list[str]:
    """Names of the grids shipped with the package."""
    folder = resources.files("pss_bayes") / "sensitivity"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_grid(name_or_path: str | Path = DEFAULT_GRID) -> SensitivityGrid:
    """Read a grid: a shipped name (``sensitivity``) or a path to a TOML file.

    Raises
    ------
    SpecError
        If the file is missing, not TOML, or has unknown or invalid keys.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SpecError(f"sensitivity grid file '{path}' does not exist; shipped grids: "
                            f"{', '.join(available_grids())}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = resources.files("pss_bayes") / "sensitivity" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise SpecError(f"no sensitivity grid named '{name_or_path}'; shipped grids: "
                            f"{', '.join(available_grids())}, or give a path to a .toml file")
        text, source = resource.read_text(encoding="utf-8"), f"{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"sensitivity grid '{source}' is not valid TOML: {exc}") from exc
    return grid_from_dict(data, source=source)


def grid_from_dict(data: Mapping[str, Any], source: str = "grid") -> SensitivityGrid:
    """Build a :class:`SensitivityGrid` from a nested mapping (the TOML layout)."""
    unknown = sorted(set(data) - {"grid", "variant"})
    if unknown:
        raise SpecError(f"{source}: unknown top-level key(s) {unknown}; allowed: [grid], [[variant]]")
    settings = data.get("grid", {})
    if not isinstance(settings, Mapping):
        raise SpecError(f"{source}: [grid] must be a table")
    bad = sorted(set(settings) - set(_GRID_KEYS))
    if bad:
        raise SpecError(f"{source}: unknown key(s) {bad} in [grid]; allowed: {list(_GRID_KEYS)}")
    rules = data.get("variant", [])
    if not isinstance(rules, list):
        raise SpecError(f"{source}: variants are declared as [[variant]] tables")
    grid = SensitivityGrid(rules=tuple(_rule(r, source) for r in rules), source=source,
                           **{k: (str(v) if k == "model" else v) for k, v in settings.items()})
    _check_settings(grid)
    return grid


def _check_settings(grid: SensitivityGrid) -> None:
    if not isinstance(grid.seed, int) or isinstance(grid.seed, bool) or grid.seed < 0:
        raise SpecError(f"{grid.source}: [grid] seed = {grid.seed!r} must be a non-negative integer")
    for key in ("draws", "tune", "chains"):
        value = getattr(grid, key)
        low = 0 if key == "tune" else 1
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise SpecError(f"{grid.source}: [grid] {key} = {value!r} must be an integer >= {low}")


def _rule(table: Any, source: str) -> VariantRule:
    if not isinstance(table, Mapping):
        raise SpecError(f"{source}: each [[variant]] must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"{source}: a [[variant]] has name {name!r}; give each variant a name of letters, "
                        "digits, '_', '-' or '.'")
    where = f"{source}: variant '{name}'"
    if name == REFERENCE:
        raise SpecError(f"{where}: the name '{REFERENCE}' is reserved for the reference fit")
    bad = sorted(set(table) - set(_VARIANT_KEYS))
    if bad:
        hint = " (sampler settings are set for the whole grid in [grid])" if "sampler" in bad else ""
        raise SpecError(f"{where}: unknown key(s) {bad}; allowed: {list(_VARIANT_KEYS)}{hint}")
    for section in SPEC_SECTIONS:
        if section in table and not isinstance(table[section], Mapping):
            raise SpecError(f"{where}: '{section}' must be a table of settings")
    changes = {s: dict(table[s]) for s in SPEC_SECTIONS if s in table}
    try:
        ModelSpec().replace(**changes)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from exc
    drops = {}
    for key in ("drop_module", "drop_centre"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise SpecError(f"{where}: {key} must be a module/centre name or \"each\"")
        drops[key] = value
    repeat = table.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise SpecError(f"{where}: repeat = {repeat!r} must be a positive integer")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where}: description must be text")
    return VariantRule(name=name, description=description.strip(), changes=changes,
                       controls=_controls(table.get("controls"), where), repeat=repeat, **drops)


def _controls(value: Any, where: str) -> ControlResampling | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"method", "fraction"}:
        raise SpecError(f"{where}: controls must be a table with keys 'method' and 'fraction'")
    method = value.get("method")
    if method not in CONTROL_METHODS:
        raise SpecError(f"{where}: controls.method = {method!r}; use one of {list(CONTROL_METHODS)}")
    fraction = value.get("fraction", 1.0 if method == "bootstrap" else 0.7)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise SpecError(f"{where}: controls.fraction = {fraction!r} must lie in (0, 1]")
    return ControlResampling(method=method, fraction=float(fraction))
