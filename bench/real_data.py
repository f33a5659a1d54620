"""Recovery of known groups on real measurement data (scikit-learn's bundled data sets).

Real cohorts with known subgroups and healthy controls are not public, so each data set
below becomes one: one class plays the controls, the other classes are the patients'
subgroups to recover. The data ship with scikit-learn (no download):

- ``iris``: setosa as controls (50); versicolor and virginica as two subgroups (50 + 50);
  4 measurements. Layouts: ``per_biomarker`` (no markers file: every measurement its own
  module, so no co-variation is modelled), ``sepal_petal`` (two modules), ``one_module``.
- ``wine``: cultivar 2 as controls (71); cultivars 1 and 3 as two subgroups (59 + 48); 13
  chemical measurements, log-transformed (positive concentrations). Layouts
  ``per_biomarker`` and ``one_module``.
- ``breast_cancer``: benign tumours as controls (357), malignant as one group (212): the
  true number of subgroups is 1, a check that the model does not split a group that
  has no subgroups; 30 image features (10 measurements x mean, SE, worst),
  ``log1p``-transformed. Layouts ``per_biomarker`` and ``by_measurement`` (10 modules
  of 3).

For each data set x layout, the default model is fitted through the same path as
``pss-bayes fit`` (its own draws, warm-up and continuation) and compared with the
truth as in ``bench/recovery.py``: ``k_mode``, ``p_k_mode``, ``ari``, ``gmm_k`` /
``ari_gmm`` (diagonal ``GaussianMixture`` chosen by BIC, 5 restarts), ``gmm_tied_k``
/ ``ari_gmm_tied`` (the same with one full covariance matrix shared by the groups),
``gmm_full_k`` / ``ari_gmm_full`` (a full covariance matrix per group),
``lowrank_k`` / ``lowrank_rank`` / ``ari_lowrank`` (one covariance shared by the groups
with a few factors loading on every measurement plus a diagonal, ``L L' + D``, rank 1–3
and K chosen together by BIC; ``bench/_factor_mixture.py``), ``ari_lda`` (cross-validated
LDA trained on the truth; none for one group), and the fit's own diagnostics. With a
single true group the ARI of any labelling is 0 unless it also has one group (then 1).

Run::

    python bench/real_data.py                  # 3 data sets, 8 fits (about 15 minutes on 2 cores)
    python bench/real_data.py --datasets iris  # one data set
    python bench/real_data.py --quick          # iris, one layout, 100 + 100 sweeps x 2 chains
    python bench/real_data.py --model equal_spread   # another model spec
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.metrics import adjusted_rand_score

from _common import (GMM_K_MAX, QUICK_SAMPLER, count, fit_summary, gmm_bic, lda_cv_labels, markdown_table, parser,
                     patients_of, write_csv)
from _factor_mixture import shared_factor_gmm_bic
from pss_bayes import cohort_from_frame, fit

COLUMNS = ("dataset", "layout", "n_patients", "n_controls", "true_k", "k_mode", "p_k_mode", "ari", "gmm_k",
           "ari_gmm", "gmm_tied_k", "ari_gmm_tied", "gmm_full_k", "ari_gmm_full", "lowrank_k", "lowrank_rank",
           "ari_lowrank", "ari_lda", "max_rhat", "min_ess_bulk", "converged", "draws", "wall_s")


def _iris() -> tuple[pd.DataFrame, np.ndarray, dict[str, Callable[[Sequence[str]], list[str]]]]:
    d = datasets.load_iris()
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in d.feature_names]
    layouts = {"sepal_petal": lambda cols: [c.split("_")[0] for c in cols]}
    return pd.DataFrame(d.data, columns=names), d.target, layouts


def _wine() -> tuple[pd.DataFrame, np.ndarray, dict[str, Callable[[Sequence[str]], list[str]]]]:
    d = datasets.load_wine()
    names = [n.replace("/", "_") for n in d.feature_names]
    return pd.DataFrame(np.log(d.data), columns=names), d.target, {}


def _breast_cancer() -> tuple[pd.DataFrame, np.ndarray, dict[str, Callable[[Sequence[str]], list[str]]]]:
    d = datasets.load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    measurement = [n.replace("mean ", "").replace("worst ", "").replace(" error", "").replace(" ", "_")
                   for n in d.feature_names]
    layouts = {"by_measurement": lambda cols: [measurement[names.index(c)] for c in cols]}
    # target 0 is malignant, 1 benign: benign tumours are the controls
    return pd.DataFrame(np.log1p(d.data), columns=names), d.target, layouts


#: name -> (loader, control class)
DATASETS = {"iris": (_iris, 0), "wine": (_wine, 1), "breast_cancer": (_breast_cancer, 1)}


def cohort_table(values: pd.DataFrame, target: np.ndarray, control: int) -> tuple[pd.DataFrame, pd.Series]:
    """The data set as a cohort table (ids, group, measurements) and each patient's true class."""
    table = values.copy()
    table.insert(0, "group", np.where(target == control, "control", "pSS"))
    table.insert(0, "subject_id", [f"S{i:04d}" for i in range(len(table))])
    truth = pd.Series(target, index=table["subject_id"])[target != control]
    return table, truth


def markers_table(columns: Sequence[str], modules: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({"biomarker": list(columns), "module": list(modules), "kind": "continuous"})


def run_one(dataset: str, layout: str, quick: bool, seed: int = 0, model: str = "default") -> dict[str, Any]:
    """Fit one data set with one module layout and run the baselines; one row of the table."""
    loader, control = DATASETS[dataset]
    values, target, layouts = loader()
    table, truth = cohort_table(values, target, control)
    columns = list(values.columns)
    markers = {"per_biomarker": None, "one_module": markers_table(columns, ["all"] * len(columns))}
    markers.update({name: markers_table(columns, modules(columns)) for name, modules in layouts.items()})
    cohort = cohort_from_frame(table, markers[layout], source=f"{dataset}.csv")
    started = time.perf_counter()
    result = fit(cohort, model, seed=seed, progress=False,
                 **({**QUICK_SAMPLER, "extensions": 0} if quick else {}))
    wall = time.perf_counter() - started

    patients = patients_of(cohort, truth)
    x, true = patients.imputed, patients.truth
    gmm_k, gmm_labels = gmm_bic(x)
    tied_k, tied_labels = gmm_bic(x, covariance_type="tied")
    full_k, full_labels = gmm_bic(x, covariance_type="full")
    lowrank_k, lowrank_rank, lowrank_labels = shared_factor_gmm_bic(x, GMM_K_MAX)
    n_true = len(np.unique(true))
    row = {"dataset": dataset, "layout": layout, "n_patients": len(true),
           "n_controls": int((~cohort.is_patient).sum()), "true_k": n_true, **fit_summary(result, patients),
           "gmm_k": gmm_k, "ari_gmm": adjusted_rand_score(true, gmm_labels),
           "gmm_tied_k": tied_k, "ari_gmm_tied": adjusted_rand_score(true, tied_labels),
           "gmm_full_k": full_k, "ari_gmm_full": adjusted_rand_score(true, full_labels),
           "lowrank_k": lowrank_k, "lowrank_rank": lowrank_rank,
           "ari_lowrank": adjusted_rand_score(true, lowrank_labels),
           "ari_lda": adjusted_rand_score(true, lda_cv_labels(x, true)) if n_true > 1 else None, "wall_s": wall}
    return {c: row[c] for c in COLUMNS}


def layouts_of(dataset: str) -> list[str]:
    return ["per_biomarker", *DATASETS[dataset][0]()[2], "one_module"]


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__, (0,))
    p.add_argument("--datasets", nargs="+", choices=list(DATASETS), help="data sets (default: all three)")
    p.add_argument("--model", default="default", help="model spec name or path (default: default)")
    args = p.parse_args(argv)
    names = args.datasets or (["iris"] if args.quick else list(DATASETS))
    rows = []
    for name in names:
        for layout in layouts_of(name)[:1] if args.quick else layouts_of(name):
            print(f"fitting {name}, {layout} ...", file=sys.stderr, flush=True)
            rows.append(run_one(name, layout, args.quick, args.seeds[0], args.model))
    sampler = "quick: 100 + 100 sweeps x 2 chains" if args.quick else "the spec's sampler settings"
    print(f"## Real measurement data: model '{args.model}' ({sampler})\n")
    print(markdown_table(rows, COLUMNS))
    print()
    print(f"K correct in {count(rows, lambda r: r['k_mode'] == r['true_k'])}, "
          f"ARI ≥ GMM-BIC in {count(rows, lambda r: r['ari'] >= r['ari_gmm'])}, "
          f"converged in {count(rows, lambda r: r['converged'])}")
    print("K correct by the baselines: " + ", ".join(
        f"{name} {count(rows, lambda r: r[column] == r['true_k'])}"
        for name, column in (("diagonal GMM", "gmm_k"), ("shared full covariance", "gmm_tied_k"),
                             ("full covariance per group", "gmm_full_k"), ("shared low-rank", "lowrank_k"))))
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
