"""Per-subject marginal log-likelihood of a fit, evaluated from its saved posterior draws.

Model comparison by PSIS-LOO or K-fold cross-validation needs, for every
subject ``i`` and posterior draw ``s``, the log predictive density of the
subject's whole row with every subject-level latent variable integrated out:
the subgroup label (summed over the mixture's components, weighted by the
draw's weights; controls have no label), the module activities ``a ~ N(0, 1)``
and, for the Student-t family, the scale-mixture weights. A patient's noise and
activity terms are scaled by its module's patient spread.

- Normal family: the activities are integrated in closed form
  (:func:`pss_bayes.model.likelihood.component_loglik`), so the term is exact.
- Student-t family: integrating the scale-mixture weights gives Student-t
  densities; each activity then enters a one-dimensional integral of a normal
  density times a product of Student-t densities, which has no closed form and
  is computed by adaptive Gauss-Hermite quadrature, centred on the integrand's
  mode (found by iteratively reweighted least squares) and scaled by its
  curvature there. With the default 20 nodes the error is far below the Monte
  Carlo error of LOO (checked against dense quadrature in the tests).

The same code evaluates subjects the fit has not seen (K-fold cross-validation):
their biomarkers are scaled by the fit's control scaling and their covariates
encoded by the fit's design.
"""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import xarray as xr
from scipy.special import gammaln, logsumexp

from pss_bayes.data.cohort import Cohort
from pss_bayes.model.design import ModelData, prepare
from pss_bayes.model.likelihood import component_loglik
from pss_bayes.model.numerics import LOG_2PI
from pss_bayes.result import FitResult

#: Gauss-Hermite nodes per activity integral (Student-t family).
GH_NODES = 20
#: Iteratively reweighted least-squares steps that locate each integrand's mode.
_MODE_STEPS = 6
#: Pairs of subject and component whose weighted approximate density is this many nats below the
#: subject's best component are left at their Laplace approximation (their share is below e^-40).
_NEGLIGIBLE = 40.0
#: Value of the ``pointwise`` attribute of a log-likelihood group computed here.
MARGINAL = "marginal"


def thinned_draws(n_draws: int, n_chains: int, max_draws: int | None) -> np.ndarray:
    """Evenly spaced draw indices (the same in every chain) keeping at most ``max_draws`` in all."""
    if max_draws is None or n_draws * n_chains <= max_draws:
        return np.arange(n_draws)
    per_chain = max(1, max_draws // n_chains)
    return np.unique(np.linspace(0, n_draws - 1, per_chain).round().astype(int))


def _draw_arrays(result: FitResult, draws: np.ndarray) -> dict[str, np.ndarray]:
    """Parameters of the chosen draws of every chain, flattened to a leading sample axis."""
    post = result.idata.posterior.isel(draw=draws)
    n_samples = post.sizes["chain"] * post.sizes["draw"]

    def flat(name: str) -> np.ndarray:
        values = post[name].to_numpy()
        return values.reshape((n_samples,) + values.shape[2:])

    fixed = np.concatenate([flat("baseline")[..., None], flat("covariate_effect"), flat("batch_effect")], axis=-1)
    with np.errstate(divide="ignore"):
        log_weights = np.log(flat("component_weight"))
    df = flat("df") if "df" in post else np.full(n_samples, result.spec.likelihood.df)
    K, M = post.sizes["component"], post.sizes["module"]
    if "component_spread" in post:
        component_scale = np.nan_to_num(flat("component_spread"), nan=1.0) ** 2
    elif "patient_spread" in post:
        component_scale = np.repeat(np.nan_to_num(flat("patient_spread"), nan=1.0)[:, None, :] ** 2, K, axis=1)
    else:
        component_scale = np.ones((n_samples, K, M))
    return {"fixed": fixed, "delta": flat("component_effect"), "log_weights": log_weights,
            "sigma": np.nan_to_num(flat("sigma"), nan=1.0), "loading": flat("loading"), "df": df,
            "component_scale": component_scale}


def _design_rows(result: FitResult, cohort: Cohort) -> tuple[ModelData, np.ndarray]:
    """Model inputs of ``cohort``'s subjects on the fit's scale and covariate encoding, and their
    design matrix of intercept, covariates and the fit's centre indicators."""
    data, _, _ = prepare(cohort, result.spec, scaling=result.scaling, design=result.design)
    fit_levels = [str(b) for b in result.idata.posterior.coords["batch"].to_numpy()]
    batch = np.zeros((data.n_subjects, len(fit_levels)))
    if data.n_batches:
        position = {level: i for i, level in enumerate(fit_levels)}
        for row, level in enumerate(np.array(data.batch_levels)[data.batch]):
            if level in position:          # a centre the fit never saw gets the prior mean, 0
                batch[row, position[level]] = 1.0
    base = np.concatenate([np.ones((data.n_subjects, 1)), data.covariates, batch], axis=1)
    return data, base


def student_component_loglik(resid0: np.ndarray, observed: np.ndarray, sigma: np.ndarray, nu: float,
                             loading: np.ndarray, activity_map: np.ndarray, delta: np.ndarray,
                             offset: np.ndarray | None = None, nodes: int = GH_NODES) -> np.ndarray:
    """Continuous markers' log-density of each row under each component, Student-t family.

    The scale-mixture weights are integrated in closed form (Student-t densities)
    and each module activity by adaptive Gauss-Hermite quadrature.

    Parameters
    ----------
    resid0
        (n, J) continuous data minus baseline, covariate and batch terms.
    observed
        (n, J) ``True`` for observed continuous entries (binary markers excluded).
    sigma
        (J,) residual scales.
    nu
        Degrees of freedom.
    loading, activity_map
        (J,) loadings and (J, F) indicator of the activity each marker loads on.
    delta
        (K, J) component effects.
    offset
        (n, K) other log terms of each row and component in the row's mixture
        (log weight, binary markers; ``-inf`` where impossible). When given, only
        the pairs whose share of the row's mixture can exceed ``exp(-40)`` are
        integrated by quadrature; the others keep their Laplace approximation.
        When omitted every pair is integrated.
    nodes
        Gauss-Hermite nodes per integral.

    Returns
    -------
    (n, K) array.
    """
    obs = observed.astype(float)
    resid = resid0[:, None, :] - delta[None, :, :]                              # (n, K, J)
    has = activity_map.sum(1) > 0
    const = gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi) - np.log(sigma)
    out = (obs @ const)[:, None] - 0.5 * (nu + 1) * (
        (obs * ~has)[:, None, :] * np.log1p((resid / sigma) ** 2 / nu)).sum(-1)
    if not has.any():
        return out
    cols = np.flatnonzero(has)[np.argsort(activity_map[has].argmax(1), kind="stable")]   # grouped by factor
    factor = np.unique(activity_map[cols].argmax(1), return_inverse=True)[1]               # 0, 0, 1, 1, 1, ...
    t = _Activities(resid[..., cols], obs[:, cols], loading[cols], sigma[cols], nu, factor)
    a, prec = t.mode()
    integral = t.laplace(a, prec)                                              # (n, K, F)
    if offset is None:
        rows, comps = np.nonzero(np.ones(out.shape, dtype=bool))
    else:
        score = out + integral.sum(-1) + offset
        rows, comps = np.nonzero(score >= score.max(1, keepdims=True) - _NEGLIGIBLE)
    integral[rows, comps] = t.gauss_hermite(rows, comps, a[rows, comps], prec[rows, comps], nodes)
    return out + integral.sum(-1)


class _Activities:
    """One-dimensional activity integrals of Student-t rows, one per subject, component and factor."""

    def __init__(self, resid: np.ndarray, obs: np.ndarray, loading: np.ndarray, sigma: np.ndarray, nu: float,
                 factor: np.ndarray) -> None:
        self.resid, self.obs, self.loading, self.sigma, self.nu = resid, obs, loading, sigma, nu
        self.factor = factor                                                     # factor of each column, sorted
        self.starts = np.flatnonzero(np.r_[True, factor[1:] != factor[:-1]])
        self.inv_scale = obs / (sigma * np.sqrt(nu))                             # (n, J), 0 if unobserved

    def mode(self) -> tuple[np.ndarray, np.ndarray]:
        """Mode of each integrand (EM for the Student-t regression on the activity) and its precision."""
        nu, lam = self.nu, self.loading
        w_lam = self.obs[:, None, :] * lam / self.sigma ** 2
        a = np.zeros(self.resid.shape[:2] + (len(self.starts),))
        for _ in range(_MODE_STEPS):
            w = (nu + 1) / (nu + ((self.resid - a[..., self.factor] * lam) / self.sigma) ** 2)
            prec = 1.0 + np.add.reduceat(w * w_lam * lam, self.starts, axis=-1)
            a = np.add.reduceat(w * w_lam * self.resid, self.starts, axis=-1) / prec
        return a, prec

    def log_integrand(self, points: np.ndarray, resid: np.ndarray, inv_scale: np.ndarray) -> np.ndarray:
        """Log of N(a; 0, 1) times a factor's Student-t densities (without their constants).

        ``points`` (..., F, Q) are activity values, ``resid`` (..., J) the residuals
        and ``inv_scale`` (broadcastable to ``resid``) the observed entries' inverse
        scales; returns (..., F, Q).
        """
        z = (resid[..., None] - points[..., self.factor, :] * self.loading[:, None]) * inv_scale[..., None]
        return (-0.5 * (self.nu + 1) * np.add.reduceat(np.log1p(z * z), self.starts, axis=-2)
                - 0.5 * points ** 2 - 0.5 * LOG_2PI)

    def laplace(self, a: np.ndarray, prec: np.ndarray) -> np.ndarray:
        """Laplace approximation of every integral (n, K, F), given the modes and precisions."""
        at_mode = self.log_integrand(a[..., None], self.resid, self.inv_scale[:, None, :])[..., 0]
        return at_mode + 0.5 * (LOG_2PI - np.log(prec))

    def gauss_hermite(self, rows: np.ndarray, comps: np.ndarray, a: np.ndarray, prec: np.ndarray,
                      nodes: int) -> np.ndarray:
        """Log of each selected integral by Gauss-Hermite quadrature centred on its mode."""
        x, weights = np.polynomial.hermite.hermgauss(nodes)
        scale = np.sqrt(2.0 / prec)
        log_f = self.log_integrand(a[..., None] + scale[..., None] * x, self.resid[rows, comps], self.inv_scale[rows])
        return logsumexp(log_f + np.log(weights) + x ** 2, axis=-1) + np.log(scale)


def _binary_loglik(eta0: np.ndarray, y: np.ndarray, observed: np.ndarray, delta: np.ndarray) -> np.ndarray:
    eta = eta0[:, None, :] + delta[None, :, :]
    return (observed[:, None, :] * (y[:, None, :] * eta - np.logaddexp(0.0, eta))).sum(-1)


def pointwise_loglik(result: FitResult, cohort: Cohort | None = None, *, max_draws: int | None = None,
                     nodes: int = GH_NODES) -> xr.DataArray:
    """Marginal log-likelihood of every subject under every posterior draw.

    Parameters
    ----------
    result
        A fit.
    cohort
        Subjects to evaluate (default: the fit's own); biomarkers and covariates
        must match the fit's.
    max_draws
        Use at most this many draws in all, evenly thinned within each chain
        (default: every draw).
    nodes
        Gauss-Hermite nodes per activity integral (Student-t family only).

    Returns
    -------
    DataArray with dims ``(chain, draw, subject)``.
    """
    cohort = cohort if cohort is not None else result.cohort
    data, base = _design_rows(result, cohort)
    post = result.idata.posterior
    kept = thinned_draws(post.sizes["draw"], post.sizes["chain"], max_draws)
    p = _draw_arrays(result, kept)
    chains, draws = post.sizes["chain"], len(kept)
    activity_map = np.zeros((data.n_biomarkers, data.n_activity))
    has = data.activity >= 0
    activity_map[np.flatnonzero(has), data.activity[has]] = 1.0
    b = data.is_binary
    obs_c = data.observed & ~b
    patients = data.is_patient
    student = result.spec.likelihood.family == "student_t"
    out = np.empty((chains * draws, data.n_subjects))
    for s in range(chains * draws):
        eta0 = base @ p["fixed"][s].T
        resid0 = np.where(obs_c, data.y - eta0, 0.0)
        delta = np.concatenate([np.zeros((1, data.n_biomarkers)), p["delta"][s]])   # row 0: controls
        log_prior = np.where(patients[:, None], np.r_[-np.inf, p["log_weights"][s]],
                             np.r_[0.0, np.full(len(p["log_weights"][s]), -np.inf)])
        binary = _binary_loglik(eta0[:, b], data.y[:, b], data.observed[:, b], delta[:, b])
        comp = np.empty_like(binary)
        # A patient's noise and activity have its component's patient scale times a control's variance
        # (row 0, the controls' component, and controls: 1).
        component_scale = np.concatenate([np.ones((1, data.n_modules)), p["component_scale"][s]])
        continuous_delta = np.where(b, 0.0, delta)
        for rows, scale in ((patients, component_scale), (~patients, np.ones_like(component_scale))):
            if not rows.any():
                continue
            if not student:
                prec = np.where(obs_c[rows], p["sigma"][s] ** -2, 0.0)
                no_binary = np.zeros((int(rows.sum()), 0))
                comp[rows] = component_loglik(resid0[rows], prec, p["loading"][s], data.module, scale,
                                              continuous_delta, no_binary, no_binary, no_binary, delta[:, :0])
                continue
            distinct, which = np.unique(scale, axis=0, return_inverse=True)
            for u, multiple in enumerate(distinct):
                columns = np.flatnonzero(np.ravel(which) == u)
                root = np.sqrt(multiple[data.module])
                comp[np.ix_(rows, columns)] = student_component_loglik(
                    resid0[rows], obs_c[rows], p["sigma"][s] * root, p["df"][s], p["loading"][s] * root,
                    activity_map, continuous_delta[columns],
                    offset=(log_prior + binary)[np.ix_(rows, columns)], nodes=nodes)
        out[s] = logsumexp(comp + binary + log_prior, axis=1)
    return xr.DataArray(out.reshape(chains, draws, -1), dims=("chain", "draw", "subject"),
                        coords={"chain": post.coords["chain"], "draw": post.coords["draw"][kept],
                                "subject": list(data.subject_ids)}, name="y")


def with_marginal_loglik(result: FitResult, *, max_draws: int | None = None, nodes: int = GH_NODES) -> FitResult:
    """The fit with a ``log_likelihood`` group that holds the marginal pointwise term.

    Normal-family fits keep the sampler's own values, which are already marginal
    (activities integrated analytically). Student-t fits get
    :func:`pointwise_loglik` (on at most ``max_draws`` draws) instead of the
    sampler's values, which are conditional on the scale-mixture weights. The
    group's ``pointwise`` and ``max_draws`` attributes record this, so a saved and
    reloaded fit is not recomputed.
    """
    if result.idata.log_likelihood.attrs.get("pointwise") == MARGINAL:
        return result
    attrs = {**result.idata.log_likelihood.attrs, "pointwise": MARGINAL, "max_draws": json.dumps(max_draws)}
    if result.spec.likelihood.family == "student_t":
        loglik = pointwise_loglik(result, max_draws=max_draws, nodes=nodes)
        attrs["pointwise_method"] = (f"Student-t weights integrated exactly, module activities by adaptive "
                                     f"Gauss-Hermite quadrature ({nodes} nodes)")
    else:
        loglik = result.idata.log_likelihood["y"]
        attrs["pointwise_method"] = "exact (module activities integrated analytically)"
    groups = {name: result.idata[name] for name in result.idata.groups() if name != "log_likelihood"}
    idata = az.InferenceData(**groups, log_likelihood=xr.Dataset({"y": loglik}, attrs=attrs))
    return FitResult(idata=idata, cohort=result.cohort, spec=result.spec, scaling=result.scaling,
                     design=result.design, run_info=result.run_info)
