"""Speed and efficiency: the package's Gibbs engine against NUTS on a plain Gaussian mixture.

Engines, on the same simulated cohort per seed (preset ``default``; ``tiny`` with
``--quick``):

- ``gibbs``: the default analysis, ``pss_bayes.fit(cohort, "default", seed=seed)``
  with the spec's draws/tune/chains (500 + 1000 x 4, continued when a convergence
  check fails), K inferred (sparse mixture,
  controls and covariates in the model).
- ``pymc``: PyMC's default NUTS (``pm.sample(draws=1000, tune=1000, chains=4,
  cores=2)``, default initialisation) on a plain fixed-K marginalised Gaussian
  mixture (K = the true number of subgroups, 4 on ``default``) of the
  control-scaled patients' continuous markers: diagonal, per-component means
  N(0, 3^2) and SDs HalfNormal(2), Dirichlet(1) weights, a ``pm.Potential`` with a
  logsumexp over components, missing values masked out. Binary markers are left
  out (see ``_common``: a Gaussian on 0/1 columns degenerates).
- ``nutpie``: the same model with nutpie (``nutpie.compile_pymc_model`` then
  ``nutpie.sample``, which is what ``pm.sample(nuts_sampler="nutpie")`` calls),
  timed in its two steps. Skipped with a note if nutpie fails.

Columns: ``compile_s`` (PyMC: ``pm.sample`` wall time minus its reported sampling
time, i.e. compile + initialisation; nutpie: ``compile_pymc_model``; Gibbs: none, "–"),
``sampling_s``, ``total_s`` (``time.perf_counter`` around everything the engine
needs, including the Gibbs engine's relabelling), ``ess_loglik`` (bulk ESS of the
total log-likelihood per draw, a label-invariant quantity: for ``gibbs`` the
model's log-likelihood of all subjects, for the NUTS engines the mixture's
log-likelihood of the patients), ``ess_per_s`` (= ess_loglik / total_s),
``rhat_loglik`` (rank-normalised R-hat of the same), ``divergences`` and ``ari``
(most probable labels vs truth; NUTS chains are aligned to the first chain by
matching their mean memberships before pooling, so chains stuck in different
modes lower it).

Run::

    python bench/speed.py                    # seeds 0 1 2 (several minutes per seed on 2 cores)
    python bench/speed.py --quick            # preset tiny, 1 seed, 100 + 100 draws x 2 chains per engine
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any, Callable, Sequence

import arviz as az
import numpy as np
import pymc as pm
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.metrics import adjusted_rand_score

from _common import PatientData, QUICK_SAMPLER, markdown_table, parser, patient_data, timed_fit, write_csv
from pss_bayes import SimulatedCohort, simulate_cohort

warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")  # harmless: elementwise model

DEFAULT_SEEDS = (0, 1, 2)
NUTS_SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4}
CORES = 2
COLUMNS = ("engine", "seed", "compile_s", "sampling_s", "total_s", "ess_loglik", "ess_per_s", "rhat_loglik",
           "divergences", "ari")


def mixture_model(patients: PatientData, k: int) -> pm.Model:
    """Fixed-K diagonal Gaussian mixture of the continuous markers, components marginalised."""
    cont = ~patients.is_binary
    x, mask = patients.imputed[:, cont], patients.observed[:, cont].astype(float)
    with pm.Model() as model:
        weight = pm.Dirichlet("weight", a=np.ones(k))
        mu = pm.Normal("mu", 0.0, 3.0, shape=(k, x.shape[1]))
        sigma = pm.HalfNormal("sigma", 2.0, shape=(k, x.shape[1]))
        z = (x[:, None, :] - mu[None]) / sigma[None]
        log_density = (-0.5 * z**2 - pm.math.log(sigma)[None] - 0.5 * np.log(2 * np.pi)) * mask[:, None, :]
        per_component = log_density.sum(-1) + pm.math.log(weight)[None]
        pm.Potential("log_likelihood", pm.math.logsumexp(per_component, axis=1).sum())
    return model


def loglik_and_labels(idata: az.InferenceData, patients: PatientData,
                      chunk: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Total log-likelihood per draw (chain, draw) and most probable labels of the pooled, aligned chains."""
    cont = ~patients.is_binary
    x, mask = patients.imputed[:, cont], patients.observed[:, cont]
    post = idata.posterior
    weight, mu, sigma = (post[v].to_numpy() for v in ("weight", "mu", "sigma"))
    chains, draws = weight.shape[:2]
    total = np.empty((chains, draws))
    mean_resp = np.zeros((chains, x.shape[0], weight.shape[2]))
    for c in range(chains):
        for start in range(0, draws, chunk):
            s = slice(start, start + chunk)
            z = (x[None, :, None, :] - mu[c, s, None]) / sigma[c, s, None]
            dens = (-0.5 * z**2 - np.log(sigma[c, s, None]) - 0.5 * np.log(2 * np.pi)) * mask[None, :, None]
            comp = dens.sum(-1) + np.log(weight[c, s, None])          # (draws, n, k)
            norm = logsumexp(comp, axis=-1)
            total[c, s] = norm.sum(-1)
            mean_resp[c] += np.exp(comp - norm[..., None]).sum(0) / draws
    pooled = mean_resp[0].copy()
    for c in range(1, chains):
        _, order = linear_sum_assignment(-(mean_resp[0].T @ mean_resp[c]))
        pooled += mean_resp[c][:, order]
    return total, pooled.argmax(1)


def row(engine: str, seed: int, compile_s: float | None, sampling_s: float, total_s: float, loglik: np.ndarray,
        divergences: int, ari: float) -> dict[str, Any]:
    ess = float(az.ess(loglik, method="bulk"))
    return {"engine": engine, "seed": seed, "compile_s": compile_s, "sampling_s": sampling_s,
            "total_s": total_s, "ess_loglik": ess, "ess_per_s": ess / total_s,
            "rhat_loglik": float(az.rhat(loglik, method="rank")), "divergences": divergences, "ari": ari}


def run_gibbs(sim: SimulatedCohort, patients: PatientData, seed: int, quick: bool) -> dict[str, Any]:
    result, wall = timed_fit(sim, "default", seed, quick)
    membership = result.membership().set_index("subject_id").loc[patients.subject_ids]
    return row("gibbs", seed, None, result.run_info["timings"]["sampling_seconds"], wall,
               result.idata.sample_stats["log_likelihood"].to_numpy(), 0,
               adjusted_rand_score(patients.truth, membership["subgroup"]))


def nuts_row(engine: str, seed: int, idata: az.InferenceData, patients: PatientData, compile_s: float,
             sampling_s: float, started: float) -> dict[str, Any]:
    loglik, labels = loglik_and_labels(idata, patients)
    total = time.perf_counter() - started
    divergences = int(idata.sample_stats["diverging"].sum())
    return row(engine, seed, compile_s, sampling_s, total, loglik, divergences,
               adjusted_rand_score(patients.truth, labels))


def run_pymc(patients: PatientData, k: int, seed: int, sampler: dict[str, int]) -> dict[str, Any]:
    started = time.perf_counter()
    with mixture_model(patients, k):
        idata = pm.sample(**sampler, cores=CORES, random_seed=seed, progressbar=False,
                          compute_convergence_checks=False)
    sample_wall = time.perf_counter() - started
    sampling_s = float(idata.posterior.attrs["sampling_time"])
    return nuts_row("pymc", seed, idata, patients, sample_wall - sampling_s, sampling_s, started)


def run_nutpie(patients: PatientData, k: int, seed: int, sampler: dict[str, int]) -> dict[str, Any]:
    import nutpie  # here, so that a broken nutpie only skips its row

    started = time.perf_counter()
    compiled = nutpie.compile_pymc_model(mixture_model(patients, k))
    compiled_at = time.perf_counter()
    idata = nutpie.sample(compiled, **sampler, cores=CORES, seed=seed, progress_bar=False, save_warmup=False)
    return nuts_row("nutpie", seed, idata, patients, compiled_at - started, time.perf_counter() - compiled_at,
                    started)


def attempt(name: str, job: Callable[[], dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Run one engine; a failure becomes a note instead of stopping the benchmark."""
    try:
        return [job()]
    except Exception as exc:  # noqa: BLE001 - any engine failure is reported, not fatal
        notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
        return []


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__, DEFAULT_SEEDS).parse_args(argv)
    seeds = args.seeds[:1] if args.quick else args.seeds
    sampler = QUICK_SAMPLER if args.quick else NUTS_SAMPLER
    preset = "tiny" if args.quick else "default"
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for seed in seeds:
        sim = simulate_cohort(preset=preset, seed=seed)
        patients = patient_data(sim)
        print(f"seed {seed}: gibbs ...", file=sys.stderr, flush=True)
        rows += attempt("gibbs", lambda: run_gibbs(sim, patients, seed, args.quick), notes)
        print(f"seed {seed}: pymc ...", file=sys.stderr, flush=True)
        rows += attempt("pymc", lambda: run_pymc(patients, sim.n_subgroups, seed, sampler), notes)
        print(f"seed {seed}: nutpie ...", file=sys.stderr, flush=True)
        rows += attempt("nutpie", lambda: run_nutpie(patients, sim.n_subgroups, seed, sampler), notes)
    sizes = f"{sampler['draws']} + {sampler['tune']} draws x {sampler['chains']} chains"
    print(f"## Speed: preset '{preset}', {sizes}, {CORES} cores{' (quick)' if args.quick else ''}\n")
    print(markdown_table(rows, COLUMNS) if rows else "(no engine ran)")
    for note in notes:
        print(f"\nnote: {note}")
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
