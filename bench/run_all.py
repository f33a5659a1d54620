"""Run every benchmark in one go: recovery, generality, independently generated cohorts, real data,
speed, co-variation, comparison, classifier, sensitivity (what ``make bench`` calls).

Each script runs with its own default sizes (a few hours in all on 2 cores), or with ``--quick`` in
its smoke-test mode (a few minutes). ``--seeds`` replaces every script's default seeds; ``--out DIR``
writes each script's rows to ``DIR/<script>.csv``.

Run::

    python bench/run_all.py                          # full sizes
    python bench/run_all.py --quick
    python bench/run_all.py --out bench/results      # also keep the rows as CSV (bench/results/ is git-ignored)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import classifier
import compare
import covariation
import generality
import independent
import real_data
import recovery
import sensitivity
import speed

SCRIPTS = {"recovery": recovery.main, "generality": generality.main, "independent": independent.main,
           "real_data": real_data.main,
           "speed": speed.main, "covariation": covariation.main, "compare": compare.main,
           "classifier": classifier.main, "sensitivity": sensitivity.main}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="every script in its smoke-test mode")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds for every script (default: each script's own)")
    p.add_argument("--out", type=Path, help="folder for the scripts' CSV files")
    args = p.parse_args(argv)
    status = 0
    for name, script in SCRIPTS.items():
        script_args = ["--quick"] if args.quick else []
        if args.seeds:
            script_args += ["--seeds", *map(str, args.seeds)]
        if args.out is not None:
            script_args += ["--out", str(args.out / f"{name}.csv")]
        started = time.perf_counter()
        status = max(status, script(script_args))
        print(f"\n({name}: {time.perf_counter() - started:.0f} s)\n", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
