"""The report's sections about one fit: cohort, number of subgroups, memberships, effects, diagnostics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pss_bayes.data.summary import CohortSummary
from pss_bayes.posterior.diagnostics import MAX_RHAT, MIN_ESS, Diagnostics
from pss_bayes.posterior.text import CONFIDENT
from pss_bayes.report import figures
from pss_bayes.report.html import Section, bullet_list, esc, figure, key_values, paragraph, table

if TYPE_CHECKING:
    from pss_bayes.result import FitResult

#: Uncertain patients listed by name in the report (the rest are counted).
LISTED_UNCERTAIN = 15


def _pct(fraction: float) -> str:
    return "n/a" if pd.isna(fraction) else f"{fraction:.1%}"


def cohort_section(summary: CohortSummary, source: str | None = None) -> Section:
    """Who was fitted: groups, biomarkers, modules, covariates, batch, missingness, warnings.

    ``source`` names where the cohort came from (default: the summary's own source).
    """
    patient, control = summary.group_labels
    miss = summary.missingness
    facts = [
        ("Source", source or summary.source or "in memory"),
        ("Subjects", f"{summary.n_subjects}: {summary.n_patients} patients ('{patient}'), "
                     f"{summary.n_controls} healthy controls ('{control}')"),
        ("Biomarkers", f"{summary.n_biomarkers} ({summary.kinds.get('continuous', 0)} continuous, "
                       f"{summary.kinds.get('binary', 0)} binary)"),
        ("Modules", ", ".join(f"{m} ({n})" for m, n in summary.modules)),
        ("Covariates", ", ".join(f"{n} ({k})" for n, k in summary.covariates) or "none"),
        ("Batch", summary.batch_name or "none"),
    ]
    if len(miss):
        facts.append(("Missing values", f"{_pct(miss['missing_patients'].mean())} of patient values, "
                                        f"{_pct(miss['missing_controls'].mean())} of control values "
                                        "(skipped by the model, never imputed)"))
    if summary.ignored_columns:
        facts.append(("Ignored columns", ", ".join(summary.ignored_columns)))
    if summary.dropped_subjects:
        facts.append(("Dropped subjects", f"{len(summary.dropped_subjects)} (missing covariates)"))
    body = key_values(facts)
    if len(summary.positivity):
        body += "<h3>Binary markers: positive among those measured</h3>"
        body += table(summary.positivity[["biomarker", "positive_patients", "positive_controls"]],
                      formats={"positive_patients": _pct, "positive_controls": _pct},
                      headers={"positive_patients": "patients", "positive_controls": "controls"})
    if summary.warnings:
        body += "<h3>Worth knowing about these data</h3>" + bullet_list(summary.warnings)
    return Section("cohort", "Cohort", body)


def k_section(result: "FitResult") -> Section:
    """The posterior over the number of subgroups, in a figure and a sentence."""
    k_table = result.n_subgroups()
    mode = k_table.loc[k_table["probability"].idxmax()]
    uri = figures.png_uri(figures.k_posterior(k_table, result.k))
    error = result.diagnostics().k_probability_mcse.get(str(int(mode.k)), 0.0)
    known = f", Monte Carlo standard error {error:.2f}" if np.isfinite(error) and error >= 0.005 else ""
    text = (f"The most probable number of patient subgroups is {int(mode.k)} "
            f"(posterior probability {mode.probability:.2f}{known}). ")
    if len(k_table) > 1:
        text += (f"Memberships and effects below are conditional on K = {result.k}; the other values of K "
                 "keep the rest of the probability.")
    else:
        text += f"Every posterior draw had K = {result.k} non-empty subgroups."
    body = paragraph(text) + figure(uri, "Bar chart of the posterior probability of each number of subgroups",
                                    f"Posterior probability of each number of non-empty subgroups; the "
                                    f"reported K = {result.k} is dark.", "fig-k")
    return Section("subgroups", "How many subgroups?", body)


def membership_counts(members: pd.DataFrame, k: int, confident: float = CONFIDENT) -> pd.DataFrame:
    """Per most probable subgroup (and in total): patients, confidently assigned, uncertain."""
    rows = []
    for s in range(1, k + 1):
        mine = members[members["subgroup"] == s]
        sure = int((mine["p_max"] >= confident).sum())
        rows.append({"subgroup": str(s), "patients": len(mine), "confident": sure, "uncertain": len(mine) - sure})
    sure = int((members["p_max"] >= confident).sum())
    rows.append({"subgroup": "all", "patients": len(members), "confident": sure, "uncertain": len(members) - sure})
    return pd.DataFrame(rows)


def least_certain(members: pd.DataFrame, k: int, confident: float = CONFIDENT) -> pd.DataFrame:
    """Uncertain patients, least certain first, with their two most probable subgroups."""
    uncertain = members[members["p_max"] < confident].sort_values("p_max", kind="stable")
    probs = uncertain[[f"p_{s}" for s in range(1, k + 1)]].to_numpy()
    runner_up = np.argsort(probs, axis=1, kind="stable")[:, -2] if k > 1 else np.zeros(len(probs), int)
    return pd.DataFrame({"patient": uncertain["subject_id"].to_numpy(),
                         "most probable": uncertain["subgroup"].to_numpy(),
                         "probability": uncertain["p_max"].to_numpy(), "runner-up": runner_up + 1,
                         "its probability": probs[np.arange(len(probs)), runner_up]})


def membership_section(result: "FitResult", confident: float = CONFIDENT) -> Section:
    """The membership figure, counts of confident and uncertain patients, and the least certain ones."""
    members = result.membership()
    counts = membership_counts(members, result.k, confident)
    total = counts.iloc[-1]
    uri = figures.png_uri(figures.membership(members, result.k, confident))
    body = paragraph(f"{total.confident} of {total.patients} patients are confidently assigned (probability of "
                     f"their most probable subgroup at least {confident:g}); {total.uncertain} are uncertain "
                     "and should not be given a single subgroup label.")
    body += figure(uri, "Membership probabilities of every patient for every subgroup",
                   "Top: each column is one patient, coloured by the probability of each subgroup. Bottom: the "
                   "probability of the most probable subgroup with its 94% interval; red crosses are uncertain "
                   f"patients (below the dashed line at {confident:g}).", "fig-membership")
    body += table(counts, headers={"confident": f"confident (≥ {confident:g})",
                                   "uncertain": f"uncertain (< {confident:g})"})
    uncertain = least_certain(members, result.k, confident)
    if len(uncertain):
        body += "<h3>Least certain patients</h3>" + table(uncertain.head(LISTED_UNCERTAIN))
        if len(uncertain) > LISTED_UNCERTAIN:
            body += paragraph(f"… and {len(uncertain) - LISTED_UNCERTAIN} more (see membership.csv).")
    return Section("membership", "Patients' subgroup memberships", body)


def effects_section(result: "FitResult") -> Section:
    """Forest plots of module and biomarker effects, and the subgroup signature heatmap."""
    modules, effects = result.module_effects(), result.effects()
    body = paragraph("Each subgroup is compared with the healthy controls. Continuous biomarkers are on the "
                     "control-referenced scale: +1 means one control standard deviation above the controls' "
                     "typical value. Binary markers (e.g. autoantibodies) are on the log-odds scale. An interval "
                     "that does not cross the dashed zero line is a clear difference from controls.")
    body += "<h3>Module effects</h3>" + figure(
        figures.png_uri(figures.forest(modules, "module")), "Forest plot of module effects per subgroup",
        "Subgroup × module effect against controls: posterior mean and 94% highest-density interval.",
        "fig-module-forest")
    body += "<h3>Subgroup signatures</h3>" + figure(
        figures.png_uri(figures.signature(effects)), "Heatmap of biomarker effects per subgroup",
        "Posterior mean effect of each biomarker in each subgroup (red above controls, blue below; colours "
        f"clipped at ±{figures.HEATMAP_LIMIT:g}). A dot marks a 94% HDI that excludes 0. * binary marker "
        "(log-odds).", "fig-signature")
    body += "<h3>Biomarker effects</h3>" + figure(
        figures.png_uri(figures.forest(effects, "biomarker")), "Forest plot of biomarker effects per subgroup",
        "Biomarker effects against controls (posterior mean, 94% HDI), grouped by module (shaded blocks).",
        "fig-biomarker-forest")
    spread = result.patient_spread()
    if len(spread):
        shown = spread.assign(**{c: spread[c].round(2) for c in ("mean", "sd", "hdi_lo", "hdi_hi")},
                              p_above_controls=spread["p_above_controls"].round(3))
        body += "<h3>Patients' spread</h3>" + paragraph(
            "Within a subgroup, how widely patients vary compared with healthy controls, per module: the ratio "
            "of the patients' standard deviation to the controls' (1: as spread as controls; above 1: more "
            "heterogeneous). The model estimates it so that a broader spread is not mistaken for extra "
            "subgroups. Subgroup 'all': the ratio the subgroups share or, when each subgroup has its own "
            "(listed by number), the typical one they are pooled towards. Table: patient_spread.csv.")
        body += table(shown)
    return Section("effects", "How subgroups differ from controls", body)


def _check(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def diagnostics_section(diag: Diagnostics, run_info: dict) -> Section:
    """The convergence checks in plain words, and the sampler settings."""
    if diag.converged:
        intro = ("The sampler passed every convergence check: its chains explored the same answer, so the "
                 "numbers in this report can be read at face value.")
    else:
        intro = ("The sampler did NOT pass its convergence checks: the chains did not settle on one answer, "
                 "so subgroups, memberships and effects in this report may be wrong. Rerun the fit with more "
                 "draws and warm-up (for example --draws 2000 --tune 2000) before using them.")
    checks = pd.DataFrame([
        {"check": "Chains mixed (R-hat)", "result": f"worst {diag.max_rhat:.3f} (needs ≤ {MAX_RHAT})",
         "status": _check(diag.max_rhat <= MAX_RHAT),
         "meaning": "independent chains give the same answer"},
        {"check": "Enough information (bulk ESS)", "result": f"lowest {diag.min_ess_bulk:.0f} (needs ≥ {MIN_ESS})",
         "status": _check(diag.min_ess_bulk >= MIN_ESS),
         "meaning": "enough independent draws for stable estimates"},
        {"check": "Divergent transitions", "result": str(diag.divergences), "status": _check(diag.divergences == 0),
         "meaning": "the sampler explored the whole posterior"},
        {"check": "Chains agree on subgroups", "result": "yes" if diag.chains_agree else "no",
         "status": _check(diag.chains_agree),
         "meaning": "every chain found the same number of subgroups and memberships"},
    ])
    body = paragraph(intro) + _checks_table(checks) + _k_by_chain_table(diag)
    if diag.warnings:
        body += "<h3>What went wrong</h3>" + bullet_list(diag.warnings)
    if diag.model_warnings:
        body += "<h3>Does the model describe these data?</h3>" + bullet_list(diag.model_warnings)
    settings = [(label, run_info[key]) for key, label in (("chains", "Chains"), ("draws", "Draws per chain"),
                                                          ("tune", "Warm-up sweeps"), ("seed", "Seed"))
                if key in run_info]
    continued = run_info.get("continued") or []
    if continued:
        after = ", ".join(str(c["after_draws"]) for c in continued)
        settings.append(("Chains continued", f"{len(continued)} time(s): the checks had failed after {after} "
                                             "draws per chain"))
    seconds = run_info.get("timings", {}).get("sampling_seconds")
    if seconds is not None:
        settings.append(("Sampling time", f"{seconds:.0f} s"))
    if settings:
        body += "<h3>Sampler settings</h3>" + key_values(settings)
    return Section("diagnostics", "Can these results be trusted?", body)


def _k_by_chain_table(diag: Diagnostics) -> str:
    """Each chain's share of draws at each number of subgroups, with the pooled probability and its
    Monte Carlo error (empty when every draw has the same number)."""
    if len(diag.k_by_chain) < 2:
        return ""
    n_chains = len(next(iter(diag.k_by_chain.values())))
    errors = {v: diag.k_probability_mcse.get(v, float("nan")) for v in diag.k_by_chain}
    frame = pd.DataFrame({"chain": [f"chain {c + 1}" for c in range(n_chains)]
                          + ["all chains", "Monte Carlo standard error"],
                          **{f"K = {v}": [*shares, float(np.mean(shares)),
                                          f"{errors[v]:.3f}" if np.isfinite(errors[v]) else "n/a"]
                             for v, shares in diag.k_by_chain.items()}})
    return ("<h3>Number of subgroups in each chain</h3>"
            + paragraph("Share of each chain's draws at each number of non-empty subgroups. Chains that "
                        "disagree here have not explored the posterior over K equally; the Monte Carlo "
                        "standard error says how far the pooled probability may be from the one more "
                        "draws would give.")
            + table(frame))


def _checks_table(checks: pd.DataFrame) -> str:
    rows = "".join(f"<tr><td>{esc(r.check)}</td><td>{esc(r.result)}</td>"
                   f"<td class=\"{'pass' if r.status == 'pass' else 'fail'}\">{esc(r.status)}</td>"
                   f"<td>{esc(r.meaning)}</td></tr>" for r in checks.itertuples(index=False))
    return ("<table><thead><tr><th>check</th><th>result</th><th>status</th><th>what it means</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def banner(diag: Diagnostics) -> str:
    """A loud warning for the top of the page when the fit did not converge or the model does not
    describe the data (empty otherwise)."""
    out = ""
    if not diag.converged:
        out += ('<div class="banner" role="alert" id="not-converged"><strong>WARNING: this fit did NOT '
                "converge.</strong>Its subgroups, memberships and effects may be wrong; do not use them for "
                'decisions until the fit is rerun with more draws (see <a href="#diagnostics">diagnostics</a>).'
                + bullet_list(diag.warnings) + "</div>")
    if diag.model_warnings:
        out += ('<div class="banner" role="alert" id="model-warning"><strong>WARNING: the model may not '
                "describe these data.</strong>" + bullet_list(diag.model_warnings) + "</div>")
    return out
