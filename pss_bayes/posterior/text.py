"""Plain-language summary of a fit for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pss_bayes.result import FitResult

#: Membership probability above which a patient counts as confidently assigned.
CONFIDENT = 0.8


def summary_text(result: "FitResult", top: int = 3) -> str:
    """K posterior, membership certainty and the strongest module effects per subgroup."""
    lines = []
    k_table = result.n_subgroups()
    k_text = ", ".join(f"K={int(r.k)}: {r.probability:.2f}" for r in k_table.itertuples())
    diag = result.diagnostics()
    error = max((e for e in diag.k_probability_mcse.values() if e == e), default=0.0)
    if error >= 0.005:
        k_text += f" (Monte Carlo standard error up to {error:.2f})"
    lines.append(f"Posterior over the number of subgroups: {k_text}")
    lines.append(f"Subgroups reported: {result.k} (memberships are conditional on K={result.k})")
    if "k_note" in result.run_info:
        lines.append(f"Note: {result.run_info['k_note']}")
    members = result.membership()
    confident = int((members["p_max"] >= CONFIDENT).sum())
    lines.append(f"Patients: {len(members)}; confidently assigned (p_max >= {CONFIDENT}): {confident}; "
                 f"uncertain: {len(members) - confident}")
    sizes = members["subgroup"].value_counts().sort_index()
    lines.append("Most probable subgroup sizes: " + ", ".join(f"{k}: {n}" for k, n in sizes.items()))
    lines.append("Strongest module effects vs controls (control SDs unless marked; 94% HDI):")
    effects = result.module_effects()
    for subgroup, rows in effects.groupby("subgroup"):
        strongest = rows.reindex(rows["mean"].abs().sort_values(ascending=False).index).head(top)
        parts = [f"{r.module} {r.mean:+.1f} [{r.hdi_lo:+.1f}, {r.hdi_hi:+.1f}]"
                 + (f" {r.scale}" if r.scale != "control SD" else "") for r in strongest.itertuples()]
        lines.append(f"  subgroup {subgroup}: " + "; ".join(parts))
    spread = result.patient_spread()
    if len(spread):
        lines.append("Patients' within-subgroup SD / controls' SD (94% HDI):")
        by_subgroup = (spread["subgroup"] != "all").any()
        for subgroup, rows in spread.groupby("subgroup", sort=False):
            parts = [f"{r.module} {r.mean:.2f} [{r.hdi_lo:.2f}, {r.hdi_hi:.2f}]" for r in rows.itertuples()]
            name = f"subgroup {subgroup}" if subgroup != "all" else "typical" if by_subgroup else "all subgroups"
            lines.append(f"  {name}: " + "; ".join(parts))
    post = result.idata.posterior
    if "df" in post:
        import arviz as az

        df = post["df"].to_numpy().ravel()
        lo, hi = az.hdi(df, hdi_prob=0.94)
        lines.append(f"Student-t degrees of freedom: {df.mean():.1f} [{lo:.1f}, {hi:.1f}] "
                     "(small: heavy-tailed noise; above about 30: close to Normal)")
    continued = result.run_info.get("continued") or []
    if continued:
        lines.append(f"Chains continued {len(continued)} time(s) after failed checks: "
                     f"{result.run_info['draws']} draws per chain in all.")
    if diag.converged:
        lines.append(f"Diagnostics: converged (max R-hat {diag.max_rhat:.3f}, min bulk ESS "
                     f"{diag.min_ess_bulk:.0f}, chains agree).")
    else:
        lines.append("WARNING: the fit did NOT pass its convergence checks:")
        lines += [f"  - {w}" for w in diag.warnings]
    lines += [f"WARNING: {w}" for w in diag.model_warnings]
    return "\n".join(lines)
