"""Does the co-variation term matter? Spec ``default`` against ``diagonal`` on the same cohorts.

Within a subgroup, genes of one module move together (simulated through a
subject-level module activity; preset ``covariation`` makes it strong). Model
``default`` has that activity; model ``diagonal`` leaves it out, so biomarkers
are independent within a subgroup and a mixture tends to invent extra subgroups
to absorb the co-variation. Per preset (``covariation`` and ``default``) x seed,
both specs are fitted to the same cohort with the same seed. Columns:

- ``true_k``: true number of subgroups;
- ``gmm_k``: K chosen by BIC for a diagonal scikit-learn ``GaussianMixture``
  over 1..8 on the control-scaled patients' continuous markers (missing values
  imputed with 0, the control median), for orientation;
- per spec (``default`` / ``diagonal``): ``k_*`` posterior mode of K, ``p_*`` its
  posterior probability, ``ari_*`` adjusted Rand index of the most probable
  labels against the truth, ``conv_*`` whether the fit passed its convergence
  checks.

A summary per preset and spec follows: K correct in x/y and the mean ARI.

Run::

    python bench/covariation.py              # 2 presets x seeds 0 1 2, 12 fits
    python bench/covariation.py --quick      # preset covariation, 1 seed, 100 + 100 sweeps x 2 chains
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np

from _common import count, fit_summary, gmm_bic, markdown_table, parser, patient_data, timed_fit, write_csv
from pss_bayes import simulate_cohort

PRESETS = ("covariation", "default")
SPECS = ("default", "diagonal")
DEFAULT_SEEDS = (0, 1, 2)
COLUMNS = ("preset", "seed", "true_k", "gmm_k", *(f"{c}_{s}" for s in SPECS for c in ("k", "p", "ari", "conv")))


def run_one(preset: str, seed: int, quick: bool) -> dict[str, Any]:
    """Fit both specs to one simulated cohort; one row of the table."""
    sim = simulate_cohort(preset=preset, seed=seed)
    patients = patient_data(sim)
    row: dict[str, Any] = {"preset": preset, "seed": seed, "true_k": sim.n_subgroups,
                           "gmm_k": gmm_bic(patients.continuous)[0]}
    for spec in SPECS:
        result, _ = timed_fit(sim, spec, seed, quick)
        summary = fit_summary(result, patients)
        row.update({f"k_{spec}": summary["k_mode"], f"p_{spec}": summary["p_k_mode"],
                    f"ari_{spec}": summary["ari"], f"conv_{spec}": summary["converged"]})
    return {c: row[c] for c in COLUMNS}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__, DEFAULT_SEEDS).parse_args(argv)
    presets = PRESETS[:1] if args.quick else PRESETS
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = []
    for preset in presets:
        for seed in seeds:
            print(f"fitting {preset}, seed {seed} with {' and '.join(SPECS)} ...", file=sys.stderr, flush=True)
            rows.append(run_one(preset, seed, args.quick))
    sampler = "quick: 100 + 100 sweeps x 2 chains" if args.quick else "the specs' sampler settings"
    print(f"## Co-variation: spec default vs diagonal ({sampler})\n")
    print(markdown_table(rows, COLUMNS))
    print()
    for preset in presets:
        subset = [r for r in rows if r["preset"] == preset]
        for spec in SPECS:
            print(f"{preset}, {spec}: K correct in {count(subset, lambda r: r[f'k_{spec}'] == r['true_k'])}, "
                  f"mean ARI {np.mean([r[f'ari_{spec}'] for r in subset]):.3f}, "
                  f"converged in {count(subset, lambda r: r[f'conv_{spec}'])}")
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
