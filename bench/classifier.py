"""Panel classifier vs scikit-learn baselines on held-out patients of simulated cohorts.

For each seed a PRECISESADS-like cohort (preset ``default``: 304 patients, 330
controls; ``--presets`` chooses others) is simulated with 100 extra healthy
controls, and the mixture is fitted to the cohort without the extra controls. The fit's patients are split
into five folds; for each fold, ``SubgroupClassifier()`` (default settings) is
trained on the other four folds with ``fit(result, patients=...)`` and predicts
the fold. Logistic regression and a random forest (scikit-learn defaults, 500
trees) are trained on the same patients' most probable subgroups, with every
biomarker (control-scaled, missing values imputed with 0, as in the other
benchmarks), and predict the same patients.

Every held-out patient is compared with its true subgroup (fitted subgroups
matched to the true ones by the Hungarian algorithm on all patients) and with
the full model's most probable subgroup. ``lr_panel`` is logistic regression on
hard labels with the classifier's own panel, to separate what the panel costs
from what soft labels and calibration bring. The classifier refuses missing panel
values, so held-out patients with one are left out of every method's scores
(``n_test`` counts those kept). The OOD flag is measured on held-out patients,
on the 100 controls the fit never saw, and on held-out patients shifted by 4
control SDs on every continuous panel marker (random signs).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QUICK_SAMPLER, expected_calibration_error, markdown_table, parser, write_csv  # noqa: E402

from pss_bayes import FitResult, SubgroupClassifier, fit, simulate_cohort  # noqa: E402
from pss_bayes.classify import INDETERMINATE  # noqa: E402
from pss_bayes.classify.splits import stratified_folds  # noqa: E402
from pss_bayes.data.simulate import PRESETS, SimulatedCohort  # noqa: E402

EXTRA_CONTROLS = 100
N_FOLDS = 5
SHIFT_SD = 4.0
PANEL_COLUMNS = ["preset", "seed", "k_fit", "panel", "n_test", "acc_decided", "agree_decided", "indeterminate",
                 "coverage_truth", "coverage_model", "min_fold_coverage", "ood_patients", "ood_controls",
                 "ood_shifted"]
METHODS = ("panel", "lr", "rf", "lr_panel")
COMPARISON_COLUMNS = ["preset", "seed", *(f"{m}_{x}" for x in ("acc", "agree", "ece", "log_loss") for m in METHODS)]


def simulate(seed: int, preset: str = "default") -> tuple[SimulatedCohort, np.ndarray]:
    """The cohort with extra controls, and which subjects the mixture is fitted to."""
    sim = simulate_cohort(preset=preset, seed=seed, n_controls=PRESETS[preset].n_controls + EXTRA_CONTROLS)
    cohort = sim.cohort
    extra = set(cohort.subject_ids[~cohort.is_patient][-EXTRA_CONTROLS:])
    return sim, np.array([s not in extra for s in cohort.subject_ids])


def truth_map(fitted: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Fitted subgroup -> matched true subgroup (-1 when unmatched)."""
    f_levels, t_levels = np.unique(fitted), np.unique(truth)
    confusion = np.array([[np.sum((fitted == f) & (truth == t)) for t in t_levels] for f in f_levels])
    rows, cols = linear_sum_assignment(-confusion)
    mapping = {int(f): -1 for f in f_levels}
    mapping.update({int(f_levels[r]): int(t_levels[c]) for r, c in zip(rows, cols)})
    return mapping


def baseline_proba(model: Any, x: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                   classes: np.ndarray) -> np.ndarray:
    """A scikit-learn classifier trained on hard labels; probabilities over all ``classes``."""
    model.fit(x[train], labels[train])
    out = np.zeros((len(test), len(classes)))
    out[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(x[test])
    return out


def evaluate(sim: SimulatedCohort, result: FitResult, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cross-fitted comparison on one fitted cohort: per-patient outcomes and per-fold coverage rows."""
    membership = result.membership()
    ids = membership["subject_id"].to_numpy()
    model_label = membership["subgroup"].to_numpy()
    truth = sim.truth.set_index("subject_id").loc[ids, "subgroup"].to_numpy()
    to_truth = truth_map(model_label, truth)
    raw = sim.cohort.biomarker_frame()
    x_all = np.nan_to_num(result.scaling.transform(raw.loc[ids].to_numpy(), sim.cohort.biomarker_names))
    folds = stratified_folds(model_label, N_FOLDS, np.random.default_rng(seed))
    kept: dict[str, Any] = {k: [] for k in (*METHODS, "hit", "model", "label", "ood", "shifted", "sets")}
    rows = []
    for f in range(N_FOLDS):
        train = np.flatnonzero(folds != f)
        clf = SubgroupClassifier(random_state=seed * 100 + f).fit(result, patients=list(ids[train]))
        frame = raw.loc[ids[folds == f], list(clf.panel_)]
        complete = frame.notna().all(axis=1).to_numpy()
        test, frame = np.flatnonzero(folds == f)[complete], frame[complete]
        table = clf.predict_table(frame)
        hit = np.array([to_truth[int(c)] for c in clf.classes_])[None, :] == truth[test, None]
        sets = np.stack([np.isin(clf.classes_.astype(str), s.split("|")) for s in table["prediction_set"]])
        kept["panel"].append(table[[f"p_{c}" for c in clf.classes_]].to_numpy())
        kept["lr"].append(baseline_proba(LogisticRegression(max_iter=5000), x_all, model_label, train, test,
                                         clf.classes_))
        kept["rf"].append(baseline_proba(RandomForestClassifier(n_estimators=500, random_state=seed), x_all,
                                         model_label, train, test, clf.classes_))
        columns = [sim.cohort.biomarker_names.index(b) for b in clf.panel_]
        kept["lr_panel"].append(baseline_proba(LogisticRegression(max_iter=5000), x_all[:, columns], model_label,
                                               train, test, clf.classes_))
        kept["hit"].append(hit)
        kept["model"].append(np.searchsorted(clf.classes_, model_label[test]))
        kept["label"].append(table["subgroup"].to_numpy())
        kept["ood"].append(table["ood"].to_numpy())
        kept["sets"].append(sets)
        signs = np.random.default_rng(seed * 100 + f).choice([-1.0, 1.0], size=frame.shape)
        shift = SHIFT_SD * np.asarray(clf.scaling_.scale) * signs * ~clf.panel_is_binary_
        kept["shifted"].append(clf.is_ood(frame + shift))
        rows.append({"seed": seed, "fold": f, "panel": len(clf.panel_), "n_test": len(test),
                     "coverage_truth": float((sets & hit).any(1).mean())})
    new_controls = raw.loc[sim.cohort.subject_ids[~sim.cohort.is_patient][-EXTRA_CONTROLS:], list(clf.panel_)]
    outcome = {key: np.concatenate(value) for key, value in kept.items()}
    outcome.update(classes=clf.classes_, controls=clf.is_ood(new_controls.dropna()), k_fit=result.k,
                   panel_size=len(clf.panel_), min_fold_coverage=min(r["coverage_truth"] for r in rows))
    return outcome, rows


def per_patient(outcome: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per held-out patient quantities of one cohort, so that cohorts with different K can be pooled."""
    hit, model = outcome["hit"], outcome["model"]
    rows = np.arange(len(model))
    out = {"decided": outcome["label"] != INDETERMINATE, "ood": outcome["ood"], "shifted": outcome["shifted"],
           "controls": outcome["controls"], "covered_truth": (outcome["sets"] & hit).any(1),
           "covered_model": outcome["sets"][rows, model]}
    for name in METHODS:
        proba = outcome[name]
        top = proba.argmax(1)
        out[f"{name}_correct"] = hit[rows, top]
        out[f"{name}_agree"] = top == model
        out[f"{name}_p_max"] = proba.max(1)
        out[f"{name}_p_true"] = (proba * hit).sum(1)
    return out


def summarise(outcomes: list[dict[str, Any]], seed: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The panel classifier's row and the comparison row for one seed (or pooled over seeds)."""
    parts = [per_patient(o) for o in outcomes]
    pool = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    decided = pool["decided"]
    comparison: dict[str, Any] = {"seed": seed}
    for name in METHODS:
        correct = pool[f"{name}_correct"]
        comparison[f"{name}_acc"] = float(correct.mean())
        comparison[f"{name}_agree"] = float(pool[f"{name}_agree"].mean())
        comparison[f"{name}_ece"] = expected_calibration_error(pool[f"{name}_p_max"], correct)
        comparison[f"{name}_log_loss"] = float(-np.log(np.clip(pool[f"{name}_p_true"], 1e-15, 1)).mean())
    panel = {"seed": seed, "k_fit": "/".join(str(o["k_fit"]) for o in outcomes),
             "panel": max(o["panel_size"] for o in outcomes), "n_test": len(decided),
             "acc_decided": float(pool["panel_correct"][decided].mean()),
             "agree_decided": float(pool["panel_agree"][decided].mean()),
             "indeterminate": float(1 - decided.mean()),
             "coverage_truth": float(pool["covered_truth"].mean()),
             "coverage_model": float(pool["covered_model"].mean()),
             "min_fold_coverage": min(o["min_fold_coverage"] for o in outcomes),
             "ood_patients": float(pool["ood"].mean()), "ood_controls": float(pool["controls"].mean()),
             "ood_shifted": float(pool["shifted"].mean())}
    return panel, comparison


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser(__doc__, default_seeds=[0, 1, 2])
    cli.add_argument("--presets", nargs="+", default=["default"], choices=sorted(PRESETS),
                     help="simulation presets (default: default, the PRECISESADS-like cohort)")
    args = cli.parse_args(argv)
    seeds = args.seeds[:1] if args.quick else args.seeds
    panel_rows, comparison_rows = [], []
    for preset in args.presets:
        outcomes = []
        for seed in seeds:
            print(f"{preset}, seed {seed}: fitting the mixture", file=sys.stderr)
            sim, fitted = simulate(seed, preset)
            started = time.perf_counter()
            result = fit(sim.cohort.subset(fitted), "default", seed=seed, progress=False,
                         **(QUICK_SAMPLER if args.quick else {}))
            print(f"{preset}, seed {seed}: fitted in {time.perf_counter() - started:.0f} s; classifying",
                  file=sys.stderr)
            outcome, _ = evaluate(sim, result, seed)
            outcomes.append(outcome)
            for rows, row in zip((panel_rows, comparison_rows), summarise([outcome], seed)):
                rows.append({"preset": preset, **row})
        if len(outcomes) > 1:
            for rows, row in zip((panel_rows, comparison_rows), summarise(outcomes, "all")):
                rows.append({"preset": preset, **row})
    print(f"Panel classifier, default settings, held-out patients ({SubgroupClassifier().coverage:.0%} sets):\n")
    print(markdown_table(panel_rows, PANEL_COLUMNS))
    print("\nWithout abstention, against scikit-learn on every biomarker (truth: matched true subgroup):\n")
    print(markdown_table(comparison_rows, COMPARISON_COLUMNS))
    write_csv([{**p, **c} for p, c in zip(panel_rows, comparison_rows)], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
