"""Plain-language summary and figures of a sensitivity analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pss_bayes.sensitivity.stability import ARI_STABLE, MINOR_SHARE, RETAINED, SHIFT_NOTABLE, Comparison

#: Patients whose stability is below this are listed as unstable.
PATIENT_STABLE = 0.8
_LISTED = 8


def describe(comparison: Comparison, k_reference: int) -> str:
    """One sentence on what a variant did to the reference's subgroups."""
    parts = []
    if comparison.k_mode != k_reference:
        parts.append(f"K {k_reference} → {comparison.k_mode}")
    for fate in comparison.fates:
        if fate.size and not fate.recovered:
            where = (f"most of its patients join {fate.destination}" if fate.destination.startswith("subgroup")
                     else "most of its patients form a new subgroup" if fate.destination
                     else "its patients scatter")
            parts.append(f"subgroup {fate.subgroup} ({_patients(fate.size)}) disappears ({where})")
    major = comparison.major_new_subgroups
    for size, origin in comparison.new_subgroups:
        if size:
            small = "" if (size, origin) in major else "small "
            parts.append(f"a {small}new subgroup of {_patients(size)} appears (mostly from subgroup {origin})")
    agreement = (f"adjusted Rand index {comparison.ari:.2f}; {comparison.n_changed} of "
                 f"{_patients(comparison.n_shared)} change subgroup")
    if parts:
        return "; ".join(parts) + f"; {agreement}"
    if comparison.ari < ARI_STABLE:
        return f"the subgroups agree only partly with the reference ({agreement})"
    return f"same subgroups ({agreement})"


def _patients(n: int) -> str:
    return f"{n} patient{'s' * (n != 1)}"


def summary_markdown(stability: pd.DataFrame, patients: pd.DataFrame, psens: pd.DataFrame,
                     notes: list[str], model: str) -> str:
    """The ``summary.md`` text: verdict, causes, effects, patients, power-scaling, failures."""
    ref = stability.iloc[0]
    rows = stability.iloc[1:]
    done = rows[rows["status"] == "done"]
    failed = rows[rows["status"] == "failed"]
    unstable = done[~done["stable"].astype(bool)]
    lines = ["# Sensitivity of the subgroups", "",
             f"Reference fit (model '{model}'): K = {int(ref.k_mode)} subgroups (posterior probability "
             f"{ref.p_k_mode:.2f}), {int(ref.n_patients)} patients. Variants: {len(rows)}, of which "
             f"{len(done)} finished and {len(failed)} failed.", "", "## Verdict", ""]
    minor = done[done["stable"].astype(bool) & (done["k_mode"] != ref.k_mode)]
    if done.empty:
        lines.append("No variant finished, so nothing can be said about stability.")
    elif unstable.empty:
        lines.append(f"**The subgroups are stable.** In all {len(done)} finished variants every reference "
                     f"subgroup is recovered and the subgroups agree with the reference (adjusted Rand index "
                     f"{done['ari_vs_reference'].min():.2f} to {done['ari_vs_reference'].max():.2f}; at most "
                     f"{int(done['n_changed'].max())} patients change subgroup).")
    else:
        lines.append(f"**The subgroups are not stable** in {len(unstable)} of {len(done)} finished variants:")
        lines.append("")
        lines += [f"- {r.description} (`{r.variant}`): {r.note}." for r in unstable.itertuples()]
    if not minor.empty:
        lines += ["", f"Minor changes: in {len(minor)} stable variant(s) the most probable K differs only because "
                      f"a small group of patients (under {MINOR_SHARE:.0%}) forms a subgroup of its own: "
                      + ", ".join(f"`{v}`" for v in minor["variant"]) + " (see the patients below)."]
    if not done.empty:
        lines += ["", f"A variant counts as stable when every reference subgroup keeps at least "
                      f"{RETAINED:.0%} of its patients together, no new subgroup takes {MINOR_SHARE:.0%} of the "
                      f"patients or more, and the labels agree (adjusted Rand index ≥ {ARI_STABLE})."]
    not_converged = int((~stability.loc[stability["status"] == "done", "converged"].astype(bool)).sum())
    if not_converged:
        lines += ["", f"{not_converged} of {len(done) + 1} finished fits (reference included) did not pass "
                      "their convergence checks (see `variants/NAME/diagnostics.json`); their results are "
                      "less reliable."]
    seeds = done[done["kind"] == "seed"]
    if not seeds.empty and not seeds["stable"].astype(bool).all():
        lines += ["", "**Caution:** refitting the reference model with another seed already changes the "
                      "subgroups, so the chains are too short to tell a variant's effect from Monte Carlo "
                      "noise; rerun with more draws and warm-up."]
    lines += ["", "## Module effects", "", _effects_text(done)]
    lines += ["", "## Patients", "", _patients_text(patients)]
    lines += ["", "## Prior and likelihood sensitivity (power-scaling, no refitting)", "", _psens_text(psens)]
    if not failed.empty:
        lines += ["", "## Failed variants", ""]
        lines += [f"- `{r.variant}` ({r.description}): {r.error}" for r in failed.itertuples()]
    if notes:
        lines += ["", "## Not run", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Files", "",
              "`stability.csv` (one row per variant), `patients_stability.csv` (the reference memberships "
              "with each patient's stability), `psens.csv`, `k_posterior.csv`, `membership_change.csv`, "
              "`effect_shifts.csv`, `k_posterior.png`, `membership_change.png`; each fit in "
              "`variants/NAME/` (the reference is a complete fit folder)."]
    return "\n".join(lines) + "\n"


def _effects_text(done: pd.DataFrame) -> str:
    if done.empty:
        return "No variant finished."
    notable = done[done["max_effect_shift_sd"] > SHIFT_NOTABLE].sort_values("max_effect_shift_sd",
                                                                            ascending=False)
    if notable.empty:
        return (f"No module effect of a matched subgroup moves by more than {SHIFT_NOTABLE:g} reference "
                f"posterior SDs in any variant (largest: {done['max_effect_shift_sd'].max():.1f}).")
    items = [f"`{r.variant}` {r.max_effect_shift_sd:.1f} SD ({r.worst_effect})"
             for r in notable.head(_LISTED).itertuples()]
    return (f"Module effects of matched subgroups move by more than {SHIFT_NOTABLE:g} reference posterior "
            f"SDs in {len(notable)} variant(s): " + "; ".join(items) + ". See `effect_shifts.csv`.")


def _patients_text(patients: pd.DataFrame) -> str:
    n = len(patients)
    always = int((patients["stability"] == 1.0).sum())
    weak = patients[patients["stability"] < PATIENT_STABLE].sort_values("stability")
    text = (f"{always} of {n} patients keep their subgroup in every variant; "
            f"{n - always} change subgroup in at least one.")
    if not weak.empty:
        listed = ", ".join(f"{r.subject_id} ({r.stability:.2f})" for r in weak.head(_LISTED).itertuples())
        text += (f" {len(weak)} have a stability below {PATIENT_STABLE} (share of variants in which they keep "
                 f"their subgroup): {listed}{', …' if len(weak) > _LISTED else ''}.")
    return text + " See `patients_stability.csv`."


def _psens_text(psens: pd.DataFrame) -> str:
    if psens.empty:
        return "Not computed."
    params = psens[psens["measure"] == "psens"]
    members = psens[psens["measure"] != "psens"]
    k_row = params[params["variable"] == "n_subgroups"].iloc[0]
    lines = [f"- Number of subgroups: prior sensitivity {k_row.prior:.3f}, likelihood sensitivity "
             f"{k_row.likelihood:.3f} ({k_row.diagnosis if k_row.diagnosis != '-' else 'no flag'})."]
    others = params[params["variable"] != "n_subgroups"]
    flagged = others[others["prior_sensitive"]]
    blocks = flagged["prior_block"].value_counts()
    lines.append(f"- Weights and module effects: {len(flagged)} of {len(others)} are prior-sensitive "
                 "(psens ≥ 0.05)"
                 + (", most of all to the prior on " + ", ".join(f"{b} ({c})" for b, c in blocks.items())
                    if len(blocks) else "")
                 + f"; {int((others['diagnosis'] == 'prior-data conflict').sum())} show a prior-data conflict, "
                 f"{int((others['diagnosis'] == 'strong prior / weak likelihood').sum())} a strong prior or "
                 "weak likelihood.")
    moved = members[members["prior_sensitive"]]
    lines.append(f"- Memberships: {len(moved)} of {len(members)} patients' probability of their subgroup moves "
                 "by at least 0.05 per doubling of the prior's power"
                 + (" (" + ", ".join(moved["subject_id"].head(_LISTED)) + (", …" if len(moved) > _LISTED else "")
                    + ")" if len(moved) else "")
                 + f"; {int(members['likelihood_sensitive'].sum())} by at least 0.05 per doubling of the "
                 "likelihood's power.")
    lines.append("- Power-scaling covers the priors of the top-level parameters only (see `psens.csv` and the "
                 "documentation); with short chains these values are noisy.")
    return "\n".join(lines)


def write_figures(out: Path, k_posterior: pd.DataFrame, change: pd.DataFrame,
                  patients: pd.DataFrame) -> list[Path]:
    """``k_posterior.png`` (posterior over K per variant) and ``membership_change.png`` (heatmap)."""
    import matplotlib

    matplotlib.use("Agg")
    from pss_bayes.report.figures import quiet_drawing

    with quiet_drawing():
        return [_k_figure(out / "k_posterior.png", k_posterior),
                _change_figure(out / "membership_change.png", change, patients)]


def _k_figure(path: Path, k_posterior: pd.DataFrame) -> Path:
    """Heatmap of the posterior over K (columns) of each variant (rows)."""
    import matplotlib.pyplot as plt

    from pss_bayes.report.figures import short_labels

    table = k_posterior.pivot_table(index="variant", columns="k", values="probability", fill_value=0.0,
                                    sort=False)
    table = table.reindex(columns=sorted(table.columns))
    fig, ax = plt.subplots(figsize=(max(4.5, 2.5 + 0.6 * table.shape[1]), 1.2 + 0.3 * table.shape[0]))
    ax.imshow(table.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        if value >= 0.005:
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 else "black")
    ax.set_xticks(range(table.shape[1]), [str(k) for k in table.columns])
    ax.set_yticks(range(table.shape[0]), short_labels([str(v) for v in table.index]), fontsize=7)
    ax.set_xlabel("number of non-empty subgroups K")
    ax.set_title("Posterior over K per variant", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _change_figure(path: Path, change: pd.DataFrame, patients: pd.DataFrame) -> Path:
    """Heatmap of each patient's (columns) largest membership change in each variant (rows)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from pss_bayes.report.figures import short_labels

    order = patients.sort_values(["subgroup", "stability"])["subject_id"].astype(str)
    matrix = change.loc[order].T
    fig, ax = plt.subplots(figsize=(min(12.0, 3.0 + 0.08 * matrix.shape[1]), 1.5 + 0.3 * max(matrix.shape[0], 1)))
    if matrix.empty:
        ax.text(0.5, 0.5, "no finished variant", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _save(fig, path)
    cmap = matplotlib.colormaps["magma_r"].copy()
    cmap.set_bad("lightgrey")
    image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(float)), cmap=cmap, vmin=0, vmax=1, aspect="auto",
                      interpolation="nearest")
    bounds = np.flatnonzero(np.diff(patients.set_index("subject_id").loc[order, "subgroup"].to_numpy())) + 0.5
    for x in bounds:
        ax.axvline(x, color="steelblue", linewidth=1)
    ax.set_yticks(range(matrix.shape[0]), short_labels([str(v) for v in matrix.index]), fontsize=7)
    ax.set_xticks([])
    ax.set_xlabel("patients, by reference subgroup (blue lines) and stability")
    ax.set_title("Largest change of a patient's membership probability\n(grey: patient not in the variant)",
                 fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    """Write the figure to ``path`` and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
