"""Blocked Gibbs sampler of the control-referenced mixture.

The model (see :mod:`pss_bayes.model.pymc_model` for the same model in PyMC):
for subject ``i`` and biomarker ``j`` in module ``m(j)``, on the control-referenced
scale,

    eta_ij = mu_j + x_i . beta_j + b_{batch(i), j} + [patient] delta_{z_i, j}
             + lambda_j a_{i, f(j)}

continuous markers: ``y_ij ~ Normal(eta_ij, c_i sigma_j^2)`` (or Student-t as a
scale mixture of normals); binary markers: ``y_ij ~ Bernoulli(logistic(eta_ij))``.
``delta_kj ~ N(theta_{k,m(j)}, tau_m^2)`` pools biomarker effects within modules;
``a_if ~ N(0, c_i)`` is a subject's activity of module factor ``f`` (within-subgroup
co-variation); ``c_i = 1`` for controls and the module's patient scale ``c_m`` (inverse
gamma) for patients, so that a patient's covariance in a module is ``c_m`` times a
control's (patients may be more, or less, heterogeneous than controls; with the
spec's ``by_subgroup``, subgroup ``k``'s own ``c_km``, inverse gamma around ``c_m``); mixture
weights are Dirichlet(e0) with a Gamma hyperprior on ``e0`` for the sparse finite
mixture.

Each sweep updates every block from its exact conditional, or by a
Metropolis-Hastings step that leaves it invariant: labels with the activity factors
(and Pólya-Gamma / Student-t auxiliaries) integrated out, with birth/death and
split/merge moves for the number of subgroups; each biomarker's split of variance
between loading and noise with the activities integrated out
(:mod:`~pss_bayes.model.variance_share`), then the activities; a joint Gaussian
draw per continuous biomarker of baseline, covariate, batch, subgroup effects and
loading; an independence Metropolis-Hastings draw of each binary biomarker's
coefficients (:mod:`~pss_bayes.model.binary_laplace`) and module-wide baseline
shifts (:mod:`~pss_bayes.model.module_shift`); pooling hyperparameters, variances,
patient scales (then a move along the ridge between the controls' and the patients'
variance), the Dirichlet concentration given the subgroups' sizes (weights integrated
out), then the weights. There are no divergences; the few random-walk step sizes
adapt during warm-up. Chains are started from diverse k-means partitions with ``k_max``
clusters and empty surplus components as they go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from polyagamma import random_polyagamma
from scipy.special import gammaln

from pss_bayes.model.binary_laplace import draw_coefficients
from pss_bayes.model.birth_death import BirthDeath
from pss_bayes.model.collapsed import EffectIntegral, Information, ModuleBlocks, patient_information
from pss_bayes.model.design import ModelData, spread_modules
from pss_bayes.model.likelihood import component_loglik
from pss_bayes.model.module_shift import ModuleShift
from pss_bayes.model.numerics import logsumexp
from pss_bayes.model.spec import ModelSpec
from pss_bayes.model.sparse_design import SparseRows, weighted_normal_equations
from pss_bayes.model.split_merge import SplitMerge, SpreadPrior
from pss_bayes.model.variance_share import VarianceShare


@dataclass
class State:
    """Current values of every unknown of one chain."""

    fixed: np.ndarray        # (J, F) baseline, covariate and batch coefficients
    delta: np.ndarray        # (K, J) subgroup effects
    loading: np.ndarray      # (J,) activity loadings (0 where none)
    sigma2: np.ndarray       # (J,) residual variances (1 for binary markers)
    theta: np.ndarray        # (K, M) subgroup-by-module effects
    tau2: np.ndarray         # (M,) within-module spread of effects
    log_weights: np.ndarray  # (K,)
    e0: float
    labels: np.ndarray       # (n_patients,) component of each patient
    activity: np.ndarray     # (n, F_act)
    t_weights: np.ndarray    # (n, J) Student-t scale-mixture weights (1 for Normal)
    patient_scale: np.ndarray  # (M,) patients' within-subgroup variance over the controls' (1 where fixed)
    subgroup_scale: np.ndarray  # (K, M) the same per component (rows equal to patient_scale unless by subgroup)
    nu: float = 4.0          # Student-t degrees of freedom


@dataclass(frozen=True, eq=False)
class Layout:
    """Fixed matrices derived once from the data and spec."""

    base_design: np.ndarray     # (n, F) intercept, covariates, batch indicators
    fixed_prior_prec: np.ndarray  # (J, F)
    activity_map: np.ndarray    # (J, F_act) indicator of the factor each marker loads on
    has_activity: np.ndarray    # (J,)
    patients: np.ndarray        # indices of patients
    continuous: np.ndarray      # (J,) bool
    module_members: np.ndarray  # (M, J) indicator
    blocks: ModuleBlocks        # biomarkers grouped by module
    n_components: int


def make_layout(data: ModelData, spec: ModelSpec) -> Layout:
    n, J = data.y.shape
    blocks = [np.ones((n, 1)), data.covariates]
    if data.n_batches:
        blocks.append(np.eye(data.n_batches)[data.batch])
    base_design = np.concatenate(blocks, axis=1)
    p = spec.priors
    P, C = data.covariates.shape[1], data.n_batches
    prec = np.empty((J, base_design.shape[1]))
    prec[:, 0] = np.where(data.is_binary, p.binary_baseline_sd ** -2, p.baseline_sd ** -2)
    prec[:, 1:1 + P] = p.covariate_sd ** -2
    prec[:, 1 + P:1 + P + C] = p.batch_sd ** -2
    activity_map = np.zeros((J, max(data.n_activity, 0)))
    has = data.activity >= 0
    activity_map[np.flatnonzero(has), data.activity[has]] = 1.0
    members = (data.module[None, :] == np.arange(data.n_modules)[:, None]).astype(float)
    return Layout(base_design, prec, activity_map, has, np.flatnonzero(data.is_patient),
                  ~data.is_binary, members, ModuleBlocks.from_modules(data.module, data.n_modules),
                  spec.mixture.n_components)


def slice_sample(log_density: Callable[[float], float], x0: float, rng: np.random.Generator,
                 width: float = 1.0, max_steps: int = 100) -> float:
    """One univariate slice-sampling update: stepping out, then shrinkage (Neal 2003, fig. 3 and 5)."""
    level = log_density(x0) + np.log(rng.uniform())
    left = x0 - width * rng.uniform()
    right = left + width
    steps_left = int(rng.integers(max_steps))
    steps_right = max_steps - 1 - steps_left
    while steps_left > 0 and log_density(left) > level:
        left -= width
        steps_left -= 1
    while steps_right > 0 and log_density(right) > level:
        right += width
        steps_right -= 1
    while True:
        x = rng.uniform(left, right)
        if log_density(x) > level:
            return x
        if x < x0:
            left = x
        else:
            right = x


def log_gig_step(rng: np.random.Generator, current: np.ndarray, order: np.ndarray, a: np.ndarray,
                 b: np.ndarray) -> np.ndarray:
    """One independence Metropolis-Hastings update of ``u`` with density proportional to
    ``exp(order u - (a e^u + b e^-u) / 2)`` (``e^u`` generalised inverse Gaussian), elementwise.

    The proposal is the normal at the density's mode with its curvature; the density is
    sharply peaked wherever it stands for many observations, so nearly every proposal
    is accepted.
    """
    mode = np.log((order + np.sqrt(order ** 2 + a * b)) / a)
    var = 2.0 / (a * np.exp(mode) + b * np.exp(-mode))
    proposal = mode + np.sqrt(var) * rng.standard_normal(np.shape(mode))

    def log_ratio(u: np.ndarray) -> np.ndarray:          # target over proposal, up to constants
        return order * u - 0.5 * (a * np.exp(u) + b * np.exp(-u)) + 0.5 * (u - mode) ** 2 / var

    accept = np.log(rng.uniform(size=np.shape(mode))) < log_ratio(proposal) - log_ratio(current)
    return np.where(accept, proposal, current)


def update_spread_level(rng: np.random.Generator, level: np.ndarray, subgroup_scale: np.ndarray,
                        subgroup_shape: float, prior_shape: float, prior_scale: float) -> np.ndarray:
    """(M,) Metropolis-Hastings update of each module's typical patient scale ``c_m`` given the
    components' ``c_km`` (:func:`log_gig_step` on ``log c_m``).

    With ``c_km ~ InverseGamma(a, (a - 1) c_m)`` for each of the ``K`` components and
    ``c_m ~ InverseGamma(a0, b0)``, the conditional density of ``c_m`` is proportional to
    ``c^(K a - a0 - 1) exp(-b0 / c - (a - 1) c sum_k 1 / c_km)``: a generalised inverse
    Gaussian with ``p = K a - a0``, ``a' = 2 (a - 1) sum_k 1 / c_km`` and ``b' = 2 b0``.
    """
    order = subgroup_scale.shape[0] * subgroup_shape - prior_shape
    rate = 2.0 * (subgroup_shape - 1.0) * (1.0 / subgroup_scale).sum(0)
    return np.exp(log_gig_step(rng, np.log(level), order, rate, np.full_like(rate, 2.0 * prior_scale)))


def _log_dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Log of a Dirichlet draw, stable for tiny concentrations."""
    log_gamma = np.log(rng.gamma(alpha + 1.0)) + np.log(rng.uniform(size=alpha.shape)) / alpha
    return log_gamma - logsumexp(log_gamma)


class GibbsSampler:
    """One chain of the blocked Gibbs sampler.

    Parameters
    ----------
    data
        Prepared model inputs.
    spec
        Model specification.
    seed
        Seed of this chain's random generator.
    """

    def __init__(self, data: ModelData, spec: ModelSpec, seed: int) -> None:
        self.data = data
        self.spec = spec
        self.rng = np.random.default_rng(seed)
        self.layout = make_layout(data, spec)
        self.student = spec.likelihood.family == "student_t"
        #: (n, J) true where a continuous biomarker is observed.
        self.observed_continuous = data.observed & self.layout.continuous
        p = spec.priors
        self.variance_share = VarianceShare(data.activity, data.n_activity, spec.covariation.loading_sd,
                                            p.noise_shape, p.noise_scale)
        self.binary = np.flatnonzero(data.is_binary)
        self.binary_y = np.where(data.observed, data.y, 0.0)[:, self.binary].T                  # (B, n)
        self.binary_observed = data.observed[:, self.binary].T.astype(float)
        #: Last mode of the binary coefficients, by baseline/covariate/batch column then component
        #: (NaN for components empty then): where the next Newton's method starts.
        self._binary_mode = np.full((len(self.binary), self.layout.base_design.shape[1] + self.layout.n_components),
                                    np.nan)
        self.module_shift = ModuleShift(data.module, data.is_binary, self.layout.fixed_prior_prec[:, 0],
                                        p.module_effect_sd ** -2)
        self.controls = np.flatnonzero(~data.is_patient)
        #: Modules with a patient scale (those with continuous biomarkers, when the spec has one).
        self.spread_modules = spread_modules(data, spec)
        #: Random-walk step of log t in :meth:`_move_spread_ridge`, per module: about the posterior SD
        #: of a scale of the controls' variance, from their observed continuous entries.
        control_entries = self.observed_continuous[self.controls].sum(0) @ (
            self.layout.module_members * self.layout.continuous).T
        self.spread_step = 1.7 * np.sqrt(2.0 / np.maximum(control_entries, 1.0))
        #: Module of each activity factor.
        self.factor_module = np.array([data.module[self.layout.activity_map[:, f] > 0][0]
                                       for f in range(data.n_activity)], dtype=int)
        rows_cols = np.ix_(self.controls, self.module_shift.columns)
        #: Controls' outcomes (0 where unobserved) and observed indicators of the shifted modules.
        self.shift_data = (np.where(data.observed[rows_cols], data.y[rows_cols], 0.0),
                           data.observed[rows_cols].astype(float))

    # ------------------------------------------------------------------ init
    def initial_state(self, labels: np.ndarray) -> State:
        """A starting point built around an initial partition of the patients."""
        d, lay, rng = self.data, self.layout, self.rng
        K, (n, J) = lay.n_components, d.y.shape
        y_pat = d.y[lay.patients]
        obs_pat = d.observed[lay.patients]
        delta = np.zeros((K, J))
        for k in range(K):
            rows = labels == k
            if rows.any():
                count = obs_pat[rows].sum(0)
                delta[k] = np.where(count > 0, (y_pat[rows] * obs_pat[rows]).sum(0) / np.maximum(count, 1), 0)
        delta[:, d.is_binary] = 0.0
        theta = (delta @ lay.module_members.T) / np.maximum(lay.module_members.sum(1), 1)
        fixed = np.zeros((J, lay.base_design.shape[1]))
        ctrl = ~d.is_patient
        for j in np.flatnonzero(d.is_binary):
            rate = (d.y[ctrl, j] * d.observed[ctrl, j]).sum() + 0.5
            fixed[j, 0] = np.log(rate / (d.observed[ctrl, j].sum() + 1.0 - rate))
        counts = np.bincount(labels, minlength=K) + 1.0
        return State(
            fixed=fixed, delta=delta, loading=np.where(lay.has_activity, 0.3, 0.0),
            sigma2=np.ones(J), theta=theta, tau2=np.full(d.n_modules, 0.25),
            log_weights=np.log(counts / counts.sum()),
            e0=self._prior_e0_mean(), labels=labels.astype(int),
            activity=rng.normal(0, 0.1, (n, d.n_activity)), t_weights=np.ones((n, J)),
            patient_scale=np.ones(d.n_modules), subgroup_scale=np.ones((K, d.n_modules)),
            nu=self.spec.likelihood.df)

    def _prior_e0_mean(self) -> float:
        m = self.spec.mixture
        if not m.sparse:
            return m.fixed_concentration
        return m.e0_shape / (m.e0_rate_per_k * m.k_max)

    # ----------------------------------------------------------- likelihood
    def _components(self, s: State) -> np.ndarray:
        """(n,) each subject's component: its label for patients, -1 for controls."""
        out = np.full(self.data.n_subjects, -1)
        out[self.layout.patients] = s.labels
        return out

    def _row_scale(self, s: State, modules: np.ndarray,
                   rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(rows, len(modules)) variance multiple of some rows in some modules: its component's
        patient scale for a patient, 1 for a control."""
        component = self._components(s)[rows]
        scale = s.subgroup_scale[np.maximum(component, 0)][:, modules]
        return np.where(component[:, None] >= 0, scale, 1.0)

    def _entry_scale(self, s: State, rows: np.ndarray | slice = slice(None),
                     columns: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Variance multiple of each entry, optionally of some rows and columns: the module's patient
        scale of its subgroup for patients, 1 for controls."""
        return self._row_scale(s, self.data.module[columns], rows)

    def _precision(self, s: State, columns: np.ndarray | None = None,
                   rows: np.ndarray | slice = slice(None), unit: bool = False) -> np.ndarray:
        """Precision of each continuous entry (0 where unobserved or binary), optionally of some rows and
        columns; with ``unit``, at variance multiple 1 (a control's)."""
        cols = slice(None) if columns is None else columns
        scale = 1.0 if unit else self._entry_scale(s, rows, cols)
        return np.where(self.observed_continuous[rows][:, cols],
                        s.t_weights[rows][:, cols] / (s.sigma2[cols] * scale), 0.0)

    def loglik_components(self, s: State, rows: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """(len(rows), K) log-density of each row under each subgroup (activities integrated)."""
        d, lay = self.data, self.layout
        base = lay.base_design[rows] @ s.fixed.T
        y = d.y[rows]
        prec = self._precision(s, rows=rows, unit=True)
        b = d.is_binary
        patients = d.is_patient[rows]
        out = np.empty((len(rows), len(delta)))
        # A patient's covariance in a module is its component's patient scale times a control's.
        for group, scale in ((patients, s.subgroup_scale[:len(delta)]),
                             (~patients, np.ones((len(delta), d.n_modules)))):
            if group.any():
                out[group] = component_loglik(
                    resid0=(y - base)[group], prec=prec[group], loading=s.loading, module=d.module, scale=scale,
                    delta=np.where(b, 0.0, delta), eta0_binary=base[group][:, b], y_binary=y[group][:, b],
                    obs_binary=d.observed[rows][group][:, b], delta_binary=delta[:, b])
        return out

    def pointwise(self, s: State, controls: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities of patients (n_patients, K) and log-likelihood of every subject (n,).

        The log-likelihood is the mixture's: subgroup labels summed out for patients
        (controls have none), activities integrated out; for the Student-t family it
        is conditional on the scale-mixture weights. With ``controls=False`` the
        controls' entries are left as NaN (saves work during warm-up).
        """
        lay, d = self.layout, self.data
        logp = self.loglik_components(s, lay.patients, s.delta) + s.log_weights
        norm = logsumexp(logp, axis=1)
        loglik = np.full(d.n_subjects, np.nan)
        loglik[lay.patients] = norm
        if controls:
            loglik[self.controls] = self.loglik_components(s, self.controls, np.zeros((1, d.n_biomarkers)))[:, 0]
        return np.exp(logp - norm[:, None]), loglik

    # ---------------------------------------------------------------- sweep
    def sweep(self, s: State, record: bool = True, prune: bool = False,
              adapt: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Update every block once; returns the responsibilities and log-likelihood of the
        state the sweep started from (so they pair with a snapshot taken before).

        Controls' log-likelihood is computed only when ``record`` is true. ``prune``
        (early warm-up only, never while draws are kept) moves the patients of
        components smaller than :attr:`min_size` to their most probable larger
        component, so that surplus components of the initial partition empty quickly.
        ``adapt`` (warm-up only) tunes the step sizes of the random-walk moves
        (variance shares, module shifts).
        """
        resp, loglik = self.pointwise(s, controls=record)
        self._labels(s, resp)
        if prune:
            self._prune(s, resp)
        elif self.spec.mixture.sparse:
            # Like the labels, the moves integrate the activities out; the activities are
            # drawn given the new labels next, before anything conditions on them
            # (partially collapsed Gibbs; van Dyk & Park 2008).
            info, integral, resid = self._move_terms(s)
            self._births_and_deaths(s, info, integral)
            self._split_merge(s, info, integral, resid)
        eta, onehot = self._linear_parts(s)
        self._activity_and_weights(s, eta, adapt)
        if self.layout.continuous.any():
            self._coefficients(s, onehot)
        if len(self.binary):
            self._binary_coefficients(s, onehot)
            self._shift_modules(s, adapt)
        if self.data.n_activity:
            self._shift_activity(s, onehot)
        eta, _ = self._linear_parts(s)
        self._hyper(s, eta)
        return resp, loglik

    def _labels(self, s: State, resp: np.ndarray) -> None:
        u = self.rng.uniform(size=(resp.shape[0], 1))
        s.labels = np.minimum((resp.cumsum(1) < u).sum(1), resp.shape[1] - 1)

    #: Birth/death proposals per sweep (sparse mixtures).
    BIRTH_DEATH_MOVES = 10
    #: Split/merge proposals per sweep (sparse mixtures).
    SPLIT_MERGE_MOVES = 2

    def _move_terms(self, s: State) -> tuple[Information, EffectIntegral, np.ndarray]:
        """Patients' information about their subgroup's effects, for the label moves, and their residuals.

        Residuals are the data minus baselines, covariates and batch; module activities
        are integrated out (:mod:`pss_bayes.model.collapsed`); binary markers enter
        through Pólya-Gamma variables drawn given the current state (precision
        ``omega``, pseudo-observation ``(y - 1/2) / omega``), so that both moves work
        with Gaussian integrals, conditional on those variables.
        """
        d, lay, rng = self.data, self.layout, self.rng
        rows = lay.patients
        base = lay.base_design[rows] @ s.fixed.T
        prec = self._precision(s, rows=rows, unit=True)
        resid = np.where(prec > 0, d.y[rows] - base, 0.0)
        b = d.is_binary
        if b.any():
            observed = d.observed[rows][:, b]
            eta = base[:, b] + s.delta[s.labels][:, b]
            omega = random_polyagamma(1.0, eta, random_state=rng)
            prec[:, b] = np.where(observed, omega, 0.0)
            resid[:, b] = np.where(observed, (d.y[rows][:, b] - 0.5) / omega - base[:, b], 0.0)
        info = patient_information(prec, resid, s.loading, lay.blocks, lay.continuous)
        return info, EffectIntegral(lay.blocks, s.tau2, self.spec.priors.module_effect_sd ** 2), resid

    def _births_and_deaths(self, s: State, info: Information, integral: EffectIntegral) -> None:
        moves = BirthDeath(info, integral, s.delta, s.theta, s.subgroup_scale, s.labels)
        for _ in range(self.BIRTH_DEATH_MOVES):
            moves.step(self.rng, s.labels, s.e0)

    def _split_merge(self, s: State, info: Information, integral: EffectIntegral, resid: np.ndarray) -> None:
        """Split/merge proposals; ``resid`` are the patients' residuals from :meth:`_move_terms`."""
        lay, rng, continuous = self.layout, self.rng, self.layout.continuous
        observed = self.data.observed[lay.patients][:, continuous]
        features = np.where(observed, resid[:, continuous] / np.sqrt(s.sigma2[continuous]), 0.0)
        prior = self.spec.patient_spread
        spread = SpreadPrior(s.patient_scale, prior.subgroup_shape, self.spread_modules) if prior.by_subgroup else None
        moves = SplitMerge(info, integral, features, observed, s.subgroup_scale, spread)
        for _ in range(self.SPLIT_MERGE_MOVES):
            moves.redraw(rng, moves.step(rng, s.labels, lay.n_components, s.e0), s.theta, s.delta)

    @property
    def min_size(self) -> int:
        """Components below this many patients are emptied during early warm-up."""
        return max(2, int(np.ceil(0.01 * len(self.layout.patients))))

    def _prune(self, s: State, resp: np.ndarray) -> None:
        counts = np.bincount(s.labels, minlength=resp.shape[1])
        small = (counts > 0) & (counts < self.min_size)
        if not small.any() or small.sum() == (counts > 0).sum():
            return
        moving = small[s.labels]
        allowed = np.where(small | (counts == 0), 0.0, resp[moving])
        s.labels[moving] = allowed.argmax(1)

    def _linear_parts(self, s: State) -> tuple[np.ndarray, np.ndarray]:
        """Predictor without activity, and subgroup one-hot (patients only)."""
        d, lay = self.data, self.layout
        onehot = np.zeros((d.n_subjects, lay.n_components))
        onehot[lay.patients, s.labels] = 1.0
        return lay.base_design @ s.fixed.T + onehot @ s.delta, onehot

    def _draw_activity(self, s: State, eta: np.ndarray) -> None:
        """Draw every subject's module activities from their conditional (``eta``: predictor without them)."""
        d, lay = self.data, self.layout
        if not d.n_activity:
            return
        prec = self._precision(s)
        pl = prec * s.loading
        post_prec = self._activity_prior_precision(s) + (pl * s.loading) @ lay.activity_map
        mean = ((pl * (d.y - eta)) @ lay.activity_map) / post_prec
        s.activity = mean + self.rng.standard_normal(mean.shape) / np.sqrt(post_prec)

    def _activity_prior_precision(self, s: State) -> np.ndarray:
        """(n, F_act) prior precision of each subject's activities: 1 for controls, 1 / patient scale for patients."""
        return 1.0 / self._row_scale(s, self.factor_module)

    def _activity_and_weights(self, s: State, eta: np.ndarray, adapt: bool = False) -> None:
        """Variance-share moves and activities (together a blocked update), then the Student-t weights.

        A patient's covariance in a module is the patient scale times a control's, so its
        residuals divided by the scale's root are distributed as a control's: the moves,
        which integrate the activities out, see them so (the scale's own term in the
        likelihood does not change with the moves).
        """
        d, rng, obs_c = self.data, self.rng, self.observed_continuous
        entry_scale = self._entry_scale(s)
        if d.n_activity:
            self.variance_share.step(rng, s.loading, s.sigma2, np.where(obs_c, s.t_weights, 0.0),
                                     np.where(obs_c, (d.y - eta) / np.sqrt(entry_scale), 0.0), adapt)
        self._draw_activity(s, eta)
        if self.student:
            err = d.y - eta - self._activity_term(s)
            z2 = err ** 2 / (s.sigma2 * entry_scale)
            if self.spec.likelihood.df_estimated:
                s.nu = self._draw_df(s.nu, z2[obs_c])
            w = rng.standard_gamma(0.5 * (s.nu + 1.0), size=z2.shape) / (0.5 * (s.nu + z2))
            s.t_weights = np.where(obs_c, w, 1.0)

    def _draw_df(self, nu: float, z2: np.ndarray) -> float:
        """Slice-sampling update of the degrees of freedom, Student-t weights integrated out.

        Given everything but the scale-mixture weights, ``nu`` has the density of the
        squared standardised residuals ``z2`` under a Student-t times its Gamma prior;
        drawing it so and then the weights given it is a valid blocked update of both,
        and avoids the slow mixing of ``nu`` given thousands of weights. The slice
        sampler works on ``log nu`` (Neal 2003), so it needs no step size whether
        ``nu`` is 3 or 300.
        """
        like, n = self.spec.likelihood, z2.size

        def log_target(log_nu: float) -> float:
            v = np.exp(log_nu)
            # sum log(1 + z2 / v), written as one logarithm per entry (the sampler's costliest line)
            log_terms = np.log(v + z2).sum() - n * log_nu
            return (n * (gammaln(0.5 * (v + 1.0)) - gammaln(0.5 * v) - 0.5 * log_nu)
                    - 0.5 * (v + 1.0) * log_terms
                    + like.df_prior_shape * log_nu - like.df_prior_rate * v)

        return float(np.exp(slice_sample(log_target, float(np.log(nu)), self.rng)))

    def _activity_term(self, s: State) -> np.ndarray:
        if not self.data.n_activity:
            return 0.0
        return (s.activity @ self.layout.activity_map.T) * s.loading

    def _occupied(self, onehot: np.ndarray) -> np.ndarray:
        """Indices of the components with patients (the others' effects are drawn in :meth:`_hyper`)."""
        return np.flatnonzero(onehot[self.layout.patients].any(0))

    def _coefficients(self, s: State, onehot: np.ndarray) -> None:
        """Joint Gaussian draw, per continuous biomarker, of baseline, covariates, batch, effects, loading."""
        d, lay, rng = self.data, self.layout, self.rng
        cols = np.flatnonzero(lay.continuous)
        y = d.y[:, cols]
        weight = self._precision(s, cols)
        n, J = y.shape
        F = lay.base_design.shape[1]
        occupied = self._occupied(onehot)
        onehot = onehot[:, occupied]
        K = len(occupied)
        act_col = (s.activity @ lay.activity_map[cols].T if d.n_activity else np.zeros((n, J)))
        q = F + K
        design = SparseRows.of(np.concatenate([lay.base_design, onehot], axis=1))
        prec, rhs = weighted_normal_equations(design, q, act_col, weight, y)
        module = d.module[cols]
        prior_prec = np.concatenate([lay.fixed_prior_prec[cols], np.repeat((1.0 / s.tau2)[module][:, None], K, 1),
                                     np.full((J, 1), self.spec.covariation.loading_sd ** -2)], axis=1)
        prior_mean = np.zeros_like(prior_prec)
        prior_mean[:, F:F + K] = s.theta[occupied][:, module].T
        idx = np.arange(prior_prec.shape[1])
        prec[:, idx, idx] += prior_prec
        rhs += prior_prec * prior_mean
        chol = np.linalg.cholesky(prec)
        mean = np.linalg.solve(prec, rhs[:, :, None])[:, :, 0]
        noise = np.linalg.solve(chol.transpose(0, 2, 1), rng.standard_normal(rhs.shape)[:, :, None])[:, :, 0]
        coef = mean + noise
        s.fixed[cols] = coef[:, :F]
        s.delta[np.ix_(occupied, cols)] = coef[:, F:F + K].T
        s.loading[cols] = np.where(lay.has_activity[cols], coef[:, -1], 0.0)

    def _binary_coefficients(self, s: State, onehot: np.ndarray) -> None:
        """Binary biomarkers' baseline, covariates, batch and subgroup effects (:mod:`binary_laplace`).

        Each biomarker's coefficients and the effects of the occupied components are
        drawn by independence Metropolis-Hastings from their exact conditional (a
        logistic regression with Gaussian priors).
        """
        d, lay, b, rng = self.data, self.layout, self.binary, self.rng
        F = lay.base_design.shape[1]
        occupied = self._occupied(onehot)
        module = d.module[b]
        design = np.concatenate([lay.base_design, onehot[:, occupied]], axis=1)
        columns = np.concatenate([np.arange(F), F + occupied])
        current = np.concatenate([s.fixed[b], s.delta[:, b].T], axis=1)[:, columns]
        prior_mean = np.concatenate([np.zeros((len(b), F)), s.theta[occupied][:, module].T], axis=1)
        prior_prec = np.concatenate([lay.fixed_prior_prec[b],
                                     np.repeat((1.0 / s.tau2)[module][:, None], len(occupied), 1)], axis=1)
        previous = self._binary_mode[:, columns]
        start = np.where(np.isnan(previous), current, previous)
        coef, mode = draw_coefficients(rng, current, start, design, self.binary_y, self.binary_observed,
                                       prior_mean, prior_prec)
        self._binary_mode[:] = np.nan
        self._binary_mode[:, columns] = mode
        s.fixed[b] = coef[:, :F]
        s.delta[np.ix_(occupied, b)] = coef[:, F:].T

    def _shift_modules(self, s: State, adapt: bool) -> None:
        """Move the baselines of modules with binary biomarkers against their effects (:mod:`module_shift`)."""
        d, lay, moves = self.data, self.layout, self.module_shift
        controls, cols = self.controls, moves.columns
        eta = lay.base_design[controls] @ s.fixed[cols].T
        if d.n_activity:
            eta += (s.activity[controls] @ lay.activity_map[cols].T) * s.loading[cols]
        y, observed = self.shift_data
        shift = moves.step(self.rng, eta, y, self._precision(s, cols, rows=controls), observed, s.fixed[cols, 0],
                           s.theta[:, moves.modules], adapt)
        per_marker = moves.member @ shift
        s.fixed[cols, 0] += per_marker
        s.delta[:, cols] -= per_marker
        s.theta[:, moves.modules] -= shift

    def _shift_activity(self, s: State, onehot: np.ndarray) -> None:
        """Gibbs moves along the directions the likelihood cannot see (Liu & Sabatti 2000).

        Adding ``c`` to the activities of one subgroup's patients while subtracting
        ``loading_j * c`` from that subgroup's effects leaves every predictor unchanged;
        so does adding ``c`` to everyone's activity while subtracting ``loading_j * c``
        from the baselines. Each ``c`` is drawn from its exact (Gaussian) conditional,
        which only involves the priors; this removes the slow trade-off between a
        subgroup's mean activity and its effects.
        """
        d, lay, rng, p = self.data, self.layout, self.rng, self.spec.priors
        # Factors touch disjoint biomarkers, so all factors move at once: (K, F) subgroup shifts,
        # then (F,) shifts of everyone, each from its exact conditional.
        by_factor = lay.activity_map * s.loading[:, None]                   # (J, F): loading on its factor
        lam2 = (by_factor ** 2).sum(0)                                     # (F,)
        tau2 = s.tau2[self.factor_module]                                  # (F,)
        patient_prec = 1.0 / s.subgroup_scale[:, self.factor_module]       # (K, F) patients' activity prior precision
        prec = onehot.sum(0)[:, None] * patient_prec + lam2 / tau2         # (K, F)
        dev = s.delta - s.theta[:, d.module]                               # (K, J)
        mean = (-(onehot.T @ s.activity) * patient_prec + (dev @ by_factor) / tau2) / prec
        shift = mean + rng.standard_normal(mean.shape) / np.sqrt(prec)
        s.activity += onehot @ shift
        s.delta -= shift @ by_factor.T
        base_prec = p.baseline_sd ** -2
        prior_prec = self._activity_prior_precision(s)                     # (n, F)
        prec = prior_prec.sum(0) + lam2 * base_prec
        mean = (-(prior_prec * s.activity).sum(0) + (s.fixed[:, 0] @ by_factor) * base_prec) / prec
        shift = mean + rng.standard_normal(mean.shape) / np.sqrt(prec)
        s.activity += shift
        s.fixed[:, 0] -= by_factor @ shift

    def _hyper(self, s: State, eta: np.ndarray) -> None:
        """Pooling hyperparameters, residual variances, weights and concentration.

        ``theta`` and ``tau2`` are drawn from the occupied components' effects alone (the
        empty components' effects and module effects integrated out), and the empty
        components' are then drawn from their prior given the new ``tau2``. Conditioning
        ``tau2`` on prior draws of the empty components' effects instead would tie it to
        its previous value: with ``k_max`` = 10 and four subgroups, most of its "data".
        """
        d, lay, rng, p, mix = self.data, self.layout, self.rng, self.spec.priors, self.spec.mixture
        K = lay.n_components
        counts = np.bincount(s.labels, minlength=K)
        occupied, empty = counts > 0, counts == 0
        n_m = lay.module_members.sum(1)
        post_prec = p.module_effect_sd ** -2 + n_m / s.tau2                     # (M,)
        mean = (s.delta[occupied] @ lay.module_members.T) / s.tau2 / post_prec  # (K_occupied, M)
        s.theta[occupied] = mean + rng.standard_normal(mean.shape) / np.sqrt(post_prec)
        dev = ((s.delta[occupied] - s.theta[occupied][:, d.module]) ** 2) @ lay.module_members.T
        shape = p.pooling_shape + 0.5 * occupied.sum() * n_m
        s.tau2 = (p.pooling_scale + 0.5 * dev.sum(0)) / rng.gamma(shape)
        s.theta[empty] = p.module_effect_sd * rng.standard_normal((empty.sum(), d.n_modules))
        s.delta[empty] = (s.theta[empty][:, d.module]
                          + np.sqrt(s.tau2[d.module]) * rng.standard_normal((empty.sum(), d.n_biomarkers)))
        err = d.y - eta - self._activity_term(s)
        obs_c = self.observed_continuous
        ss = (np.where(obs_c, s.t_weights * err ** 2 / self._entry_scale(s), 0.0)).sum(0)
        shape = p.noise_shape + 0.5 * obs_c.sum(0)
        s.sigma2 = np.where(lay.continuous, (p.noise_scale + 0.5 * ss) / rng.gamma(shape), 1.0)
        if self.student:
            self._rescale_t_weights(s, obs_c)
        if self.spec.patient_spread.enabled:
            self._draw_patient_scale(s, err)
            for _ in range(self.SPREAD_MOVES):
                self._move_spread_ridge(s)
        if mix.sparse:
            s.e0 = self._update_e0(s.e0, counts)
        s.log_weights = _log_dirichlet(rng, s.e0 + counts)

    def _draw_patient_scale(self, s: State, err: np.ndarray) -> None:
        """The patient scales from their conditionals.

        Given the activities and Student-t weights, a scale multiplies the variance of
        its patients' noise in module ``m`` (``sigma_j^2 / w_ij``) and of their activity
        (``N(0, c)``): conjugate inverse gamma. Shared by the subgroups, ``c_m`` is drawn
        from every patient's terms. By subgroup, each component's ``c_km`` is drawn from
        its patients' (an empty component's from its prior given ``c_m``), then ``c_m`` by a
        Metropolis-Hastings step on its generalised inverse Gaussian conditional given them
        (:func:`update_spread_level`).
        """
        d, lay, prior = self.data, self.layout, self.spec.patient_spread
        patients = lay.patients
        observed = self.observed_continuous[patients]
        scaled = np.where(observed, s.t_weights[patients] * err[patients] ** 2 / s.sigma2, 0.0)
        members = lay.module_members                                            # (M, J)
        onehot = np.eye(lay.n_components)[s.labels]                             # (n_patients, K)
        count = onehot.T @ observed @ members.T                                 # (K, M)
        ss = onehot.T @ scaled @ members.T
        if d.n_activity:
            count[:, self.factor_module] += onehot.sum(0)[:, None]
            ss[:, self.factor_module] += onehot.T @ s.activity[patients] ** 2
        spread, rng = self.spread_modules, self.rng
        if not prior.by_subgroup:
            draw = (prior.prior_scale + 0.5 * ss.sum(0)) / rng.gamma(prior.prior_shape + 0.5 * count.sum(0))
            s.patient_scale = np.where(spread, draw, 1.0)
            s.subgroup_scale = np.tile(s.patient_scale, (lay.n_components, 1))
            return
        shape = prior.subgroup_shape
        draw = ((shape - 1.0) * s.patient_scale + 0.5 * ss) / rng.gamma(shape + 0.5 * count)
        s.subgroup_scale = np.where(spread, draw, 1.0)
        level = update_spread_level(rng, s.patient_scale, s.subgroup_scale, shape, prior.prior_shape,
                                    prior.prior_scale)
        s.patient_scale = np.where(spread, level, 1.0)

    #: Proposals per sweep of :meth:`_move_spread_ridge`.
    SPREAD_MOVES = 3

    def _move_spread_ridge(self, s: State) -> None:
        """Metropolis-Hastings move along the ridge between the controls' and the patients' variance.

        A patient's variance in module ``m`` is ``c_m`` times a control's, so the data
        pin down the patients' variance (``c_m sigma_j^2``, ``c_m lambda_j^2``) from the
        patients and the controls' from the controls; with few controls, Gibbs draws of
        ``c_m`` and ``sigma_j^2`` trade one against the other slowly. The move multiplies
        the module's ``sigma_j^2`` by ``t``, its loadings by ``sqrt(t)``, ``c_m`` by ``1/t``
        and the patients' activities by ``1/sqrt(t)`` (:meth:`spread_ridge_map`): the
        patients' likelihood is unchanged, the controls' changes. ``log t`` is a normal
        random walk with a step of about the posterior SD of the controls' variance
        scale, every module at once; the map is a one-parameter group, so the ratio is
        the posterior's times the map's Jacobian (Liu & Sabatti 2000;
        :meth:`spread_ridge_log_ratio`).
        """
        d = self.data
        log_t = np.where(self.spread_modules, self.spread_step * self.rng.standard_normal(d.n_modules), 0.0)
        accept = self.spread_modules & (np.log(self.rng.uniform(size=d.n_modules))
                                        < self.spread_ridge_log_ratio(s, log_t))
        if accept.any():
            self.spread_ridge_map(s, np.where(accept, log_t, 0.0))

    def spread_ridge_map(self, s: State, log_t: np.ndarray) -> None:
        """Apply the ridge map of :meth:`_move_spread_ridge` with ``log t`` (M,) per module, in place."""
        d, lay = self.data, self.layout
        per_marker = np.where(lay.continuous, np.exp(log_t)[d.module], 1.0)
        s.sigma2 = s.sigma2 * per_marker
        s.loading = s.loading * np.sqrt(per_marker)
        s.patient_scale = s.patient_scale * np.exp(-log_t)
        s.subgroup_scale = s.subgroup_scale * np.exp(-log_t)
        if d.n_activity:
            s.activity[lay.patients] *= np.exp(-0.5 * log_t[self.factor_module])

    def spread_ridge_log_ratio(self, s: State, log_t: np.ndarray) -> np.ndarray:
        """(M,) log Metropolis-Hastings ratio of the ridge map with ``log t`` per module.

        The change of the controls' log-likelihood (given their activities and Student-t
        weights) and of the log priors of ``sigma_j^2``, ``lambda_j`` and ``c_m``, plus
        the log Jacobian ``(W + W_loaded / 2 - 1) log t`` (``W`` continuous biomarkers,
        ``W_loaded`` of them with an activity); the patients' activities' ``-n / 2 log t``
        cancels against the change of their ``N(0, c_m)`` prior, and the patients'
        likelihood does not change. By subgroup, every component's ``c_km``
        moves with ``c_m``: each one's log Jacobian ``-log t`` cancels against the change
        of its prior given ``c_m``, so the ratio is the same.
        """
        d, lay, p, spread = self.data, self.layout, self.spec.priors, self.spec.patient_spread
        rows, continuous = self.controls, lay.continuous
        members = lay.module_members * continuous                                # (M, J) continuous members
        observed = self.observed_continuous[rows]
        resid = d.y[rows] - lay.base_design[rows] @ s.fixed.T                   # controls: no subgroup effect
        activity = s.activity[rows] @ lay.activity_map.T if d.n_activity else np.zeros_like(resid)
        weight = np.where(observed, s.t_weights[rows], 0.0)
        t = np.exp(log_t)[d.module]                                              # (J,)

        def control_loglik(scale: np.ndarray) -> np.ndarray:
            sigma2, loading = s.sigma2 * scale, s.loading * np.sqrt(scale)
            z2 = weight * (resid - activity * loading) ** 2 / sigma2
            entries = np.where(observed, np.log(np.where(observed, weight, 1.0) / sigma2) - z2, 0.0)
            return 0.5 * entries.sum(0) @ members.T

        loaded = (lay.has_activity & continuous).astype(float)
        sigma2 = np.where(continuous, s.sigma2, 1.0)
        noise_prior = (-(p.noise_shape + 1.0) * np.log(t) - p.noise_scale / (t * sigma2) + p.noise_scale / sigma2)
        loading_prior = -0.5 * (t - 1.0) * s.loading ** 2 * loaded / self.spec.covariation.loading_sd ** 2
        scale_prior = ((spread.prior_shape + 1.0) * log_t - spread.prior_scale * np.exp(log_t) / s.patient_scale
                       + spread.prior_scale / s.patient_scale)
        jacobian = (members.sum(1) + 0.5 * (lay.module_members * loaded).sum(1) - 1.0) * log_t
        return (control_loglik(t) - control_loglik(np.ones_like(t)) + (noise_prior * continuous + loading_prior)
                @ members.T + scale_prior + jacobian)

    def _rescale_t_weights(self, s: State, obs_c: np.ndarray) -> None:
        """Scale-group move: multiply sigma_j^2 and marker j's Student-t weights by one factor.

        The likelihood depends on w_ij / sigma_j^2 only, so the log-factor ``u`` has a
        density that involves the priors alone (Liu & Sabatti 2000, multiplicative
        group): ``p u - (A e^u + B e^-u) / 2``, a generalised inverse Gaussian in
        ``e^u``. It is updated by an independence Metropolis-Hastings step from a
        normal fitted at its mode (acceptance is near one: the density is sharply
        peaked), which removes the slow trade-off between scale and weights.
        """
        p, nu, rng = self.spec.priors, s.nu, self.rng
        cols = np.flatnonzero(self.layout.continuous)
        observed = obs_c[:, cols]
        order = observed.sum(0) * nu / 2 - p.noise_shape
        a = nu * np.where(observed, s.t_weights[:, cols], 0.0).sum(0)
        b = 2 * p.noise_scale / s.sigma2[cols]
        u = log_gig_step(rng, np.zeros(len(cols)), order, a, b)
        factor = np.exp(u)
        s.sigma2[cols] *= factor
        s.t_weights[:, cols] = np.where(observed, s.t_weights[:, cols] * factor, 1.0)

    def _update_e0(self, e0: float, counts: np.ndarray) -> float:
        """Slice-sampling update of the Dirichlet concentration given the component sizes.

        The weights are integrated out: given the labels, ``e0`` has the density of a
        Dirichlet-multinomial allocation times its Gamma prior,
        ``Gamma(K e0) / Gamma(N + K e0) prod_k Gamma(n_k + e0) / Gamma(e0)``, and the
        weights are drawn given it next (a blocked update of both). Given the weights
        instead, the empty components' (log-weights near ``-1 / e0``) pin ``e0`` to the
        value that drew them, and the concentration, which sets what a small extra
        subgroup costs, then moves over hundreds of sweeps.
        """
        mix, K = self.spec.mixture, self.layout.n_components
        rate, n = mix.e0_rate_per_k * K, counts.sum()
        occupied = counts[counts > 0]

        def log_target(log_e: float) -> float:
            e = np.exp(log_e)
            return (mix.e0_shape * log_e - rate * e + gammaln(K * e) - gammaln(n + K * e)
                    + (gammaln(occupied + e) - gammaln(e)).sum())

        return float(np.exp(slice_sample(log_target, float(np.log(e0)), self.rng)))
