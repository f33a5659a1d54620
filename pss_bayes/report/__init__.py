"""Figures and the self-contained HTML report."""

from pss_bayes.report.build import build_report, report_from_fit_dir, write_report

__all__ = ["build_report", "report_from_fit_dir", "write_report"]
