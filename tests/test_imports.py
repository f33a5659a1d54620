"""Light entry points stay light: applying a saved classifier or reading a cohort does not load PyMC/ArviZ."""

import subprocess
import sys

import pytest

import pss_bayes


@pytest.mark.parametrize("module", ["pss_bayes", "pss_bayes.classify", "pss_bayes.data.io", "pss_bayes.cli"])
def test_module_does_not_import_the_fitting_stack(module):
    code = (f"import sys, {module}\n"
            "heavy = sorted({'arviz', 'pymc', 'pytensor'} & set(sys.modules))\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_resolve_lazily():
    assert set(pss_bayes.__all__) - {"__version__"} == set(pss_bayes._EXPORTS)
    for name in pss_bayes.__all__:
        assert getattr(pss_bayes, name) is not None
    assert "fit" in dir(pss_bayes)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        pss_bayes.nonexistent  # noqa: B018
