"""Which columns of a cohort are biomarkers: the markers table, or inference from the values."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from pss_bayes.data._table import (NumericColumn, Origin, cell_text, is_missing, is_unnamed,
                                   normalise_columns, parse_numeric, quoted, require_columns)
from pss_bayes.data.cohort import BINARY, CONTINUOUS, KINDS
from pss_bayes.data.transforms import NONE, TRANSFORMS
from pss_bayes.errors import CohortError


@dataclass(frozen=True)
class MarkerRequest:
    """One row of a markers table: a biomarker, its module, kind and transformation (``None``: the default)."""

    name: str
    module: str | None
    kind: str | None
    pos: int
    transform: str = NONE


@dataclass(frozen=True)
class Selection:
    """The biomarker columns of a cohort, read as numbers, and the columns left out."""

    requests: tuple[MarkerRequest, ...]
    columns: Mapping[str, NumericColumn]
    ignored: tuple[str, ...]


def parse_markers(frame: pd.DataFrame, origin: Origin) -> tuple[MarkerRequest, ...]:
    """Check a markers table (columns ``biomarker`` and optionally ``module``, ``kind``, ``transform``)."""
    frame = normalise_columns(frame, origin)
    require_columns(frame, ("biomarker",), origin, "markers table")
    if len(frame) == 0:
        raise CohortError(f"{origin.name}: the markers table lists no biomarkers; add one row per "
                          "biomarker (columns biomarker, module, kind).")
    names = cell_text(frame["biomarker"])
    modules = cell_text(frame["module"]) if "module" in frame else np.full(len(frame), "", dtype=object)
    kinds = cell_text(frame["kind"]) if "kind" in frame else np.full(len(frame), "", dtype=object)
    transforms = cell_text(frame["transform"]) if "transform" in frame else np.full(len(frame), "", dtype=object)
    empty_name, empty_module, empty_kind = is_missing(names), is_missing(modules), is_missing(kinds)
    empty_transform = is_missing(transforms)
    seen: dict[str, int] = {}
    requests = []
    for pos, name in enumerate(names):
        if empty_name[pos]:
            raise CohortError(f"{origin.where('biomarker', pos)}: the biomarker name is empty "
                              f"('{name}'); fill it in or delete the row.")
        if name in seen:
            raise CohortError(
                f"{origin.where('biomarker')}: biomarker '{name}' is listed twice, on "
                f"{origin.row(seen[name])} and {origin.row(pos)}; keep one of the rows.")
        seen[name] = pos
        kind = None if empty_kind[pos] else kinds[pos].casefold()
        if kind is not None and kind not in KINDS:
            raise CohortError(
                f"{origin.where('kind', pos)}: unknown kind '{kinds[pos]}' for biomarker '{name}'; "
                f"valid kinds are {quoted(KINDS)} (or leave the cell empty to infer it: only 0/1 "
                "values means binary).")
        transform = NONE if empty_transform[pos] else transforms[pos].casefold()
        if transform not in TRANSFORMS:
            raise CohortError(
                f"{origin.where('transform', pos)}: unknown transform '{transforms[pos]}' for biomarker "
                f"'{name}'; valid transforms are {quoted(TRANSFORMS)} (or leave the cell empty for none).")
        if transform != NONE and kind == BINARY:
            raise CohortError(
                f"{origin.where('transform', pos)}: binary marker '{name}' cannot take transform "
                f"'{transforms[pos]}'; leave the cell empty, or declare the marker continuous.")
        requests.append(MarkerRequest(name, None if empty_module[pos] else modules[pos], kind, pos, transform))
    return tuple(requests)


def select_biomarkers(frame: pd.DataFrame, origin: Origin, roles: Mapping[str, str],
                      requests: tuple[MarkerRequest, ...] | None,
                      marker_origin: Origin) -> Selection:
    """Pick the biomarker columns of ``frame``.

    With a markers table, exactly its biomarkers; without, every other column in
    which most present cells are numbers (an all-empty column is left out). The
    columns in ``roles`` (name -> role) are never biomarkers.
    """
    if requests is None:
        requests = _infer_requests(frame, roles, origin)
    else:
        for request in requests:
            _check_request(request, frame, origin, roles, marker_origin)
    if not requests:
        raise CohortError(
            f"{origin.name}: no biomarker columns found. Biomarkers are the columns other than "
            "subject_id, group, covariates and batch whose values are numbers; columns found: "
            f"{quoted(frame.columns)}.")
    names = {r.name for r in requests}
    ignored = tuple(c for c in frame.columns if c not in names and c not in roles)
    return Selection(requests, {r.name: parse_numeric(frame[r.name]) for r in requests}, ignored)


def _check_request(request: MarkerRequest, frame: pd.DataFrame, origin: Origin,
                   roles: Mapping[str, str], marker_origin: Origin) -> None:
    where = marker_origin.where("biomarker", request.pos)
    if request.name in roles:
        raise CohortError(
            f"{where}: biomarker '{request.name}' is also the {roles[request.name]} column of "
            f"{origin.name}; a column cannot be both. Remove it from the markers table or from "
            "the declared covariates/batch.")
    if request.name not in frame.columns:
        near = difflib.get_close_matches(request.name, list(frame.columns), n=3)
        hint = f" Close matches: {quoted(near)}." if near else ""
        raise CohortError(
            f"{where}: biomarker '{request.name}' is not a column of {origin.name}.{hint} Fix the "
            "name in one of the files, or remove the row from the markers table.")


def _infer_requests(frame: pd.DataFrame, roles: Mapping[str, str], origin: Origin) -> tuple[MarkerRequest, ...]:
    """Biomarkers of a cohort without a markers table: the undeclared columns whose present cells are
    mostly numbers. A column of numbers written with thousands separators, decimal commas or percent
    signs is refused rather than left out unseen."""
    requests = []
    for column in frame.columns:
        if column in roles or is_unnamed(column):
            continue
        parsed = parse_numeric(frame[column])
        if parsed.n_numbers > int(parsed.bad.sum()):
            requests.append(MarkerRequest(column, None, None, -1))
            continue
        formatted = np.array([bad and _FORMATTED.fullmatch(t) is not None for t, bad in zip(parsed.text, parsed.bad)])
        if formatted.any() and parsed.n_numbers + formatted.sum() >= 0.8 * (~parsed.missing).sum():
            pos = int(np.flatnonzero(formatted)[0])
            raise CohortError(
                f"{origin.where(column, pos)}: '{parsed.text[pos]}' is a number written with a thousands "
                "separator, a decimal comma or a percent sign, as are most of the column's values; write "
                "plain numbers (e.g. 5394.0, 5.3, 49.1), or leave the column out of the file.")
    return tuple(requests)


#: A number written with thousands separators, a decimal comma or a percent sign.
_FORMATTED = re.compile(r"[+-]?(?:\d{1,3}(?:[,' ]\d{3})+(?:\.\d+)?|\d+,\d+|(?:\d+\.?\d*|\.\d+)\s*%)")


def resolve(request: MarkerRequest, parsed: NumericColumn) -> tuple[str, str]:
    """Module and kind of a biomarker: as declared, else its own name and inferred from the values."""
    if request.kind is not None:
        kind = request.kind
    else:
        observed = parsed.values[~np.isnan(parsed.values)]
        binary = observed.size > 0 and bool(np.isin(observed, (0.0, 1.0)).all())
        kind = BINARY if binary else CONTINUOUS
    return request.module or request.name, kind
