"""Does the check of each subgroup's within-module co-variation warn where it should, and only there?

A fit's model warnings include subgroups whose within-module correlation differs from the
controls' (:mod:`pss_bayes.posterior.covariation_check`). This script fits cohorts of
``bench/independent.py`` (read back through the file contract) and of the package's
simulator with the default spec (1,000 draws x 4 chains, no continuation: the check reads
the most probable subgroups, not the convergence) and prints, per fit, how many subgroup x
module comparisons were made, the largest |z| and |difference of mean correlation|, and the
subgroups the check names. ``subgroup_correlation`` (within-module correlation 0.2, 0.5
and 0.8 in its three subgroups, 0.5 in controls) should warn; every other cohort here
follows the model in this respect and should not.

Run::

    python bench/covariation_check.py
    python bench/covariation_check.py --cohorts subgroup_correlation equicorrelated --seeds 21 22
    python bench/covariation_check.py --quick
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

from _common import markdown_table, parser, write_csv
from independent import read_back
from pss_bayes import fit, simulate_cohort

#: Cohorts of ``bench/independent.py`` and, prefixed ``sim_``, presets of the simulator.
DEFAULT_COHORTS = ("subgroup_correlation", "equicorrelated", "uncorrelated", "sparse_effects", "k2_small",
                   "k5_unequal", "skewed_logged", "two_blocks_divided", "sim_default", "sim_covariation",
                   "sim_heavy_tails", "sim_patient_spread")


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, default_seeds=[21])
    p.add_argument("--cohorts", nargs="+", default=list(DEFAULT_COHORTS),
                   help="independent.py cohorts, or simulator presets prefixed sim_")
    args = p.parse_args(argv)
    sampler = {"draws": 100, "tune": 100, "chains": 2} if args.quick else {"draws": 1000}
    cohorts = args.cohorts[:1] if args.quick else args.cohorts
    rows = []
    for name in cohorts:
        for seed in args.seeds:
            print(f"fitting {name}, seed {seed} ...", file=sys.stderr)
            simulated = name.startswith("sim_")
            cohort = simulate_cohort(preset=name[4:], seed=seed).cohort if simulated else read_back(name, seed)[0]
            started = time.perf_counter()
            result = fit(cohort, "default", seed=seed, extensions=0, progress=False, **sampler)
            table = result.covariation_check()
            difference = (table["r_subgroup"] - table["r_controls"]).abs()
            named = table[table["differs"]]
            rows.append({"cohort": name, "seed": seed, "k": result.k, "tests": len(table),
                         "max_abs_z": float(table["z"].abs().max()) if len(table) else None,
                         "max_abs_difference": float(difference.max()) if len(table) else None,
                         "subgroups_named": " ".join(str(s) for s in sorted(set(named["subgroup"]))) or "–",
                         "modules_named": " ".join(f"{r.subgroup}:{r.module}" for r in named.itertuples()) or "–",
                         "wall_s": time.perf_counter() - started})
    print(markdown_table(rows))
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
