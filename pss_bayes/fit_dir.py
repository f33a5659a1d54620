"""The self-contained fit directory written by ``pss-bayes fit``.

Besides the result tables it holds everything later steps need without the
original files: the cohort (Parquet, exact values and dtypes), its markers, the
covariate/batch choices and the fitted control-referenced scaling, so that
``classify train DIR`` and ``report DIR`` work from the directory alone.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pss_bayes.data.io import load_cohort, write_cohort, write_markers
from pss_bayes.errors import ResultFileError
from pss_bayes.result import FitResult

COHORT_FILE = "cohort.parquet"
MARKERS_FILE = "markers.csv"
POSTERIOR_FILE = "posterior.nc"
RUN_FILE = "run.json"
NOT_CONVERGED_FILE = "NOT_CONVERGED.txt"
#: Files that mark the output folders of other commands, and what such a folder is.
_OTHER_FOLDERS = (("comparison.csv", "a model-comparison folder (pss-bayes compare)"),
                  ("manifest.json", "a sensitivity-analysis folder (pss-bayes sensitivity)"))
#: Where a sensitivity-analysis folder keeps its reference fit (a fit folder).
_SENSITIVITY_REFERENCE = Path("variants") / "reference"


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version()}
    for package in ("pss-bayes", "numpy", "scipy", "pandas", "xarray", "pymc", "arviz", "scikit-learn"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def write_fit_dir(result: FitResult, out: str | Path, command: list[str] | None = None) -> list[Path]:
    """Write every output of a fit into ``out`` and return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    diag = result.diagnostics()
    written = []

    def table(name: str, frame) -> None:
        path = out / name
        frame.to_csv(path, index=False)
        written.append(path)

    table("membership.csv", result.membership())
    table("n_subgroups.csv", result.n_subgroups())
    table("effects.csv", result.effects())
    table("module_effects.csv", result.module_effects())
    spread = result.patient_spread()
    if len(spread):
        table("patient_spread.csv", spread)
    elif (out / "patient_spread.csv").exists():          # left by an earlier fit into the same folder
        (out / "patient_spread.csv").unlink()
    path = out / "diagnostics.json"
    path.write_text(json.dumps(diag.to_dict(), indent=2) + "\n")
    written.append(path)
    written.append(result.save(out / POSTERIOR_FILE))
    cohort = result.cohort
    written.append(write_cohort(cohort, out / COHORT_FILE) or out / COHORT_FILE)
    written.append(write_markers(cohort, out / MARKERS_FILE) or out / MARKERS_FILE)
    k_table = result.n_subgroups()
    conditional = len(k_table) > 1
    run: dict[str, Any] = {
        "command": command if command is not None else sys.argv,
        "spec": result.spec.to_dict(),
        "versions": versions(),
        **result.run_info,
        "cohort": {"source": cohort.source, "data_hash": cohort.data_hash(),
                   "n_patients": cohort.n_patients, "n_controls": cohort.n_controls,
                   "biomarkers": list(cohort.biomarker_names), "covariates": list(cohort.covariate_names),
                   "batch": cohort.batch_name if cohort.batch is not None else None,
                   "group_labels": list(cohort.group_labels),
                   "ignored_columns": list(cohort.ignored_columns),
                   "dropped_subjects": [list(x) for x in cohort.dropped_subjects]},
        "scaling": result.scaling.to_dict(),
        "design": result.design.to_dict(),
        "k_reported": result.k,
        "memberships_conditional_on_k": conditional,
        "membership_note": (f"Memberships, effects and module effects are conditional on K={result.k}, "
                            + ("the number of non-empty subgroups requested"
                               if "k_requested" in result.run_info and "k_note" not in result.run_info
                               else "the posterior mode of the number of non-empty subgroups")
                            + "; n_subgroups.csv carries the uncertainty in K." if conditional else
                            f"All posterior draws had K={result.k} non-empty subgroups."),
        "data_warnings": list(cohort.summary().warnings),
        "converged": diag.converged,
        "warnings": diag.warnings,
        "model_warnings": diag.model_warnings,
    }
    path = out / RUN_FILE
    path.write_text(json.dumps(run, indent=2, default=str) + "\n")
    written.append(path)
    flag = out / NOT_CONVERGED_FILE
    if not diag.converged:
        flag.write_text("This fit did NOT pass its convergence checks; treat its results with caution.\n"
                        + "\n".join(f"- {w}" for w in diag.warnings) + "\n")
        written.append(flag)
    elif flag.exists():
        flag.unlink()
    return written


def load_fit_dir(path: str | Path) -> FitResult:
    """Load a fit directory written by :func:`write_fit_dir`."""
    path = Path(path)
    run_file = path / RUN_FILE
    if not run_file.is_file():
        _refuse_other_folder(path)
        raise ResultFileError(f"'{path}' is not a fit directory: '{RUN_FILE}' is missing "
                              "(write one with `pss-bayes fit ... --out DIR`)")
    try:
        run = json.loads(run_file.read_text())
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"'{run_file}' is malformed ({exc})") from exc
    if not isinstance(run, dict) or "cohort" not in run:
        _refuse_other_folder(path)
        raise ResultFileError(f"'{run_file}' is malformed (it has no 'cohort' entry)")
    info = run["cohort"]
    patient_label, control_label = info["group_labels"]
    cohort = load_cohort(path / COHORT_FILE, markers=path / MARKERS_FILE,
                         covariates=tuple(info["covariates"]), batch=info["batch"],
                         patient_label=patient_label, control_label=control_label)
    return FitResult.load(path / POSTERIOR_FILE, cohort)


def _refuse_other_folder(path: Path) -> None:
    """Raise a plain error if ``path`` is the output folder of ``pss-bayes compare`` or ``sensitivity``.

    Raises
    ------
    ResultFileError
        If the folder holds a model comparison or a sensitivity analysis.
    """
    for marker, what in _OTHER_FOLDERS:
        if (path / marker).is_file():
            reference = path / _SENSITIVITY_REFERENCE
            hint = (f" (its reference fit '{reference}' is one)"
                    if marker == "manifest.json" and (reference / RUN_FILE).is_file() else "")
            raise ResultFileError(f"'{path}' is {what}, not a fit folder; pass a folder written by "
                                  f"pss-bayes fit{hint}")
