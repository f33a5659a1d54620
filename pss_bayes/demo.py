"""The main job on the embedded simulated cohort: simulate, validate, fit, summarise, report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from pss_bayes.data.io import load_cohort
from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.fit_dir import write_fit_dir
from pss_bayes.inference import fit
from pss_bayes.posterior.text import CONFIDENT
from pss_bayes.report import write_report
from pss_bayes.result import FitResult


def three_line_summary(result: FitResult, true_k: int | None = None) -> list[str]:
    """Number of subgroups, membership certainty and convergence, one line each."""
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


def run_demo(out: str | Path, seed: int = 0, quiet: bool = False, console: Console | None = None, *,
             preset: str = "default", draws: int | None = None, tune: int | None = None,
             chains: int | None = None) -> Path:
    """Simulate a cohort into ``out/cohort``, fit it into ``out/fit``, write ``out/report.html``.

    Prints progress throughout and ends with the report's path and a
    three-line summary.

    Parameters
    ----------
    out
        Folder for every output.
    seed
        Seed of the simulation and the fit.
    quiet
        Print nothing.
    console
        Where to print (default: the terminal).
    preset
        Simulation preset (``"tiny"`` and short chains give a run of seconds).
    draws, tune, chains
        Override the model spec's sampler settings.

    Returns
    -------
    Path
        The report.
    """
    console = console or Console()
    out = Path(out)
    say = (lambda *a, **k: None) if quiet else console.print
    sim = simulate_cohort(preset=preset, seed=seed)
    sim.write(out / "cohort")
    say(f"[bold]1. Simulated cohort[/bold] (SIMULATED data with known truth) written to {out / 'cohort'}/")
    cohort_file = out / "cohort" / "cohort.csv"
    cohort = load_cohort(cohort_file, markers=out / "cohort" / "markers.csv",
                         covariates=("age", "sex"), batch="centre")
    say("[bold]2. Validated:[/bold]")
    say(str(cohort.summary()), highlight=False)
    say("[bold]3. Fitting the control-referenced Bayesian mixture[/bold] (number of subgroups inferred)")
    result = fit(cohort, "default", seed=seed, draws=draws, tune=tune, chains=chains, progress=not quiet)
    fit_dir = out / "fit"
    write_fit_dir(result, fit_dir, command=["pss-bayes", "demo", "--out", str(out), "--seed", str(seed)])
    say(result.summary(), highlight=False)
    say(f"[bold]Files:[/bold] {fit_dir}/ (membership.csv, n_subgroups.csv, effects.csv, "
        "module_effects.csv, diagnostics.json, posterior.nc, run.json)")
    say("[bold]4. Writing the report[/bold]")
    report = write_report(result, out / "report.html", source=str(cohort_file),
                          note=f"SIMULATED cohort with known truth ({sim.n_subgroups} subgroups).",
                          progress=lambda name: say(f"  drawing {name}", highlight=False))
    say(f"[bold]Report:[/bold] {report}", highlight=False, soft_wrap=True)
    for line in three_line_summary(result, sim.n_subgroups):
        say(line, highlight=False, soft_wrap=True)
    return report
