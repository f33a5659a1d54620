"""``pss-bayes classify train`` and ``predict`` end to end on the tiny fit."""

import json
import re

import pandas as pd
import pytest

from pss_bayes.cli import main
from pss_bayes.fit_dir import write_fit_dir


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory, tiny_fit):
    folder = tmp_path_factory.mktemp("fit")
    write_fit_dir(tiny_fit, folder, command=["pss-bayes", "fit"])
    return folder


@pytest.fixture(scope="module")
def model_file(fit_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model.json"
    main(["classify", "train", str(fit_dir), "--panel-size", "4", "--coverage", "0.8", "--seed", "2",
          "--quiet", "--out", str(out)])
    return out


def test_train_then_predict_writes_the_contracted_columns(model_file, tiny_sim, tmp_path, capsys):
    frame = tiny_sim.cohort.to_frame()
    patients = frame[frame["group"] == "pSS"].assign(note="seen in clinic")
    from pss_bayes import SubgroupClassifier

    panel = list(SubgroupClassifier.load(model_file).panel_)
    assert len(panel) == 4
    patients = patients.dropna(subset=panel)
    new = tmp_path / "new.csv"
    patients.to_csv(new, index=False)
    out = tmp_path / "predictions.csv"
    main(["classify", "predict", str(model_file), str(new), "--out", str(out)])
    table = pd.read_csv(out, dtype={"subgroup": str})
    k = sum(c.startswith("p_") and c.count("_") == 1 for c in table.columns)
    assert list(table.columns) == ["subject_id", "subgroup"] + [
        f"p_{i}{s}" for i in range(1, k + 1) for s in ("", "_lo", "_hi")] + ["prediction_set", "ood"]
    assert table["subject_id"].tolist() == patients["subject_id"].tolist()
    assert set(table["subgroup"]) <= {str(i) for i in range(1, k + 1)} | {"indeterminate"}
    assert set(table["ood"].astype(str).str.lower()) <= {"true", "false"}
    assert "Predictions written" in capsys.readouterr().out


def test_train_prints_the_panel_curve(fit_dir, tmp_path, capsys):
    main(["classify", "train", str(fit_dir), "--panel", "interferon_01,inflammation_01", "--out",
          str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert "Panel (2 biomarkers)" in out and "agreement" in out and "ECE" in out


def _exit_message(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def test_errors_in_new_data_name_file_column_line_and_subject(model_file, tiny_sim, tmp_path, capsys):
    from pss_bayes import SubgroupClassifier

    marker = SubgroupClassifier.load(model_file).panel_[1]
    frame = tiny_sim.cohort.to_frame()
    frame = frame[frame["group"] == "pSS"].dropna(subset=[marker]).reset_index(drop=True)
    frame[marker] = frame[marker].astype(object)
    frame.loc[3, marker] = "NA"
    new = tmp_path / "new.csv"
    frame.to_csv(new, index=False)
    err = _exit_message(capsys, ["classify", "predict", str(model_file), str(new), "--out", str(tmp_path / "p.csv")])
    subject = frame.loc[3, "subject_id"]
    assert f"file '{new}', column '{marker}', line 5 (subject '{subject}')" in err and "missing value" in err


def test_train_refuses_contradictory_options_and_bad_files(fit_dir, tmp_path, capsys):
    err = _exit_message(capsys, ["classify", "train", str(fit_dir), "--panel-size", "3", "--panel", "a,b",
                                 "--out", str(tmp_path / "m.json")])
    assert "not both" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    err = _exit_message(capsys, ["classify", "predict", str(bad), str(tmp_path / "x.csv"), "--out",
                                 str(tmp_path / "p.csv")])
    assert "not a pss_bayes classifier file" in err


def test_train_on_patients_each_missing_a_biomarker_marks_the_undefined_row(scattered_fit, tmp_path, capsys):
    folder = tmp_path / "fit"
    write_fit_dir(scattered_fit, folder, command=["pss-bayes", "fit"])
    out = tmp_path / "m.json"
    main(["classify", "train", str(folder), "--panel", "interferon_01,anti_SSA_Ro", "--out", str(out)])
    printed = capsys.readouterr().out
    assert re.search(r"all\s+n/a\s+n/a", printed) and "no patient has every biomarker" in printed
    assert json.loads(out.read_text())["panel_curve"][-1]["agreement"] is None


def test_train_refuses_a_fit_with_a_single_subgroup(single_subgroup_fit, tmp_path, capsys):
    folder = tmp_path / "fit"
    write_fit_dir(single_subgroup_fit, folder, command=["pss-bayes", "fit"])
    out = tmp_path / "m.json"
    err = _exit_message(capsys, ["classify", "train", str(folder), "--out", str(out)])
    assert "single subgroup (K = 1)" in err and "nothing to classify" in err
    assert not out.exists()


def test_out_naming_a_folder_is_refused_before_any_work(fit_dir, model_file, tmp_path, capsys):
    folder = tmp_path / "outdir"
    folder.mkdir()
    err = _exit_message(capsys, ["classify", "train", str(fit_dir), "--out", str(folder)])
    assert f"--out '{folder}' is a folder" in err and "classifier.json" in err
    err = _exit_message(capsys, ["classify", "predict", str(model_file), str(tmp_path / "new.csv"), "--out",
                                 str(folder)])
    assert f"--out '{folder}' is a folder" in err and "predictions.csv" in err
