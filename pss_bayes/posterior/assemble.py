"""Turning the chains' raw draws into a labelled ArviZ ``InferenceData``.

Raw component-level draws are kept under ``component_*`` names (their labels are
arbitrary); everything reported per subgroup (``weight``, ``effect``,
``module_effect``, ``membership``) is relabelled first and is NaN in draws whose
number of non-empty components differs from the reported K.
"""

from __future__ import annotations

from typing import Sequence

import arviz as az
import numpy as np
import xarray as xr

from pss_bayes.model.design import ModelData
from pss_bayes.posterior.relabel import Relabelling, occupied, relabel


def stack_chains(traces: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-chain traces into arrays with leading (chain, draw) dimensions."""
    return {name: np.stack([t[name] for t in traces]) for name in traces[0]}


def normalise_loading_signs(loading: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """Flip each factor's loadings so that they sum to a positive number in every draw.

    A factor's loadings and its subjects' activities can change sign together
    without changing the model; this fixes the sign for reporting.
    """
    out = loading.copy()
    for f in range(int(activity.max()) + 1):
        cols = activity == f
        sign = np.where(loading[..., cols].sum(-1, keepdims=True) < 0, -1.0, 1.0)
        out[..., cols] = loading[..., cols] * sign
    return out


def build_inference_data(traces: dict[str, np.ndarray], data: ModelData, labels: Relabelling,
                         attrs: dict[str, str], estimated_df: bool = False,
                         spread: np.ndarray | None = None, by_subgroup: bool = False) -> az.InferenceData:
    """Assemble the posterior, log-likelihood, sample-stats and constant-data groups.

    ``estimated_df``: the Student-t degrees of freedom were sampled and go into the
    posterior as ``df``. ``spread`` (M,) marks the modules with a patient scale;
    ``patient_spread``, the ratio of the patients' within-subgroup SD to the
    controls' (the scale's square root), is NaN for the others. ``by_subgroup``: each
    component has its own scale; the posterior then also holds ``component_spread``
    (component, module) and, relabelled, ``subgroup_spread`` (subgroup, module), and
    ``patient_spread`` is the modules' typical ratio they are pooled towards.
    """
    spread = np.zeros(data.n_modules, dtype=bool) if spread is None else spread
    chains, draws = traces["e0"].shape
    P, C = data.covariates.shape[1], data.n_batches
    fixed = traces["fixed"]
    sub = [f"{i + 1}" for i in range(labels.k)]
    patients = data.subject_ids[data.is_patient]
    K = traces["delta"].shape[2]
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "biomarker": list(data.biomarkers),
              "module": list(data.modules), "subgroup": sub, "component": np.arange(K),
              "covariate": list(data.covariate_columns), "batch": list(data.batch_levels)}
    cd = ("chain", "draw")
    theta = traces["theta"]
    posterior = xr.Dataset(
        {
            "baseline": (cd + ("biomarker",), fixed[..., 0]),
            "covariate_effect": (cd + ("biomarker", "covariate"), fixed[..., 1:1 + P]),
            "batch_effect": (cd + ("biomarker", "batch"), fixed[..., 1 + P:1 + P + C]),
            "sigma": (cd + ("biomarker",), np.where(data.is_binary, np.nan, np.sqrt(traces["sigma2"]))),
            "loading": (cd + ("biomarker",), normalise_loading_signs(traces["loading"], data.activity)),
            "patient_spread": (cd + ("module",), np.where(spread, np.sqrt(traces["patient_scale"]), np.nan)),
            "tau": (cd + ("module",), np.sqrt(traces["tau2"])),
            "concentration": (cd, traces["e0"]),
            "n_subgroups": (cd, occupied(traces["counts"])),
            "component_weight": (cd + ("component",), np.exp(traces["log_weights"])),
            "component_count": (cd + ("component",), traces["counts"]),
            "component_effect": (cd + ("component", "biomarker"), traces["delta"]),
            "component_module_effect": (cd + ("component", "module"), theta),
            "weight": (cd + ("subgroup",), _renormalised(labels.gather(np.exp(traces["log_weights"]), 2))),
            "effect": (cd + ("subgroup", "biomarker"), labels.gather(traces["delta"], 2)),
            "module_effect": (cd + ("subgroup", "module"), labels.gather(theta, 2)),
            "membership": (cd + ("subject", "subgroup"),
                           _renormalised(labels.gather(traces["responsibility"], 3)).astype(np.float32)),
        },
        coords={**coords, "subject": list(patients)}, attrs=attrs)
    log_lik = xr.Dataset({"y": (cd + ("subject",), traces["log_lik"])},
                         coords={"chain": coords["chain"], "draw": coords["draw"],
                                 "subject": list(data.subject_ids)}, attrs=attrs)
    stats = xr.Dataset({"log_likelihood": (cd, traces["log_lik"].sum(-1)),
                        "relabelled": (cd, labels.selected),
                        "diverging": (cd, np.zeros((chains, draws), dtype=bool))},
                       coords={"chain": coords["chain"], "draw": coords["draw"]}, attrs=attrs)
    constant = xr.Dataset(
        {"y": (("subject", "biomarker"), np.where(data.observed, data.y, np.nan)),
         "is_patient": (("subject",), data.is_patient),
         "is_binary": (("biomarker",), data.is_binary),
         "module_of": (("biomarker",), np.array(data.modules)[data.module]),
         "activity_factor": (("biomarker",), data.activity)},
        coords={"subject": list(data.subject_ids), "biomarker": list(data.biomarkers)})
    if estimated_df:
        posterior["df"] = (cd, traces["df"])
    if by_subgroup:
        component_spread = np.where(spread, np.sqrt(traces["subgroup_scale"]), np.nan)
        posterior["component_spread"] = (cd + ("component", "module"), component_spread)
        posterior["subgroup_spread"] = (cd + ("subgroup", "module"), labels.gather(component_spread, 2))
    return az.InferenceData(posterior=posterior, log_likelihood=log_lik, sample_stats=stats,
                            constant_data=constant)


def _renormalised(values: np.ndarray) -> np.ndarray:
    """Rescale the last axis to sum to one (NaN rows stay NaN)."""
    return values / values.sum(-1, keepdims=True)


def relabel_traces(traces: dict[str, np.ndarray], fixed_k: bool, k: int | None = None) -> Relabelling:
    """Relabel stacked traces (see :func:`pss_bayes.posterior.relabel.relabel`)."""
    return relabel(traces["responsibility"], traces["counts"], np.exp(traces["log_weights"]),
                   traces["log_lik"].sum(-1), k=k, keep_empty=fixed_k)
