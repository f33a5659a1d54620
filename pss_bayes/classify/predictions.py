"""Predictions for a file of new patients, as ``pss-bayes classify predict`` writes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pss_bayes.classify.model import INDETERMINATE, SubgroupClassifier
from pss_bayes.classify.newdata import read_new_patients


def predict_file(model: SubgroupClassifier, new: str | Path, out: str | Path) -> pd.DataFrame:
    """Predict every subject of a file of new patients and write ``predictions.csv``.

    Parameters
    ----------
    model
        A trained (or loaded) classifier.
    new
        Table of new patients (CSV, TSV or Parquet): ``subject_id`` and the
        panel's biomarker columns; other columns are ignored.
    out
        CSV file to write (folders created); ``ood`` is written as ``true`` / ``false``.

    Returns
    -------
    pandas.DataFrame
        The table written (see :meth:`SubgroupClassifier.predict_table`).

    Raises
    ------
    ClassifierError
        If the file lacks a panel column or holds missing or invalid panel values.
    """
    panel = list(model.panel_)
    ids, values = read_new_patients(new, panel, model.panel_is_binary_,
                                    None if model.scaling_ is None else model.scaling_.transforms)
    table = model.predict_table(pd.DataFrame(values, columns=panel), subject_ids=ids)
    table["ood"] = table["ood"].map({True: "true", False: "false"})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def prediction_summary(table: pd.DataFrame) -> str:
    """One line: subjects assigned per subgroup, indeterminate, and how many are out of distribution.

    Parameters
    ----------
    table
        Predictions as returned by :func:`predict_file`.

    Returns
    -------
    str
        E.g. ``"20 subjects: 1: 6, 2: 5; 9 indeterminate (2 out of distribution)."``
    """
    counts = table["subgroup"].astype(str).value_counts()
    decided = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items(), key=lambda kv: (len(kv[0]), kv[0]))
                        if label != INDETERMINATE)
    n_ood = int(table["ood"].astype(str).str.lower().eq("true").sum())
    return (f"{len(table)} subjects: {decided or 'none decided'}; {counts.get(INDETERMINATE, 0)} indeterminate "
            f"({n_ood} out of distribution).")
