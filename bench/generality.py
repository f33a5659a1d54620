"""Recovery on simulated cohorts unlike the presets: other module layouts, sizes, missingness, K.

The presets of ``bench/recovery.py`` vary one thing at a time around the default
cohort. These cohorts change its design instead, as an independently simulated or
real cohort would; each is written to files and read back through the file contract
(``load_cohort`` with its markers file, covariates ``age`` and ``sex``, batch
``centre``), then fitted with the default spec as ``pss-bayes fit`` does:

- ``k6_big``: 500 patients, 300 controls, 6 subgroups (10% to 25%), six modules of 2 to
  10 biomarkers, 15% missing;
- ``small_k3``: 120 patients, 150 controls, 3 subgroups, three modules of 5, one binary
  marker, 3 centres;
- ``tiny_group``: the default design with one subgroup of 6% (18 patients);
- ``many_small_modules``: twelve modules of 2 or 3 biomarkers (six of two), 4 subgroups;
- ``high_missing``: the default design with 30% of the values missing;
- ``strong_cov_k2``: 2 subgroups, within-module co-variation 0.85 (default 0.6);
- ``few_controls``: the default design with 40 controls instead of 330;
- ``wide_60``: 60 continuous biomarkers in eight modules of 5 to 12.

Columns as in ``bench/recovery.py`` (``cohort`` instead of ``preset``), summary as there.

Run::

    python bench/generality.py                        # 8 cohorts (about 15 minutes on 2 cores)
    python bench/generality.py --cohorts small_k3 --seeds 11 12
    python bench/generality.py --quick                # small_k3, 100 + 100 sweeps x 2 chains
    python bench/generality.py --model shared_spread    # another model spec
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from sklearn.metrics import adjusted_rand_score

from _common import (QUICK_SAMPLER, PatientData, fit_summary, gmm_bic, lda_cv_labels, markdown_table, parser,
                     patient_data, run_grid, write_csv)
from pss_bayes import Cohort, fit, load_cohort, simulate_cohort
from pss_bayes.data.simulation_settings import log_odds_shifts
from recovery import COLUMNS as RECOVERY_COLUMNS
from recovery import summary_line

COLUMNS = ("cohort",) + RECOVERY_COLUMNS[1:]

_SMALL_MODULES = tuple((f"m{i}", n) for i, n in enumerate((2, 3, 2, 3, 2, 2, 3, 2, 3, 2, 2, 3)))

#: name -> settings overriding the default simulation design.
COHORTS: dict[str, dict[str, Any]] = {
    "k6_big": dict(
        n_patients=500, n_controls=300, subgroup_weights=(0.25, 0.2, 0.18, 0.15, 0.12, 0.10),
        modules=(("ifn", 10), ("infl", 3), ("bcell", 6), ("tcell", 2), ("cyto", 8), ("neut", 4)),
        module_effects=((2.0, 0.0, 1.0, 0.0, 0.5, 0.0), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
                        (1.0, 2.0, 0.0, 0.0, 1.5, 1.0), (0.0, 0.0, 1.5, -1.5, 0.0, 0.0),
                        (2.5, 1.5, 0.0, 0.0, 0.0, -1.0), (0.0, 0.0, 0.0, 1.5, 1.5, 0.0)),
        missing_fraction=0.15, age_effects=(("infl", 0.1),), serum_modules=("cyto",),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.8, 0.05, 0.6, 0.4, 0.7, 0.1)),
                                log_odds_shifts(0.01, (0.5, 0.02, 0.3, 0.2, 0.4, 0.05)),
                                log_odds_shifts(0.05, (0.4, 0.1, 0.3, 0.3, 0.3, 0.1))))),
    "small_k3": dict(
        n_patients=120, n_controls=150, subgroup_weights=(0.4, 0.35, 0.25),
        modules=(("a", 5), ("b", 5), ("c", 5)), module_effects=((2.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 2.0, -1.0)),
        missing_fraction=0.05, age_effects=(), serum_modules=(), binary_markers=(("ab", 0.05),),
        binary_shifts=tuple(zip(log_odds_shifts(0.05, (0.6, 0.1, 0.3)))), n_centres=3),
    "tiny_group": dict(subgroup_weights=(0.34, 0.28, 0.32, 0.06)),
    "many_small_modules": dict(
        modules=_SMALL_MODULES,
        module_effects=((1.5, 1.5, 0, 0, 1.0, 0, 0, 0, 0.8, 0, 0, 0), (0,) * 12,
                        (0, 0, 1.5, 1.5, 0, 0, -1.0, 0, 0, 1.0, 0, 0), (0, 0, 0, 0, 0, 1.5, 0, 1.5, 0, 0, 1.2, -1.0)),
        age_effects=(("m1", 0.1),), serum_modules=("m11",)),
    "high_missing": dict(missing_fraction=0.3),
    "strong_cov_k2": dict(
        subgroup_weights=(0.55, 0.45), module_effects=((2.2, 0.3, 1.3, 0.0, 0.9), (0.0,) * 5),
        module_covariation=0.85, loading_range=(0.8, 1.0), centre_sd=0.1, age_effects=(),
        binary_shifts=tuple(zip(log_odds_shifts(0.03, (0.9, 0.1)), log_odds_shifts(0.01, (0.6, 0.05)),
                                log_odds_shifts(0.05, (0.5, 0.1))))),
    "few_controls": dict(n_controls=40),
    "wide_60": dict(
        modules=(("interferon", 12), ("inflammation", 8), ("b_cell", 8), ("t_cell", 6), ("cytokines", 10),
                 ("neutrophil", 6), ("platelet", 5), ("nk_cell", 5)),
        module_effects=((2.2, 0.3, 1.3, 0.0, 0.9, 0.0, 0.0, 0.0), (0.0,) * 8, (1.2, 2.0, 0.0, -0.4, 1.5, 0.0, 0.5, 0.0),
                        (0.3, 0.0, 1.0, -1.8, 0.0, 0.0, 0.0, 0.8))),
}


def run_one(name: str, seed: int, quick: bool, model: str = "default") -> dict[str, Any]:
    """Simulate, write and read back one cohort, fit it, run the baselines; one row of the table."""
    sim = simulate_cohort(seed=seed, **COHORTS[name])
    with tempfile.TemporaryDirectory() as folder:
        sim.write(folder)
        cohort = load_cohort(Path(folder) / "cohort.csv", Path(folder) / "markers.csv",
                             covariates=("age", "sex"), batch="centre")
    return cohort_row(name, seed, cohort, patient_data(sim), sim.n_subgroups, quick, model)


def cohort_row(name: str, seed: int, cohort: Cohort, patients: PatientData, true_k: int, quick: bool,
               model: str) -> dict[str, Any]:
    """Fit ``cohort`` as ``pss-bayes fit`` does and run the baselines on ``patients``; one row of the table."""
    started = time.perf_counter()
    result = fit(cohort, model, seed=seed, progress=False, **({**QUICK_SAMPLER, "extensions": 0} if quick else {}))
    wall = time.perf_counter() - started
    gmm_k, gmm_labels = gmm_bic(patients.continuous)
    row = {"cohort": name, "seed": seed, "true_k": true_k, **fit_summary(result, patients),
           "gmm_k": gmm_k, "ari_gmm": adjusted_rand_score(patients.truth, gmm_labels),
           "ari_lda": adjusted_rand_score(patients.truth, lda_cv_labels(patients.imputed, patients.truth)),
           "wall_s": wall}
    return {c: row[c] for c in COLUMNS}


def cohort_main(argv: Sequence[str] | None, doc: str | None, default_seeds: Sequence[int], cohorts: Sequence[str],
                quick_cohort: str, run_one: Callable[[str, int, bool, str], dict[str, Any]], title: str) -> int:
    """The command line shared by the scripts that fit named cohorts (``--cohorts``, ``--model``)."""
    p = parser(doc, default_seeds)
    p.add_argument("--cohorts", nargs="+", choices=list(cohorts), help="cohorts (default: all)")
    p.add_argument("--model", default="default", help="model spec name or path (default: default)")
    args = p.parse_args(argv)
    names = args.cohorts or ([quick_cohort] if args.quick else list(cohorts))
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = run_grid(names, seeds, lambda name, seed: run_one(name, seed, args.quick, args.model), "fitting")
    sampler = "quick: 100 + 100 sweeps x 2 chains" if args.quick else "the default spec's sampler settings"
    print(f"## {title}: model '{args.model}' ({sampler})\n")
    print(markdown_table(rows, COLUMNS))
    print()
    print(summary_line("overall", rows))
    write_csv(rows, args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cohort_main(argv, __doc__, (11,), list(COHORTS), "small_k3", run_one, "Generality")


if __name__ == "__main__":
    sys.exit(main())
