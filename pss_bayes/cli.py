"""The ``pss-bayes`` command line.

Each subcommand is a thin wrapper over the library: it parses options, calls the
public function and prints a short summary. User errors (:class:`PssBayesError`)
are printed as one clear message and exit with status 2, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from pss_bayes.classify.commands import classify_app
from pss_bayes.errors import PssBayesError, ResultFileError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Bayesian subgroup discovery in primary Sjögren's syndrome.")
console = Console()
err_console = Console(stderr=True)
#: The command line of this invocation, recorded in the files a command writes.
_invocation: list[str] = ["pss-bayes"]


def _split(option: Optional[str]) -> tuple[str, ...]:
    if not option:
        return ()
    return tuple(part.strip() for part in option.split(",") if part.strip())


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Folder to write cohort.csv, markers.csv, the truth tables, simulation.json and README.txt."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes identical files."),
    preset: str = typer.Option("default", help="Named scenario (see `pss_bayes.data.simulate.PRESETS`)."),
    n_patients: Optional[int] = typer.Option(None, help="Override the preset's number of patients."),
    n_controls: Optional[int] = typer.Option(None, help="Override the preset's number of controls."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing on success."),
) -> None:
    """Write a simulated pSS cohort with known subgroups (clearly marked as simulated)."""
    from pss_bayes.data.simulate import simulate_cohort

    overrides = {k: v for k, v in {"n_patients": n_patients, "n_controls": n_controls}.items() if v is not None}
    sim = simulate_cohort(preset=preset, seed=seed, **overrides)
    _check_loadable(sim.cohort.n_patients, sim.cohort.n_controls)
    paths = sim.write(out)
    if not quiet:
        console.print(f"Simulated cohort (preset '{preset}', seed {seed}): "
                      f"{sim.cohort.n_patients} patients, {sim.cohort.n_controls} controls, "
                      f"{len(sim.cohort.markers)} biomarkers, {sim.n_subgroups} true subgroups.",
                      markup=False, highlight=False)
        for path in paths:
            console.print(f"  wrote {path}", markup=False, highlight=False)


def _check_loadable(n_patients: int, n_controls: int) -> None:
    """Refuse to write a simulated cohort that loading would refuse (too few of a group)."""
    from pss_bayes.data.io import MIN_SUBJECTS_PER_GROUP
    from pss_bayes.errors import SimulationError

    for count, option, who in ((n_patients, "--n-patients", "patients"), (n_controls, "--n-controls", "controls")):
        if count < MIN_SUBJECTS_PER_GROUP:
            raise SimulationError(f"{option} {count}: a cohort needs at least {MIN_SUBJECTS_PER_GROUP} {who} to be "
                                  "validated and fitted, so this one is not written")


MARKERS_OPT = typer.Option(None, help="Markers file (CSV: biomarker, module, kind).")
COVARIATES_OPT = typer.Option(None, help="Comma-separated covariate columns, e.g. age,sex.")
BATCH_OPT = typer.Option(None, help="Batch / recruiting-centre column.")
PATIENT_OPT = typer.Option("pSS", help="Label of patients in the group column.")
CONTROL_OPT = typer.Option("control", help="Label of healthy controls in the group column.")
DROP_OPT = typer.Option(False, help="Drop (and report) subjects with missing covariates instead of failing.")


def _load(cohort: Path, markers: Optional[Path], covariates: Optional[str], batch: Optional[str],
          patient_label: str, control_label: str, drop_missing_covariates: bool):
    """Read and validate a cohort; data warnings are silenced because the summary lists them."""
    import warnings

    from pss_bayes.data.io import CohortWarning, load_cohort

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CohortWarning)
        return load_cohort(cohort, markers=markers, covariates=_split(covariates), batch=batch,
                           patient_label=patient_label, control_label=control_label,
                           drop_missing_covariates=drop_missing_covariates)


@app.command()
def validate(
    cohort: Path = typer.Argument(..., help="Cohort file (CSV, TSV or Parquet)."),
    markers: Optional[Path] = MARKERS_OPT,
    covariates: Optional[str] = COVARIATES_OPT,
    batch: Optional[str] = BATCH_OPT,
    patient_label: str = PATIENT_OPT,
    control_label: str = CONTROL_OPT,
    drop_missing_covariates: bool = DROP_OPT,
) -> None:
    """Check a cohort against the input contract and print its summary."""
    data = _load(cohort, markers, covariates, batch, patient_label, control_label, drop_missing_covariates)
    console.print(str(data.summary()), markup=False, highlight=False, soft_wrap=True)
    console.print("[green]The cohort is valid.[/green]")


@app.command()
def fit(
    cohort: Path = typer.Argument(..., help="Cohort file (CSV, TSV or Parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for the fit's files (created if missing)."),
    markers: Optional[Path] = MARKERS_OPT,
    covariates: Optional[str] = COVARIATES_OPT,
    batch: Optional[str] = BATCH_OPT,
    patient_label: str = PATIENT_OPT,
    control_label: str = CONTROL_OPT,
    drop_missing_covariates: bool = DROP_OPT,
    model: str = typer.Option("default", help="Shipped model spec name (see models/) or a path to a TOML spec."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same tables."),
    draws: Optional[int] = typer.Option(None, help="Draws per chain kept after warm-up (default: the spec's)."),
    tune: Optional[int] = typer.Option(None, help="Warm-up sweeps per chain (default: the spec's)."),
    chains: Optional[int] = typer.Option(None, help="Number of chains (default: the spec's)."),
    extensions: Optional[int] = typer.Option(None, help="When the convergence checks fail, continue every chain by --draws more draws, at most this many times (default: the spec's; 0: never)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Chains run in parallel (default: number of cores)."),
    k: Optional[int] = typer.Option(None, "--k", help="Report subgroups conditional on this K instead of the posterior mode."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 3 when the fit does not converge."),
    quiet: bool = typer.Option(False, "--quiet", help="Silence progress output."),
) -> None:
    """Fit the control-referenced Bayesian mixture and write its tables and posterior."""
    from pss_bayes.fit_dir import write_fit_dir
    from pss_bayes.inference import fit as fit_model
    from pss_bayes.model.spec import load_spec

    if out.exists() and not out.is_dir():
        raise ResultFileError(f"--out '{out}' is a file; give a folder for the fit's files")
    spec = load_spec(model)
    data = _load(cohort, markers, covariates, batch, patient_label, control_label, drop_missing_covariates)
    for warning in data.summary().warnings:
        err_console.print(f"[bold yellow]Data warning:[/bold yellow] {escape(warning)}", highlight=False)
    result = fit_model(data, spec, seed=seed, draws=draws, tune=tune, chains=chains, extensions=extensions,
                       n_jobs=jobs, k=k, progress=not quiet)
    write_fit_dir(result, out, command=_invocation)
    diag = result.diagnostics()
    if "k_note" in result.run_info:
        err_console.print(f"[bold red]WARNING:[/bold red] {escape(result.run_info['k_note'])}", highlight=False)
    if not quiet:
        console.print(result.summary(), markup=False, highlight=False)
        console.print(f"Files written to {out}/", markup=False, highlight=False)
    if not diag.converged:
        err_console.print("[bold red]WARNING: the fit did not pass its convergence checks[/bold red] "
                          f"(see {escape(str(out))}/diagnostics.json):", highlight=False)
        for warning in diag.warnings:
            err_console.print(f"  - {warning}", markup=False, highlight=False)
    for warning in diag.model_warnings:
        err_console.print(f"[bold red]WARNING:[/bold red] {escape(warning)}", highlight=False)
    if strict and not diag.converged:
        sys.exit(3)


def _k_values(text: str) -> list[int]:
    """Parse ``--k``: a range ``1-6``, a list ``1,2,4``, a mix, or ``none``."""
    from pss_bayes.errors import SpecError

    values: list[int] = []
    for part in _split(None if text.strip().lower() == "none" else text):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError as exc:
            raise SpecError(f"--k '{text}': expected a range like 1-6, a list like 1,2,4, or none") from exc
        if last < first:
            raise SpecError(f"--k '{text}': the range {part} is empty; write it from the smaller K, e.g. {last}-{first}")
        values += list(range(first, last + 1))
    return values


@app.command("compare")
def compare_models(
    cohort: Path = typer.Argument(..., help="Cohort file (CSV, TSV or Parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for comparison.csv, k_summary.csv, comparison.md, comparison.png and fits/."),
    markers: Optional[Path] = MARKERS_OPT,
    covariates: Optional[str] = COVARIATES_OPT,
    batch: Optional[str] = BATCH_OPT,
    patient_label: str = PATIENT_OPT,
    control_label: str = CONTROL_OPT,
    drop_missing_covariates: bool = DROP_OPT,
    k: str = typer.Option("1-6", "--k", help="Fixed numbers of subgroups to fit: a range 1-6, a list 1,2,4, or none."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="A model variant to compare (repeatable): shipped spec name or TOML path."),
    base: str = typer.Option("default", help="Model whose number of subgroups is in question (fixed-K fits and sparse mixture)."),
    seed: int = typer.Option(0, help="Random seed of every fit, the folds and the weights' bootstrap."),
    draws: Optional[int] = typer.Option(None, help="Draws per chain kept after warm-up (default: each spec's)."),
    tune: Optional[int] = typer.Option(None, help="Warm-up sweeps per chain (default: each spec's)."),
    chains: Optional[int] = typer.Option(None, help="Chains per fit (default: each spec's)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Fits run in parallel (default: number of cores)."),
    folds: int = typer.Option(10, help="Folds of the K-fold CV that replaces unreliable PSIS-LOO (0: never)."),
    max_bad_pareto: int = typer.Option(5, help="PSIS-LOO is replaced for models with more subjects than this with Pareto k > 0.7."),
    loo_draws: int = typer.Option(1000, help="Draws on which recomputed pointwise terms are evaluated (Student-t fits, held-out subjects)."),
    quiet: bool = typer.Option(False, "--quiet", help="Silence progress output."),
) -> None:
    """Compare numbers of subgroups and model variants (PSIS-LOO, stacking, K posterior, BIC/ICL)."""
    from pss_bayes.compare import compare

    data = _load(cohort, markers, covariates, batch, patient_label, control_label, drop_missing_covariates)
    result = compare(data, [*_k_values(k), *(model or [])], base=base, seed=seed, draws=draws, tune=tune,
                     chains=chains, n_jobs=jobs, folds=folds, max_bad_pareto=max_bad_pareto, loo_draws=loo_draws,
                     cache_dir=out, progress=not quiet)
    result.write(out, command=_invocation)
    if not quiet:
        console.print(result.verdict.replace("**", ""), highlight=False, markup=False)
        console.print(f"Files written to {out}/", markup=False, highlight=False)


@app.command()
def sensitivity(
    cohort: Path = typer.Argument(..., help="Cohort file (CSV, TSV or Parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for every variant's fit, the tables, summary.md and figures."),
    markers: Optional[Path] = MARKERS_OPT,
    covariates: Optional[str] = COVARIATES_OPT,
    batch: Optional[str] = BATCH_OPT,
    patient_label: str = PATIENT_OPT,
    control_label: str = CONTROL_OPT,
    drop_missing_covariates: bool = DROP_OPT,
    grid: str = typer.Option("sensitivity", "--grid", help="Grid TOML file (e.g. models/sensitivity.toml) or a shipped grid name."),
    model: Optional[str] = typer.Option(None, help="Reference model spec name or path (default: the grid's)."),
    seed: Optional[int] = typer.Option(None, help="Grid seed (default: the grid's); each fit's seed derives from it and the variant's name."),
    draws: Optional[int] = typer.Option(None, help="Draws per chain of every fit (default: the grid's, else the model's)."),
    tune: Optional[int] = typer.Option(None, help="Warm-up sweeps per chain of every fit."),
    chains: Optional[int] = typer.Option(None, help="Chains of every fit."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Variants fitted in parallel with joblib (default: number of cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786): fit the variants on that cluster."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed or failed run in --out: finished variants are kept."),
    quiet: bool = typer.Option(False, "--quiet", help="Silence progress output."),
) -> None:
    """Refit the cohort under a grid of variants and report how stable the subgroups are."""
    from pss_bayes.sensitivity import run_sensitivity

    data = _load(cohort, markers, covariates, batch, patient_label, control_label, drop_missing_covariates)
    result = run_sensitivity(data, out, grid, model=model, seed=seed, draws=draws, tune=tune, chains=chains,
                             n_jobs=jobs, scheduler=scheduler, resume=resume, progress=not quiet)
    if not quiet:
        console.print(result.summary, markup=False, highlight=False, soft_wrap=True)
        console.print(f"Files written to {out}/", markup=False, highlight=False)
    failed = result.stability.query("status == 'failed'")["variant"].tolist()
    if failed:
        err_console.print(f"[bold red]WARNING:[/bold red] {len(failed)} variant(s) failed: "
                          + escape(f"{', '.join(failed)} (the reason of each in {out}/variants/NAME/ERROR.txt; "
                                   "--resume retries them, which helps only where the reason was transient)"),
                          highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_output"), "--out", help="Folder for every output of the demo."),
    seed: int = typer.Option(0, help="Random seed."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Processes for chains, compared fits and sensitivity variants (default: number of cores)."),
    quiet: bool = typer.Option(False, "--quiet", help="Silence progress output."),
) -> None:
    """Run the whole pipeline on the embedded simulated cohort (a few minutes on 2 cores).

    Simulates the cohort, validates and fits it, compares fixed K = 1..6 with the
    sparse mixture, trains a classifier and assigns 20 new simulated patients,
    runs a small sensitivity grid, and writes in --out: cohort/, fit/,
    comparison/, classify/ (new_patients.csv, model.json, predictions.csv),
    sensitivity/ and report.html with every section. Ends with the report's path
    and three lines: number of subgroups, confidently assigned patients,
    convergence.
    """
    from pss_bayes.demo import run_demo

    run_demo(out, seed=seed, quiet=quiet, console=console, n_jobs=jobs)


@app.command()
def report(
    fit_dir: Path = typer.Argument(..., help="Fit directory written by `pss-bayes fit`."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (self-contained; opens offline)."),
    comparison: Optional[Path] = typer.Option(None, help="Folder written by `pss-bayes compare`."),
    sensitivity: Optional[Path] = typer.Option(None, help="Folder written by `pss-bayes sensitivity`."),
    classifier: Optional[Path] = typer.Option(None, help="Classifier file written by `pss-bayes classify train`."),
    quiet: bool = typer.Option(False, "--quiet", help="Silence progress output."),
) -> None:
    """Write a self-contained HTML report of a fit for clinicians."""
    from pss_bayes.report import report_from_fit_dir

    say = (lambda name: None) if quiet else (lambda name: console.print(f"  drawing {name}", highlight=False))
    path = report_from_fit_dir(fit_dir, out, comparison=comparison, sensitivity=sensitivity,
                               classifier=classifier, progress=say)
    if not quiet:
        console.print(f"Report written to {path}", highlight=False, soft_wrap=True)


app.add_typer(classify_app, name="classify")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the ``pss-bayes`` console script.

    Usage errors are reported by the command-line parser (exit status 2); a
    :class:`PssBayesError` is printed as one message (exit status 2); success
    returns normally so that the function can be called from Python.
    """
    _invocation[:] = ["pss-bayes", *(sys.argv[1:] if argv is None else argv)]
    try:
        app(args=argv, prog_name="pss-bayes")
    except PssBayesError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


if __name__ == "__main__":  # pragma: no cover
    main()
