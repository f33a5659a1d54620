"""Figures with long, clashing or non-Latin names, and with many subgroups: shortened labels, sane
sizes, labels that do not overlap, no warnings on the terminal (no sampler)."""

import base64
import struct
import warnings

import numpy as np
import pandas as pd
import pytest

from pss_bayes.report import figures
from pss_bayes.report.optional import _stability_figure

LONG = "L" * 200
LONG_MODULE = "M" * 200


def _effects(names: dict[str, str]) -> pd.DataFrame:
    """Effects of two subgroups on the biomarkers ``names`` (biomarker -> module)."""
    rows = [{"subgroup": s, "biomarker": b, "module": m, "scale": "control SD", "mean": shift,
             "hdi_lo": shift - 0.5, "hdi_hi": shift + 0.5}
            for s, shift in ((1, 1.5), (2, -0.2)) for b, m in names.items()]
    return pd.DataFrame(rows)


SHORT_NAMES = {"IFI27": "interferon", "IFI44L": "interferon", "CXCL10": "inflammation", "B": "b_cell",
               "CD19": "b_cell"}
LONG_NAMES = {"IFI27": "interferon", "中文基因": "interferon", LONG: "inflammation", "B": LONG_MODULE,
              "CD19": LONG_MODULE}


def _png_inches(uri: str) -> tuple[float, float]:
    """Width and height of an embedded PNG, in inches at the report's resolution."""
    data = base64.b64decode(uri.split(",", 1)[1])
    width, height = struct.unpack(">II", data[16:24])
    return width / figures.DPI, height / figures.DPI


def test_short_labels_are_bounded_and_distinct():
    names = ["IFI27", LONG, LONG + "x", "A" * 40, "B" * 41, LONG, "S" * 39 + figures.ELLIPSIS]
    labels = figures.short_labels(names)
    assert labels[0] == "IFI27" and labels[3] == "A" * 40                 # short enough: unchanged
    assert labels[4] == "B" * 39 + figures.ELLIPSIS
    assert all(len(label) <= figures.MAX_LABEL for label in labels)
    assert labels[1] == labels[5]                                          # the same name, the same label
    assert len(set(labels)) == len(set(names))
    assert labels[1].startswith("L" * 30) and labels[1].endswith("(1)") and labels[2].endswith("(2)")
    assert figures.short_labels(["S" * 50, "S" * 39 + figures.ELLIPSIS])[1] == "S" * 39 + figures.ELLIPSIS


@pytest.mark.parametrize("draw", [lambda e: figures.forest(e, "biomarker"),
                                  lambda e: figures.forest(e.rename(columns={"biomarker": "b",
                                                                             "module": "biomarker"})
                                                           .drop_duplicates(["subgroup", "biomarker"])
                                                           .rename(columns={"biomarker": "module"}), "module"),
                                  figures.signature], ids=["biomarker forest", "module forest", "signature"])
def test_long_names_keep_a_figure_laptop_sized(draw):
    short = _png_inches(figures.png_uri(draw(_effects(SHORT_NAMES))))
    fig = draw(_effects(LONG_NAMES))
    texts = [t.get_text() for ax in fig.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts]]
    assert texts and max(len(t) for t in texts) <= figures.MAX_LABEL + 1          # + '*' of binary markers
    long = _png_inches(figures.png_uri(fig))
    assert long[0] <= 1.15 * short[0] and long[1] <= 2.5 * short[1] + 1, (short, long)


def test_no_warning_reaches_the_terminal():
    effects = _effects(LONG_NAMES)
    frame = pd.DataFrame({"variant": ["reference", "without_中文" + LONG], "status": ["ok", "ok"],
                          "ari_vs_reference": [1.0, 0.5]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fig in (figures.forest(effects, "biomarker"), figures.signature(effects), _stability_figure(frame)):
            figures.png_uri(fig)
    assert [str(w.message) for w in caught] == []


def test_dollar_signs_in_names_are_drawn_as_text():
    """A name such as '$\\x$' would otherwise be read as mathematics and stop the drawing."""
    assert figures.short_labels(["$\\x$ gene"]) == ["\\$\\x\\$ gene"]
    effects = _effects({"$\\x$ gene": "interferon", "IFI27": "$money$"})
    for fig in (figures.forest(effects, "biomarker"), figures.signature(effects)):
        assert figures.png_uri(fig).startswith("data:image/png")


def _members(sizes: list[int]) -> pd.DataFrame:
    """Memberships of patients in len(sizes) subgroups, ``sizes[s - 1]`` most probably in subgroup s."""
    k = len(sizes)
    best = np.repeat(np.arange(1, k + 1), sizes)
    probs = np.full((len(best), k), 0.4 / (k - 1))
    probs[np.arange(len(best)), best - 1] = 0.6
    frame = pd.DataFrame({"subject_id": [f"P{i}" for i in range(len(best))], "subgroup": best, "p_max": 0.6})
    for s in range(1, k + 1):
        frame[f"p_{s}"], frame[f"p_{s}_lo"], frame[f"p_{s}_hi"] = probs[:, s - 1], 0.0, 1.0
    return frame


@pytest.mark.parametrize(("sizes", "shown"), [([16, 10, 9, 12, 6, 4, 2, 2, 1], 9),          # every one upright
                                              ([150, 30, 1, 1, 1, 1, 1, 1, 1], 4)])        # thinned
def test_membership_ticks_do_not_overlap_with_many_subgroups(sizes, shown):
    fig = figures.membership(_members(sizes), len(sizes), 0.8)
    fig.canvas.draw()
    ticks = [t for t in fig.axes[1].get_xticklabels() if t.get_visible() and t.get_text()]
    boxes = [t.get_window_extent() for t in ticks]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert ticks[0].get_text() == f"1 (n={sizes[0]})" and len(ticks) >= shown
    figures.png_uri(fig)


def test_few_subgroups_keep_horizontal_ticks():
    fig = figures.membership(_members([6, 6]), 2, 0.8)
    labels = fig.axes[1].get_xticklabels()
    assert [t.get_text() for t in labels] == ["1 (n=6)", "2 (n=6)"] and {t.get_rotation() for t in labels} == {0}
    figures.png_uri(fig)
