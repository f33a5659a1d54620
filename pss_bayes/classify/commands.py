"""``pss-bayes classify train`` and ``pss-bayes classify predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pss_bayes.errors import ClassifierError

classify_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Train a small-panel classifier from a fit, and assign new patients with it.")
console = Console()
err_console = Console(stderr=True)


def _check_output_file(out: Path, example: str) -> None:
    """Refuse an ``--out`` that names a folder, before any work (``example``: a file name to suggest)."""
    if out.is_dir():
        raise ClassifierError(f"--out '{out}' is a folder; give the file to write, e.g. '{out / example}'")


@classify_app.command()
def train(
    fit_dir: Path = typer.Argument(..., help="Fit directory written by `pss-bayes fit --out DIR`."),
    out: Path = typer.Option(..., "--out", help="Classifier file to write (JSON)."),
    panel_size: Optional[int] = typer.Option(None, "--panel-size", help="Number of biomarkers to choose (default 10)."),
    panel: Optional[str] = typer.Option(None, "--panel", help="Comma-separated biomarkers to use instead of choosing."),
    coverage: float = typer.Option(0.9, "--coverage", help="Coverage of the conformal prediction sets."),
    class_conditional: bool = typer.Option(False, "--class-conditional", help="Coverage within each subgroup."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same file."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing on success."),
) -> None:
    """Train a classifier on a fit's posterior memberships and write it as JSON."""
    from pss_bayes.classify.model import SubgroupClassifier
    from pss_bayes.fit_dir import NOT_CONVERGED_FILE, load_fit_dir

    _check_output_file(out, "classifier.json")
    if panel_size is not None and panel:
        raise ClassifierError("give either --panel-size or --panel, not both")
    names = [part.strip() for part in panel.split(",") if part.strip()] if panel else None
    if panel is not None and not names:
        raise ClassifierError("--panel is empty; list biomarkers separated by commas, e.g. --panel IFI27,CXCL10")
    result = load_fit_dir(fit_dir)
    model = SubgroupClassifier(panel_size=10 if panel_size is None else panel_size, panel=names,
                               coverage=coverage, class_conditional=class_conditional, random_state=seed)
    model.fit(result)
    model.save(out)
    if (Path(fit_dir) / NOT_CONVERGED_FILE).exists():
        err_console.print(f"[bold red]WARNING:[/bold red] the fit in {fit_dir} did not pass its convergence "
                          "checks; the classifier inherits its uncertainty.", highlight=False)
    if quiet:
        return
    console.print(f"Panel ({len(model.panel_)} biomarkers): {', '.join(model.panel_)}", highlight=False)
    console.print("Agreement with the full model by panel size (cross-validated on training patients):",
                  highlight=False)
    console.print(model.panel_curve_.to_string(index=False, float_format="{:.3f}".format, na_rep="n/a"),
                  highlight=False, markup=False)
    if model.panel_curve_[["agreement", "log_loss"]].isna().any(axis=None):
        console.print("n/a: no patient has every biomarker of that row measured, so it cannot be judged (nothing is "
                      "imputed for a patient being predicted).", highlight=False)
    cal = model.calibration_
    console.print(f"Calibration on {cal['n_heldout']} held-out patients: temperature {model.temperature_:.2f}, "
                  f"ECE {cal['ece_uncalibrated']:.3f} before, {cal['ece']:.3f} after.", highlight=False)
    console.print(f"Prediction sets target {coverage:.0%} coverage"
                  f"{' within each subgroup' if class_conditional else ''}.", highlight=False)
    console.print(f"Classifier written to {out}", highlight=False)


@classify_app.command()
def predict(
    model_file: Path = typer.Argument(..., metavar="MODEL", help="Classifier file from `classify train`."),
    new: Path = typer.Argument(..., help="New patients (CSV, TSV or Parquet): subject_id and the panel's columns."),
    out: Path = typer.Option(..., "--out", help="Predictions file to write (CSV)."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing on success."),
) -> None:
    """Assign new patients to subgroups (or 'indeterminate'), with probabilities, sets and OOD flags."""
    from pss_bayes.classify.model import SubgroupClassifier
    from pss_bayes.classify.predictions import predict_file, prediction_summary

    _check_output_file(out, "predictions.csv")
    table = predict_file(SubgroupClassifier.load(model_file), new, out)
    if not quiet:
        console.print(prediction_summary(table), highlight=False)
        console.print(f"Predictions written to {out}", highlight=False)
