"""The grid runner: files, manifest, resume, failures, and the Dask backend."""

import json

import pandas as pd
import pytest

from pss_bayes.errors import ResultFileError
from pss_bayes.sensitivity import analyse, run_sensitivity
from pss_bayes.sensitivity import runner as runner_module
from pss_bayes.sensitivity.store import DONE, ERROR, MANIFEST
from tests.sensitivity.conftest import NAMES, OUTPUTS, few_patients_in_centre


def _stamps(out, names):
    return {n: (out / "variants" / n / DONE).stat().st_mtime_ns for n in names}


def test_run_writes_tables_summary_figures_and_variant_folders(small_run, file_cohort):
    out, result = small_run
    stability = pd.read_csv(out / "stability.csv")
    assert stability["variant"].tolist() == NAMES
    assert {"variant", "status", "k_mode", "ari_vs_reference", "n_changed", "max_membership_change"} <= set(stability)
    assert set(stability["status"]) == {"done"}
    ref = stability.iloc[0]
    assert ref["ari_vs_reference"] == 1.0 and ref["n_changed"] == 0
    patients = pd.read_csv(out / "patients_stability.csv")
    assert len(patients) == file_cohort.n_patients
    assert patients["stability"].between(0, 1).all() and (patients["n_variants"] == 4).all()
    assert set(pd.read_csv(out / "k_posterior.csv")["variant"]) == set(NAMES)
    assert pd.read_csv(out / "membership_change.csv", index_col=0).shape == (file_cohort.n_patients, 4)
    for name in OUTPUTS + ("k_posterior.png", "membership_change.png"):
        assert (out / name).stat().st_size > 0, name
    summary = (out / "summary.md").read_text()
    assert "## Verdict" in summary and "power-scaling" in summary.lower()
    for name in NAMES:
        assert (out / "variants" / name / DONE).exists()
    assert (out / "variants" / "reference" / "posterior.nc").exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert [v["status"] for v in manifest["variants"].values()] == ["done"] * 5
    assert manifest["runs"][-1]["computed"] and manifest["runs"][-1]["backend"] == "joblib (1 worker)"
    info = json.loads((out / "variants" / "no_interferon" / "variant.json").read_text())
    assert info["n_biomarkers"] == len(file_cohort.markers) - 4
    numbers = ["k_mode", "ari_vs_reference", "n_changed", "max_membership_change"]
    pd.testing.assert_frame_equal(result.stability[numbers], stability[numbers], check_dtype=False)


def test_existing_folder_needs_resume(small_run, file_cohort, cohort_dir):
    out, _ = small_run
    with pytest.raises(ResultFileError, match="already holds a sensitivity run; rerun with --resume"):
        run_sensitivity(file_cohort, out, cohort_dir / "grid.toml", n_jobs=1, progress=False)
    other = file_cohort.subset(biomarkers=file_cohort.biomarker_names[:-1])
    with pytest.raises(ResultFileError, match="on other data"):
        run_sensitivity(other, out, cohort_dir / "grid.toml", n_jobs=1, progress=False, resume=True)


def test_resume_refits_only_unfinished_or_outdated_variants(small_run, file_cohort, cohort_dir, tmp_path):
    import shutil

    source, _ = small_run
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    (out / "variants" / "normal" / DONE).unlink()                       # half-written: no DONE
    (out / "variants" / "bootstrap" / DONE).write_text('{"fingerprint": "other"}')   # another definition
    stamps = _stamps(out, ["reference", "no_interferon", "another_seed"])
    result = run_sensitivity(file_cohort, out, cohort_dir / "grid.toml", n_jobs=1, progress=False, resume=True)
    assert sorted(result.run.computed) == ["bootstrap", "normal"]
    assert sorted(result.run.skipped) == ["another_seed", "no_interferon", "reference"]
    assert _stamps(out, stamps) == stamps
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before


@pytest.mark.parametrize("lost", ["no_interferon/membership.csv", "reference/posterior.nc"])
def test_resume_refits_a_finished_variant_that_lost_a_file(small_run, file_cohort, cohort_dir, tmp_path,
                                                           monkeypatch, lost):
    import shutil

    source, _ = small_run
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    (out / "variants" / lost).unlink()
    name = lost.split("/")[0]
    real, fitted = runner_module.execute, []

    def recording(task, cohort):
        assert (out / MANIFEST).read_text().count('"pending"') == 1     # decided before any fit
        fitted.append(task.variant.name)
        return real(task, cohort)

    monkeypatch.setattr(runner_module, "execute", recording)
    result = run_sensitivity(file_cohort, out, cohort_dir / "grid.toml", n_jobs=1, progress=False, resume=True)
    assert fitted == result.run.computed == [name]
    assert sorted(result.run.skipped) == sorted(set(NAMES) - {name})
    assert (out / "variants" / lost).exists()
    for output in OUTPUTS:
        assert (out / output).read_bytes() == (source / output).read_bytes(), output


def test_failed_variant_is_recorded_and_retried_on_resume(file_cohort, tmp_path, monkeypatch):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\ndraws = 15\ntune = 15\nchains = 1\n[[variant]]\nname = "normal"\n'
                    'likelihood = { family = "normal" }\n[[variant]]\nname = "another_seed"\n')
    real = runner_module.variant_cohort

    def broken(cohort, variant, seed):
        if variant.name == "normal":
            raise RuntimeError("simulated failure")
        return real(cohort, variant, seed)

    monkeypatch.setattr(runner_module, "variant_cohort", broken)
    out = tmp_path / "run"
    result = run_sensitivity(file_cohort, out, grid, n_jobs=1, progress=False)
    row = result.stability.set_index("variant").loc["normal"]
    assert row["status"] == "failed" and "simulated failure" in row["error"]
    assert result.stability["status"].tolist() == ["done", "failed", "done"]
    assert "simulated failure" in (out / "variants" / "normal" / ERROR).read_text()
    assert not (out / "variants" / "normal" / DONE).exists()
    assert "## Failed variants" in result.summary
    monkeypatch.setattr(runner_module, "variant_cohort", real)
    again = run_sensitivity(file_cohort, out, grid, n_jobs=1, progress=False, resume=True)
    assert again.run.computed == ["normal"] and set(again.stability["status"]) == {"done"}


def test_variant_with_too_few_patients_fails_unfitted_and_counts_stay_integers(file_cohort, tmp_path,
                                                                                monkeypatch):
    cohort = few_patients_in_centre(file_cohort)
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\ndraws = 15\ntune = 15\nchains = 1\n[[variant]]\nname = "without_B"\n'
                    'drop_centre = "B"\n')
    real, fitted = runner_module.fit, []

    def recording(data, *args, **kwargs):
        fitted.append(data.n_patients)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(runner_module, "fit", recording)
    out = tmp_path / "run"
    result = run_sensitivity(cohort, out, grid, n_jobs=1, progress=False)
    assert fitted == [cohort.n_patients]                                   # the reference only
    row = result.stability.set_index("variant").loc["without_B"]
    assert row["status"] == "failed" and "leaves 5 patients" in row["error"]
    assert "leaves 5 patients" in (out / "variants" / "without_B" / ERROR).read_text()
    assert (result.stability[["n_patients", "k_mode", "n_changed"]].dtypes == "Int64").all()
    cells = pd.read_csv(out / "stability.csv", dtype=str, keep_default_na=False).set_index("variant")
    assert cells.loc["reference", "n_patients"] == str(cohort.n_patients)
    assert cells.loc["reference", "k_mode"].isdigit() and cells.loc["reference", "n_changed"] == "0"
    assert (cells.loc["without_B", ["n_patients", "k_mode", "n_changed"]] == "").all()


def test_analyse_needs_a_finished_reference(tmp_path):
    with pytest.raises(ResultFileError, match="holds no sensitivity run"):
        analyse(tmp_path)


def test_dask_cluster_gives_the_same_tables(small_run, file_cohort, cohort_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    source, _ = small_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  dashboard_address=None) as cluster:
        result = run_sensitivity(file_cohort, tmp_path / "dask", cohort_dir / "grid.toml", progress=False,
                                 scheduler=cluster.scheduler_address)
    assert sorted(result.run.computed) == sorted(NAMES)
    manifest = json.loads((tmp_path / "dask" / MANIFEST).read_text())
    assert manifest["runs"][-1]["backend"].startswith("dask (tcp://")
    for name in OUTPUTS:
        assert (tmp_path / "dask" / name).read_bytes() == (source / name).read_bytes(), name
