"""A fit directory of the shared tiny fit, small synthetic inputs of the optional sections, and
the report rendered from them through the command line."""

import json

import pandas as pd
import pytest

from pss_bayes.cli import main
from pss_bayes.fit_dir import write_fit_dir


@pytest.fixture(scope="session")
def fit_dir(tmp_path_factory, tiny_fit):
    """The shared tiny fit written as a fit directory."""
    folder = tmp_path_factory.mktemp("report_fit")
    write_fit_dir(tiny_fit, folder, command=["pss-bayes", "fit"])
    return folder


@pytest.fixture(scope="session")
def comparison_dir(tmp_path_factory):
    """A folder shaped like the output of `pss-bayes compare`."""
    folder = tmp_path_factory.mktemp("comparison")
    pd.DataFrame({
        "model": ["default", "default", "diagonal"], "k": [3, 2, 3],
        "elpd_loo": [-1520.4, -1561.0, -1549.9], "se": [30.1, 31.4, 29.8], "elpd_diff": [0.0, 40.6, 29.5],
        "dse": [0.0, 9.2, 7.7], "p_loo": [85.2, 61.0, 70.3], "n_pareto_k_bad": [0, 1, 0],
        "stacking_weight": [0.93, 0.0, 0.07], "pseudo_bma_weight": [0.98, 0.0, 0.02],
        "bic": [3301.2, 3350.7, 3342.0], "icl": [3320.5, 3362.1, 3360.2], "method": ["loo"] * 3,
    }).to_csv(folder / "comparison.csv", index=False)
    (folder / "comparison.md").write_text(
        "# Model comparison\n\nThe **default** model with K = 3 predicts best.\n\n"
        "- stacking gives it weight 0.93\n- one Pareto k above 0.7 for K = 2\n")
    return folder


@pytest.fixture(scope="session")
def sensitivity_dir(tmp_path_factory):
    """A folder shaped like the output of `pss-bayes sensitivity`."""
    folder = tmp_path_factory.mktemp("sensitivity")
    pd.DataFrame({
        "variant": ["reference", "normal likelihood", "e0 prior x10", "no covariates"],
        "status": ["ok", "ok", "ok", "not converged"], "k_mode": [3, 3, 4, 3],
        "ari_vs_reference": [1.0, 0.91, 0.72, 0.55], "n_changed": [0, 2, 6, 9],
        "max_membership_change": [0.0, 0.21, 0.48, 0.66],
    }).to_csv(folder / "stability.csv", index=False)
    (folder / "summary.md").write_text("Subgroups are **stable** under 2 of 3 variants.\n")
    return folder


@pytest.fixture(scope="session")
def classifier_file(tmp_path_factory):
    """A classifier file with the generic keys the report reads (and others it ignores)."""
    path = tmp_path_factory.mktemp("classifier") / "model.json"
    path.write_text(json.dumps({
        "format": "pss_bayes.classifier", "version": 1, "accuracy": 0.912,
        "panel": ["IFI27", "interferon_01", "anti_SSA_Ro"],
        "calibration": {"1": {"predicted": [0.1, 0.5, 0.9], "observed": [0.12, 0.46, 0.93], "count": [10, 8, 12]},
                        "2": {"mean_predicted": [0.2, 0.6], "fraction_positive": [0.15, 0.66]}},
        "coefficients": [[0.1, 0.2]],
    }))
    return path


@pytest.fixture(scope="session")
def full_report(tmp_path_factory, fit_dir, comparison_dir, sensitivity_dir, classifier_file):
    """The report with every optional section, written by `pss-bayes report`."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    main(["report", str(fit_dir), "--comparison", str(comparison_dir), "--sensitivity", str(sensitivity_dir),
          "--classifier", str(classifier_file), "--out", str(out), "--quiet"])
    return out
