"""The verdict, Markdown and figure of a comparison, on hand-made tables."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from pss_bayes.compare import K_COLUMNS, TABLE_COLUMNS
from pss_bayes.comparison_report import (clarity, comparison_figure, comparison_markdown, k_choices,
                                         verdict_text)

SETTINGS = {"seed": 0, "folds": 10, "max_bad_pareto": 5}


def k_table(diff, dse, weights, bic=None, icl=None, posterior=None, methods=None):
    ks = np.arange(1, len(diff) + 1)
    bic = np.asarray(bic if bic is not None else -np.abs(ks - 3) * 10.0, dtype=float)
    posterior = np.asarray(posterior if posterior is not None else [0.0, 0.05, 0.9, 0.05, 0.0][:len(ks)])
    return pd.DataFrame({"k": ks, "elpd_loo": -1000.0 - np.asarray(diff), "se": 30.0, "elpd_diff": diff,
                         "dse": dse, "stacking_weight": weights, "bic": bic,
                         "icl": bic if icl is None else np.asarray(icl, dtype=float),
                         "method": methods or ["psis-loo"] * len(ks),
                         "prior": [0.6, 0.3, 0.08, 0.015, 0.005][:len(ks)], "posterior": posterior},
                        columns=list(K_COLUMNS))


def table(rows):
    defaults = {"role": "k_sweep", "family": "student_t", "covariation": True, "se": 30.0, "p_loo": 50.0,
                "n_pareto_k_bad": 0, "pareto_k_max": 0.4, "pseudo_bma_weight": 0.0, "bic": np.nan,
                "icl": np.nan, "method": "psis-loo", "converged": True}
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["elpd_loo"] = -1000.0 - frame["elpd_diff"]
    frame["k"] = frame["k"].astype("Int64")
    return frame.reindex(columns=list(TABLE_COLUMNS))


AGREE = k_table(diff=[80.0, 30.0, 0.0, 12.0, 15.0], dse=[9.0, 7.0, 0.0, 4.0, 5.0],
                weights=[0.0, 0.02, 0.9, 0.05, 0.03])
MODELS = table([{"model": "default_k3", "k": 3, "elpd_diff": 0.0, "dse": 0.0, "stacking_weight": 0.7},
                {"model": "default", "k": None, "role": "sparse", "elpd_diff": 0.5, "dse": 1.0,
                 "stacking_weight": 0.3},
                {"model": "normal", "k": None, "role": "variant", "family": "normal", "elpd_diff": 40.0,
                 "dse": 8.0, "stacking_weight": 0.0}])


@pytest.mark.parametrize("diff, dse, words", [(0.5, 1.0, "not distinguishable"), (1.5, 1.0, "weakly"),
                                              (3.0, 1.0, "clearly"), (9.0, 2.0, "decisively"),
                                              (1.0, 0.0, "no standard error")])
def test_clarity(diff, dse, words):
    assert words in clarity(diff, dse)


def test_all_criteria_agree():
    assert k_choices(AGREE) == {"loo_best": 3, "loo": 3, "stacking": 3, "bic": 3, "icl": 3, "posterior": 3}
    text = verdict_text(MODELS, AGREE, SETTINGS)
    assert text.startswith("**Preferred: K = 3.**")
    assert "next best, K = 4, is 12.0 ± 4.0 lower (3.0 SE): clearly worse" in text
    assert "All criteria agree on K = 3." in text
    assert "posterior over the number of non-empty subgroups has its mode at K = 3 (probability 0.90)" in text
    assert "favoured K = 1 (0.60), so the data moved it there" in text
    assert "`normal` is 40.0 ± 8.0 lower (5.0 SE), decisively worse" in text
    assert "`default` is 0.5 ± 1.0 lower (0.5 SE), within one standard error" in text


def test_one_standard_error_rule_prefers_the_smaller_k():
    ties = k_table(diff=[60.0, 25.0, 0.8, 0.0, 3.0], dse=[9.0, 6.0, 1.5, 0.0, 2.0],
                   weights=[0.0, 0.0, 0.45, 0.55, 0.0], posterior=[0, 0.1, 0.8, 0.1, 0])
    choice = k_choices(ties)
    assert choice["loo_best"] == 4 and choice["loo"] == 3 and choice["stacking"] == 4
    text = verdict_text(MODELS, ties, SETTINGS)
    assert text.startswith("**Preferred: K = 3 by PSIS-LOO, but the criteria disagree (see below).** "
                           "PSIS-LOO ranks K = 4 first, but K = 3 (0.8 ± 1.5 lower, 0.5 SE) is within one standard error")
    assert "one-standard-error rule" in text
    assert "Stacking of the fixed-K fits puts 55% on K = 4 and 45% on K = 3." in text
    assert "The criteria disagree:" in text and "stacking points to K = 4" in text


@pytest.mark.parametrize("posterior, words", [([0.6, 0.3, 0.1, 0, 0], "the data barely moved it"),
                                              ([0.9, 0.1, 0, 0, 0], "the data raised that probability to 0.90"),
                                              ([0.0, 0.1, 0.9, 0, 0], "so the data moved it there"),
                                              ([0.0, 0.0, 0.5, 0.45, 0.05], "(probability 0.50; K = 4 is close "
                                                                            "behind with 0.45)")])
def test_how_far_the_data_moved_the_k_posterior(posterior, words):
    frame = k_table(diff=[0.0, 5.0, 9.0, 12.0, 15.0], dse=[0.0, 2.0, 3.0, 4.0, 5.0],
                    weights=[0.9, 0.1, 0.0, 0.0, 0.0], posterior=posterior)
    assert words in verdict_text(MODELS, frame, SETTINGS)


def test_disagreement_with_bic_and_icl_is_stated():
    frame = k_table(diff=[80.0, 30.0, 0.0, 12.0, 15.0], dse=[9.0, 7.0, 0.0, 4.0, 5.0],
                    weights=[0.0, 0.02, 0.9, 0.05, 0.03], bic=[-50, -5, -10, -20, -30], icl=[-50, -5, -12, -25, -35])
    text = verdict_text(MODELS, frame, SETTINGS)
    assert "best BIC at K = 2 and best ICL at K = 2" in text
    assert ("The criteria disagree: PSIS-LOO, stacking and the K posterior point to K = 3; "
            "BIC (EM) and ICL (EM) point to K = 2.") in text


def test_larger_k_within_one_standard_error_is_not_preferred():
    frame = k_table(diff=[40.0, 0.0, 0.7, 1.0, 2.0], dse=[6.0, 0.0, 1.0, 2.0, 2.5],
                    weights=[0.0, 0.8, 0.2, 0.0, 0.0], posterior=[0.0, 0.95, 0.05, 0, 0], bic=[-50, -5, -10, -20, -30])
    text = verdict_text(MODELS, frame, SETTINGS)
    assert text.startswith("**Preferred: K = 2.**")
    assert "do not predict new subjects better" in text and "All criteria agree on K = 2." in text
    assert ("but K = 3 (0.7 ± 1.0 lower, 0.7 SE), K = 4 (1.0 ± 2.0 lower, 0.5 SE) and K = 5 (2.0 ± 2.5 lower, "
            "0.8 SE) are within") in text


def test_caveats_for_kfold_and_unconverged_rows():
    """One model's unreliable PSIS-LOO sent every model to the same folds: the verdict names it and the criterion."""
    rows = table([{"model": "default_k3", "k": 3, "elpd_diff": 0.0, "dse": 0.0, "stacking_weight": 1.0,
                   "method": "kfold", "n_pareto_k_bad": 20},
                  {"model": "normal", "k": None, "role": "variant", "elpd_diff": 5.0, "dse": 2.0,
                   "stacking_weight": 0.0, "method": "kfold", "n_pareto_k_bad": 2},
                  {"model": "default", "k": None, "role": "sparse", "elpd_diff": 6.0, "dse": 3.0,
                   "stacking_weight": 0.0, "method": "kfold", "converged": False}])
    text = verdict_text(rows, AGREE.assign(method="kfold"), {**SETTINGS, "folds": 10})
    assert ("PSIS-LOO was unreliable for `default_k3` (more than 5 subjects with Pareto k > 0.7), so every "
            "model's elpd comes from the same 10-fold cross-validation") in text
    assert "10-fold cross-validation ranks K = " in text and "PSIS-LOO ranks" not in text
    assert "`default` did not pass the convergence checks" in text


def test_caveat_for_unreliable_rows_kept_without_kfold():
    rows = table([{"model": "default_k3", "k": 3, "elpd_diff": 0.0, "dse": 0.0, "stacking_weight": 1.0},
                  {"model": "normal", "k": None, "role": "variant", "elpd_diff": 5.0, "dse": 2.0,
                   "stacking_weight": 0.0, "n_pareto_k_bad": 9}])
    text = verdict_text(rows, AGREE, {**SETTINGS, "folds": 0})
    assert "PSIS-LOO may be unreliable for `normal` (9 subjects with Pareto k > 0.7)" in text
    assert "PSIS-LOO ranks K = " in text


def test_markdown_and_figure():
    text = comparison_markdown(MODELS, AGREE, verdict_text(MODELS, AGREE, SETTINGS), SETTINGS)
    assert text.startswith("# Model comparison") and "| model | k | family |" in text
    assert "| default_k3 | 3 | student_t |" in text and "mclust" in text
    fig = comparison_figure(MODELS, AGREE)
    assert len(fig.axes) == 3
    plt.close(fig)
