"""Random, label-stratified splits of patients: a held-out part and cross-validation folds."""

from __future__ import annotations

import numpy as np


def stratified_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index of each row, dealing each label's rows round-robin in random order."""
    folds = np.empty(len(labels), dtype=int)
    start = 0
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        folds[rows] = (start + np.arange(len(rows))) % n_folds
        start += len(rows)
    return folds


def holdout_split(labels: np.ndarray, fraction: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out row indices, stratified by label, at least one of each label kept in training."""
    held = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        held.extend(rows[:min(int(round(fraction * len(rows))), len(rows) - 1)])
    held = np.sort(np.asarray(held, dtype=int))
    return np.setdiff1d(np.arange(len(labels)), held), held
