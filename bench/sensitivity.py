"""Sensitivity grid runner: wall time of the same grid with 1 and 2 joblib workers, side by side.

Runs the default grid (``models/sensitivity.toml``: reference, prior, K_max,
likelihood and co-variation variants, leave-one-module-out, leave-one-centre-out,
resampled controls, another seed) on one simulated cohort, once per number of
workers, each in a fresh folder. Columns:

- ``workers``: joblib workers (variants fitted at once);
- ``fits``: fits in the grid (reference included), ``failed``: how many failed;
- ``wall_s``: wall time of the whole command (fits, comparisons, power-scaling, figures);
- ``fits_per_min`` and ``speedup`` (against the first row);
- ``same_tables``: whether ``stability.csv``, ``patients_stability.csv`` and
  ``psens.csv`` are byte-identical to the first row's (seeds come from the
  grid's seed and the variant names, so they should be).

Run::

    python bench/sensitivity.py                 # preset k2 (150 + 150 subjects), 300 + 300 sweeps x 2 chains
    python bench/sensitivity.py --quick         # preset tiny, 30 + 30 sweeps x 1 chain
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from _common import markdown_table, parser, write_csv
from pss_bayes import run_sensitivity, simulate_cohort

DEFAULT_SEEDS = (0,)
WORKERS = (1, 2)
FULL = {"preset": "k2", "n_patients": 150, "n_controls": 150, "draws": 300, "tune": 300, "chains": 2}
QUICK = {"preset": "tiny", "draws": 30, "tune": 30, "chains": 1}
COMPARED = ("stability.csv", "patients_stability.csv", "psens.csv")
COLUMNS = ("seed", "workers", "fits", "failed", "wall_s", "fits_per_min", "speedup", "same_tables")


def run_one(seed: int, workers: int, settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Run the default grid once; one row of the table."""
    sizes = {k: settings[k] for k in ("n_patients", "n_controls") if k in settings}
    sim = simulate_cohort(preset=settings["preset"], seed=seed, **sizes)
    started = time.perf_counter()
    result = run_sensitivity(sim.cohort, folder, seed=seed, draws=settings["draws"], tune=settings["tune"],
                             chains=settings["chains"], n_jobs=workers, progress=False)
    wall = time.perf_counter() - started
    fits = len(result.stability)
    return {"seed": seed, "workers": workers, "fits": fits,
            "failed": int((result.stability["status"] == "failed").sum()), "wall_s": wall,
            "fits_per_min": 60 * fits / wall}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__, DEFAULT_SEEDS).parse_args(argv)
    settings = QUICK if args.quick else FULL
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            first: dict[str, Any] | None = None
            for workers in WORKERS:
                print(f"seed {seed}: default grid with {workers} worker(s) ...", file=sys.stderr, flush=True)
                folder = Path(tmp) / f"workers{workers}"
                row = run_one(seed, workers, settings, folder)
                tables = {name: (folder / name).read_bytes() for name in COMPARED}
                first = first or {**row, "tables": tables}
                row["speedup"] = first["wall_s"] / row["wall_s"]
                row["same_tables"] = tables == first["tables"]
                rows.append(row)
    sizes = ", ".join(f"{k} {v}" for k, v in settings.items())
    print(f"## Sensitivity grid: 1 vs 2 workers ({sizes})\n")
    print(markdown_table(rows, COLUMNS))
    write_csv(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
