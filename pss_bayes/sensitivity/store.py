"""The sensitivity output folder: one sub-folder per variant, a ``DONE`` marker, a manifest.

Layout of ``DIR``::

    manifest.json            grid, cohort, every variant's status, seed and fingerprint, run history
    variants/NAME/           one finished (or failed) variant
        variant.json         the variant, its seed, spec, sampler settings, data sizes, timing
        membership.csv, n_subgroups.csv, module_effects.csv, diagnostics.json
        DONE                 written last, atomically; holds the variant's fingerprint
        ERROR.txt            instead of DONE when the fit failed
    variants/reference/      the reference fit: a complete fit directory (``write_fit_dir``)

A variant counts as finished only when its ``DONE`` exists and holds the
fingerprint of the variant as now defined and its files (:func:`finished_files`)
are all there, so a half-written folder (a killed run), a folder that lost a file
or a folder from another grid definition is never taken as finished.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from pss_bayes.errors import ResultFileError
from pss_bayes.fit_dir import COHORT_FILE, MARKERS_FILE, POSTERIOR_FILE, RUN_FILE
from pss_bayes.sensitivity.grid import REFERENCE
from pss_bayes.sensitivity.stability import FitTables

MANIFEST = "manifest.json"
VARIANTS = "variants"
DONE = "DONE"
ERROR = "ERROR.txt"
VARIANT_FILE = "variant.json"
TABLES = ("membership", "n_subgroups", "module_effects")
DIAGNOSTICS = "diagnostics.json"


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see either the old content or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def variant_dir(out: Path, name: str) -> Path:
    return Path(out) / VARIANTS / name


def finished_files(name: str) -> tuple[str, ...]:
    """The files a finished variant's folder holds besides ``DONE`` (the reference's: a fit folder's)."""
    files = (VARIANT_FILE, DIAGNOSTICS, *(f"{table}.csv" for table in TABLES))
    if name == REFERENCE:
        files += ("effects.csv", POSTERIOR_FILE, RUN_FILE, COHORT_FILE, MARKERS_FILE)
    return files


def is_done(folder: Path, fingerprint: str) -> bool:
    """Whether the folder (``variants/NAME``) holds a finished variant with this fingerprint and all
    of its files."""
    done = folder / DONE
    try:
        marked = json.loads(done.read_text())["fingerprint"] == fingerprint
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return marked and all((folder / name).is_file() for name in finished_files(folder.name))


def clear(folder: Path) -> None:
    """Remove a variant's unfinished or outdated folder."""
    if folder.exists():
        shutil.rmtree(folder)


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


def mark_done(folder: Path, fingerprint: str) -> None:
    """Write ``DONE`` last: from then on the variant is finished."""
    write_json(folder / DONE, {"fingerprint": fingerprint})


def read_tables(folder: Path) -> FitTables:
    """The result tables of a finished variant."""
    try:
        frames = {name: pd.read_csv(folder / f"{name}.csv", dtype={"subject_id": str, "module": str})
                  for name in TABLES}
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"variant folder '{folder}' is marked DONE but its tables cannot be read "
                              f"({exc}); delete the folder and rerun with --resume") from exc
    return FitTables(**frames)


def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultFileError(f"'{out}' holds no sensitivity run ('{MANIFEST}' is missing); run "
                              "`pss-bayes sensitivity ... --out DIR` first") from None
    except ValueError as exc:
        raise ResultFileError(f"'{path}' is malformed ({exc})") from exc
