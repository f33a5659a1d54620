"""Assemble the self-contained HTML report of a fit (and, when given, its comparison,
sensitivity analysis and classifier)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pss_bayes import __version__
from pss_bayes.errors import ResultFileError
from pss_bayes.fit_dir import RUN_FILE, load_fit_dir
from pss_bayes.posterior.text import CONFIDENT
from pss_bayes.report import optional, sections
from pss_bayes.report.html import Section, esc, page
from pss_bayes.report.inputs import check_same_data, read_classifier, read_comparison, read_sensitivity
from pss_bayes.result import FitResult

Progress = Callable[[str], None]


def _glance(result: FitResult) -> str:
    """The first screen's key numbers: K, confident patients, convergence."""
    k_table = result.n_subgroups()
    mode = k_table.loc[k_table["probability"].idxmax()]
    members = result.membership()
    sure = int((members["p_max"] >= CONFIDENT).sum())
    diag = result.diagnostics()
    cells = [
        (f"K = {int(mode.k)}", f"most probable number of subgroups (probability {mode.probability:.2f})"),
        (f"{sure} / {len(members)}", f"patients confidently assigned (≥ {CONFIDENT:g}); "
                                     f"{len(members) - sure} uncertain"),
        ("converged" if diag.converged else "NOT converged",
         "sampler checks passed" if diag.converged else "see the warning above"),
    ]
    items = "".join(f'<div><span class="value{"" if i < 2 or diag.converged else " fail"}">{esc(v)}</span>'
                    f'<span class="label">{esc(label)}</span></div>' for i, (v, label) in enumerate(cells))
    return f'<div class="glance">{items}</div>'


def build_report(result: FitResult, *, comparison: str | Path | None = None,
                 sensitivity: str | Path | None = None, classifier: str | Path | None = None,
                 title: str = "Patient subgroups: Bayesian analysis", source: str | None = None,
                 note: str | None = None, progress: Progress | None = None, fit_name: str | None = None) -> str:
    """Render the report of a fit as one self-contained HTML document.

    Parameters
    ----------
    result
        The fit to report.
    comparison
        Folder written by ``pss-bayes compare`` (comparison.csv, comparison.md).
    sensitivity
        Folder written by ``pss-bayes sensitivity`` (stability.csv, summary.md).
    classifier
        Classifier file written by ``pss-bayes classify train`` (JSON).
    title
        Title of the page.
    source
        Where the cohort came from, as shown in the report (default: the
        cohort's own source).
    note
        One line under the title (e.g. that the data are simulated).
    progress
        Called with the name of each part as it is drawn.
    fit_name
        The fit as named in error messages (default: "the fit to" its cohort's source).

    Returns
    -------
    str
        The HTML document: figures embedded as PNG data URIs, no script, no
        external resource.

    Raises
    ------
    ResultFileError
        If an optional input is missing or malformed, or was made from other data than the fit.
    """
    step = progress or (lambda name: None)
    fitted_to = source or result.cohort.source or "a cohort in memory"
    # Optional inputs are read and checked first, so that a bad file fails before any drawing.
    compared = read_comparison(comparison) if comparison is not None else None
    sensed = read_sensitivity(sensitivity) if sensitivity is not None else None
    classified = read_classifier(classifier) if classifier is not None else None
    inputs = (("comparison folder", compared), ("sensitivity folder", sensed), ("classifier file", classified))
    check_same_data(result.cohort.data_hash(), fit_name or f"the fit to {fitted_to}",
                    [(f"{what} '{item.source}'", item.data_hash) for what, item in inputs if item is not None])
    diag = result.diagnostics()
    parts: list[tuple[str, Callable[[], Section]]] = [
        ("cohort summary", lambda: sections.cohort_section(result.cohort.summary(), source)),
        ("number of subgroups", lambda: sections.k_section(result)),
        ("membership figure", lambda: sections.membership_section(result)),
        ("effect plots and signatures", lambda: sections.effects_section(result)),
        ("diagnostics", lambda: sections.diagnostics_section(diag, result.run_info)),
    ]
    if compared is not None:
        parts.append(("model comparison", lambda: optional.comparison_section(compared)))
    if sensed is not None:
        parts.append(("sensitivity analysis", lambda: optional.sensitivity_section(sensed)))
    if classified is not None:
        markers = result.cohort.markers
        modules = dict(zip(markers.names, markers.modules))
        parts.append(("classifier", lambda: optional.classifier_section(classified, modules)))
    rendered = []
    for name, make in parts:
        step(name)
        rendered.append(make())
    subtitle = f"Model '{result.spec.name}' fitted to {fitted_to}." + (f" {note}" if note else "")
    footer = (f"pss_bayes {__version__}. Intervals are 94% highest-density intervals; memberships are "
              "posterior means after relabelling. Tables: membership.csv, effects.csv, module_effects.csv.")
    return page(title, subtitle, sections.banner(diag) + _glance(result), rendered, footer)


def _check_out(out: Path) -> None:
    """Refuse an output path that is a folder (before anything is drawn).

    Raises
    ------
    ResultFileError
        If ``out`` is an existing folder.
    """
    if out.is_dir():
        raise ResultFileError(f"the report's output '{out}' is a folder; give the HTML file to write, "
                              f"e.g. --out {out / 'report.html'}")


def write_report(result: FitResult, out: str | Path, **options: Any) -> Path:
    """Write :func:`build_report`'s document to ``out`` (folders created) and return its path.

    ``options`` are passed on to :func:`build_report`.

    Raises
    ------
    ResultFileError
        If ``out`` is a folder or cannot be written, or as :func:`build_report`.
    """
    out = Path(out)
    _check_out(out)
    document = build_report(result, **options)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise ResultFileError(f"cannot write the report to '{out}' ({exc})") from exc
    return out


def report_from_fit_dir(fit_dir: str | Path, out: str | Path, **options: Any) -> Path:
    """Write the report of a fit directory (written by ``pss-bayes fit``) to ``out``.

    The cohort is named by the file it was originally read from, as recorded in
    the directory's run.json, and error messages name the directory.
    ``options`` are passed on to :func:`build_report`.
    """
    _check_out(Path(out))
    result = load_fit_dir(fit_dir)
    run = json.loads((Path(fit_dir) / RUN_FILE).read_text())
    options.setdefault("source", run.get("cohort", {}).get("source"))
    options.setdefault("fit_name", f"fit folder '{fit_dir}'")
    return write_report(result, out, **options)
