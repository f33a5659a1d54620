"""Report sections and figures from hand-made tables and diagnostics (no sampler)."""

import numpy as np
import pandas as pd
import pytest

from pss_bayes.posterior.diagnostics import Diagnostics
from pss_bayes.report import figures, sections


def _diagnostics(converged: bool) -> Diagnostics:
    if converged:
        return Diagnostics(converged=True, max_rhat=1.003, min_ess_bulk=812.0, divergences=0, chains_agree=True)
    return Diagnostics(converged=False, max_rhat=1.2, min_ess_bulk=35.0, divergences=0, chains_agree=False,
                       warnings=["R-hat reaches 1.200 (at weight[1]).", "Chains disagree on the number of subgroups."])


def _members() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.3, 0.3], size=12)
    frame = pd.DataFrame({"subject_id": [f"P{i:02d}" for i in range(12)], "subgroup": probs.argmax(1) + 1,
                          "p_max": probs.max(1), "entropy": 0.0})
    for s in (1, 2):
        frame[f"p_{s}"] = probs[:, s - 1]
        frame[f"p_{s}_lo"] = probs[:, s - 1] * 0.8
        frame[f"p_{s}_hi"] = np.minimum(probs[:, s - 1] * 1.2, 1)
    return frame


def _effects() -> pd.DataFrame:
    rows = []
    for s, shift in ((1, 2.0), (2, -0.1)):
        for name, module, scale in (("IFI27", "interferon", "control SD"), ("IFI44L", "interferon", "control SD"),
                                    ("CXCL10", "inflammation", "control SD"), ("anti_SSA", "autoab", "log-odds")):
            rows.append({"subgroup": s, "biomarker": name, "module": module, "scale": scale, "mean": shift,
                         "hdi_lo": shift - 0.5, "hdi_hi": shift + 0.5})
    return pd.DataFrame(rows)


def test_banner_for_a_model_warning_on_a_converged_fit():
    diag = Diagnostics(converged=True, max_rhat=1.003, min_ess_bulk=812.0, divergences=0, chains_agree=True,
                       model_warnings=["The posterior puts 90% of its mass on 10 subgroups."])
    loud = sections.banner(diag)
    assert "may not describe these data" in loud and "90% of its mass" in loud and "did NOT" not in loud


def test_banner_only_when_not_converged():
    assert sections.banner(_diagnostics(True)) == ""
    loud = sections.banner(_diagnostics(False))
    assert "did NOT converge" in loud and "Chains disagree" in loud and 'role="alert"' in loud


@pytest.mark.parametrize("converged", [True, False])
def test_diagnostics_in_plain_words(converged):
    section = sections.diagnostics_section(_diagnostics(converged), {"chains": 4, "draws": 1000, "seed": 3,
                                                                     "timings": {"sampling_seconds": 12.3}})
    body = section.body
    if converged:
        assert "passed every convergence check" in body and "FAIL" not in body
    else:
        assert "did NOT pass" in body and body.count(">FAIL<") == 3 and "What went wrong" in body
    assert "Sampling time" in body and "12 s" in body and "continued" not in body


def test_continued_chains_are_reported():
    run_info = {"draws": 3000, "continued": [{"after_draws": 1000, "warnings": []},
                                             {"after_draws": 2000, "warnings": []}]}
    body = sections.diagnostics_section(_diagnostics(False), run_info).body
    assert "Chains continued" in body and "2 time(s)" in body and "after 1000, 2000 draws" in body


def test_number_of_subgroups_by_chain_is_tabled():
    diag = Diagnostics(converged=False, max_rhat=1.03, min_ess_bulk=150.0, divergences=0, chains_agree=True,
                       k_by_chain={"2": [0.9, 0.6], "3": [0.1, 0.4]}, k_probability_mcse={"2": 0.071, "3": 0.071})
    body = sections.diagnostics_section(diag, {}).body
    assert "Number of subgroups in each chain" in body
    assert "<th>chain</th><th>K = 2</th><th>K = 3</th>" in body
    assert '<tr><td>chain 2</td><td class="num">0.60</td><td class="num">0.40</td></tr>' in body
    assert '<td>all chains</td><td class="num">0.75</td><td class="num">0.25</td>' in body
    assert "<tr><td>Monte Carlo standard error</td><td>0.071</td><td>0.071</td></tr>" in body
    one_k = Diagnostics(converged=True, max_rhat=1.0, min_ess_bulk=900.0, divergences=0, chains_agree=True,
                        k_by_chain={"4": [1.0, 1.0]}, k_probability_mcse={"4": 0.0})
    assert "Number of subgroups in each chain" not in sections.diagnostics_section(one_k, {}).body
    unknown = Diagnostics(converged=False, max_rhat=float("nan"), min_ess_bulk=float("nan"), divergences=0,
                          chains_agree=True, k_by_chain={"2": [1.0, 0.5], "3": [0.0, 0.5]},
                          k_probability_mcse={"2": float("nan"), "3": float("nan")})
    assert "<td>Monte Carlo standard error</td><td>n/a</td><td>n/a</td>" in sections.diagnostics_section(unknown, {}).body


def test_membership_counts_and_order():
    members = _members()
    counts = sections.membership_counts(members, 2, confident=0.8)
    assert counts["patients"].tolist()[-1] == 12
    assert (counts["confident"] + counts["uncertain"] == counts["patients"]).all()
    assert counts.iloc[-1]["confident"] == int((members["p_max"] >= 0.8).sum())
    unsure = sections.least_certain(members, 2, confident=0.8)
    assert len(unsure) == counts.iloc[-1]["uncertain"] and unsure["probability"].is_monotonic_increasing
    assert (unsure["runner-up"] != unsure["most probable"]).all()
    assert np.allclose(unsure["probability"] + unsure["its probability"], 1)
    ordered = figures.membership_order(members)
    assert ordered["subgroup"].is_monotonic_increasing
    for _, block in ordered.groupby("subgroup"):
        assert block["p_max"].is_monotonic_decreasing


def test_figures_from_tables():
    effects = _effects()
    forest = figures.forest(effects, "biomarker")
    assert len(forest.axes) == 2
    labels = [t.get_text() for t in forest.axes[0].get_yticklabels()]
    assert labels == ["IFI27", "IFI44L", "CXCL10", "anti_SSA (log-odds)"]
    heatmap = figures.signature(effects)
    dots = heatmap.axes[0].collections[0].get_offsets()
    assert len(dots) == 4                                   # only subgroup 1's HDIs exclude 0
    membership = figures.membership(_members(), 2, 0.8)
    uri = figures.png_uri(membership)
    assert uri.startswith("data:image/png;base64,")
    for fig in (forest, heatmap):
        figures.png_uri(fig)


def test_comparison_table_shown_once():
    from pss_bayes.report.inputs import Comparison
    from pss_bayes.report.optional import comparison_section

    frame = pd.DataFrame({"model": ["default_k2", "default_k1"], "k": [2, 1], "elpd_loo": [-10.0, -20.0]})
    with_table = "## Verdict\n\nK = 2.\n\n## Models\n\n| model | k |\n|---|---|\n| default_k2 | 2 |\n"
    once = comparison_section(Comparison(frame, with_table)).body
    assert once.count("<table") == 1
    without = comparison_section(Comparison(frame, "## Verdict\n\nK = 2.\n")).body
    assert without.count("<table") == 1 and "default_k1" in without
