"""Running a grid's fits in parallel (joblib, or a Dask cluster), resumably.

Each fit runs in a worker (:func:`execute`), which returns its tables; the
calling process writes every finished variant at once to ``DIR/variants/NAME/``
(``DONE`` last, atomically) and updates ``DIR/manifest.json``. A rerun with
``resume=True`` skips the variants whose ``DONE`` holds the fingerprint of the
variant as now defined (its definition, spec, sampler settings, seed, the data
and the package version) and whose files are all there, and refits the others
(decided before any fit starts); a fit that raises is recorded
with its error and the grid goes on. Seeds come from the grid's seed and the
variant's name, so a resumed run gives the same tables as an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pss_bayes import __version__
from pss_bayes.data.cohort import Cohort
from pss_bayes.errors import PssBayesError, ResultFileError
from pss_bayes.fit_dir import write_fit_dir
from pss_bayes.inference import fit
from pss_bayes.model.spec import ModelSpec, load_spec
from pss_bayes.result import FitResult
from pss_bayes.sensitivity import store
from pss_bayes.sensitivity.apply import variant_cohort
from pss_bayes.sensitivity.grid import REFERENCE, SensitivityGrid, Variant, variant_seed


@dataclass(frozen=True)
class VariantTask:
    """Everything a worker needs to fit one variant (besides the cohort)."""

    variant: Variant
    spec: ModelSpec
    seed: int
    draws: int
    tune: int
    chains: int
    data_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant.to_dict(), "spec": self.spec.to_dict(), "seed": self.seed,
                "draws": self.draws, "tune": self.tune, "chains": self.chains, "data_hash": self.data_hash,
                "pss_bayes_version": __version__}

    @property
    def fingerprint(self) -> str:
        """Hash of the task: a finished variant is reused only if nothing here changed."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


@dataclass
class VariantOutcome:
    """What a worker returns: the tables of a finished fit, or the error of a failed one."""

    name: str
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    result: FitResult | None = None
    error: str | None = None
    details: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class GridRun:
    """Which variants this run computed, which it found finished, and which failed."""

    out: Path
    tasks: list[VariantTask]
    notes: list[str]
    computed: list[str]
    skipped: list[str]
    failed: dict[str, str]


def make_tasks(grid: SensitivityGrid, cohort: Cohort) -> tuple[list[VariantTask], list[str]]:
    """One task per variant of the grid on this cohort (the reference first), and expansion notes."""
    reference = load_spec(grid.model)
    s = reference.sampler
    expansion = grid.expand(cohort)
    data_hash = cohort.data_hash()
    tasks = [VariantTask(variant=v, spec=v.spec(reference), seed=variant_seed(grid.seed, v.name),
                         draws=grid.draws or s.draws, tune=s.tune if grid.tune is None else grid.tune,
                         chains=grid.chains or s.chains, data_hash=data_hash)
             for v in expansion.variants]
    return tasks, expansion.notes


def execute(task: VariantTask, cohort: Cohort) -> VariantOutcome:
    """Fit one variant (in a worker); never raises: failures come back as the outcome's error."""
    started = time.perf_counter()
    name = task.variant.name
    try:
        data = variant_cohort(cohort, task.variant, task.seed)
        # Every variant runs the same number of draws, so that their differences are not those
        # of the run lengths (and a grid's run time stays predictable).
        result = fit(data, task.spec, seed=task.seed, draws=task.draws, tune=task.tune, chains=task.chains,
                     extensions=0, n_jobs=1, progress=False)
        diag = result.diagnostics()
        info = {"n_patients": data.n_patients, "n_controls": data.n_controls,
                "n_biomarkers": len(data.markers), "k_reported": result.k, "converged": diag.converged,
                "warnings": diag.warnings}
        if name == REFERENCE:
            return VariantOutcome(name, time.perf_counter() - started, info, result=result)
        tables = {"membership": result.membership(), "n_subgroups": result.n_subgroups(),
                  "module_effects": result.module_effects()}
        return VariantOutcome(name, time.perf_counter() - started, {**info, "diagnostics": diag.to_dict()},
                              tables)
    except Exception as exc:  # noqa: BLE001 - a failed variant is recorded and the grid goes on
        return VariantOutcome(name, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}",
                              details=traceback.format_exc())


def run_grid(cohort: Cohort, grid: SensitivityGrid, out: str | Path, *, n_jobs: int | None = None,
             scheduler: str | None = None, resume: bool = False, progress: bool = True) -> GridRun:
    """Fit every variant of the grid not yet finished in ``out`` and write each as it finishes.

    Parameters
    ----------
    cohort
        The whole cohort.
    grid
        The grid (its settings already overridden as wanted).
    out
        Output folder.
    n_jobs
        Variants fitted at once by joblib (default: number of cores); ignored with ``scheduler``.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``) to run the fits on.
    resume
        Continue a run in ``out``: keep its finished variants, fit the others.
    progress
        Show a progress bar and a line per finished variant.

    Raises
    ------
    ResultFileError
        If ``out`` already holds a run and ``resume`` is false, or holds a run on other data.
    """
    out = Path(out)
    tasks, notes = make_tasks(grid, cohort)
    n_jobs = max(1, n_jobs or os.cpu_count() or 1)
    backend = f"dask ({scheduler})" if scheduler else f"joblib ({n_jobs} worker{'s' * (n_jobs > 1)})"
    manifest = _open_manifest(out, grid, cohort, tasks, notes, resume)
    pending = [t for t in tasks if not store.is_done(store.variant_dir(out, t.variant.name), t.fingerprint)]
    by_name = {t.variant.name: t for t in pending}
    skipped = [t.variant.name for t in tasks if t.variant.name not in by_name]
    run = {"started": _now(), "resumed": resume, "backend": backend, "skipped": skipped, "computed": [],
           "failed": [], "finished": None}
    manifest["runs"].append(run)
    for t in tasks:
        entry = manifest["variants"][t.variant.name]
        if t.variant.name in by_name:
            store.clear(store.variant_dir(out, t.variant.name))
            entry.update(status="pending", error=None)
        else:
            entry["status"] = "done"
    store.write_json(out / store.MANIFEST, manifest)
    failed: dict[str, str] = {}
    outcomes: Iterable[VariantOutcome] = ()
    if pending:
        outcomes = _dask(pending, cohort, scheduler) if scheduler else _joblib(pending, cohort, n_jobs)
    columns = (TextColumn("variants"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        task_id = bar.add_task("variants", total=len(pending))
        if skipped and progress:
            bar.console.print(f"{len(skipped)} variant(s) already finished in {out}: kept")
        for outcome in outcomes:
            task = by_name[outcome.name]
            _write(out, task, outcome)
            entry = manifest["variants"][outcome.name]
            entry.update(status="failed" if outcome.failed else "done", error=outcome.error,
                         seconds=round(outcome.seconds, 2))
            (run["failed"] if outcome.failed else run["computed"]).append(outcome.name)
            if outcome.failed:
                failed[outcome.name] = outcome.error or ""
            store.write_json(out / store.MANIFEST, manifest)
            bar.advance(task_id)
            if progress:
                status = f"[red]failed[/red]: {outcome.error}" if outcome.failed else "done"
                bar.console.print(f"  {outcome.name}: {status} ({outcome.seconds:.1f} s)", highlight=False)
    run["finished"] = _now()
    store.write_json(out / store.MANIFEST, manifest)
    return GridRun(out, tasks, notes, computed=list(run["computed"]), skipped=skipped, failed=failed)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _open_manifest(out: Path, grid: SensitivityGrid, cohort: Cohort, tasks: list[VariantTask],
                   notes: list[str], resume: bool) -> dict[str, Any]:
    path = out / store.MANIFEST
    existing = path.exists() or (out / store.VARIANTS).exists()
    if existing and not resume:
        raise ResultFileError(f"'{out}' already holds a sensitivity run; rerun with --resume to continue it "
                              "(finished variants are kept), or choose another --out folder")
    old: dict[str, Any] = {"runs": [], "variants": {}}
    if path.exists():
        old = store.read_manifest(out)
        if old.get("cohort", {}).get("data_hash") != cohort.data_hash():
            raise ResultFileError(f"'{out}' holds a sensitivity run on other data than this cohort; "
                                  "choose another --out folder")
    out.mkdir(parents=True, exist_ok=True)
    timings = {name: entry.get("seconds") for name, entry in old.get("variants", {}).items()}
    return {
        "pss_bayes_version": __version__,
        "grid": grid.settings(),
        "cohort": {"source": cohort.source, "data_hash": cohort.data_hash(), "n_patients": cohort.n_patients,
                   "n_controls": cohort.n_controls, "n_biomarkers": len(cohort.markers),
                   "modules": list(cohort.markers.module_names), "batch": cohort.batch_name},
        "notes": notes,
        "variants": {t.variant.name: {**t.variant.to_dict(), "seed": t.seed, "draws": t.draws, "tune": t.tune,
                                      "chains": t.chains, "fingerprint": t.fingerprint, "status": "pending",
                                      "error": None, "seconds": timings.get(t.variant.name)}
                     for t in tasks},
        "runs": old.get("runs", []),
    }


def _write(out: Path, task: VariantTask, outcome: VariantOutcome) -> None:
    """Write one variant's folder; ``DONE`` comes last (not at all for a failed fit)."""
    folder = store.variant_dir(out, task.variant.name)
    store.clear(folder)
    folder.mkdir(parents=True)
    info = {**task.to_dict(), "fingerprint": task.fingerprint, "seconds": round(outcome.seconds, 2),
            "error": outcome.error, **outcome.info}
    store.write_json(folder / store.VARIANT_FILE, info)
    if outcome.failed:
        store.write_atomic(folder / store.ERROR, f"{outcome.error}\n\n{outcome.details}")
        return
    if outcome.result is not None:
        write_fit_dir(outcome.result, folder, command=["pss-bayes", "sensitivity", f"variant {task.variant.name}"])
    else:
        store.write_tables(folder, outcome.tables)
        store.write_json(folder / store.DIAGNOSTICS, outcome.info["diagnostics"])
    store.mark_done(folder, task.fingerprint)


def _joblib(tasks: list[VariantTask], cohort: Cohort, n_jobs: int) -> Iterator[VariantOutcome]:
    if n_jobs == 1 or len(tasks) <= 1:
        return (execute(t, cohort) for t in tasks)
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=min(n_jobs, len(tasks)), return_as="generator_unordered")
    return iter(parallel(delayed(execute)(t, cohort) for t in tasks))


def _dask(tasks: list[VariantTask], cohort: Cohort, address: str) -> Iterator[VariantOutcome]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise PssBayesError("--scheduler needs Dask's distributed scheduler: "
                            "pip install 'pss-bayes[dask]'") from exc
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise PssBayesError(f"cannot reach the Dask scheduler at '{address}' ({exc}); check the address "
                            "(tcp://host:port) and that the scheduler is running") from exc
    return _collect(client, tasks, cohort)


def _collect(client: Any, tasks: Iterable[VariantTask], cohort: Cohort) -> Iterator[VariantOutcome]:
    from distributed import as_completed

    with client:
        shared = client.scatter(cohort, broadcast=True)
        futures = {client.submit(execute, t, shared, pure=False,
                                 key=f"pss-variant-{t.variant.name}-{t.fingerprint[:12]}"): t for t in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker that died: record and go on
                yield VariantOutcome(futures[future].variant.name, 0.0, error=f"{type(exc).__name__}: {exc}",
                                     details=traceback.format_exc())
