"""``pss-bayes fit`` end to end on a tiny simulated cohort."""

import json

import pandas as pd
import pytest

from pss_bayes.cli import main


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory, tiny_sim):
    folder = tmp_path_factory.mktemp("cohort")
    tiny_sim.write(folder)
    return folder


def _fit_args(cohort_dir, out, *extra):
    return ["fit", str(cohort_dir / "cohort.csv"), "--markers", str(cohort_dir / "markers.csv"),
            "--covariates", "age,sex", "--batch", "centre", "--draws", "40", "--tune", "40",
            "--chains", "2", "--jobs", "1", "--seed", "3", "--out", str(out), *extra]


def test_fit_writes_the_contracted_files(cohort_dir, tmp_path, capsys):
    out = tmp_path / "fit"
    main(_fit_args(cohort_dir, out, "--quiet", "--extensions", "1"))
    members = pd.read_csv(out / "membership.csv")
    k = json.loads((out / "run.json").read_text())["k_reported"]
    expected = ["subject_id", "subgroup", "p_max", "entropy"] + [
        f"p_{i}{s}" for i in range(1, k + 1) for s in ("", "_lo", "_hi")]
    assert list(members.columns) == expected
    assert list(pd.read_csv(out / "n_subgroups.csv").columns) == ["k", "probability"]
    effects = pd.read_csv(out / "effects.csv")
    assert {"subgroup", "biomarker", "module", "mean", "hdi_lo", "hdi_hi", "p_above_controls"} <= set(effects)
    modules = pd.read_csv(out / "module_effects.csv")
    assert {"subgroup", "module", "mean", "hdi_lo", "hdi_hi", "p_above_controls"} <= set(modules)
    spread = pd.read_csv(out / "patient_spread.csv")
    assert list(spread.columns) == ["subgroup", "module", "mean", "sd", "hdi_lo", "hdi_hi", "p_above_controls"]
    assert set(spread["module"]) == set(modules["module"]) - {"autoantibodies"}      # modules with continuous markers
    assert ((spread["hdi_lo"] > 0) & (spread["hdi_lo"] <= spread["mean"]) & (spread["mean"] <= spread["hdi_hi"])).all()
    diag = json.loads((out / "diagnostics.json").read_text())
    assert isinstance(diag["converged"], bool) and isinstance(diag["warnings"], list)
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 3 and run["command"][:2] == ["pss-bayes", "fit"]
    assert run["draws"] == 80 and [c["after_draws"] for c in run["continued"]] == [40]   # failed checks: continued once
    assert run["cohort"]["covariates"] == ["age", "sex"] and run["cohort"]["batch"] == "centre"
    assert (out / "posterior.nc").exists() and (out / "cohort.parquet").exists()
    # 80 draws cannot converge: flagged on the terminal and in a file, but exit status 0
    assert "did not pass its convergence checks" in capsys.readouterr().err
    assert (out / "NOT_CONVERGED.txt").exists()


def test_strict_exits_non_zero_when_not_converged(cohort_dir, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(cohort_dir, tmp_path / "fit", "--quiet", "--strict"))
    assert exit_info.value.code == 3
    assert (tmp_path / "fit" / "membership.csv").exists()


def test_fit_reports_user_errors_without_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err


def test_unknown_model_name(cohort_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(_fit_args(cohort_dir, tmp_path / "fit", "--model", "nope"))
    assert "no model spec named 'nope'" in capsys.readouterr().err


def test_fit_refuses_impossible_options_before_sampling(cohort_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for extra, message in ((["--draws", "0"], "draws (--draws) must be a whole number of at least 1"),
                           (["--seed", "-1"], "seed (--seed)"), (["--k", "11"], "k (--k) must be between 1")):
        with pytest.raises(SystemExit) as exit_info:
            main(_fit_args(cohort_dir, tmp_path / "fit", *extra))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(cohort_dir, tmp_path / "afile"))
    assert exit_info.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err


def test_error_messages_keep_their_brackets(cohort_dir, tmp_path, capsys):
    """A spec error names its [section]; the terminal must not read it as markup."""
    spec = tmp_path / "bad.toml"
    spec.write_text("[mixture]\nfoo = 1\n")
    with pytest.raises(SystemExit):
        main(_fit_args(cohort_dir, tmp_path / "fit", "--model", str(spec)))
    assert "unknown key(s) ['foo'] in [mixture]" in capsys.readouterr().err


def test_refit_into_a_folder_removes_files_the_new_fit_does_not_write(cohort_dir, tmp_path):
    out = tmp_path / "fit"
    out.mkdir()
    (out / "patient_spread.csv").write_text("left by an earlier fit\n")
    main(_fit_args(cohort_dir, out, "--quiet", "--model", "equal_spread", "--extensions", "0"))
    assert (out / "membership.csv").exists() and not (out / "patient_spread.csv").exists()


def test_fit_prints_and_records_the_data_warnings(tiny_sim, tmp_path, capsys):
    frame, markers = tiny_sim.cohort.to_frame(), tiny_sim.cohort.markers.to_frame()
    name = next(n for n, b in zip(tiny_sim.cohort.biomarker_names, tiny_sim.cohort.markers.is_binary) if not b)
    controls = frame.index[frame["group"] == "control"]
    frame.loc[controls[:-1], name] = 1.0                              # a detection limit among the controls
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    markers.to_csv(tmp_path / "markers.csv", index=False)
    out = tmp_path / "fit"
    main(["fit", str(tmp_path / "cohort.csv"), "--markers", str(tmp_path / "markers.csv"), "--draws", "20",
          "--tune", "20", "--chains", "1", "--extensions", "0", "--quiet", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert "Data warning:" in err and f"'{name}' ({len(controls) - 1} of {len(controls)} controls at 1)" in err
    recorded = json.loads((out / "run.json").read_text())["data_warnings"]
    assert any(f"'{name}' ({len(controls) - 1} of" in w for w in recorded)
