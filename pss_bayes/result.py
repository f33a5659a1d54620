"""The result of a fit: posterior, tables, diagnostics, and their files.

:class:`FitResult` is a thin object around an ArviZ ``InferenceData``; every
table is computed from the posterior on demand. ``save``/``load`` use NetCDF with
the spec, package version, data hash, scaling and covariate design in the file's
attributes, so a loaded result can be checked against the data and spec it is
used with.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import arviz as az
import pandas as pd

from pss_bayes.data.cohort import Cohort
from pss_bayes.data.scaling import ControlScaling
from pss_bayes.errors import ResultFileError
from pss_bayes.model.design import CovariateDesign
from pss_bayes.model.spec import ModelSpec, spec_from_dict
from pss_bayes.posterior import summaries
from pss_bayes.posterior.covariation_check import covariation_warnings, subgroup_covariation
from pss_bayes.posterior.diagnostics import Diagnostics, diagnose


def diagnose_fit(idata: az.InferenceData, spec: ModelSpec) -> Diagnostics:
    """The convergence checks and model warnings of a fit's posterior under ``spec``."""
    mixture = spec.mixture
    return diagnose(idata.posterior, idata.sample_stats, k_max=mixture.k_max if mixture.sparse else None)


def _spec_differences(saved: ModelSpec, given: ModelSpec, shown: int = 4) -> str:
    """The settings where two specs differ, as ``section.key (saved X, given Y)``."""
    a, b = saved.to_dict(), given.to_dict()
    found = []
    for section in sorted(set(a) | set(b)):
        left, right = a.get(section), b.get(section)
        if isinstance(left, dict) and isinstance(right, dict):
            found += [f"{section}.{key} (saved {left.get(key)!r}, given {right.get(key)!r})"
                      for key in sorted(set(left) | set(right)) if left.get(key) != right.get(key)]
        elif left != right:
            found.append(f"{section} (saved {left!r}, given {right!r})")
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return ", ".join(found[:shown]) + more


@dataclass(eq=False)
class FitResult:
    """A fitted control-referenced mixture.

    Attributes
    ----------
    idata
        ArviZ InferenceData with groups ``posterior`` (named dims ``subgroup``,
        ``biomarker``, ``module``, ``subject``), ``log_likelihood`` (per subject,
        labels summed out), ``sample_stats`` and ``constant_data``.
    cohort
        The cohort the model was fitted to.
    spec
        The model specification.
    scaling
        The control-referenced scaling fitted on the cohort's controls.
    design
        The covariate encoding.
    run_info
        Seed, sampler settings and timings.
    """

    idata: az.InferenceData
    cohort: Cohort
    spec: ModelSpec
    scaling: ControlScaling
    design: CovariateDesign
    run_info: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------- tables
    @property
    def k(self) -> int:
        """Number of subgroups reported (the posterior mode of K unless chosen)."""
        return int(self.idata.posterior.sizes["subgroup"])

    def n_subgroups(self) -> pd.DataFrame:
        """Posterior probability of each number of non-empty subgroups (``k``, ``probability``)."""
        return summaries.n_subgroups_table(self.idata.posterior)

    def membership(self) -> pd.DataFrame:
        """Per patient membership probabilities with 94% intervals (see the CLI's membership.csv)."""
        return summaries.membership_table(self.idata.posterior)

    def effects(self) -> pd.DataFrame:
        """Per subgroup x biomarker deviation from controls: mean, 94% HDI, P(above controls)."""
        const = self.idata.constant_data
        return summaries.effects_table(self.idata.posterior, const["module_of"].to_numpy().astype(str),
                                       const["is_binary"].to_numpy(), transforms=self.scaling.transforms)

    def module_effects(self) -> pd.DataFrame:
        """Per subgroup x module effect against controls: mean, 94% HDI, P(above controls)."""
        const = self.idata.constant_data
        return summaries.module_effects_table(self.idata.posterior, const["module_of"].to_numpy().astype(str),
                                              const["is_binary"].to_numpy())

    def patient_spread(self) -> pd.DataFrame:
        """Per module, the patients' within-subgroup SD over the controls' SD: mean, 94% HDI, P(above 1).

        Subgroup ``all``: the ratio shared by the subgroups (or, with a spread per subgroup,
        the typical one); with a spread per subgroup, also a row per subgroup and module.
        Empty when the spec does not estimate it.
        """
        return summaries.patient_spread_table(self.idata.posterior)

    def coclustering(self) -> pd.DataFrame:
        """Posterior probability that two patients share a subgroup."""
        return summaries.coclustering_matrix(self.idata.posterior)

    def covariation_check(self) -> pd.DataFrame:
        """Each subgroup's mean within-module correlation against the controls', patients by their most
        probable subgroup (:func:`~pss_bayes.posterior.covariation_check.subgroup_covariation`); rows
        marked ``differs`` become model warnings."""
        subgroups = self.membership().set_index("subject_id")["subgroup"]
        return subgroup_covariation(self.cohort, subgroups)

    @cached_property
    def _diagnostics(self) -> Diagnostics:
        return diagnose_fit(self.idata, self.spec)

    @cached_property
    def _covariation_warnings(self) -> list[str]:
        return covariation_warnings(self.covariation_check())

    def diagnostics(self) -> Diagnostics:
        """Convergence checks (``converged`` is false if any fails) and model warnings: the posterior
        over K pressing against ``k_max``, and subgroups whose within-module co-variation differs from
        the controls' (:meth:`covariation_check`)."""
        diag = self._diagnostics
        extra = self._covariation_warnings
        return dataclasses.replace(diag, model_warnings=diag.model_warnings + extra) if extra else diag

    # ------------------------------------------------------------ files
    def _attrs(self) -> dict[str, str]:
        return {"spec": json.dumps(self.spec.to_dict()), "scaling": json.dumps(self.scaling.to_dict()),
                "design": json.dumps(self.design.to_dict()), "run_info": json.dumps(self.run_info),
                "data_hash": self.cohort.data_hash(),
                "pss_bayes_version": str(self.idata.posterior.attrs.get("pss_bayes_version", ""))}

    def save(self, path: str | Path) -> Path:
        """Write the posterior and the fit's metadata to one NetCDF file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        idata = self.idata.copy()
        idata.posterior.attrs.update(self._attrs())
        idata.to_netcdf(str(path), engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | Path, cohort: Cohort, spec: ModelSpec | None = None) -> "FitResult":
        """Read a result written by :meth:`save` for ``cohort``.

        Raises
        ------
        ResultFileError
            If the file is missing or malformed, was written for other data, or
            (when ``spec`` is given) for another model spec.
        """
        path = Path(path)
        if not path.is_file():
            raise ResultFileError(f"posterior file '{path}' does not exist")
        try:
            idata = az.from_netcdf(str(path), engine="h5netcdf")
            attrs = dict(idata.posterior.attrs)
            saved_spec = spec_from_dict(json.loads(attrs["spec"]), source=str(path))
            scaling = ControlScaling.from_dict(json.loads(attrs["scaling"]), source=str(path))
            design = CovariateDesign.from_dict(json.loads(attrs["design"]))
            run_info = json.loads(attrs.get("run_info", "{}"))
        except ResultFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad file
            raise ResultFileError(f"'{path}' is not a pss_bayes posterior file ({exc})") from exc
        if attrs.get("data_hash") != cohort.data_hash():
            raise ResultFileError(f"'{path}' was fitted to other data than the cohort given "
                                  f"(data hash {str(attrs.get('data_hash'))[:12]}… vs "
                                  f"{cohort.data_hash()[:12]}…); refit, or load it with its own cohort")
        if spec is not None and spec.to_dict() != saved_spec.to_dict():
            raise ResultFileError(f"'{path}' was fitted with model spec '{saved_spec.name}', which differs "
                                  f"from the spec '{spec.name}' given in {_spec_differences(saved_spec, spec)}")
        return cls(idata=idata, cohort=cohort, spec=saved_spec, scaling=scaling, design=design,
                   run_info=run_info)

    def summary(self) -> str:
        """A few lines for the terminal: K posterior, membership certainty, strongest effects."""
        from pss_bayes.posterior.text import summary_text

        return summary_text(self)
