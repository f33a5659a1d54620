"""The notebooks in notebooks/ run from top to bottom on a tiny cohort, and are stored without outputs."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: What each notebook leaves in its working folder, and how many figures it shows at least.
WRITES = {"walkthrough": ("walkthrough_fit/membership.csv", "walkthrough_report.html",
                          "walkthrough_comparison/comparison.csv", "walkthrough_classifier.json",
                          "walkthrough_sensitivity/stability.csv", "walkthrough_full_report.html"),
          "bring_your_own_cohort": ("my_cohort/cohort.csv", "my_fit/membership.csv", "my_report.html")}
FIGURES = {"walkthrough": 5, "bring_your_own_cohort": 0}


def test_every_notebook_is_checked():
    assert {path.stem for path in NOTEBOOKS} == set(WRITES) == set(FIGURES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="install the test extra: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="install the test extra: pip install -e '.[test]'")
    monkeypatch.setenv("PSS_BAYES_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for name in WRITES[path.stem]:
        assert (tmp_path / name).is_file(), name
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= FIGURES[path.stem]
