"""`pss-bayes report` end to end on the shared tiny fit: sections, self-containment, errors."""

import base64
import json
import re

import h5netcdf
import pytest

from pss_bayes.cli import main

CORE_SECTIONS = ("cohort", "subgroups", "membership", "effects", "diagnostics")
CORE_FIGURES = ("fig-k", "fig-membership", "fig-module-forest", "fig-signature", "fig-biomarker-forest")


def test_report_has_every_section_and_figure(full_report, tiny_fit):
    html = full_report.read_text()
    for anchor in (*CORE_SECTIONS, "comparison", "sensitivity", "classifier"):
        assert f'<section id="{anchor}">' in html
    for figure_id in (*CORE_FIGURES, "fig-comparison", "fig-sensitivity", "fig-calibration"):
        assert re.search(f'<figure id="{figure_id}"><img src="data:image/png;base64,', html)
    assert ('id="not-converged"' in html) == (not tiny_fit.diagnostics().converged)
    assert "Model comparison" in html and "<strong>default</strong>" in html     # comparison.md rendered
    assert "not converged" in html                                              # stability status shown
    assert "not in this fit" in html and "interferon" in html                  # panel mapped to modules
    assert "0.912" in html                                                      # classifier scalar facts
    effects = html.split('<section id="effects">')[1].split("</section>")[0]
    assert "<h3>Patients' spread</h3>" in effects and "p_above_controls" in effects


def test_report_is_self_contained(full_report):
    html = full_report.read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(CORE_FIGURES) + 3
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_optional_inputs(fit_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    main(["report", str(fit_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "drawing membership figure" in printed and f"Report written to {out}" in printed
    html = out.read_text()
    assert re.findall(r'<section id="([^"]+)"', html) == list(CORE_SECTIONS)
    assert "Model comparison" not in html


def _missing_folder(tmp_path):
    return tmp_path / "nowhere"


def _comparison_without_model(tmp_path):
    (tmp_path / "comparison.csv").write_text("k,elpd_loo\n2,-10\n")
    return tmp_path


def _empty_folder(tmp_path):
    return tmp_path


def _bad_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("{not json")
    return path


@pytest.mark.parametrize(("option", "make", "message"), [
    ("--comparison", _missing_folder, "comparison folder .* does not exist"),
    ("--comparison", _comparison_without_model, "has no column 'model'"),
    ("--sensitivity", _empty_folder, "stability.csv' is missing"),
    ("--classifier", _bad_json, "not valid JSON"),
])
def test_report_input_errors(fit_dir, tmp_path, capsys, option, make, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(fit_dir), option, str(make(tmp_path)), "--out", str(tmp_path / "r.html")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err.replace("\n", "")) and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_of_a_folder_that_is_not_a_fit(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert "is not a fit directory" in capsys.readouterr().err


OTHER_DATA = "0" * 64


def _comparison_of_other_data(tmp_path):
    (tmp_path / "comparison.csv").write_text("model,k\ndefault_k2,2\n")
    (tmp_path / "fits").mkdir()
    with h5netcdf.File(tmp_path / "fits" / "default_k2.nc", "w") as handle:
        handle.create_group("posterior").attrs["data_hash"] = OTHER_DATA
    return tmp_path


def _sensitivity_of_other_data(tmp_path):
    (tmp_path / "stability.csv").write_text("variant,status\nreference,done\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"cohort": {"data_hash": OTHER_DATA}}))
    return tmp_path


def _classifier_of_other_data(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"panel": ["IFI27"], "training": {"data_hash": OTHER_DATA, "n_patients": 40}}))
    return path


@pytest.mark.parametrize(("option", "make", "name"), [
    ("--comparison", _comparison_of_other_data, "comparison folder"),
    ("--sensitivity", _sensitivity_of_other_data, "sensitivity folder"),
    ("--classifier", _classifier_of_other_data, "classifier file"),
])
def test_report_refuses_inputs_made_from_other_data(fit_dir, tmp_path, capsys, option, make, name):
    path = make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(fit_dir), option, str(path), "--out", str(tmp_path / "r.html")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"{name} '{path}' and fit folder '{fit_dir}' were made from different data" in err
    assert "Traceback" not in err and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("marker", "what"), [
    ("comparison.csv", "a model-comparison folder (pss-bayes compare)"),
    ("manifest.json", "a sensitivity-analysis folder (pss-bayes sensitivity)"),
])
def test_report_of_a_compare_or_sensitivity_folder(tmp_path, capsys, marker, what):
    (tmp_path / marker).write_text("{}")
    if marker == "comparison.csv":
        (tmp_path / "run.json").write_text(json.dumps({"command": ["pss-bayes", "compare"], "seed": 0}))
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err.replace("\n", "")
    assert (f"'{tmp_path}' is {what}, not a fit folder; pass a folder written by pss-bayes fit" in err
            and "malformed" not in err)


def test_report_out_is_a_folder(fit_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(fit_dir), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"'{tmp_path}' is a folder; give the HTML file to write" in err and "Traceback" not in err


def test_report_from_the_outputs_of_a_demo_run(quick_demo, tmp_path):
    """The files `compare`, `sensitivity` and `classify train` really write, rendered by `pss-bayes report`."""
    from pss_bayes.classify import SubgroupClassifier
    from pss_bayes.report.inputs import read_sensitivity
    from pss_bayes.report.optional import _stability_figure

    out = quick_demo.out
    model_file = out / "classify" / "model.json"
    path = tmp_path / "report.html"
    main(["report", str(out / "fit"), "--comparison", str(out / "comparison"), "--sensitivity",
          str(out / "sensitivity"), "--classifier", str(model_file), "--out", str(path), "--quiet"])
    html = path.read_text()
    assert re.findall(r'<section id="([^"]+)"', html) == [*CORE_SECTIONS, "comparison", "sensitivity", "classifier"]
    for figure_id in (*CORE_FIGURES, "fig-comparison", "fig-sensitivity"):
        assert re.search(f'<figure id="{figure_id}"><img src="data:image/png;base64,', html)
    comparison = html.split('<section id="comparison">')[1].split("</section>")[0]
    assert "Preferred: K = " in comparison and "default_k6" in comparison
    assert "summed over subjects (higher is better)" in comparison          # wrapped list items stay whole
    sensitivity = html.split('<section id="sensitivity">')[1].split("</section>")[0]
    assert "without_module_interferon" in sensitivity and "Sensitivity of the subgroups" in sensitivity
    labels = [t.get_text() for t in _stability_figure(read_sensitivity(out / "sensitivity").table).axes[0]
              .get_yticklabels()]
    assert labels == ["reference", "normal", "no_covariation", "without_module_interferon", "another_seed"]
    classifier = html.split('<section id="classifier">')[1].split("</section>")[0]
    model = SubgroupClassifier.load(model_file)
    panel = classifier.split("<h3>Panel:")[1].split("</table>")[0]
    assert f"{len(model.panel_)} biomarkers" in panel and "not in this fit" not in panel
    assert all(f"<td>{biomarker}</td>" in panel for biomarker in model.panel_)
    assert "calibration error (ECE) after calibration" in classifier and "What a smaller panel costs" in classifier
    assert "sha256" not in classifier and "cannot read" not in classifier
