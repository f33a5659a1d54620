"""``pss-bayes compare`` end to end on the tiny cohort."""

import json

import pandas as pd
import pytest

from pss_bayes.cli import _k_values, main
from pss_bayes.errors import SpecError


@pytest.mark.parametrize("text, values", [("1-6", [1, 2, 3, 4, 5, 6]), ("1,2,4", [1, 2, 4]),
                                          ("1-2,5", [1, 2, 5]), ("3", [3]), ("none", [])])
def test_k_option(text, values):
    assert _k_values(text) == values


def test_bad_k_option():
    with pytest.raises(SpecError, match="expected a range like 1-6"):
        _k_values("two")


def test_compare_command_writes_the_table(tiny_sim, tmp_path, capsys):
    tiny_sim.write(tmp_path / "cohort")
    variant = tmp_path / "plain.toml"
    variant.write_text('name = "plain"\n[likelihood]\nfamily = "normal"\n[covariation]\nenabled = false\n')
    out = tmp_path / "cmp"
    main(["compare", str(tmp_path / "cohort" / "cohort.csv"), "--markers", str(tmp_path / "cohort" / "markers.csv"),
          "--covariates", "age,sex", "--batch", "centre", "--base", "normal", "--k", "1", "--model", str(variant),
          "--draws", "15", "--tune", "15", "--chains", "1", "--jobs", "1", "--folds", "0", "--seed", "2",
          "--out", str(out)])
    table = pd.read_csv(out / "comparison.csv")
    assert sorted(table["model"]) == ["normal", "normal_k1", "plain"]
    assert set(table.loc[table["model"] == "plain", "covariation"]) == {False}
    run = json.loads((out / "run.json").read_text())
    assert run["command"][:2] == ["pss-bayes", "compare"] and run["seed"] == 2
    assert (out / "fits" / "plain.nc").exists() and (out / "comparison.png").exists()
    assert "Preferred: K = 1" in capsys.readouterr().out


def test_an_empty_k_range_is_refused(tmp_path, capsys):
    from pss_bayes.cli import _k_values
    from pss_bayes.errors import SpecError

    assert _k_values("1-3,5") == [1, 2, 3, 5] and _k_values("none") == []
    with pytest.raises(SpecError, match="the range 3-1 is empty"):
        _k_values("3-1")
