"""The main job on the embedded simulated cohort: simulate, validate, fit, summarise."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from pss_bayes.data.io import load_cohort
from pss_bayes.data.simulate import simulate_cohort
from pss_bayes.fit_dir import write_fit_dir
from pss_bayes.inference import fit


def run_demo(out: str | Path, seed: int = 0, quiet: bool = False, console: Console | None = None) -> Path:
    """Simulate the default cohort into ``out/cohort``, fit it into ``out/fit``, print a summary.

    Returns the fit directory.
    """
    console = console or Console()
    out = Path(out)
    say = (lambda *a, **k: None) if quiet else console.print
    sim = simulate_cohort(preset="default", seed=seed)
    sim.write(out / "cohort")
    say(f"[bold]1. Simulated cohort[/bold] (SIMULATED data with known truth) written to {out / 'cohort'}/")
    cohort = load_cohort(out / "cohort" / "cohort.csv", markers=out / "cohort" / "markers.csv",
                         covariates=("age", "sex"), batch="centre")
    say("[bold]2. Validated:[/bold]")
    say(str(cohort.summary()), highlight=False)
    say("[bold]3. Fitting the control-referenced Bayesian mixture[/bold] (number of subgroups inferred)")
    result = fit(cohort, "default", seed=seed, progress=not quiet)
    fit_dir = out / "fit"
    write_fit_dir(result, fit_dir, command=["pss-bayes", "demo", "--out", str(out), "--seed", str(seed)])
    say(result.summary(), highlight=False)
    say(f"True number of subgroups in this simulated cohort: {sim.n_subgroups}")
    say(f"[bold]Files:[/bold] {fit_dir}/ (membership.csv, n_subgroups.csv, effects.csv, "
        "module_effects.csv, diagnostics.json, posterior.nc, run.json)")
    return fit_dir
