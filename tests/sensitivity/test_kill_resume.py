"""Kill a running `pss-bayes sensitivity`, resume it, and get the uninterrupted run's tables."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pss_bayes.cli import main
from pss_bayes.sensitivity.store import DONE, MANIFEST
from tests.sensitivity.conftest import NAMES, OUTPUTS


def _args(cohort_dir, out, *extra):
    return ["sensitivity", str(cohort_dir / "cohort.csv"), "--markers", str(cohort_dir / "markers.csv"),
            "--covariates", "age,sex", "--batch", "centre", "--grid", str(cohort_dir / "grid.toml"),
            "--out", str(out), "--quiet", *extra]


def _done(out):
    return sorted(p.parent.name for p in out.glob(f"variants/*/{DONE}"))


#: Runs the CLI with two variants held in their workers until the process group is killed, so the
#: kill always lands part-way, however fast the other variants finish on the machine at hand.
_HOLDING_CLI = """
import sys, time
from pss_bayes.sensitivity import runner
from pss_bayes.cli import main

unheld = runner.execute

def execute(task, cohort):
    if task.variant.name in {held!r}:
        time.sleep(3600)
    return unheld(task, cohort)

runner.execute = execute
main(sys.argv[1:])
"""
HELD = ("bootstrap", "another_seed")


def test_killed_run_resumes_without_recomputing(cohort_dir, small_run, tmp_path):
    uninterrupted, _ = small_run
    out = tmp_path / "killed"
    expected = sorted(set(NAMES) - set(HELD))
    command = [sys.executable, "-c", _HOLDING_CLI.format(held=set(HELD)),
               *_args(cohort_dir, out, "--jobs", "2")]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while _done(out) != expected:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, f"only {_done(out)} finished in time"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)      # the run and its joblib workers
        process.wait()
    finished = _done(out)
    assert finished == expected
    assert not (out / "stability.csv").exists()
    stamps = {n: (out / "variants" / n / "membership.csv").stat().st_mtime_ns for n in finished}

    main(_args(cohort_dir, out, "--jobs", "1", "--resume"))
    run = json.loads((out / MANIFEST).read_text())["runs"][-1]
    assert sorted(run["skipped"]) == finished
    assert sorted(run["computed"]) == sorted(set(NAMES) - set(finished))
    assert {n: (out / "variants" / n / "membership.csv").stat().st_mtime_ns for n in finished} == stamps
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name


def test_cli_reports_user_errors(cohort_dir, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MANIFEST).write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(_args(cohort_dir, tmp_path / "out"))
    assert exit_info.value.code == 2
    assert "rerun with --resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(_args(cohort_dir, tmp_path / "other", "--grid", "nope"))
    assert exit_info.value.code == 2 and "no sensitivity grid named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:                  # refused before any variant is fitted
        main(_args(cohort_dir, tmp_path / "third", "--draws", "0"))
    assert exit_info.value.code == 2 and "draws = 0 must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "third" / "variants").exists()
