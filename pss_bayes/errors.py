"""The project's exception family.

Every error a user can cause is a :class:`PssBayesError`. Messages name the file,
the column and, where it applies, the row (subject id and line number), quote the
offending value and say how to fix it. The CLI prints them without a traceback.
"""

from __future__ import annotations


class PssBayesError(Exception):
    """Base class of every error pss_bayes raises on purpose."""


class CohortError(PssBayesError, ValueError):
    """A cohort or markers file is unreadable or breaks the input contract."""


class SpecError(PssBayesError, ValueError):
    """A model specification (TOML) is malformed or names unknown options."""


class SimulationError(PssBayesError, ValueError):
    """Simulation settings, a preset name or an override are invalid."""


class NotFittedError(PssBayesError, AttributeError):
    """An estimator or result was used before it was fitted."""


class ResultFileError(PssBayesError, ValueError):
    """A saved result (NetCDF, JSON, fit directory) is missing, malformed or mismatched."""


class ClassifierError(PssBayesError, ValueError):
    """A subgroup classifier was given invalid settings, or data it cannot be trained or used on."""


def locate(path: str | None, column: str | None = None, *, subject: str | None = None,
           line: int | None = None) -> str:
    """Format the place of an input problem as ``file 'x', column 'c', row 7 (subject 'S1')``.

    Parameters
    ----------
    path
        File the problem was found in (``None`` for in-memory data).
    column
        Column at fault, if any.
    subject
        Subject id of the row at fault, if any.
    line
        1-based line number in the file (header is line 1), if known.
    """
    parts = [f"file '{path}'" if path else "in-memory data"]
    if column is not None:
        parts.append(f"column '{column}'")
    if line is not None:
        row = f"line {line}"
        if subject is not None:
            row += f" (subject '{subject}')"
        parts.append(row)
    elif subject is not None:
        parts.append(f"subject '{subject}'")
    return ", ".join(parts)
