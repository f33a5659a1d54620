"""Does model comparison find the true number of subgroups? Simulated cohorts with K = 1..5.

For every simulation preset x seed, ``pss_bayes.compare`` fits K = 1..6 fixed-K
models of the base spec and the base spec's sparse mixture, on the simulator's
cohort, and the K each criterion prefers is set against the truth:

- ``loo_best``: the K with the highest PSIS-LOO elpd; ``loo``: the smallest K whose
  elpd is within one standard error of the best (the one-SE rule the verdict uses);
- ``stacking``: the K with the largest stacking weight;
- ``posterior``, ``p_true``: the sparse mixture's posterior mode of the number of
  non-empty subgroups, and the posterior probability of the true K;
- ``true_within_se``: the true K's elpd difference to the best is at most its SE;
- ``bic``, ``icl``: the EM fit of the same likelihood, for orientation;
- ``bad_pareto``: the largest number of subjects with Pareto k > 0.7 among the fits;
- ``verdict``: the first sentence of ``comparison.md``.

Acceptance: (``loo`` or ``stacking`` is the true K, or the true K is within one SE of
the best) and ``posterior`` is the true K.

Run::

    python bench/compare.py                      # 5 presets x 3 seeds, 500 + 500 sweeps x 2 chains per fit
    python bench/compare.py --quick              # one preset, one seed, 100 + 100 sweeps
    python bench/compare.py --presets one_subgroup k2 --seeds 0 1 2 3 4 --out bench/results/compare.csv
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from _common import count, markdown_table, parser, run_grid, write_csv
from pss_bayes import simulate_cohort
from pss_bayes.compare import compare
from pss_bayes.comparison_report import k_choices

PRESETS = ("one_subgroup", "k2", "k3", "default", "k5")
DEFAULT_SEEDS = (0, 1, 2)
K_RANGE = range(1, 7)
SAMPLER = {"draws": 500, "tune": 500, "chains": 2}
QUICK_SAMPLER = {"draws": 100, "tune": 100, "chains": 2}
COLUMNS = ("preset", "seed", "true_k", "loo_best", "loo", "stacking", "true_within_se", "posterior", "p_true",
           "bic", "icl", "bad_pareto", "passes", "wall_s", "verdict")


def run_one(preset: str, seed: int, base: str, quick: bool, jobs: int | None) -> dict[str, Any]:
    """Simulate one cohort, compare K = 1..6 and the sparse mixture; one row of the table."""
    sim = simulate_cohort(preset=preset, seed=seed)
    truth = sim.n_subgroups
    started = time.perf_counter()
    result = compare(sim.cohort, K_RANGE, base=base, seed=seed, n_jobs=jobs, folds=0, progress=False,
                     **(QUICK_SAMPLER if quick else SAMPLER))
    wall = time.perf_counter() - started
    choice = k_choices(result.k_table)
    by_k = result.k_table.set_index("k")
    within = bool(by_k.loc[truth, "elpd_diff"] <= by_k.loc[truth, "dse"] if truth != choice["loo_best"] else True)
    sweep_ok = choice["loo"] == truth or choice["stacking"] == truth or within
    row = {"preset": preset, "seed": seed, "true_k": truth, **{k: choice.get(k) for k in
           ("loo_best", "loo", "stacking", "posterior", "bic", "icl")},
           "true_within_se": within, "p_true": float(by_k.loc[truth, "posterior"]),
           "bad_pareto": int(result.table["n_pareto_k_bad"].max()),
           "passes": bool(sweep_ok and choice.get("posterior") == truth), "wall_s": wall,
           "verdict": result.verdict.split("**")[1] if "**" in result.verdict else result.verdict[:80]}
    return {c: row[c] for c in COLUMNS}


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, DEFAULT_SEEDS)
    p.add_argument("--presets", nargs="+", choices=PRESETS, help="simulation presets (default: all five)")
    p.add_argument("--base", default="default", help="model spec whose K is compared (default: default)")
    p.add_argument("--jobs", type=int, help="fits in parallel (default: the number of cores)")
    args = p.parse_args(argv)
    presets = args.presets or (["k2"] if args.quick else list(PRESETS))
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = run_grid(presets, seeds, lambda preset, seed: run_one(preset, seed, args.base, args.quick, args.jobs),
                    "comparing K on")
    sampler = QUICK_SAMPLER if args.quick else SAMPLER
    print(f"## Model comparison: base '{args.base}', K = 1..6, {sampler['tune']} + {sampler['draws']} sweeps x "
          f"{sampler['chains']} chains per fit, no K-fold fallback\n")
    print(markdown_table(rows, COLUMNS))
    print()
    for preset in presets:
        mine = [r for r in rows if r["preset"] == preset]
        print(f"{preset}: passes in {count(mine, lambda r: r['passes'])}, "
              f"K posterior mode right in {count(mine, lambda r: r['posterior'] == r['true_k'])}")
    print(f"overall: passes in {count(rows, lambda r: r['passes'])}")
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
