"""Cell-level reading of cohort tables: missing-value spellings, numbers, column names, locations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from pss_bayes.errors import CohortError, locate

#: Cell contents that mean "missing", compared ignoring case and surrounding spaces.
NA_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "null", ".", "#N/A")
_NA_KEYS = frozenset(value.casefold() for value in NA_VALUES)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|[+-]?inf(?:inity)?", re.IGNORECASE)
_UNNAMED = re.compile(r"Unnamed: \d+")


@dataclass(frozen=True)
class Origin:
    """Where a table came from, to name its columns and rows in messages.

    Parameters
    ----------
    path
        File the table was read from (``None`` for in-memory data).
    lines
        1-based line number in the file of each row (header is line 1); ``None``
        when rows are named by their 1-based position instead (Parquet, in-memory).
    """

    path: str | None
    lines: np.ndarray | None = None

    @property
    def name(self) -> str:
        """``file 'x'`` or ``in-memory data``."""
        return locate(self.path)

    def row(self, pos: int) -> str:
        """``line 7`` (text files) or ``row 6`` (elsewhere) for the row at position ``pos``."""
        return f"line {int(self.lines[pos])}" if self.lines is not None else f"row {pos + 1}"

    def where(self, column: str | None = None, pos: int | None = None,
              subject: str | None = None) -> str:
        """The file, column and (if ``pos`` is given) row of a problem."""
        if pos is not None and self.lines is not None:
            return locate(self.path, column, subject=subject, line=int(self.lines[pos]))
        if pos is None:
            return locate(self.path, column, subject=subject)
        row = self.row(pos) + ("" if subject is None else f" (subject '{subject}')")
        return f"{locate(self.path, column)}, {row}"


def quoted(names: Iterable[str], limit: int = 12) -> str:
    """``'a', 'b', 'c'`` (at most ``limit`` names, then a count of the rest)."""
    names = list(names)
    text = ", ".join(f"'{n}'" for n in names[:limit])
    if len(names) > limit:
        text += f" and {len(names) - limit} more"
    return text or "none"


def shown(cell: str) -> str:
    """A cell for a message: ``'NA'``, or ``an empty cell``."""
    return f"'{cell}'" if cell else "an empty cell"


def is_unnamed(column: str) -> bool:
    """Whether a column has no header (empty, or pandas' ``Unnamed: 3``)."""
    return column == "" or _UNNAMED.fullmatch(column) is not None


def normalise_columns(frame: pd.DataFrame, origin: Origin) -> pd.DataFrame:
    """A copy of ``frame`` with stripped string column names and a default index.

    Empty names become ``Unnamed: <position>``; a name used twice is an error.
    """
    names = [str(c).strip() for c in frame.columns]
    names = [f"Unnamed: {i}" if n == "" else n for i, n in enumerate(names)]
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise CohortError(
                f"{origin.name}: column name '{name}' appears twice in the header (columns "
                f"{first[name] + 1} and {i + 1}); rename or remove one of them.")
        first[name] = i
    out = frame.copy()
    out.columns = names
    return out.reset_index(drop=True)


def require_columns(frame: pd.DataFrame, required: Iterable[str], origin: Origin,
                    what: str) -> None:
    """Raise if a required column is absent, listing the columns that are there."""
    for name in required:
        if name in frame.columns:
            continue
        hint = ""
        near = [c for c in frame.columns if c.casefold() == name.casefold()]
        if near:
            hint = f" Column '{near[0]}' differs only in case; rename it to '{name}'."
        elif len(frame.columns) == 1 and any(sep in frame.columns[0] for sep in ",;\t"):
            hint = (" The header was read as a single column: check the delimiter (',' for .csv, "
                    "tab for .tsv/.txt).")
        raise CohortError(
            f"{origin.name}: the {what} needs a column named '{name}', but it has none. "
            f"Columns found: {quoted(frame.columns)}.{hint}")


def _is_na(cell: object) -> bool:
    return cell is None or cell is pd.NA or cell is pd.NaT or (isinstance(cell, float) and cell != cell)


def cell_text(column: pd.Series) -> np.ndarray:
    """Each cell as stripped text (object array); ``""`` where the frame holds a missing value."""
    return np.array(["" if _is_na(cell) else str(cell).strip() for cell in column.tolist()],
                    dtype=object)


def is_missing(text: np.ndarray) -> np.ndarray:
    """Which cells of :func:`cell_text` output spell a missing value (see :data:`NA_VALUES`)."""
    return np.array([t.casefold() in _NA_KEYS for t in text], dtype=bool)


@dataclass(frozen=True)
class NumericColumn:
    """A column read as numbers.

    Attributes
    ----------
    text
        Each cell as stripped text, to quote in messages.
    values
        The numbers; ``NaN`` where missing or not a number.
    missing
        Cells that are empty or spell a missing value.
    bad
        Cells that hold something other than a number.
    """

    text: np.ndarray
    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray

    @property
    def n_numbers(self) -> int:
        """How many cells hold a number."""
        return int((~self.missing & ~self.bad).sum())


def parse_numeric(column: pd.Series) -> NumericColumn:
    """Read a column as numbers, keeping track of missing and non-numeric cells.

    Numeric (and boolean) columns are taken as they are; text cells must be plain
    decimal numbers (``12``, ``-0.5``, ``1e-3``; ``inf`` is read as infinite).
    """
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        text = np.array(["" if m else str(v) for v, m in zip(values, missing)], dtype=object)
        return NumericColumn(text, values, missing, np.zeros(len(values), dtype=bool))
    text = cell_text(column)
    missing = is_missing(text)
    number = np.array([not m and _NUMBER.fullmatch(t) is not None for t, m in zip(text, missing)],
                      dtype=bool)
    values = np.full(len(text), np.nan)
    values[number] = [float(t) for t in text[number]]
    return NumericColumn(text, values, missing, ~missing & ~number)
