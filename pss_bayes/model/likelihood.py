"""Each subject's log-density under each subgroup, module activities integrated out.

Within module ``m`` a subject's continuous residuals are Gaussian with covariance
``diag(1 / p) + lambda lambda'`` (one activity per module), so with
``T = sum_j p_j lambda_j^2`` and ``S_k = sum_j p_j lambda_j (r_j - delta_kj)`` the
log-density is, by the matrix determinant lemma and Sherman-Morrison,

    sum_j [log p_j - log 2 pi - p_j (r_j - delta_kj)^2] / 2 - log(1 + T) / 2 + S_k^2 / (2 (1 + T)).

Binary biomarkers add their Bernoulli-logit terms. This is the sampler's most
frequent computation (every sweep, for every subject and component), so it is one
compiled pass over the data.
"""

from __future__ import annotations

import numpy as np

from pss_bayes.model.numerics import LOG_2PI, contiguous_floats, jit


def component_loglik(resid0: np.ndarray, prec: np.ndarray, loading: np.ndarray, activity_map: np.ndarray,
                     delta: np.ndarray, eta0_binary: np.ndarray, y_binary: np.ndarray, obs_binary: np.ndarray,
                     delta_binary: np.ndarray) -> np.ndarray:
    """Log-density of each subject's row under each component, activities integrated out.

    Parameters
    ----------
    resid0
        (n, J) continuous data minus everything but the subgroup effect and activity
        (ignored where ``prec`` is 0).
    prec
        (n, J) precision of each continuous entry (0 where unobserved or binary).
    loading, activity_map
        (J,) loadings and (J, F) factor indicators.
    delta
        (K, J) subgroup effects of continuous markers (rows of zeros for controls).
    eta0_binary, y_binary, obs_binary, delta_binary
        Linear predictor without subgroup effect, outcomes and observed mask of
        binary markers (n, B), and their subgroup effects (K, B).

    Returns
    -------
    (n, K) array.
    """
    n_factors = activity_map.shape[1]
    factor = np.where(activity_map.any(1), activity_map.argmax(1), -1) if n_factors else np.full(len(loading), -1)
    out = np.empty((resid0.shape[0], delta.shape[0]))
    as_float = contiguous_floats(resid0, prec, loading, delta, eta0_binary, y_binary, obs_binary, delta_binary)
    _component_loglik(*as_float[:2], factor, n_factors, *as_float[2:], out)
    return out


@jit
def _component_loglik(resid0, prec, factor, n_factors, loading, delta, eta0_binary, y_binary, obs_binary,
                      delta_binary, out):
    """:func:`component_loglik` into ``out``; ``factor`` (J,) is each biomarker's factor, -1 for none."""
    n, J = resid0.shape
    K, B = delta.shape[0], y_binary.shape[1]
    t = np.empty(n_factors + 1)             # slot n_factors collects biomarkers without a factor
    s0 = np.empty(n_factors + 1)
    s = np.empty(n_factors + 1)
    # The observed entries of one row, compacted: column, precision, precision x residual,
    # precision x loading, factor.
    column = np.empty(J, dtype=np.int64)
    p_obs = np.empty(J)
    pr_obs = np.empty(J)
    pl_obs = np.empty(J)
    f_obs = np.empty(J, dtype=np.int64)
    for i in range(n):
        for f in range(n_factors + 1):
            t[f], s0[f] = 0.0, 0.0
        const = 0.0
        m = 0
        for j in range(J):
            p = prec[i, j]
            if p > 0.0:
                r = resid0[i, j]
                const += np.log(p) - LOG_2PI - p * r * r
                f = factor[j] if factor[j] >= 0 else n_factors
                pl = p * loading[j]
                t[f] += pl * loading[j]
                s0[f] += pl * r
                column[m], p_obs[m], pr_obs[m], pl_obs[m], f_obs[m] = j, p, p * r, pl, f
                m += 1
        for f in range(n_factors):
            const -= np.log1p(t[f])
        for k in range(K):
            total = const
            for f in range(n_factors + 1):
                s[f] = s0[f]
            for q in range(m):
                d = delta[k, column[q]]
                total += d * (2.0 * pr_obs[q] - p_obs[q] * d)
                s[f_obs[q]] -= pl_obs[q] * d
            for f in range(n_factors):
                total += s[f] ** 2 / (1.0 + t[f])
            value = 0.5 * total
            for b in range(B):
                if obs_binary[i, b] > 0.0:
                    eta = eta0_binary[i, b] + delta_binary[k, b]
                    value += y_binary[i, b] * eta - (max(eta, 0.0) + np.log1p(np.exp(-abs(eta))))
            out[i, k] = value
