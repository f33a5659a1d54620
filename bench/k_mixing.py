"""How fast does the effective sample size of the number of subgroups grow with draws, and with chains?

When a fit fails its checks at ``n_subgroups`` (the number of non-empty subgroups), the
obvious remedies are longer chains or more of them. This script fits one cohort of
``bench/independent.py`` (read back through the file contract, as there) twice with the
default spec and no continuation: a few long chains, and many short ones. It then runs the
convergence checks on the first ``draws`` of the first ``chains`` of each fit, and prints,
for each prefix, the checks' outcome, R-hat and bulk ESS of the number of subgroups, each
chain's share of draws at the pooled most probable K and the Monte Carlo standard error of
its probability.

If the number of subgroups mixed like an ordinary quantity, its ESS would grow in
proportion to the draws kept, chains times draws.

Run::

    python bench/k_mixing.py                                          # k2_small, seed 21
    python bench/k_mixing.py --cohort k5_unequal --long-draws 12000 --many-chains 0
    python bench/k_mixing.py --quick
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

import arviz as az
import numpy as np

from _common import markdown_table, parser, write_csv
from independent import COHORTS, read_back
from pss_bayes import FitResult, fit
from pss_bayes.posterior.diagnostics import diagnose


def prefix_row(result: FitResult, chains: int, draws: int) -> dict[str, Any]:
    """The checks on the first ``draws`` of the first ``chains`` of a fit."""
    part = result.idata.isel(chain=slice(0, chains), draw=slice(0, draws))
    diag = diagnose(part.posterior, part.sample_stats, k_max=result.spec.mixture.k_max)
    k = part.posterior["n_subgroups"].to_numpy()
    mode = max(diag.k_by_chain, key=lambda v: sum(diag.k_by_chain[v]))
    return {"chains": chains, "draws": draws, "k_mode": int(mode), "p_k_mode": float(np.mean(k == int(mode))),
            "mcse": diag.k_probability_mcse[mode], "rhat_k": float(az.rhat(k.astype(float), method="rank")),
            "ess_k": float(az.ess(k.astype(float), method="bulk")), "max_rhat": diag.max_rhat,
            "min_ess_bulk": diag.min_ess_bulk, "worst": diag.worst["ess_at"],
            "converged": "yes" if diag.converged else "no",
            "share_by_chain": " ".join(f"{s:.2f}" for s in diag.k_by_chain[mode])}


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, default_seeds=[21])
    p.add_argument("--cohort", default="k2_small", choices=sorted(COHORTS), help="cohort (default: k2_small)")
    p.add_argument("--long-chains", type=int, default=4, help="chains of the long fit (default: 4)")
    p.add_argument("--long-draws", type=int, default=16000, help="draws per chain of the long fit (default: 16000)")
    p.add_argument("--many-chains", type=int, default=16, help="chains of the short fit (default: 16; 0: skip)")
    p.add_argument("--many-draws", type=int, default=2000, help="draws per chain of the short fit (default: 2000)")
    args = p.parse_args(argv)
    if args.quick:
        args.long_draws, args.many_chains, args.many_draws = 200, 4, 100
    tune = 100 if args.quick else None
    rows = []
    for seed in args.seeds:
        cohort, _ = read_back(args.cohort, seed)
        for grows, chains, draws in (("draws", args.long_chains, args.long_draws),
                                     ("chains", args.many_chains, args.many_draws)):
            if chains < 1:
                continue
            print(f"fitting {args.cohort}, seed {seed}: {chains} chains x {draws} draws ...", file=sys.stderr)
            started = time.perf_counter()
            result = fit(cohort, "default", seed=seed, draws=draws, tune=tune, chains=chains, extensions=0,
                         progress=False)
            seconds = time.perf_counter() - started
            parts = ([(chains, d) for d in (1000, 2000, 4000, 8000, 12000) if d < draws] if grows == "draws"
                     else [(c, draws) for c in range(4, chains, 4)]) + [(chains, draws)]
            rows += [{"cohort": args.cohort, "seed": seed, **prefix_row(result, c, d), "fit_wall_s": seconds}
                     for c, d in parts]
    print(markdown_table(rows))
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
