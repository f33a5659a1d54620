"""The demo pipeline, shrunk to the tiny preset and short chains."""

import io

from rich.console import Console

from pss_bayes.demo import run_demo, three_line_summary


def test_demo_ends_with_report_path_and_three_lines(tmp_path):
    buffer = io.StringIO()
    report = run_demo(tmp_path / "demo", seed=2, console=Console(file=buffer, width=100), preset="tiny",
                      draws=40, tune=40, chains=2)
    assert report == tmp_path / "demo" / "report.html" and report.is_file()
    assert "SIMULATED cohort with known truth" in report.read_text()
    assert (tmp_path / "demo" / "fit" / "membership.csv").is_file()
    lines = buffer.getvalue().rstrip("\n").splitlines()
    assert "1. Simulated cohort" in buffer.getvalue() and "drawing membership figure" in buffer.getvalue()
    assert lines[-4] == f"Report: {report}"
    assert [line.split(":")[0] for line in lines[-3:]] == ["Subgroups", "Patients", "Diagnostics"]


def test_three_line_summary(tiny_fit):
    lines = three_line_summary(tiny_fit, true_k=3)
    assert len(lines) == 3 and "the simulation has 3 true subgroups" in lines[0]
    assert f"of {tiny_fit.cohort.n_patients} confidently assigned" in lines[1]
    assert ("NOT converged" in lines[2]) == (not tiny_fit.diagnostics().converged)
