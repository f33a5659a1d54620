"""Matplotlib figures of a fit: K posterior, memberships, effect forests, subgroup signatures.

Every function takes the plain result tables (as returned by
:class:`~pss_bayes.result.FitResult` or read from a fit directory) and returns a
``matplotlib.figure.Figure``; :func:`png_uri` turns a figure into a data URI for
the self-contained report. Subgroup ``k`` has the same colour in every figure.
Names drawn in a figure are shortened to :data:`MAX_LABEL` characters
(:func:`short_labels`); the report's tables keep them whole.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

#: Width of every figure in inches; with :data:`DPI` it fills a laptop-width page.
WIDTH = 10.5
DPI = 130
#: Colour scale limit of the signature heatmap (effects beyond it are clipped).
HEATMAP_LIMIT = 3.0
#: Longest name drawn in a figure, in characters (longer ones are cut and end with :data:`ELLIPSIS`).
MAX_LABEL = 40
ELLIPSIS = "…"
#: Rough width of a character in ems, to tell whether labels fit before the figure is drawn.
_CHAR_EM = 0.6


def subgroup_colour(k: int) -> tuple[float, float, float, float]:
    """The colour of subgroup ``k`` (1-based) in every figure."""
    return plt.get_cmap("tab10")((int(k) - 1) % 10)


def short_labels(names: Sequence[str], limit: int = MAX_LABEL) -> list[str]:
    """Labels of at most ``limit`` characters for ``names``, as distinct as the names.

    A longer name is cut and ends with :data:`ELLIPSIS`; when two names would be
    cut to the same label, each of them is numbered (``"…(1)"``, ``"…(2)"``, in
    order of appearance). Equal names get equal labels. A ``$`` is escaped, so that
    matplotlib draws it instead of reading what follows as mathematics.
    """
    unique = list(dict.fromkeys(names))
    cut = {name: _cut(name, limit) for name in unique}
    counts = Counter(cut.values())
    taken = set(cut.values())
    labels = {}
    for name in unique:
        label = cut[name]
        if label != name and counts[label] > 1:
            label = _numbered(name, limit, taken)
        labels[name] = label
    return [labels[name].replace("$", r"\$") for name in names]


def _cut(name: str, limit: int, suffix: str = "") -> str:
    if len(name) <= limit and not suffix:
        return name
    return name[:max(1, limit - 1 - len(suffix))].rstrip() + ELLIPSIS + suffix


def _numbered(name: str, limit: int, taken: set[str]) -> str:
    """The first of ``name`` cut and numbered 1, 2, ... that no other label has (added to ``taken``)."""
    number = 1
    while (label := _cut(name, limit, f"({number})")) in taken:
        number += 1
    taken.add(label)
    return label


def _text_inches(text: str, fontsize: float) -> float:
    """Rough width of ``text`` drawn at ``fontsize`` points, in inches."""
    return len(text) * fontsize * _CHAR_EM / 72


@contextmanager
def quiet_drawing() -> Iterator[None]:
    """Silence matplotlib's warnings while drawing (glyphs missing from the font, layouts not
    applied): they name source files, not the figure, and change nothing in the report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def png_uri(fig: Figure, dpi: int = DPI) -> str:
    """Encode a figure as a ``data:image/png;base64`` URI and close it."""
    buffer = io.BytesIO()
    with quiet_drawing():
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scale_tag(scale: str) -> str:
    return "" if scale == "control SD" else f" ({scale})"


def k_posterior(n_subgroups: pd.DataFrame, reported: int) -> Figure:
    """Bar chart of the posterior over the number of non-empty subgroups (reported K highlighted)."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.55, 2.6))
    ks = n_subgroups["k"].to_numpy().astype(int)
    probs = n_subgroups["probability"].to_numpy()
    colours = ["#1f4e79" if k == reported else "#9db7d5" for k in ks]
    ax.bar(ks, probs, color=colours, width=0.7)
    for k, p in zip(ks, probs):
        ax.text(k, p + 0.02, f"{p:.2f}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(max(1, ks.min() - 1), ks.max() + 2))
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("number of patient subgroups K")
    ax.set_ylabel("posterior probability")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def membership_order(members: pd.DataFrame) -> pd.DataFrame:
    """Patients sorted by most probable subgroup, then from most to least certain."""
    return members.sort_values(["subgroup", "p_max"], ascending=[True, False], kind="stable")


def membership(members: pd.DataFrame, k: int, confident: float) -> Figure:
    """Patients x subgroups membership probabilities, ordered, with uncertain patients marked.

    Top: one stacked bar per patient (its probability of each subgroup), patients
    grouped by most probable subgroup and sorted by certainty. Bottom: the
    probability of the most probable subgroup with its 94% interval; patients
    below ``confident`` are marked in red.
    """
    ordered = membership_order(members)
    n = len(ordered)
    x = np.arange(n)
    probs = np.column_stack([ordered[f"p_{s}"].to_numpy() for s in range(1, k + 1)])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(WIDTH, 4.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2], "hspace": 0.12})
    base = np.zeros(n)
    for s in range(k):
        top.bar(x, probs[:, s], bottom=base, width=1.0, color=subgroup_colour(s + 1), linewidth=0,
                label=f"subgroup {s + 1}")
        base += probs[:, s]
    top.set_ylim(0, 1)
    top.set_ylabel("membership\nprobability")
    top.legend(ncol=min(k, 6), loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False, fontsize=9)
    best = ordered["subgroup"].to_numpy()
    p_max = ordered["p_max"].to_numpy()
    lo = np.array([ordered[f"p_{s}_lo"].iat[i] for i, s in enumerate(best)])
    hi = np.array([ordered[f"p_{s}_hi"].iat[i] for i, s in enumerate(best)])
    uncertain = p_max < confident
    bottom.vlines(x, lo, hi, color="#b0b0b0", linewidth=0.8)
    bottom.scatter(x[~uncertain], p_max[~uncertain], s=6, color=[subgroup_colour(s) for s in best[~uncertain]])
    bottom.scatter(x[uncertain], p_max[uncertain], s=16, color="#d62728", marker="x", linewidths=1,
                   label=f"uncertain (< {confident:g})")
    bottom.axhline(confident, color="#444", linestyle="--", linewidth=0.8)
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("probability of\nmost probable")
    if uncertain.any():
        bottom.legend(loc="lower left", frameon=False, fontsize=9)
    for axis in (top, bottom):
        axis.spines[["top", "right"]].set_visible(False)
    edges = np.flatnonzero(np.diff(best)) + 0.5
    for edge in edges:
        top.axvline(edge, color="white", linewidth=1.5)
        bottom.axvline(edge, color="#888", linewidth=0.6)
    starts = np.concatenate([[-0.5], edges])
    ends = np.concatenate([edges, [n - 0.5]])
    _group_ticks(bottom, (starts + ends) / 2, [f"{s} (n={int((best == s).sum())})" for s in np.unique(best)],
                 bottom.get_position().width * fig.get_figwidth() / n)
    bottom.set_xlabel("patients, grouped by most probable subgroup and sorted by certainty")
    bottom.set_xlim(-0.5, n - 0.5)
    return fig


def _group_ticks(ax: plt.Axes, centres: np.ndarray, labels: list[str], inches_per_unit: float,
                 fontsize: float = 9.0) -> None:
    """Label the subgroups' blocks of patients at ``centres`` without overlapping labels.

    Labels are horizontal when each fits between its neighbours; otherwise they
    are turned upright, and a label closer than a line to the last one kept is
    left out (its subgroup is still coloured and counted in the table).
    """
    widths = [_text_inches(label, fontsize) for label in labels]
    gaps = np.diff(centres) * inches_per_unit
    if all(gap >= (a + b) / 2 + 0.1 for gap, a, b in zip(gaps, widths, widths[1:])):
        ax.set_xticks(centres, labels, fontsize=fontsize)
        return
    line = 1.3 * fontsize / 72
    kept: list[int] = []
    for i, centre in enumerate(centres):
        if not kept or (centre - centres[kept[-1]]) * inches_per_unit >= line:
            kept.append(i)
    ax.set_xticks(centres[kept], [labels[i] for i in kept], fontsize=fontsize, rotation=90)


def forest(effects: pd.DataFrame, item: str) -> Figure:
    """Forest plot of effects against controls: one panel per subgroup, one row per ``item``.

    ``effects`` has the columns of ``effects.csv`` (``item`` = ``biomarker``) or
    ``module_effects.csv`` (``item`` = ``module``): ``subgroup``, ``item``,
    ``scale``, ``mean``, ``hdi_lo``, ``hdi_hi``. Points are posterior means,
    lines 94% HDIs, the dashed line is the controls (0). Rows on another scale
    than control SDs carry it in their label; biomarkers are grouped by module.
    """
    subgroups = sorted(effects["subgroup"].unique())
    first = effects[effects["subgroup"] == subgroups[0]]
    items = list(first[item])
    labels = [f"{name}{_scale_tag(scale)}" for name, scale in zip(short_labels(items), first["scale"])]
    y = np.arange(len(items))[::-1]
    height = max(2.2, 0.24 * len(items) + 1.0)
    fig, axes = plt.subplots(1, len(subgroups), figsize=(WIDTH, height), sharey=True, squeeze=False,
                             layout="constrained")
    lo_all, hi_all = effects["hdi_lo"].min(), effects["hdi_hi"].max()
    pad = 0.05 * (hi_all - lo_all + 1e-9)
    for ax, s in zip(axes[0], subgroups):
        rows = effects[effects["subgroup"] == s].set_index(item).loc[items]
        colour = subgroup_colour(s)
        ax.hlines(y, rows["hdi_lo"], rows["hdi_hi"], color=colour, linewidth=1.6)
        ax.scatter(rows["mean"], y, color=colour, s=18, zorder=3)
        ax.axvline(0, color="#444", linestyle="--", linewidth=0.8)
        ax.set_xlim(lo_all - pad, hi_all + pad)
        ax.set_title(f"subgroup {s}", color=colour, fontsize=10, fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#eee")
        if item != "module":
            _module_bands(ax, short_labels(list(first["module"])), y, label=ax is axes[0][-1])
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels(labels, fontsize=8 if len(items) > 12 else 9)
    axes[0][0].set_ylim(-0.7, len(items) - 0.3)
    fig.supxlabel("effect against healthy controls (posterior mean, 94% HDI)", fontsize=10)
    return fig


def _module_bands(ax: plt.Axes, modules: list[str], y: np.ndarray, label: bool) -> None:
    """Shade every other module's rows so that biomarkers read as module blocks; name them if ``label``."""
    start, block = 0, 0
    for i in range(1, len(modules) + 1):
        if i == len(modules) or modules[i] != modules[start]:
            if block % 2 == 0:
                ax.axhspan(y[i - 1] - 0.5, y[start] + 0.5, color="#f2f2f2", zorder=0)
            if label:
                ax.text(1.02, (y[i - 1] + y[start]) / 2, modules[start], transform=ax.get_yaxis_transform(),
                        va="center", fontsize=8, style="italic")
            block += 1
            start = i


def signature(effects: pd.DataFrame) -> Figure:
    """Heatmap of subgroups x biomarkers (posterior mean effects), grouped by module.

    Cells whose 94% HDI excludes 0 carry a dot. The colour scale is clipped at
    +/- :data:`HEATMAP_LIMIT`; binary markers (log-odds) are marked with ``*``.
    """
    subgroups = sorted(effects["subgroup"].unique())
    first = effects[effects["subgroup"] == subgroups[0]]
    names = list(first["biomarker"])
    modules = list(first["module"])
    labels = [n + ("*" if sc != "control SD" else "") for n, sc in zip(short_labels(names), first["scale"])]
    wide = effects.pivot(index="subgroup", columns="biomarker", values="mean").loc[subgroups, names]
    lo = effects.pivot(index="subgroup", columns="biomarker", values="hdi_lo").loc[subgroups, names]
    hi = effects.pivot(index="subgroup", columns="biomarker", values="hdi_hi").loc[subgroups, names]
    bounds = [i for i in range(1, len(modules)) if modules[i] != modules[i - 1]]
    starts = [0, *bounds]
    ends = [*bounds, len(modules)]
    titles = short_labels([modules[a] for a in starts])
    # Module titles are turned upright when one is wider than its block of columns.
    column = 0.8 * WIDTH / len(names)
    upright = any(_text_inches(t, 8.5) > (b - a) * column for t, a, b in zip(titles, starts, ends))
    title_height = max(_text_inches(t, 8.5) for t in titles) if upright else 0.2
    height = 0.9 + 0.45 * len(subgroups) + max(_text_inches(label, 7.5) for label in labels) + title_height
    fig, ax = plt.subplots(figsize=(WIDTH, height), layout="constrained")
    norm = TwoSlopeNorm(vmin=-HEATMAP_LIMIT, vcenter=0.0, vmax=HEATMAP_LIMIT)
    image = ax.imshow(wide.to_numpy().clip(-HEATMAP_LIMIT, HEATMAP_LIMIT), cmap="RdBu_r", norm=norm,
                      aspect="auto")
    rows, cols = np.nonzero(((lo > 0) | (hi < 0)).to_numpy())
    ax.scatter(cols, rows, s=7, color="black")
    ax.set_yticks(range(len(subgroups)))
    ax.set_yticklabels([f"subgroup {s}" for s in subgroups], fontsize=9)
    for tick, s in zip(ax.get_yticklabels(), subgroups):
        tick.set_color(subgroup_colour(s))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(labels, rotation=90, fontsize=7.5)
    for b in bounds:
        ax.axvline(b - 0.5, color="white", linewidth=2)
    for title, a, b in zip(titles, starts, ends):
        ax.text((a + b - 1) / 2, -0.7, title, ha="center", va="bottom", fontsize=8.5, rotation=90 if upright else 0)
    bar = fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    bar.ax.tick_params(labelsize=8)
    bar.set_label("effect vs controls", fontsize=8, labelpad=2)
    return fig
