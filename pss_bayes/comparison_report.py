"""The verdict, Markdown report and figure of a model comparison (pure functions of its tables).

The verdict states which number of subgroups is preferred and how clearly, by
PSIS-LOO with the one-standard-error rule (the smallest K whose elpd is within
one standard error of the best K's), by stacking, by the sparse mixture's
posterior over K and by BIC and ICL of EM fits, and says plainly where they
disagree; then how the model variants compare, and which rows need caution
(K-fold instead of PSIS-LOO, unreliable PSIS-LOO, fits that did not converge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def clarity(diff: float, dse: float) -> str:
    """How clearly a model whose elpd is ``diff >= 0`` below another's (standard error ``dse``) is worse."""
    if not np.isfinite(dse) or dse <= 0:
        return "no standard error available"
    z = diff / dse
    if z < 1:
        return "within one standard error, not distinguishable"
    if z < 2:
        return "weakly worse"
    if z < 4:
        return "clearly worse"
    return "decisively worse"


def _difference(diff: float, dse: float, sep: str = " (") -> str:
    """``"2.0 ± 1.0 lower (2.0 SE)"``, or with ``sep=", "`` ``"2.0 ± 1.0 lower, 2.0 SE"``."""
    if not dse > 0:
        return f"{diff:.1f} ± {dse:.1f} lower"
    return f"{diff:.1f} ± {dse:.1f} lower{sep}{diff / dse:.1f} SE" + (")" if sep == " (" else "")


def _join(values: list[Any]) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def k_choices(k_table: pd.DataFrame) -> dict[str, int]:
    """The K each criterion prefers: ``loo_best``, ``loo`` (one-SE rule), ``stacking``, ``posterior``,
    ``bic``, ``icl`` (criteria without values are left out)."""
    out: dict[str, int] = {}
    fitted = k_table.dropna(subset=["elpd_loo"]) if "elpd_loo" in k_table else k_table.iloc[:0]
    if len(fitted):
        out["loo_best"] = int(fitted.loc[fitted["elpd_diff"].idxmin(), "k"])
        close = fitted[fitted["elpd_diff"] <= fitted["dse"].fillna(0)]
        out["loo"] = int(close["k"].min())
        out["stacking"] = int(fitted.loc[fitted["stacking_weight"].idxmax(), "k"])
        for name in ("bic", "icl"):
            if fitted[name].notna().any():
                out[name] = int(fitted.loc[fitted[name].idxmax(), "k"])
    if k_table["posterior"].sum() > 0:
        out["posterior"] = int(k_table.loc[k_table["posterior"].idxmax(), "k"])
    return out


def _criterion(k_table: pd.DataFrame, settings: dict[str, Any]) -> str:
    """What the fixed-K rows' elpd comes from: PSIS-LOO, or K-fold cross-validation when it replaced it."""
    methods = set(k_table["method"].dropna()) - {""} if "method" in k_table else set()
    return f"{settings.get('folds')}-fold cross-validation" if methods == {"kfold"} else "PSIS-LOO"


def _loo_sentence(k_table: pd.DataFrame, choice: dict[str, int], agree: bool, criterion: str) -> str:
    fitted = k_table.dropna(subset=["elpd_loo"]).set_index("k")
    best, preferred = choice["loo_best"], choice["loo"]
    close = [int(k) for k in fitted.index if fitted.loc[k, "elpd_diff"] <= (fitted.loc[k, "dse"] or 0) and k != best]
    headline = (f"**Preferred: K = {preferred}.**" if agree else
                f"**Preferred: K = {preferred} by {criterion}, but the criteria disagree (see below).**")
    text = f"{headline} {criterion[0].upper() + criterion[1:]} ranks K = {best} first"
    if not close:
        others = fitted.drop(index=best)
        if others.empty:
            return text + " (the only K fitted)."
        runner = int(others["elpd_diff"].idxmin())
        row = fitted.loc[runner]
        return text + (f"; the next best, K = {runner}, is {_difference(row['elpd_diff'], row['dse'])}: "
                       f"{clarity(row['elpd_diff'], row['dse'])}.")
    closest = _join([f"K = {k} ({_difference(fitted.loc[k, 'elpd_diff'], fitted.loc[k, 'dse'], ', ')})"
                     for k in close])
    text += f", but {closest} {'is' if len(close) == 1 else 'are'} within one standard error of it"
    if preferred < best:
        return text + (f", so predictive accuracy cannot separate them and the smallest, K = {preferred}, "
                       "is preferred (one-standard-error rule).")
    return text + f"; the larger K add subgroups that do not predict new subjects better."


def _stacking_sentence(k_table: pd.DataFrame) -> str:
    fitted = k_table.dropna(subset=["elpd_loo"]).sort_values("stacking_weight", ascending=False)
    top = [f"{w:.0%} on K = {int(k)}" for k, w in zip(fitted["k"], fitted["stacking_weight"]) if w >= 0.1]
    return "Stacking of the fixed-K fits puts " + _join(top or [f"{fitted['stacking_weight'].iloc[0]:.0%} on K = "
                                                               f"{int(fitted['k'].iloc[0])}"]) + "."


def _posterior_sentence(k_table: pd.DataFrame, choice: dict[str, int]) -> str:
    mode = choice["posterior"]
    row = k_table.set_index("k")
    prior_mode = int(row["prior"].idxmax())
    before, after = row.loc[mode, "prior"], row.loc[mode, "posterior"]
    if mode != prior_mode:
        moved = "so the data moved it there"
    elif abs(after - before) < 0.05:
        moved = "and the data barely moved it: here the K posterior mostly restates the prior"
    else:
        moved = f"and the data {'raised' if after > before else 'lowered'} that probability to {after:.2f}"
    runner = row["posterior"].drop(index=mode)
    close = (f"; K = {int(runner.idxmax())} is close behind with {runner.max():.2f}"
             if len(runner) and runner.max() >= 0.2 else "")
    return (f"The sparse mixture's posterior over the number of non-empty subgroups has its mode at K = {mode} "
            f"(probability {after:.2f}{close}); its prior gave K = {mode} probability {before:.2f} and favoured "
            f"K = {prior_mode} ({row.loc[prior_mode, 'prior']:.2f}), {moved}.")


_LABELS = {"loo": "PSIS-LOO", "stacking": "stacking", "posterior": "the K posterior", "bic": "BIC (EM)",
           "icl": "ICL (EM)"}


def _groups(choice: dict[str, int], criterion: str = "PSIS-LOO") -> dict[int, list[str]]:
    """The criteria pointing to each K (``criterion``: what the elpd comes from)."""
    groups: dict[int, list[str]] = {}
    for key, label in {**_LABELS, "loo": criterion}.items():
        if key in choice:
            groups.setdefault(choice[key], []).append(label)
    return groups


def _agreement_sentence(groups: dict[int, list[str]]) -> str:
    if sum(len(names) for names in groups.values()) < 2:
        return ""
    if len(groups) == 1:
        return f"All criteria agree on K = {next(iter(groups))}."
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return "The criteria disagree: " + "; ".join(f"{_join(names)} point{'s' if len(names) == 1 else ''} to K = {k}"
                                                for k, names in ordered) + "."


def _models_sentence(table: pd.DataFrame) -> str:
    best = table.iloc[0]
    text = (f"Across all {len(table)} models, `{best['model']}` has the highest elpd "
            f"({best['elpd_loo']:.1f} ± {best['se']:.1f}).")
    others = table.iloc[1:]
    shown = others[others["role"] != "k_sweep"]
    if best["role"] != "k_sweep" and (others["role"] == "k_sweep").any():
        shown = pd.concat([others[others["role"] == "k_sweep"].iloc[:1], shown])
    details = [f"`{r['model']}` is {_difference(r['elpd_diff'], r['dse'])}, {clarity(r['elpd_diff'], r['dse'])}"
               for _, r in shown.iterrows()]
    return text + (" " + "; ".join(details) + "." if details else "")


def _caveats(table: pd.DataFrame, settings: dict[str, Any]) -> list[str]:
    out = []
    limit = settings.get("max_bad_pareto", 0)
    kfold = table.loc[table["method"] == "kfold", "model"].tolist()
    if kfold:
        unreliable = table.loc[table["n_pareto_k_bad"] > limit, "model"].tolist()
        out.append(f"PSIS-LOO was unreliable for {_join([f'`{m}`' for m in unreliable])} (more than {limit} "
                   f"subjects with Pareto k > 0.7), so every model's elpd comes from the same "
                   f"{settings.get('folds')}-fold cross-validation (lower than PSIS-LOO would give, for every "
                   "model alike: each fold's fit sees fewer subjects).")
    shaky = table[(table["method"] == "psis-loo") & (table["n_pareto_k_bad"] > limit)]
    if len(shaky):
        out.append("PSIS-LOO may be unreliable for " + _join([f"`{m}` ({n} subjects with Pareto k > 0.7)" for m, n
                                                             in zip(shaky["model"], shaky["n_pareto_k_bad"])])
                   + " and K-fold cross-validation was off: treat these rows with caution.")
    failed = table.loc[~table["converged"].astype(bool), "model"].tolist()
    if failed:
        out.append(f"{_join([f'`{m}`' for m in failed])} did not pass the convergence checks; "
                   "their rows are less certain than their standard errors say.")
    return out


def verdict_text(table: pd.DataFrame, k_table: pd.DataFrame, settings: dict[str, Any]) -> str:
    """A few plain-language sentences on what the comparison prefers, how clearly, and any caveats."""
    choice = k_choices(k_table)
    criterion = _criterion(k_table, settings)
    groups = _groups(choice, criterion)
    sentences = []
    if "loo" in choice:
        sentences += [_loo_sentence(k_table, choice, agree=len(groups) == 1, criterion=criterion),
                      _stacking_sentence(k_table)]
    if "posterior" in choice:
        sentences.append(_posterior_sentence(k_table, choice))
    if "bic" in choice:
        sentences.append(f"EM fits of diagonal Gaussian mixtures to the patients' continuous markers have their "
                         f"best BIC at K = {choice['bic']} and best ICL at K = {choice['icl']}.")
    sentences.append(_agreement_sentence(groups))
    return "\n\n".join([" ".join(s for s in sentences if s), _models_sentence(table), *_caveats(table, settings)])


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
        return "" if value is pd.NA else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


_NOTES = """\
- `elpd_loo`: expected log predictive density of a new subject's whole biomarker row, summed over
  subjects (higher is better); `se` its standard error. `elpd_diff` is the best model's elpd minus
  this model's (so >= 0) and `dse` the standard error of that paired difference.
- The pointwise term is per subject with the subgroup label summed out, module activities
  integrated and, for Student-t models, the scale-mixture weights integrated (activities by
  adaptive Gauss-Hermite quadrature); controls are included with their own likelihood.
- `n_pareto_k_bad`: subjects whose PSIS Pareto k exceeds 0.7. `method` says whether the elpd is
  PSIS-LOO or K-fold cross-validation (same folds for every model).
- Weights: stacking and pseudo-BMA+ (Bayesian bootstrap), each summing to one over the models.
- `bic`, `icl`: EM fits (scikit-learn GaussianMixture, diagonal covariances) to the patients'
  continuous markers on the control-referenced scale, missing values set to 0 (the controls'
  median), in mclust's convention: `bic = 2 log L - p log n`, `icl = bic - 2 x entropy`, higher
  is better. They ignore controls, covariates, centres, binary markers and co-variation, and are
  shown for orientation only.
- Number of subgroups: elpd and stacking among the fixed-K fits only; `prior` and `posterior` are
  the sparse mixture's probabilities of K non-empty subgroups (K with neither a fit nor any
  probability left out here; `k_summary.csv` has every K).
"""


def comparison_markdown(table: pd.DataFrame, k_table: pd.DataFrame, verdict: str, settings: dict[str, Any]) -> str:
    """The comparison as a short Markdown report: verdict, both tables, how to read them, settings."""
    shown = table.drop(columns=["role", "pareto_k_max"])
    relevant = k_table[k_table["elpd_loo"].notna() | (k_table["posterior"] > 0) | (k_table["prior"] >= 0.005)]
    run = ", ".join(f"{key} = {settings[key]}" for key in ("seed", "draws", "tune", "chains", "folds",
                                                           "max_bad_pareto") if key in settings)
    return "\n\n".join(["# Model comparison", "## Verdict", verdict, "## Models", _markdown_table(shown),
                         "## Number of subgroups", _markdown_table(relevant), "## How to read this", _NOTES.strip(),
                         f"Settings: {run}.", ""])


def comparison_figure(table: pd.DataFrame, k_table: pd.DataFrame) -> Figure:
    """Three panels: elpd ± SE of the fixed-K fits over K (other models as horizontal lines); their
    elpd difference to the best K ± SE of the difference; the sparse mixture's posterior over K
    against its prior. Returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    sweep = table[table["role"] == "k_sweep"].sort_values("k")
    fitted = k_table.dropna(subset=["elpd_loo"])
    for method, marker in (("psis-loo", "o"), ("kfold", "s")):
        rows = sweep[sweep["method"] == method]
        if len(rows):
            left.errorbar(rows["k"].astype(int), rows["elpd_loo"], yerr=rows["se"], fmt=marker, capsize=4,
                          label=f"fixed K ({method})")
        rows = fitted[fitted["method"] == method]
        if len(rows):
            middle.errorbar(rows["k"].astype(int), -rows["elpd_diff"], yerr=rows["dse"], fmt=marker, capsize=4,
                            label=f"fixed K ({method})")
    for i, (_, row) in enumerate(table[table["role"] != "k_sweep"].iterrows()):
        left.axhline(row["elpd_loo"], color=f"C{i + 2}", linestyle="--", label=f"{row['model']} ({row['method']})")
    left.set(xlabel="number of subgroups K", ylabel="elpd ± SE (higher is better)", title="Predictive accuracy")
    middle.axhline(0.0, color="0.5", linewidth=0.8)
    middle.set(xlabel="number of subgroups K", ylabel="elpd − best K's elpd, ± SE of the difference",
               title="Difference to the best K")
    width = 0.4
    right.bar(k_table["k"] - width / 2, k_table["prior"], width, label="prior", color="0.7")
    right.bar(k_table["k"] + width / 2, k_table["posterior"], width, label="posterior", color="C0")
    right.set(xlabel="number of non-empty subgroups", ylabel="probability", title="Sparse mixture: K")
    for axis in (left, middle, right):
        axis.set_xticks(k_table["k"] if axis is right else fitted["k"].astype(int))
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    fig.tight_layout()
    return fig
