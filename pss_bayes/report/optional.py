"""The report's optional sections: model comparison, sensitivity analysis, classifier panel."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pss_bayes.report import figures
from pss_bayes.report.html import Section, figure, fmt_number, key_values, paragraph, table
from pss_bayes.report.inputs import CalibrationCurve, Classifier, Comparison, Sensitivity
from pss_bayes.report.markdown import markdown_html

_OK_STATUS = {"ok", "done", "converged", "pass", "passed", "success"}


def _elpd_figure(frame: pd.DataFrame) -> Figure:
    """ELPD (LOO) of each model with its standard error; higher is better."""
    models = figures.short_labels(frame["model"].astype(str).tolist())
    labels = [m + (f" (K={int(k)})" if "k" in frame and pd.notna(k) else "")
              for m, k in zip(models, frame["k"] if "k" in frame else [None] * len(frame))]
    y = np.arange(len(frame))[::-1]
    fig, ax = plt.subplots(figsize=(figures.WIDTH * 0.6, 0.45 * len(frame) + 1.2), layout="constrained")
    se = frame["se"].to_numpy(dtype=float) if "se" in frame else np.zeros(len(frame))
    ax.errorbar(frame["elpd_loo"].to_numpy(dtype=float), y, xerr=se, fmt="o", color="#1f4e79", capsize=3)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=9)
    ax.set_xlabel("expected log predictive density (PSIS-LOO), higher is better")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def comparison_section(comparison: Comparison) -> Section:
    """The comparison table and text, with an ELPD plot when the table has LOO values."""
    frame = comparison.table
    body = ""
    if comparison.text:
        body += markdown_html(comparison.text)
    if "elpd_loo" in frame and frame["elpd_loo"].notna().any():
        shown = frame[frame["elpd_loo"].notna()]
        body += figure(figures.png_uri(_elpd_figure(shown)), "ELPD of each compared model",
                       "Out-of-sample predictive accuracy of each model (PSIS-LOO ± standard error).",
                       "fig-comparison")
    if not _has_table(comparison.text):        # comparison.md already holds the models table
        body += table(frame, scroll=len(frame) > 15)
    return Section("comparison", "Model comparison", body)


def _has_table(markdown: str | None) -> bool:
    return bool(markdown) and any(line.lstrip().startswith("|---") or line.lstrip().startswith("| ---")
                                  for line in markdown.splitlines())


def _stability_figure(frame: pd.DataFrame) -> Figure:
    """Adjusted Rand index of each variant's partition against the reference fit."""
    status = frame["status"].astype(str) if "status" in frame else pd.Series(["ok"] * len(frame))
    variants = figures.short_labels(frame["variant"].astype(str).tolist())
    labels = [v if s.lower() in _OK_STATUS else f"{v} [{s}]" for v, s in zip(variants, status)]
    colours = ["#1f4e79" if s.lower() in _OK_STATUS else "#d62728" for s in status]
    y = np.arange(len(frame))[::-1]
    fig, ax = plt.subplots(figsize=(figures.WIDTH * 0.6, 0.4 * len(frame) + 1.2), layout="constrained")
    ax.barh(y, frame["ari_vs_reference"].to_numpy(dtype=float), color=colours)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=9)
    ax.set_xlim(0, 1.02)
    ax.axvline(1, color="#444", linestyle="--", linewidth=0.8)
    ax.set_xlabel("agreement with the reference (adjusted Rand index)")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def sensitivity_section(sensitivity: Sensitivity) -> Section:
    """The sensitivity summary, a stability plot (when ARIs are given) and the stability table."""
    frame = sensitivity.table
    body = markdown_html(sensitivity.text) if sensitivity.text else ""
    if "ari_vs_reference" in frame and frame["ari_vs_reference"].notna().any():
        body += figure(figures.png_uri(_stability_figure(frame)), "Stability of the subgroups across variants",
                       "How far each variant's subgroups agree with the reference fit (1 = the same partition); "
                       "variants that did not run cleanly are red and tagged with their status.", "fig-sensitivity")
    body += table(frame, scroll=len(frame) > 15)
    return Section("sensitivity", "Sensitivity analysis", body)


def calibration_figure(curves: tuple[CalibrationCurve, ...]) -> Figure:
    """Reliability diagram: observed frequency against predicted probability, one line per curve."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color="#888", linestyle="--", linewidth=0.8, label="perfect calibration")
    for i, curve in enumerate(curves):
        colour = figures.subgroup_colour(int(curve.label)) if curve.label.isdigit() else plt.get_cmap("tab10")(i)
        name = f"subgroup {curve.label}" if curve.label.isdigit() else curve.label
        ax.plot(curve.predicted, curve.observed, marker="o", color=colour, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def classifier_section(classifier: Classifier, modules: Mapping[str, str]) -> Section:
    """The classifier's panel (with the modules of its biomarkers), scalar facts, panel curve and
    calibration plot."""
    body = paragraph(f"Classifier file: {classifier.source}")
    if classifier.panel:
        panel = pd.DataFrame({"biomarker": list(classifier.panel),
                              "module": [modules.get(b, "not in this fit") for b in classifier.panel]})
        body += (f"<h3>Panel: {len(classifier.panel)} biomarkers to measure in new patients</h3>"
                 + table(panel))
    else:
        body += paragraph("The classifier file lists no biomarker panel.")
    if classifier.facts:
        body += "<h3>Classifier facts</h3>" + key_values(
            (k, fmt_number(v, 3)) for k, v in classifier.facts.items())
    if classifier.panel_curve is not None:
        body += ("<h3>What a smaller panel costs</h3>"
                 + paragraph("Cross-validated agreement with the full model's most probable subgroup when the "
                             "panel holds the first 'size' biomarkers (each row adds the one named; 'all' uses "
                             "every biomarker of the fit)."
                             + (" An empty cell: no patient had every biomarker of that row measured, so the row "
                                "could not be judged (nothing is imputed for a patient being predicted)."
                                if classifier.panel_curve["agreement"].isna().any() else ""))
                 + table(classifier.panel_curve, headers={"added": "biomarker added"}))
    if classifier.curves:
        body += "<h3>Calibration</h3>" + figure(
            figures.png_uri(calibration_figure(classifier.curves)), "Calibration plot of the classifier",
            "Reliability diagram: among patients given a predicted probability p, how often the prediction was "
            "right. Points on the dashed line are perfectly calibrated.", "fig-calibration")
    if classifier.calibration_unreadable:
        body += ('<p class="note">Some calibration data in the file are in a form the report cannot read '
                 "and are not shown.</p>")
    return Section("classifier", "Classifier for new patients", body)
