"""The whole pipeline on the embedded simulated cohort: simulate, validate, fit, compare numbers of
subgroups, classify new patients, sensitivity analysis, report."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from pss_bayes.classify import SubgroupClassifier
from pss_bayes.classify.predictions import predict_file, prediction_summary
from pss_bayes.compare import compare
from pss_bayes.data.io import load_cohort
from pss_bayes.data.simulate import FLOAT_FORMAT, SimulatedCohort, simulate_cohort
from pss_bayes.fit_dir import write_fit_dir
from pss_bayes.inference import fit
from pss_bayes.posterior.text import CONFIDENT
from pss_bayes.report import write_report
from pss_bayes.result import FitResult
from pss_bayes.sensitivity import run_sensitivity

#: Numbers of subgroups the demo fits with a fixed K and compares.
DEMO_K = range(1, 7)
#: Sampler settings of each comparison fit: shorter than a spec's defaults, long enough to rank K.
COMPARE_SAMPLER = {"draws": 300, "tune": 300, "chains": 2}
#: Draws on which the comparison evaluates the Student-t models' pointwise likelihood.
COMPARE_LOO_DRAWS = 300
#: Shipped sensitivity grid of the demo (four variants with short chains).
DEMO_GRID = "sensitivity_demo"
#: New patients simulated from the cohort's population for the classifier.
N_NEW_PATIENTS = 20


def three_line_summary(result: FitResult, true_k: int | None = None) -> list[str]:
    """Number of subgroups, membership certainty and convergence, one line each.

    Parameters
    ----------
    result
        The fit.
    true_k
        The true number of subgroups, for a simulated cohort.

    Returns
    -------
    list of str
        Three lines starting ``Subgroups:``, ``Patients:`` and ``Diagnostics:``.
    """
    k_table = result.n_subgroups()
    mode = k_table.loc[k_table["probability"].idxmax()]
    truth = f"; the simulation has {true_k} true subgroups" if true_k is not None else ""
    members = result.membership()
    sure = int((members["p_max"] >= CONFIDENT).sum())
    diag = result.diagnostics()
    if diag.converged:
        status = (f"converged (max R-hat {diag.max_rhat:.3f}, min bulk ESS {diag.min_ess_bulk:.0f}, "
                  "chains agree).")
    else:
        status = f"NOT converged ({len(diag.warnings)} failed checks; see the banner in the report)."
    return [f"Subgroups: K = {int(mode.k)} (posterior probability {mode.probability:.2f}){truth}.",
            f"Patients: {sure} of {len(members)} confidently assigned (p >= {CONFIDENT:g}), "
            f"{len(members) - sure} uncertain.",
            f"Diagnostics: {status}"]


def _classify(sim: SimulatedCohort, result: FitResult, folder: Path, seed: int,
              say: Callable[..., None]) -> Path | None:
    """Simulate new patients, train a classifier from the fit and predict them.

    Returns the classifier file, or ``None`` when the fit has a single subgroup.
    """
    say(f"[bold]5. Classifying new patients[/bold]: {N_NEW_PATIENTS} further simulated patients of the same "
        "population, a classifier trained on the fit's memberships")
    folder.mkdir(parents=True, exist_ok=True)
    table, truth = sim.new_patients(N_NEW_PATIENTS, seed=sim.seed + 1)
    new_file = folder / "new_patients.csv"
    table.to_csv(new_file, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    truth.to_csv(folder / "new_patients_truth.csv", index=False, lineterminator="\n")
    if result.k < 2:
        say("Classifier: not trained; the fit has a single subgroup, so there is nothing to tell apart.")
        return None
    classifier = SubgroupClassifier(random_state=seed).fit(result)
    model_file = classifier.save(folder / "model.json")
    calibration = classifier.calibration_
    say(f"Panel ({len(classifier.panel_)} biomarkers): {', '.join(classifier.panel_)}; calibration error on "
        f"{calibration['n_heldout']} held-out patients {calibration['ece']:.3f}", highlight=False)
    predictions = predict_file(classifier, new_file, folder / "predictions.csv")
    say(f"New patients: {prediction_summary(predictions)}", highlight=False)
    say(f"[bold]Files:[/bold] {folder}/ (new_patients.csv, new_patients_truth.csv, model.json, predictions.csv)")
    return model_file


def run_demo(out: str | Path, seed: int = 0, quiet: bool = False, console: Console | None = None, *,
             preset: str = "default", draws: int | None = None, tune: int | None = None,
             chains: int | None = None, n_jobs: int | None = None) -> Path:
    """Run the whole analysis on a simulated cohort and write every output under ``out``.

    Steps and folders: the simulated cohort (``cohort/``); its validation; the
    fit with the spec's sampler settings (``fit/``); fixed-K fits for K = 1..6
    compared with the sparse mixture by PSIS-LOO, with short chains
    (``comparison/``); a classifier trained from the fit and applied to
    :data:`N_NEW_PATIENTS` new simulated patients (``classify/``:
    ``new_patients.csv``, ``new_patients_truth.csv``, ``model.json``,
    ``predictions.csv``); the shipped ``sensitivity_demo`` grid
    (``sensitivity/``); and ``report.html`` with every section. Prints progress
    throughout and ends with the report's path and a three-line summary.

    Parameters
    ----------
    out
        Folder for every output (a ``sensitivity/`` folder already there is replaced).
    seed
        Seed of the simulation, the fits, the classifier and the grid (the new
        patients use ``seed + 1``).
    quiet
        Print nothing.
    console
        Where to print (default: the terminal).
    preset
        Simulation preset (``"tiny"`` and short chains give a run of seconds).
    draws, tune, chains
        Override the sampler settings of every fit: the main fit's (default:
        the spec's), the comparison's (default: :data:`COMPARE_SAMPLER`) and the
        sensitivity grid's.
    n_jobs
        Processes for the main fit's chains, the comparison's fits and the
        grid's variants (default: the number of cores).

    Returns
    -------
    Path
        The report.
    """
    console = console or Console()
    out = Path(out)
    say = (lambda *a, **k: None) if quiet else console.print
    command = ["pss-bayes", "demo", "--out", str(out), "--seed", str(seed)]
    sampler = {"draws": draws, "tune": tune, "chains": chains}

    sim = simulate_cohort(preset=preset, seed=seed)
    sim.write(out / "cohort")
    say(f"[bold]1. Simulated cohort[/bold] (SIMULATED data with known truth) written to {out / 'cohort'}/")
    cohort_file = out / "cohort" / "cohort.csv"
    cohort = load_cohort(cohort_file, markers=out / "cohort" / "markers.csv",
                         covariates=("age", "sex"), batch="centre")
    say("[bold]2. Validated:[/bold]")
    say(str(cohort.summary()), highlight=False)

    say("[bold]3. Fitting the control-referenced Bayesian mixture[/bold] (number of subgroups inferred)")
    result = fit(cohort, "default", seed=seed, n_jobs=n_jobs, progress=not quiet, **sampler)
    fit_dir = out / "fit"
    write_fit_dir(result, fit_dir, command=command)
    say(result.summary(), highlight=False)
    say(f"[bold]Files:[/bold] {fit_dir}/ (membership.csv, n_subgroups.csv, effects.csv, "
        "module_effects.csv, patient_spread.csv, diagnostics.json, posterior.nc, run.json)")

    comparison_dir = out / "comparison"
    say(f"[bold]4. Comparing numbers of subgroups[/bold]: fixed K = {DEMO_K.start}..{DEMO_K.stop - 1} and the "
        "sparse mixture, by PSIS-LOO, stacking, BIC and ICL (shorter chains)")
    short = {key: COMPARE_SAMPLER[key] if value is None else value for key, value in sampler.items()}
    comparison = compare(cohort, DEMO_K, seed=seed, folds=0, loo_draws=COMPARE_LOO_DRAWS,
                         n_jobs=n_jobs, cache_dir=comparison_dir, progress=not quiet, **short)
    comparison.write(comparison_dir, command=command)
    say(comparison.verdict.split("\n\n")[0].replace("**", ""), highlight=False, markup=False)
    say(f"[bold]Files:[/bold] {comparison_dir}/ (comparison.csv, k_summary.csv, comparison.md, comparison.png, "
        "fits/)")

    model_file = _classify(sim, result, out / "classify", seed, say)

    sensitivity_dir = out / "sensitivity"
    say(f"[bold]6. Sensitivity analysis[/bold]: grid '{DEMO_GRID}' (another likelihood, no co-variation, "
        "without the interferon module, another seed; shorter chains)")
    shutil.rmtree(sensitivity_dir, ignore_errors=True)
    sensitivity = run_sensitivity(cohort, sensitivity_dir, DEMO_GRID, seed=seed, n_jobs=n_jobs,
                                  progress=not quiet, **sampler)
    verdict = sensitivity.summary.split("## Verdict\n", 1)[1].split("\n## ", 1)[0]
    say(verdict.replace("**", "").replace("`", "").strip(), highlight=False, markup=False)
    say(f"[bold]Files:[/bold] {sensitivity_dir}/ (stability.csv, patients_stability.csv, psens.csv, summary.md, "
        "figures, variants/)")

    say("[bold]7. Writing the report[/bold]")
    report = write_report(result, out / "report.html", source=str(cohort_file),
                          note=f"SIMULATED cohort with known truth ({sim.n_subgroups} subgroups).",
                          comparison=comparison_dir, sensitivity=sensitivity_dir, classifier=model_file,
                          progress=lambda name: say(f"  drawing {name}", highlight=False))
    say(f"[bold]Report:[/bold] {report}", highlight=False, soft_wrap=True)
    for line in three_line_summary(result, sim.n_subgroups):
        say(line, highlight=False, soft_wrap=True)
    return report
