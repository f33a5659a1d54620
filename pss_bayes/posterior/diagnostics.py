"""Convergence diagnostics on label-invariant and relabelled quantities.

A mixture fit is called converged only when every check passes: rank-normalised
split R-hat (Vehtari et al. 2021) at most ``max_rhat`` and bulk ESS at least
``min_ess`` on the total log-likelihood, the number of subgroups, the baselines
and residual scales (label-invariant), and on the relabelled weights and effects;
no divergent transitions; and chains that agree on the number of subgroups and
on the patients' memberships. Each failed check becomes a plain sentence in
``warnings``. How often each chain visits each number of subgroups, and the Monte
Carlo error of its pooled posterior probability, are kept alongside: when the
number of subgroups is what mixes slowly, the warning quotes them.

One check is about the model rather than the sampler: a sparse mixture whose
posterior puts more than :data:`MAX_CEILING_MASS` of its mass on using all its
``k_max`` components (none left empty) asks for more subgroups than it may use. That usually
means the model does not describe the data (biomarkers that co-vary across
modules, strongly skewed values, ...) rather than that so many subgroups exist; it
goes into ``model_warnings`` and leaves ``converged`` alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import xarray as xr

MAX_RHAT = 1.01
MIN_ESS = 400
#: Largest mean total-variation distance between one chain's and the pooled memberships.
MAX_MEMBERSHIP_DISAGREEMENT = 0.1
#: Largest posterior mass a sparse mixture may put on k_max non-empty subgroups without a warning.
MAX_CEILING_MASS = 0.05


@dataclass(frozen=True)
class Diagnostics:
    """Outcome of the convergence checks (JSON-able through :meth:`to_dict`)."""

    converged: bool
    max_rhat: float
    min_ess_bulk: float
    divergences: int
    chains_agree: bool
    warnings: list[str] = field(default_factory=list)
    worst: dict[str, str] = field(default_factory=dict)
    chain_k_modes: list[int] = field(default_factory=list)
    membership_disagreement: float = 0.0
    model_warnings: list[str] = field(default_factory=list)
    #: Share of each chain's draws at each number of subgroups: ``{"2": [chain 1, chain 2, ...], ...}``.
    k_by_chain: dict[str, list[float]] = field(default_factory=dict)
    #: Monte Carlo standard error of the pooled posterior probability of each number of subgroups.
    k_probability_mcse: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _compact(da: xr.DataArray, keep: np.ndarray) -> np.ndarray:
    """Per chain, the kept draws, truncated to the shortest chain: (chain, m, ...)."""
    per_chain = [da.isel(chain=c).to_numpy()[keep[c]] for c in range(keep.shape[0])]
    m = min(len(x) for x in per_chain)
    return np.stack([x[:m] for x in per_chain])


def _worst(values: dict[str, np.ndarray], fn, pick) -> tuple[float, str]:
    best, where = None, ""
    for name, arr in values.items():
        if arr.shape[1] < 4:
            continue
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        varying = flat.reshape(-1, flat.shape[2]).std(0) > 0
        for i in np.flatnonzero(varying):
            with np.errstate(invalid="ignore", divide="ignore"):
                v = float(fn(flat[:, :, i]))
            if np.isnan(v):
                continue
            if best is None or pick(v, best):
                best, where = v, f"{name}[{i}]" if flat.shape[2] > 1 else name
    return (float("nan") if best is None else best), where


def diagnose(posterior: xr.Dataset, sample_stats: xr.Dataset, max_rhat: float = MAX_RHAT,
             min_ess: float = MIN_ESS, k_max: int | None = None) -> Diagnostics:
    """Run every convergence check on a fitted mixture's posterior.

    ``k_max``: the number of components of a sparse mixture (``None`` for a fixed
    number of subgroups), for the check of how close K comes to it.
    """
    warnings: list[str] = []
    keep = sample_stats["relabelled"].to_numpy().astype(bool)
    invariant = {"log_likelihood": sample_stats["log_likelihood"].to_numpy(),
                 "n_subgroups": posterior["n_subgroups"].to_numpy().astype(float),
                 "baseline": posterior["baseline"].to_numpy(),
                 "sigma": np.nan_to_num(posterior["sigma"].to_numpy())}
    if "df" in posterior:
        invariant["df"] = posterior["df"].to_numpy()
    if "patient_spread" in posterior:
        invariant["patient_spread"] = np.nan_to_num(posterior["patient_spread"].to_numpy())
    relabelled = {name: _compact(posterior[name], keep) for name in ("weight", "effect", "module_effect")}
    if "subgroup_spread" in posterior:
        relabelled["subgroup_spread"] = np.nan_to_num(_compact(posterior["subgroup_spread"], keep))
    every = {**invariant, **relabelled}
    rhat_fn = lambda a: az.rhat(a, method="rank")  # noqa: E731
    ess_fn = lambda a: az.ess(a, method="bulk")  # noqa: E731
    worst_rhat, rhat_at = _worst(every, rhat_fn, lambda v, b: v > b)
    worst_ess, ess_at = _worst(every, ess_fn, lambda v, b: v < b)
    n_chains = keep.shape[0]
    if n_chains < 2:
        warnings.append("Only one chain was run: R-hat and between-chain agreement cannot be checked.")
    k = posterior["n_subgroups"].to_numpy()
    by_chain, mcse = k_by_chain(k), k_probability_mcse(k)
    rhat_failed = not np.isnan(worst_rhat) and worst_rhat > max_rhat
    if rhat_failed:
        warnings.append(f"R-hat reaches {worst_rhat:.3f} (at {rhat_at}), above {max_rhat}: " + (
            _slow_k(by_chain, mcse, "the chains visit the numbers of subgroups in different proportions")
            if rhat_at == "n_subgroups" else "the chains have not mixed. Run more draws and warm-up, or inspect "
                                             "the chains."))
    if np.isnan(worst_ess):
        warnings.append(f"Bulk effective sample size cannot be computed from {keep.shape[1]} draws per chain: "
                        "run more draws.")
    elif worst_ess < min_ess:
        slow = "the chains move between numbers of subgroups slowly"
        said = rhat_failed and rhat_at == ess_at                      # the R-hat warning explained it already
        warnings.append(f"Bulk effective sample size is only {worst_ess:.0f} (at {ess_at}), below {min_ess}: " + (
            (f"{slow} (see the R-hat warning)." if said else _slow_k(by_chain, mcse, slow))
            if ess_at == "n_subgroups" else "estimates are noisy. Run more draws."))
    divergences = int(sample_stats["diverging"].to_numpy().sum()) if "diverging" in sample_stats else 0
    if divergences:
        warnings.append(f"{divergences} divergent transitions: the posterior geometry was not explored "
                        "reliably.")
    chain_modes = [int(np.bincount(row).argmax()) for row in k]
    overall = int(np.bincount(k.ravel()).argmax())
    agree = True
    if len(set(chain_modes)) > 1:
        agree = False
        warnings.append(f"Chains disagree on the number of subgroups (modes per chain: {chain_modes}).")
    short = [c for c in range(n_chains) if keep[c].mean() < 0.2]
    if short:
        agree = False
        warnings.append(f"Chain(s) {short} spent under 20% of their draws at the reported number of "
                        f"subgroups ({overall}).")
    disagreement = _membership_disagreement(posterior["membership"], keep)
    if disagreement > MAX_MEMBERSHIP_DISAGREEMENT:
        agree = False
        warnings.append(f"Chains disagree on patients' memberships (mean total-variation distance "
                        f"{disagreement:.2f} between a chain and the pooled posterior): the chains "
                        "found different partitions.")
    converged = (not warnings) and agree
    return Diagnostics(converged=converged, max_rhat=worst_rhat, min_ess_bulk=worst_ess,
                       divergences=divergences, chains_agree=agree, warnings=warnings,
                       worst={"rhat_at": rhat_at, "ess_at": ess_at}, chain_k_modes=chain_modes,
                       membership_disagreement=disagreement, model_warnings=_ceiling_warnings(k, k_max),
                       k_by_chain=by_chain, k_probability_mcse=mcse)


def k_by_chain(n_subgroups: np.ndarray) -> dict[str, list[float]]:
    """Share of each chain's draws (rows of ``n_subgroups``, (chain, draw)) at each number of subgroups seen."""
    return {str(int(v)): [float(np.mean(row == v)) for row in n_subgroups] for v in np.unique(n_subgroups)}


def k_probability_mcse(n_subgroups: np.ndarray) -> dict[str, float]:
    """Monte Carlo standard error of the pooled posterior probability of each number of subgroups seen
    (that of the mean of its indicator; 0 for a value every draw has, NaN when it cannot be computed)."""
    out = {}
    for v in np.unique(n_subgroups):
        indicator = (n_subgroups == v).astype(float)
        if indicator.std() == 0:
            out[str(int(v))] = 0.0
            continue
        if indicator.shape[1] < 4:
            out[str(int(v))] = float("nan")
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            out[str(int(v))] = float(np.ravel(az.mcse(indicator, method="mean"))[0])
    return out


def _slow_k(by_chain: dict[str, list[float]], mcse: dict[str, float], what: str) -> str:
    """The failure sentence's end when the number of subgroups is what mixes slowly: each chain's share
    of draws at the pooled mode, the Monte Carlo error of its probability, and what to do."""
    mode = max(by_chain, key=lambda v: sum(by_chain[v]))
    shares = ", ".join(f"{share:.2f}" for share in by_chain[mode])
    error = mcse.get(mode, float("nan"))
    known = f", Monte Carlo standard error {error:.2f}" if np.isfinite(error) else ""
    return (f"{what} (share of draws at K = {mode} by chain: {shares}; pooled {np.mean(by_chain[mode]):.2f}"
            f"{known}). Run more draws or chains; where K keeps mixing this slowly, its posterior probabilities "
            "are uncertain by about that error: compare fits with a fixed number of subgroups "
            "(pss-bayes compare).")


def _ceiling_warnings(n_subgroups: np.ndarray, k_max: int | None) -> list[str]:
    """A warning when the sparse mixture's K posterior presses against its ``k_max`` components."""
    if k_max is None:
        return []
    mass = float(np.mean(n_subgroups >= k_max))
    if mass <= MAX_CEILING_MASS:
        return []
    return [f"The posterior puts {mass:.0%} of its mass on {k_max} subgroups, every component the model has "
            f"(k_max = {k_max}): the data ask for more subgroups than the model allows, which "
            "usually means the model does not describe them (biomarkers that co-vary across modules, "
            "skewed values) rather than that so many subgroups exist. Do not read K or the memberships "
            "as findings; check the modules and the biomarkers' distributions."]


def _membership_disagreement(membership: xr.DataArray, keep: np.ndarray) -> float:
    values = membership.to_numpy()
    pooled = np.nanmean(values.reshape((-1,) + values.shape[2:]), axis=0)
    worst = 0.0
    for c in range(keep.shape[0]):
        if not keep[c].any():
            return 1.0
        chain_mean = values[c][keep[c]].mean(0)
        worst = max(worst, float(0.5 * np.abs(chain_mean - pooled).sum(-1).mean()))
    return worst
