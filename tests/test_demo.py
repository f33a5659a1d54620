"""The demo pipeline, shrunk to the tiny preset and short chains (run once, shared with the report tests)."""

import re

import pandas as pd

from pss_bayes.classify import INDETERMINATE, SubgroupClassifier
from pss_bayes.demo import DEMO_K, N_NEW_PATIENTS, three_line_summary

STAGES = ("1. Simulated cohort", "2. Validated", "3. Fitting", "4. Comparing numbers of subgroups",
          "5. Classifying new patients", "6. Sensitivity analysis", "7. Writing the report")


def test_demo_ends_with_report_path_and_three_lines(quick_demo):
    report = quick_demo.report
    assert report == quick_demo.out / "report.html" and report.is_file()
    assert "SIMULATED cohort with known truth" in report.read_text()
    assert (quick_demo.out / "fit" / "membership.csv").is_file()
    printed = quick_demo.printed
    positions = [printed.find(stage) for stage in STAGES]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "drawing membership figure" in printed
    lines = printed.rstrip("\n").splitlines()
    assert lines[-4] == f"Report: {report}"
    assert [line.split(":")[0] for line in lines[-3:]] == ["Subgroups", "Patients", "Diagnostics"]


def test_demo_compares_numbers_of_subgroups(quick_demo):
    folder = quick_demo.out / "comparison"
    for name in ("comparison.csv", "k_summary.csv", "comparison.md", "comparison.png", "run.json"):
        assert (folder / name).is_file(), name
    table = pd.read_csv(folder / "comparison.csv")
    assert sorted(table["k"].dropna().astype(int)) == list(DEMO_K)
    assert table["role"].tolist().count("sparse") == 1 and table["elpd_loo"].notna().all()
    k_table = pd.read_csv(folder / "k_summary.csv")
    assert k_table.loc[k_table["k"].isin(DEMO_K), "elpd_loo"].notna().all()
    assert "Preferred: K = " in (folder / "comparison.md").read_text()
    assert len(list((folder / "fits").glob("*.nc"))) == len(DEMO_K) + 1
    assert "Preferred: K = " in quick_demo.printed


def test_demo_classifies_new_patients(quick_demo):
    folder = quick_demo.out / "classify"
    new = pd.read_csv(folder / "new_patients.csv")
    truth = pd.read_csv(folder / "new_patients_truth.csv")
    assert len(new) == N_NEW_PATIENTS and (new["group"] == "pSS").all()
    assert new["subject_id"].str.startswith("N").all() and truth["subject_id"].tolist() == new["subject_id"].tolist()
    model = SubgroupClassifier.load(folder / "model.json")
    predictions = pd.read_csv(folder / "predictions.csv", dtype={"subgroup": str})
    assert predictions["subject_id"].tolist() == new["subject_id"].tolist()
    assert set(predictions["subgroup"]) <= {str(c) for c in model.classes_} | {INDETERMINATE}
    assert set(predictions["ood"]) <= {True, False}
    line = next(line for line in quick_demo.printed.splitlines() if line.startswith("New patients:"))
    decided = (predictions["subgroup"] != INDETERMINATE).sum()
    counts = [int(n) for n in re.findall(r"\d+: (\d+)", line)]
    assert sum(counts) == decided and f"{N_NEW_PATIENTS - decided} indeterminate" in line
    assert f"({int(predictions['ood'].sum())} out of distribution)" in line


def test_demo_runs_the_small_sensitivity_grid(quick_demo):
    folder = quick_demo.out / "sensitivity"
    stability = pd.read_csv(folder / "stability.csv")
    assert stability["variant"].tolist() == ["reference", "normal", "no_covariation", "without_module_interferon",
                                             "another_seed"]
    assert (stability["status"] == "done").all()
    for name in ("summary.md", "patients_stability.csv", "psens.csv", "k_posterior.png"):
        assert (folder / name).is_file(), name
    assert "6. Sensitivity analysis" in quick_demo.printed and "stable" in quick_demo.printed


def test_demo_report_has_every_section(quick_demo):
    html = quick_demo.report.read_text()
    sections = re.findall(r'<section id="([^"]+)"', html)
    assert sections == ["cohort", "subgroups", "membership", "effects", "diagnostics", "comparison", "sensitivity",
                        "classifier"]
    for figure_id in ("fig-comparison", "fig-sensitivity"):
        assert f'<figure id="{figure_id}">' in html
    model = SubgroupClassifier.load(quick_demo.out / "classify" / "model.json")
    assert all(biomarker in html for biomarker in model.panel_)


def test_three_line_summary(tiny_fit):
    lines = three_line_summary(tiny_fit, true_k=3)
    assert len(lines) == 3 and "the simulation has 3 true subgroups" in lines[0]
    assert f"of {tiny_fit.cohort.n_patients} confidently assigned" in lines[1]
    assert ("NOT converged" in lines[2]) == (not tiny_fit.diagnostics().converged)


def test_demo_skips_the_classifier_for_a_single_subgroup(tmp_path):
    from types import SimpleNamespace

    from pss_bayes.data.simulate import simulate_cohort
    from pss_bayes.demo import _classify

    said = []
    sim = simulate_cohort(preset="tiny", seed=1)
    model = _classify(sim, SimpleNamespace(k=1), tmp_path, seed=0, say=lambda text, **_: said.append(text))
    assert model is None
    assert (tmp_path / "new_patients.csv").exists() and not (tmp_path / "model.json").exists()
    assert any("single subgroup" in line for line in said)
