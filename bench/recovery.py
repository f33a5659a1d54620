"""Recovery of known subgroups on simulated cohorts, against simple baselines.

For every simulation preset x seed, the cohort is fitted with one model spec
(default: ``default``, with its own draws/tune/chains) and compared with the truth:

- ``true_k``, ``k_mode``, ``p_k_mode``: true number of subgroups, posterior mode of
  K and its posterior probability;
- ``ari``: adjusted Rand index of the most probable labels against the truth;
- ``gmm_k``, ``ari_gmm``: scikit-learn ``GaussianMixture`` (diagonal, n_init=5,
  random_state=0) with K chosen by BIC over 1..8, on the same control-scaled
  patients' continuous markers, missing values imputed with 0 (= the control
  median);
- ``ari_lda``: a linear discriminant trained on the true labels (5-fold
  ``cross_val_predict``, all markers, same imputation), a practical ceiling;
- ``ece``: expected calibration error of ``p_max`` (10 equal-width bins), where a
  patient counts as correct when its most probable subgroup is its true one after
  matching fitted to true subgroups with the Hungarian algorithm;
- ``max_rhat``, ``min_ess_bulk``, ``converged``: the fit's own diagnostics;
- ``draws``: draws per chain in the end (more than the spec's when failed checks
  made the fit continue its chains);
- ``wall_s``: wall-clock seconds of the fit.

A summary per preset and overall follows: K correct, ARI >= GMM-BIC, ARI within
10% of LDA (ARI >= 0.9 x LDA's), ECE <= 0.05, converged.

Run::

    python bench/recovery.py                 # 9 presets x 5 seeds = 45 fits (about an hour on 2 cores)
    python bench/recovery.py --quick         # 1 preset, 1 seed, 100 + 100 sweeps x 2 chains
    python bench/recovery.py --model normal --presets heavy_tails --seeds 0 1 --out bench/results/recovery.csv
    python bench/recovery.py --presets default --effect-scale 0.7     # module effects at 70%
    python bench/recovery.py --presets default --patient-spread 1.3   # patients 1.3 x as spread as controls
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from sklearn.metrics import adjusted_rand_score

from _common import (count, fit_summary, gmm_bic, lda_cv_labels, markdown_table, parser, patient_data,
                     run_grid, timed_fit, write_csv)
from pss_bayes import load_spec, simulate_cohort
from pss_bayes.data.simulation_settings import PRESETS as SIMULATION_PRESETS

PRESETS = ("default", "overlap", "covariation", "heavy_tails", "missing", "patient_spread", "k2", "k3", "k5")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
COLUMNS = ("preset", "seed", "true_k", "k_mode", "p_k_mode", "ari", "gmm_k", "ari_gmm", "ari_lda", "ece",
           "max_rhat", "min_ess_bulk", "converged", "draws", "wall_s")


def scaled_effects(preset: str, scale: float) -> dict[str, Any]:
    """Simulation overrides that multiply the preset's subgroup-by-module effects by ``scale``."""
    if scale == 1.0:
        return {}
    rows = SIMULATION_PRESETS[preset].module_effects
    return {"module_effects": tuple(tuple(scale * e for e in row) for row in rows)}


def run_one(preset: str, seed: int, model: str, quick: bool, effect_scale: float = 1.0,
            patient_spread: Sequence[float] = ()) -> dict[str, Any]:
    """Simulate one cohort, fit it, run the baselines; one row of the table.

    ``patient_spread``: one value (every subgroup) or one per subgroup, overriding the preset's.
    """
    overrides = scaled_effects(preset, effect_scale)
    if patient_spread:
        k = SIMULATION_PRESETS[preset].n_subgroups
        overrides["patient_spread"] = tuple(patient_spread) * k if len(patient_spread) == 1 else tuple(patient_spread)
    sim = simulate_cohort(preset=preset, seed=seed, **overrides)
    patients = patient_data(sim)
    result, wall = timed_fit(sim, load_spec(model), seed, quick)
    gmm_k, gmm_labels = gmm_bic(patients.continuous)
    lda_labels = lda_cv_labels(patients.imputed, patients.truth)
    label = preset if effect_scale == 1.0 else f"{preset} x{effect_scale:g}"
    if patient_spread:
        label += " spread " + "/".join(f"{v:g}" for v in patient_spread)
    row = {"preset": label, "seed": seed, "true_k": sim.n_subgroups, **fit_summary(result, patients),
           "gmm_k": gmm_k, "ari_gmm": adjusted_rand_score(patients.truth, gmm_labels),
           "ari_lda": adjusted_rand_score(patients.truth, lda_labels), "wall_s": wall}
    return {c: row[c] for c in COLUMNS}


def summary_line(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """Counts of runs that meet each target."""
    return (f"{name}: K correct in {count(rows, lambda r: r['k_mode'] == r['true_k'])}, "
            f"ARI ≥ GMM-BIC in {count(rows, lambda r: r['ari'] >= r['ari_gmm'])}, "
            f"within 10% of LDA in {count(rows, lambda r: r['ari'] >= 0.9 * r['ari_lda'])}, "
            f"ECE ≤ 0.05 in {count(rows, lambda r: r['ece'] <= 0.05)}, "
            f"converged in {count(rows, lambda r: r['converged'])}")


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, DEFAULT_SEEDS)
    p.add_argument("--model", default="default", help="model spec name or TOML path (default: default)")
    p.add_argument("--presets", nargs="+", choices=PRESETS, help="simulation presets (default: all nine)")
    p.add_argument("--effect-scale", type=float, default=1.0,
                   help="multiply every preset's subgroup-by-module effects by this (binary markers' "
                        "shifts unchanged), to see where recovery breaks down (default: 1)")
    p.add_argument("--patient-spread", type=float, nargs="+", default=(),
                   help="patients' within-subgroup SD over the controls': one value for every subgroup or one "
                        "per subgroup, overriding the preset's (default: the preset's)")
    args = p.parse_args(argv)
    presets = args.presets or (["default"] if args.quick else list(PRESETS))
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = run_grid(presets, seeds, lambda preset, seed: run_one(preset, seed, args.model, args.quick,
                                                                 args.effect_scale, args.patient_spread),
                    "fitting")
    sampler = "quick: 100 + 100 sweeps x 2 chains" if args.quick else "the spec's sampler settings"
    print(f"## Recovery: model '{args.model}' ({sampler})\n")
    print(markdown_table(rows, COLUMNS))
    print()
    for preset in dict.fromkeys(r["preset"] for r in rows):
        print(summary_line(preset, [r for r in rows if r["preset"] == preset]))
    print(summary_line("overall", rows))
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
