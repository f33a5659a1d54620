"""Shared fixtures of the cohort-reading tests: a small valid cohort and file writers."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from tests.data.factories import make_frame, make_markers


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def markers() -> pd.DataFrame:
    return make_markers()


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame to ``tmp_path / name`` in the format the extension names."""
    def _write(frame: pd.DataFrame, name: str = "cohort.csv") -> Path:
        path = tmp_path / name
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") else ",", index=False)
        return path
    return _write


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write raw text to ``tmp_path / name``."""
    def _write(text: str, name: str = "cohort.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return _write
