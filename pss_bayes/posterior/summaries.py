"""Result tables from a labelled posterior: K, memberships, effects, patients' spread, co-clustering.

All functions take the ``posterior`` group of a fit (an ``xarray.Dataset``) and
return pandas DataFrames with plain column names, ready to write as CSV.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: Probability mass of the reported credible intervals (ArviZ's default).
HDI_PROB = 0.94


def hdi(samples: np.ndarray, prob: float = HDI_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval along axis 0 (NaNs must be removed beforehand)."""
    x = np.sort(samples, axis=0)
    n = x.shape[0]
    width = max(int(np.floor(prob * n)), 1)
    if width >= n:
        return x[0], x[-1]
    gaps = x[width:] - x[:n - width]
    start = np.argmin(gaps, axis=0)
    lo = np.take_along_axis(x, start[None], axis=0)[0]
    hi = np.take_along_axis(x, (start + width)[None], axis=0)[0]
    return lo, hi


def kept_draws(da: xr.DataArray) -> np.ndarray:
    """Relabelled draws as an (S, ...) array, dropping the draws that were not kept."""
    stacked = da.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    keep = ~np.isnan(stacked.reshape(stacked.shape[0], -1)).all(1)
    return stacked[keep]


def n_subgroups_table(posterior: xr.Dataset) -> pd.DataFrame:
    """Posterior probability of each number of non-empty subgroups."""
    k = posterior["n_subgroups"].to_numpy().ravel()
    values, counts = np.unique(k, return_counts=True)
    return pd.DataFrame({"k": values.astype(int), "probability": counts / k.size})


def membership_table(posterior: xr.Dataset, prob: float = HDI_PROB) -> pd.DataFrame:
    """Per patient: most probable subgroup, its probability, entropy, and p_k with intervals.

    ``p_k`` is the posterior mean membership probability, ``p_k_lo``/``p_k_hi`` the
    equal-tailed ``prob`` interval of the per-draw probabilities. ``entropy`` is in
    nats (0 = certain; log K = uniform).
    """
    draws = kept_draws(posterior["membership"]).astype(float)     # (S, n, k)
    mean = draws.mean(0)
    tail = (1 - prob) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail], axis=0)
    subgroups = [str(s) for s in posterior["subgroup"].to_numpy()]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = 0.0 - np.nansum(np.where(mean > 0, mean * np.log(mean), 0.0), axis=1)   # never -0.0
    table = pd.DataFrame({"subject_id": posterior["subject"].to_numpy().astype(str),
                          "subgroup": np.array(subgroups)[mean.argmax(1)].astype(int),
                          "p_max": mean.max(1), "entropy": entropy})
    for i, s in enumerate(subgroups):
        table[f"p_{s}"] = mean[:, i]
        table[f"p_{s}_lo"] = lo[:, i]
        table[f"p_{s}_hi"] = hi[:, i]
    return table


def _effect_table(da: xr.DataArray, item: str, extra: dict[str, np.ndarray] | None = None,
                  prob: float = HDI_PROB) -> pd.DataFrame:
    draws = kept_draws(da)                                          # (S, k, items)
    lo, hi = hdi(draws, prob)
    subgroups = da["subgroup"].to_numpy().astype(int)
    items = da[item].to_numpy().astype(str)
    k, m = draws.shape[1:]
    table = pd.DataFrame({"subgroup": np.repeat(subgroups, m), item: np.tile(items, k)})
    for name, values in (extra or {}).items():
        table[name] = np.tile(values, k)
    table["mean"] = draws.mean(0).ravel()
    table["sd"] = draws.std(0).ravel()
    table["hdi_lo"] = lo.ravel()
    table["hdi_hi"] = hi.ravel()
    table["p_above_controls"] = (draws > 0).mean(0).ravel()
    return table


def effects_table(posterior: xr.Dataset, modules: np.ndarray, is_binary: np.ndarray,
                  prob: float = HDI_PROB, transforms: Sequence[str] | None = None) -> pd.DataFrame:
    """Per subgroup x biomarker: deviation from controls (control SDs; log-odds for binary).

    A biomarker with a declared transform (``transforms``, default none) is on the control
    SD of its transformed values: its ``scale`` reads e.g. ``control SD of log``.
    """
    transforms = ["none"] * len(is_binary) if transforms is None else list(transforms)
    scale = np.array(["log-odds" if binary else "control SD" if t == "none" else f"control SD of {t}"
                      for binary, t in zip(is_binary, transforms)])
    return _effect_table(posterior["effect"], "biomarker", {"module": modules, "scale": scale}, prob)


def module_scales(modules: np.ndarray, is_binary: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Scale of each module's effect: control SD, log-odds (binary markers) or mixed."""
    out = []
    for name in names:
        kinds = set(is_binary[modules == name].tolist())
        out.append("log-odds" if kinds == {True} else "control SD" if kinds == {False} else "mixed")
    return np.array(out)


def module_effects_table(posterior: xr.Dataset, modules: np.ndarray, is_binary: np.ndarray,
                         prob: float = HDI_PROB) -> pd.DataFrame:
    """Per subgroup x module: the subgroup-by-module effect (the pooled module mean)."""
    names = posterior["module"].to_numpy().astype(str)
    return _effect_table(posterior["module_effect"], "module",
                         {"scale": module_scales(modules, is_binary, names)}, prob)


def patient_spread_table(posterior: xr.Dataset, prob: float = HDI_PROB) -> pd.DataFrame:
    """Per module: ratio of the patients' within-subgroup SD to the controls' SD.

    Columns ``subgroup``, ``module``, ``mean``, ``sd``, ``hdi_lo``, ``hdi_hi`` and
    ``p_above_controls`` (posterior probability that patients are more spread than
    controls). Rows with subgroup ``all`` hold the ratio shared by the subgroups (or,
    when each subgroup has its own, the typical ratio they are pooled towards, over
    all draws); then, when each subgroup has its own, one row per subgroup and module
    (over the draws kept for relabelling). Modules without the parameter (binary
    markers only, or a spec without patient spread) are left out.
    """
    columns = ["subgroup", "module", "mean", "sd", "hdi_lo", "hdi_hi", "p_above_controls"]
    if "patient_spread" not in posterior:
        return pd.DataFrame(columns=columns)
    modules = posterior["module"].to_numpy().astype(str)
    draws = posterior["patient_spread"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    has = np.isfinite(draws).all(0)
    parts = [_spread_rows("all", modules[has], draws[:, has], prob)]
    if "subgroup_spread" in posterior:
        per_subgroup = posterior["subgroup_spread"].stack(sample=("chain", "draw")).transpose("sample", ...)
        for subgroup in per_subgroup["subgroup"].to_numpy():
            values = per_subgroup.sel(subgroup=subgroup).to_numpy()[:, has]
            values = values[np.isfinite(values).all(1)]               # draws kept for relabelling
            if len(values):
                parts.append(_spread_rows(str(subgroup), modules[has], values, prob))
    return pd.DataFrame(pd.concat(parts, ignore_index=True), columns=columns)


def _spread_rows(subgroup: str, modules: np.ndarray, draws: np.ndarray, prob: float) -> pd.DataFrame:
    """Rows of :func:`patient_spread_table` for one subgroup (or ``all``) from (sample, module) draws."""
    lo, hi = hdi(draws, prob)
    return pd.DataFrame({"subgroup": subgroup, "module": modules, "mean": draws.mean(0), "sd": draws.std(0),
                         "hdi_lo": lo, "hdi_hi": hi, "p_above_controls": (draws > 1.0).mean(0)})


def coclustering_matrix(posterior: xr.Dataset) -> pd.DataFrame:
    """Posterior probability that two patients share a subgroup (kept draws)."""
    draws = kept_draws(posterior["membership"]).astype(float)
    matrix = np.einsum("sik,sjk->ij", draws, draws) / draws.shape[0]
    np.fill_diagonal(matrix, 1.0)
    ids = posterior["subject"].to_numpy().astype(str)
    return pd.DataFrame(matrix, index=pd.Index(ids, name="subject_id"), columns=ids)
