"""The Gibbs engine and PyMC's NUTS (nutpie) sample the same posterior.

Labels and the signs of the activity loadings are not identified, so the
comparison is of quantities invariant to both: baselines, residual SDs, absolute
loadings, log within-module spreads, the sorted weights and the total
log-likelihood with activities integrated out (the Gibbs engine's own record,
recomputed by the engine for each NUTS draw). Each difference of posterior means
is scaled by its Monte Carlo standard error.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pymc as pm
import pytest

from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.model.chain import run_chain
from pss_bayes.model.design import prepare
from pss_bayes.model.gibbs import GibbsSampler
from pss_bayes.model.pymc_model import build_model
from pss_bayes.model.spec import load_spec
from tests.model.params import gibbs_state

pytestmark = pytest.mark.statistical

SEED = 1
GIBBS_CHAINS, GIBBS_DRAWS, GIBBS_TUNE = 4, 2000, 500
NUTS_CHAINS, NUTS_DRAWS, NUTS_TUNE = 4, 1000, 1000


def invariants(baseline: np.ndarray, sigma2: np.ndarray, loading: np.ndarray,
               tau2: np.ndarray, weights: np.ndarray, log_lik: np.ndarray) -> dict[str, np.ndarray]:
    """Label- and sign-invariant summaries, each (chain, draw, item); inputs (chain, draw, ...)."""
    return {"baseline": baseline, "sigma": np.sqrt(sigma2), "abs_loading": np.abs(loading),
            "log_tau2": np.log(tau2), "sorted_weights": np.sort(weights, axis=-1),
            "log_lik": log_lik[..., None]}


def mcse(x: np.ndarray) -> float:
    return np.asarray(az.mcse(x, method="mean")).item()


def test_gibbs_and_nuts_agree_on_label_invariant_posterior_means():
    spec = load_spec("normal").replace(mixture={"fixed_k": 3})
    data, _, _ = prepare(simulate_cohort(preset="tiny", seed=SEED).cohort, spec)
    continuous, loaded = ~data.is_binary, data.activity >= 0

    chains = [run_chain(data, spec, seed=SEED * 100 + c, draws=GIBBS_DRAWS, tune=GIBBS_TUNE)
              for c in range(GIBBS_CHAINS)]
    g = {name: np.stack([chain[name] for chain in chains]) for name in chains[0]}
    gibbs = invariants(g["fixed"][..., 0], g["sigma2"][..., continuous], g["loading"][..., loaded],
                       g["tau2"], np.exp(g["log_weights"]), g["log_lik"].sum(-1))

    model = build_model(data, spec)
    idata = pm.sample(draws=NUTS_DRAWS, tune=NUTS_TUNE, chains=NUTS_CHAINS, cores=2, random_seed=SEED,
                      nuts_sampler="nutpie", progressbar=False, model=model)
    post = idata.posterior
    names = [rv.name for rv in model.free_RVs]
    sampler = GibbsSampler(data, spec, seed=0)
    log_lik = np.array([[sampler.pointwise(gibbs_state(sampler, {n: post[n].values[c, d] for n in names}))[1].sum()
                         for d in range(post.sizes["draw"])] for c in range(post.sizes["chain"])])
    nuts = invariants(post["baseline"].values, post["sigma2"].values, post["loading"].values,
                      post["tau2"].values, post["weights"].values, log_lik)

    rows = []
    for name in gibbs:
        for j in range(gibbs[name].shape[-1]):
            a, b = gibbs[name][..., j], nuts[name][..., j]
            rows.append((f"{name}[{j}]", a.mean(), b.mean(), (a.mean() - b.mean()) / np.hypot(mcse(a), mcse(b))))
    z = np.array([row[-1] for row in rows])
    table = "\n".join(f"{label:20s} gibbs {ga:9.4f} nuts {nb:9.4f} z {zz:6.2f}" for label, ga, nb, zz in rows)
    assert np.abs(z).max() < 4.0, table
    assert np.sqrt(np.mean(z ** 2)) < 2.0, table
