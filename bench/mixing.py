"""Do chains agree on the number of subgroups? The Gibbs engine with and without its subgroup moves.

On a subsample of a simulated cohort (default: 50 patients, 40 controls, the first 10
continuous markers, ``k_max = 5``, Dirichlet hyperprior rate 10 per component), runs two
single chains per sampler setting and prints each chain's posterior over the number of
non-empty subgroups. Settings: ``births`` (one-patient births/deaths per sweep) and
``splits`` (split/merge proposals per sweep); ``0/0`` is plain Gibbs allocation.

Two chains of a setting that mixes agree with each other; settings that mix agree with each
other. Chains of one setting that disagree show it does not mix, whatever it agrees with.

Run::

    python bench/mixing.py                                   # specs plain, normal, default
    python bench/mixing.py --specs default --draws 20000
"""

from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from _common import markdown_table, parser
from pss_bayes import load_spec, simulate_cohort
from pss_bayes.model import gibbs
from pss_bayes.model.chain import run_chain
from pss_bayes.model.design import prepare

SETTINGS = ((10, 0), (0, 5), (10, 5))
K_MAX = 5


def chain_k_posterior(data, spec, seed: int, draws: int, births: int, splits: int) -> np.ndarray:
    """P(K = 1..K_MAX) from one chain with the given numbers of moves per sweep."""
    gibbs.GibbsSampler.BIRTH_DEATH_MOVES, gibbs.GibbsSampler.SPLIT_MERGE_MOVES = births, splits
    trace = run_chain(data, spec, seed=seed, draws=draws, tune=300)
    return np.bincount((trace["counts"] > 0).sum(1), minlength=K_MAX + 1)[1:] / draws


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, (4, 5))
    p.add_argument("--specs", nargs="+", default=["plain", "normal", "default"], help="model specs")
    p.add_argument("--draws", type=int, default=5000, help="draws per chain (default: 5000)")
    p.add_argument("--patients", type=int, default=50)
    p.add_argument("--markers", type=int, default=10, help="first continuous markers kept (default: 10)")
    args = p.parse_args(argv)
    draws = 500 if args.quick else args.draws
    sim = simulate_cohort(preset="default", seed=3, n_patients=args.patients, n_controls=40)
    continuous = [b for b, binary in zip(sim.cohort.biomarker_names, sim.cohort.markers.is_binary) if not binary]
    cohort = sim.cohort.subset(biomarkers=continuous[:args.markers])
    defaults = gibbs.GibbsSampler.BIRTH_DEATH_MOVES, gibbs.GibbsSampler.SPLIT_MERGE_MOVES
    rows = []
    try:
        for name in args.specs:
            spec = load_spec(name).replace(mixture={"e0_rate_per_k": 10.0, "k_max": K_MAX})
            data, _, _ = prepare(cohort, spec)
            for births, splits in SETTINGS:
                for seed in args.seeds:
                    print(f"{name}: births {births}, splits {splits}, chain seed {seed}", file=sys.stderr)
                    probs = chain_k_posterior(data, spec, seed, draws, births, splits)
                    rows.append({"spec": name, "births": births, "splits": splits, "chain_seed": seed,
                                 **{f"p_k{k}": probs[k - 1] for k in range(1, K_MAX + 1)}})
    finally:
        gibbs.GibbsSampler.BIRTH_DEATH_MOVES, gibbs.GibbsSampler.SPLIT_MERGE_MOVES = defaults
    print(f"## Posterior over K per chain ({draws} draws, {args.patients} patients, {args.markers} markers)\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
