"""Each subject's log-density under each subgroup, module activities integrated out.

Within module ``m`` a subject's continuous residuals are Gaussian with covariance
``c (diag(1 / p) + lambda lambda')`` (one activity per module; ``c`` the variance
multiple of the module in the component: 1 for controls, the subgroup's patient
scale for patients), so with ``T = sum_j p_j lambda_j^2``,
``S_k = sum_j p_j lambda_j (r_j - delta_kj)`` and ``W`` observed entries the
log-density is, by the matrix determinant lemma and Sherman-Morrison,

    sum_j [log p_j - log 2 pi] / 2 - W log(c) / 2 - log(1 + T) / 2
        - [sum_j p_j (r_j - delta_kj)^2 - S_k^2 / (1 + T)] / (2 c).

Binary biomarkers add their Bernoulli-logit terms. This is the sampler's most
frequent computation (every sweep, for every subject and component), so it is one
compiled pass over the data.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.numerics import LOG_2PI, contiguous_floats, jit


def component_loglik(resid0: np.ndarray, prec: np.ndarray, loading: np.ndarray, module: np.ndarray,
                     scale: np.ndarray, delta: np.ndarray, eta0_binary: np.ndarray, y_binary: np.ndarray,
                     obs_binary: np.ndarray, delta_binary: np.ndarray) -> np.ndarray:
    """Log-density of each subject's row under each component, activities integrated out.

    Parameters
    ----------
    resid0
        (n, J) continuous data minus everything but the subgroup effect and activity
        (ignored where ``prec`` is 0).
    prec
        (n, J) precision of each continuous entry at variance multiple 1 (0 where
        unobserved or binary).
    loading
        (J,) loadings on each module's activity (0 for biomarkers without one).
    module
        (J,) module of each biomarker; biomarkers with a loading share one activity per module.
    scale
        (K, M) variance multiple of each module in each component (ones for controls).
    delta
        (K, J) subgroup effects of continuous markers (rows of zeros for controls).
    eta0_binary, y_binary, obs_binary, delta_binary
        Linear predictor without subgroup effect, outcomes and observed mask of
        binary markers (n, B), and their subgroup effects (K, B).

    Returns
    -------
    (n, K) array.
    """
    out = np.empty((resid0.shape[0], delta.shape[0]))
    as_float = contiguous_floats(resid0, prec, loading, scale, delta, eta0_binary, y_binary, obs_binary,
                                 delta_binary)
    _component_loglik(*as_float[:3], np.ascontiguousarray(module, dtype=np.int64), *as_float[3:], out)
    return out


@jit
def _component_loglik(resid0, prec, loading, module, scale, delta, eta0_binary, y_binary, obs_binary,
                      delta_binary, out):
    """:func:`component_loglik` into ``out``."""
    n, J = resid0.shape
    K, M, B = delta.shape[0], scale.shape[1], y_binary.shape[1]
    log_det = np.empty(M)                   # per module: sum of log p - log 2 pi, less log(1 + T)
    square = np.empty(M)                    # sum of p r^2
    t = np.empty(M)
    s0 = np.empty(M)
    count = np.empty(M)
    fit = np.empty(M)                       # per component: sum p (r - delta)^2, then less S^2 / (1 + T)
    s = np.empty(M)
    # The observed entries of one row, compacted: column, precision, precision x residual,
    # precision x loading, module.
    column = np.empty(J, dtype=np.int64)
    p_obs = np.empty(J)
    pr_obs = np.empty(J)
    pl_obs = np.empty(J)
    m_obs = np.empty(J, dtype=np.int64)
    for i in range(n):
        for m in range(M):
            log_det[m], square[m], t[m], s0[m], count[m] = 0.0, 0.0, 0.0, 0.0, 0.0
        q_count = 0
        for j in range(J):
            p = prec[i, j]
            if p > 0.0:
                r = resid0[i, j]
                m = module[j]
                log_det[m] += np.log(p) - LOG_2PI
                square[m] += p * r * r
                count[m] += 1.0
                pl = p * loading[j]
                t[m] += pl * loading[j]
                s0[m] += pl * r
                column[q_count], p_obs[q_count], pr_obs[q_count], pl_obs[q_count], m_obs[q_count] = j, p, p * r, pl, m
                q_count += 1
        for m in range(M):
            log_det[m] -= np.log1p(t[m])
        for k in range(K):
            for m in range(M):
                fit[m], s[m] = square[m], s0[m]
            for q in range(q_count):
                d = delta[k, column[q]]
                fit[m_obs[q]] -= d * (2.0 * pr_obs[q] - p_obs[q] * d)
                s[m_obs[q]] -= pl_obs[q] * d
            total = 0.0
            for m in range(M):
                if count[m] > 0.0:
                    c = scale[k, m]
                    total += log_det[m] - count[m] * np.log(c) - (fit[m] - s[m] ** 2 / (1.0 + t[m])) / c
            value = 0.5 * total
            for b in range(B):
                if obs_binary[i, b] > 0.0:
                    eta = eta0_binary[i, b] + delta_binary[k, b]
                    value += y_binary[i, b] * eta - (max(eta, 0.0) + np.log1p(np.exp(-abs(eta))))
            out[i, k] = value
